"""IMG panel: open an image (path or file chooser), pick its bands, choose the colour composite shown, and add
derived bands (pairwise operations over the selected bands, spectral indices from band roles)."""
from __future__ import annotations

import os
from dataclasses import replace

import ipywidgets as W

from ..cloudmask import find_mask, split_layers
from ..errors import ImageError
from ..imagery import check_pixels, expand_paths, with_masks
from ..indices import INDICES, OPERATIONS, add_derived, available_indices
from ..pipeline import combine_refs, mask_summary, open_recipe_images, open_ref
from ..recipe import ImageRef
from ..sensors import COMPOSITES, ROLES, SENSORS, detect_sensor, resolve_roles, sensor_from_paths
from ..store import RecipeStore
from .common import Message, guarded

__all__ = ["ImagePanel", "MAX_PIXELS"]

#: The largest image file (pixels) the dashboard opens: about 31600 x 31600 px (a Sentinel-2 tile at 10 m is 10980
#: x 10980). Its previews, display copy and live classification read the image at reduced sizes, which for a file
#: without overviews means reading it all, each time.
MAX_PIXELS = 1_000_000_000


class ImagePanel:
    """Edits ``recipe.images`` (one image: a raster file or a Sentinel-2 ``.SAFE`` folder, and its bands)."""

    def __init__(self, store: RecipeStore, *, start_dir: str | None = None):
        self.store = store
        self.path = W.Text(description="Image", layout=W.Layout(width="340px"),
                           placeholder="GeoTIFF / COG / VRT file or Sentinel-2 .SAFE folder")
        self.path.add_class("landclass-image-path")
        self.open_button = W.Button(description="Open", icon="folder-open", layout=W.Layout(width="90px"))
        self.open_button.on_click(lambda _: guarded(self.message, self.open, self.path.value))
        self.add_button = W.Button(description="Add", icon="plus", layout=W.Layout(width="70px"),
                                   tooltip="Stack this image too (e.g. another date), on the first image's grid")
        self.add_button.add_class("landclass-add-image")
        self.add_button.on_click(lambda _: guarded(self.message, self.add_image, self.path.value))
        self.others = W.HTML()
        self.others.add_class("landclass-other-images")
        self.chooser = self._file_chooser(start_dir)
        self.bands = W.SelectMultiple(description="Bands", rows=8, layout=W.Layout(width="340px"))
        self.bands.add_class("landclass-bands")
        self.apply_bands = W.Button(description="Use selected bands", icon="check")
        self.apply_bands.on_click(lambda _: guarded(self.message, self.set_bands, list(self.bands.value)))
        self.scale = W.Text(description="Scale", placeholder="as read", layout=W.Layout(width="200px"),
                            tooltip="reflectance = stored value x scale, e.g. 0.0001 for reflectance x 10000, "
                                    "1 for a file in reflectance; empty: as the product tells")
        self.scale.add_class("landclass-scale")
        self.apply_scale = W.Button(description="Set reflectance scale", layout=W.Layout(width="180px"))
        self.apply_scale.add_class("landclass-apply-scale")
        self.apply_scale.on_click(lambda _: guarded(self.message, self.set_scale, self.scale.value))
        self.cloud = W.Checkbox(value=True, description="Mask clouds and shadows (SCL / QA_PIXEL)", indent=False,
                                layout=W.Layout(width="auto"))
        self.cloud.add_class("landclass-cloud-mask")
        self.snow = W.Checkbox(value=False, description="and snow", indent=False, layout=W.Layout(width="auto"))
        self.snow.add_class("landclass-mask-snow")
        self.mask_file = W.Text(description="Mask file", placeholder="found beside the image",
                                layout=W.Layout(width="340px"),
                                tooltip="Sentinel-2 SCL or Landsat QA_PIXEL raster, for band files whose quality "
                                        "layer is not beside them")
        self.mask_file.add_class("landclass-mask-file")
        self.apply_mask = W.Button(description="Use mask file", layout=W.Layout(width="120px"))
        self.apply_mask.add_class("landclass-apply-mask")
        self.mask_info = W.HTML()
        self.mask_info.add_class("landclass-mask-info")
        self.cloud.observe(lambda ch: self._on_mask_switch(), "value")
        self.snow.observe(lambda ch: self._on_mask_switch(), "value")
        self.apply_mask.on_click(lambda _: guarded(self.message, self.set_mask_file, self.mask_file.value))
        self.composite = W.Dropdown(options=list(COMPOSITES), value="true colour", description="Display",
                                    layout=W.Layout(width="340px"))
        self.info = W.HTML()
        self.message = Message()
        self._build_derived()
        children = [W.HBox([self.path, self.open_button, self.add_button]), self.others]
        if self.chooser is not None:
            children.append(self.chooser)
        children += [self.info, self.bands, self.apply_bands, W.HBox([self.scale, self.apply_scale]),
                     W.HBox([self.cloud, self.snow]), W.HBox([self.mask_file, self.apply_mask]), self.mask_info,
                     self.composite, self.derived_box, self.message]
        self.widget = W.VBox(children)
        self.widget.add_class("landclass-img")
        self._shown_path = None
        self._all_bands: list[str] = []  # every band of every file, as listed
        self._owners: list[tuple[int, str]] = []  # for each listed band: (image index, its name in that image)
        store.observe(lambda label: self.refresh())
        self.refresh()

    def _file_chooser(self, start_dir):
        from ipyfilechooser import FileChooser

        chooser = FileChooser(start_dir or os.getcwd(), title="Browse", show_hidden=False,
                              layout=W.Layout(width="340px"))
        chooser.register_callback(lambda fc: setattr(self.path, "value", fc.selected or fc.selected_path or ""))
        return chooser

    def refresh(self) -> None:
        """Show the recipe's image: grid, CRS, every band of every stacked file (selected ones highlighted)."""
        images = self.store.recipe.images
        if not images:
            self.info.value = "<i>No image: open one.</i>"
            self.bands.options = []
            self.others.value = ""
            self._shown_path = None
            self._all_bands, self._owners = [], []
            self._refresh_derived()
            return
        ref = images[0]
        self.scale.value = "" if ref.scale is None else f"{ref.scale:g}"
        cm = self.store.recipe.cloud_mask
        self._showing_mask = True
        try:
            self.cloud.value, self.snow.value = cm.enabled, cm.snow
            self.mask_file.value = cm.file or ""
        finally:
            self._showing_mask = False
        self.others.value = "".join(
            f"<small>+ {os.path.basename(i.path.rstrip('/'))} (stacked on the first image's grid)</small><br>"
            for i in images[1:])
        key = [(i.path, i.resolution, i.scale, i.offset) for i in images] + [repr(cm)]
        if key != self._shown_path:
            if ref.path != (self._shown_path or [(None,)])[0][0]:
                self.path.value = ref.path
            full = [guarded(self.message, open_ref, i, cm) for i in images]
            if any(f is None for f in full):
                return
            stack = full[0]
            if len(full) > 1:  # band after band, or a time series when the images are of several dates
                stack = guarded(self.message, combine_refs, images, full, cm)
                if stack is None:
                    return
            self._shown_path = key
            self._all_bands = stack.band_names  # unique names over all files, in stack order
            owner = {(b.path, b.index): (i, b.name) for i, f in enumerate(full) for b in f.bands}
            self._owners = [owner[(b.path, b.index)] for b in stack.bands]
            g = stack.grid
            dates = ("" if stack.series is None else "<b>dates</b>: " + ", ".join(
                d.isoformat() for d in stack.series.dates) + "<br>")
            units = set(stack.units.values())
            values = ("values: reflectance (0-1)" if units == {"reflectance"} else
                      "values as stored, scale unknown: set the reflectance scale for EVI, SAVI, NDFI, tasseled "
                      "cap..." if "" in units else "values: " + ", ".join(sorted(units)))
            self.info.value = (f"{g.width} x {g.height} px, {g.res[0]:g} {g.crs.linear_units or ''} pixels, "
                               f"{g.crs.to_string()}, {len(stack.bands)} band(s) in {len(images)} file(s); "
                               f"{values}<br>{dates}{'<br>'.join(dict.fromkeys(stack.messages))}")
            self.bands.options = self._all_bands
            if cm.file and cm.enabled:
                stack = guarded(self.message, with_masks, stack, [cm.file], snow=cm.snow) or stack
            self.mask_info.value = (f"<small>{mask_summary(stack)}</small>" if stack.masks else
                                    "<small>cloud mask off</small>" if not cm.enabled else
                                    "<small>no SCL / QA_PIXEL layer found beside the image: give a mask file to "
                                    "mask clouds</small>")
        self.bands.value = tuple(self._selected())
        self._refresh_derived()

    def open(self, path: str) -> None:
        """Make ``path`` the recipe's image (a pattern opens every file it matches, stacked in name order);
        the sensor is taken from the product name when it tells (Landsat, Sentinel-2).

        Refused (ImageError, nothing changed): a file that cannot be read, is truncated or damaged, holds nodata
        only, or has more than :data:`MAX_PIXELS` pixels (:func:`landclass_ui.imagery.check_pixels`). Chosen
        indices the new bands cannot make are left out, and the message says so."""
        paths, layer = _split_layers(expand_paths(path))
        cm = replace(self.store.recipe.cloud_mask, file=layer, enabled=self.store.recipe.cloud_mask.enabled or
                     bool(layer))
        refs = [ImageRef(p) for p in paths]
        stack = combine_refs(refs, [open_ref(r, cm) for r in refs], cm)  # a clear error for a bad file
        check_pixels(stack, max_pixels=MAX_PIXELS)
        dropped: list[str] = []

        def change(r):
            before = list(r.derived.indices)
            r.images = [ImageRef(p) for p in paths]
            r.cloud_mask = replace(cm)
            _settle_derived(r, stack.band_names, new_image=True, sensor=sensor_from_paths(paths))
            dropped[:] = [i for i in before if i not in r.derived.indices]
        self.store.edit("open image", change)
        what = os.path.basename(paths[0].rstrip("/")) + (f" and {len(paths) - 1} more" if len(paths) > 1 else "")
        n = len(stack.bands)
        self.message.show(f"opened {what}: {n} band{'s' if n != 1 else ''}{_dropped_note(dropped)}",
                          "info" if dropped else "ok")

    def add_image(self, path: str) -> None:
        """Stack another image (e.g. a second date, or the next band file) after the current ones; it must
        overlap the first, and is refused as :meth:`open` refuses a file. One on another grid (another pixel size
        or CRS) is resampled onto the image's, and the message says so."""
        images = self.store.recipe.images
        if not images:
            return self.open(path)
        paths, layer = _split_layers(expand_paths(path))
        refs = [*images, *(ImageRef(p) for p in paths)]
        cm = self.store.recipe.cloud_mask
        stacks = [open_ref(r, cm) for r in refs]
        combined = combine_refs(refs, stacks, cm)  # NoOverlapError says which and where
        for added in stacks[len(images):]:
            check_pixels(added, max_pixels=MAX_PIXELS)  # truncated, nodata only, too large: refused
        sensor = sensor_from_paths([r.path for r in refs])
        g = combined.grid
        resampled = ("; resampled (bilinear) onto the image's grid "
                     f"({g.res[0]:g} x {g.res[1]:g}, {g.crs.to_string()})"
                     if any(not s.grid.same_as(g) for s in stacks[len(images):]) else "")

        def change(r):
            r.images = [*r.images, *(ImageRef(p) for p in paths)]
            if sensor and not r.derived.sensor and not r.derived.roles:
                r.derived.sensor = sensor
            if layer:
                r.cloud_mask.file, r.cloud_mask.enabled = layer, True
        self.store.edit("add image", change)
        added = sum(len(s.bands) for s in stacks[len(images):])
        self.message.show(f"added {os.path.basename(paths[0].rstrip('/'))}"
                          f"{f' and {len(paths) - 1} more' if len(paths) > 1 else ''}: {added} band(s), "
                          f"{len(combined.bands)} in all{resampled}", "info" if resampled else "ok")

    def set_bands(self, bands: list[str]) -> None:
        """Use only ``bands`` (names as listed, from any of the stacked files); a file none of whose bands is
        chosen leaves the stack."""
        if not bands:
            self.message.show("select at least one band", "error")
            return
        owner = dict(zip(self._all_bands, self._owners))
        images = self.store.recipe.images
        # in the order given within each file (it names pairwise bands); files keep their stack order
        per_image = [[owner[d][1] for d in bands if owner[d][0] == i] for i in range(len(images))]
        every = [[b for j, b in self._owners if j == i] for i in range(len(images))]
        ordered = [d for i in range(len(images)) for d in bands if owner[d][0] == i]
        dropped = [os.path.basename(images[i].path.rstrip("/")) for i, p in enumerate(per_image) if not p]

        def change(r):
            keep = []
            for ref, picked, all_of in zip(r.images, per_image, every):
                if picked:
                    ref.bands = None if picked == all_of else picked
                    keep.append(ref)
            r.images = keep
            _settle_derived(r, ordered)
        self.store.edit("select bands", change)
        note = f"; left out {', '.join(dropped)} (none of its bands chosen)" if dropped else ""
        self.message.show(f"using {len(ordered)} band(s): {', '.join(ordered)}{note}", "ok")

    # --- derived bands ----------------------------------------------------------------------------------

    def _build_derived(self) -> None:
        self._updating = False
        self.operations = {}
        for op, label in (("nd", "normalized difference"), ("ratio", "ratio"), ("difference", "difference")):
            box = W.Checkbox(value=False, description=label, indent=False, layout=W.Layout(width="auto"))
            box.add_class(f"landclass-pairwise-{op}")
            box.observe(lambda ch, op=op: self._on_operation(op, ch["new"]), "value")
            self.operations[op] = box
        self.pair_info = W.HTML()
        self.sensor = W.Dropdown(options=[("auto (Sentinel-2 names)", "auto"), *[(s, s) for s in SENSORS],
                                          ("bands by hand", "custom")],
                                 value="auto", description="Sensor", layout=W.Layout(width="340px"))
        self.sensor.add_class("landclass-sensor")
        self.sensor.observe(lambda ch: self._on_sensor(ch["new"]), "value")
        self.roles = {}
        for role in ROLES:
            dd = W.Dropdown(options=[("-", "")], value="", description=role, layout=W.Layout(width="220px"))
            dd.add_class(f"landclass-role-{role}")
            dd.observe(lambda ch, role=role: self._on_role(role, ch["new"]), "value")
            self.roles[role] = dd
        self.roles_box = W.VBox(list(self.roles.values()))
        self.roles_box.add_class("landclass-roles")
        self.indices = W.SelectMultiple(description="Indices", rows=6, layout=W.Layout(width="340px"))
        self.indices.add_class("landclass-indices")
        self.apply_indices = W.Button(description="Use selected indices", icon="check")
        self.apply_indices.on_click(lambda _: guarded(self.message, self.set_indices, list(self.indices.value)))
        self.derived_box = W.VBox([
            W.HTML("<b>Derived bands</b><br><small>Pairwise operations over the selected bands (every pair):"
                   "</small>"),
            W.HBox(list(self.operations.values())), self.pair_info,
            W.HTML("<small>Spectral indices from band roles (only those the bands allow are listed):</small>"),
            self.sensor, self.roles_box, self.indices, self.apply_indices,
        ])
        self.derived_box.add_class("landclass-derived")

    def _selected(self) -> list[str]:
        """Names of the selected bands of the whole stack (every file), in stack order."""
        images = self.store.recipe.images
        if not images or not self._all_bands or len({i for i, _ in self._owners}) != len(images):
            return []
        return [d for d, (i, b) in zip(self._all_bands, self._owners)
                if images[i].bands is None or b in images[i].bands]

    def _refresh_derived(self) -> None:
        d = self.store.recipe.derived
        names = self._selected()
        self._updating = True
        try:
            for op, box in self.operations.items():
                box.value = op in d.pairwise.operations
            n = len(d.pairwise.bands or names)
            pairs = n * (n - 1) // 2
            self.pair_info.value = (f"<small>{pairs} pair(s) of {n} band(s) per operation, named like "
                                    f"nd_&lt;b1&gt;_&lt;b2&gt;</small>")
            sensor = d.sensor or ("custom" if d.roles else "auto")
            self.sensor.value = sensor
            try:
                roles = resolve_roles(names, d.sensor, d.roles)
            except Exception:
                roles = {}
            options = [("-", "")] + [(b, b) for b in names]
            for role, dd in self.roles.items():
                dd.options = options
                dd.value = roles.get(role, "") if roles.get(role, "") in names else ""
            offered = available_indices(roles, d.sensor or detect_sensor(names))
            self.indices.options = [(f"{i} - {INDICES[i].title.split(': ')[-1]}" if i in INDICES else i, i)
                                    for i in offered]
            self.indices.value = tuple(i for i in d.indices if i in offered)
        finally:
            self._updating = False

    def _on_operation(self, op: str, on: bool) -> None:
        if self._updating:
            return
        current = list(self.store.recipe.derived.pairwise.operations)
        if on == (op in current):
            return
        new = [o for o in OPERATIONS if (o in current and o != op) or (o == op and on)]
        if on and len(self._selected()) < 2:
            self.message.show("select at least two bands for band operations", "error")
            self._refresh_derived()
            return

        def change(r):
            r.derived.pairwise.operations = new
        self.store.edit(f"{'add' if on else 'remove'} {op} bands", change)
        n = len(self._selected())
        self.message.show(f"{op}: {n * (n - 1) // 2} band(s) {'added' if on else 'removed'}", "ok")

    def _on_sensor(self, sensor: str) -> None:
        if self._updating:
            return
        names = self._selected()

        def change(r):
            if sensor == "custom":  # keep what is shown, as explicit roles to edit
                r.derived.roles = resolve_roles(names, r.derived.sensor, r.derived.roles)
                r.derived.sensor = None
            elif sensor == "auto":
                r.derived.sensor, r.derived.roles = None, {}
            else:  # the roles are stored explicitly once the sensor is chosen
                r.derived.sensor = sensor
                r.derived.roles = resolve_roles(names, sensor)
            _settle_derived(r, names)
        guarded(self.message, self.store.edit, f"sensor {sensor}", change)

    def _on_role(self, role: str, band: str) -> None:
        if self._updating:
            return
        names = self._selected()

        def change(r):
            roles = resolve_roles(names, r.derived.sensor, r.derived.roles)
            roles[role] = band
            r.derived.roles = {k: v for k, v in roles.items() if v}
            _settle_derived(r, names)
        guarded(self.message, self.store.edit, f"{role} band {band or 'none'}", change)

    def _on_mask_switch(self) -> None:
        if getattr(self, "_showing_mask", False):
            return
        guarded(self.message, self.set_cloud_mask, self.cloud.value, snow=self.snow.value)

    def set_cloud_mask(self, enabled: bool, *, snow: bool = False) -> None:
        """Mask clouds, cirrus and shadows (and snow, if ``snow``) with the image's SCL / QA_PIXEL layer, or not
        (recipe ``cloud_mask``)."""
        def change(r):
            r.cloud_mask.enabled, r.cloud_mask.snow = bool(enabled), bool(snow)
        self.store.edit("cloud mask " + ("on" if enabled else "off"), change)
        self.message.show(("clouds and shadows" + (" and snow" if snow else "") + " are nodata") if enabled else
                          "cloud mask off: clouds are classified like any pixel", "ok")

    def set_mask_file(self, text: str) -> None:
        """Use the SCL / QA_PIXEL raster at ``text`` as the cloud mask (empty: the one found beside the image).

        Raises
        ------
        ImageError, CRSError, NoOverlapError
            Not a single-band SCL or QA_PIXEL raster, or not over the image (the edit is refused).
        """
        path = os.path.expanduser(text.strip()) or None
        if path:
            images = open_recipe_images(self.store.recipe)
            with_masks(images, [path])  # a clear error for a missing, multi-band or distant file

        def change(r):
            r.cloud_mask.file = path
            r.cloud_mask.enabled = True
        self.store.edit("cloud mask file", change)
        self.message.show(f"cloud mask from {os.path.basename(path)}" if path else
                          "cloud mask: the layer found beside the image", "ok")

    def set_scale(self, text: str) -> None:
        """State the reflectance scale of every image (``reflectance = stored x scale``); empty: as read.

        Raises
        ------
        ImageError
            Not a positive number.
        """
        text = (text or "").strip()
        try:
            scale = None if not text else float(text)
        except ValueError:
            raise ImageError(f"scale must be a number such as 0.0001 or 1, not {text!r}") from None
        if scale is not None and not (scale > 0 and scale != float("inf")):
            raise ImageError(f"scale must be a positive number such as 0.0001 or 1, not {text!r}")

        def change(r):
            for ref in r.images:
                ref.scale, ref.offset = scale, 0.0
            _check_derived(r)
        self.store.edit("reflectance scale", change)
        self.message.show("values as read" if scale is None else f"reflectance = stored x {scale:g}", "ok")

    def set_indices(self, indices: list[str]) -> None:
        """Compute these indices as bands (refused, with the reason, when the image cannot make them)."""
        def change(r):
            r.derived.indices = list(indices)
            _check_derived(r)
        self.store.edit("select indices", change)
        self.message.show(f"indices: {', '.join(indices) or 'none'}", "ok")


