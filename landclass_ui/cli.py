"""The ``landclass`` command line.

::

    landclass classify IMAGE... --training FILE [--class-field class] -o map.tif [--probability]
                       [--training-filter EXPR] [--x-column COL --y-column COL] [--class-remap NAME=CLASS]
                       [--sample-map MAP --samples-per-class N] [--training-recipe recipe.json]
                       [--classifier NAME --param NAME=VALUE] [--indices ndvi,ndwi] [--pairwise nd]
                       [--regions regions.gpkg --region-field region]
    landclass run recipe.json -o map.tif
    landclass info IMAGE...
    landclass sample
    landclass demo -o sample_map.tif

Input errors print one line on stderr (``landclass: error: ...``) and exit with status 2, leaving no partial
output; ``--debug`` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import contextlib
import glob
import logging
import os
import re
import sys
import textwrap
import warnings
from types import SimpleNamespace

from . import __version__
from .errors import LandclassError, RecipeError

EXIT_INPUT_ERROR = 2
DEFAULT_SAMPLES_PER_CLASS = 1000  #: ``--samples-per-class`` default: SEPAL's for "Sample classification"
HELP_WIDTH = 79  #: line width of the ``classify --help`` tables (RawDescriptionHelpFormatter keeps their lines)


def _derived_vocabulary() -> SimpleNamespace:
    """What the derived-band flags accept: index names and the band roles each needs, pairwise operations (->
    band name prefix) and the sensors with tasseled-cap coefficients (:mod:`landclass_ui.indices`); sensors,
    their aliases and the band roles (:mod:`landclass_ui.sensors`). The one place this module imports them."""
    from . import indices, sensors

    return SimpleNamespace(
        index_names=indices.index_names(),
        index_roles={name: index.roles for name, index in indices.INDICES.items()},
        tasseled_cap=list(indices.TASSELED_CAP),
        operations={op: prefix for op, (prefix, _) in indices.OPERATIONS.items()},
        sensors=list(sensors.SENSORS),
        sensor_aliases=dict(sensors.SENSOR_ALIASES),
        roles=list(sensors.ROLES),
        sensor_from_paths=sensors.sensor_from_paths,
    )


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of the description and epilog (the tables of ``classify --help``); an epilog given
    as a function is built only when the help is shown, so the other commands do not import what it lists."""

    def add_text(self, text):
        super().add_text(text() if callable(text) else text)


def _split_list(values, *, lower: bool = False) -> list[str]:
    """``["ndvi,ndwi", "nbr"]`` (repeated comma-separated options) -> ``["ndvi", "ndwi", "nbr"]``, duplicates
    dropped, order kept; ``lower`` lower-cases the names first."""
    items = [v.strip().lower() if lower else v.strip() for value in values or [] for v in str(value).split(",")]
    return list(dict.fromkeys(v for v in items if v))


def _param_default(param) -> str:
    """A parameter default as it is written on the command line (``--param name=value``)."""
    if param.default is None:
        return "none"
    if isinstance(param.default, bool):
        return str(param.default).lower()
    return str(param.default)


def _param_range(param) -> str:
    """The valid values of a parameter as ``--help`` shows them: ``[1..5000]``, ``[>=1]``, ``[a|b]``."""
    if param.choices:
        return "[" + "|".join(param.choices) + "]"
    lo, hi = param.minimum, param.maximum
    if lo is not None and hi is not None:
        return f"[{lo:g}..{hi:g}]"
    if lo is not None or hi is not None:
        return f"[>={lo:g}]" if lo is not None else f"[<={hi:g}]"
    return ""


def _wrap(head: str, text: str, column: int) -> list[str]:
    """``text`` wrapped to :data:`HELP_WIDTH` after ``head`` padded to ``column`` (on a line of its own when it
    does not fit)."""
    lines = []
    if len(head) + 2 > column:
        lines, head = [head], ""
    return lines + textwrap.wrap(text, HELP_WIDTH, initial_indent=head.ljust(column),
                                 subsequent_indent=" " * column, break_on_hyphens=False)


def _classifier_epilog() -> str:
    """The classifiers and their parameters with defaults and valid values, from
    :data:`landclass_ui.classifiers.CLASSIFIERS` (so ``--help`` cannot drift from the registry)."""
    from .classifiers import CLASSIFIERS, DEFAULT_CLASSIFIER

    lines = textwrap.wrap("classifiers (--classifier NAME) and their parameters (--param NAME=VALUE; the "
                          "default follows '=', 'none' where the parameter may be left unset):", HELP_WIDTH)
    for spec in CLASSIFIERS.values():
        notes = (["default"] if spec.name == DEFAULT_CLASSIFIER else []) + (
            [f"also {', '.join(spec.aliases)}"] if spec.aliases else [])
        lines += textwrap.wrap(f"{spec.name}: {spec.label}" + (f" ({'; '.join(notes)})" if notes else ""),
                               HELP_WIDTH, initial_indent="  ", subsequent_indent="      ", break_on_hyphens=False)
        for param in spec.params:
            lines += _wrap(f"    {param.name}={_param_default(param)}", f"{param.help} {_param_range(param)}", 30)
    return "\n".join(lines)


