"""The recipe: everything needed to make a classification, as one JSON-serializable object.

A recipe holds a name, the images and their selected bands, the legend, the training data (files, or points
collected on the map), and the classifier with its parameters. It is the single source of truth: the command
line runs one (``landclass run recipe.json``), the dashboard edits one and saves it on every change
(:func:`atomic_write_text`, so a crash never leaves half a file).

JSON layout (``schema_version`` 1)::

    {
      "schema_version": 1,
      "name": "Classification_2026-11-22_10-31-05",
      "images": [{"path": "S2A_...SAFE", "bands": ["B02", "B03"], "resolution": null}],
      "legend": [{"value": 1, "name": "FARM", "color": "#94ff00"}, ...],      # or null: from the training data
      "training": [{"kind": "file", "path": "polygons.geojson", "class_field": "class", "layer": null,
                    "remap": {"village": "Built Up", "cloud": null},                 # optional
                    "filter": "confidence > 0.8", "x": "lon", "y": "lat"},           # optional (CSV)
                   {"kind": "points", "points": [{"x": 1.44, "y": 43.6, "class": 1}]},
                   {"kind": "points", "source": "sampled from map.tif ...", "points": [...]}],
      "classifier": {"name": "random-forest", "params": {"n_trees": 25}},
      "auxiliary": ["latitude",                                              # extra layers on the image grid
                    {"layer": "terrain", "path": "dem.tif", "bands": ["elevation", "slope"]},
                    {"layer": "water", "path": "occurrence.tif", "bands": null}],  # null: all bands
      "derived": {"pairwise": {"operations": ["nd"], "bands": ["B04", "B8A"]},  # bands: [] = all bands
                  "indices": ["ndvi", "ndwi"], "sensor": "sentinel-2",       # see landclass_ui.indices
                  "roles": {"red": "B04", "nir": "B8A"}},                    # roles by hand win over the sensor
      "cloud_mask": {"enabled": true, "snow": false, "file": null,           # SCL / QA_PIXEL, see cloudmask
                     "gap_fill": true},                                      # several dates: fill in time
      "regularization": {"majority": 5, "mmu": 0.5, "mmu_unit": "ha"},       # after classification, see regularize
      "regions": {"path": "ecoregions.gpkg", "field": "region", "layer": null}   # one model per region, see regions
    }

``derived`` is left out when it is empty, and a recipe without it loads with an empty one; ``cloud_mask`` is
left out when it is the default (on, snow kept, the quality layer found beside the image), ``regularization``
and ``regions`` when there are none.

Relative paths are resolved against the recipe file's folder.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._files import atomic_write_text
from .classifiers import DEFAULT_CLASSIFIER, parse_params
from .errors import RecipeError
from .legend import Legend
from .sensors import SENSOR_ALIASES

__all__ = ["Recipe", "ImageRef", "TrainingRef", "ClassifierRef", "DerivedRef", "PairwiseRef", "CloudMaskRef",
           "RegularizationRef", "RegionsRef", "SCHEMA_VERSION", "default_name"]

SCHEMA_VERSION = 1


def default_name(now: _dt.datetime | None = None) -> str:
    """SEPAL's default recipe name, ``Classification_<YYYY-MM-DD_HH-MM-SS>`` (local time)."""
    now = now or _dt.datetime.now()
    return "Classification_" + now.strftime("%Y-%m-%d_%H-%M-%S")


@dataclass
class ImageRef:
    """One image of the recipe: a path (raster file or ``.SAFE``), the bands to use (None: all/default),
    for a ``.SAFE``, the resolution in metres (None: finest where all bands exist), and, for a product whose
    scale landclass does not know (:mod:`landclass_ui.sensors`), the user's statement of it: ``reflectance =
    stored * scale + offset`` (e.g. ``scale`` 0.0001 for reflectance x 10000, 1 for a file in reflectance;
    None: as the reader finds it)."""

    path: str
    bands: list[str] | None = None
    resolution: float | None = None
    scale: float | None = None
    offset: float = 0.0