def _split_layers(paths: list[str]) -> tuple[list[str], str | None]:
    """Band files, and the SCL / QA_PIXEL file among several (a quality layer, not a band) when it is not the
    one found beside them anyway (:func:`landclass_ui.cloudmask.find_mask`)."""
    bands, layers = split_layers(paths)
    if not layers or layers[0] in {find_mask(p) for p in bands}:
        return bands, None
    return bands, layers[0]


def _dropped_note(dropped: list[str]) -> str:
    """``"; NDVI (nir + red) left out: ..."`` for indices a new image cannot make, or ``""``."""
    if not dropped:
        return ""
    which = ", ".join(f"{i.upper()} ({' + '.join(INDICES[i].roles)})" if i in INDICES else i.upper() for i in dropped)
    return (f"; {which} left out: the image lacks those bands (if it has them, give their roles under Derived "
            "bands)")


def _check_derived(recipe) -> None:
    """Raise what computing the recipe's derived bands would raise (an index that needs reflectance on bands
    of unknown scale, a missing role...), so the edit is refused with that message."""
    if recipe.images and not recipe.derived.empty:
        add_derived(open_recipe_images(recipe), recipe.derived)


def _settle_derived(recipe, band_names: list[str], *, new_image: bool = False, sensor: str | None = None) -> None:
    """Keep the derived-band settings consistent with the image bands: a new image starts from its own roles
    (``sensor``, from the product name, or None; operations are kept); bands no longer selected leave the
    pairwise list and the roles, and indices that the remaining bands cannot make are dropped."""
    d = recipe.derived
    if new_image:
        d.pairwise.bands, d.sensor, d.roles = [], sensor, {}
    d.pairwise.bands = [b for b in d.pairwise.bands if b in band_names]
    d.roles = {k: v for k, v in d.roles.items() if v in band_names}
    try:
        roles = resolve_roles(band_names, d.sensor, d.roles)
    except Exception:
        roles = {}
    offered = available_indices(roles, d.sensor or detect_sensor(band_names))
    d.indices = [i for i in d.indices if i in offered]
    if len(d.pairwise.bands or band_names) < 2:
        d.pairwise.operations = []