def _derived_epilog() -> str:
    """The choices of ``--indices``, ``--pairwise``, ``--sensor`` and ``--role`` (:func:`_derived_vocabulary`)."""
    v = _derived_vocabulary()
    indices = [f"{n} ({', '.join(v.index_roles[n])})" for n in v.index_names if n in v.index_roles]
    special = [n for n in v.index_names if n not in v.index_roles]  # tasseled cap: per-sensor coefficients
    if special:
        indices.append(f"{', '.join(special)} ({', '.join(v.tasseled_cap)} only)")
    aliases = [f"{alias} = {name}" for alias, name in v.sensor_aliases.items()]
    lines = textwrap.wrap("derived bands (the recipe's 'derived' section, computed per window from the image "
                          "bands):", HELP_WIDTH)
    lines += _wrap("  --indices", "spectral indices from band roles: " + ", ".join(indices), 17)
    lines += _wrap("  --pairwise", "pairwise operations over every pair b1 < b2 of the --pairwise-bands "
                                   "(default: all bands): "
                   + ", ".join(f"{op} ({prefix}_<b1>_<b2>)" for op, prefix in v.operations.items()), 17)
    lines += _wrap("  --sensor", "gives the band roles from the band names: " + ", ".join(v.sensors)
                   + (f" ({'; '.join(aliases)})" if aliases else "")
                   + "; default: the sensor the product names tell (LC08_..., S2A_MSIL2A_..., T31TCJ_...), "
                     "else Sentinel-2 band names such as B02, B8A", 17)
    lines += _wrap("  --role", "band roles by hand, e.g. --role nir=B8A (win over the sensor): "
                   + ", ".join(v.roles), 17)
    lines += ["", "example:",
              "  landclass classify LC08_*_SR_B[2-5].tif -t points.shp -o map.tif \\",
              "      --indices ndvi,ndwi --pairwise nd --pairwise-bands B4,B5 \\",
              "      --samples-out samples.csv --recipe-out recipe.json"]
    return "\n".join(lines)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", required=True, help="output class map (Cloud Optimized GeoTIFF)")
    p.add_argument("--probability", action="store_true",
                   help="also write <stem>_probability.tif (winning-class probability, 0-100)")
    p.add_argument("--class-probabilities", action="store_true",
                   help="also write <stem>_class_probability.tif (one band per class, '<class> %%', 0-100)")
    p.add_argument("--samples-out", metavar="CSV", help="write the training pixel table (bands + class) as CSV")
    p.add_argument("--recipe-out", metavar="JSON", help="write the recipe that was run as JSON")
    p.add_argument("--validation-ratio", type=float, metavar="R",
                   help="hold out this share of the training polygons for validation (e.g. 0.5; by polygon, "
                        "stratified by class) and write <stem>_RESULTS.md and the confusion matrix")
    p.add_argument("--reference", metavar="FILE",
                   help="independent reference sample (points/polygons) to assess the map with; area estimates "
                        "stratified by the mapped areas (Olofsson et al. 2014)")
    p.add_argument("--reference-field", help="class field of the reference file (default: class)")
    p.add_argument("--reference-remap", action="append", metavar="NAME=CLASS", default=[],
                   help="map a reference class name to a legend class, e.g. farmland=FARM (repeatable)")
    p.add_argument("--cv", type=int, metavar="K", help="spatial K-fold cross-validation of the training data")
    p.add_argument("--seed", type=int, default=0, help="seed of the validation split and folds (default 0)")
    p.add_argument("--pixel-size", type=float, metavar="M",
                   help="output pixel size in metres, coarser than the image's (SEPAL's export scale): classes "
                        "resampled by mode, probabilities by average (default: the image's pixels)")
    p.add_argument("--max-file-size", type=float, metavar="GB", default=4.0,
                   help="write an output larger than this (uncompressed, in GiB) as tiles <stem>-<row>-<col>.tif "
                        "plus a VRT <stem>.vrt that mosaics them, as SEPAL does (default 4)")
    p.add_argument("--block", type=int, help="prediction window size in pixels (default 1024)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="classify on a local Dask cluster of N worker processes (one thread each)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="classify on a running Dask cluster, e.g. tcp://HOST:8786; its workers must read the image "
                        "paths (shared disk, or /vsicurl/, /vsis3/ URLs) and have landclass installed")
    p.add_argument("-q", "--quiet", action="store_true", help="no messages or progress bar")
    p.add_argument("--debug", action="store_true", help="show tracebacks")


