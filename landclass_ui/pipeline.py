"""The stages of a classification run, composed: each a named function with typed inputs and a typed result.

::

    recipe --prepare--> Prepared (feature stack, legend, training samples)
           --hold_out--> HoldOut (learning / validation samples)
           --model.fit--> TrainedModel (regional.fit_regional: one model per region, with ``recipe.regions``)
           --export.write_classification--> OutputPaths (class map COG, legend, probabilities)
           --assess--> Assessment (hold-out or reference accuracy, cross-validation)
           --report--> AssessmentPaths (confusion matrix CSV/PNG, RESULTS.md)

:func:`run` strings them together as the command line and the dashboard's Export use it; each stage can be
called alone (the live map uses :func:`prepare`'s parts and :mod:`landclass_ui.model` directly).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd

from . import export
from .accuracy import AccuracyReport
from .accuracy import assess as assess_accuracy
from .areas import write_areas
from .auxiliary import add_auxiliary
from .classifiers import feature_importance
from .cloudmask import split_layers
from .errors import LandclassError, LegendError, RecipeError
from .export import OutputPaths
from .imagery import (
    ImageStack,
    combine_stacks,
    masked_share,
    open_image,
    series_shares,
    stack_dates,
    with_masks,
    with_scale,
)
from .indices import add_derived
from .legend import Legend, normalize_name
from .model import TrainedModel, fit
from .recipe import CloudMaskRef, ImageRef, Recipe, RegularizationRef, TrainingRef
from .regional import RegionalModel, fit_regional, region_importance
from .regions import Regions, add_regions
from .report import AssessmentPaths, mapped_areas, write_assessment
from .timeseries import acquisition_date
from .training import SampleTable, extract_samples, legend_colors, read_ref, read_training

if TYPE_CHECKING:  # scikit-learn is imported when a split or cross-validation is made, not with the app
    from .validation import CrossValidation

__all__ = ["Prepared", "HoldOut", "Reference", "Assessment", "RunResult", "open_recipe_images", "mask_summary",
           "combine_refs", "regularization_pixels", "PRESETS", "DEFAULT_PRESET", "apply_preset",
           "apply_recipe",
           "open_recipe_image", "read_recipe_training", "prepare", "hold_out", "read_reference", "assess",
           "report", "run", "fit_model"]


# --- Stage 1: prepare (image -> feature stack; training data -> legend and samples) ---------------------


@dataclass
class Prepared:
    """What a recipe resolves to before training: the feature stack, the legend and the training samples.

    With ``recipe.regions``, ``regions`` describes them and the stack and samples end with the region band
    (:func:`landclass_ui.regions.add_regions`): the region id of each pixel, NaN (nodata, unclassified) outside
    every region; training pixels outside every region are left out (a message says how many)."""

    recipe: Recipe
    stack: ImageStack
    legend: Legend
    samples: SampleTable
    messages: list[str] = field(default_factory=list)
    regions: Regions | None = None


def open_ref(ref: ImageRef, cloud_mask: CloudMaskRef | None = None) -> ImageStack:
    """One recipe image as a stack: its bands as selected, with the scale the user stated, if any, and its
    cloud mask (``cloud_mask``, default: on, found beside the image; :mod:`landclass_ui.cloudmask`).

    Raises what :func:`landclass_ui.imagery.open_image` and :func:`landclass_ui.imagery.with_scale` raise.
    """
    cm = cloud_mask or CloudMaskRef()
    stack = open_image(ref.path, bands=ref.bands, resolution=ref.resolution, cloud_mask=cm.enabled,
                       mask_file=cm.file, mask_snow=cm.snow)
    return stack if ref.scale is None else with_scale(stack, ref.scale, ref.offset)


def open_recipe_images(recipe: Recipe) -> ImageStack:
    """The recipe's images, bands as selected, as one stack on the first image's grid (no derived band, no
    auxiliary layer: what the map shows as the image); see :func:`combine_refs`.

    Raises
    ------
    RecipeError
        No image. ImageError, CRSError, NoOverlapError: see :func:`landclass_ui.imagery.open_image`.
    """
    if not recipe.images:
        raise RecipeError(f"recipe {recipe.name!r} has no image; add one")
    cm = recipe.cloud_mask
    bands, layers = split_layers([r.path for r in recipe.images])
    refs = [r for r in recipe.images if r.path in bands]
    stack = combine_refs(refs, [open_ref(ref, cm) for ref in refs], cm)
    if layers and cm.enabled:
        stack = with_masks(stack, layers, snow=cm.snow)
    elif layers:
        stack = replace(stack, messages=[*stack.messages, "cloud mask off: "
                                         + ", ".join(os.path.basename(p) for p in layers) + " not used"])
    return stack


def combine_refs(refs: list[ImageRef], stacks: list[ImageStack], cm: CloudMaskRef | None = None) -> ImageStack:
    """The stacks of several recipe images as one: when they are of two dates or more (the acquisition dates
    in their names or STAC items, :func:`landclass_ui.timeseries.acquisition_date`), a time series with bands
    named by date and masked pixels filled in time (:func:`landclass_ui.imagery.stack_dates`); else band after
    band (:func:`landclass_ui.imagery.combine_stacks`)."""
    if len(stacks) == 1:
        return stacks[0]
    paths = [r.path for r in refs]
    dates = [_date_or_none(p) for p in paths]
    if None not in dates and len(set(dates)) > 1:
        return stack_dates(stacks, dates, paths, gap_fill=(cm or CloudMaskRef()).gap_fill)
    return combine_stacks(stacks, paths)


def _date_or_none(path: str):
    try:
        return acquisition_date(path)
    except LandclassError:
        return None


def open_recipe_image(recipe: Recipe) -> ImageStack:
    """The feature stack: the recipe's images (:func:`open_recipe_images`) with its derived bands
    (:mod:`landclass_ui.indices`) and auxiliary layers (:mod:`landclass_ui.auxiliary`) appended as bands."""
    stack = open_recipe_images(recipe)
    if not recipe.derived.empty:
        stack = add_derived(stack, recipe.derived)
    return add_auxiliary(stack, recipe.auxiliary) if recipe.auxiliary else stack


def regularization_pixels(reg: RegularizationRef, grid) -> tuple[int | None, int | None]:
    """The majority window and the minimum mapping unit in pixels of the image's ``grid`` (hectares converted
    with its pixel area, :func:`landclass_ui.regularize.mmu_pixels`).

    Raises
    ------
    RecipeError
        A bad setting (:meth:`RegularizationRef.validate`), or a unit in hectares on a grid in degrees.
    """
    from .regularize import mmu_pixels

    reg.validate()
    if reg.mmu is None:
        return reg.majority, None
    if reg.mmu_unit == "px":
        return reg.majority, mmu_pixels(pixels=reg.mmu)
    if not grid.crs.is_projected:
        raise RecipeError(f"a minimum mapping unit in hectares needs an image in a projected CRS (metres), not "
                          f"{grid.crs.to_string()}; give it in pixels")
    area = abs(grid.transform.a * grid.transform.e) * grid.crs.linear_units_factor[1] ** 2
    return reg.majority, mmu_pixels(hectares=reg.mmu, pixel_area_m2=area)


@dataclass(frozen=True)
class Preset:
    """What a new recipe starts from, beyond the classifier (RF-25 with SEPAL's parameters in both): spectral
    indices added as bands when the image's bands can make them, and the regularization of the map."""

    name: str
    about: str
    indices: tuple[str, ...] = ()
    majority: int | None = None


#: The presets (``landclass classify --preset``, CLS panel). ``recommended`` is the default of a new recipe:
#: the most accurate setting of ``benchmarks/accuracy.py`` on the labelled real scenes (mean overall accuracy
#: 0.979 against 0.962 for RF-25 on the bands alone; README, "Default recipe") that keeps the live map within
#: its latency target. ``sepal`` is SEPAL's classification recipe's defaults, and the plain ``Recipe()``.
PRESETS = {
    "recommended": Preset("recommended", "random forest (25 trees) on the bands with NDVI and NDWI, then a 3 x 3 "
                          "majority filter", ("ndvi", "ndwi"), 3),
    "sepal": Preset("sepal", "SEPAL's defaults: random forest (25 trees) on the bands, no index, no "
                    "regularization"),
}
DEFAULT_PRESET = "recommended"


def apply_preset(recipe: Recipe, name: str = DEFAULT_PRESET, *, indices: bool = True,
                 regularization: bool = True, hint: bool = True) -> list[str]:
    """Set the recipe's indices (``indices``) and regularization (``regularization``) as the preset ``name``
    says (:data:`PRESETS`); indices the recipe's image cannot make (no band of their roles, e.g. Landsat bands
    without the sensor) are left out, and the returned messages say so. Without an image, the indices are kept
    as wished (the IMG panel drops those a new image cannot make).

    Raises
    ------
    RecipeError
        Unknown preset (the message lists them).
    """
    from .indices import available_indices
    from .sensors import detect_sensor, resolve_roles, sensor_from_paths

    preset = PRESETS.get(str(name).lower())
    if preset is None:
        raise RecipeError(f"unknown preset {name!r}; use one of {', '.join(PRESETS)}")
    messages = []
    if regularization:
        recipe.regularization = RegularizationRef(preset.majority)
    if indices:
        wanted = list(preset.indices)
        if wanted and recipe.images:
            stack = open_recipe_images(recipe)
            names = stack.band_names if stack.series is None else [n.split("_", 1)[1] for n in stack.series.bands[0]]
            sensor = recipe.derived.sensor or sensor_from_paths([r.path for r in recipe.images]) \
                or detect_sensor(names)
            try:
                roles = resolve_roles(names, sensor, recipe.derived.roles)
            except LandclassError:
                roles = {}
            offered = available_indices(roles, sensor)
            left = [i for i in wanted if i not in offered]
            wanted = [i for i in wanted if i in offered]
            if wanted and sensor and not recipe.derived.sensor:
                recipe.derived.sensor = sensor
            if left:
                messages.append(f"preset {preset.name}: {', '.join(i.upper() for i in left)} left out, the image's "
                                "band roles are not known (choose the sensor or give the roles: --sensor, --role)")
        recipe.derived.indices = wanted
    messages.append(f"preset {preset.name}: {preset.about}"
                    + ("" if preset.name == "sepal" or not hint else " (--preset sepal for SEPAL's defaults)"))
    return messages


def mask_summary(stack: ImageStack) -> str:
    """One line on what the stack's cloud masks take out: ``"cloud mask: 12.3 % of the image is nodata (cloud
    high probability 5.1 %, ...)"`` (:func:`landclass_ui.imagery.masked_share`), and for several dates, the
    share masked and filled of each (:func:`landclass_ui.imagery.series_shares`)."""
    if stack.series is not None:
        shares = series_shares(stack)
        left = masked_share(stack)[0] if not stack.series.gap_fill else None
        parts = [f"{d.isoformat()} {100 * m:.1f} %" + (f" ({100 * f:.1f} % filled)" if stack.series.gap_fill else "")
                 for d, m, f in shares]
        tail = ("" if left is None else f"; gap filling off: {100 * left:.1f} % of the image is nodata on some date")
        return "cloud mask per date: " + ", ".join(parts) + " (filled: masked, filled by linear interpolation in " \
            "time from the nearest valid dates)" * bool(stack.series.gap_fill) + tail
    share, per_flag = masked_share(stack)
    parts = ", ".join(f"{name} {100 * v:.2f} %" for name, v in per_flag.items() if v > 0)
    return f"cloud mask: {100 * share:.2f} % of the image is nodata" + (f" ({parts})" if parts else "")


def read_recipe_training(recipe: Recipe, crs) -> pd.DataFrame:
    """Every training set of the recipe as one table of features (``geometry``, ``label``, ``group``...) in
    ``crs``; the dashboard's empty set of points beside a file is skipped. Files are read with their remap,
    row filter and coordinate columns (:func:`landclass_ui.training.read_ref`).

    Raises
    ------
    TrainingDataError, CRSError, LegendError
        See :func:`landclass_ui.training.read_training`.
    """
    frames = []
    for ref in recipe.training:
        if ref.kind == "points":
            if ref.points or len(recipe.training) == 1:
                frames.append(read_ref(ref, crs=crs))
        else:
            frames.append(read_ref(ref, crs=crs))
    if len(frames) == 1:
        return frames[0]
    features = pd.concat(frames, ignore_index=True)
    features["group"] = range(len(features))
    features.attrs = {"messages": [m for f in frames for m in f.attrs.get("messages", [])],
                      "source": "training data", "colors": {k: v for f in frames for k, v in legend_colors(f).items()}}
    return features


def derive_legend(features: pd.DataFrame) -> Legend:
    """The legend of a recipe that has none, from its training features (:func:`read_recipe_training`): one
    class per label, values 1, 2, ... in label order, the colours of a ``color`` column when each class has one
    (:func:`landclass_ui.training.legend_colors`), else a palette (:meth:`Legend.from_labels`)."""
    colors = features.attrs.get("colors") or legend_colors(features)
    return Legend.from_labels(list(features["label"]), colors)


def prepare(recipe: Recipe) -> Prepared:
    """Open the feature stack, read the training data, settle the legend and sample the training pixels.

    When the recipe has no legend, one is derived from the training labels (:meth:`Legend.from_labels`, using
    a ``color`` column of the training file when it has one) and stored in the recipe. With ``recipe.regions``
    the region band is appended to the stack (:func:`landclass_ui.regions.add_regions`) and every training
    pixel gets its region; those in no region are left out.

    Raises
    ------
    LandclassError
        Any input problem (see :mod:`landclass_ui.errors`).
    """
    recipe.validate()
    stack = open_recipe_image(recipe)
    messages = list(stack.messages)
    if stack.masks:
        messages.append(mask_summary(stack))
    regions = None
    if recipe.regions is not None:
        stack, regions = add_regions(stack, recipe.regions)
        messages.extend(regions.messages)
    features = read_recipe_training(recipe, stack.crs)
    legend = recipe.legend_object()
    if legend is None:
        legend = derive_legend(features)
        recipe.legend = legend.to_list()
        messages.append("legend derived from the training data: " + ", ".join(
            f"{e.value} {e.name} {e.color}" for e in legend))
    samples = extract_samples(regions.sampling_stack(stack) if regions else stack, features, legend)
    messages.extend(samples.messages)
    if regions is not None:
        samples, outside = regions.drop_outside(samples)
        if outside:
            messages.append(outside)
    return Prepared(recipe, stack, legend, samples, messages, regions)


# --- Stage 2: hold out a validation sample ------------------------------------------------------------------


@dataclass
class HoldOut:
    """The samples the model learns from, and those held out for validation (None: nothing held out)."""

    learning: SampleTable
    validation: SampleTable | None = None
    how: str = ""
    messages: list[str] = field(default_factory=list)


def hold_out(samples: SampleTable, ratio: float | None, *, seed: int = 0) -> HoldOut:
    """Hold out ``ratio`` (0-1) of the training polygons (spatial blocks for points) for validation, whole
    polygons, stratified by class (:func:`landclass_ui.validation.split_by_group`); ``None``/0: none.

    Raises
    ------
    ValidationError
        A ratio outside 0-1, or nothing left on one side.
    """
    if not ratio:
        return HoldOut(samples)
    from .validation import split_by_group

    split = split_by_group(samples, ratio=1.0 - float(ratio), seed=seed)
    learning, validation = split.learning, split.validation
    how = (f"Validation sample: {ratio:.0%} of the training polygons held out (whole polygons, "
           f"stratified by class, seed {seed}), {len(validation.frame)} pixels; the map was trained on the "
           f"other {len(learning.frame)}. Simple random estimators: pixels of one polygon are alike, so the "
           "intervals are optimistic.")
    return HoldOut(learning, validation, how, list(split.messages))


# --- Stage 3: fit (model.fit, or regional.fit_regional with regions); stage 4 (export) lives in its module ----


def fit_model(prepared: Prepared, samples: SampleTable, *, context: str = "") -> TrainedModel:
    """The recipe's classifier fitted on ``samples`` (:func:`landclass_ui.model.fit`); with regions, one model
    per region (:func:`landclass_ui.regional.fit_regional`: a :class:`~landclass_ui.regional.RegionalModel`,
    whose ``messages`` say what each region was fitted on). ``context`` ends the error of a region without
    samples.

    Raises
    ------
    TrainingDataError
        A region without training pixels (the message names it: add samples there or merge regions).
    ClassifierError
        Unknown classifier or bad parameter.
    """
    clf = prepared.recipe.classifier
    if prepared.regions is None:
        return fit(samples, prepared.legend, clf.name, clf.params)
    return fit_regional(samples, prepared.legend, clf.name, clf.params, regions=prepared.regions, context=context)


def apply_recipe(recipe: Recipe, images: list[ImageRef], output: str, *, probability: bool = False,
                 log: Callable[[str], None] | None = None, **options) -> OutputPaths:
    """Apply a recipe's classifier to other images (SEPAL's "apply to another image"): the model is fitted as
    the recipe says (its own image and training data, :func:`prepare`, :func:`fit_model`), then classifies
    ``images`` opened with the recipe's band choice, cloud mask, derived bands and auxiliary layers, and the
    class map (and ``probability``) is written with its regularization (:func:`export.write_classification`;
    ``options`` go there too).

    Raises
    ------
    ImageError
        The new images lack bands the model was fitted on (the message lists them). What :func:`prepare` and
        :func:`export.write_classification` raise.
    """
    from dataclasses import replace as _replace

    say = log or (lambda m: None)
    prepared = prepare(recipe)
    model = fit_model(prepared, prepared.samples)
    say(f"{model.classifier} fitted on {len(prepared.samples.frame)} pixels of {recipe.name!r}")
    target = _replace(recipe, images=list(images))
    stack = open_recipe_image(target)
    if prepared.regions is not None:
        stack, _ = add_regions(stack, recipe.regions)
    missing = [b for b in model.band_names if b not in stack.band_names]
    if missing:
        from .errors import ImageError

        raise ImageError(f"the new image lacks the band(s) {', '.join(missing)} the recipe's model was fitted on "
                         f"(it has {', '.join(stack.band_names)}); give images with the same bands")
    for m in stack.messages:
        say(m)
    majority, mmu = regularization_pixels(recipe.regularization, stack.grid)
    paths = export.write_classification(output, stack.select(model.band_names), model, probability=probability,
                                        majority=majority, mmu=mmu, **options)
    say(paths.stage_line(stack.grid.width * stack.grid.height))
    if paths.regularization:
        say("regularization: " + paths.regularization)
    return paths


# --- Stage 5: assess -----------------------------------------------------------------------------------------


@dataclass
class Reference:
    """An independent reference sample read before anything is written (a bad file leaves no output)."""

    source: str
    frame: pd.DataFrame


def read_reference(ref: TrainingRef, prepared: Prepared, remap: dict | None = None) -> Reference:
    """Read a reference sample (classes named as the legend, or mapped by ``remap``, e.g.
    ``{"farmland": "FARM"}``) in the stack's CRS.

    Raises
    ------
    LegendError
        A reference class that is not in the legend (the message names it and the reference file).
    TrainingDataError, CRSError
        See :func:`landclass_ui.training.read_training`.
    """
    frame = read_training(ref.path, ref.class_field, crs=prepared.stack.crs, layer=ref.layer)
    if remap:
        table = {normalize_name(k): v for k, v in remap.items()}
        frame["label"] = frame["label"].map(lambda v: table.get(normalize_name(v), v))
    legend = prepared.legend
    for label in frame["label"].unique():
        if not legend.contains(label):
            raise LegendError(f"class {str(label).strip()!r} of the reference sample {ref.path} is not in the legend "
                              f"({', '.join(f'{e.value} {e.name}' for e in legend)}); map it to a legend class "
                              "(--reference-remap NAME=CLASS) or fix the label")
    return Reference(str(ref.path), frame)


@dataclass
class Assessment:
    """The accuracy of a map: ``accuracy`` (hold-out or reference sample; the pooled cross-validation folds
    when that is all there is), how it was estimated, the unit of mapped areas, the cross-validation, and what
    a user should know about them (``messages``)."""

    accuracy: AccuracyReport | None = None
    how: str = ""
    area_unit: str = ""
    cross_validation: CrossValidation | None = None
    messages: list[str] = field(default_factory=list)


def assess(prepared: Prepared, model: TrainedModel, held: HoldOut, class_map: str, *,
           reference: Reference | None = None, cv_folds: int | None = None, seed: int = 0) -> Assessment:
    """Assess the written ``class_map``: against the ``reference`` sample (estimates stratified by mapped
    area, Olofsson et al. 2014) when given, else against the held-out pixels (simple random estimators);
    plus a spatial ``cv_folds``-fold cross-validation of all training samples when asked.

    With regions the hold-out pixels are predicted by their region's model (``model`` is a
    :class:`~landclass_ui.regional.RegionalModel`) and the reference sample is read on the mosaicked map, as
    without; the cross-validation fits one model per region in each fold (:func:`cross_validate_regional`).
    """
    names = {e.value: e.name for e in prepared.legend}
    out = Assessment()
    if reference is not None:
        out.accuracy, out.how, out.area_unit = _assess_reference(reference, prepared, class_map)
    elif held.validation is not None and len(held.validation.frame):
        # read off the written map, not predicted again: the map's regularization and scale are assessed too
        frame = held.validation.frame
        mapped = map_values_at(class_map, frame["x"].to_numpy(), frame["y"].to_numpy())
        keep = mapped != 255
        out.accuracy = assess_accuracy([names[int(v)] for v in held.validation.classes[keep]],
                                       [names[int(v)] for v in mapped[keep]])
        out.how = held.how
    if cv_folds and prepared.regions is not None:
        out.cross_validation, note = cross_validate_regional(prepared, k=int(cv_folds), seed=seed)
        out.messages.extend([note] if note else [])
    elif cv_folds:
        from .validation import cross_validate

        out.cross_validation = cross_validate(prepared.samples, prepared.legend, prepared.recipe.classifier.name,
                                              prepared.recipe.classifier.params, k=int(cv_folds), seed=seed)
        if out.accuracy is None:  # cross-validation alone: report its pooled folds
            out.accuracy = out.cross_validation.pooled()
            out.how = "Cross-validation folds pooled (each pixel predicted by the model that did not see it)."
    return out


def cross_validate_regional(prepared: Prepared, k: int = 5, seed: int = 0) -> tuple[CrossValidation, str | None]:
    """Spatial k-fold cross-validation with one model per region: the folds of
    :func:`landclass_ui.validation.spatial_kfold` (whole polygons, stratified by class, as without regions); in
    each fold one model per region is fitted on the fold's learning pixels of that region
    (:func:`landclass_ui.regional.fit_regional`) and predicts the fold's validation pixels of the region.

    Returns the :class:`~landclass_ui.validation.CrossValidation` and a note (None when there is nothing to
    say): validation pixels of a region with no learning pixel in their fold cannot be predicted and are left
    out of that fold, the note says how many.

    Raises
    ------
    ValidationError
        ``k`` < 2, fewer polygons/blocks than ``k``, or fewer than two folds left to score.
    """
    from .validation import CrossValidation, ValidationError, spatial_kfold

    names = {e.value: e.name for e in prepared.legend}
    clf = prepared.recipe.classifier
    reports, n_val, left = [], [], 0
    for split in spatial_kfold(prepared.samples, k, seed):
        model = fit_regional(split.learning, prepared.legend, clf.name, clf.params, regions=prepared.regions,
                             require_all=False)
        region = split.validation.frame[prepared.regions.band].to_numpy()
        keep = np.isin(region, list(model.estimator.models))
        left += int((~keep).sum())
        if not keep.any():
            continue
        predicted = model.estimator.predict(split.validation.features[keep])
        reports.append(assess_accuracy([names[int(v)] for v in split.validation.classes[keep]],
                                       [names[int(v)] for v in predicted]))
        n_val.append(int(keep.sum()))
    if len(reports) < 2:
        raise ValidationError(f"{k}-fold cross-validation by region: fewer than two folds have validation pixels in a "
                              "region with learning pixels; add training data or use fewer folds")
    oa = [r.overall_accuracy for r in reports]
    note = (f"cross-validation by region: {left} validation pixel(s) of regions without learning pixels in their "
            "fold left out") if left else None
    return CrossValidation(oa, float(np.mean(oa)), float(np.std(oa, ddof=1)), reports, n_val), note


def map_values_at(class_map: str, x: np.ndarray, y: np.ndarray, *, block: int = 1024) -> np.ndarray:
    """The class map's values (uint8, 255 nodata or outside) at the points ``x``, ``y`` (arrays of the map's
    CRS coordinates, e.g. pixel centres of the image): by the pixel each point falls in, so a map at a coarser
    scale is read where it covers the point. Read block by block, only the blocks that hold points."""
    import rasterio
    from rasterio.windows import Window

    out = np.full(len(x), 255, np.uint8)
    with rasterio.open(class_map) as src:
        rows, cols = rasterio.transform.rowcol(src.transform, np.asarray(x), np.asarray(y))
        rows, cols = np.asarray(rows), np.asarray(cols)
        inside = (rows >= 0) & (rows < src.height) & (cols >= 0) & (cols < src.width)
        keys = (rows // block) * (src.width // block + 1) + cols // block
        for key in np.unique(keys[inside]):
            pick = inside & (keys == key)
            r0, c0 = (rows[pick][0] // block) * block, (cols[pick][0] // block) * block
            data = src.read(1, window=Window(c0, r0, min(block, src.width - c0), min(block, src.height - r0)))
            out[pick] = data[rows[pick] - r0, cols[pick] - c0]
    return out


def _assess_reference(reference: Reference, prepared: Prepared, class_map: str):
    """Accuracy of the written map against an independent reference sample, stratified by mapped area."""
    samples = extract_samples(prepared.stack, reference.frame, prepared.legend)
    mapped_values = map_values_at(class_map, samples.frame["x"].to_numpy(), samples.frame["y"].to_numpy())
    names = {e.value: e.name for e in prepared.legend}
    keep = mapped_values != 255
    areas, unit = mapped_areas(class_map, prepared.legend)
    areas = areas[areas > 0]
    result = assess_accuracy([names[int(v)] for v in samples.classes[keep]],
                             [names[int(v)] for v in mapped_values[keep]], mapped_area=areas.to_dict())
    how = (f"Reference sample: {len(samples.frame)} pixels of {reference.source} (independent of the training "
           f"data); estimates stratified by the mapped area of each class (Olofsson et al. 2014), areas in "
           f"{unit}. Pixels of one reference polygon are alike, so the intervals are optimistic.")
    return result, how, unit


# --- Stage 6: report ---------------------------------------------------------------------------------------


def report(class_map: str, assessment: Assessment, recipe: Recipe, model: TrainedModel, *,
           notes: list[str] | None = None) -> AssessmentPaths | None:
    """Write ``<stem>_confusion.csv``/``.png`` and ``<stem>_RESULTS.md`` beside the map
    (:func:`landclass_ui.report.write_assessment`); None when there is no accuracy to report.

    ``notes`` (lines on how the map was made: cloud mask, gap filling, regularization) become a section "How the
    map was made". With one model per region, band importance is given per region (a section "Band importance
    per region", :func:`landclass_ui.regional.region_importance`), not pooled."""
    if assessment.accuracy is None:
        return None
    regional = isinstance(model, RegionalModel)
    sections = []
    if notes:
        sections += ["## How the map was made", "", *(f"- {n}" for n in notes), ""]
    if regional:
        sections += ["## Band importance per region", "",
                     "One model per region; the region band itself is not a feature.", ""]
        for name, importance in region_importance(model).items():
            if importance is None:
                sections += [f"- region {name}: none (a classifier without band importance, or one class only)"]
            else:
                sections += [f"- region {name}: " + ", ".join(f"{b} {v:.1%}" for b, v in importance.items())]
        sections.append("")
    return write_assessment(class_map, assessment.accuracy, recipe=recipe, how=assessment.how,
                            area_unit=assessment.area_unit, importance=None if regional else feature_importance(model),
                            cross_validation=assessment.cross_validation, sections=sections)


# --- The whole run ------------------------------------------------------------------------------------------


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
    accuracy: AccuracyReport | None = None
    assessment: AssessmentPaths | None = None
    cross_validation: CrossValidation | None = None
    class_probability: str | None = None
    legend_files: tuple[str, ...] = ()  # <stem>.qml (QGIS), <stem>_colorFile.txt, <stem>_nomenclature.txt (iota2)
    regularization: str | None = None  # what the majority filter and the sieve changed
    areas_csv: str | None = None  # <stem>_areas.csv: class, pixels, hectares, share (+ adjusted, with a reference)


def run(recipe: Recipe, output: str, *, probability: bool = False, class_probabilities: bool = False,
        samples_out: str | None = None, recipe_out: str | None = None, progress: bool | None = None,
        block: int | None = None, log: Callable[[str], None] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        validation_ratio: float | None = None, reference: TrainingRef | None = None,
        reference_remap: dict | None = None, cv_folds: int | None = None, seed: int = 0,
        client=None, cancel=None, scale: float | None = None,
        max_file_bytes: int | None = export.MAX_FILE_BYTES) -> RunResult:
    """Run a recipe end to end: :func:`prepare`, :func:`hold_out`, :func:`landclass_ui.model.fit`,
    :func:`landclass_ui.export.write_classification`, :func:`assess`, :func:`report`.

    With ``recipe.regions`` (iota2's eco-regions), one model per region (:func:`fit_model`) classifies its own
    region and the map is their mosaic, pixels in no region left nodata (255); ``RunResult.model`` is then a
    :class:`~landclass_ui.regional.RegionalModel` (``.models``: region name -> model) and the messages say what
    each region was fitted on and which classes it lacks (its pixels never get them).

    Writes ``output`` (COG, uint8 class values, the legend's colour table, nodata 255), ``<stem>_legend.csv``
    beside it (``color,value,label``), and when asked ``<stem>_probability.tif`` (winning-class probability,
    0-100, uint8, nodata 255), ``<stem>_class_probability.tif`` (``class_probabilities``: one band per legend
    class, ``"<class> %"``, 0-100), the training pixel table as CSV (``samples_out``), the recipe as JSON
    (``recipe_out``), and always the class areas ``<stem>_areas.csv`` (:func:`landclass_ui.areas.write_areas`;
    with a reference sample, the Olofsson-adjusted areas and their 95 % intervals beside them).

    Accuracy (:mod:`landclass_ui.accuracy`), written as ``<stem>_confusion.csv``/``.png`` and
    ``<stem>_RESULTS.md``: ``validation_ratio`` holds out that share of the training polygons
    (:func:`hold_out`); ``reference`` (with ``reference_remap``) is an independent reference sample, which
    takes precedence for the report (:func:`assess`); ``cv_folds`` adds a spatial k-fold cross-validation.
    ``client`` (a ``distributed.Client``) classifies the windows on that Dask cluster; ``cancel`` (a
    ``threading.Event``) stops the run when set (:class:`~landclass_ui.errors.Cancelled`, nothing written).
    ``scale`` is the outputs' pixel size in metres, coarser than the image's (SEPAL's export scale; see
    :func:`landclass_ui.export.check_scale`); None: the image's pixels. Outputs larger than
    ``max_file_bytes`` are written as tiles plus a VRT (:func:`landclass_ui.export.write_classification`).

    Raises
    ------
    LandclassError
        Any input problem; nothing is left at ``output`` then.
    """
    start = time.perf_counter()
    say = log or (lambda m: None)
    prepared = prepare(recipe)
    export.check_scale(prepared.stack.grid, scale)  # before the model is fitted
    for m in prepared.messages:
        say(m)
    say("training pixels: " + ", ".join(f"{k} {v}" for k, v in prepared.samples.counts().items()))
    if samples_out:
        prepared.samples.to_csv(samples_out)
    ref = read_reference(reference, prepared, reference_remap) if reference is not None else None
    held = hold_out(prepared.samples, validation_ratio, seed=seed)
    for m in held.messages:
        say(m)
    majority, mmu = regularization_pixels(recipe.regularization, prepared.stack.grid)
    context = (f" (after holding out {validation_ratio:.0%} of the training polygons for validation: a lower "
               "validation ratio keeps more)") if validation_ratio else ""
    model = fit_model(prepared, held.learning, context=context)
    if isinstance(model, RegionalModel):
        for m in model.messages:
            say(m)
        say(f"{len(model.models)} {model.classifier} models (one per region) fitted in {model.fit_seconds:.2f} s on "
            f"{len(held.learning.frame)} pixels")
    else:
        say(f"{model.classifier} fitted in {model.fit_seconds:.2f} s on {len(held.learning.frame)} pixels")
    paths: OutputPaths = export.write_classification(
        output, prepared.stack, model, probability=probability, class_probabilities=class_probabilities,
        progress=progress, block=block or export.WINDOW, on_progress=on_progress, client=client, cancel=cancel,
        scale=scale, max_file_bytes=max_file_bytes, majority=majority, mmu=mmu)
    say(paths.stage_line(prepared.stack.grid.width * prepared.stack.grid.height))
    if paths.regularization:
        say("regularization: " + paths.regularization)
    result = assess(prepared, model, held, paths.classification, reference=ref, cv_folds=cv_folds, seed=seed)
    areas_csv = write_areas(paths.classification, prepared.legend, result.accuracy)
    for m in result.messages:
        say(m)
    if result.cross_validation is not None:
        say(result.cross_validation.summary())
    if result.accuracy is not None and (ref is not None or held.validation is not None):
        say(f"overall accuracy {result.accuracy.overall_accuracy:.3f} ± "
            f"{1.96 * result.accuracy.overall_accuracy_se:.3f} (95%), kappa {result.accuracy.kappa:.3f}")
    notes = [m for m in prepared.messages if m.startswith(("cloud mask", "time series"))]
    if paths.regularization:
        notes.append(f"regularization ({recipe.regularization.describe()}): {paths.regularization}")
    written = report(paths.classification, result, recipe, model, notes=notes)
    if recipe_out:
        recipe.save(recipe_out)
    return RunResult(
        classification=paths.classification, legend_csv=paths.legend_csv, probability=paths.probability,
        samples_csv=samples_out, recipe_json=recipe_out, model=model, prepared=prepared,
        messages=[*prepared.messages, *getattr(model, "messages", []), *result.messages],
        seconds=time.perf_counter() - start, accuracy=result.accuracy,
        assessment=written, cross_validation=result.cross_validation,
        class_probability=paths.class_probability, legend_files=paths.legend_files,
        regularization=paths.regularization, areas_csv=areas_csv)
