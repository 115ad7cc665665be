"""The dashboard: recipe name (New, Open), IMG/LEG/TRN/AUX/CLS/ACC/Export panels and the map with live
classification.

``app.ipynb`` only does ``from landclass_ui.ui import LandclassApp; LandclassApp().widget``.

The current recipe is saved to ``<workdir>/recipe.json`` on every change and reopened on start; every recipe
is also kept under its name in ``<workdir>/recipes/`` (New starts another, Open brings one back). ``workdir``
is ``$LANDCLASS_WORKDIR`` or ``~/landclass``. Unexpected errors are shown in one line and written with their
traceback to ``<workdir>/landclass.log``.

What the live map recomputes follows what changed in the recipe (its sections are compared before and after
each edit): the images or their cloud mask -> new grid, composite and map position; derived bands or auxiliary
layers -> the live feature stack; training, legend or classifier -> retrain. The work runs in one background
thread; every widget change it makes is handed to the kernel's event loop
(:class:`~landclass_ui.ui.common.KernelLoop`).
"""
from __future__ import annotations

import html
import math
import os
import threading
import time
from pathlib import Path

import ipywidgets as W

from ..classifiers import feature_importance
from ..display import composite_bands, make_composite, preview
from ..errors import LandclassError
from ..export import probability_colormap
from ..guidance import assess_training, locate, suggest_points, uncertain_colormap, view_window
from ..legend import Legend
from ..live import LiveClassifier, LiveResult
from ..overlay import overlay, rgb_overlay
from ..pipeline import apply_preset, derive_legend, open_recipe_image, open_recipe_images, read_recipe_training
from ..recipe import ImageRef, Recipe, TrainingRef, default_name
from ..sample import sample_paths
from ..sensors import resolve_roles, sensor_from_paths
from ..store import RecipeStore
from ..tiles import TileService
from ..training import legend_colors, read_ref, read_training
from ..worker import Debounced, Worker
from .acc import AccuracyPanel
from .auxiliary_panel import AuxPanel
from .cls import ClassifierPanel
from .common import LOG, LOG_NAME, KernelLoop, Message, guarded, log_to
from .img import ImagePanel
from .leg import LegendPanel
from .map import MAP_CSS, MapView
from .postprocess import PresetBox, RegionsBox, RegularizationBox
from .relocate_box import RelocateBox
from .tasks import ExportPanel
from .trn import TrainingPanel, collected_points

__all__ = ["LandclassApp", "default_recipe", "default_workdir", "changed_sections", "resend_state"]

#: Recipe sections the live map depends on, and what a change of each one redoes.
IMAGE_SECTIONS = ("images", "cloud_mask")
STACK_SECTIONS = ("derived", "auxiliary")
TRAIN_SECTIONS = ("training", "legend", "classifier", "regularization", "regions")


def _images_key(recipe: Recipe) -> str:
    """What the image stack is opened from (the recipe's image sections), to tell whether a stack is current."""
    d = recipe.to_dict()
    return repr([d.get(k) for k in IMAGE_SECTIONS])


def default_workdir() -> Path:
    return Path(os.environ.get("LANDCLASS_WORKDIR") or Path.home() / "landclass")


def default_recipe() -> Recipe:
    """The bundled Sentinel-2 scene, the legend of its training polygons (FARM, FOREST, WATER with their
    colours), no training point yet, and the recommended preset (NDVI, NDWI, a 3 x 3 majority filter)."""
    s = sample_paths()
    frame = read_training(s.polygons, s.class_field)
    legend = Legend.from_labels(list(frame["label"]), legend_colors(frame))
    recipe = Recipe(name=default_name(), images=[ImageRef(s.safe)], legend=legend.to_list(),
                    training=[TrainingRef("points", points=[])])
    apply_preset(recipe)  # the recommended start (README, "Default recipe")
    return recipe


def empty_recipe() -> Recipe:
    """A new recipe as SEPAL starts one: a fresh name, no image, no legend, no training data yet; the
    recommended preset's indices and regularization (:data:`landclass_ui.pipeline.PRESETS`)."""
    recipe = Recipe(name=default_name(), images=[], legend=None, training=[TrainingRef("points", points=[])])
    apply_preset(recipe)  # indices kept as wished until an image says which it can make
    return recipe


def changed_sections(before: dict, after: dict) -> set[str]:
    """Top-level keys of two recipe dicts (:meth:`Recipe.to_dict`) whose values differ.

    >>> sorted(changed_sections({"name": "a", "legend": []}, {"name": "b", "legend": [], "derived": {}}))
    ['derived', 'name']
    """
    return {k for k in set(before) | set(after) if before.get(k) != after.get(k)}