@dataclass
class TrainingRef:
    """One training data set: ``kind`` ``"file"`` (``path``, ``class_field``, ``layer``) or ``"points"``
    (``points``: ``[{"x": lon, "y": lat, "class": value}]`` in EPSG:4326, ``class`` a legend value).

    ``remap`` (files only) maps a class of the file to a legend class name, or to None to leave that class
    out, e.g. ``{"village": "Built Up", "cloud": None}``; classes it does not name are matched to the legend
    by name (see :func:`landclass_ui.training.read_training`).

    ``filter`` (files only): a row filter in pandas query syntax applied before anything else, e.g.
    ``confidence > 0.8 and editor != "bot"`` (:func:`landclass_ui.training.apply_filter`). ``x``/``y`` (CSV
    only): the longitude/latitude columns, ``geometry`` (CSV only): a GeoJSON/WKT column; None: detected.

    ``source`` (points only): where the points come from, e.g. ``"sampled from landcover.tif ..."`` or
    ``"recipe Forest_2020"``; None for the points collected on the map (the dashboard's first such set).

    The JSON holds ``filter``, ``x``, ``y``, ``geometry`` and ``source`` only when they are set."""

    kind: str = "file"
    path: str | None = None
    class_field: str | None = None
    layer: str | None = None
    points: list[dict] = field(default_factory=list)
    remap: dict[str, str | None] = field(default_factory=dict)
    filter: str | None = None
    x: str | None = None
    y: str | None = None
    geometry: str | None = None
    source: str | None = None

    #: Optional keys of the JSON, written only when set.
    OPTIONAL = ("filter", "x", "y", "geometry", "source")

    def to_dict(self) -> dict:
        """The JSON object of this set (``filter``, ``x``, ``y``, ``geometry``, ``source`` only when set)."""
        d = asdict(self)
        for key in self.OPTIONAL:
            if not d.get(key):
                d.pop(key, None)
        return d

    @classmethod
    def from_dict(cls, t: dict, resolve=lambda p: p) -> "TrainingRef":
        """A set from its JSON object; ``resolve`` turns a relative ``path`` into one the reader finds."""
        def text(key):
            v = t.get(key)
            return None if v is None or str(v).strip() == "" else str(v)

        return cls(
            kind=t.get("kind", "file"),
            path=resolve(t.get("path")),
            class_field=t.get("class_field"),
            layer=t.get("layer"),
            points=list(t.get("points") or []),
            remap={str(k): (None if v is None else str(v)) for k, v in (t.get("remap") or {}).items()},
            filter=text("filter"), x=text("x"), y=text("y"), geometry=text("geometry"), source=text("source"),
        )


@dataclass
class ClassifierRef:
    """Classifier name (see :data:`landclass_ui.classifiers.CLASSIFIERS`) and the parameters set by the user."""

    name: str = DEFAULT_CLASSIFIER
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class PairwiseRef:
    """Pairwise band operations (``nd``, ``ratio``, ``difference``) over ``bands`` (empty: all bands)."""

    operations: list[str] = field(default_factory=list)
    bands: list[str] = field(default_factory=list)


@dataclass
class DerivedRef:
    """Derived bands (:mod:`landclass_ui.indices`): pairwise operations and spectral indices from band roles.

    ``sensor`` (a name of :data:`landclass_ui.sensors.SENSORS`, or None: detected when unambiguous) fills the
    roles from band names; ``roles`` (role -> band name) given explicitly win."""

    pairwise: PairwiseRef = field(default_factory=PairwiseRef)
    indices: list[str] = field(default_factory=list)
    sensor: str | None = None
    roles: dict[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.pairwise.operations or self.indices)

    @classmethod
    def from_dict(cls, d: dict | None) -> "DerivedRef":
        d = d or {}
        pair = d.get("pairwise") or {}
        return cls(PairwiseRef([str(o) for o in pair.get("operations") or []],
                               [str(b) for b in pair.get("bands") or []]),
                   [str(i) for i in d.get("indices") or []],
                   SENSOR_ALIASES.get(d.get("sensor"), d.get("sensor")) or None,
                   {str(k): str(v) for k, v in (d.get("roles") or {}).items()})