def _add_preset(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="recommended", choices=["recommended", "sepal"],
                   help="what the recipe starts from: recommended (default: NDVI and NDWI added when the bands "
                        "allow, a 3 x 3 majority filter; the most accurate setting of benchmarks/accuracy.py) or "
                        "sepal (SEPAL's defaults: the bands alone, no regularization); --indices, --pairwise, "
                        "--majority and --mmu override it")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="landclass", description="Supervised land-cover classification of satellite imagery."
    )
    parser.add_argument("--version", action="version", version=f"landclass {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("classify", help="classify images from training data",
                       description="Classify images from training polygons or points into a COG.",
                       epilog=lambda: _classifier_epilog() + "\n\n" + _derived_epilog(),
                       formatter_class=_HelpFormatter)
    c.add_argument("images", nargs="+", metavar="IMAGE",
                   help="raster file(s) (GeoTIFF/COG/VRT/JPEG2000, stacked in this order; a quoted pattern such as "
                        "'/data/LC08_*_SR_B*.tif' is expanded in sorted order) or a Sentinel-2 .SAFE")
    c.add_argument("-t", "--training", action="append", metavar="FILE", default=[],
                   help="training data: GeoJSON, shapefile, GeoPackage or CSV points (repeatable)")
    c.add_argument("--class-field", help="attribute holding the class (default: class)")
    c.add_argument("--layer", help="layer of a multi-layer training file (GeoPackage)")
    c.add_argument("--training-filter", metavar="EXPR",
                   help="keep only the training rows for which EXPR is true, in pandas query syntax, e.g. "
                        "'confidence > 0.8 and editor != \"bot\"' (applied to every --training file before "
                        "anything else; names with spaces in `backquotes`)")
    c.add_argument("--x-column", metavar="COL", help="CSV training files: longitude column, EPSG:4326 (default: "
                                                     "detected: XCoordinate, lon, x...)")
    c.add_argument("--y-column", metavar="COL", help="CSV training files: latitude column, EPSG:4326")
    c.add_argument("--geometry-column", metavar="COL",
                   help="CSV training files: a column of GeoJSON or WKT geometries in EPSG:4326 instead of X/Y "
                        "(default: detected, e.g. .geo or geometry)")
    c.add_argument("--class-remap", action="append", metavar="NAME=CLASS", default=[],
                   help="relabel a training class, e.g. village='Built Up'; NAME= (nothing after =) leaves that "
                        "class out (repeatable; applies to the --training files and --training-recipe data)")
    c.add_argument("--sample-map", metavar="FILE",
                   help="sample an existing classification map as training data (SEPAL's sample classification): "
                        "random points per class, labelled with the map's class (its legend: --legend, else "
                        "<stem>_legend.csv beside it, else its values)")
    c.add_argument("--samples-per-class", type=int, metavar="N",
                   help=f"with --sample-map: points per class (default {DEFAULT_SAMPLES_PER_CLASS}, as SEPAL)")
    c.add_argument("--sample-scale", type=float, metavar="M",
                   help="with --sample-map: metres between sampling cells (default: the map's pixels)")
    c.add_argument("--sample-band", type=int, metavar="N", help="with --sample-map: band of the classes (default 1)")
    c.add_argument("--sample-default", metavar="CLASS",
                   help="with --sample-map: sample map values that are no legend class as CLASS (default: ignored)")
    c.add_argument("--sample-seed", type=int, metavar="N", help="with --sample-map: seed of the points (default 0)")
    c.add_argument("--training-recipe", action="append", metavar="JSON", default=[],
                   help="use the training data (files and points) of another saved recipe (repeatable); its "
                        "classes are matched to the legend by name (--class-remap for the others)")
    c.add_argument("--legend", metavar="FILE",
                   help="legend: CSV (SEPAL's code,class,color or color,value,label; separated by , ; or tab), "
                        "a QGIS style .qml, or iota2's nomenclature.txt (its colorFile.txt beside it)")
    c.add_argument("--legend-columns", metavar="ROLES",
                   help="roles of the legend CSV's columns in file order: value, name, color (one hex column), r, g, "
                        "b, or - to skip a column, e.g. value,name,r,g,b for SEPAL's code,class,red,blue,green "
                        "example (default: guessed from the header and the content)")
    c.add_argument("--bands", help="comma-separated band names to use, e.g. B02,B03,B04,B8A")
    c.add_argument("--resolution", type=float, help="Sentinel-2 .SAFE resolution in m (10, 20 or 60)")
    c.add_argument("--scale", type=float, metavar="S",
                   help="reflectance = stored value x S (+ --offset) for images whose scale landclass does not "
                        "know, e.g. 0.0001 for reflectance x 10000 (needed by EVI, SAVI, NDFI, tasseled cap...)")
    c.add_argument("--offset", type=float, default=0.0, help="with --scale: reflectance offset (default 0)")
    c.add_argument("--cloud-mask", metavar="SCL_OR_QA_FILE",
                   help="cloud mask layer (Sentinel-2 SCL or Landsat QA_PIXEL raster) for band files whose layer is "
                        "not found beside them (default: the product's own, found beside the image)")
    c.add_argument("--no-cloud-mask", action="store_true",
                   help="keep clouds and shadows (default: SCL/QA_PIXEL clouds, cirrus and shadows are nodata)")
    c.add_argument("--mask-snow", action="store_true", help="mask snow and ice too (SCL 11, QA_PIXEL bit 5)")
    c.add_argument("--no-gap-fill", action="store_true",
                   help="images of several dates: leave masked pixels nodata (default: filled by linear "
                        "interpolation in time from the nearest valid dates, as iota2)")
    c.add_argument("--majority", type=int, metavar="N",
                   help="regularize the class map with a majority (mode) filter of N x N pixels (odd: 3, 5, 7...)")
    c.add_argument("--mmu", metavar="AREA",
                   help="then remove patches smaller than this minimum mapping unit (GDAL sieve), in pixels or "
                        "hectares: 12, 12px or 0.5ha")
    c.add_argument("--aux", action="append", metavar="LAYER", default=[],
                   help="auxiliary layer added to the bands (repeatable): latitude; terrain=DEM.tif (elevation, "
                        "slope, aspect, eastness, northness); water=OCCURRENCE.tif (every band of the file, e.g. "
                        "a JRC Global Surface Water tile)")
    c.add_argument("--regions", metavar="FILE",
                   help="regions (eco-climatic zones) polygon file, any CRS: one model per region, each fitted on "
                        "the training data inside its region and classifying only that region, as iota2's "
                        "regionPath; pixels in no region stay unclassified")
    c.add_argument("--region-field", metavar="FIELD",
                   help="attribute of --regions naming each polygon's region (default: region)")
    c.add_argument("--region-layer", metavar="LAYER", help="layer of a multi-layer --regions file (GeoPackage)")
    c.add_argument("--classifier", default="random-forest", metavar="NAME",
                   help="classifier (default random-forest; the classifiers are listed below)")
    c.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="classifier parameter, e.g. n_trees=50 (repeatable; parameters and defaults below)")
    c.add_argument("--indices", action="append", metavar="NAME[,NAME...]",
                   help="add spectral indices as bands, e.g. ndvi,ndwi (from band roles; listed below)")
    c.add_argument("--pairwise", action="append", metavar="OP[,OP...]",
                   help="add pairwise band operations as bands: nd (normalized difference), ratio, difference; "
                        "e.g. nd gives nd_B04_B8A = (B04 - B8A) / (B04 + B8A) for every pair of bands")
    c.add_argument("--pairwise-bands", action="append", metavar="BAND,BAND[,...]",
                   help="bands the pairwise operations combine, in this order (default: all bands)")
    c.add_argument("--sensor", metavar="SENSOR",
                   help="sensor whose band names give the band roles of the indices, e.g. sentinel-2 or "
                        "landsat-8-9 (listed below; default: from the product names)")
    c.add_argument("--role", action="append", metavar="ROLE=BAND", default=[],
                   help="band of a role by hand, e.g. nir=B8A (repeatable; wins over the sensor)")
    c.add_argument("--name", help="recipe name (default Classification_<timestamp>)")
    _add_preset(c)
    _add_run_options(c)

    r = sub.add_parser("run", help="run a saved recipe", description="Run a recipe JSON file.")
    r.add_argument("recipe", help="recipe JSON file")
    r.add_argument("--relocate", metavar="FOLDER",
                   help="the recipe's files moved: look for the missing ones under FOLDER (same sub-folders first, "
                        "then by name) and use them; the recipe file is not changed")
    _add_run_options(r)

    a = sub.add_parser("apply", help="apply a saved recipe's classifier to other images",
                       description="Fit a recipe's classifier on its own image and training data, and classify "
                                   "other images that have the same bands (SEPAL's apply to another image).")
    a.add_argument("recipe", help="recipe JSON file")
    a.add_argument("--relocate", metavar="FOLDER", help="the recipe's own files moved: look for them under FOLDER")
    a.add_argument("images", nargs="+", metavar="IMAGE", help="the images to classify, as the recipe's were given")
    a.add_argument("-o", "--output", required=True, help="output class map (Cloud Optimized GeoTIFF)")
    a.add_argument("--probability", action="store_true", help="also write <stem>_probability.tif (0-100)")
    a.add_argument("-q", "--quiet", action="store_true", help="no messages or progress bar")
    a.add_argument("--debug", action="store_true", help="show tracebacks")

    i = sub.add_parser("info", help="list the bands and grid of images")
    i.add_argument("images", nargs="+", metavar="IMAGE")
    i.add_argument("--resolution", type=float)
    i.add_argument("--debug", action="store_true")

    s = sub.add_parser("sample", help="print the paths of the bundled sample scene")
    s.add_argument("--debug", action="store_true")

    d = sub.add_parser("demo", help="classify the bundled sample scene from its training polygons",
                       description="Classify the bundled Sentinel-2 sample from its training polygons.")
    _add_preset(d)
    _add_run_options(d)
    d.set_defaults(output="sample_map.tif")
    for action in d._actions:
        if action.dest == "output":
            action.required = False
    return parser


