"""AUX panel: auxiliary layers stacked with the image bands (:mod:`landclass_ui.auxiliary`): latitude, terrain
from a DEM file, water from an occurrence raster (e.g. a JRC Global Surface Water tile)."""
from __future__ import annotations

import os
from dataclasses import replace

import ipywidgets as W

from ..auxiliary import AUXILIARY, TERRAIN_BANDS, check_entry, parse_entry
from ..errors import ImageError, LandclassError
from ..pipeline import open_recipe_image
from ..recipe import DerivedRef
from ..store import RecipeStore
from .common import Message, guarded

__all__ = ["AuxPanel"]

DESCRIPTIONS = {"latitude": "Latitude of each pixel centre (degrees)"}
TERRAIN_DESCRIPTIONS = {"elevation": "elevation (m)", "slope": "slope (°)", "aspect": "aspect (° from north)",
                        "eastness": "eastness (sin aspect)", "northness": "northness (cos aspect)"}
WHAT = {"terrain": "DEM", "water": "Water raster"}


class AuxPanel:
    """Edits ``recipe.auxiliary``: a latitude checkbox; a DEM (path, terrain bands, Add/Remove); a water raster
    (path, Add/Remove). Adding checks the file against the image (readable, CRS, overlap) and shows the share
    of the image it covers; a failed check shows the reason and changes nothing."""

    def __init__(self, store: RecipeStore):
        self.store = store
        self.boxes = {name: W.Checkbox(value=False, description=DESCRIPTIONS.get(name, name), indent=False)
                      for name in AUXILIARY}
        for name, box in self.boxes.items():
            box.add_class(f"landclass-aux-{name}")
            box.observe(lambda ch, name=name: self._toggle(name, ch["new"]), "value")
        self.message = Message()
        self._coverage: dict[tuple, float | None] = {}
        self._syncing = False

        # terrain
        self.dem_path = W.Text(description="DEM", placeholder="/path/to/dem.tif (GeoTIFF, metres)",
                               layout=W.Layout(width="340px"))
        self.dem_path.add_class("landclass-aux-dem-path")
        self.terrain_boxes = {b: W.Checkbox(value=True, description=TERRAIN_DESCRIPTIONS[b], indent=False)
                              for b in TERRAIN_BANDS}
        for b, box in self.terrain_boxes.items():
            box.add_class(f"landclass-aux-terrain-{b}")
            box.observe(lambda ch: self._terrain_bands_changed(), "value")
        self.dem_add = W.Button(description="Add", icon="plus", layout=W.Layout(width="80px"))
        self.dem_add.add_class("landclass-aux-dem-add")
        self.dem_add.on_click(lambda _: guarded(self.message, self.add, "terrain", self.dem_path.value))
        self.dem_remove = W.Button(description="Remove", icon="trash", layout=W.Layout(width="90px"))
        self.dem_remove.add_class("landclass-aux-dem-remove")
        self.dem_remove.on_click(lambda _: guarded(self.message, self.remove, "terrain"))
        self.dem_status = W.HTML()
        self.dem_status.add_class("landclass-aux-dem-status")

        # water
        self.water_path = W.Text(description="Water", placeholder="/path/to/occurrence.tif (e.g. JRC GSW tile)",
                                 layout=W.Layout(width="340px"))
        self.water_path.add_class("landclass-aux-water-path")
        self.water_add = W.Button(description="Add", icon="plus", layout=W.Layout(width="80px"))
        self.water_add.add_class("landclass-aux-water-add")
        self.water_add.on_click(lambda _: guarded(self.message, self.add, "water", self.water_path.value))
        self.water_remove = W.Button(description="Remove", icon="trash", layout=W.Layout(width="90px"))
        self.water_remove.add_class("landclass-aux-water-remove")
        self.water_remove.on_click(lambda _: guarded(self.message, self.remove, "water"))
        self.water_status = W.HTML()
        self.water_status.add_class("landclass-aux-water-status")

        note = W.HTML("<small>Auxiliary layers are put on the image grid and added to the image bands as extra "
                      "features. Pixels a DEM or water raster does not cover are nodata and stay "
                      "unclassified.</small>")
        self.widget = W.VBox([
            *self.boxes.values(),
            W.HTML("<b>Terrain</b>"), W.HBox([self.dem_path, self.dem_add, self.dem_remove]),
            W.HBox(list(self.terrain_boxes.values()), layout=W.Layout(flex_flow="row wrap")), self.dem_status,
            W.HTML("<b>Water</b>"), W.HBox([self.water_path, self.water_add, self.water_remove]), self.water_status,
            note, self.message,
        ])
        store.observe(lambda label: self.refresh())
        self.refresh()

    # --- state ------------------------------------------------------------------------------------------

    def _entries(self, layer: str) -> list[dict]:
        return [a for a in self.store.recipe.auxiliary if isinstance(a, dict) and a.get("layer") == layer]

    def _grid(self):
        """The image grid of the recipe (None without an image)."""
        recipe = self.store.recipe
        if not recipe.images:
            return None
        return open_recipe_image(replace(recipe, auxiliary=[], derived=DerivedRef())).grid

    def _coverage_of(self, entry) -> float | None:
        """Coverage of an entry (cached by file, its modification time and the images)."""
        e = parse_entry(entry)
        try:
            mtime = os.path.getmtime(e.path)
        except OSError:
            mtime = None
        key = (e.layer, e.path, mtime, repr(self.store.recipe.images))
        if key not in self._coverage:
            self._coverage[key] = check_entry(e, self._grid())
        return self._coverage[key]

    def _status(self, layer: str) -> str:
        entries = self._entries(layer)
        if not entries:
            return f"<small>No {WHAT[layer].lower() if layer == 'water' else 'DEM'} added.</small>"
        entry = entries[0]
        try:
            share = self._coverage_of(entry)
        except LandclassError as exc:
            return f'<small style="color:#b00020">{os.path.basename(entry["path"])}: {exc}</small>'
        bands = entry.get("bands")
        used = ", ".join(bands) if bands else "all bands"
        where = ("coverage known once an image is added" if share is None
                 else f"covers {share:.0%} of the image")
        return f"<small>{WHAT[layer]} {entry['path']} ({used}): {where}.</small>"

    def refresh(self) -> None:
        self._syncing = True
        try:
            chosen = set(a for a in self.store.recipe.auxiliary if isinstance(a, str))
            for name, box in self.boxes.items():
                if box.value != (name in chosen):
                    box.value = name in chosen
            terrain = self._entries("terrain")
            if terrain:
                bands = terrain[0].get("bands") or list(TERRAIN_BANDS)
                for b, box in self.terrain_boxes.items():
                    if box.value != (b in bands):
                        box.value = b in bands
            self.dem_status.value = self._status("terrain")
            self.water_status.value = self._status("water")
        finally:
            self._syncing = False

    # --- edits ------------------------------------------------------------------------------------------

    def _toggle(self, name: str, on: bool) -> None:
        if self._syncing:
            return
        current = list(self.store.recipe.auxiliary)
        if on == (name in current):
            return
        new = current + [name] if on else [a for a in current if a != name]
        self.store.edit(f"{'add' if on else 'remove'} {name}", lambda r: setattr(r, "auxiliary", new))
        self.message.show(f"{name} {'added to' if on else 'removed from'} the features", "ok")

    def _chosen_terrain_bands(self) -> list[str]:
        return [b for b, box in self.terrain_boxes.items() if box.value]

    def add(self, layer: str, path: str) -> None:
        """Check the file against the image and put it in the recipe (replacing the layer's previous file)."""
        path = (path or "").strip()
        if not path:
            raise ImageError(f"give the path of a {'DEM' if layer == 'terrain' else 'water raster'} file")
        path = os.path.abspath(os.path.expanduser(path))
        entry = {"layer": layer, "path": path,
                 "bands": self._chosen_terrain_bands() if layer == "terrain" else None}
        if layer == "terrain" and not entry["bands"]:
            raise ImageError("tick at least one terrain band")
        e = parse_entry(entry)
        grid = self._grid()
        share = check_entry(e, grid)  # raises: nothing is changed then
        new = [a for a in self.store.recipe.auxiliary if not (isinstance(a, dict) and a.get("layer") == layer)]
        new.append(entry)
        self.store.edit(f"add {layer} {os.path.basename(path)}", lambda r: setattr(r, "auxiliary", new))
        where = "" if share is None else f"; it covers {share:.0%} of the image"
        self.message.show(f"{WHAT[layer]} {os.path.basename(path)} added{where}", "ok" if share != 0 else "info")

    def remove(self, layer: str) -> None:
        if not self._entries(layer):
            self.message.show(f"no {WHAT[layer]} to remove", "info")
            return
        new = [a for a in self.store.recipe.auxiliary if not (isinstance(a, dict) and a.get("layer") == layer)]
        self.store.edit(f"remove {layer}", lambda r: setattr(r, "auxiliary", new))
        self.message.show(f"{WHAT[layer]} removed from the features", "ok")

    def _terrain_bands_changed(self) -> None:
        if self._syncing:
            return
        entries = self._entries("terrain")
        if not entries:
            return
        bands = self._chosen_terrain_bands()
        if not bands:
            self.message.show("tick at least one terrain band (or Remove the DEM)", "error")
            return
        if bands == (entries[0].get("bands") or list(TERRAIN_BANDS)):
            return
        new = [dict(a, bands=bands) if a is entries[0] else a for a in self.store.recipe.auxiliary]
        self.store.edit("terrain bands", lambda r: setattr(r, "auxiliary", new))
        self.message.show(f"terrain bands: {', '.join(bands)}", "ok")
