"""One model per region (iota2's eco-regions): fit a model on each region's training pixels, and predict each
pixel with its region's model, so the class map is one mosaic whose seams are the region borders.

iota2 trains "one model per region" of its ``regionPath`` file, each on the training polygons under the region,
and "each model will classify only its own region"; the classifications are then merged, and an area in no
region is not classified (iota2 documentation: "IOTA2 parameters", ``chain.regionPath`` /
``chain.regionField``; the example's "Multi regions" section, github.com/inglada/iota2
``doc/source/IOTA2_Example.rst``).

Here the region of each pixel is a band of the feature stack (``region``, :mod:`landclass_ui.regions`), so the
sampler gives each training pixel its region and the window predictors read it with the other bands. The
region band is never a feature: :func:`fit_regional` removes it before fitting each region's model, and
:class:`RegionalEstimator` removes it before calling that model. A :class:`RegionalModel` is a
:class:`~landclass_ui.model.TrainedModel` (``band_names`` include the region band, ``legend``, ``estimator``
with ``predict_proba``/``predict``/``classes_``), so :func:`landclass_ui.model.predict_block`,
:func:`landclass_ui.export.write_classification` (threads or Dask) and the hold-out assessment use it as they
use one model; :func:`landclass_ui.model.single_threaded` and :func:`landclass_ui.compiled.compile_model` apply
to each region's model (:meth:`RegionalEstimator.map_models`).

Classes: a region's model knows the classes of its own training pixels; its probabilities are put in the
columns of the union of all regions' classes (``classes_``), 0 for a class it lacks, so a region lacking a
class never maps it. A region with training pixels of a single class gets :class:`OneClass`, which maps its
every pixel to that class (probability 1). A region without training pixels is an error
(:class:`~landclass_ui.errors.TrainingDataError`): nothing could classify it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .classifiers import get_spec, parse_params
from .errors import TrainingDataError
from .legend import Legend
from .model import TrainedModel, fit
from .regions import Regions
from .training import SampleTable

__all__ = ["OneClass", "RegionalEstimator", "RegionalModel", "fit_regional", "region_importance"]

#: Training pixels of each region kept with the model to check a compiled model against scikit-learn
#: (:func:`landclass_ui.compiled.compile_model`) even when the image's first windows miss the region.
CHECK_PIXELS = 500


class OneClass:
    """The model of a region whose training pixels are all of one class: that class, probability 1, for every
    pixel (scikit-learn's classifiers refuse, or learn nothing from, a single class)."""

    def __init__(self, value: int):
        self.classes_ = np.array([int(value)])

    def fit(self, x, y):
        return self

    def predict_proba(self, pixels: np.ndarray) -> np.ndarray:
        """float64 ``(n, 1)`` of ones."""
        return np.ones((len(pixels), 1))

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        return np.full(len(pixels), self.classes_[0])


class RegionalEstimator:
    """Dispatches each pixel to its region's model.

    Parameters
    ----------
    models : dict
        Region id (the region band's value, 1..n) -> :class:`~landclass_ui.model.TrainedModel` fitted on that
        region's pixels, over the bands other than the region band.
    column : int
        Position of the region band among the pixels' columns.
    names : dict
        Region id -> region name (messages).
    check_pixels : dict, optional
        Region id -> float32 ``(n, n_bands - 1)`` training pixels of the region (no region column), used by
        :meth:`map_models` to check compiled models.

    ``classes_`` is the union of the regions' classes (legend values, ascending): the columns of
    :meth:`predict_proba`.
    """

    def __init__(self, models: dict[int, TrainedModel], column: int, names: dict[int, str],
                 check_pixels: dict[int, np.ndarray] | None = None):
        self.models = dict(models)
        self.column = int(column)
        self.names = dict(names)
        self.check_pixels = dict(check_pixels or {})
        self.classes_ = np.unique(np.concatenate([np.asarray(m.class_values) for m in self.models.values()]))

    def predict_proba(self, pixels: np.ndarray) -> np.ndarray:
        """Class probabilities float64 ``(n, len(classes_))`` of ``pixels`` float ``(n, n_bands)`` (the region
        band included, no NaN): each row from its region's model, 0 in the columns of classes that model lacks.

        Raises
        ------
        ValueError
            A pixel of a region without a model (a region id not in ``models``).
        """
        pixels = np.asarray(pixels)
        region = pixels[:, self.column]
        out = np.zeros((len(pixels), len(self.classes_)))
        done = np.zeros(len(pixels), bool)
        for rid, model in self.models.items():
            rows = np.flatnonzero(region == rid)
            if not len(rows):
                continue
            proba = model.estimator.predict_proba(np.delete(pixels[rows], self.column, axis=1))
            cols = np.searchsorted(self.classes_, np.asarray(model.class_values))
            out[rows[:, None], cols[None, :]] = proba
            done[rows] = True
        if not done.all():
            missing = sorted({float(v) for v in region[~done]})
            raise ValueError(f"no model for region id(s) {missing} (regions with models: {sorted(self.models)})")
        return out

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """Legend values ``(n,)``: the most probable class of each pixel in its region's model."""
        return self.classes_[self.predict_proba(pixels).argmax(axis=1)]

    def map_models(self, fn: Callable[[str, TrainedModel, np.ndarray], TrainedModel],
                   pixels: np.ndarray | None = None) -> "RegionalEstimator":
        """A copy with ``fn(name, model, region_pixels)`` in place of each region's model, ``region_pixels``
        being the rows of ``pixels`` (``(n, n_bands)``, region band included) in that region, region column
        removed, followed by its :attr:`check_pixels` (float32 ``(m, n_bands - 1)``)."""
        new = {}
        for rid, model in self.models.items():
            parts = []
            if pixels is not None and len(pixels):
                pixels = np.asarray(pixels)
                parts.append(np.delete(pixels[pixels[:, self.column] == rid], self.column, axis=1))
            if rid in self.check_pixels:
                parts.append(self.check_pixels[rid])
            px = (np.concatenate(parts).astype(np.float32) if parts
                  else np.zeros((0, len(model.band_names)), np.float32))
            new[rid] = fn(self.names.get(rid, str(rid)), model, px)
        return RegionalEstimator(new, self.column, self.names, self.check_pixels)


@dataclass
class RegionalModel(TrainedModel):
    """A :class:`~landclass_ui.model.TrainedModel` made of one model per region (``estimator`` a
    :class:`RegionalEstimator`; ``band_names`` the stack's, region band included; ``fit_seconds`` and
    ``n_samples`` summed over the regions). ``messages`` say what each region was fitted on and which classes
    it lacks."""

    region_band: str = "region"
    messages: list[str] = field(default_factory=list)

    @property
    def models(self) -> dict[str, TrainedModel]:
        """Region name -> that region's model (over the bands without the region band)."""
        est = self.estimator
        return {est.names[rid]: m for rid, m in sorted(est.models.items())}


def fit_regional(samples: SampleTable, legend: Legend, classifier: str = "random-forest", params: dict | None = None,
                 *, regions: Regions, require_all: bool = True, context: str = "") -> RegionalModel:
    """Fit ``classifier`` on each region's training pixels (:func:`landclass_ui.model.fit`, the same classifier
    and parameters for every region).

    Parameters
    ----------
    samples : SampleTable
        Training pixels whose bands include the region band ``regions.band`` (float region ids 1..n, no pixel
        outside the regions: :meth:`landclass_ui.regions.Regions.drop_outside`).
    legend : Legend
    classifier, params
        As :func:`landclass_ui.model.fit`.
    regions : Regions
        The regions (names of the ids, name of the region band).
    require_all : bool
        True: a region without training pixels is an error. False (cross-validation folds): such a region gets
        no model, and :meth:`RegionalEstimator.predict_proba` refuses its pixels.
    context : str
        Appended to the error message (e.g. after a hold-out: how to get pixels back).

    Returns
    -------
    RegionalModel
        ``messages``: each region's training pixels per class, the classes it lacks (its pixels never get
        them), a one-class region.

    Raises
    ------
    TrainingDataError
        A region without training pixels (``require_all``), naming it and how to fix it; or a region's model
        that cannot be fitted on its pixels (e.g. too few for the classifier).
    ClassifierError
        Unknown classifier or bad parameter.
    """
    if regions.band not in samples.band_names:
        raise TrainingDataError(f"the training pixels have no {regions.band!r} band; sample them on the stack "
                                "that landclass_ui.regions.add_regions returns")
    column = samples.band_names.index(regions.band)
    bands = [b for b in samples.band_names if b != regions.band]
    region = samples.frame[regions.band].to_numpy()
    empty = [regions.name_of(rid) for rid in regions.ids if not (region == rid).any()]
    if empty and require_all:
        raise TrainingDataError(
            f"region(s) {', '.join(repr(n) for n in empty)} of {regions.describe()} have no training pixel, so no "
            "model can classify them; add training polygons or points inside, or merge each with a neighbouring "
            f"region in the regions file{context}")
    spec = get_spec(classifier)
    full = parse_params(spec.name, params)  # checked once, before any region is fitted
    all_classes = sorted({int(v) for v in samples.classes})
    models, check, messages = {}, {}, []
    seconds = 0.0
    for rid in regions.ids:
        rows = region == rid
        if not rows.any():
            continue
        name = regions.name_of(rid)
        sub = SampleTable(samples.frame[rows].reset_index(drop=True), bands)
        classes = sorted({int(v) for v in sub.classes})
        counts = ", ".join(f"{legend.name_of(v)} {int((sub.classes == v).sum())}" for v in classes)
        if len(classes) == 1:
            model = TrainedModel(OneClass(classes[0]), bands, legend, spec.name, full, 0.0, len(sub.classes))
            messages.append(f"region {name}: {len(sub.classes)} training pixels, all {legend.name_of(classes[0])}: "
                            f"every pixel of the region is mapped {legend.name_of(classes[0])} (nothing to fit)")
        else:
            try:
                model = fit(sub, legend, spec.name, full)
            except ValueError as exc:  # scikit-learn on too few pixels of a class, e.g. SVM's internal folds
                first = str(exc).splitlines()[0]
                raise TrainingDataError(
                    f"the {spec.name} of region {name} cannot be fitted on its {len(sub.classes)} training pixels "
                    f"({first}); add training data there or merge the region with a neighbour") from None
        seconds += model.fit_seconds
        models[rid] = model
        features = sub.features
        check[rid] = features[:: max(1, len(features) // CHECK_PIXELS)][:CHECK_PIXELS]
        if len(classes) > 1:
            messages.append(f"region {name}: {model.classifier} fitted on {len(sub.classes)} training pixels "
                            f"({counts})")
        lacking = [legend.name_of(v) for v in all_classes if v not in classes]
        if lacking:
            messages.append(f"region {name} has no training pixel of {', '.join(lacking)}: its model does not know "
                            f"{'that class' if len(lacking) == 1 else 'those classes'}, so its pixels are never "
                            f"mapped {' or '.join(lacking)} (add training data of it there if it occurs)")
    if not models:
        raise TrainingDataError(f"no region of {regions.describe()} has training pixels{context}")
    if empty:
        messages.append(f"region(s) {', '.join(empty)} without training pixels: no model")
    names = {rid: regions.name_of(rid) for rid in regions.ids}
    estimator = RegionalEstimator(models, column, names, check)
    return RegionalModel(estimator, list(samples.band_names), legend, spec.name, full, seconds,
                         len(samples.classes), region_band=regions.band, messages=messages)


def region_importance(model: RegionalModel) -> dict[str, object]:
    """Band importance of each region's model (:func:`landclass_ui.classifiers.feature_importance`): region name
    -> ``pandas.Series`` (sums to 1, largest first) or None (a classifier without importance, a one-class
    region)."""
    from .classifiers import feature_importance

    return {name: (None if isinstance(m.estimator, OneClass) else feature_importance(m))
            for name, m in model.models.items()}