def _recipe_from_classify(args):
    from .auxiliary import parse_cli as parse_aux_cli
    from .classifiers import parse_param_args, parse_params
    from .legend import Legend
    from .recipe import ClassifierRef, CloudMaskRef, Recipe, RegionsRef, RegularizationRef

    if args.legend_columns and not args.legend:
        raise RecipeError("--legend-columns needs --legend FILE")
    if args.cloud_mask and args.no_cloud_mask:
        raise RecipeError("give --cloud-mask FILE or --no-cloud-mask, not both")
    if (args.region_field or args.region_layer) and not args.regions:
        raise RecipeError("--region-field and --region-layer need --regions FILE (the regions' polygon file)")
    bands = [b.strip() for b in args.bands.split(",") if b.strip()] if args.bands else None
    params = parse_param_args(args.param)
    parse_params(args.classifier, params)  # fail early on a bad parameter
    from .classifiers import get_spec

    legend = Legend.read(args.legend, columns=args.legend_columns) if args.legend else None
    training, legend = _training_from_args(args, legend)
    recipe = Recipe(
        images=_image_refs(args),
        legend=legend.to_list() if legend is not None else None,
        training=training,
        classifier=ClassifierRef(get_spec(args.classifier).name, params),
        auxiliary=[parse_aux_cli(a) for a in args.aux],
        cloud_mask=CloudMaskRef(not args.no_cloud_mask, args.mask_snow, args.cloud_mask, not args.no_gap_fill),
        regularization=RegularizationRef(args.majority, *_parse_mmu(args.mmu)),
        regions=(RegionsRef(os.path.abspath(os.path.expanduser(args.regions)), args.region_field or "region",
                            args.region_layer) if args.regions else None),
    )
    recipe.regularization.validate()
    if recipe.regions is not None:
        recipe.regions.validate()
    derived = _derived_from_args(args)
    if derived is not None:
        recipe.derived = derived
    if args.name:
        recipe.name = args.name
    if bands:
        if len(recipe.images) == 1:
            recipe.images[0].bands = bands
        else:  # names refer to the combined stack: resolve per image
            from .imagery import open_image

            for ref in recipe.images:
                names = open_image(ref.path, resolution=ref.resolution, cloud_mask=False).band_names
                ref.bands = [b for b in bands if b in names] or []
            _check_bands(recipe, bands)
    from .pipeline import apply_preset

    # the preset fills what the flags leave unset: indices without --indices/--pairwise, the regularization
    # without --majority/--mmu
    args.notes = apply_preset(recipe, args.preset, indices=derived is None,
                              regularization=args.majority is None and args.mmu is None)
    return recipe


