"""Validate a classification with the training data: hold-out split and spatial k-fold cross-validation.

Neighbouring pixels look alike, so validating on pixels of the polygons a model was trained on measures how
well it remembers them, not how well it maps. The training data are therefore split by *unit*, never by pixel:

* a polygon (any feature with several pixels: :class:`landclass_ui.training.SampleTable` keeps each
  feature's id in ``group``) is one unit; all its pixels go to the same side;
* points (features of a single pixel) are gathered into square **spatial blocks** of ``block_size`` CRS
  units (:func:`spatial_blocks`), each block one unit, so that two clicks side by side do not end up one for
  learning and one for validation. The default block is :data:`DEFAULT_BLOCK_PIXELS` (10) pixels a side
  (300 m for Landsat, 100 m for Sentinel-2's 10 m bands): larger than the few pixels over which a spectrum is
  still nearly the same, small enough to keep many units where points were clicked in a few clusters. Give a
  larger ``block_size`` for stricter spatial independence (Roberts et al. 2017 suggest blocks larger than the
  range of spatial autocorrelation).

Splits are stratified by class (each class's units shared out in the asked ratio, with a seed), so every
class with at least two units is on both sides. :func:`split_by_group` makes one learning/validation split
(iota2's default ratio 0.5); :func:`spatial_kfold` and :func:`cross_validate` do k-fold cross-validation by
unit and report the mean and spread of overall accuracy.

Accuracy on held-out training units is an indication, not a design-based estimate of map accuracy: training
polygons are not a probability sample of the map. For that, sample the map and use
:func:`landclass_ui.accuracy.assess` with the mapped areas.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import pandas as pd

from .accuracy import AccuracyReport, assess
from .errors import LandclassError
from .training import SampleTable

__all__ = [
    "DEFAULT_BLOCK_PIXELS",
    "Split",
    "CrossValidation",
    "spatial_blocks",
    "split_units",
    "split_by_group",
    "spatial_kfold",
    "cross_validate",
    "holdout",
]

#: Default side of a spatial block of points, in pixels (converted to CRS units from the samples' x/col).
DEFAULT_BLOCK_PIXELS = 10


class ValidationError(LandclassError, ValueError):
    """The training data cannot be split as asked (too few units, bad ratio or k)."""


@dataclass
class Split:
    """A learning/validation split. Unpacks as ``learning, validation = split``.

    Attributes
    ----------
    learning, validation : pandas.DataFrame or SampleTable
        The rows of each side (same type as the input; DataFrames keep the input's index).
    learning_mask : numpy.ndarray
        bool, one per input row: True for learning rows (validation is its complement).
    units : numpy.ndarray
        The unit id of each input row (see :func:`split_units`).
    messages : list of str
        Warnings: classes kept for learning only, classes that could not be put on both sides.
    """

    learning: object
    validation: object
    learning_mask: np.ndarray
    units: np.ndarray
    messages: list[str] = field(default_factory=list)

    def __iter__(self):
        yield self.learning
        yield self.validation


def _frame_of(samples) -> pd.DataFrame:
    return samples.frame if isinstance(samples, SampleTable) else samples


def _take(samples, mask: np.ndarray):
    if isinstance(samples, SampleTable):
        return SampleTable(samples.frame[mask].reset_index(drop=True), list(samples.band_names),
                           list(samples.messages))
    return samples[mask]


def pixel_size(frame: pd.DataFrame) -> float | None:
    """The pixel size in CRS units, from the ``x``/``col`` (or ``y``/``row``) columns; None when it cannot be
    told (no ``row``/``col`` columns, or all samples in one pixel)."""
    for coord, index in (("x", "col"), ("y", "row")):
        if coord not in frame or index not in frame:
            continue
        idx = frame[index].to_numpy(float)
        val = frame[coord].to_numpy(float)
        d_idx = idx - idx[0]
        ok = d_idx != 0
        if ok.any():
            return float(np.median(np.abs((val[ok] - val[0]) / d_idx[ok])))
    return None


def spatial_blocks(frame: pd.DataFrame, block_size: float | None = None) -> np.ndarray:
    """Block id (int, 0..n_blocks-1) of each row: the square of ``block_size`` CRS units holding its ``x``, ``y``.

    Blocks are aligned on the CRS origin (``floor(x / block_size)``), so a sample keeps its block whatever
    other samples there are. ``block_size`` defaults to :data:`DEFAULT_BLOCK_PIXELS` pixels (the pixel size
    is read from ``x``/``col``); a frame without ``row``/``col`` needs it explicitly.
    """
    if len(frame) == 0:
        return np.zeros(0, dtype=np.int64)
    if block_size is None:
        size = pixel_size(frame)
        if size is None:
            if "col" not in frame or "row" not in frame:
                raise ValidationError("give block_size (in CRS units): the samples have no row/col to tell "
                                      "the pixel size from")
            size = 1.0  # every sample in one pixel: any size gives one block
        block_size = DEFAULT_BLOCK_PIXELS * size
    if not block_size > 0:
        raise ValidationError(f"block_size must be positive, not {block_size}")
    bx = np.floor(frame["x"].to_numpy(float) / block_size).astype(np.int64)
    by = np.floor(frame["y"].to_numpy(float) / block_size).astype(np.int64)
    return pd.DataFrame({"bx": bx, "by": by}).groupby(["bx", "by"], sort=True).ngroup().to_numpy(np.int64)


def split_units(samples, by: str = "group", block_size: float | None = None) -> np.ndarray:
    """The unit of each row, the thing that is kept whole on one side of a split (int ids).

    ``by="group"`` (default): each feature (``group``) of more than one pixel is a unit (a polygon is never
    cut); features of a single pixel (points, or polygons smaller than two pixels) are gathered by spatial
    block (:func:`spatial_blocks`, ``block_size`` in CRS units). Any other column name: its values are the
    units, taken as they are (e.g. your own block ids).
    """
    frame = _frame_of(samples)
    if by != "group":
        if by not in frame:
            raise ValidationError(f"no column {by!r} to split by; columns: {', '.join(map(str, frame.columns))}")
        return pd.factorize(frame[by], sort=True)[0].astype(np.int64)
    groups = frame["group"].to_numpy(np.int64)
    if len(groups) == 0:
        return groups
    sizes = pd.Series(groups).map(pd.Series(groups).value_counts()).to_numpy()
    single = sizes == 1
    units = pd.Series([("g", int(g)) for g in groups], dtype=object)
    if single.any():
        blocks = spatial_blocks(frame[single], block_size)
        units[single] = [("b", int(b)) for b in blocks]
    return pd.factorize(units, sort=True)[0].astype(np.int64)


def _unit_table(frame: pd.DataFrame, units: np.ndarray, class_column: str) -> dict:
    """``{unit: set of classes}``."""
    table = pd.DataFrame({"unit": units, "cls": frame[class_column].to_numpy()})
    return {u: set(c) for u, c in table.groupby("unit")["cls"]}


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def _describe(cls) -> str:
    return repr(cls) if not isinstance(cls, str) else cls


def split_by_group(samples, ratio: float = 0.5, seed: int | None = 0, by: str = "group",
                   block_size: float | None = None, class_column: str = "class") -> Split:
    """Split training samples into learning and validation by unit (polygon, or spatial block of points),
    stratified by class.

    Parameters
    ----------
    samples : pandas.DataFrame or SampleTable
        Rows with ``x``, ``y``, ``row``, ``col``, ``group`` and ``class`` (a :class:`SampleTable` frame).
    ratio : float
        Share of each class's units that goes to **learning** (0 < ratio < 1), as iota2's ``ratio``
        (default 0.5). The number of validation units of a class is ``round((1 - ratio) x units)``, at least
        1 and at most ``units - 1``.
    seed : int or None
        Seed of the random draw: the same seed gives the same split.
    by, block_size :
        What a unit is: see :func:`split_units`.
    class_column : str
        The class column stratified on.

    Returns
    -------
    Split
        ``learning, validation = split_by_group(...)``; ``split.messages`` warns of classes with a single
        unit (kept for learning, not validated).

    Notes
    -----
    A unit holding several classes (a spatial block of points of different classes) is shared out with the
    rarest of its classes: classes are processed from the fewest units to the most, each placing its units
    not yet placed, first where the class is still missing, then to reach its ratio.
    """
    if not 0 < ratio < 1:
        raise ValidationError(f"ratio is the share of units for learning and must lie strictly between 0 and 1, "
                              f"not {ratio}")
    frame = _frame_of(samples)
    units = split_units(samples, by, block_size)
    classes_of = _unit_table(frame, units, class_column)
    rng = np.random.default_rng(seed)
    side: dict[int, bool] = {}  # unit -> True for learning
    messages: list[str] = []
    units_of: dict = {}
    for u, cs in classes_of.items():
        for c in cs:
            units_of.setdefault(c, []).append(u)
    order = sorted(units_of, key=lambda c: (len(units_of[c]), str(c)))
    for c in order:
        members = sorted(units_of[c])
        total = len(members)
        if total == 1:
            messages.append(f"class {_describe(c)} has a single polygon/block: kept for learning, not validated")
        n_val = 0 if total == 1 else min(max(_round_half_up((1 - ratio) * total), 1), total - 1)
        placed_val = sum(1 for u in members if side.get(u) is False)
        placed_learn = sum(1 for u in members if side.get(u) is True)
        free = [members[i] for i in rng.permutation(total) if members[i] not in side]
        for u in free:
            if total > 1 and placed_learn == 0 and placed_val > 0:
                to_learning = True
            elif total > 1 and placed_val == 0:
                to_learning = False
            else:
                to_learning = placed_val >= n_val
            side[u] = to_learning
            if to_learning:
                placed_learn += 1
            else:
                placed_val += 1
        if total > 1 and (placed_learn == 0 or placed_val == 0):
            messages.append(f"class {_describe(c)} could not be put on both sides (its blocks are shared with "
                            "other classes); use a smaller block_size")
    mask = np.array([side[u] for u in units], dtype=bool)
    return Split(_take(samples, mask), _take(samples, ~mask), mask, units, messages)


def spatial_kfold(samples, k: int = 5, seed: int | None = 0, by: str = "group",
                  block_size: float | None = None, class_column: str = "class") -> Iterator[Split]:
    """Yield ``k`` learning/validation splits in which every unit (see :func:`split_units`) is used once for
    validation.

    Units are dealt to folds class by class (rarest class first, shuffled with ``seed``), each to the fold
    that has the fewest units of that class so far, then the fewest units overall, so each class is spread
    over as many folds as it has units and folds are of about equal size (in units, not pixels).

    Raises
    ------
    ValidationError
        ``k < 2`` or fewer units than ``k``.
    """
    if int(k) != k or k < 2:
        raise ValidationError(f"k must be an integer >= 2, not {k}")
    k = int(k)
    frame = _frame_of(samples)
    units = split_units(samples, by, block_size)
    classes_of = _unit_table(frame, units, class_column)
    if len(classes_of) < k:
        raise ValidationError(f"{k}-fold cross-validation needs at least {k} polygons/blocks; the training data "
                              f"have {len(classes_of)}")
    rng = np.random.default_rng(seed)
    units_of: dict = {}
    for u, cs in classes_of.items():
        for c in cs:
            units_of.setdefault(c, []).append(u)
    order = sorted(units_of, key=lambda c: (len(units_of[c]), str(c)))
    fold_of: dict[int, int] = {}
    fold_size = np.zeros(k, dtype=np.int64)
    for c in order:
        members = sorted(units_of[c])
        per_fold = np.zeros(k, dtype=np.int64)
        for u in members:
            if u in fold_of:
                per_fold[fold_of[u]] += 1
        for i in rng.permutation(len(members)):
            u = members[i]
            if u in fold_of:
                continue
            best = min(range(k), key=lambda f: (per_fold[f], fold_size[f], f))
            fold_of[u] = best
            per_fold[best] += 1
            fold_size[best] += 1
    folds = np.array([fold_of[u] for u in units], dtype=np.int64)
    for f in range(k):
        mask = folds != f
        yield Split(_take(samples, mask), _take(samples, ~mask), mask, units, [])


def _evaluate(learning: SampleTable, validation: SampleTable, legend, classifier: str,
              params: dict | None) -> AccuracyReport:
    from .classify import train

    model = train(learning, legend, classifier, params)
    predicted = model.estimator.predict(validation.features)
    name = {e.value: e.name for e in legend}
    reference = [name.get(int(v), int(v)) for v in validation.classes]
    mapped = [name.get(int(v), int(v)) for v in predicted]
    return assess(reference, mapped)


def holdout(samples: SampleTable, legend, classifier: str = "random-forest", params: dict | None = None,
            ratio: float = 0.5, seed: int | None = 0, by: str = "group",
            block_size: float | None = None) -> tuple[AccuracyReport, Split]:
    """Train on the learning side of :func:`split_by_group` and assess on the validation side's pixels.

    Returns the :class:`~landclass_ui.accuracy.AccuracyReport` (classes named by the legend; simple random
    estimators over validation pixels, whose standard errors are optimistic as pixels of one polygon are
    alike) and the split.
    """
    split = split_by_group(samples, ratio, seed, by, block_size)
    if len(split.validation.frame) == 0:
        raise ValidationError("no polygon/block left for validation: every class has a single one")
    return _evaluate(split.learning, split.validation, legend, classifier, params), split


@dataclass
class CrossValidation:
    """Result of :func:`cross_validate`.

    Attributes
    ----------
    overall_accuracy : list of float
        Overall accuracy of each fold (over its validation pixels).
    mean, std : float
        Mean and sample standard deviation (``ddof=1``) of the folds' overall accuracy.
    reports : list of AccuracyReport
        One per fold.
    n_validation : list of int
        Validation pixels per fold.
    """

    overall_accuracy: list[float]
    mean: float
    std: float
    reports: list[AccuracyReport]
    n_validation: list[int]

    def to_frame(self) -> pd.DataFrame:
        """One row per fold: ``fold``, ``overall_accuracy``, ``kappa``, ``n_validation``."""
        return pd.DataFrame({
            "fold": range(1, len(self.reports) + 1),
            "overall_accuracy": self.overall_accuracy,
            "kappa": [r.kappa for r in self.reports],
            "n_validation": self.n_validation,
        })

    def pooled(self) -> AccuracyReport:
        """One report over the validation pixels of all folds, each predicted by the model that did not see
        it (simple random estimators)."""
        reference, mapped = [], []
        for report in self.reports:
            cm = report.confusion_matrix
            for m_cls in cm.index:
                for r_cls in cm.columns:
                    n = int(cm.loc[m_cls, r_cls])
                    reference += [r_cls] * n
                    mapped += [m_cls] * n
        return assess(reference, mapped)

    def summary(self) -> str:
        return (f"{len(self.reports)}-fold spatial cross-validation: overall accuracy {self.mean:.3f} "
                f"± {self.std:.3f} (mean ± standard deviation over folds)")


def cross_validate(samples: SampleTable, legend, classifier: str = "random-forest", params: dict | None = None,
                   k: int = 5, seed: int | None = 0, by: str = "group",
                   block_size: float | None = None) -> CrossValidation:
    """Spatial k-fold cross-validation: for each fold of :func:`spatial_kfold`, train ``classifier`` (with
    :func:`landclass_ui.classify.train`) on the other folds and classify the fold's pixels
    (``model.estimator.predict`` on their band values).

    Returns
    -------
    CrossValidation
        Per-fold overall accuracy, their mean and standard deviation, and each fold's report.
    """
    reports, n_val = [], []
    for split in spatial_kfold(samples, k, seed, by, block_size):
        reports.append(_evaluate(split.learning, split.validation, legend, classifier, params))
        n_val.append(len(split.validation.frame))
    oa = [r.overall_accuracy for r in reports]
    return CrossValidation(oa, float(np.mean(oa)), float(np.std(oa, ddof=1)), reports, n_val)
