"""Guidance while collecting training points: how accurate the live model looks, and where to add points next.

No widgets here (the dashboard's ACC panel, :mod:`landclass_ui.ui.acc`, shows these).

Accuracy of the live model (:func:`assess_training`)
    With a few clicked points there is no independent sample, so the training data are cross-validated:
    spatial k-fold by unit (:func:`landclass_ui.validation.spatial_kfold`: a polygon, or a block of points, is
    never on both sides) with ``k = min(5, fewest units of a class)``. When a class has a single unit (e.g.
    one large polygon), all pixels are grouped into 10 x 10 pixel spatial blocks instead (polygons are cut:
    still more optimistic); fewer than 2 units in a class even then: no assessment. The folds' predictions
    are pooled into one :class:`~landclass_ui.accuracy.AccuracyReport`
    (overall accuracy, kappa, user's/producer's accuracy, F1, confusion matrix) and the folds' overall
    accuracies give a mean and spread. Training data are not a probability sample of the map: the numbers
    are optimistic and only an indication. To stay cheap after every retrain, at most ``max_pixels`` training
    pixels are used (a random subset, the units computed before subsampling so a polygon stays one unit).

Where to add points next (:func:`uncertain_raster`, :func:`suggest_points`)
    Pixels whose winning-class probability is below :data:`UNCERTAIN_THRESHOLD` (75 %, SEPAL's threshold)
    are the least confident ones; :func:`suggest_points` picks a few of them per predicted class (SEPAL: 5),
    spread out: the least-confident pixel of each block of a coarse grid, then greedily the lowest ones at
    least a block apart.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .training import SampleTable

__all__ = ["UNCERTAIN_THRESHOLD", "UNCERTAIN_COLOR", "uncertain_raster", "uncertain_colormap", "Suggestion",
           "suggest_points", "LiveAccuracy", "assess_training", "TOO_FEW_MESSAGE"]

#: Winning-class probability (percent) below which a pixel counts as uncertain (SEPAL's threshold).
UNCERTAIN_THRESHOLD = 75
#: RGBA of uncertain pixels in :func:`uncertain_raster` (magenta; GeoTIFF colour tables keep no alpha, the map
#: layer is drawn partly transparent instead).
UNCERTAIN_COLOR = (255, 0, 255, 255)
#: Shown instead of accuracy figures while a class has fewer than two polygons/blocks of points.
TOO_FEW_MESSAGE = "add points: at least 2 per class for accuracy"


def uncertain_raster(probability: np.ndarray, threshold: float = UNCERTAIN_THRESHOLD) -> np.ndarray:
    """uint8 raster of the same shape as ``probability`` (winning-class probability 0-100, 255 = nodata):
    1 where the probability is below ``threshold``, 0 elsewhere and on nodata (0 is the raster's nodata, so
    only uncertain pixels are drawn)."""
    p = np.asarray(probability)
    return ((p < threshold) & (p != 255)).astype(np.uint8)


def uncertain_colormap() -> dict[int, tuple[int, int, int, int]]:
    """Colour table of :func:`uncertain_raster`: 0 transparent, 1 :data:`UNCERTAIN_COLOR`."""
    return {0: (0, 0, 0, 0), 1: UNCERTAIN_COLOR}


@dataclass
class Suggestion:
    """A place to add a training point: pixel ``row``/``col`` of the raster it was picked from, the predicted
    class ``value`` (and ``name``), its winning-class ``probability`` (percent) and ``lat``/``lon``."""

    value: int
    row: int
    col: int
    probability: int
    name: str = ""
    lat: float = math.nan
    lon: float = math.nan

    def label(self) -> str:
        """``"FOREST? 43.61, 1.44 (52 %)"``."""
        return f"{self.name or self.value}? {self.lat:.2f}, {self.lon:.2f} ({self.probability} %)"


def suggest_points(classes: np.ndarray, probability: np.ndarray, *, window=None,
                   threshold: float = UNCERTAIN_THRESHOLD, per_class: int = 5, blocks: int = 8,
                   nodata: int = 255) -> list[Suggestion]:
    """Up to ``per_class`` least-confident pixels of each predicted class, spread out.

    Parameters
    ----------
    classes, probability : numpy.ndarray
        ``(h, w)`` predicted class values and winning-class probability (0-100), ``nodata`` where nodata.
    window : (row_start, row_stop, col_start, col_stop), optional
        Only pick inside these rows/columns (the visible extent); default the whole raster.
    threshold : float
        Only pixels with probability below it.
    per_class : int
    blocks : int
        The window is cut into about ``blocks`` x ``blocks`` square blocks of ``ceil(max(h, w) / blocks)``
        pixels; each block offers its least-confident pixel of the class (first in row-major order on ties),
        and candidates are taken lowest probability first, skipping any closer than one block side (Chebyshev
        distance in pixels) to one already taken.

    Returns
    -------
    list of Suggestion
        By class value, then probability (row/col in the full raster; no name or coordinates yet).
    """
    classes = np.asarray(classes)
    probability = np.asarray(probability)
    h, w = classes.shape
    r0, r1, c0, c1 = window if window is not None else (0, h, 0, w)
    r0, c0 = max(0, int(r0)), max(0, int(c0))
    r1, c1 = min(h, int(r1)), min(w, int(c1))
    if r1 <= r0 or c1 <= c0 or per_class <= 0:
        return []
    cls = classes[r0:r1, c0:c1]
    prob = probability[r0:r1, c0:c1].astype(np.int32)
    wh, ww = cls.shape
    side = max(1, math.ceil(max(wh, ww) / max(1, blocks)))
    nby, nbx = math.ceil(wh / side), math.ceil(ww / side)
    big = np.iinfo(np.int32).max
    out: list[Suggestion] = []
    candidate = (prob < threshold) & (cls != nodata) & (prob != nodata)
    for value in np.unique(cls[candidate]):
        score = np.full((nby * side, nbx * side), big, np.int32)
        score[:wh, :ww] = np.where(candidate & (cls == value), prob, big)
        tiles = score.reshape(nby, side, nbx, side).transpose(0, 2, 1, 3).reshape(nby, nbx, side * side)
        best = tiles.argmin(axis=2)
        low = np.take_along_axis(tiles, best[..., None], axis=2)[..., 0]
        by, bx = np.nonzero(low < big)
        rows = by * side + best[by, bx] // side
        cols = bx * side + best[by, bx] % side
        order = np.lexsort((cols, rows, low[by, bx]))
        taken: list[tuple[int, int, int]] = []
        for i in order:
            r, c = int(rows[i]), int(cols[i])
            if all(max(abs(r - tr), abs(c - tc)) >= side for tr, tc, _ in taken):
                taken.append((r, c, int(low[by[i], bx[i]])))
                if len(taken) == per_class:
                    break
        out += [Suggestion(int(value), r + r0, c + c0, p) for r, c, p in taken]
    return out


def locate(suggestions: list[Suggestion], grid, names: dict[int, str] | None = None) -> list[Suggestion]:
    """Fill in ``lat``/``lon`` (pixel centres of ``grid``, a :class:`~landclass_ui.imagery.Grid`) and class
    names."""
    from pyproj import Transformer

    if not suggestions:
        return suggestions
    to_wgs84 = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    for s in suggestions:
        x, y = grid.transform * (s.col + 0.5, s.row + 0.5)
        s.lon, s.lat = to_wgs84.transform(x, y)
        if names:
            s.name = names.get(s.value, str(s.value))
    return suggestions


def view_window(grid, bounds, crs="EPSG:4326") -> tuple[int, int, int, int] | None:
    """Rows/columns ``(row_start, row_stop, col_start, col_stop)`` of ``grid`` inside ``bounds`` (``west,
    south, east, north`` in ``crs``); None when they miss the grid."""
    from rasterio.warp import transform_bounds

    left, bottom, right, top = transform_bounds(crs, grid.crs, *bounds, densify_pts=21)
    inv = ~grid.transform
    cols, rows = zip(*(inv * (x, y) for x in (left, right) for y in (bottom, top)))
    r0, r1 = max(0, math.floor(min(rows))), min(grid.height, math.ceil(max(rows)))
    c0, c1 = max(0, math.floor(min(cols))), min(grid.width, math.ceil(max(cols)))
    if r1 <= r0 or c1 <= c0:
        return None
    return r0, r1, c0, c1


@dataclass
class LiveAccuracy:
    """Result of :func:`assess_training`. ``report`` is None (and ``message`` says why) when the training
    data are too few to cross-validate."""

    report: object = None
    cross_validation: object = None
    k: int = 0
    n_pixels: int = 0
    n_total: int = 0
    seconds: float = 0.0
    message: str = ""
    unit: str = ""
    messages: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: ``"overall accuracy 91.2 % ± 3.1 (5-fold), kappa 0.86"``."""
        if self.report is None:
            return self.message
        cv = self.cross_validation
        return (f"overall accuracy {100 * cv.mean:.1f} % ± {100 * cv.std:.1f} ({self.k}-fold mean ± sd), "
                f"kappa {self.report.kappa:.2f}")


