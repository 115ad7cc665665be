"""Live classification for the map: retrain on every training change and re-render quickly.

Instead of the full scene at full resolution, :class:`LiveClassifier` classifies

* the whole scene at a coarse scale (at most ``overview_px`` pixels a side, read once and kept in memory), for
  zoomed-out views, and
* the visible extent at screen resolution (:meth:`LiveClassifier.classify_view`), for zoomed-in views.

Results are kept in memory as arrays (:class:`LiveResult`); the map shows them as one image each
(:mod:`landclass_ui.overlay`), with no file and no tile server in between. Training samples are taken at full
resolution from the image, as in the exported map.
"""
from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass

import numpy as np
from affine import Affine
from rasterio.windows import Window

from .errors import LandclassError, LegendError, NoOverlapError
from .guidance import uncertain_raster
from .imagery import Grid, ImageStack
from .legend import Legend
from .model import TrainedModel, fit, predict_block
from .recipe import Recipe
from .training import SampleTable, extract_samples, points_frame, read_ref

__all__ = ["LiveClassifier", "LiveResult", "COARSE_PX"]

#: Longest side, in pixels, of the first, coarse picture of a progressive refresh (tens of ms to classify).
COARSE_PX = 256


@dataclass
class LiveResult:
    """One live classification, in memory: ``classes`` and ``probabilities`` are uint8 ``(h, w)`` arrays on
    ``grid`` (the image's CRS), 255 = nodata; probabilities are the winning class's, in percent (0-100)."""

    version: int
    grid: Grid
    model: TrainedModel
    n_samples: int
    fit_seconds: float
    predict_seconds: float
    classes: np.ndarray
    probabilities: np.ndarray
    #: ``"overview"`` (the whole scene at the coarse scale) or ``"view"`` (the visible extent).
    tag: str = "overview"

    @property
    def uncertain(self) -> np.ndarray:
        """uint8 ``(h, w)``: 1 where the probability is below 75 % (:func:`landclass_ui.guidance.uncertain_raster`),
        0 elsewhere."""
        return uncertain_raster(self.probabilities)


