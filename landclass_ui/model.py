"""The model: fit a classifier on training samples, and classify one block of pixels with it.

Pure functions of a model and arrays: nothing here reads or writes a file, so the same code serves the
command line (window by window, :mod:`landclass_ui.export`), the live map (:mod:`landclass_ui.live`) and the
cross-validation (:mod:`landclass_ui.validation`).
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np

from ._arrays import fill_where
from .classifiers import get_spec, make_classifier, parse_params
from .legend import NODATA_CLASS, Legend
from .training import SampleTable

__all__ = ["TrainedModel", "fit", "predict_block", "predict_block_probabilities", "single_threaded", "winners"]


@dataclass
class TrainedModel:
    """A fitted estimator with what is needed to apply it: band names (feature order) and the legend."""

    estimator: object
    band_names: list[str]
    legend: Legend
    classifier: str
    params: dict
    fit_seconds: float = 0.0
    n_samples: int = 0

    @property
    def class_values(self) -> np.ndarray:
        """Legend values in the estimator's probability column order."""
        return np.asarray(self.estimator.classes_)


def fit(samples: SampleTable, legend: Legend, classifier: str = "random-forest",
        params: dict | None = None) -> TrainedModel:
    """Fit ``classifier`` (a name from :data:`landclass_ui.classifiers.CLASSIFIERS`) on the samples.

    Parameters
    ----------
    samples : SampleTable
        ``features`` float32 ``(n, n_bands)`` (no NaN) and ``classes`` int ``(n,)`` (legend values).
    legend : Legend
        Carried with the model (class names and colours of its predictions).
    classifier, params
        The classifier and the parameters set by the user (defaults: SEPAL's, see
        :mod:`landclass_ui.classifiers`).

    Raises
    ------
    ClassifierError
        Unknown classifier or a bad parameter.

    Examples
    --------
    >>> import pandas as pd
    >>> from landclass_ui.legend import Legend
    >>> from landclass_ui.training import SampleTable
    >>> frame = pd.DataFrame({"class": [1, 1, 2, 2], "B04": [0.1, 0.12, 0.4, 0.41], "B8A": [0.3, 0.31, 0.05, 0.06]})
    >>> model = fit(SampleTable(frame, ["B04", "B8A"]), Legend.from_labels(["forest", "water"]), "cart")
    >>> block = frame[["B04", "B8A"]].to_numpy("float32").T.reshape(2, 2, 2)
    >>> predict_block(model, block)[0].tolist()
    [[1, 1], [2, 2]]
    """
    spec = get_spec(classifier)
    full = parse_params(spec.name, params)
    estimator = make_classifier(spec.name, full)
    if hasattr(estimator, "band_names"):  # a pasted decision tree names its bands
        estimator.band_names = list(samples.band_names)
    _floor_bag_size(estimator, samples.classes)
    start = time.perf_counter()
    estimator.fit(samples.features, samples.classes)
    return TrainedModel(estimator, list(samples.band_names), legend, spec.name, full,
                        time.perf_counter() - start, len(samples.classes))


def _floor_bag_size(estimator, classes: np.ndarray) -> None:
    """Give each tree of a forest at least ``min(n, 4 x n_classes)`` pixels.

    SEPAL's bag fraction (0.5) is right for thousands of pixels, but with the handful of points of a first
    live training it leaves trees with one pixel, which predict one class everywhere (two clicks, water and
    forest, gave an all-forest map). The fraction is applied as given once the sample is large enough.
    """
    fraction = getattr(estimator, "max_samples", None)
    if not isinstance(fraction, float):
        return
    n = len(classes)
    floor = min(n, 4 * len(np.unique(classes)))
    if fraction * n < floor:
        estimator.set_params(max_samples=max(math.ceil(fraction * n), floor))