def parse_remap(items, flag: str = "--class-remap") -> dict[str, str | None]:
    """``["village=Built Up", "cloud="]`` -> ``{"village": "Built Up", "cloud": None}`` (``NAME=`` with nothing
    after ``=`` leaves the class out).

    Raises
    ------
    TrainingDataError
        An item without ``=`` or without a name.
    """
    from .errors import TrainingDataError

    out: dict[str, str | None] = {}
    for item in items or []:
        name, sep, target = str(item).partition("=")
        if not sep or not name.strip():
            raise TrainingDataError(f"{flag} {item!r} must look like NAME=CLASS, e.g. village='Built Up', or "
                                    "NAME= to leave a class out")
        out[name.strip()] = target.strip() or None
    return out


def _image_refs(args) -> list:
    """The images of ``classify`` as the recipe holds them (``--resolution``, ``--scale``, ``--offset``)."""
    from .recipe import ImageRef

    return [ImageRef(p, None, args.resolution, args.scale, args.offset) for p in args.images]


def _image_extent(args) -> tuple:
    """``(left, bottom, right, top, crs)`` of the images of ``classify``: the map is sampled there only."""
    from .pipeline import open_recipe_images
    from .recipe import Recipe

    grid = open_recipe_images(Recipe(images=_image_refs(args))).grid
    return (*grid.bounds, grid.crs)