class LiveClassifier:
    """Trains on a recipe's training data and classifies a coarse whole-scene view or the visible extent.

    Parameters
    ----------
    stack : ImageStack
        The recipe's image.
    overview_px : int
        Longest side, in pixels, of the whole-scene view.

    Thread safety: :meth:`update` and :meth:`classify_view` may be called from a worker thread; one runs at a
    time.
    """

    def __init__(self, stack: ImageStack, *, overview_px: int = 1024):
        self.stack = stack
        g = stack.grid
        factor = max(1.0, max(g.width, g.height) / overview_px)
        shape = (max(1, int(round(g.height / factor))), max(1, int(round(g.width / factor))))
        transform = g.transform * Affine.scale(g.width / shape[1], g.height / shape[0])
        self.overview_grid = Grid(g.crs, transform, shape[1], shape[0])
        self._overview: np.ndarray | None = None
        self._file_samples: dict[tuple, tuple[SampleTable, dict[str, int]]] = {}
        self._point_values: dict[tuple, object] = {}
        self._lock = threading.Lock()
        self._version = 0
        self.model: TrainedModel | None = None
        self.samples_used: SampleTable | None = None  # the training pixels of the last fit
        self.messages: list[str] = []
        #: Training files of the last :meth:`samples` that could not be used (moved, deleted, edited): ``{path:
        #: reason}``; they were left out and the others trained on.
        self.broken: dict[str, str] = {}
        #: Training pixels per class of each training file the last :meth:`samples` used: ``{path: {class name:
        #: pixels}}`` (TRN lists them beside each file).
        self.file_counts: dict[str, dict[str, int]] = {}
        self._view_data: tuple[tuple, np.ndarray, Grid] | None = None  # the last view read: its key, data, grid
        self.regularization: tuple[int | None, int | None] = (None, None)  # majority, MMU in image pixels

    # --- data ---------------------------------------------------------------------------------------------

    def overview(self) -> np.ndarray:
        """The whole scene at the coarse scale: float32 ``(n_bands, h, w)``, NaN for nodata (cached)."""
        if self._overview is None:
            self._overview = self.stack.read(None, self.overview_grid.shape)
        return self._overview

    def warm(self) -> None:
        """Do ahead what the first classification needs, while the user has not trained yet: the whole scene
        read at the coarse scale (:meth:`overview`) and scikit-learn imported (about a second together on the
        bundled scene, which the first training would otherwise wait for)."""
        import sklearn.ensemble  # noqa: F401  (the live model's classifiers; the rest of scikit-learn with it)

        with self._lock:
            self.overview()

    def samples(self, recipe: Recipe, legend: Legend) -> SampleTable | None:
        """Training pixels of the recipe (files sampled once and cached); None with fewer than two classes.

        A training file that cannot be used any more (moved, deleted, edited so that it no longer reads or
        overlaps) is left out, named in :attr:`broken` and :attr:`messages`, and does not stop the others: a
        recipe keeps training on what is there (the issue's "without blocking the others")."""
        import pandas as pd

        tables = []
        broken: dict[str, str] = {}
        counts: dict[str, dict[str, int]] = {}
        for ref in recipe.training:
            if ref.kind == "points":
                if ref.points:
                    tables.append(self._point_samples(ref.points, legend))
            else:
                try:
                    key = (ref.path, ref.class_field, ref.layer, os.path.getmtime(ref.path),
                           tuple(legend.values), tuple(legend.names), tuple(sorted(ref.remap.items(), key=str)),
                           ref.filter, ref.x, ref.y, ref.geometry)
                    if key not in self._file_samples:
                        frame = read_ref(ref, crs=self.stack.crs)  # with its remap, row filter, coordinate columns
                        # one class alone is fine here: another data set may complete it (checked below)
                        table = extract_samples(self.stack, frame, legend, min_classes=0)
                        per_class = {str(k): int(n) for k, n in table.frame.groupby("label").size().items()}
                        self._file_samples[key] = (table, per_class)  # counted once, not at every click
                except (LandclassError, OSError) as exc:  # moved, deleted or edited since it was loaded
                    broken[ref.path] = _one_line(exc)
                    continue
                table, counts[ref.path] = self._file_samples[key]
                tables.append(table)
        self.broken, self.file_counts = broken, counts
        self.messages = [f"training file {os.path.basename(p)} left out ({why}): find it again above the map, or "
                         "remove it in TRN" for p, why in broken.items()]
        self.messages += [m for t in tables if t is not None for m in t.messages]
        tables = [t for t in tables if t is not None and len(t.frame)]
        if not tables:
            return None
        frame = pd.concat([t.frame for t in tables], ignore_index=True)
        if frame["class"].nunique() < 2:
            return None
        return SampleTable(frame, tables[0].band_names, [m for t in tables for m in t.messages])

    def _point_samples(self, points: list[dict], legend: Legend) -> SampleTable:
        """Samples of collected points; each point's band values are read once and cached (a click then costs
        one pixel read, not a read of the area the points span)."""
        import pandas as pd

        missing = [p for p in points if (p["x"], p["y"]) not in self._point_values]
        if missing:
            frame = points_frame([{**p, "class": legend.values[0]} for p in missing], crs=self.stack.crs)
            try:
                table = extract_samples(self.stack, frame, legend, min_classes=0)
                rows = table.frame
            except NoOverlapError:
                rows = pd.DataFrame(columns=["group", "x", "y", "row", "col", *self.stack.band_names])
            found = {int(r["group"]): r for r in rows.to_dict("records")}
            for i, p in enumerate(missing):
                self._point_values[(p["x"], p["y"])] = found.get(i)  # None: outside the image or on nodata
        names = {e.value: e.name for e in legend}
        records, outside = [], 0
        for i, p in enumerate(points):
            row = self._point_values[(p["x"], p["y"])]
            if row is None:
                outside += 1
                continue
            value = int(p["class"])
            if value not in names:
                raise LegendError(f"a training point has class {value}, which is not in the legend; add the "
                                  "class in LEG or relabel the point")
            record = {"x": row["x"], "y": row["y"], "row": row["row"], "col": row["col"], "group": i,
                      "class": value, "label": names[value]}
            record.update({b: row[b] for b in self.stack.band_names})
            records.append(record)
        messages = [f"{outside} point(s) outside the image or on nodata ignored"] if outside else []
        return SampleTable(pd.DataFrame.from_records(records), list(self.stack.band_names), messages)

    # --- classification -----------------------------------------------------------------------------------

    def fit(self, recipe: Recipe, legend: Legend) -> TrainedModel | None:
        """Train the recipe's classifier; None while fewer than two classes have training pixels."""
        with self._lock:
            samples = self.samples(recipe, legend)
            self.samples_used = samples
            if samples is None:
                self.model = None
                return None
            self.model = fit(samples, legend, recipe.classifier.name, recipe.classifier.params)
            from .pipeline import regularization_pixels

            self.regularization = regularization_pixels(recipe.regularization, self.stack.grid)
            return self.model

    def update(self, recipe: Recipe, legend: Legend, *, coarse: bool = False) -> LiveResult | None:
        """Retrain (:meth:`fit`) and classify the whole scene (:meth:`classify_overview`).

        Returns None while the training data hold fewer than two classes.

        Raises
        ------
        LandclassError
            Training data that cannot be used (unknown class, ...).
        """
        if self.fit(recipe, legend) is None:
            return None
        return self.classify_overview(coarse=coarse)

    def classify_overview(self, *, coarse: bool = False) -> LiveResult | None:
        """Classify the whole scene with the last model (:meth:`fit`) on :attr:`overview_grid`, or with
        ``coarse`` on at most :data:`COARSE_PX` pixels a side (every k-th pixel of it, the centre one of each
        k x k block: a first picture in tens of ms, replaced by the full one right after). None without a
        model."""
        with self._lock:
            if self.model is None:
                return None
            data, grid = self.overview(), self.overview_grid
            if coarse:
                data, grid = _every(data, grid, math.ceil(max(grid.width, grid.height) / COARSE_PX))
            return self._predict(self.model, data, grid, "overview")

    def classify_view(self, bounds: tuple[float, float, float, float], size: tuple[int, int],
                      crs="EPSG:4326", *, coarse: bool = False) -> LiveResult | None:
        """Classify the extent ``bounds`` (``west, south, east, north`` in ``crs``) at ``size`` ``(w, h)``
        screen pixels (never finer than the image); with ``coarse``, at most :data:`COARSE_PX` pixels a side.
        Needs a model from :meth:`fit`; None without one or when the extent misses the image.

        The bands of the last extent are kept: a retrain on the same view reads nothing from the image."""
        with self._lock:
            if self.model is None:
                return None
            found = self._view(bounds, size, crs)
            if found is None:
                return None
            data, grid = found
            if coarse:
                data, grid = _every(data, grid, math.ceil(max(grid.width, grid.height) / COARSE_PX))
            return self._predict(self.model, data, grid, "view")

    def _view(self, bounds, size, crs) -> tuple[np.ndarray, Grid] | None:
        """The bands ``(n_bands, h, w)`` float32 of the extent ``bounds`` at about ``size`` and their grid
        (cached for the last extent); None when the extent misses the image."""
        import rasterio.errors
        import rasterio.windows
        from rasterio.warp import transform_bounds

        key = (tuple(bounds), tuple(size), str(crs))
        if self._view_data is not None and self._view_data[0] == key:
            return self._view_data[1], self._view_data[2]
        g = self.stack.grid
        left, bottom, right, top = transform_bounds(crs, g.crs, *bounds, densify_pts=21)
        win = rasterio.windows.from_bounds(left, bottom, right, top, transform=g.transform)
        full = Window(0, 0, g.width, g.height)
        try:
            win = win.round_offsets(op="floor").round_lengths(op="ceil").intersection(full)
        except rasterio.errors.WindowError:  # the view misses the image
            return None
        w = max(1, min(int(win.width), int(size[0])))
        h = max(1, min(int(win.height), int(size[1])))
        transform = g.window_transform(win) * Affine.scale(win.width / w, win.height / h)
        data, grid = self.stack.read(win, (h, w)), Grid(g.crs, transform, w, h)
        self._view_data = (key, data, grid)
        return data, grid

    def _predict(self, model: TrainedModel, data: np.ndarray, grid: Grid, tag: str) -> LiveResult:
        start = time.perf_counter()
        classes, prob = predict_block(model, data)
        classes = self._regularize(classes, grid)
        self._version += 1
        return LiveResult(self._version, grid, model, model.n_samples, model.fit_seconds,
                          time.perf_counter() - start, classes, prob, tag)


    def _regularize(self, classes: np.ndarray, grid: Grid) -> np.ndarray:
        """The recipe's regularization (:attr:`regularization`, in image pixels) on a picture of pixels
        ``grid.res`` / image res times larger: the majority window and the minimum mapping unit scaled to the
        picture's pixels (so the picture shows about what the export will be), skipped below 3 x 3 / 2 pixels."""
        majority, mmu = self.regularization
        if majority is None and mmu is None:
            return classes
        from .regularize import regularize

        factor = max(1.0, abs(grid.res[0]) / abs(self.stack.grid.res[0]))
        window = None
        if majority is not None and majority / factor >= 2:
            window = max(3, int(round((majority / factor - 1) / 2)) * 2 + 1)
        pixels = int(round(mmu / factor ** 2)) if mmu is not None else 0
        if window is None and pixels < 2:
            return classes
        return regularize(classes, majority=window, mmu=pixels if pixels >= 2 else None)


def _every(data: np.ndarray, grid: Grid, step: int) -> tuple[np.ndarray, Grid]:
    """Every ``step``-th pixel of ``data`` (``(bands, h, w)`` on ``grid``), the centre one of each block, and
    the grid of the result (its pixels ``step`` times larger)."""
    if step <= 1:
        return data, grid
    first = step // 2
    sub = data[:, first::step, first::step]
    return sub, Grid(grid.crs, grid.transform * Affine.scale(step), sub.shape[2], sub.shape[1])


def _one_line(exc: BaseException) -> str:
    """An error's message on one line (a library's may span several)."""
    if isinstance(exc, FileNotFoundError):
        return "not found"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return " ".join(str(exc).split())