def single_threaded(model: TrainedModel) -> TrainedModel:
    """A copy of ``model`` whose estimator predicts on one thread (every ``n_jobs`` parameter, also inside a
    pipeline, set to 1), for callers that predict several blocks at once on their own threads: one thread per
    core in all, never a core's worth of threads per block (scikit-learn's forests otherwise start
    ``n_jobs=-1`` threads for each call). The fitted trees are shared, not copied. A model per region
    (:class:`landclass_ui.regional.RegionalEstimator`) has each region's model made one-threaded.

    >>> from sklearn.ensemble import RandomForestClassifier
    >>> m = TrainedModel(RandomForestClassifier(n_jobs=-1), ["B04"], None, "random-forest", {})
    >>> single_threaded(m).estimator.n_jobs, m.estimator.n_jobs
    (1, -1)
    """
    import copy

    if hasattr(model.estimator, "map_models"):  # one model per region (landclass_ui.regional): each one
        return dataclasses.replace(model, estimator=model.estimator.map_models(lambda _, m, __: single_threaded(m)))
    if not hasattr(model.estimator, "get_params"):  # not scikit-learn's (a compiled forest): as it is
        return model
    estimator = copy.copy(model.estimator)
    if hasattr(estimator, "steps"):  # a Pipeline: copy the list of steps, then each step shallowly
        estimator.steps = [(name, copy.copy(step)) for name, step in estimator.steps]
    jobs = {key: 1 for key in estimator.get_params(deep=True) if key == "n_jobs" or key.endswith("__n_jobs")}
    if jobs:
        estimator.set_params(**jobs)
    return dataclasses.replace(model, estimator=estimator)


