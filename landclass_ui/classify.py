"""Fit a classifier on training samples and classify an image window by window.

The chain is: :func:`prepare` (recipe -> image stack, legend, training samples), :func:`train`
(samples -> :class:`TrainedModel`), :func:`predict_block` (one window of bands -> class and probability), and
:func:`run` (all of it, writing the outputs with :mod:`landclass_ui.export`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .classifiers import get_spec, make_classifier
from .imagery import ImageStack, combine_stacks, open_image
from .legend import NODATA_CLASS, Legend
from .recipe import Recipe
from .training import SampleTable, extract_samples, legend_colors, points_frame, read_training

__all__ = ["Prepared", "TrainedModel", "prepare", "train", "predict_block", "predict_block_probabilities", "run", "RunResult"]


@dataclass
class Prepared:
    """What a recipe resolves to before training: the image stack, the legend and the training samples."""

    recipe: Recipe
    stack: ImageStack
    legend: Legend
    samples: SampleTable
    messages: list[str] = field(default_factory=list)


def open_recipe_images(recipe: Recipe) -> ImageStack:
    """The recipe's images, bands as selected, as one stack on the first image's grid (no derived band, no
    auxiliary layer: what the map shows as the image).

    Raises
    ------
    RecipeError
        No image. ImageError, CRSError, NoOverlapError: see :func:`landclass_ui.imagery.open_image`.
    """
    from .errors import RecipeError

    if not recipe.images:
        raise RecipeError(f"recipe {recipe.name!r} has no image; add one")
    stacks = [open_image(ref.path, bands=ref.bands, resolution=ref.resolution) for ref in recipe.images]
    return stacks[0] if len(stacks) == 1 else combine_stacks(stacks, [ref.path for ref in recipe.images])


def open_recipe_image(recipe: Recipe) -> ImageStack:
    """The recipe's images as one stack (:func:`open_recipe_images`), with the recipe's derived bands
    (:mod:`landclass_ui.indices`) and auxiliary layers (:mod:`landclass_ui.auxiliary`) appended as bands."""
    from .auxiliary import add_auxiliary

    stack = open_recipe_images(recipe)
    if not recipe.derived.empty:  # derived bands from the image bands (landclass_ui.indices)
        from .indices import add_derived

        stack = add_derived(stack, recipe.derived)
    return add_auxiliary(stack, recipe.auxiliary) if recipe.auxiliary else stack


def prepare(recipe: Recipe) -> Prepared:
    """Open the image, read the training data, settle the legend and sample the training pixels.

    When the recipe has no legend, one is derived from the training labels (:meth:`Legend.from_labels`, using
    a ``color`` column of the training file when it has one) and stored in the recipe.

    Raises
    ------
    LandclassError
        Any input problem (see :mod:`landclass_ui.errors`).
    """
    import pandas as pd

    recipe.validate()
    stack = open_recipe_image(recipe)
    messages = list(stack.messages)
    frames = []
    for ref in recipe.training:
        if ref.kind == "points":
            if ref.points or len(recipe.training) == 1:  # the dashboard's empty set of points beside a file
                frames.append(points_frame(ref.points, crs=stack.crs))
        else:
            frames.append(read_training(ref.path, ref.class_field, crs=stack.crs, layer=ref.layer,
                                        remap=ref.remap))
    features = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if len(frames) > 1:
        features["group"] = range(len(features))
        features.attrs = {"messages": [m for f in frames for m in f.attrs.get("messages", [])],
                          "source": "training data"}
    legend = recipe.legend_object()
    if legend is None:
        colors = {}
        for f in frames:
            colors.update(legend_colors(f))
        legend = Legend.from_labels(list(features["label"]), colors)
        recipe.legend = legend.to_list()
        messages.append("legend derived from the training data: " + ", ".join(
            f"{e.value} {e.name} {e.color}" for e in legend))
    samples = extract_samples(stack, features, legend)
    messages.extend(samples.messages)
    return Prepared(recipe, stack, legend, samples, messages)


@dataclass
class TrainedModel:
    """A fitted estimator with what is needed to apply it: band names (feature order) and the legend."""

    estimator: object
    band_names: list[str]
    legend: Legend
    classifier: str
    params: dict
    fit_seconds: float = 0.0

    @property
    def class_values(self) -> np.ndarray:
        """Legend values in the estimator's probability column order."""
        return np.asarray(self.estimator.classes_)


def train(samples: SampleTable, legend: Legend, classifier: str = "random-forest",
          params: dict | None = None) -> TrainedModel:
    """Fit ``classifier`` (a name from :data:`landclass_ui.classifiers.CLASSIFIERS`) on the samples.

    Parameters
    ----------
    samples : SampleTable
        ``features`` float32 ``(n, n_bands)`` and ``classes`` int ``(n,)``.
    """
    from .classifiers import parse_params

    spec = get_spec(classifier)
    full = parse_params(spec.name, params)
    estimator = make_classifier(spec.name, full)
    if hasattr(estimator, "band_names"):  # a pasted decision tree names its bands
        estimator.band_names = list(samples.band_names)
    _floor_bag_size(estimator, samples.classes)
    start = time.perf_counter()
    estimator.fit(samples.features, samples.classes)
    return TrainedModel(estimator, list(samples.band_names), legend, spec.name, full,
                        time.perf_counter() - start)


