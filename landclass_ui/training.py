"""Training data: read labelled points and polygons, and sample the image's pixels under them.

* Vector files (GeoJSON, shapefile, GeoPackage, anything GDAL/OGR reads) in any CRS, through geopandas.
* CSV points with X/Y columns in EPSG:4326 (longitude/latitude, degrees), the column names SEPAL
  auto-detects among them (``XCoordinate,YCoordinate,class``; ``lon,lat``; ``center_lon,center_lat``;
  ``location_x,location_y``), or a geometry column of GeoJSON (SEPAL's and Earth Engine's ``.geo``) or WKT;
  the columns may also be named (:func:`csv_layout` says what is detected).
* A row filter in pandas query syntax on any file, applied before anything else (:func:`apply_filter`:
  SEPAL's "row filter expression").
* Points collected on the map, kept in the recipe as ``{"x": lon, "y": lat, "class": value}``; points sampled
  from an existing classification map (:func:`sample_class_map`, SEPAL's "Sample classification"); the
  training sets of another saved recipe (:func:`recipe_training`).

After an import, :func:`summarize_training` counts per class the features and those outside the image, on
nodata or without a pixel centre inside: what is not used is reported, never dropped silently (the same
reasons are in :attr:`SampleTable.messages`).

Class labels may be integers or names. Names are matched case-insensitively, ignoring surrounding spaces
(``FARM``, ``farm `` and ``Farm`` are one class; :func:`landclass_ui.legend.normalize_name`).

Polygons are rasterized onto the image grid (every pixel whose centre falls inside: GDAL's default rule);
points take the pixel they fall in. Each feature keeps its own ``group`` id so that later validation can split
by polygon, never by pixel.
"""
from __future__ import annotations

import ast
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ._files import atomic_write_text
from .errors import CRSError, LegendError, NoOverlapError, TrainingDataError
from .imagery import ImageStack
from .legend import Legend, normalize_name

__all__ = [
    "read_training",
    "read_ref",
    "apply_filter",
    "csv_layout",
    "CsvLayout",
    "check_overlap",
    "check_usable",
    "apply_remap",
    "points_frame",
    "extract_samples",
    "SampleTable",
    "summarize_training",
    "summary_text",
    "sample_class_map",
    "class_map_legend",
    "class_map_values",
    "points_records",
    "recipe_training",
    "RecipeTraining",
    "XY_COLUMN_PAIRS",
]

#: X/Y column pairs recognised in CSV files (case-insensitive), in order of preference (SEPAL's list plus
#: common spellings). Values are longitude/latitude in EPSG:4326.
XY_COLUMN_PAIRS = (
    ("xcoordinate", "ycoordinate"),
    ("x", "y"),
    ("lon", "lat"),
    ("longitude", "latitude"),
    ("lng", "lat"),
    ("long", "lat"),
    ("center_lon", "center_lat"),
    ("location_x", "location_y"),
)

#: Class columns tried when none is named.
DEFAULT_CLASS_FIELDS = ("class", "land_use_category", "label", "classname", "class_name")

#: Geometry columns recognised in CSV files (case-insensitive), GeoJSON (SEPAL's and Earth Engine's ``.geo``) or
#: WKT, in EPSG:4326; failing these names, a text column whose first value is GeoJSON or WKT.
GEOMETRY_COLUMNS = (".geo", "geometry", "geom", "the_geom", "wkt", "geojson")

_WKT = re.compile(r"^\s*(MULTI)?(POINT|POLYGON|LINESTRING)\s*(Z\s*|M\s*|ZM\s*)?(\(|EMPTY)", re.IGNORECASE)


def read_training(
    path: str | os.PathLike,
    class_field: str | None = None,
    *,
    crs=None,
    layer: str | None = None,
    remap: dict[str, str | None] | None = None,
    filter: str | None = None,
    x: str | None = None,
    y: str | None = None,
    geometry: str | None = None,
):
    """Read labelled features from a vector or CSV file.

    Parameters
    ----------
    path : path
        GeoJSON, shapefile, GeoPackage (any OGR format) or CSV (X/Y in EPSG:4326, see :data:`XY_COLUMN_PAIRS`,
        or a GeoJSON/WKT geometry column, see :data:`GEOMETRY_COLUMNS`).
    class_field : str, optional
        Column holding the class (integer value or name). Default: the first of
        :data:`DEFAULT_CLASS_FIELDS` present.
    crs : optional
        Reproject the features to this CRS (the image's), anything pyproj understands.
    layer : str, optional
        Layer of a multi-layer source (GeoPackage).
    remap : dict, optional
        File class -> the class to use instead (a legend name), or None to leave the class out. Keys are
        matched like legend names (ignoring case and surrounding spaces). ``attrs["messages"]`` says how many
        features were left out.
    filter : str, optional
        Row filter in pandas query syntax (SEPAL's "row filter expression"), applied to the file's rows before
        anything else, e.g. ``confidence > 0.8 and editor != "bot"``; names with spaces in backquotes
        (:func:`apply_filter`). ``attrs["messages"]`` says how many rows it kept.
    x, y : str, optional
        CSV only: the longitude/latitude columns (EPSG:4326 degrees), matched ignoring case. Default: detected
        (:func:`csv_layout`).
    geometry : str, optional
        CSV only: a column of GeoJSON or WKT geometries in EPSG:4326 instead of X/Y. Default: detected.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``label`` (the class as read, stripped text), ``group`` (0-based id of each polygon or point:
        multi-part features are split into their parts), ``geometry``, and the file's other columns. Rows
        with an empty class or geometry are dropped (``attrs["messages"]`` says how many).

    Raises
    ------
    TrainingDataError
        Missing or unreadable file, unknown class field or coordinate column (the message lists the columns),
        an invalid filter, no features (or none the filter keeps), X/Y/geometry columns for a vector file.
    CRSError
        A vector file without a CRS (e.g. a shapefile without ``.prj``) or with one that cannot be read (a damaged
        ``.prj``), or a CRS that cannot be transformed to ``crs``.
    """
    import geopandas as gpd

    path = str(path)
    if not os.path.exists(path):
        raise TrainingDataError(f"training data file not found: {path}; check the path and the file name")
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise TrainingDataError(f"training data file {path} is empty (0 bytes); choose the file that holds the "
                                "polygons or points, or save it again")
    if is_csv(path):
        frame = _read_csv_points(path, x=x, y=y, geometry=geometry, filter=filter)
    else:
        if x or y or geometry:
            raise TrainingDataError(f"X/Y or geometry columns are for CSV files; {Path(path).name} is a vector file "
                                    "whose geometries are used")
        try:
            frame = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
        except Exception as exc:  # pyogrio raises DataSourceError and friends
            from pyogrio.errors import CRSError as OgrCRSError
            from pyproj.exceptions import CRSError as ProjCRSError

            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if isinstance(exc, (OgrCRSError, ProjCRSError)):  # the CRS definition (a shapefile's .prj) is unreadable
                raise CRSError(
                    f"the coordinate reference system of training data {path} cannot be read ({reason}); a "
                    f"shapefile's .prj file may be damaged: replace it, or set the CRS, e.g. "
                    f"`ogr2ogr -a_srs EPSG:4326 fixed.gpkg {path}`"
                ) from None
            known = Path(path).suffix.lower() in (".gpkg", ".shp", ".geojson", ".json", ".kml", ".gml", ".fgb")
            raise TrainingDataError(
                f"cannot read training data {path}: {reason}; "
                + ("the file may be damaged or truncated: save or export it again (GeoJSON, shapefile, GeoPackage "
                   "or CSV)" if known else "expected GeoJSON, shapefile, GeoPackage or CSV")
            ) from None
        if frame.crs is None:
            raise CRSError(
                f"training data {path} has no CRS (a shapefile needs its .prj file); set one, e.g. "
                f"`ogr2ogr -a_srs EPSG:4326 fixed.gpkg {path}`"
            )
        if len(frame) and filter:
            frame = apply_filter(frame, filter, source=path)
    if len(frame) == 0:
        raise TrainingDataError(f"training data {path} holds no features; choose a file with labelled polygons or "
                                "points (in GIS, check that they were saved)")
    notes = list(frame.attrs.get("messages", []))
    field_name = _find_class_field(frame, class_field, path)
    out = _tidy(frame, field_name, crs, source=path)
    out.attrs["messages"] = notes + out.attrs["messages"]
    return apply_remap(out, remap)


def read_ref(ref, *, crs=None):
    """The features of one training set of a recipe (:class:`landclass_ui.recipe.TrainingRef`): a file read
    with its class field, layer, remap, filter and coordinate columns (:func:`read_training`), or a set of
    points (:func:`points_frame`). Reprojected to ``crs`` when given.

    Raises what :func:`read_training` and :func:`points_frame` raise.
    """
    if ref.kind == "points":
        frame = points_frame(ref.points, crs=crs)
        if ref.source:
            frame.attrs["source"] = ref.source
        return frame
    return read_training(ref.path, ref.class_field, crs=crs, layer=ref.layer, remap=ref.remap, filter=ref.filter,
                         x=ref.x, y=ref.y, geometry=ref.geometry)