def predict_block(model: TrainedModel, data: np.ndarray, *, chunk: int | None = None, probability: bool = True
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """Classify one block of pixels.

    Parameters
    ----------
    data : numpy.ndarray
        float32 ``(n_bands, height, width)``, NaN where nodata, bands in ``model.band_names`` order.
    probability : bool
        Also return the winning-class probability (False: ``None`` in its place, not computed).
    chunk : int, optional
        Predict about this many pixels per call of the estimator, in chunks of even size (the nearest whole
        number of chunks; None: all at once). Whole-scene export predicts about 65536 at a time: the
        probabilities of a chunk are still in the CPU's cache when the winning class is taken from them (5 %
        less time per 512 x 512 window with the compiled forest, 2 cores); a window with a majority filter's
        margin (514 x 514) is 4 chunks, not 4 and a sliver.

    Returns
    -------
    classes : numpy.ndarray
        uint8 ``(height, width)``: legend values, :data:`NODATA_CLASS` (255) where any band is nodata.
    probability : numpy.ndarray or None
        uint8 ``(height, width)``: winning-class probability in percent (0-100), 255 where nodata.
    """
    n_band, height, width = data.shape
    bands = data.reshape(n_band, -1)
    valid = _valid(data).ravel()
    values = model.class_values.astype(np.uint8)
    rows = None if valid.all() else np.flatnonzero(valid)  # most blocks: no gather of pixels, no scatter
    classes = np.full(height * width, NODATA_CLASS, np.uint8)
    top_percent = np.full(height * width, 255, np.uint8) if probability else None
    count = bands.shape[1] if rows is None else len(rows)
    step = -(-count // max(1, round(count / chunk))) if chunk and count else max(count, 1)  # even, about ``chunk``
    pixels = np.empty((min(step, count), n_band), np.float32)  # one chunk in the model's layout, reused
    for start in range(0, count, step):
        where = slice(start, start + step) if rows is None else rows[start:start + step]
        chunk_pixels = pixels[:min(step, count - start)]
        for j, band in enumerate(bands):  # band by band: long runs (a whole-array transpose walks 6-value rows)
            chunk_pixels[:, j] = band[where]
        best, top = winners(model.estimator.predict_proba(chunk_pixels), labels=values)
        classes[where] = best
        if top_percent is not None:
            top_percent[where] = _percent(top)
    return classes.reshape(height, width), None if top_percent is None else top_percent.reshape(height, width)


def _valid(data: np.ndarray) -> np.ndarray:
    """bool ``(height, width)``: True where every band of ``data`` (float ``(n_bands, height, width)``) is finite.

    Band by band, along each band's contiguous rows (NumPy's ``isfinite(pixels).all(axis=1)`` on the pixels
    ``(n, n_bands)`` reduces each pixel's few values in turn: 7x slower when they are side by side in memory).
    """
    valid = np.isfinite(data[0])
    for band in data[1:]:
        valid &= np.isfinite(band)
    return valid


def winners(proba: np.ndarray, *, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each row's winning column and its probability: ``proba.argmax(axis=1)`` (the first column on a tie)
    and ``proba.max(axis=1)``, the same values, from float ``(n, n_classes)`` (at most 255 columns: a legend's
    classes); returns uint8 ``(n,)`` and ``(n,)`` of ``proba``'s dtype.

    NumPy reduces along a short last axis row by row; here the columns are compared whole, from the last to the
    first, updating the winner and the maximum in place (a 512 x 512 block, 3 classes: 0.5 ms; ``argmax`` and
    ``max``: 9 ms).

    With ``labels`` (uint8 ``(n_classes,)``: the class value of each column), the winners are given as those
    values, ``labels[argmax]``, without a lookup afterwards.

    >>> winners(np.array([[0.2, 0.5, 0.3], [0.4, 0.4, 0.2]]))
    (array([1, 0], dtype=uint8), array([0.5, 0.4]))
    >>> winners(np.array([[0.2, 0.5, 0.3], [0.4, 0.4, 0.2]]), labels=np.array([10, 20, 30], np.uint8))[0]
    array([20, 10], dtype=uint8)
    """
    proba = np.asarray(proba)
    n_classes = proba.shape[1]
    if n_classes > 255:
        raise ValueError(f"{n_classes} classes: a legend has at most 255")
    label = (lambda j: j) if labels is None else (lambda j: labels[j])
    top = proba[:, -1].copy()
    best = np.full(len(top), label(n_classes - 1), np.uint8)
    beats, scratch = np.empty(len(top), bool), np.empty(len(top), np.uint8)
    for j in range(n_classes - 2, -1, -1):  # the last column first: an earlier column wins a tie
        column = proba[:, j]  # a strided view: a transposed copy of the whole array costs more than it saves
        np.greater_equal(column, top, out=beats)
        np.maximum(top, column, out=top)
        fill_where(best, label(j), beats, scratch)
    return best, top


def _percent(probability: np.ndarray) -> np.ndarray:
    """Probabilities 0-1 as whole percent, uint8 0-100 (rounded half to even, as :func:`numpy.rint`)."""
    return np.rint(probability * 100).astype(np.uint8)


def predict_block_probabilities(model: TrainedModel, data: np.ndarray
                                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like :func:`predict_block` (same ``classes`` and ``probability``), plus the probability of every legend
    class, from one ``predict_proba`` call.

    Returns
    -------
    classes, probability : numpy.ndarray
        As :func:`predict_block`.
    cube : numpy.ndarray
        uint8 ``(n_legend_classes, height, width)`` in legend order: each class's probability in percent
        (0-100, rounded, so a pixel's bands sum to 100 within rounding), 0 for a legend class the model was not
        trained on, 255 where nodata.
    """
    n_band, height, width = data.shape
    pixels = data.reshape(n_band, -1).T
    valid = _valid(data).ravel()
    values = list(model.legend.values)
    classes = np.full(height * width, NODATA_CLASS, np.uint8)
    probability = np.full(height * width, 255, np.uint8)
    cube = np.full((len(values), height * width), 255, np.uint8)
    if valid.any():
        proba = model.estimator.predict_proba(pixels[valid])
        best, top = winners(proba)
        classes[valid] = model.class_values[best].astype(np.uint8)
        probability[valid] = _percent(top)
        cube[:, valid] = 0
        column = {int(v): i for i, v in enumerate(model.class_values)}
        for band, value in enumerate(values):
            if int(value) in column:
                cube[band, valid] = _percent(proba[:, column[int(value)]])
    return classes.reshape(height, width), probability.reshape(height, width), cube.reshape(-1, height, width)