class LandclassApp:
    """Build the dashboard. Create it in a notebook cell and display ``app.widget``.

    Parameters
    ----------
    workdir : path, optional
        Where the recipes, display copies, live rasters, exports and ``landclass.log`` go (default
        :func:`default_workdir`).
    routing : ``"kernel"`` or ``"proxy"``, optional
        How tiles reach the browser (default: detected, see :mod:`landclass_ui.tiles`).
    overview_px : int
        Longest side of the whole-scene live classification.
    """

    def __init__(self, workdir: str | os.PathLike | None = None, *, routing: str | None = None,
                 overview_px: int = 640):
        self.workdir = Path(workdir or default_workdir())
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_to(self.workdir)
        self.cache = self.workdir / "cache"
        self.overview_px = overview_px
        self.message = Message()
        self.ui = KernelLoop(on_error=lambda text: self.message.show(text, "error"))
        self.store = RecipeStore.open(self.workdir / "recipe.json", default_recipe, library=self.workdir / "recipes")
        self.tiles = TileService(routing)
        self.status = W.HTML()
        self.status.add_class("landclass-status")
        self.worker = Worker(self._run, on_error=self._live_failed, name="landclass-live")
        self.version = 0
        self.timings: list[dict] = []
        self.accuracy_seconds: list[float] = []
        self.assessor = Debounced(self._assess_job, 2.0, on_error=self._assess_failed)
        self.live: LiveClassifier | None = None
        self._polygon_cache: dict[tuple, object] = {}
        self._moved = False  # the map was sent to a new image and the browser has not answered yet
        self._page_synced = False  # the page's widgets got their state once more after it built them

        # the map, centred on the recipe's image; its picture comes from the worker (a quick preview, then the
        # tiles of the display copy), so that the page shows without waiting for either
        start, start_message = self._start_image()
        self._start_stack = start  # opened once here for the map's extent, used by the worker's first pass
        self._notes: dict[str, str | None] = {}  # the message line's note of each source (_note)
        self.image_stack = start
        self._image_key = _images_key(self.store.recipe)  # the recipe sections image_stack was opened from
        self._template: str | None = None  # the first tile layer's URL: others are made from it
        bounds = _latlon_bounds(start.grid) if start else WORLD
        self.map = MapView(center=((bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2),
                           bounds=bounds, on_click=self._on_click)

        # panels
        self.img = ImagePanel(self.store, start_dir=str(Path(sample_paths().safe).parent))
        self.leg = LegendPanel(self.store, str(self.workdir))
        self.trn = TrainingPanel(self.store, str(self.workdir), default_legend=self._default_legend(),
                                 image=self._recipe_image)
        self.aux = AuxPanel(self.store)
        self.cls = ClassifierPanel(self.store)
        self.preset = PresetBox(self.store)
        self.regularization = RegularizationBox(self.store)
        self.regions = RegionsBox(self.store)
        self.export = ExportPanel(self.store, str(self.workdir), call=self.ui.call)
        self.acc = AccuracyPanel(str(self.cache), on_go=self._go_to)
        self.relocate = RelocateBox(self.store)  # shown when files of the recipe are not found
        self._overview = None  # the last LiveResult of the whole scene (suggestions are picked from it)
        self.img.composite.observe(lambda ch: self._schedule("composite"), "value")
        tabs = W.Tab(children=[self.img.widget, self.leg.widget, self.trn.widget, self.aux.widget,
                               W.VBox([self.preset.widget, self.cls.widget, self.regularization.widget,
                                       self.regions.widget]),
                               self.acc.widget, self.export.widget])
        for i, title in enumerate(["IMG", "LEG", "TRN", "AUX", "CLS", "ACC", "Export"]):
            tabs.set_title(i, title)
        tabs.selected_index = 2 if self.store.recipe.images else 0
        tabs.layout = W.Layout(width="440px", min_width="440px")
        self.tabs = tabs
        self.header = self._build_header()
        bridge = self.tiles.bridge()  # carries the tiles in kernel routing: it must reach the page with the app
        self.widget = W.VBox([W.HTML(MAP_CSS), self.header, self.message, self.relocate.widget,
                              W.HBox([tabs, self.map.map], layout=W.Layout(width="100%")),
                              *([bridge] if bridge is not None else [])])
        self.widget.add_class("landclass-app")

        self._bind_layers()
        self._seen = self.store.recipe.to_dict()
        self.store.observe(self._on_edit)
        self.map.map.observe(lambda ch: self._on_bounds(), "bounds")
        self._draw_points()
        self._show_legend()
        self.trn.chooser.observe(lambda ch: self._show_click_class(), "value")
        self._show_click_class()
        self._set_status(self.store.opened_message)
        if self.store.opened_error:  # the saved recipe could not be read: it is kept aside, say so where it stays
            self.message.show(self.store.opened_message, "error")
        elif start_message:
            self.message.show(start_message, "error")
        self._schedule("image", "polygons")

    # --- header: recipe name, New, Open ----------------------------------------------------------------

    def _build_header(self) -> W.Widget:
        self.name = W.Text(value=self.store.recipe.name, description="Recipe", continuous_update=False,
                           layout=W.Layout(width="360px"))
        self.name.add_class("landclass-recipe-name")
        self.name.observe(self._on_name, "value")
        self.new_button = W.Button(description="New", icon="file", layout=W.Layout(width="70px"),
                                   tooltip="Start a new recipe (the current one stays saved under its name)")
        self.new_button.add_class("landclass-new-recipe")
        self.new_button.on_click(lambda _: guarded(self.message, self.new_recipe))
        self.saved = W.Dropdown(options=[], layout=W.Layout(width="260px"))
        self.saved.add_class("landclass-saved-recipes")
        self.open_button = W.Button(description="Open", icon="folder-open", layout=W.Layout(width="80px"),
                                    tooltip="Open the saved recipe chosen on the left")
        self.open_button.add_class("landclass-open-recipe")
        self.open_button.on_click(lambda _: guarded(self.message, self.open_recipe, self.saved.value))
        self._list_saved()
        return W.HBox([self.name, self.new_button, self.saved, self.open_button, self.status])

    def _list_saved(self) -> None:
        current = self.store.recipe.name
        names = [n for n in self.store.saved_names() if n != current]
        self.saved.options = [("saved recipes ...", "")] + [(n, n) for n in names]
        self.saved.value = ""

    def new_recipe(self) -> None:
        """Start a new, empty recipe; the current one stays in ``<workdir>/recipes/`` under its name."""
        old = self.store.recipe.name
        recipe = empty_recipe()
        base, n = recipe.name, 1
        while recipe.name == old or self.store.library_path(recipe.name).exists():  # New twice in a second
            n += 1
            recipe.name = f"{base}_{n}"
        self.store.start(recipe, "new recipe")
        self.tabs.selected_index = 0
        self._note("recipe", f"new recipe {self.store.recipe.name!r}: open an image in IMG ({old!r} is saved and "
                             "can be opened again)", "ok")

    def open_recipe(self, name: str) -> None:
        """Make the saved recipe ``name`` the current one."""
        if not name:
            self.message.show("choose a saved recipe in the list first", "info")
            return
        self.store.open_saved(name)
        self.message.show(f"opened recipe {self.store.recipe.name!r}", "ok")

    # --- helpers ---------------------------------------------------------------------------------------

    def _default_legend(self) -> list[dict] | None:
        try:
            return default_recipe().legend
        except Exception:  # the bundled sample missing: no legend counts as the untouched default
            LOG.exception("reading the bundled sample's legend")
            return None

    def _start_image(self):
        """The recipe's images as one stack, or None (no image, or one that cannot be read: the message says
        why)."""
        try:
            return self._image_of(self.store.recipe), None
        except LandclassError as exc:
            return None, f"{exc} (open another image in IMG)"

    def _recipe_image(self):
        """The recipe's image as it is now (what a training file is checked against): the worker's stack when it
        has caught up with the last image edit, else the recipe's images opened afresh (headers only)."""
        stack, key = self.image_stack, self._image_key
        if stack is not None and key == _images_key(self.store.recipe):
            return stack
        return self._image_of(self.store.recipe)

    @staticmethod
    def _image_of(recipe: Recipe):
        """The recipe's images as one stack (:func:`open_recipe_images`), or None without image."""
        return open_recipe_images(recipe) if recipe.images else None

    def _set_status(self, text: str, busy: bool = False) -> None:
        spinner = "<i class='fa fa-spinner fa-spin'></i> " if busy else ""
        self.ui.call(setattr, self.status, "value", f"<span class='landclass-status-text'>{spinner}{text}</span>")

    def _show(self, text: str, kind: str = "info") -> None:
        self.ui.call(self.message.show, text, kind)

    def _set_url(self, layer, path: str) -> None:
        """Point the tile layer ``layer`` (the image's) at the raster ``path``.

        ``path`` must lie within the layer's bounds (the image's). jupyter-leaflet (0.20) then swaps the tiles
        on screen in place, but tiles still loading keep the old URL: so a worker waits (at most 2 s) while the
        browser says the layer is loading. A new image gets a new layer (:meth:`_new_image_layer`)."""
        if threading.get_ident() != self.ui.thread:
            deadline = time.monotonic() + 2.0
            while layer.loading and layer.visible and time.monotonic() < deadline:
                time.sleep(0.05)
        self.ui.call(setattr, layer, "url", self.tiles.url(path, self._template, self.version))

    def _bind_layers(self) -> None:
        """Connect the overlays to the panels."""
        self._uncertain_link = W.link((self.acc.show_uncertain, "value"), (self.map.uncertain_layer, "visible"))
        self.map.prob_layer.observe(lambda ch: self._show_probability(), "visible")
        self.map.uncertain_layer.observe(lambda ch: self._show_uncertain(), "visible")

    def _new_image_layer(self, image: str) -> None:
        """Replace the image's tile layer by a new one bounded to another image's composite ``image``, with no
        tile still loading from the previous image (see :meth:`_set_url`); the overlays are emptied. The tile
        server is started here (the first time: about a second), the layer made on the kernel's event loop."""
        self.tiles.client(image)

        def swap():
            layer = self.tiles.layer(image, name="Image", max_zoom=20)
            self._template = self._template or layer.url
            self.map.replace_image(layer)

        self.ui.call(swap)

    def _show_preview(self, stack, bands: list[str]) -> None:
        """Draw a quick picture of ``bands`` of ``stack`` (:func:`landclass_ui.display.preview`) under the
        image's tiles: the image is on the map before its display copy and tile server are ready."""
        url, bounds = rgb_overlay(*preview(stack, bands))
        self.ui.call(self.map.show_preview, url, bounds)

    def _on_bounds(self) -> None:
        """The browser reports a new extent: the map arrived where it was sent, or the user moved it. The
        first report also means the page has built its widgets: their state is sent once more (see
        :func:`resend_state`)."""
        if not self._page_synced:
            self._page_synced = True
            resend_state(self.widget, self.map.map)
        if self._moved and self._arrived():
            self._moved = False
        self._schedule("view")

    def _show_click_class(self) -> None:
        """The class a click adds, on the map (it follows the TRN class chooser)."""
        value = self.trn.chooser.value
        entry = next((e for e in (self.store.recipe.legend or []) if value is not None and e["value"] == int(value)),
                     None)
        self.map.show_click_class(entry["name"] if entry else None, entry["color"] if entry else None)

    def _show_legend(self) -> None:
        self.map.show_legend([(e["name"], e["color"]) for e in (self.store.recipe.legend or [])])

    def _colors(self) -> dict[int, str]:
        return {int(e["value"]): e["color"] for e in (self.store.recipe.legend or [])}

    def _show_result(self, name: str, result: LiveResult) -> None:
        """Draw ``result``'s classes in the overlay ``name`` (``"class"`` or ``"view"``) in the legend colours."""
        url, bounds = overlay(result.classes, result.grid, result.model.legend.colormap())
        self.ui.call(self.map.show_overlay, name, url, bounds)

    def _show_probability(self) -> None:
        """Draw the latest result's probability, only while its layer is shown (a hidden overlay's picture
        would still travel to the browser)."""
        result = self._overview
        if result is not None and self.map.prob_layer.visible:
            url, bounds = overlay(result.probabilities, result.grid, probability_colormap())
            self.ui.call(self.map.show_overlay, "prob", url, bounds)

    def _show_uncertain(self) -> None:
        """Draw the latest result's least-confident pixels, only while their layer is shown."""
        result = self._overview
        if result is not None and self.map.uncertain_layer.visible:
            url, bounds = overlay(result.uncertain, result.grid, uncertain_colormap(), nodata=0)
            self.ui.call(self.map.show_overlay, "uncertain", url, bounds)

    def _draw_points(self) -> None:
        self.map.show_points(collected_points(self.store.recipe), self._colors(), self.trn.selected)

    # --- events ----------------------------------------------------------------------------------------

    def _on_click(self, lat: float, lon: float, nearest: int | None) -> None:
        self.trn.click(lat, lon, nearest)
        if nearest is not None:
            self._draw_points()

    def _on_name(self, change) -> None:
        name = change["new"].strip()
        if name and name != self.store.recipe.name:
            if guarded(self.message, self.store.edit, "rename", lambda r: setattr(r, "name", name)) is None \
                    and self.store.recipe.name != name:
                self.name.value = self.store.recipe.name
            self._list_saved()

    def _on_edit(self, label: str) -> None:
        """After every edit: redraw the points, and schedule exactly what depends on the sections that
        changed."""
        now = self.store.recipe.to_dict()
        changed = changed_sections(self._seen, now)
        self._seen = now
        self._draw_points()
        if self.store.merged or label == "reload":
            self.message.show("this recipe was also edited in another tab or window: its changes are kept here "
                              "too", "info")
        if changed & set(IMAGE_SECTIONS) and self.store.recipe.images:
            self._note("recipe", None)  # "new recipe: open an image in IMG" is done
        if changed & {"legend"}:
            self._show_legend()
            self._show_click_class()  # a renamed or recoloured class keeps its value: the chooser does not change
        if self.name.value != self.store.recipe.name:
            self.name.value = self.store.recipe.name
        if label in ("new recipe", "open recipe"):
            self._list_saved()
        work = set()
        if changed & set(IMAGE_SECTIONS):
            work.add("image")
        if changed & set(STACK_SECTIONS):
            work.add("stack")
        if changed & set(TRAIN_SECTIONS):
            work.add("train")
        if changed & {"training", "legend"}:
            work.add("polygons")
        if work:
            self._schedule(*work)

    # --- live classification worker -----------------------------------------------------------------

    def _schedule(self, *what: str) -> None:
        """Queue work for the worker thread (:class:`landclass_ui.worker.Worker`): work queued while it runs
        is merged into its next pass, so clicks are never lost and never pile up."""
        self.worker.schedule(*what)

    def _live_failed(self, exc: BaseException, todo: set[str]) -> None:
        self._set_status("")
        if isinstance(exc, LandclassError):
            self._show(str(exc), "error")
            return
        # never a traceback in the page: one line, the details in the log
        LOG.error("live classification failed (%s)", ", ".join(sorted(todo)), exc_info=exc)
        self._show(f"unexpected error: {type(exc).__name__}: {exc} (details in {self.log_path})", "error")

    def _run(self, todo: set[str]) -> None:
        recipe = Recipe.from_dict(self.store.recipe.to_dict())  # a snapshot: edits go on meanwhile
        if "image" in todo:
            todo.add("stack")
            todo.discard("composite")
            if not self._open_image(recipe):
                return
        if self.image_stack is None:
            return
        if "stack" in todo or self.live is None:
            self._set_status("reading the image ...", busy=True)
            self._new_live(open_recipe_image(recipe))
            todo.add("train")
        if "composite" in todo:
            self._composite(recipe)
        if not recipe.legend and any(t.kind == "file" and t.path for t in recipe.training):
            # a recipe written without a legend (by hand, or by a script): its training files give it one, as
            # `landclass run` does; the edit schedules the rest again
            legend = derive_legend(read_recipe_training(recipe, self.image_stack.crs)).to_list()
            self.ui.call(guarded, self.message, self.store.edit, "legend from the training data",
                         lambda r: setattr(r, "legend", legend))
            self._show("the recipe had no legend: it was made from the classes of its training data (see LEG)",
                       "info")
            return
        if "polygons" in todo:
            self._draw_polygons(recipe)
        view_done = False
        if "train" in todo:
            view_done = self._retrain(recipe)
            if view_done is None:  # newer training is queued: the next pass redoes the rest
                return
        if todo & {"train", "view", "stack"}:
            self._suggest()
            if not view_done:
                self._refresh_view()
        if "train" in todo and self.live is not None and self.live.model is not None:
            self._schedule_assess(recipe, self.live.samples_used)
        elif self.live is not None and self.live.model is None:
            self.live.warm()  # nothing to classify yet: get ready for the first training

    def _open_image(self, recipe: Recipe) -> bool:
        """A new image (or none): release the previous one's rasters, draw the image (a preview at once, then
        its display copy's tiles), move the map there and empty the classification overlays. Returns False
        when there is no image to work on.

        The app's first pass uses the stack opened for the map's extent, and the map is already there."""
        start, self._start_stack = self._start_stack, None
        self._release()
        self.ui.call(self.acc.clear)
        self.ui.call(self.acc.show_suggestions, [], "the scene")
        self.ui.call(self.cls.show_importance, None)
        self.ui.call(self.map.clear_overlays)
        if not recipe.images:
            self.ui.call(self.map.clear_image)
            self._set_status("no image yet: open one in IMG")
            return False
        self._set_status("opening the image ...", busy=True)
        stack = start if start is not None else self._image_of(recipe)
        self._set_status("drawing the image ...", busy=True)
        bands, note = self._composite_bands(recipe, stack)
        self._show_preview(stack, bands)
        if self.map.image_layer is None:  # the tile server's import overlaps the display copy (not the page's load)
            self.tiles.preload()
        if start is None:
            self._move_to(_latlon_bounds(stack.grid))
        self._new_image_layer(make_composite(stack, bands, self.cache))
        self._note("composite", note)
        self.image_stack, self._image_key = stack, _images_key(recipe)
        return True

    def _move_to(self, bounds) -> None:
        """Fit the map to ``bounds`` and, when a browser shows the map, wait (at most 3 s) until it reports the
        new extent, so that the next layer change finds the new view's tiles requested."""
        before = self.map.map.bounds
        self._moved = True
        self.ui.call(self.map.fit, bounds)
        if not before:
            return  # no browser (yet): nothing to wait for
        deadline = time.monotonic() + 3.0
        while self._moved and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.1)  # the browser starts loading the tiles of the new view

    def _arrived(self) -> bool:
        """True when the extent the browser reports is the one :meth:`MapView.fit` asked for (its zoom, and
        its centre inside the view)."""
        target = self.map.target
        bounds = self.map.map.bounds
        if target is None or not bounds:
            return False
        (lat, lon), zoom = target
        (south, west), (north, east) = bounds
        return self.map.map.zoom == zoom and south <= lat <= north and west <= lon <= east

    def _release(self) -> None:
        """Forget the previous image: live classifier (its arrays), last results."""
        self.live = None
        self.image_stack = None
        self._overview = None

    def _new_live(self, stack) -> None:
        self.live = LiveClassifier(stack, overview_px=self.overview_px)

    def _composite_bands(self, recipe: Recipe, stack) -> tuple[list[str], str | None]:
        """The bands (red, green, blue) of the composite chosen in IMG (from the sensor's band roles), and a
        message when the composite could not be made as asked."""
        names = stack.band_names
        sensor = recipe.derived.sensor or sensor_from_paths([r.path for r in recipe.images])
        try:
            roles = resolve_roles(names, sensor, recipe.derived.roles)
        except LandclassError:
            roles = {}
        return composite_bands(names, self.img.composite.value, roles)

    def _composite(self, recipe: Recipe) -> None:
        """Show another composite of the same image (the map does not move)."""
        self._set_status("drawing the image ...", busy=True)
        bands, note = self._composite_bands(recipe, self.image_stack)
        self._show_preview(self.image_stack, bands)
        path = make_composite(self.image_stack, bands, self.cache)
        self.version += 1
        if self.map.image_layer is None:
            self._new_image_layer(path)
        else:
            self._set_url(self.map.image_layer, path)
        self._note("composite", note)

    def _note(self, source: str, note: str | None, kind: str = "info", *, stale_errors: bool = False) -> None:
        """Show ``source``'s ``note`` on the message line as ``kind``; with no note, take ``source``'s previous
        note away if it is still shown (a later message stays), and with ``stale_errors`` also an error left from
        an earlier action (refused, so stale once the map is classified). Sources: ``"recipe"`` (a new recipe's
        next step, gone once an image is opened), ``"composite"`` (why the
        composite differs from the one asked for, gone once the bands it needs are added), ``"live"`` (the live
        classification's own message, e.g. a training file left out). Other messages (another tab's edits
        merged) are not cleared by these."""
        previous, self._notes[source] = self._notes.get(source), note
        if note:
            self._show(note, kind)
        elif previous or stale_errors:
            self.ui.call(self._clear_message, previous, stale_errors)

    def _clear_message(self, text: str | None, errors: bool = False) -> None:
        """Empty the message line if it still shows ``text`` (a later message stays), or, with ``errors``, any
        error."""
        if (text and html.escape(text) in self.message.value) or (errors and self.message.is_error):
            self.message.clear()

    def _draw_polygons(self, recipe: Recipe) -> None:
        """Outline the recipe's training files on the map in their class colours."""
        if not recipe.legend:  # a new recipe: no class yet, so no training file to draw (not an error)
            self.ui.call(self.map.show_polygons, [])
            return
        legend = Legend.from_list(recipe.legend)
        by_class: dict[str, list] = {}
        for ref in recipe.training:
            if ref.kind == "points" and ref.source and ref.points:  # sampled from a map, or another recipe's
                key = ("points", ref.source, len(ref.points), repr(ref.points[:3]), repr(ref.points[-3:]))
            elif ref.kind == "file" and ref.path:
                key = (ref.path, ref.class_field, ref.layer, tuple(sorted(ref.remap.items(), key=str)), ref.filter,
                       ref.x, ref.y, ref.geometry, os.path.getmtime(ref.path) if os.path.exists(ref.path) else None)
            else:
                continue  # the clicked points are drawn as markers (_draw_points)
            if key not in self._polygon_cache:
                try:
                    frame = read_ref(ref, crs="EPSG:4326")
                except (LandclassError, OSError):  # moved or broken: TRN flags it and training leaves it out
                    continue
                self._polygon_cache[key] = frame[["label", "geometry"]]
            frame = self._polygon_cache[key]
            for label, part in frame.groupby("label"):
                by_class.setdefault(str(label), []).append(part)
        import geopandas as gpd
        import pandas as pd

        layers = []
        for label, parts in by_class.items():
            try:
                name, color = legend.name_of(legend.value_of(label)), self._colors()[legend.value_of(label)]
            except LandclassError:
                name, color = label, "#ff00ff"
            frame = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326")
            layers.append((name, color, frame.__geo_interface__))
        self.ui.call(self.map.show_polygons, layers)

    def _retrain(self, recipe: Recipe) -> bool | None:
        """Retrain and redraw, progressively: the picture on top first (zoomed in, the visible extent; else a
        coarse picture of the scene, :data:`landclass_ui.live.COARSE_PX`), then the whole scene in full. Returns
        whether the visible extent was classified, or None when newer training is queued (the full picture is
        then left to the next pass)."""
        self._set_status("training ...", busy=True)
        start = time.perf_counter()
        # no legend yet (a new recipe): nothing to train until a training file or LEG gives classes
        model = self.live.fit(recipe, Legend.from_list(recipe.legend)) if recipe.legend else None
        self.assessor.cancel()  # a newer classification: a pending assessment of the old one is stale
        self.ui.call(self.trn.flag_files, dict(self.live.broken) if recipe.legend else {},
                     dict(self.live.file_counts) if model is not None else {})
        if model is None:
            self._note("live", "; ".join(self.live.messages) if self.live.broken else None, "error")
            self.ui.call(self.cls.show_importance, None)
            self._overview = None
            self.ui.call(self.acc.clear)
            self._set_status("add training points of at least two classes (TRN, then Training mode) or load a "
                             "training file")
            self.ui.call(self.map.clear_overlays)
            return False
        self.version += 1
        view = self._zoomed_view()
        if view is None:
            self._show_result("class", self.live.classify_overview(coarse=True))
        else:
            self._classify_view(view)
        first = time.perf_counter() - start
        if self.worker.pending("train"):
            return None
        result = self.live.classify_overview()
        self._show_result("class", result)
        self._overview = result
        self.ui.call(self.cls.show_importance, feature_importance(result.model))
        self._show_probability()
        self._show_uncertain()
        seconds = time.perf_counter() - start
        self.timings.append({"version": self.version, "seconds": seconds, "first_seconds": first,
                             "samples": result.n_samples})
        self._note("live", "; ".join(self.live.messages) or None, "error" if self.live.broken else "info",
                   stale_errors=True)
        self._set_status(f"classified with {result.n_samples} training pixels in {seconds:.1f} s "
                         f"(v{self.version})")
        return view is not None

    def _schedule_assess(self, recipe: Recipe, samples) -> None:
        """Cross-validate in the background, :attr:`assessor`'s delay (2 s) after the last retrain: a run of
        clicks retrains at once each time, and the accuracy follows when the clicking pauses (a newer retrain
        cancels a pending assessment)."""
        self.assessor.call(recipe, samples)

    def _assess_job(self, recipe: Recipe, samples) -> None:
        start = time.perf_counter()
        try:
            self._assess(recipe, Legend.from_list(recipe.legend or []), samples)
        finally:
            self.accuracy_seconds.append(time.perf_counter() - start)

    def _assess_failed(self, exc: BaseException) -> None:
        if isinstance(exc, LandclassError):
            self.ui.call(self.acc.clear)
            self._show(str(exc), "error")
            return
        LOG.error("accuracy assessment failed", exc_info=exc)
        self._show(f"accuracy failed: {type(exc).__name__}: {exc} (details in {LOG_NAME})", "error")

    def wait_idle(self, timeout: float = 120.0) -> None:
        """Block until the live classification and its accuracy assessment are done (for scripts and tests).

        Raises
        ------
        TimeoutError
        """
        deadline = time.monotonic() + timeout
        self.worker.wait_idle(timeout)
        self.assessor.wait(max(0.0, deadline - time.monotonic()))

    def _assess(self, recipe: Recipe, legend: Legend, samples) -> None:
        """Cross-validate the live model's training pixels for the ACC panel (see landclass_ui.guidance)."""
        if samples is None:
            self.ui.call(self.acc.clear)
            return
        report = assess_training(samples, legend, recipe.classifier.name, recipe.classifier.params)
        self.ui.call(self.acc.show, report)

    def _suggest(self) -> None:
        """Least-confident places of the scene, or of the visible part of it, for the ACC panel."""
        result = self._overview
        if result is None or result.classes is None:
            self.ui.call(self.acc.show_suggestions, [], "the scene")
            return
        view = self.map.view()
        window, where = None, "the scene"
        if view is not None:
            window = view_window(result.grid, view[0])
            h, w = result.classes.shape
            if window is None:
                self.ui.call(self.acc.show_suggestions, [], "the current view (outside the image)")
                return
            if window != (0, h, 0, w):
                where = "the current view"
        items = suggest_points(result.classes, result.probabilities, window=window)
        names = {e.value: e.name for e in result.model.legend}
        self.ui.call(self.acc.show_suggestions, locate(items, result.grid, names), where)

    def _go_to(self, suggestion) -> None:
        self.map.map.center = (suggestion.lat, suggestion.lon)
        self.map.map.zoom = max(self.map.map.zoom, 15)

    def _zoomed_view(self):
        """``(bounds, size)`` of the visible extent (:meth:`MapView.view`) when the screen is finer than the
        scene layer, else None (and the view overlay is emptied: the scene layer is as fine as the screen)."""
        view = self.map.view()
        if self.live is None or view is None:
            return None
        if _ground_size(*view) >= _ground_size_grid(self.live.overview_grid) * 0.9:
            self.ui.call(self.map.clear_overlays, "view")
            return None
        return view

    def _classify_view(self, view) -> None:
        """Classify the visible extent at screen resolution and show it (emptied when it misses the image)."""
        result = self.live.classify_view(*view)
        if result is None:
            self.ui.call(self.map.clear_overlays, "view")
        else:
            self._show_result("view", result)

    def _refresh_view(self) -> None:
        """Classify the visible extent at screen resolution when zoomed in past the coarse scene layer."""
        if self.live is None or self.live.model is None:
            return
        view = self._zoomed_view()
        if view is not None:
            self._classify_view(view)