def _training_from_args(args, legend):
    """The recipe's training sets from ``--training`` (with ``--class-field``, ``--layer``, ``--training-filter``,
    the CSV column flags and ``--class-remap``), ``--sample-map`` (points sampled from a classification map,
    :func:`landclass_ui.training.sample_class_map`) and ``--training-recipe`` (another recipe's training data,
    :func:`landclass_ui.training.recipe_training`), and the legend (``legend`` when given; else the sampled
    map's, else the first training recipe's; None: derived from the training data when the recipe runs).

    Raises
    ------
    TrainingDataError, LegendError, RecipeError, CRSError
        No training data at all, a sampling flag without --sample-map, column flags without a CSV file, a bad
        remap, or what the readers raise.
    """
    from .errors import TrainingDataError
    from .recipe import TrainingRef
    from .training import class_map_legend, is_csv, points_records, recipe_training, sample_class_map

    if not (args.training or args.sample_map or args.training_recipe):
        raise TrainingDataError("no training data: give --training FILE, --sample-map MAP or --training-recipe JSON")
    sampling = {"--samples-per-class": args.samples_per_class, "--sample-scale": args.sample_scale,
                "--sample-band": args.sample_band, "--sample-default": args.sample_default,
                "--sample-seed": args.sample_seed}
    given = [flag for flag, v in sampling.items() if v is not None]
    if given and not args.sample_map:
        raise TrainingDataError(f"{', '.join(given)} need(s) --sample-map FILE (the classification map to sample)")
    columns = {"x": args.x_column, "y": args.y_column, "geometry": args.geometry_column}
    csv_files = [t for t in args.training if is_csv(t)]
    if any(columns.values()) and not csv_files:
        raise TrainingDataError("--x-column, --y-column and --geometry-column are for CSV training files; "
                                "no --training file is a .csv")
    if (args.x_column is None) != (args.y_column is None):
        raise TrainingDataError("give both --x-column and --y-column (longitude and latitude columns)")
    remap = parse_remap(args.class_remap)
    training = [TrainingRef("file", path=t, class_field=args.class_field, layer=args.layer, remap=dict(remap),
                            filter=args.training_filter, **(columns if is_csv(t) else {}))
                for t in args.training]
    if args.sample_map:
        band = 1 if args.sample_band is None else args.sample_band
        if legend is None:
            legend = class_map_legend(args.sample_map, band)
        per_class = DEFAULT_SAMPLES_PER_CLASS if args.samples_per_class is None else args.samples_per_class
        if per_class < 1:
            raise TrainingDataError(f"--samples-per-class must be at least 1, not {per_class}")
        seed = args.sample_seed or 0
        frame = sample_class_map(args.sample_map, legend, per_class=per_class, scale=args.sample_scale, band=band,
                                 default_class=args.sample_default,
                                 unknown="default" if args.sample_default else "ignore", seed=seed,
                                 within=_image_extent(args))
        if not args.quiet:
            for m in frame.attrs["messages"]:
                print(f"landclass: {m}", file=sys.stderr)
            print("landclass: sampled " + ", ".join(f"{r['class']} {r['sampled']}" for r in frame.attrs["counts"])
                  + f" point(s) from {os.path.basename(args.sample_map)}", file=sys.stderr)
        scale = f"scale {args.sample_scale:g} m" if args.sample_scale else "map pixels"
        training.append(TrainingRef("points", points=points_records(frame),
                                    source=f"sampled from {os.path.basename(args.sample_map)} (band {band}, {scale}, "
                                           f"{per_class} per class, seed {seed})"))
    for path in args.training_recipe:
        imported = recipe_training(path)
        if legend is None:
            legend = imported.legend
            if legend is None or not all(legend.contains(c) for c in imported.classes):
                from .legend import Legend

                legend = Legend.from_labels(imported.classes)
        training.extend(imported.adopt(legend, remap))
    return training, legend


def _parse_mmu(text: str | None) -> tuple[float | None, str]:
    """``"12"``/``"12px"`` -> ``(12.0, "px")``, ``"0.5ha"`` -> ``(0.5, "ha")``, None -> ``(None, "px")``."""
    if text is None:
        return None, "px"
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[-+]?\d+)?)\s*(px|ha)?\s*", text, re.IGNORECASE)
    if not match:
        raise RecipeError(f"--mmu must be a number of pixels or hectares, e.g. 12, 12px or 0.5ha, not {text!r}")
    return float(match.group(1)), (match.group(2) or "px").lower()


def _derived_from_args(args):
    """The recipe's ``derived`` section (:class:`landclass_ui.recipe.DerivedRef`) from ``--indices``,
    ``--pairwise``, ``--pairwise-bands``, ``--sensor`` and ``--role``, as the dashboard's IMG panel fills it;
    None when none of them is given (the recipe then has no ``derived`` section).

    The sensor (an alias such as ``landsat-5-7`` is stored by its name) defaults to the one the image product
    names tell (``LC08_...``: landsat-8-9), as when the dashboard opens an image; with none, the band roles come
    from Sentinel-2 band names when there are (:func:`landclass_ui.sensors.resolve_roles`).

    Raises
    ------
    ImageError
        An unknown index, operation, sensor or role (the message lists the valid ones), a malformed ``--role``,
        or ``--pairwise-bands`` without ``--pairwise``.
    """
    from .errors import ImageError
    from .recipe import DerivedRef, PairwiseRef

    indices, operations = _split_list(args.indices, lower=True), _split_list(args.pairwise, lower=True)
    pair_bands = _split_list(args.pairwise_bands)
    if not (indices or operations or pair_bands or args.sensor or args.role):
        return None
    v = _derived_vocabulary()
    for name in indices:
        if name not in v.index_names:
            raise ImageError(f"unknown index {name!r} in --indices; choose from {', '.join(v.index_names)}")
    for op in operations:
        if op not in v.operations:
            raise ImageError(f"unknown band operation {op!r} in --pairwise; choose from {', '.join(v.operations)}")
    if pair_bands and not operations:
        raise ImageError(f"--pairwise-bands needs --pairwise with an operation ({', '.join(v.operations)})")
    sensor = args.sensor.strip().lower() if args.sensor else None
    if sensor:
        sensor = v.sensor_aliases.get(sensor, sensor)
        if sensor not in v.sensors:
            raise ImageError(f"unknown sensor {args.sensor!r} in --sensor; choose from {', '.join(v.sensors)}")
    roles = {}
    for item in args.role:
        role, sep, band = item.partition("=")
        role, band = role.strip().lower(), band.strip()
        if not sep or not band:
            raise ImageError(f"--role {item!r} must look like ROLE=BAND, e.g. nir=B8A")
        if role not in v.roles:
            raise ImageError(f"unknown band role {role!r} in --role; choose from {', '.join(v.roles)}")
        roles[role] = band
    return DerivedRef(pairwise=PairwiseRef(operations=operations, bands=pair_bands), indices=indices,
                      sensor=sensor or v.sensor_from_paths(args.images), roles=roles)