def is_csv(path: str | os.PathLike) -> bool:
    """True for a CSV/text table of points (``.csv``, ``.txt``), read by :func:`read_training` without OGR."""
    return str(path).lower().endswith((".csv", ".txt"))


#: Methods a row filter may call on a column (pandas ``.str`` accessor and Series methods); nothing else.
FILTER_METHODS = frozenset({"str", "startswith", "endswith", "contains", "lower", "upper", "strip", "len", "isin",
                            "isna", "notna", "between", "abs"})
_FILTER_NODES = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd, ast.Invert,
                 ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod, ast.FloorDiv, ast.Pow, ast.BitAnd,
                 ast.BitOr, ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
                 ast.Name, ast.Load, ast.Constant, ast.List, ast.Tuple, ast.Attribute, ast.Call, ast.keyword)


def _check_filter(text: str, name: str, hint: str) -> None:
    """Refuse a row filter that is more than a condition on columns: pandas' python engine resolves attributes
    and calls methods, so ``col.__class__.__init__.__globals__`` would reach Python's internals from a recipe
    file. Allowed: column names, constants, comparisons, ``and``/``or``/``not``, arithmetic, lists, and the
    methods in :data:`FILTER_METHODS`; no name or attribute starting with ``_``.

    Raises
    ------
    TrainingDataError
        Anything else, or a syntax error.
    """
    cleaned = re.sub(r"`[^`]*`", "backquoted_column", text)  # pandas' backquoted column names
    try:
        tree = ast.parse(cleaned, mode="eval")
    except SyntaxError:
        raise TrainingDataError(f"filter {text!r} of {name} is not a valid expression ({hint})") from None
    for node in ast.walk(tree):
        bad = None
        if not isinstance(node, _FILTER_NODES):
            bad = type(node).__name__
        elif isinstance(node, ast.Name) and node.id.startswith("_"):
            bad = node.id
        elif isinstance(node, ast.Attribute) and node.attr not in FILTER_METHODS:
            bad = "." + node.attr
        elif isinstance(node, ast.Call) and not (isinstance(node.func, ast.Attribute)
                                                 and node.func.attr in FILTER_METHODS):
            bad = "a call"
        if bad is not None:
            raise TrainingDataError(f"filter {text!r} of {name} uses {bad}, which a row filter may not; use "
                                    f"comparisons of columns with values and and/or/not, and the methods "
                                    f"{', '.join(sorted(FILTER_METHODS - {'str'}))} ({hint})")


def apply_filter(table, expression: str, *, source: str = "the training data"):
    """The rows of ``table`` (a DataFrame or GeoDataFrame) for which ``expression`` is true.

    ``expression`` uses pandas query syntax (:meth:`pandas.DataFrame.eval`, python engine, no access to
    variables): comparisons (``confidence > 0.8``), ``and``/``or``/``not``, ``in`` lists (``editor in ["a",
    "b"]``), string methods (``editor.str.startswith("b")``); column names with spaces in backquotes. It plays
    the part of SEPAL's "row filter expression" of CSV training data (SEPAL documentation, Classification
    recipe, "CSV"). Rows where it is missing (NaN compares false) are left out. ``attrs["messages"]`` of the
    result says how many rows were kept.

    Raises
    ------
    TrainingDataError
        A syntax error, an unknown column, a type error (text compared to a number), an expression that is not a
        condition (true or false per row), or one that keeps no row; one line naming the columns.
    """
    name = Path(str(source)).name
    text = str(expression or "").strip()
    columns = ", ".join(str(c) for c in table.columns if c != "geometry")
    hint = f"columns: {columns}; pandas query syntax, e.g. confidence > 0.8 and editor != \"bot\""
    if not text:
        return table
    _check_filter(text, name, hint)  # data, never code: only comparisons of columns and constants
    try:
        kept = table.eval(text, engine="python", local_dict={}, global_dict={})
    except SyntaxError:
        raise TrainingDataError(f"filter {text!r} of {name} is not a valid expression ({hint})") from None
    except Exception as exc:  # UndefinedVariableError, TypeError, ValueError...: a one-line message
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        if isinstance(exc, NameError):
            reason = reason.replace("is not defined", "is not a column").replace("local variable ", "variable ")
        raise TrainingDataError(f"filter {text!r} of {name} cannot be applied: {reason} ({hint})") from None
    if not isinstance(kept, pd.Series) or len(kept) != len(table) or not pd.api.types.is_bool_dtype(kept.dtype):
        raise TrainingDataError(f"filter {text!r} of {name} is not a condition (true or false for each row), e.g. "
                                f"confidence > 0.8 ({hint})")
    kept = kept.fillna(False).to_numpy(dtype=bool)
    if not kept.any():
        raise TrainingDataError(f"filter {text!r} keeps none of the {len(table)} row(s) of {name} ({hint})")
    attrs = dict(table.attrs)
    out = table[kept]
    out.attrs = {**attrs, "messages": [*attrs.get("messages", []),
                                       f"filter {text!r} kept {int(kept.sum())} of {len(table)} row(s) of {name}"]}
    return out


def apply_remap(frame, remap: dict[str, str | None] | None):
    """Relabel (``label`` column) the features of a frame from :func:`read_training`: ``remap`` maps a class
    (matched ignoring case and surrounding spaces) to another class name, or to None to drop its features.

    Raises
    ------
    TrainingDataError
        When nothing is left.
    """
    if not remap:
        return frame
    table = {normalize_name(k): v for k, v in remap.items()}
    keys = frame["label"].map(normalize_name)
    mapped = [table.get(k, label) if k in table else label for k, label in zip(keys, frame["label"])]
    drop = [m is None for m in mapped]
    attrs = dict(frame.attrs)
    out = frame.copy()
    out["label"] = [str(m).strip() if m is not None else "" for m in mapped]
    out = out[[not d for d in drop]]
    out.attrs = attrs
    n = sum(drop)
    messages = list(attrs.get("messages", []))
    if n:
        messages.append(f"{n} feature(s) of {attrs.get('source', 'the training data')} left out "
                        "(classes set to ignore)")
    unused = [k for k in remap if normalize_name(k) not in set(keys)]
    if unused:  # a typo, or a class of another file (one remap may serve several files)
        found = ", ".join(sorted(set(frame["label"])))
        messages.append(f"class(es) {', '.join(repr(str(k)) for k in unused)} to remap are not in "
                        f"{attrs.get('source', 'the training data')} (classes: {found})")
    out.attrs["messages"] = messages
    if len(out) == 0:
        raise TrainingDataError(f"every class of {attrs.get('source', 'the training data')} is set to ignore; "
                                "map at least one to a legend class")
    return out


def points_frame(points: Sequence[dict], *, crs=None):
    """Points collected on the map, ``[{"x": lon, "y": lat, "class": value_or_name}, ...]`` in EPSG:4326,
    as a GeoDataFrame like :func:`read_training` returns (reprojected to ``crs`` when given)."""
    import geopandas as gpd

    if not points:
        raise TrainingDataError("no training points yet; add points of at least two classes")
    table = pd.DataFrame(list(points))
    frame = gpd.GeoDataFrame(
        table.drop(columns=["x", "y"]),
        geometry=gpd.points_from_xy(table["x"].astype(float), table["y"].astype(float)),
        crs="EPSG:4326",
    )
    return _tidy(frame, "class", crs, source="collected points")


@dataclass(frozen=True)
class CsvLayout:
    """The columns of a CSV of training points and the ones :func:`read_training` uses by default.

    ``columns`` (all, as in the file), ``x``/``y`` (longitude/latitude columns found, or None), ``geometry`` (a
    GeoJSON/WKT column found, or None; it wins over X/Y), ``class_field`` (the first of
    :data:`DEFAULT_CLASS_FIELDS` present, or None), ``rows`` (number of data rows)."""

    columns: list[str]
    x: str | None
    y: str | None
    geometry: str | None
    class_field: str | None
    rows: int


