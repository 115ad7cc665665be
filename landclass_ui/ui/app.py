"""The dashboard: recipe name, IMG/LEG/TRN/AUX/CLS/Export panels and the map with live classification.

``app.ipynb`` only does ``from landclass_ui.ui import LandclassApp; LandclassApp().widget``.

The recipe is saved to ``<workdir>/recipe.json`` on every change and reopened on start. ``workdir`` is
``$LANDCLASS_WORKDIR`` or ``~/landclass``.
"""
from __future__ import annotations

import os
import threading
import time
import traceback
from pathlib import Path

import ipywidgets as W

from ..classifiers import feature_importance
from ..classify import open_recipe_image
from ..display import composite_bands, make_composite, make_empty
from ..errors import LandclassError
from ..imagery import open_image
from ..legend import Legend
from ..live import LiveClassifier
from ..recipe import ImageRef, Recipe, TrainingRef, default_name
from ..sample import sample_paths
from ..store import RecipeStore
from ..tiles import TileService
from ..training import legend_colors, read_training
from .acc import AccuracyPanel
from .aux import AuxPanel
from .cls import ClassifierPanel
from .common import Message
from .img import ImagePanel
from .leg import LegendPanel
from .map import MapView
from .tasks import ExportPanel
from .trn import TrainingPanel, collected_points

__all__ = ["LandclassApp", "default_recipe", "default_workdir"]


def default_workdir() -> Path:
    return Path(os.environ.get("LANDCLASS_WORKDIR") or Path.home() / "landclass")


def default_recipe() -> Recipe:
    """The bundled Sentinel-2 scene, the legend of its training polygons (FARM, FOREST, WATER with their
    colours), and no training point yet."""
    s = sample_paths()
    frame = read_training(s.polygons, s.class_field)
    legend = Legend.from_labels(list(frame["label"]), legend_colors(frame))
    return Recipe(name=default_name(), images=[ImageRef(s.safe)], legend=legend.to_list(),
                  training=[TrainingRef("points", points=[])])