def _check_bands(recipe, bands):
    from .errors import ImageError

    found = [b for ref in recipe.images for b in ref.bands]
    missing = [b for b in bands if b not in found]
    if missing:
        raise ImageError(f"band(s) {', '.join(missing)} are in none of the images")
    for ref in recipe.images:
        if not ref.bands:
            raise ImageError(f"no band of {ref.path} is selected; drop the image or select one of its bands")


def _run(args, recipe) -> int:
    from .errors import TrainingDataError
    from .recipe import TrainingRef

    pending = list(getattr(args, "notes", []))  # the preset's notes, once the run has started (an error: one line)

    def log(message: str) -> None:
        if args.quiet:
            return
        while pending:
            print(f"landclass: {pending.pop(0)}", file=sys.stderr)
        print(f"landclass: {message}", file=sys.stderr)
    remap = {}
    for item in args.reference_remap:
        name, sep, target = item.partition("=")
        if not sep or not name.strip() or not target.strip():
            raise TrainingDataError(f"--reference-remap {item!r} must look like NAME=CLASS, e.g. farmland=FARM")
        remap[name.strip()] = target.strip()
    if args.validation_ratio is not None and not 0 < args.validation_ratio < 1:
        raise TrainingDataError(f"--validation-ratio must be between 0 and 1 (e.g. 0.5), not {args.validation_ratio}")
    if args.cv is not None and args.cv < 2:
        raise TrainingDataError(f"--cv needs at least 2 folds, not {args.cv}")
    reference = TrainingRef("file", path=args.reference, class_field=args.reference_field) if args.reference else None
    with _dask_client(args, log) as client:
        return _run_with(args, recipe, reference, remap, log, client)


@contextlib.contextmanager
def _dask_client(args, log):
    """The ``distributed.Client`` of ``--scheduler`` or of a local cluster of ``--workers``, or None."""

    if args.workers is None and not args.scheduler:
        yield None
        return
    if args.workers is not None and args.workers < 1:
        raise RecipeError(f"--workers needs at least 1 worker, not {args.workers}")
    from distributed import Client, LocalCluster

    if args.scheduler:
        try:
            client = Client(args.scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise RecipeError(f"cannot reach the Dask scheduler {args.scheduler} ({exc}); start one with "
                              "'dask scheduler' and 'dask worker ADDRESS', or use --workers N") from None
        with client:
            log(f"classifying on the Dask cluster at {args.scheduler} ({len(client.nthreads())} workers)")
            _warm_up(client)
            yield client
        return
    import dask

    # Dask's nannies give their workers MALLOC_TRIM_THRESHOLD_=65536, which also turns off glibc's dynamic mmap
    # threshold: every window's arrays (> 128 kB) are then mapped and unmapped page by page, and a worker classifies
    # ~1.7x slower than this process (measured: 121 windows of the 30 Mpx benchmark mosaic, 9.6 s against 5.7 s).
    # None unsets it (distributed.nanny._get_env_variables): the workers allocate as any Python process does.
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}), \
            LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                         silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        log(f"classifying on a local Dask cluster of {args.workers} worker(s)")
        _warm_up(client)
        yield client


def _warm_up(client) -> None:
    """The workers import what classifying needs while this process trains the model (not waited for)."""
    from distributed import fire_and_forget

    from .export import warm_up_worker

    fire_and_forget([client.submit(warm_up_worker, workers=[address], allow_other_workers=False, pure=False)
                     for address in client.nthreads()])