def _read_table(path: str) -> pd.DataFrame:
    """The CSV as a table, its header naming every column: a row with more cells than the header is an error,
    never a shift of the columns (pandas would take the extra first cells for an index, or drop the last ones)."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(path, skipinitialspace=True, index_col=False)
    except pd.errors.ParserWarning:
        raise TrainingDataError(f"cannot read CSV {path}: a row has more cells than the header has columns; fix the "
                                "row, or name every column in the header") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise TrainingDataError(f"cannot read CSV {path}: {(str(exc).splitlines() or [type(exc).__name__])[0]}"
                                ) from None


def _looks_like_geometry(value) -> bool:
    text = str(value).strip()
    return (text.startswith("{") and '"type"' in text) or bool(_WKT.match(text))


def _detect_geometry(table: pd.DataFrame, *, sniff: bool = True) -> str | None:
    """A geometry column: one of :data:`GEOMETRY_COLUMNS` by name; with ``sniff``, failing those, the first text
    column whose first value is GeoJSON or WKT."""
    lower = {str(c).strip().lower(): c for c in table.columns}
    for name in GEOMETRY_COLUMNS:
        if name in lower:
            return lower[name]
    if not sniff:
        return None
    for column in table.columns:
        first = table[column].dropna()
        if len(first) and isinstance(first.iloc[0], str) and _looks_like_geometry(first.iloc[0]):
            return column
    return None


def _detect_xy(table: pd.DataFrame) -> tuple[str | None, str | None]:
    lower = {str(c).strip().lower(): c for c in table.columns}
    for xname, yname in XY_COLUMN_PAIRS:
        if xname in lower and yname in lower:
            return lower[xname], lower[yname]
    return None, None


def csv_layout(path: str | os.PathLike) -> CsvLayout:
    """What :func:`read_training` finds in a CSV of points: its columns and the coordinate and class columns it
    uses unless told otherwise (a geometry column named as in :data:`GEOMETRY_COLUMNS`, SEPAL's ``.geo`` first,
    else an X/Y pair of :data:`XY_COLUMN_PAIRS`, else a text column holding GeoJSON or WKT). The TRN panel fills
    its column fields from it.

    Raises
    ------
    TrainingDataError
        Missing or unreadable file.
    """
    path = str(path)
    if not os.path.isfile(path):
        raise TrainingDataError(f"training data file not found: {path}")
    table = _read_table(path)
    geometry, (x, y) = _detect_geometry(table, sniff=False), _detect_xy(table)
    if geometry is None and x is None:
        geometry = _detect_geometry(table)
    lower = {str(c).lower(): c for c in table.columns}
    cls = next((lower[n] for n in DEFAULT_CLASS_FIELDS if n in lower), None)
    return CsvLayout([str(c) for c in table.columns], x, y, geometry, cls, len(table))


def _column(table: pd.DataFrame, name: str, role: str, path: str) -> str:
    """The column ``name`` (exact, else ignoring case and spaces) of ``table``."""
    if name in table.columns:
        return name
    matches = [c for c in table.columns if str(c).strip().lower() == str(name).strip().lower()]
    if len(matches) == 1:
        return matches[0]
    raise TrainingDataError(f"{role} column {name!r} is not in {Path(path).name}; its columns are "
                            f"{', '.join(map(str, table.columns))}")


def _parse_geometry(value, column: str, line: int, path: str):
    import shapely.geometry
    import shapely.wkt

    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value).strip()
    if not text:
        return None
    try:
        if text.startswith("{"):
            return shapely.geometry.shape(json.loads(text))
        return shapely.wkt.loads(text)
    except Exception:  # JSONDecodeError, GEOSException, KeyError, ...
        raise TrainingDataError(f"{Path(path).name}, line {line}: the {column} column holds neither GeoJSON nor "
                                f"WKT ({text[:40]!r})") from None


def _read_csv_points(path: str, *, x: str | None = None, y: str | None = None, geometry: str | None = None,
                     filter: str | None = None):
    """A CSV of training data as a GeoDataFrame in EPSG:4326: the filter first, then the geometry column or the
    X/Y columns (given, or detected by :func:`csv_layout`'s rules)."""
    import geopandas as gpd

    table = _read_table(path)
    if len(table) and filter:
        table = apply_filter(table, filter, source=path)
    notes = list(table.attrs.get("messages", []))
    if (x is None) != (y is None):
        raise TrainingDataError(f"give both the X (longitude) and the Y (latitude) column of {Path(path).name}, "
                                f"not only {'X' if x else 'Y'}")
    if geometry and x:
        raise TrainingDataError(f"give either X/Y columns or a geometry column for {Path(path).name}, not both")
    if x is None and geometry is None:  # a geometry column by name, else X/Y by name, else a geometry by content
        geometry = _detect_geometry(table, sniff=False)
        if geometry is None:
            x, y = _detect_xy(table)
        if geometry is None and x is None:
            geometry = _detect_geometry(table)
        if geometry is None and x is None:
            raise TrainingDataError(
                f"no coordinate columns in {path}: expected X/Y in EPSG:4326 named e.g. XCoordinate,YCoordinate or "
                f"lon,lat, or a GeoJSON/WKT geometry column; found {', '.join(map(str, table.columns))}"
            )
    if geometry is not None:
        column = _column(table, geometry, "geometry", path)
        geoms = [_parse_geometry(v, column, i + 2, path) for i, v in zip(range(len(table)), table[column])]
        frame = gpd.GeoDataFrame(table.drop(columns=[column]), geometry=geoms, crs="EPSG:4326")
        present = frame.geometry[frame.geometry.notna() & ~frame.geometry.is_empty]
        left, bottom, right, top = present.total_bounds if len(present) else (0, 0, 0, 0)
        if max(abs(left), abs(right)) > 180 or max(abs(bottom), abs(top)) > 90:
            raise TrainingDataError(f"{path}: the {column} geometries lie outside longitude/latitude ranges; a CSV's "
                                    "geometries must be in EPSG:4326 (degrees)")
        frame.attrs["messages"] = notes
        return frame
    xcol, ycol = _column(table, x, "X", path), _column(table, y, "Y", path)
    xs = pd.to_numeric(table[xcol], errors="coerce")
    ys = pd.to_numeric(table[ycol], errors="coerce")
    if xs.isna().any() or ys.isna().any():
        bad = int(np.argmax((xs.isna() | ys.isna()).to_numpy()))
        line = int(table.index[bad]) + 2  # the header is line 1; a filter keeps the file's row labels
        raise TrainingDataError(f"{path}, line {line}: {xcol}/{ycol} is not a number; fix that row (degrees, with a "
                                "decimal point) or delete it")
    if (xs.abs() > 180).any() or (ys.abs() > 90).any():
        if (xs.abs() <= 90).all() and (ys.abs() <= 180).all():  # the latitudes are in the X column
            raise TrainingDataError(
                f"{path}: {ycol} holds values outside latitude range (-90 to 90) and {xcol} none outside it: "
                f"{xcol} and {ycol} look swapped; set X (lon) to {ycol} and Y (lat) to {xcol}, or fix the file"
            )
        raise TrainingDataError(
            f"{path}: {xcol}/{ycol} hold values outside longitude/latitude ranges; CSV points must be in "
            "EPSG:4326 (degrees); convert projected coordinates first"
        )
    frame = gpd.GeoDataFrame(
        table.drop(columns=[xcol, ycol]), geometry=gpd.points_from_xy(xs, ys), crs="EPSG:4326"
    )
    frame.attrs["messages"] = notes
    return frame


def _find_class_field(frame, class_field: str | None, path: str) -> str:
    columns = [c for c in frame.columns if c != "geometry"]
    if class_field is None:
        lower = {str(c).lower(): c for c in columns}
        for name in DEFAULT_CLASS_FIELDS:
            if name in lower:
                return lower[name]
        raise TrainingDataError(
            f"no class column found in {path}; give the class field (Class field in TRN, --class-field on the "
            f"command line): one of its columns {', '.join(map(str, columns))}"
        )
    if class_field in columns:
        return class_field
    matches = [c for c in columns if str(c).lower() == class_field.lower()]
    if len(matches) == 1:
        return matches[0]
    raise TrainingDataError(
        f"class field {class_field!r} is not in {path}; its columns are {', '.join(map(str, columns)) or 'none'}: "
        "give one of them as the class field"
    )


def _tidy(frame, field_name: str, crs, *, source: str):
    # one row per polygon (or point): the parts of a multi-polygon are separate polygons for validation
    frame = frame.explode(index_parts=False, ignore_index=True)
    frame["group"] = np.arange(len(frame))
    labels = frame[field_name]
    text = labels.map(lambda v: "" if pd.isna(v) else (str(int(v)) if _is_integral(v) else str(v).strip()))
    frame["label"] = text
    keep = (text != "") & frame.geometry.notna() & ~frame.geometry.is_empty
    dropped = int((~keep).sum())
    frame = frame[keep]
    messages = []
    if dropped:
        messages.append(f"{dropped} feature(s) of {source} without class or geometry ignored")
    if len(frame) == 0:
        raise TrainingDataError(f"no feature of {source} has both a geometry and a class in {field_name!r}; fill in "
                                "the classes, or give another class field")
    if crs is not None:
        frame = _reprojected(frame, crs, source)
    frame.attrs["messages"] = messages
    frame.attrs["source"] = source
    return frame


def _crs_text(crs) -> str:
    """A CRS as a message names it: ``EPSG:32611``, else the name in its definition."""
    from pyproj import CRS

    try:
        c = CRS.from_user_input(crs)
        epsg = c.to_epsg()
        return f"EPSG:{epsg}" if epsg else c.name
    except Exception:  # a CRS pyproj cannot read: still a message
        return "a CRS without a name"


def _reprojected(frame, crs, source: str):
    """``frame.to_crs(crs)`` (``crs``: the image's).

    Raises
    ------
    CRSError
        The features' CRS cannot be transformed to ``crs`` (e.g. the image has a local engineering CRS, without a
        datum); ``source`` is named.
    """
    from pyproj.exceptions import ProjError

    try:
        return frame.to_crs(crs)
    except ProjError as exc:
        raise CRSError(f"{source} ({_crs_text(frame.crs)}) cannot be reprojected to the image's coordinate reference "
                       f"system ({_crs_text(crs)}): {str(exc).splitlines()[0] if str(exc) else 'no transformation'}; "
                       "give the image its real CRS (gdal_edit.py -a_srs EPSG:...) or the training data the "
                       "image's") from None


def _is_integral(v) -> bool:
    """An integer class value (``3``, ``3.0``); not a boolean (a True/False class column keeps its words)."""
    if isinstance(v, (bool, np.bool_)):
        return False
    return isinstance(v, (int, np.integer)) or (isinstance(v, (float, np.floating)) and float(v).is_integer())


def legend_colors(frame) -> dict[str, str]:
    """``{normalized name: colour}`` from a ``color``/``colour`` column when each class has one colour."""
    col = next((c for c in frame.columns if str(c).lower() in ("color", "colour")), None)
    if col is None:
        return {}
    out = {}
    for key, colors in frame.groupby(frame["label"].map(normalize_name))[col]:
        unique = colors.dropna().unique()
        if len(unique) == 1:
            out[key] = str(unique[0])
    return out


@dataclass
class SampleTable:
    """Training pixels: one row per pixel, with its location, feature group, class and band values.

    Attributes
    ----------
    frame : pandas.DataFrame
        Columns ``x``, ``y`` (pixel centre, image CRS), ``row``, ``col``, ``group`` (feature id), ``class``
        (legend value, int), ``label`` (legend name), then one float32 column per band (reflectance or the
        file's units).
    band_names : list of str
    messages : list of str
        What was dropped and why.
    """

    frame: pd.DataFrame
    band_names: list[str]
    messages: list[str] = field(default_factory=list)

    @property
    def features(self) -> np.ndarray:
        """float32 ``(n_samples, n_bands)``."""
        return self.frame[self.band_names].to_numpy(np.float32)

    @property
    def classes(self) -> np.ndarray:
        """int ``(n_samples,)`` legend values."""
        return self.frame["class"].to_numpy(np.int64)

    def counts(self) -> pd.Series:
        """Pixels per class label."""
        return self.frame.groupby("label", sort=False).size()

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write the table as CSV (atomically)."""
        atomic_write_text(path, self.frame.to_csv(index=False))


def check_overlap(features, grid) -> None:
    """Raise unless the features (a GeoDataFrame with a CRS, as :func:`read_training` gives) reach the image's
    extent ``grid`` (a :class:`~landclass_ui.imagery.Grid`); the features are reprojected to the grid's CRS.

    Raises
    ------
    CRSError
        The features have no CRS, or one that cannot be transformed to the image's.
    NoOverlapError
        Their extent and the image's are apart; the message gives both, in the image's CRS, and says when
        longitude and latitude look swapped (features in degrees that fall on the image swapped back).
    """
    source = features.attrs.get("source", "training data")
    if features.crs is None:
        raise CRSError(f"{source} has no CRS")
    given = features
    if features.crs != grid.crs:
        features = _reprojected(features, grid.crs, source)
    left, bottom, right, top = features.total_bounds
    g = grid.bounds
    if not _meets((left, bottom, right, top), g):  # NaN bounds (empty): apart
        fix = ("check that both cover the same area and that the file's CRS is right" if not _swapped_fits(given, grid)
               else "longitude and latitude look swapped (swapped back, the features fall on the image): set X (lon) "
                    "and Y (lat) the other way round, or fix the file")
        raise NoOverlapError(
            f"{source} does not overlap the image: features span {_fmt_bounds((left, bottom, right, top))}, "
            f"the image {_fmt_bounds(g)} (in {grid.crs.to_string()}); {fix}"
        )


def _meets(b, g) -> bool:
    """Whether the bounds ``b`` and ``g`` (left, bottom, right, top) touch or overlap."""
    return b[0] <= g[2] and b[2] >= g[0] and b[1] <= g[3] and b[3] >= g[1]


def _swapped_fits(features, grid) -> bool:
    """True for features in degrees (a geographic CRS) that lie on the image once their longitude and latitude
    are swapped back (a CSV whose X column holds the latitude)."""
    import shapely

    if features.crs is None or not features.crs.is_geographic or not len(features):
        return False
    try:
        swapped = features.set_geometry(shapely.transform(features.geometry.values, lambda c: c[:, ::-1]))
        left, bottom, right, top = swapped.total_bounds
        if not (-90 <= bottom <= top <= 90):
            return False
        return _meets(swapped.to_crs(grid.crs).total_bounds, grid.bounds)
    except Exception:  # a transformation PROJ cannot do: no hint, the plain message stands
        return False


def check_usable(features, stack: ImageStack) -> pd.DataFrame:
    """Raise unless the features reach the image (:func:`check_overlap`) and at least one of them has a valid
    pixel under it; returns their :func:`summarize_training` table (classes named as read).

    Raises
    ------
    CRSError, NoOverlapError
        See :func:`check_overlap`.
    TrainingDataError
        Not one feature can be trained on: each is on nodata pixels, off the image or without a pixel.
    """
    check_overlap(features, stack.grid)
    table = summarize_training(features, stack)
    if len(table) and int(table["used"].sum()) == 0:
        why = ", ".join(f"{int(table[k].sum())} {w}" for k, w in (
            ("nodata", "on nodata pixels"), ("outside", "outside the image"),
            ("no_pixel", "without a pixel centre inside")) if int(table[k].sum()))
        raise TrainingDataError(
            f"none of the {int(table['features'].sum())} feature(s) of {features.attrs.get('source', 'the file')} "
            f"can be used: {why}; draw them over valid pixels of the image, or choose the image they were drawn on")
    return table


def extract_samples(stack: ImageStack, features, legend: Legend, *, block: int = 1024,
                    min_classes: int = 2) -> SampleTable:
    """Sample the image's pixels under labelled features.

    Parameters
    ----------
    stack : ImageStack
    features : geopandas.GeoDataFrame
        From :func:`read_training` or :func:`points_frame`; reprojected to the image CRS here if needed.
    legend : Legend
        Labels are mapped to legend values (:meth:`Legend.value_of`).
    block : int
        Rasterize and read in blocks of this many pixels a side (memory stays bounded).
    min_classes : int
        Fewest classes with valid pixels accepted (2 for a classification; 0 to sample anything, e.g. a few new
        points to add to others).

    Raises
    ------
    LegendError
        A label that is not in the legend (all unknown labels are listed).
    NoOverlapError
        No feature overlaps the image.
    TrainingDataError
        Fewer than two classes have valid (non-nodata) pixels.
    """
    grid = stack.grid
    messages = list(features.attrs.get("messages", []))
    source = features.attrs.get("source", "training data")
    if features.crs is None:
        raise CRSError(f"{source} has no CRS")
    if features.crs != grid.crs:
        features = _reprojected(features, grid.crs, source)
    unknown = []
    values = {}
    for label in features["label"].unique():
        try:
            values[label] = legend.value_of(label)
        except LegendError:
            unknown.append(label)
    if unknown:
        raise LegendError(
            f"class(es) {', '.join(repr(u) for u in unknown)} of {source} are not in the legend "
            f"({', '.join(f'{e.value} {e.name}' for e in legend)}); add them to the legend or relabel"
        )
    check_overlap(features, grid)
    frame, status = _feature_pixels(stack, features, block)
    band_names = stack.band_names
    kinds = _kinds(features)
    n_points_out = int(((status == "outside") & (kinds == "point")).sum())
    if n_points_out:
        messages.append(f"{n_points_out} point(s) outside the image ignored")
    n_shapes_out = int(((status == "outside") & (kinds != "point")).sum())
    if n_shapes_out:
        messages.append(f"{n_shapes_out} polygon(s) outside the image ignored")
    n_none = int((status == "no pixel").sum())
    if n_none:
        messages.append(f"{n_none} polygon(s) take no pixel (no pixel centre inside: smaller than a "
                        f"{grid.res[0]:g} {grid.crs.linear_units or 'unit'} pixel, or covered by another polygon) "
                        "and are ignored")
    if len(frame) == 0 and min_classes > 0:
        raise NoOverlapError(
            f"no pixel centre of the image falls inside the features of {source}; polygons smaller than a "
            f"pixel ({grid.res[0]:g} {grid.crs.linear_units or 'units'}) take no sample: draw larger polygons "
            "or use points"
        )
    valid = frame.pop("_valid").to_numpy(bool)
    if (~valid).any():
        n_nodata = int((status == "nodata").sum())
        whole = f" ({n_nodata} feature(s) wholly on nodata)" if n_nodata else ""
        messages.append(f"{int((~valid).sum())} training pixel(s) on nodata ignored{whole}")
        frame = frame[valid].reset_index(drop=True)
    frame.insert(5, "class", frame["label"].map(values).astype(np.int64))
    frame["label"] = frame["class"].map({e.value: e.name for e in legend})
    classes = frame["class"].unique()
    if len(classes) < min_classes:
        names = ", ".join(legend.name_of(int(v)) for v in classes) or "none"
        raise TrainingDataError(
            f"training data have valid pixels of fewer than two classes ({names}); a classification needs at "
            "least two classes"
        )
    return SampleTable(frame, band_names, messages)


def _kinds(features) -> np.ndarray:
    """``"point"`` or ``"polygon"`` (any other geometry: lines are rasterized as polygons are) per feature."""
    return np.where(features.geometry.geom_type.isin(["Point", "MultiPoint"]).to_numpy(), "point", "polygon")


def _feature_pixels(stack: ImageStack, features, block: int = 1024):
    """Every pixel under the features (already in the image's CRS), nodata included, and what became of each
    feature.

    Returns
    -------
    frame : pandas.DataFrame
        One row per pixel: ``x``, ``y``, ``row``, ``col``, ``group``, ``label``, one float32 column per band
        (named as the bands), ``_valid`` (every band finite).
    status : numpy.ndarray of str
        Per feature (in ``features`` order): ``"outside"`` (a point off the image, a polygon off its extent),
        ``"no pixel"`` (a polygon with no pixel centre inside), ``"nodata"`` (every pixel under it is nodata)
        or ``"used"``.
    """
    import rasterio.features
    import rasterio.windows
    import shapely
    from rasterio.windows import Window

    grid = stack.grid
    is_point = _kinds(features) == "point"
    points = features[is_point]
    shapes = features[~is_point]
    parts = []
    n_band = len(stack.bands)
    status = np.full(len(features), "no pixel", dtype=object)
    groups = features["group"].to_numpy()
    with stack.reader() as read:
        if len(points):
            rows, cols = rasterio.transform.rowcol(grid.transform, points.geometry.x, points.geometry.y)
            rows, cols = np.asarray(rows), np.asarray(cols)
            inside = (rows >= 0) & (rows < grid.height) & (cols >= 0) & (cols < grid.width)
            status[np.flatnonzero(is_point)[~inside]] = "outside"
            rows, cols, pts = rows[inside], cols[inside], points[inside]
            if len(pts):
                r0, c0 = rows.min(), cols.min()
                win = Window(c0, r0, cols.max() - c0 + 1, rows.max() - r0 + 1)
                # few points scattered over a large area: read pixel by pixel (GDAL caches the blocks)
                if win.width * win.height > 4 * block * block or len(pts) * 256 * 256 < win.width * win.height:
                    data = np.stack([read(Window(c, r, 1, 1))[:, 0, 0] for r, c in zip(rows, cols)])
                else:
                    arr = read(win)
                    data = arr[:, rows - r0, cols - c0].T
                parts.append(_rows(grid, rows, cols, pts["group"].to_numpy(), pts["label"].to_numpy(), data))
        if len(shapes):
            apart = ~shapes.geometry.intersects(shapely.box(*grid.bounds)).to_numpy()
            status[np.flatnonzero(~is_point)[apart]] = "outside"
            full = Window(0, 0, grid.width, grid.height)
            bbox = rasterio.windows.from_bounds(*shapes.total_bounds, transform=grid.transform)
            bbox = bbox.round_offsets(op="floor").round_lengths(op="ceil")
            try:
                bbox = bbox.intersection(full)
            except rasterio.errors.WindowError:
                bbox = None
            if bbox is not None:
                id_shapes = list(zip(shapes.geometry, shapes["group"].to_numpy() + 1))
                label_of = dict(zip(shapes["group"].to_numpy() + 1, shapes["label"].to_numpy()))
                for r in range(int(bbox.row_off), int(bbox.row_off + bbox.height), block):
                    for c in range(int(bbox.col_off), int(bbox.col_off + bbox.width), block):
                        w = Window(c, r, min(block, bbox.col_off + bbox.width - c),
                                   min(block, bbox.row_off + bbox.height - r))
                        ids = rasterio.features.rasterize(
                            id_shapes,
                            out_shape=(int(w.height), int(w.width)),
                            transform=grid.window_transform(w),
                            fill=0,
                            all_touched=False,
                            dtype="int32",
                        )
                        rr, cc = np.nonzero(ids)
                        if not len(rr):
                            continue
                        arr = read(w)
                        gid = ids[rr, cc]
                        labels = np.array([label_of[i] for i in gid], dtype=object)
                        parts.append(_rows(grid, rr + r, cc + c, gid - 1, labels, arr[:, rr, cc].T))
    if parts:
        frame = pd.concat(parts, ignore_index=True)
    else:
        frame = _rows(grid, np.zeros(0, int), np.zeros(0, int), np.zeros(0, int), np.zeros(0, object),
                      np.zeros((0, n_band), np.float32))
    frame.columns = [*frame.columns[: -n_band], *stack.band_names]
    frame["_valid"] = np.isfinite(frame[stack.band_names].to_numpy()).all(axis=1)
    per_group = frame.groupby("group")["_valid"].any()
    has = pd.Series(groups).map(per_group)  # NaN: no pixel; False: all nodata; True: used
    reached = (status != "outside") & has.notna().to_numpy()
    status[reached] = np.where(has[reached].astype(bool).to_numpy(), "used", "nodata")
    return frame, status


#: Columns of :func:`summarize_training`'s table.
SUMMARY_COLUMNS = ("class", "value", "features", "points", "polygons", "outside", "nodata", "no_pixel", "used",
                   "pixels")


def summarize_training(features, stack: ImageStack | None = None, legend: Legend | None = None, *,
                       block: int = 1024) -> pd.DataFrame:
    """Per class, how many features a training set has and what becomes of them on the image: the summary
    shown after every import (SEPAL shows the number of points per legend class after an import; this adds
    what is not used and why, so nothing is dropped silently).

    Parameters
    ----------
    features : geopandas.GeoDataFrame
        From :func:`read_training`, :func:`read_ref`, :func:`points_frame` (any CRS).
    stack : ImageStack, optional
        The image. None: only the counts of features (``outside``, ``nodata``, ``no_pixel``, ``used`` and
        ``pixels`` are then missing, NA).
    legend : Legend, optional
        Names the classes by the legend (and orders them as it does); labels it lacks keep their own name and a
        missing ``value``.

    Returns
    -------
    pandas.DataFrame
        One row per class (:data:`SUMMARY_COLUMNS`): ``class`` (name), ``value`` (legend value or NA),
        ``features`` (= ``points`` + ``polygons``), ``outside`` (features off the image), ``nodata`` (features
        whose every pixel is nodata), ``no_pixel`` (polygons with no pixel centre inside), ``used`` (features
        with at least one valid pixel) and ``pixels`` (valid training pixels). Feature counts per class add
        up: ``features = outside + nodata + no_pixel + used``.

    Raises
    ------
    CRSError
        Features without a CRS, or with one that cannot be transformed to the image's.
    """
    source = features.attrs.get("source", "training data")
    if features.crs is None:
        raise CRSError(f"{source} has no CRS")
    if "group" not in features.columns:
        features = features.assign(group=np.arange(len(features)))
    names = []
    for label in features["label"]:
        names.append(legend.name_of(legend.value_of(label)) if legend is not None and legend.contains(label)
                     else str(label))
    table = pd.DataFrame({"class": names, "kind": _kinds(features)})
    if stack is not None:
        grid = stack.grid
        on_grid = _reprojected(features, grid.crs, source) if features.crs != grid.crs else features
        on_grid = on_grid.assign(group=np.arange(len(on_grid)))
        frame, status = _feature_pixels(stack, on_grid, block)
        table["status"] = status
        valid = frame[frame["_valid"]]
        pixels = valid.groupby("group").size()
        table["pixels"] = pd.Series(np.arange(len(on_grid))).map(pixels).fillna(0).astype(int).to_numpy()
    order = {}
    if legend is not None:
        order = {normalize_name(n): i for i, n in enumerate(legend.names)}
    rows = []
    for name, part in table.groupby("class", sort=False):
        row = {"class": name,
               "value": legend.value_of(name) if legend is not None and legend.contains(name) else pd.NA,
               "features": len(part), "points": int((part["kind"] == "point").sum()),
               "polygons": int((part["kind"] != "point").sum())}
        for key, word in (("outside", "outside"), ("nodata", "nodata"), ("no_pixel", "no pixel"), ("used", "used")):
            row[key] = int((part["status"] == word).sum()) if stack is not None else pd.NA
        row["pixels"] = int(part["pixels"].sum()) if stack is not None else pd.NA
        rows.append(row)
    rows.sort(key=lambda r: (order.get(normalize_name(r["class"]), len(order)), normalize_name(r["class"])))
    out = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    out.attrs["source"] = source
    return out


def summary_text(summary: pd.DataFrame) -> str:
    """One line for a :func:`summarize_training` table: ``"FARM 12 (2 outside), FOREST 8; 3 of 20 feature(s) not
    used: 2 outside the image, 1 on nodata"``."""
    parts = []
    for r in summary.itertuples():
        bad = [f"{getattr(r, k)} {w}" for k, w in (("outside", "outside"), ("nodata", "on nodata"),
                                                  ("no_pixel", "without pixel"))
               if not pd.isna(getattr(r, k)) and getattr(r, k)]
        parts.append(f"{r[1]} {r.features}" + (f" ({', '.join(bad)})" if bad else ""))
    text = ", ".join(parts)
    if len(summary) and not summary["used"].isna().any():
        total, used = int(summary["features"].sum()), int(summary["used"].sum())
        if used < total:
            why = [f"{int(summary[k].sum())} {w}" for k, w in (("outside", "outside the image"),
                                                             ("nodata", "on nodata"),
                                                             ("no_pixel", "with no pixel centre inside"))
                   if int(summary[k].sum())]
            text += f"; {total - used} of {total} feature(s) not used: {', '.join(why)}"
    return text


def _rows(grid, rows, cols, groups, labels, data) -> pd.DataFrame:
    t = grid.transform  # north-up (checked when the image is opened)
    x = t.c + (np.asarray(cols) + 0.5) * t.a
    y = t.f + (np.asarray(rows) + 0.5) * t.e
    frame = pd.DataFrame(
        {
            "x": np.asarray(x, dtype=float),
            "y": np.asarray(y, dtype=float),
            "row": np.asarray(rows, dtype=np.int64),
            "col": np.asarray(cols, dtype=np.int64),
            "group": np.asarray(groups, dtype=np.int64),
            "label": labels,
        }
    )
    bands = pd.DataFrame(np.asarray(data, dtype=np.float32), columns=[f"_b{i}" for i in range(data.shape[1])])
    return pd.concat([frame, bands], axis=1)


def _fmt_bounds(b) -> str:
    return "(" + ", ".join(f"{v:.6g}" for v in b) + ")"


def collect_labels(frames: Sequence) -> list[str]:
    """All labels of several frames, in order of first appearance."""
    seen = {}
    for f in frames:
        for label in f["label"]:
            seen.setdefault(normalize_name(label), label)
    return list(seen.values())


def source_name(path: str) -> str:
    return Path(path).name


# --- sampling a classification map (SEPAL's "Sample classification") ---------------------------------------

#: What :func:`sample_class_map` does with map values that are no legend class.
UNKNOWN_VALUES = ("ignore", "default")

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer (Steele, Lea and Flood 2014) on a uint64 array: a bijection that scatters bits."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _cell_keys(cells: np.ndarray, seed: int) -> np.ndarray:
    """A pseudo-random uint64 key per sampling cell (its index), fixed by ``seed``: the same cell gets the same
    key whatever the order or size of the windows it is read in."""
    salt = _mix64(np.array([(int(seed) * _GOLDEN + _GOLDEN) & _MASK64], dtype=np.uint64))
    return _mix64(cells.astype(np.uint64) ^ salt)


def _open_class_map(path, band: int):
    import rasterio

    path = str(path)
    if not os.path.exists(path):
        raise TrainingDataError(f"classification map not found: {path}")
    try:
        src = rasterio.open(path)
    except Exception as exc:  # RasterioIOError and friends
        raise TrainingDataError(f"cannot open classification map {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(band, (int, np.integer)) or isinstance(band, bool) or not 1 <= band <= src.count:
        src.close()
        raise TrainingDataError(f"band {band!r} is not a band of {Path(path).name}, which has {src.count} "
                                f"band(s) (1..{src.count})")
    if src.crs is None:
        src.close()
        raise CRSError(f"classification map {path} has no CRS; set one, e.g. `gdal_edit.py -a_srs EPSG:32631 {path}`")
    t = src.transform
    if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:
        src.close()
        raise TrainingDataError(f"classification map {path} is rotated or not north-up; warp it first "
                                "(`gdalwarp in.tif out.tif`)")
    return src


def _map_windows(height: int, width: int, block: int):
    for r0 in range(0, height, block):
        for c0 in range(0, width, block):
            yield r0, min(r0 + block, height), c0, min(c0 + block, width)


def _cells_within(within: tuple, src, step: tuple[float, float], cells: tuple[int, int], name: str):
    """The sampling cells ``(row_lo, row_hi), (col_lo, col_hi)`` (half-open) of the map ``src`` whose centres lie
    in ``within`` = ``(left, bottom, right, top, crs)``, for cells ``step`` map pixels a side, ``cells`` =
    ``(ncx, ncy)`` of them; raises :class:`TrainingDataError` when the box does not overlap the map."""
    from rasterio.warp import transform_bounds

    left, bottom, right, top, crs = within
    if crs is not None and src.crs != crs:
        left, bottom, right, top = transform_bounds(crs, src.crs, left, bottom, right, top, densify_pts=21)
    t = src.transform
    (sx, sy), (ncx, ncy) = step, cells
    # centre of cell j at pixel column (j + 0.5) * sx: inside when left <= x < right (and the same for rows)
    cols = sorted(((left - t.c) / t.a, (right - t.c) / t.a))
    rows = sorted(((top - t.f) / t.e, (bottom - t.f) / t.e))
    j_lo, j_hi = (min(max(int(np.ceil(v / sx - 0.5)), 0), ncx) for v in cols)
    i_lo, i_hi = (min(max(int(np.ceil(v / sy - 0.5)), 0), ncy) for v in rows)
    if i_lo >= i_hi or j_lo >= j_hi:
        b = src.bounds
        raise TrainingDataError(f"the map {name} does not overlap the image (the map spans {b.left:.0f}, "
                                f"{b.bottom:.0f}, {b.right:.0f}, {b.top:.0f}, the image {left:.0f}, {bottom:.0f}, "
                                f"{right:.0f}, {top:.0f} in {src.crs.to_string()}); sample a map of the image's area")
    return (i_lo, i_hi), (j_lo, j_hi)


def _valid_values(src, band: int, window, path: str) -> tuple[np.ndarray, np.ndarray]:
    """Values of a window of the map and where they are valid (not nodata, not masked, finite); raises for
    non-integral values (not a class map)."""
    data = src.read(band, window=window)
    valid = src.read_masks(band, window=window) != 0
    if data.dtype.kind == "f":
        valid &= np.isfinite(data)
        if (data[valid] != np.round(data[valid])).any():
            raise TrainingDataError(f"{Path(path).name} is not a classification map: band {band} holds fractional "
                                    "values; give a map of integer class values")
    return data, valid


def class_map_values(path: str | os.PathLike, band: int = 1, *, block: int = 1024) -> dict[int, int]:
    """``{value: pixels}`` of a classification map's band (nodata and masked pixels left out), read window by
    window.

    Raises
    ------
    TrainingDataError, CRSError
        As :func:`sample_class_map`.
    """
    counts: dict[int, int] = {}
    with _open_class_map(path, band) as src:
        from rasterio.windows import Window

        for r0, r1, c0, c1 in _map_windows(src.height, src.width, block):
            data, valid = _valid_values(src, band, Window(c0, r0, c1 - c0, r1 - r0), str(path))
            values, n = np.unique(data[valid].astype(np.int64), return_counts=True)
            for v, k in zip(values.tolist(), n.tolist()):
                counts[v] = counts.get(v, 0) + k
    return dict(sorted(counts.items()))


def class_map_legend(path: str | os.PathLike, band: int = 1) -> Legend:
    """The legend of a classification map: ``<stem>_legend.csv`` beside it (what landclass and SEPAL export
    write, :meth:`Legend.read`), else one class per value found (0-254, named by the value, coloured by the
    map's colour table when it has one, else a palette). Values outside 0-254 (e.g. -999) are not classes.

    Raises
    ------
    TrainingDataError
        Unreadable map, or no value in 0-254. LegendError: an unreadable legend file beside it.
    """
    p = Path(path)
    beside = p.with_name(p.stem + "_legend.csv")
    if beside.is_file():
        return Legend.read(beside)
    values = [v for v in class_map_values(path, band) if 0 <= v < 255]
    if not values:
        raise TrainingDataError(f"{p.name} has no class value in 0-254 to build a legend from; give a legend")
    colors = {}
    with _open_class_map(path, band) as src:
        try:
            table = src.colormap(band)
        except ValueError:  # no colour table
            table = {}
    for v in values:
        if v in table:
            colors[str(v)] = "#{:02x}{:02x}{:02x}".format(*table[v][:3])
    return Legend.from_labels([str(v) for v in values], colors)


def _metres_per_unit(crs, bounds) -> tuple[float, float]:
    """Metres per CRS unit in x and y: the unit's factor for a projected CRS; for a geographic CRS, metres per
    degree of longitude and latitude at the map's central latitude (WGS 84 ellipsoid series)."""
    if crs.is_geographic:
        phi = np.radians((bounds[1] + bounds[3]) / 2)
        lat = 111132.954 - 559.822 * np.cos(2 * phi) + 1.175 * np.cos(4 * phi)
        lon = 111412.84 * np.cos(phi) - 93.5 * np.cos(3 * phi)
        return float(max(lon, 1e-9)), float(lat)
    factor = crs.linear_units_factor[1] if crs.linear_units_factor else 1.0
    return float(factor), float(factor)


def _requested(per_class, legend: Legend) -> dict[int, int]:
    if isinstance(per_class, dict):
        out = {v: 0 for v in legend.values}
        for key, n in per_class.items():
            out[legend.value_of(key)] = n
    else:
        out = {v: per_class for v in legend.values}
    for v, n in out.items():
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise TrainingDataError(f"samples per class must be a whole number >= 0, not {n!r} "
                                    f"({legend.name_of(v)})")
    if not any(out.values()):
        raise TrainingDataError("ask for at least one sample of one class (samples per class >= 1)")
    return {v: int(n) for v, n in out.items()}


def sample_class_map(path: str | os.PathLike, legend: Legend | None = None, *, per_class=1000,
                     scale: float | None = None, band: int = 1, default_class=None, unknown: str = "ignore",
                     seed: int = 0, block: int = 1024, within: tuple | None = None):
    """Stratified random points of an existing classification map, as training data (SEPAL's "Sample
    classification": a number of random points per class of the map, each labelled with the map's class; SEPAL
    documentation, Classification recipe, "Sample classification").

    The map is read window by window (``block`` pixels a side), never whole: each sampling cell gets a
    pseudo-random key from its index and ``seed``, and each class keeps the cells of smallest key (a bottom-k
    sample: a uniform random sample without replacement, the same whatever the window size; the sample of n
    points is the first n of a larger one, so asking for fewer or more of a class keeps the points already
    drawn).

    Parameters
    ----------
    path : path
        A raster GDAL reads (GeoTIFF, COG, VRT...), integer class values in band ``band``; nodata (declared,
        or a mask) is never sampled. Any CRS; north-up.
    legend : Legend, optional
        Map value ``v`` is the legend class of value ``v``. None: :func:`class_map_legend`.
    per_class : int or dict
        Points per legend class (SEPAL's default 1000), or ``{class value or name: points}`` (classes not named:
        none). A class with fewer cells than asked gives all of them (``attrs["messages"]`` says so).
    scale : float, optional
        Metres between sampling cells (SEPAL's "scale to sample in"): cells of ``scale`` x ``scale`` m from the
        map's top-left corner, each taking the class of the map pixel under its centre (nearest neighbour, as
        Earth Engine samples). None: the map's own pixels. Geographic maps: metres converted to degrees at the
        map's central latitude.
    band : int
        1-based band of the classes.
    default_class : int or str, optional
        With ``unknown="default"``: the legend class (value or name) that map values without a legend class
        are sampled as (SEPAL's "Default").
    unknown : {"ignore", "default"}
        What to do with map values that are no legend value: leave them out (counted in the messages) or
        sample them as ``default_class``.
    seed : int
        Fixes the random points.
    within : tuple, optional
        ``(left, bottom, right, top, crs)``: only cells whose centre lies in this box (its bounds in ``crs``,
        brought to the map's CRS) are sampled and counted: the image's extent, as SEPAL samples within the
        recipe's area of interest. A map larger than the image then gives its points where they can train the
        model. None: the whole map.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per point, in legend order and, within a class, in key order: ``x``, ``y`` (cell centre,
        longitude/latitude in degrees), ``class`` (legend value), ``label`` (legend name), ``value`` (the
        map's value there) and ``geometry`` (points, EPSG:4326). ``attrs["counts"]`` holds one dict per legend
        class (``pd.DataFrame(frame.attrs["counts"])`` makes a table of them): ``value``, ``class``, ``cells``
        (cells of that class in the map), ``requested``, ``sampled``;
        ``attrs["messages"]`` lists values ignored or sent to the default class, classes with fewer cells
        than asked and legend classes absent from the map; ``attrs["source"]`` names the map.

    Raises
    ------
    TrainingDataError
        Missing or unreadable map, a band it lacks, fractional values, a bad ``per_class``/``scale``/
        ``unknown``, or no pixel of a legend class.
    CRSError
        A map without a CRS.
    LegendError
        ``default_class`` not in the legend.
    """
    import geopandas as gpd
    from pyproj import Transformer
    from rasterio.windows import Window

    path = str(path)
    name = Path(path).name
    if unknown not in UNKNOWN_VALUES:
        raise TrainingDataError(f"unknown map values are either ignored or sent to a default class "
                                f"(unknown='ignore' or 'default'), not {unknown!r}")
    if legend is None:
        legend = class_map_legend(path, band)
    default = None
    if unknown == "default":
        if default_class is None:
            raise TrainingDataError("unknown='default' needs the default class (a legend class value or name)")
        default = legend.value_of(default_class)
    requested = _requested(per_class, legend)
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0
                              or not np.isfinite(scale)):
        raise TrainingDataError(f"the sampling scale must be a positive number of metres, not {scale!r}")
    legend_values = set(legend.values)
    reservoirs: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    cells: dict[int, int] = {v: 0 for v in legend.values}
    raw_counts: dict[int, int] = {}
    with _open_class_map(path, band) as src:
        t, width, height = src.transform, src.width, src.height
        if scale is None:
            sx = sy = 1.0
        else:
            mx, my = _metres_per_unit(src.crs, src.bounds)
            sx, sy = scale / (mx * t.a), scale / (my * -t.e)
        ncx, ncy = int(np.ceil(width / sx - 0.5)), int(np.ceil(height / sy - 0.5))
        if ncx < 1 or ncy < 1:
            raise TrainingDataError(f"a sampling scale of {scale:g} m leaves no cell centre on {name} "
                                    f"({width} x {height} pixels); use a smaller scale")
        col_of = np.minimum(np.floor((np.arange(ncx) + 0.5) * sx).astype(np.int64), width - 1)
        row_of = np.minimum(np.floor((np.arange(ncy) + 0.5) * sy).astype(np.int64), height - 1)
        (i_lo, i_hi), (j_lo, j_hi) = (0, ncy), (0, ncx)
        if within is not None:
            (i_lo, i_hi), (j_lo, j_hi) = _cells_within(within, src, (sx, sy), (ncx, ncy), name)
        for r0, r1, c0, c1 in _map_windows(height, width, block):
            i0, i1 = np.searchsorted(row_of, [r0, r1])
            j0, j1 = np.searchsorted(col_of, [c0, c1])
            i0, i1, j0, j1 = max(i0, i_lo), min(i1, i_hi), max(j0, j_lo), min(j1, j_hi)
            if i0 >= i1 or j0 >= j1:
                continue
            rr, cc = row_of[i0:i1], col_of[j0:j1]
            window = Window(int(cc[0]), int(rr[0]), int(cc[-1] - cc[0] + 1), int(rr[-1] - rr[0] + 1))
            data, valid = _valid_values(src, band, window, path)
            if sx != 1.0 or sy != 1.0:
                sel = np.ix_(rr - rr[0], cc - cc[0])
                data, valid = data[sel], valid[sel]
            if not valid.any():
                continue
            ids = (np.arange(i0, i1, dtype=np.int64)[:, None] * ncx + np.arange(j0, j1, dtype=np.int64)[None, :])
            vals, ids = data[valid].astype(np.int64), ids[valid]
            uniq, inv, n = np.unique(vals, return_inverse=True, return_counts=True)
            strata = {}
            for k, (u, count) in enumerate(zip(uniq.tolist(), n.tolist())):
                raw_counts[u] = raw_counts.get(u, 0) + count
                s = u if u in legend_values else default
                if s is not None:
                    strata.setdefault(s, []).append(k)
            keys = _cell_keys(ids, seed)
            for s, members in strata.items():
                pick = np.isin(inv, members)
                cells[s] += int(pick.sum())
                want = requested[s]
                if not want:
                    continue
                old = reservoirs.get(s)
                kk, ii, vv = keys[pick], ids[pick], vals[pick]
                if old is not None:
                    kk, ii, vv = (np.concatenate([a, b]) for a, b in zip(old, (kk, ii, vv)))
                if len(kk) > want:
                    keep = np.argpartition(kk, want - 1)[:want]
                    kk, ii, vv = kk[keep], ii[keep], vv[keep]
                reservoirs[s] = (kk, ii, vv)
        to_lonlat = Transformer.from_crs(src.crs, "EPSG:4326", always_xy=True)
        px_m = _metres_per_unit(src.crs, src.bounds)[0] * t.a
    unit = f"cell(s) of {scale:g} m" if scale is not None else "pixel(s)"
    messages = []
    outside = {v: k for v, k in raw_counts.items() if v not in legend_values}
    if outside:
        listed = ", ".join(f"{v} ({k} px)" for v, k in sorted(outside.items()))
        if default is None:
            messages.append(f"map values {listed} of {name} are no legend class: ignored")
        else:
            messages.append(f"map values {listed} of {name} are no legend class: sampled as "
                            f"{legend.name_of(default)}")
    if not any(cells.values()):
        found = ", ".join(map(str, sorted(raw_counts))) or "none (all nodata)"
        raise TrainingDataError(f"no pixel of {name} (band {band}) has a legend value: the map holds {found}, the "
                                f"legend {', '.join(f'{e.value} {e.name}' for e in legend)}; use the map's legend")
    rows, counts = [], []
    for e in legend:
        kk, ii, vv = reservoirs.get(e.value, (np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.int64)))
        order = np.argsort(kk, kind="stable")[: requested[e.value]]
        ii, vv = ii[order], vv[order]
        counts.append({"value": e.value, "class": e.name, "cells": cells[e.value],
                       "requested": requested[e.value], "sampled": len(ii)})
        if requested[e.value] and cells[e.value] == 0:
            continue
        if requested[e.value] > cells[e.value]:
            messages.append(f"{e.name}: {cells[e.value]} {unit} in {name}, fewer than the {requested[e.value]} "
                            "asked: all taken")
        ix, iy = ii % ncx, ii // ncx
        mx_, my_ = t * ((ix + 0.5) * sx, (iy + 0.5) * sy)
        lon, lat = to_lonlat.transform(np.asarray(mx_, float), np.asarray(my_, float))
        rows.append(pd.DataFrame({"x": np.asarray(lon, float), "y": np.asarray(lat, float),
                                  "class": np.full(len(ii), e.value, np.int64), "label": e.name,
                                  "value": vv.astype(np.int64)}))
    absent = [c["class"] for c in counts if c["cells"] == 0]
    if absent:
        messages.append(f"legend class(es) {', '.join(absent)} have no pixel in {name}")
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["x", "y", "class", "label", "value"])
    frame = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["x"], table["y"]), crs="EPSG:4326")
    frame.attrs["counts"] = counts  # plain records: attrs must compare and copy cheaply (pandas merges them)
    frame.attrs["messages"] = messages
    frame.attrs["source"] = name
    frame.attrs["scale"] = float(scale) if scale is not None else float(px_m)
    return frame