def _floor_bag_size(estimator, classes: np.ndarray) -> None:
    """Give each tree of a forest at least ``min(n, 4 x n_classes)`` pixels.

    SEPAL's bag fraction (0.5) is right for thousands of pixels, but with the handful of points of a first
    live training it leaves trees with one pixel, which predict one class everywhere (two clicks, water and
    forest, gave an all-forest map). The fraction is applied as given once the sample is large enough.
    """
    import math

    fraction = getattr(estimator, "max_samples", None)
    if not isinstance(fraction, float):
        return
    n = len(classes)
    floor = min(n, 4 * len(np.unique(classes)))
    if fraction * n < floor:
        estimator.set_params(max_samples=max(math.ceil(fraction * n), floor))


def predict_block(model: TrainedModel, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Classify one block of pixels.

    Parameters
    ----------
    data : numpy.ndarray
        float32 ``(n_bands, height, width)``, NaN where nodata, bands in ``model.band_names`` order.

    Returns
    -------
    classes : numpy.ndarray
        uint8 ``(height, width)``: legend values, :data:`NODATA_CLASS` (255) where any band is nodata.
    probability : numpy.ndarray
        uint8 ``(height, width)``: winning-class probability in percent (0-100), 255 where nodata.
    """
    n_band, height, width = data.shape
    pixels = data.reshape(n_band, -1).T
    valid = np.isfinite(pixels).all(axis=1)
    classes = np.full(height * width, NODATA_CLASS, np.uint8)
    probability = np.full(height * width, 255, np.uint8)
    if valid.any():
        proba = model.estimator.predict_proba(pixels[valid])
        best = proba.argmax(axis=1)
        classes[valid] = model.class_values[best].astype(np.uint8)
        probability[valid] = np.rint(proba[np.arange(len(best)), best] * 100).astype(np.uint8)
    return classes.reshape(height, width), probability.reshape(height, width)


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
    valid = np.isfinite(pixels).all(axis=1)
    values = list(model.legend.values)
    classes = np.full(height * width, NODATA_CLASS, np.uint8)
    probability = np.full(height * width, 255, np.uint8)
    cube = np.full((len(values), height * width), 255, np.uint8)
    if valid.any():
        proba = model.estimator.predict_proba(pixels[valid])
        best = proba.argmax(axis=1)
        classes[valid] = model.class_values[best].astype(np.uint8)
        probability[valid] = np.rint(proba[np.arange(len(best)), best] * 100).astype(np.uint8)
        cube[:, valid] = 0
        column = {int(v): i for i, v in enumerate(model.class_values)}
        for band, value in enumerate(values):
            if int(value) in column:
                cube[band, valid] = np.rint(proba[:, column[int(value)]] * 100).astype(np.uint8)
    return classes.reshape(height, width), probability.reshape(height, width), cube.reshape(-1, height, width)


@dataclass
class RunResult:
    """Paths written by :func:`run` and what happened on the way."""

    classification: str
    legend_csv: str
    probability: str | None
    samples_csv: str | None
    recipe_json: str | None
    model: TrainedModel
    prepared: Prepared
    messages: list[str]
    seconds: float
    accuracy: object = None
    assessment: object = None
    cross_validation: object = None
    class_probability: str | None = None


def run(recipe: Recipe, output: str, *, probability: bool = False, class_probabilities: bool = False,
        samples_out: str | None = None,
        recipe_out: str | None = None, progress: bool | None = None, block: int = 512,
        log: Callable[[str], None] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        validation_ratio: float | None = None, reference=None, reference_remap: dict | None = None,
        cv_folds: int | None = None, seed: int = 0) -> RunResult:
    """Run a recipe end to end and write its outputs.

    Writes ``output`` (COG, uint8 class values, the legend's colour table, nodata 255), ``<stem>_legend.csv``
    beside it (``color,value,label``), and when asked ``<stem>_probability.tif`` (winning-class probability,
    0-100, uint8, nodata 255), ``<stem>_class_probability.tif`` (``class_probabilities``: one band per legend
    class, ``"<class> %"``, 0-100), the training pixel table as CSV, and the recipe as JSON.

    Accuracy (:mod:`landclass_ui.accuracy`), written as ``<stem>_confusion.csv``/``.png`` and
    ``<stem>_RESULTS.md`` (:mod:`landclass_ui.report`):

    * ``validation_ratio``: share of the training polygons (spatial blocks for points) held out for
      validation, by polygon and stratified by class (:func:`landclass_ui.validation.split_by_group`); the
      map is trained on the rest. Estimates treat the held-out pixels as a simple random sample.
    * ``reference``: an independent reference sample (:class:`~landclass_ui.recipe.TrainingRef` of a file
      whose classes are legend names or values, ``reference_remap`` mapping other names, e.g.
      ``{"farmland": "FARM"}``); estimates are stratified by the mapped areas of the produced map (Olofsson et
      al. 2014). Takes precedence over the hold-out for the report.
    * ``cv_folds``: spatial k-fold cross-validation of the training data (mean and spread of overall accuracy).

    Raises
    ------
    LandclassError
        Any input problem; nothing is left at ``output`` then.
    """
    from . import export

    start = time.perf_counter()
    say = log or (lambda m: None)
    prepared = prepare(recipe)
    for m in prepared.messages:
        say(m)
    counts = prepared.samples.counts()
    say("training pixels: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if samples_out:
        prepared.samples.to_csv(samples_out)
    reference_frame = None
    if reference is not None:  # read it before anything is written: a bad file leaves no output
        from .training import read_training

        from .legend import normalize_name

        reference_frame = read_training(reference.path, reference.class_field, crs=prepared.stack.crs,
                                        layer=reference.layer)
        if reference_remap:
            table = {normalize_name(k): v for k, v in reference_remap.items()}
            reference_frame["label"] = reference_frame["label"].map(lambda v: table.get(normalize_name(v), v))
        for label in reference_frame["label"].unique():
            prepared.legend.value_of(label)  # LegendError naming a reference class that is not in the legend
    learning, validation, how = prepared.samples, None, ""
    if validation_ratio:
        from .validation import split_by_group

        split = split_by_group(prepared.samples, ratio=1.0 - float(validation_ratio), seed=seed)
        learning, validation = split.learning, split.validation
        for m in split.messages:
            say(m)
        how = (f"Validation sample: {validation_ratio:.0%} of the training polygons held out (whole polygons, "
               f"stratified by class, seed {seed}), {len(validation.frame)} pixels; the map was trained on the "
               f"other {len(learning.frame)}. Simple random estimators: pixels of one polygon are alike, so the "
               "intervals are optimistic.")
    model = train(learning, prepared.legend, recipe.classifier.name, recipe.classifier.params)
    say(f"{model.classifier} fitted in {model.fit_seconds:.2f} s on {len(learning.frame)} pixels")
    paths = export.write_classification(
        output, prepared.stack, model, probability=probability, class_probabilities=class_probabilities,
        progress=progress, block=block,
        on_progress=on_progress,
    )
    accuracy = assessment = cv = None
    unit = ""
    names = {e.value: e.name for e in prepared.legend}
    if reference is not None:
        accuracy, how, unit = _assess_reference(reference.path, reference_frame, prepared, paths.classification)
    elif validation is not None and len(validation.frame):
        from .accuracy import assess

        predicted = model.estimator.predict(validation.features)
        accuracy = assess([names[int(v)] for v in validation.classes], [names[int(v)] for v in predicted])
    if cv_folds:
        from .validation import cross_validate

        cv = cross_validate(prepared.samples, prepared.legend, recipe.classifier.name, recipe.classifier.params,
                            k=int(cv_folds), seed=seed)
        say(cv.summary())
    if accuracy is not None or cv is not None:
        from .classifiers import feature_importance
        from .report import write_assessment

        if accuracy is not None:
            say(f"overall accuracy {accuracy.overall_accuracy:.3f} ± {1.96 * accuracy.overall_accuracy_se:.3f} "
                f"(95%), kappa {accuracy.kappa:.3f}")
        if accuracy is None:  # cross-validation alone: report its pooled folds
            accuracy = cv.pooled()
            how = "Cross-validation folds pooled (each pixel predicted by the model that did not see it)."
        assessment = write_assessment(paths.classification, accuracy, recipe=recipe, how=how,
                                      area_unit=unit,
                                      importance=feature_importance(model), cross_validation=cv)
    if recipe_out:
        recipe.save(recipe_out)
    return RunResult(
        classification=paths.classification,
        legend_csv=paths.legend_csv,
        probability=paths.probability,
        samples_csv=samples_out,
        recipe_json=recipe_out,
        model=model,
        prepared=prepared,
        messages=prepared.messages,
        seconds=time.perf_counter() - start,
        accuracy=accuracy,
        assessment=assessment,
        cross_validation=cv,
        class_probability=paths.class_probability,
    )


def _assess_reference(source: str, frame, prepared: Prepared, class_map: str):
    """Accuracy of the written map against an independent reference sample, stratified by mapped area."""
    import rasterio

    from .accuracy import assess
    from .report import mapped_areas
    from .training import extract_samples

    samples = extract_samples(prepared.stack, frame, prepared.legend)
    with rasterio.open(class_map) as src:
        mapped_values = src.read(1)[samples.frame["row"].to_numpy(), samples.frame["col"].to_numpy()]
    names = {e.value: e.name for e in prepared.legend}
    keep = mapped_values != 255
    areas, unit = mapped_areas(class_map, prepared.legend)
    areas = areas[areas > 0]
    report = assess([names[int(v)] for v in samples.classes[keep]], [names[int(v)] for v in mapped_values[keep]],
                    mapped_area=areas.to_dict())
    how = (f"Reference sample: {len(samples.frame)} pixels of {source} (independent of the training "
           f"data); estimates stratified by the mapped area of each class (Olofsson et al. 2014), areas in "
           f"{unit}. Pixels of one reference polygon are alike, so the intervals are optimistic.")
    return report, how, unit