class LandclassApp:
    """Build the dashboard. Create it in a notebook cell and display ``app.widget``.

    Parameters
    ----------
    workdir : path, optional
        Where the recipe, display copies, live rasters and exports go (default :func:`default_workdir`).
    routing : ``"kernel"`` or ``"proxy"``, optional
        How tiles reach the browser (default: detected, see :mod:`landclass_ui.tiles`).
    overview_px : int
        Longest side of the whole-scene live classification.
    """

    def __init__(self, workdir: str | os.PathLike | None = None, *, routing: str | None = None,
                 overview_px: int = 640):
        self.workdir = Path(workdir or default_workdir())
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.cache = self.workdir / "cache"
        self.overview_px = overview_px
        self.store = RecipeStore.open(self.workdir / "recipe.json", default_recipe)
        self.tiles = TileService(routing)
        self.status = W.HTML()
        self.status.add_class("landclass-status")
        self.message = Message()
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._busy = False
        self.version = 0
        self.timings: list[dict] = []
        self.accuracy_seconds: list[float] = []
        self.assess_delay = 2.0
        self._assess_timer: threading.Timer | None = None
        self._assess_lock = threading.Lock()
        self._train_version = 0
        self.live: LiveClassifier | None = None

        # image, layers and map (created now: in kernel routing the first layer shows the comm bridge)
        stack = self._open_stack(self.store.recipe)
        composite = make_composite(stack, composite_bands(stack.band_names), self.cache)
        empty = make_empty(stack, self.cache)
        image_layer = self.tiles.layer(composite, name="Image", max_zoom=20)
        class_layer = self.tiles.layer(empty, name="Classification (scene)", max_zoom=20)
        view_layer = self.tiles.layer(empty, name="Classification (view)", max_zoom=20)
        prob_layer = self.tiles.layer(empty, name="Probability", max_zoom=20)
        uncertain_layer = self.tiles.layer(empty, name="Least confident (< 75 %)", max_zoom=20)
        self._template = class_layer.url
        client = self.tiles.client(composite)
        south, north, west, east = client.bounds()
        self.map = MapView(image_layer, class_layer, view_layer, prob_layer,
                           center=((south + north) / 2, (west + east) / 2),
                           bounds=[[south, west], [north, east]], on_click=self._on_click,
                           uncertain_layer=uncertain_layer)
        self._composite_for = self.store.recipe.images[0].path if self.store.recipe.images else None

        # panels
        self.img = ImagePanel(self.store, start_dir=str(Path(sample_paths().safe).parent))
        self.leg = LegendPanel(self.store, str(self.workdir))
        self.trn = TrainingPanel(self.store, str(self.workdir))
        self.aux = AuxPanel(self.store)
        self.cls = ClassifierPanel(self.store)
        self.export = ExportPanel(self.store, str(self.workdir))
        self.acc = AccuracyPanel(str(self.cache), on_go=self._go_to)
        W.link((self.acc.show_uncertain, "value"), (self.map.uncertain_layer, "visible"))
        self._overview = None  # the last LiveResult of the whole scene (suggestions are picked from it)
        self.img.composite.observe(lambda ch: self._schedule("composite"), "value")
        tabs = W.Tab(children=[self.img.widget, self.leg.widget, self.trn.widget, self.aux.widget,
                               self.cls.widget, self.acc.widget, self.export.widget])
        for i, title in enumerate(["IMG", "LEG", "TRN", "AUX", "CLS", "ACC", "Export"]):
            tabs.set_title(i, title)
        tabs.selected_index = 2
        tabs.layout = W.Layout(width="440px", min_width="440px")
        self.tabs = tabs
        self.name = W.Text(value=self.store.recipe.name, description="Recipe", continuous_update=False,
                           layout=W.Layout(width="400px"))
        self.name.add_class("landclass-recipe-name")
        self.name.observe(self._on_name, "value")
        header = W.HBox([self.name, self.status])
        self.widget = W.VBox([header, self.message, W.HBox([tabs, self.map.map],
                                                           layout=W.Layout(width="100%"))])
        self.widget.add_class("landclass-app")

        self._probability: str | None = None
        self.map.prob_layer.observe(lambda ch: self._show_probability(), "visible")
        self._uncertain: str | None = None
        self.map.uncertain_layer.observe(lambda ch: self._show_uncertain(), "visible")
        self.store.observe(self._on_edit)
        self.map.map.observe(lambda ch: self._schedule("view"), "bounds")
        self._draw_points()
        self._set_status(self.store.opened_message)
        self._schedule("train")

    # --- helpers ---------------------------------------------------------------------------------------

    def _open_stack(self, recipe: Recipe):
        return open_image(recipe.images[0].path, resolution=recipe.images[0].resolution)

    def _set_status(self, text: str, busy: bool = False) -> None:
        spinner = "<i class='fa fa-spinner fa-spin'></i> " if busy else ""
        self.status.value = f"<span class='landclass-status-text'>{spinner}{text}</span>"

    def _colors(self) -> dict[int, str]:
        return {int(e["value"]): e["color"] for e in (self.store.recipe.legend or [])}

    def _show_probability(self) -> None:
        """Point the probability layer at the latest result, only while it is shown (tiles of a hidden layer
        would still travel to the browser)."""
        if self._probability and self.map.prob_layer.visible:
            self.map.prob_layer.url = self.tiles.url(self._probability, self._template, self.version)

    def _show_uncertain(self) -> None:
        """Point the least-confident layer at the latest result, only while it is shown."""
        if self._uncertain and self.map.uncertain_layer.visible:
            self.map.uncertain_layer.url = self.tiles.url(self._uncertain, self._template, self.version)

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
            self.store.edit("rename", lambda r: setattr(r, "name", name))

    def _on_edit(self, label: str) -> None:
        self._draw_points()
        if self.name.value != self.store.recipe.name:
            self.name.value = self.store.recipe.name
        if label == "rename":
            return
        if any(k in label for k in ("image", "bands", "latitude", "undo", "replace")):
            self._schedule("stack")
        self._schedule("train")

    # --- live classification worker -----------------------------------------------------------------

    def _schedule(self, what: str) -> None:
        """Queue work for the worker thread; work queued while it runs is merged into its next pass, so
        clicks are never lost and never pile up."""
        with self._lock:
            self._pending.add(what)
            if self._busy:
                return
            self._busy = True
        threading.Thread(target=self._work, daemon=True).start()

    def _work(self) -> None:
        while True:
            with self._lock:
                todo, self._pending = self._pending, set()
                if not todo:
                    self._busy = False
                    return
            try:
                self._run(todo)
            except LandclassError as exc:
                self._set_status("")
                self.message.show(str(exc), "error")
            except Exception as exc:  # never a traceback in the page: one line, the details in the log
                traceback.print_exc()
                self._set_status("")
                self.message.show(f"unexpected error: {type(exc).__name__}: {exc}", "error")

    def _run(self, todo: set[str]) -> None:
        recipe = self.store.recipe
        if not recipe.images:
            return
        if "stack" in todo or self.live is None:
            self._set_status("reading the image ...", busy=True)
            stack = open_recipe_image(recipe)
            self.live = LiveClassifier(stack, self.cache / "live", overview_px=self.overview_px)
            todo.add("train")
            if recipe.images[0].path != self._composite_for:
                todo.add("composite")
        if "composite" in todo:
            stack = self._open_stack(recipe)
            bands = composite_bands(stack.band_names, self.img.composite.value)
            path = make_composite(stack, bands, self.cache)
            self.version += 1
            self.map.image_layer.url = self.tiles.url(path, self._template, self.version)
            if recipe.images[0].path != self._composite_for:
                self._composite_for = recipe.images[0].path
                b = stack.grid.bounds
                from rasterio.warp import transform_bounds

                west, south, east, north = transform_bounds(stack.grid.crs, "EPSG:4326", *b)
                self.map.map.fit_bounds([[south, west], [north, east]])
        if "train" in todo:
            self._retrain(recipe)
        if todo & {"train", "view", "stack"}:
            self._suggest()
            self._refresh_view()
        if "train" in todo and self.live is not None and self.live.model is not None:
            self._schedule_assess(recipe, self.live.samples_used)

    def _retrain(self, recipe: Recipe) -> None:
        legend = Legend.from_list(recipe.legend or [])
        self._set_status("training ...", busy=True)
        start = time.perf_counter()
        result = self.live.update(recipe, legend)
        self._train_version += 1
        if result is None:
            self.cls.show_importance(None)
            self._overview = None
            self.acc.clear()
            self._set_status("add training points of at least two classes (TRN, then Training mode)")
            for layer in (self.map.class_layer, self.map.prob_layer, self.map.view_layer,
                          self.map.uncertain_layer):
                layer.url = self.tiles.url(make_empty(self.live.stack, self.cache), self._template, self.version)
            return
        self.version += 1
        self.map.class_layer.url = self.tiles.url(result.classification, self._template, self.version)
        self.cls.show_importance(feature_importance(result.model))
        self._probability = result.probability
        self._show_probability()
        self._overview = result
        self._uncertain = result.uncertain
        self._show_uncertain()
        seconds = time.perf_counter() - start
        self.timings.append({"version": self.version, "seconds": seconds, "samples": result.n_samples})
        if self.live.messages:
            self.message.show("; ".join(self.live.messages), "info")
        else:
            self.message.clear()
        self._set_status(f"classified with {result.n_samples} training pixels in {seconds:.1f} s "
                         f"(v{self.version})")

    def _schedule_assess(self, recipe: Recipe, samples) -> None:
        """Cross-validate in the background, :attr:`assess_delay` s after the last retrain: a run of clicks
        retrains at once each time, and the accuracy follows when the clicking pauses (a newer retrain
        cancels a pending assessment)."""
        if self._assess_timer is not None:
            self._assess_timer.cancel()
        timer = threading.Timer(self.assess_delay, self._assess_job, args=(self._train_version, recipe, samples))
        timer.daemon = True
        self._assess_timer = timer
        timer.start()

    def _assess_job(self, version: int, recipe: Recipe, samples) -> None:
        if version != self._train_version:
            return  # a newer classification came meanwhile; its own assessment follows
        with self._assess_lock:
            start = time.perf_counter()
            try:
                self._assess(recipe, Legend.from_list(recipe.legend or []), samples)
            except LandclassError as exc:
                self.acc.clear()
                self.message.show(str(exc), "error")
            except Exception as exc:
                traceback.print_exc()
                self.message.show(f"accuracy failed: {type(exc).__name__}: {exc}", "error")
            self.accuracy_seconds.append(time.perf_counter() - start)

    def wait_idle(self, timeout: float = 120.0) -> None:
        """Block until the live classification and its accuracy assessment are done (for scripts and tests).

        Raises
        ------
        TimeoutError
        """
        deadline = time.monotonic() + timeout
        while self._busy or (self._assess_timer is not None and self._assess_timer.is_alive()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the live classification is still busy after {timeout} s")
            time.sleep(0.05)

    def _assess(self, recipe: Recipe, legend: Legend, samples) -> None:
        """Cross-validate the live model's training pixels for the ACC panel (see landclass_ui.guidance)."""
        from ..guidance import assess_training

        if samples is None:
            self.acc.clear()
            return
        self.acc.show(assess_training(samples, legend, recipe.classifier.name, recipe.classifier.params))

    def _suggest(self) -> None:
        """Least-confident places of the scene, or of the visible part of it, for the ACC panel."""
        from ..guidance import locate, suggest_points, view_window

        result = self._overview
        if result is None or result.classes is None:
            self.acc.show_suggestions([], "the scene")
            return
        view = self.map.view()
        window, where = None, "the scene"
        if view is not None:
            window = view_window(result.grid, view[0])
            h, w = result.classes.shape
            if window is None:
                self.acc.show_suggestions([], "the current view (outside the image)")
                return
            if window != (0, h, 0, w):
                where = "the current view"
        items = suggest_points(result.classes, result.probabilities, window=window)
        names = {e.value: e.name for e in result.model.legend}
        self.acc.show_suggestions(locate(items, result.grid, names), where)

    def _go_to(self, suggestion) -> None:
        self.map.map.center = (suggestion.lat, suggestion.lon)
        self.map.map.zoom = max(self.map.map.zoom, 15)

    def _refresh_view(self) -> None:
        """Classify the visible extent at screen resolution when zoomed in past the coarse scene layer."""
        if self.live is None or self.live.model is None:
            return
        view = self.map.view()
        if view is None:
            return
        bounds, size = view
        screen_m = _ground_size(bounds, size)
        scene_m = _ground_size_grid(self.live.overview_grid)
        if screen_m >= scene_m * 0.9:  # the scene layer is already as fine as the screen
            self.map.view_layer.url = self.tiles.url(make_empty(self.live.stack, self.cache), self._template,
                                                     self.version)
            return
        result = self.live.classify_view(bounds, size)
        if result is not None:
            self.version += 1
            self.map.view_layer.url = self.tiles.url(result.classification, self._template, self.version)


def _ground_size(bounds, size) -> float:
    """Approximate metres per screen pixel of a lon/lat extent shown at ``size`` pixels."""
    import math

    west, south, east, north = bounds
    lat = math.radians((south + north) / 2)
    return (east - west) * 111320 * math.cos(lat) / max(1, size[0])


def _ground_size_grid(grid) -> float:
    """Approximate metres per pixel of a grid (degrees converted at the equator for geographic CRS)."""
    res = grid.res[0]
    return res * 111320 if grid.crs.is_geographic else res