def points_records(frame) -> list[dict]:
    """Points of a frame from :func:`sample_class_map` (or any points in EPSG:4326 with a legend-value ``class``
    column) as a recipe's points, ``[{"x": lon, "y": lat, "class": value}]`` (degrees rounded to 1e-7, about a
    centimetre)."""
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs("EPSG:4326")
    return [{"x": round(float(p.x), 7), "y": round(float(p.y), 7), "class": int(c)}
            for p, c in zip(frame.geometry, frame["class"])]


# --- training data of another recipe ------------------------------------------------------------------------


@dataclass
class RecipeTraining:
    """The training sets of another saved recipe, read to be taken into this one (:func:`recipe_training`).

    Attributes
    ----------
    path : str
        The recipe file.
    name : str
        Its recipe name.
    legend : Legend or None
        Its legend.
    refs : list of TrainingRef
        Its training sets as it has them (file paths resolved against its folder), empty point sets left out.
    classes : list of str
        The classes they use, named by that recipe's legend (a point's value becomes its class name; a file's
        integer class its legend name), in order of first appearance.
    frames : list of geopandas.GeoDataFrame
        Each set's features (EPSG:4326, ``label`` the class name as in ``classes``), for summaries.
    """

    path: str
    name: str
    legend: Legend | None
    refs: list
    classes: list[str]
    frames: list
    _keys: list = field(default_factory=list, repr=False)  # per set: original label/value -> class name or None

    def adopt(self, legend: Legend, choices: dict[str, str | None] | None = None) -> list:
        """The training sets relabelled for a recipe of legend ``legend``: returns new TrainingRefs.

        ``choices`` maps a class of :attr:`classes` that ``legend`` lacks to a legend class name, or to None to
        leave it out (the TRN dialog's *map to* and *ignore*; *add to legend* means adding it to ``legend``
        first). A file gets a ``remap`` from its own classes to ``legend``'s names (so its integer classes cannot
        meet another legend's values); points get ``legend``'s values and a ``source`` naming the recipe.

        Raises
        ------
        LegendError
            Classes ``legend`` lacks and ``choices`` does not settle (all listed).
        TrainingDataError
            Every class is set to ignore.
        """
        from .recipe import TrainingRef

        choices = {normalize_name(k): v for k, v in (choices or {}).items()}
        missing = [c for c in self.classes if normalize_name(c) not in choices and not legend.contains(c)]
        if missing:
            raise LegendError(f"class(es) {', '.join(repr(c) for c in missing)} of recipe {self.name!r} are not in "
                              f"the legend ({', '.join(f'{e.value} {e.name}' for e in legend)}); add them to the "
                              "legend or map them to legend classes")

        def final(name):
            target = choices.get(normalize_name(name), name) if name is not None else None
            return None if target is None else legend.name_of(legend.value_of(target))

        refs = []
        for ref, keys in zip(self.refs, self._keys):
            if ref.kind == "points":
                pts = []
                for p in ref.points:
                    target = final(keys.get(int(p["class"])))
                    if target is not None:
                        pts.append({"x": p["x"], "y": p["y"], "class": legend.value_of(target)})
                if pts:
                    refs.append(TrainingRef("points", points=pts, source=ref.source or f"recipe {self.name}"))
                continue
            remap = {}
            for original, name in keys.items():
                target = final(name)
                if target is None or normalize_name(target) != normalize_name(original):
                    remap[original] = target
            if all(v is None for v in remap.values()) and len(remap) == len(keys):
                continue  # every class of the file ignored
            refs.append(TrainingRef("file", path=ref.path, class_field=ref.class_field, layer=ref.layer,
                                    remap=remap, filter=ref.filter, x=ref.x, y=ref.y, geometry=ref.geometry))
        if not refs:
            raise TrainingDataError(f"every class of recipe {self.name!r} is set to ignore; map at least one to a "
                                    "legend class")
        return refs