def assess_training(samples, legend, classifier: str = "random-forest", params: dict | None = None, *,
                    max_pixels: int = 1500, max_k: int = 5, seed: int = 0) -> LiveAccuracy:
    """Spatial k-fold cross-validation of the training samples (see the module notes).

    Parameters
    ----------
    samples : SampleTable
    legend : Legend
    classifier, params
        As the live model (:func:`landclass_ui.model.fit`).
    max_pixels : int
        Cross-validate a random subset of this many pixels at most (units kept as in the full table).
    max_k : int
        At most this many folds; fewer when a class has fewer units.
    """
    from .validation import cross_validate, spatial_blocks, split_units  # scikit-learn: not at the app's start

    start = time.perf_counter()
    frame = samples.frame.reset_index(drop=True)
    n_total = len(frame)
    k, units, unit = 0, None, "polygon or block of points"
    for candidate, name in ((lambda: split_units(samples), "polygon or block of points"),
                            (lambda: spatial_blocks(frame), "block of 10 x 10 pixels (polygons cut)")):
        units = candidate()
        per_class = pd.Series(units).groupby(frame["class"].to_numpy()).nunique()
        k = int(min(max_k, per_class.min())) if len(per_class) >= 2 else 0
        unit = name
        if k >= 2:
            break
    if k < 2:
        return LiveAccuracy(message=TOO_FEW_MESSAGE, n_total=n_total, seconds=time.perf_counter() - start)
    frame = frame.assign(_unit=units)
    if n_total > max_pixels:
        # keep one pixel of every unit, then a random share of the rest
        rng = np.random.default_rng(seed)
        first = ~frame["_unit"].duplicated().to_numpy()
        rest = np.flatnonzero(~first)
        extra = rng.choice(rest, size=max(0, max_pixels - int(first.sum())), replace=False) \
            if len(rest) > max_pixels - first.sum() else rest
        keep = np.zeros(n_total, bool)
        keep[first] = True
        keep[extra] = True
        frame = frame[keep].reset_index(drop=True)
    table = SampleTable(frame, list(samples.band_names), [])
    cv = cross_validate(table, legend, classifier, params, k=k, seed=seed, by="_unit")
    report = cv.pooled()  # every pixel predicted by the model that did not see it
    return LiveAccuracy(report, cv, k, len(frame), n_total, time.perf_counter() - start, unit=unit)