@dataclass
class CloudMaskRef:
    """Cloud and shadow masking with the product's quality layer (:mod:`landclass_ui.cloudmask`): ``enabled``
    (on by default, as SEPAL's mosaics), ``snow`` (mask snow and ice too), ``file`` (an SCL or QA_PIXEL raster
    for band files whose layer is not found beside them; None: found beside the image), ``gap_fill`` (images of
    several dates: a masked pixel takes the linear interpolation in time of the nearest valid dates, iota2's
    default; off: it stays nodata)."""

    enabled: bool = True
    snow: bool = False
    file: str | None = None
    gap_fill: bool = True  # images of several dates: masked pixels filled in time (timeseries.gap_fill)

    @property
    def default(self) -> bool:
        return self.enabled and not self.snow and not self.file and self.gap_fill


@dataclass
class RegularizationRef:
    """Regularization of the class map after classification (:mod:`landclass_ui.regularize`, as iota2 and
    QGIS SCP offer): a ``majority`` (mode) filter of that odd window size in pixels (None: none), then a sieve to
    the minimum mapping unit ``mmu`` in ``mmu_unit`` (``"px"`` pixels or ``"ha"`` hectares; None: none)."""

    majority: int | None = None
    mmu: float | None = None
    mmu_unit: str = "px"

    @property
    def active(self) -> bool:
        return self.majority is not None or self.mmu is not None

    def validate(self) -> None:
        """Raises :class:`RecipeError` for a window that is not an odd whole number >= 3, a minimum mapping unit
        that is not a positive number, or a unit other than px or ha."""
        m = self.majority
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 3 or m % 2 == 0):
            raise RecipeError(f"the majority filter window must be an odd whole number of pixels >= 3 (3, 5, 7...), "
                              f"not {m!r}")
        if self.mmu is not None and (isinstance(self.mmu, bool) or not isinstance(self.mmu, (int, float))
                                     or not self.mmu > 0 or self.mmu == float("inf")):
            raise RecipeError(f"the minimum mapping unit must be a positive number, not {self.mmu!r}")
        if self.mmu_unit not in ("px", "ha"):
            raise RecipeError(f"the minimum mapping unit is in px (pixels) or ha (hectares), not {self.mmu_unit!r}")

    def describe(self) -> str:
        parts = [f"majority {self.majority}x{self.majority}"] if self.majority else []
        if self.mmu is not None:
            parts.append(f"minimum mapping unit {self.mmu:g} {self.mmu_unit}")
        return ", ".join(parts) or "none"


@dataclass
class RegionsRef:
    """Regions (eco-climatic zones) for one model per region, as iota2's ``regionPath``/``regionField``
    (iota2 documentation, "IOTA2 parameters", chain.regionPath and chain.regionField, and the "Multi regions"
    example: one model is trained on the training polygons under each region and classifies only that region;
    the maps are merged, and what lies in no region is not classified).

    ``path`` is a polygon file (GeoPackage, shapefile, GeoJSON; any CRS), ``field`` the attribute naming each
    polygon's region (text or integers; iota2's example calls it ``region``), ``layer`` the layer of a
    multi-layer file (None: the first). See :mod:`landclass_ui.regions` and :mod:`landclass_ui.regional`."""

    path: str
    field: str = "region"
    layer: str | None = None

    def validate(self) -> None:
        """Raises :class:`RecipeError` for an empty path or field, or values that are not text."""
        if not isinstance(self.path, str) or not self.path.strip():
            raise RecipeError("the regions entry has no file path; give the regions' polygon file")
        if not isinstance(self.field, str) or not self.field.strip():
            raise RecipeError(f"the regions file {self.path} needs the name of its region field, not {self.field!r}")
        if self.layer is not None and (not isinstance(self.layer, str) or not self.layer.strip()):
            raise RecipeError(f"the layer of the regions file {self.path} must be a layer name, not {self.layer!r}")