def recipe_training(path: str | os.PathLike) -> RecipeTraining:
    """Read the training sets of another saved recipe (SEPAL's "Saved SEPAL recipe" as training data, here its
    training data rather than its model): its files (paths resolved against its folder, with their class field,
    layer, remap, filter and columns) and its points (collected, sampled or imported).

    The classes are named by that recipe's legend (:attr:`RecipeTraining.classes`), so that they can be matched
    by name to this recipe's legend (:func:`landclass_ui.legend.match_labels`) and the unknown ones mapped,
    added or ignored (:meth:`RecipeTraining.adopt`), as for a training file.

    Raises
    ------
    RecipeError
        The recipe file is missing or not a recipe.
    TrainingDataError
        It has no training data, or one of its files cannot be read (the message names the recipe).
    """
    from .errors import LandclassError
    from .recipe import Recipe

    recipe = Recipe.load(path)
    legend = recipe.legend_object() if recipe.legend else None
    refs = [r for r in recipe.training if r.kind != "points" or r.points]
    if not refs:
        raise TrainingDataError(f"recipe {recipe.name!r} ({path}) has no training data to import")
    classes: dict[str, str] = {}
    frames, keys_per_set = [], []

    def canonical(label) -> str:
        text = str(label).strip()
        if legend is not None and legend.contains(text):
            return legend.name_of(legend.value_of(text))
        return text

    for ref in refs:
        try:
            if ref.kind == "points":
                frame = points_frame(ref.points)
                keys = {int(p["class"]): canonical(int(p["class"])) for p in ref.points}
                frame["label"] = [keys[int(p["class"])] for p in ref.points]
            else:
                raw = read_training(ref.path, ref.class_field, layer=ref.layer, filter=ref.filter, x=ref.x, y=ref.y,
                                    geometry=ref.geometry)
                table = {normalize_name(k): v for k, v in ref.remap.items()}
                keys = {}
                for label in dict.fromkeys(raw["label"]):
                    k = normalize_name(label)
                    keys[label] = canonical(table[k]) if k in table and table[k] is not None else (
                        None if k in table else canonical(label))
                frame = raw[[keys[x] is not None for x in raw["label"]]].copy()
                frame["label"] = [keys[x] for x in frame["label"]]
        except LandclassError as exc:
            raise type(exc)(f"recipe {recipe.name!r}: {exc}") from None
        frame.attrs["source"] = ref.source or (Path(ref.path).name if ref.path else f"recipe {recipe.name}")
        for name in frame["label"]:
            classes.setdefault(normalize_name(name), name)
        frames.append(frame)
        keys_per_set.append(keys)
    return RecipeTraining(str(path), recipe.name, legend, refs, list(classes.values()), frames, keys_per_set)
