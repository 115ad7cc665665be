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
unit and report the mean and spread of overall accuracy. Their folds come from :class:`SpatialGroupKFold`, a
scikit-learn splitter: ``cross_val_predict(estimator, samples.features, samples.classes,
groups=split_units(samples), cv=SpatialGroupKFold(5, seed=0))``.

Accuracy on held-out training units is an indication, not a design-based estimate of map accuracy: training
polygons are not a probability sample of the map. For that, sample the map and use
:func:`landclass_ui.accuracy.assess` with the mapped areas.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import check_consistent_length

from .accuracy import AccuracyReport, assess
from .errors import LandclassError
from .model import fit
from .training import SampleTable

__all__ = [
    "DEFAULT_BLOCK_PIXELS",
    "CrossValidation",
    "SpatialGroupKFold",
    "Split",
    "cross_validate",
    "holdout",
    "spatial_blocks",
    "spatial_kfold",
    "split_by_group",
    "split_units",
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
    return math.floor(x + 0.5)


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


def _check_k(k, name: str) -> int:
    """``k`` as an int, or :class:`ValidationError` if it is not an integer >= 2."""
    try:
        ok = not isinstance(k, bool) and int(k) == k and k >= 2
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ValidationError(f"{name} must be an integer >= 2, not {k!r}")
    return int(k)


def _deal_to_folds(classes_of: dict, k: int, rng: np.random.Generator) -> dict:
    """``{unit: fold}`` for the units of ``classes_of`` (``{unit: set of classes}``, units sortable).

    Units are dealt class by class, from the class with the fewest units to the most (ties by ``str`` of the
    class), each class's units not yet dealt in an order drawn from ``rng``, each to the fold that has the
    fewest units of that class so far, then the fewest units overall, then the lowest number.
    """
    units_of: dict = {}
    for u in sorted(classes_of):
        for c in classes_of[u]:
            units_of.setdefault(c, []).append(u)
    order = sorted(units_of, key=lambda c: (len(units_of[c]), str(c)))
    fold_of: dict = {}
    fold_size = np.zeros(k, dtype=np.int64)
    for c in order:
        members = units_of[c]  # sorted
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
    return fold_of


def _labels_1d(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValidationError(f"{name} must be one label per sample, shape (n_samples,), not {arr.shape}")
    if len(arr) and pd.isna(arr).any():
        raise ValidationError(f"{name} has missing values (NaN/None): every sample needs one")
    return arr


class SpatialGroupKFold(BaseCrossValidator):
    """K-fold cross-validator by unit (polygon, or spatial block of points), stratified by class.

    A scikit-learn splitter: give it as ``cv=`` to :func:`sklearn.model_selection.cross_val_predict`,
    :func:`~sklearn.model_selection.cross_validate`, :class:`~sklearn.model_selection.GridSearchCV`... with
    ``groups=`` the unit of each sample (:func:`split_units`). Each unit is validated in exactly one fold and is
    never cut: all its samples are on the same side of every split. Units are dealt to folds class by class
    (the class with the fewest units first, each class's units in an order drawn from ``seed``), each to the
    fold that has the fewest units of that class so far, then the fewest units overall. So a class of ``m``
    units is validated in ``min(m, n_splits)`` folds and, when ``m >= 2``, learned in every fold; a class of at
    least ``n_splits`` units is on both sides of every split; folds have about the same number of units (not
    of samples). A unit holding several classes (a block of points of different classes) is dealt with the
    rarest of them, which can keep another class from being spread as well. :func:`spatial_kfold` gives the
    same folds as training/validation tables.

    Unlike :class:`~sklearn.model_selection.StratifiedGroupKFold`, which balances the share of *samples* of
    each class across folds (a large polygon weighs as much as many small ones), this balances the number of
    *units* of each class, which is what keeps every class on both sides when a class has only a few polygons.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds, at least 2 and at most the number of units.
    seed : int or None, default=0
        Seed of the draw of the units' order: the same seed, samples and units give the same folds whatever
        the order of the rows; ``None`` draws anew at each call of :meth:`split`.

    Raises
    ------
    ValidationError
        (a ``ValueError``) ``n_splits`` is not an integer >= 2, or ``seed`` not a non-negative integer or None.

    See Also
    --------
    split_units : The unit of each sample (polygon, or spatial block of points), to give as ``groups``.
    spatial_kfold : The same folds as :class:`Split` tables of the training samples.
    sklearn.model_selection.GroupKFold : Folds by group, balanced in samples, not stratified by class.

    Examples
    --------
    Six polygons of two pixels each, three of class 1 and three of class 2; every fold validates one polygon of
    each class and learns on the others:

    >>> import numpy as np
    >>> from landclass_ui.validation import SpatialGroupKFold
    >>> X = np.array([[0.1], [0.2], [0.1], [0.3], [0.2], [0.1], [0.9], [0.8], [0.7], [0.9], [0.8], [0.8]])
    >>> y = np.array([1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2])
    >>> groups = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    >>> cv = SpatialGroupKFold(n_splits=3, seed=0)
    >>> cv
    SpatialGroupKFold(n_splits=3, seed=0)
    >>> cv.get_n_splits()
    3
    >>> for i, (train, test) in enumerate(cv.split(X, y, groups)):
    ...     print(f"fold {i}: test units {np.unique(groups[test])}, classes {np.unique(y[test])}; "
    ...           f"train classes {np.unique(y[train])}")
    fold 0: test units [2 5], classes [1 2]; train classes [1 2]
    fold 1: test units [0 4], classes [1 2]; train classes [1 2]
    fold 2: test units [1 3], classes [1 2]; train classes [1 2]

    With scikit-learn, every sample predicted by a model that did not see its polygon:

    >>> from sklearn.model_selection import cross_val_predict
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> predicted = cross_val_predict(KNeighborsClassifier(n_neighbors=1), X, y, groups=groups, cv=cv)
    >>> float(np.mean(predicted == y))
    1.0

    On training samples (a :class:`~landclass_ui.training.SampleTable` ``samples``)::

        cross_val_predict(RandomForestClassifier(), samples.features, samples.classes,
                          groups=split_units(samples), cv=SpatialGroupKFold(5, seed=0))
    """

    # ``groups`` is requested by default when metadata routing is enabled (as
    # sklearn.model_selection.GroupKFold does, through its GroupsConsumerMixin)
    __metadata_request__split = {"groups": True}  # noqa: RUF012 (read by sklearn, never mutated)

    def __init__(self, n_splits: int = 5, *, seed: int | None = 0):
        self.n_splits = _check_k(n_splits, "n_splits")
        if isinstance(seed, bool) or not (seed is None or isinstance(seed, numbers.Integral) and seed >= 0):
            raise ValidationError(f"seed must be a non-negative integer or None, not {seed!r}")
        self.seed = seed

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """The number of folds, ``n_splits``.

        Parameters
        ----------
        X, y, groups : object
            Ignored, for scikit-learn's API.

        Returns
        -------
        int
        """
        return self.n_splits

    def split(self, X, y=None, groups=None):
        """Generate the indices of the training and test samples of each fold.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or None
            The samples' features (e.g. ``SampleTable.features``, float32); only their number is used.
        y : array-like of shape (n_samples,)
            The class of each sample (int legend values, or any hashable labels); required: the folds are
            stratified by class.
        groups : array-like of shape (n_samples,)
            The unit of each sample, from :func:`split_units` (int ids; any sortable hashable labels do);
            required.

        Yields
        ------
        train : numpy.ndarray
            int64 ``(n_train,)``, ascending indices of the training samples of the fold.
        test : numpy.ndarray
            int64 ``(n_test,)``, ascending indices of its test samples: the samples of the fold's units.

        Raises
        ------
        ValidationError
            (a ``ValueError``, raised by this call, before the first fold) ``y`` or ``groups`` missing, not of
            shape (n_samples,) or with missing values; ``X``, ``y``, ``groups`` of different lengths; fewer
            units than ``n_splits``.
        """
        folds = self._fold_of_samples(X, y, groups)
        return self._iter_splits(folds)

    def _iter_splits(self, folds: np.ndarray):
        indices = np.arange(len(folds), dtype=np.int64)
        for f in range(self.n_splits):
            test = folds == f
            yield indices[~test], indices[test]

    def _iter_test_masks(self, X=None, y=None, groups=None):
        folds = self._fold_of_samples(X, y, groups)
        for f in range(self.n_splits):
            yield folds == f

    def _fold_of_samples(self, X, y, groups) -> np.ndarray:
        """The fold (0..n_splits-1) in whose test set each sample is, int64 ``(n_samples,)``."""
        if y is None:
            raise ValidationError("SpatialGroupKFold needs y, the class of each sample: the folds are stratified "
                                  "by class")
        if groups is None:
            raise ValidationError("SpatialGroupKFold needs groups, the unit (polygon or block) of each sample: "
                                  "give groups=split_units(samples)")
        y = _labels_1d(y, "y")
        groups = _labels_1d(groups, "groups")
        try:
            check_consistent_length(X, y, groups)
        except ValueError as error:
            raise ValidationError(f"X, y and groups must have one row per sample: {error}") from None
        try:
            unit_ids, unit_of = np.unique(groups, return_inverse=True)
        except TypeError as error:
            raise ValidationError(f"groups must be sortable labels (e.g. int unit ids): {error}") from None
        if len(unit_ids) < self.n_splits:
            raise ValidationError(f"{self.n_splits}-fold cross-validation needs at least {self.n_splits} "
                                  f"polygons/blocks; the training data have {len(unit_ids)}")
        unit_of = unit_of.reshape(-1).astype(np.int64)
        classes_of = {u: set(c) for u, c in pd.Series(y).groupby(unit_of)}
        fold_of = _deal_to_folds(classes_of, self.n_splits, np.random.default_rng(self.seed))
        return np.array([fold_of[u] for u in range(len(unit_ids))], dtype=np.int64)[unit_of]


def spatial_kfold(samples, k: int = 5, seed: int | None = 0, by: str = "group",
                  block_size: float | None = None, class_column: str = "class") -> Iterator[Split]:
    """Yield ``k`` learning/validation splits in which every unit (see :func:`split_units`) is used once for
    validation: the folds of :class:`SpatialGroupKFold` ``(k, seed=seed)`` with ``groups`` the units and
    ``y`` the ``class_column``, as tables.

    Units are dealt to folds class by class (rarest class first, shuffled with ``seed``), each to the fold
    that has the fewest units of that class so far, then the fewest units overall, so each class is spread
    over as many folds as it has units and folds are of about equal size (in units, not pixels).

    Raises
    ------
    ValidationError
        ``k < 2`` or fewer units than ``k`` (when the first split is asked for).
    """
    cv = SpatialGroupKFold(_check_k(k, "k"), seed=seed)
    frame = _frame_of(samples)
    units = split_units(samples, by, block_size)
    for train, _ in cv.split(None, frame[class_column].to_numpy(), units):
        mask = np.zeros(len(units), dtype=bool)
        mask[train] = True
        yield Split(_take(samples, mask), _take(samples, ~mask), mask, units, [])


def _evaluate(learning: SampleTable, validation: SampleTable, legend, classifier: str,
              params: dict | None) -> AccuracyReport:
    model = fit(learning, legend, classifier, params)
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
    :func:`landclass_ui.model.fit`) on the other folds and classify the fold's pixels
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