def _aux_entry(entry, resolve):
    """An ``auxiliary`` entry as stored: a layer name, or a dict (``layer``, ``path`` resolved, ``bands``)."""
    if isinstance(entry, dict):
        out = dict(entry)
        if out.get("path"):
            out["path"] = resolve(str(out["path"]))
        return out
    return str(entry)


@dataclass
class Recipe:
    """A classification recipe (see the module docstring for the JSON layout)."""

    name: str = field(default_factory=default_name)
    images: list[ImageRef] = field(default_factory=list)
    legend: list[dict] | None = None
    training: list[TrainingRef] = field(default_factory=list)
    classifier: ClassifierRef = field(default_factory=ClassifierRef)
    auxiliary: list[str | dict] = field(default_factory=list)  # see landclass_ui.auxiliary
    derived: DerivedRef = field(default_factory=DerivedRef)
    cloud_mask: CloudMaskRef = field(default_factory=CloudMaskRef)
    regularization: RegularizationRef = field(default_factory=RegularizationRef)
    regions: RegionsRef | None = None  # one model per region (iota2's eco-regions), see landclass_ui.regional
    schema_version: int = SCHEMA_VERSION

    # --- validation -------------------------------------------------------------------------------------

    def validate(self) -> None:
        """Check what can be checked without reading files.

        Raises
        ------
        RecipeError, LegendError, ClassifierError
        """
        if not self.images:
            raise RecipeError(f"recipe {self.name!r} has no image; add one")
        if not self.training:
            raise RecipeError(f"recipe {self.name!r} has no training data; add a file or points")
        for t in self.training:
            if t.kind not in ("file", "points"):
                raise RecipeError(f"unknown training data kind {t.kind!r} (expected 'file' or 'points')")
            if t.kind == "file" and not t.path:
                raise RecipeError("a training data file entry has no path")
        if self.legend is not None:
            Legend.from_list(self.legend)
        self.regularization.validate()
        if self.regions is not None:
            if not isinstance(self.regions, RegionsRef):
                raise RecipeError(f"the recipe's regions must be a RegionsRef (path, field, layer), not "
                                  f"{self.regions!r}")
            self.regions.validate()
        parse_params(self.classifier.name, self.classifier.params)

    def legend_object(self) -> Legend | None:
        return None if self.legend is None else Legend.from_list(self.legend)

    # --- JSON ---------------------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        d = asdict(self)
        d["training"] = [t.to_dict() for t in self.training]
        for image in d["images"]:  # a stated scale only when there is one
            if image["scale"] is None:
                del image["scale"], image["offset"]
        if self.derived.empty and not (self.derived.sensor or self.derived.roles):
            del d["derived"]  # no derived bands: the layout of recipes written before they existed
        if self.cloud_mask.default:
            del d["cloud_mask"]
        if not self.regularization.active:
            del d["regularization"]
        if self.regions is None:
            del d["regions"]
        return {"schema_version": d.pop("schema_version"), **d}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def save(self, path: str | os.PathLike) -> None:
        """Write the recipe as JSON, atomically."""
        atomic_write_text(path, self.to_json())

    @classmethod
    def from_dict(cls, d: dict, *, base: str | os.PathLike | None = None) -> "Recipe":
        """Build a recipe from its JSON dict; relative paths are resolved against ``base``.

        Raises
        ------
        RecipeError
            Unknown schema version or malformed sections.
        """
        if not isinstance(d, dict):
            raise RecipeError("a recipe must be a JSON object")
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            newer = isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION
            raise RecipeError(
                f"recipe schema version {version!r} is not supported (this landclass reads {SCHEMA_VERSION}); "
                + ("update landclass to open it" if newer else "it is not a landclass recipe, or a damaged one")
            )

        def resolve(p):
            if p is None or base is None or os.path.isabs(p):
                return p
            return os.path.normpath(os.path.join(base, p))

        section = "images"  # the section being read, for the message
        try:
            images = [ImageRef(resolve(i["path"]), i.get("bands"), i.get("resolution"),
                               None if i.get("scale") is None else float(i["scale"]), float(i.get("offset") or 0.0))
                      for i in d.get("images", [])]
            section = "training"
            training = [TrainingRef.from_dict(t, resolve) for t in d.get("training", [])]
            section = "classifier"
            clf = d.get("classifier") or {}
            classifier = ClassifierRef(clf.get("name", DEFAULT_CLASSIFIER), dict(clf.get("params") or {}))
            section = "cloud_mask"
            cm = d.get("cloud_mask") or {}
            cloud_mask = CloudMaskRef(bool(cm.get("enabled", True)), bool(cm.get("snow", False)),
                                      resolve(cm.get("file")) or None, bool(cm.get("gap_fill", True)))
            section = "regularization"
            reg = d.get("regularization") or {}
            regularization = RegularizationRef(reg.get("majority"), reg.get("mmu"), reg.get("mmu_unit") or "px")
            regions = d.get("regions")
            if regions is not None and not (isinstance(regions, dict) and isinstance(regions.get("path"), str)
                                            and isinstance(regions.get("field", ""), (str, type(None)))):
                raise RecipeError(f"malformed recipe: 'regions' must be an object with a text path, field and layer, "
                                  f"not {regions!r}")
            section = "auxiliary"
            auxiliary = [_aux_entry(a, resolve) for a in d.get("auxiliary") or []]
            section = "derived"
            derived = DerivedRef.from_dict(d.get("derived"))
            section = "regions"
            recipe = cls(
                name=str(d.get("name") or default_name()),
                images=images,
                legend=d.get("legend"),
                training=training,
                classifier=classifier,
                auxiliary=auxiliary,
                derived=derived,
                regularization=regularization,
                cloud_mask=cloud_mask,
                regions=None if regions is None else RegionsRef(
                    resolve(regions["path"]), regions.get("field") or "region", regions.get("layer") or None),
            )
        except KeyError as exc:
            raise RecipeError(f"malformed recipe: an entry of {section!r} has {exc} missing; fix the file (add it) or "
                              "save the recipe again from the dashboard") from None
        except (TypeError, AttributeError, ValueError, OverflowError) as exc:
            reason = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise RecipeError(f"malformed recipe: {section!r} holds a value of the wrong type ({reason}); fix the "
                              "file (see the layout in landclass_ui.recipe) or save the recipe again from the "
                              "dashboard") from None
        return recipe

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Recipe":
        """Read a recipe JSON file.

        Raises
        ------
        RecipeError
            File missing, empty, not JSON, or not a recipe (the message names the file).
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RecipeError(f"recipe file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise RecipeError(f"cannot read recipe {path}: {exc}") from None
        if not text.strip():
            raise RecipeError(f"recipe file {path} is empty")
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecipeError(f"recipe {path} is not valid JSON (line {exc.lineno}: {exc.msg}); fix the file or "
                              "open a copy saved earlier") from None
        except (RecursionError, ValueError) as exc:  # nesting too deep, an integer of more than 4300 digits
            raise RecipeError(f"recipe {path} is not a recipe: {(str(exc).splitlines() or ['nested too deeply'])[0]}"
                              "; fix the file or open a copy saved earlier") from None
        try:
            return cls.from_dict(d, base=path.parent.resolve())
        except RecipeError as exc:
            raise RecipeError(f"recipe {path}: {exc}") from None