def resend_state(*roots: W.Widget) -> int:
    """Send the whole state of every widget reachable from ``roots`` (children, map layers and controls...)
    to the page again; returns how many widgets.

    Why: a page opening while the worker changes widgets can miss a change. The page asks the kernel for
    every widget's state, then builds the widgets; a change the kernel sends in between names a widget the
    page does not have yet and is dropped, and the page keeps the older state (seen as a status line stuck on
    "training ..." after a reload, with the classification never shown). Sending the state again once the
    page has built the map puts every widget right. Call it on the kernel's event loop.
    """
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        widget = stack.pop()
        if widget.model_id in seen:
            continue
        seen.add(widget.model_id)
        widget.send_state()
        for key in widget.keys:
            value = getattr(widget, key, None)
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(item, W.Widget) and item.model_id not in seen:
                    stack.append(item)
    return len(seen)


#: The map's extent without an image: ``((south, west), (north, east))``, degrees.
WORLD = ((-60.0, -170.0), (75.0, 170.0))


def _latlon_bounds(grid) -> tuple[tuple[float, float], tuple[float, float]]:
    """``((south, west), (north, east))`` in degrees of a grid's extent."""
    from rasterio.warp import transform_bounds

    west, south, east, north = transform_bounds(grid.crs, "EPSG:4326", *grid.bounds, densify_pts=21)
    return (south, west), (north, east)


def _ground_size(bounds, size) -> float:
    """Approximate metres per screen pixel of a lon/lat extent shown at ``size`` pixels."""
    west, south, east, north = bounds
    lat = math.radians((south + north) / 2)
    return (east - west) * 111320 * math.cos(lat) / max(1, size[0])


def _ground_size_grid(grid) -> float:
    """Approximate metres per pixel of a grid (degrees converted at the equator for geographic CRS)."""
    res = grid.res[0]
    return res * 111320 if grid.crs.is_geographic else res