def _run_with(args, recipe, reference, remap, log, client) -> int:
    from .pipeline import run

    result = run(
        recipe,
        args.output,
        probability=args.probability,
        class_probabilities=args.class_probabilities,
        samples_out=args.samples_out,
        recipe_out=args.recipe_out,
        progress=False if args.quiet else None,
        block=args.block,
        log=log,
        validation_ratio=args.validation_ratio,
        reference=reference,
        reference_remap=remap,
        cv_folds=args.cv,
        seed=args.seed,
        client=client,
        scale=args.pixel_size,
        max_file_bytes=int(args.max_file_size * 1024 ** 3),
    )
    written = [result.classification, result.legend_csv, result.probability, result.class_probability,
               result.samples_csv, result.recipe_json, result.areas_csv, *result.legend_files]
    if result.assessment is not None:
        written += [result.assessment.results_md, result.assessment.confusion_png, result.assessment.confusion_csv]
    print(f"wrote {', '.join(w for w in written if w)} in {result.seconds:.1f} s")
    return 0


def _info(args) -> int:
    from .imagery import open_image

    stack = open_image(args.images, resolution=args.resolution)
    g = stack.grid
    print(f"grid: {g.width} x {g.height} px, pixel {g.res[0]:g} x {g.res[1]:g}, {g.crs.to_string()}, "
          f"bounds {tuple(round(v, 6) for v in g.bounds)}")
    for b in stack.bands:
        print(f"{b.name}\t{b.path} (band {b.index}, scale {b.scale:g}, offset {b.offset:g}, nodata {b.nodata})")
    if stack.masks:
        from .pipeline import mask_summary

        print(mask_summary(stack))
    for m in stack.messages:
        print(f"note: {m}")
    return 0


def _apply(args) -> int:
    from .pipeline import apply_recipe
    from .recipe import ImageRef

    notes: list[str] = []  # printed once the map is written: an error stays one line
    recipe = _load_recipe(args, notes)
    bands = [ref.bands for ref in recipe.images]
    images = [ImageRef(p, bands[i] if i < len(bands) and len(bands) == len(args.images) else None)
              for i, p in enumerate(args.images)]
    paths = apply_recipe(recipe, images, args.output, probability=args.probability, log=notes.append,
                         progress=None if not args.quiet else False)
    for note in notes if not args.quiet else []:
        print(f"landclass: {note}", file=sys.stderr)
    written = [paths.classification, paths.legend_csv, paths.probability, *paths.legend_files]
    print(f"wrote {', '.join(w for w in written if w)}")
    return 0


def _load_recipe(args, notes: list[str]):
    """The recipe file of ``run``/``apply``, its missing files looked for under ``--relocate`` (what was found is
    added to ``notes``).

    Raises
    ------
    RecipeError
        Unreadable recipe, or files still missing (the line says to use ``--relocate``).
    """
    from .errors import RecipeError
    from .recipe import Recipe
    from .relocate import missing_files, missing_message, relocate

    recipe = Recipe.load(args.recipe)
    if args.relocate:
        moved = relocate(recipe, args.relocate)
        if moved.found:
            notes.append(f"--relocate: {moved.message(args.relocate)}: "
                         + ", ".join(f"{old} -> {new}" for old, new in moved.found.items()))
    missing = missing_files(recipe)
    if missing:
        how = ("give the folder they are in now with --relocate FOLDER" if not args.relocate else
               f"they are not under {args.relocate}: give the folder they are in now with --relocate FOLDER")
        raise RecipeError(missing_message(missing, how=how))
    return recipe


def _demo_recipe(args):
    from .pipeline import apply_preset
    from .recipe import ImageRef, Recipe, TrainingRef
    from .sample import sample_paths

    s = sample_paths()
    recipe = Recipe(name="Sample_T31TCJ_2022-11-16", images=[ImageRef(s.safe)],
                    training=[TrainingRef("file", s.polygons, s.class_field)])
    args.notes = apply_preset(recipe, args.preset)
    return recipe


def _sample(args) -> int:
    from .sample import sample_paths

    s = sample_paths()
    print(f"image: {s.safe}\ntraining: {s.polygons}\nclass field: {s.class_field}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``landclass`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    if not debug:
        warnings.simplefilter("ignore")
    try:
        if getattr(args, "images", None):  # a pattern, as the dashboard takes it (Windows' shells do not expand)
            from .imagery import expand_paths

            pattern = [glob.has_magic(text) and not os.path.exists(text) for text in args.images]
            args.images = [p for text, is_pattern in zip(args.images, pattern)
                           for p in (expand_paths(text) if is_pattern else [text])]
        if args.command in ("classify", "run", "apply", "demo"):  # a whole scene: windows' memory reused
            from ._allocator import keep_freed_memory

            keep_freed_memory()
        if args.command == "classify":
            return _run(args, _recipe_from_classify(args))
        if args.command == "run":
            args.notes = []
            return _run(args, _load_recipe(args, args.notes))
        if args.command == "apply":
            return _apply(args)
        if args.command == "info":
            return _info(args)
        if args.command == "demo":
            return _run(args, _demo_recipe(args))
        return _sample(args)
    except LandclassError as exc:
        if debug:
            raise
        print(f"landclass: error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        print("landclass: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected failure still gets one line
        if debug:
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        print(f"landclass: internal error: {type(exc).__name__}: {first} (rerun with --debug for the "
              "traceback and report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
