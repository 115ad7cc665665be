"""Training data: read labelled points and polygons, and sample the image's pixels under them.

* Vector files (GeoJSON, shapefile, GeoPackage, anything GDAL/OGR reads) in any CRS, through geopandas.
* CSV points with X/Y columns in EPSG:4326 (longitude/latitude, degrees), the column names SEPAL
  auto-detects among them (``XCoordinate,YCoordinate,class``; ``lon,lat``; ``center_lon,center_lat``;
  ``location_x,location_y``; a GeoJSON ``.geo`` column).
* Points collected on the map, kept in the recipe as ``{"x": lon, "y": lat, "class": value}``.

Class labels may be integers or names. Names are matched case-insensitively, ignoring surrounding spaces
(``FARM``, ``farm `` and ``Farm`` are one class; :func:`landclass_ui.legend.normalize_name`).

Polygons are rasterized onto the image grid (every pixel whose centre falls inside: GDAL's default rule);
points take the pixel they fall in. Each feature keeps its own ``group`` id so that later validation can split
by polygon, never by pixel.
"""
from __future__ import annotations

import json
import os
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
    "check_overlap",
    "apply_remap",
    "points_frame",
    "extract_samples",
    "SampleTable",
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


def read_training(
    path: str | os.PathLike,
    class_field: str | None = None,
    *,
    crs=None,
    layer: str | None = None,
    remap: dict[str, str | None] | None = None,
):
    """Read labelled features from a vector or CSV file.

    Parameters
    ----------
    path : path
        GeoJSON, shapefile, GeoPackage (any OGR format) or CSV (X/Y in EPSG:4326, see :data:`XY_COLUMN_PAIRS`).
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

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``label`` (the class as read, stripped text), ``group`` (0-based id of each polygon or point:
        multi-part features are split into their parts), ``geometry``, and the file's other columns. Rows
        with an empty class or geometry are dropped (``attrs["messages"]`` says how many).

    Raises
    ------
    TrainingDataError
        Missing or unreadable file, unknown class field (the message lists the columns), no features.
    CRSError
        A vector file without a CRS (e.g. a shapefile without ``.prj``).
    """
    import geopandas as gpd

    path = str(path)
    if not os.path.exists(path):
        raise TrainingDataError(f"training data file not found: {path}")
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise TrainingDataError(f"training data file {path} is empty")
    if path.lower().endswith((".csv", ".txt")):
        frame = _read_csv_points(path)
    else:
        try:
            frame = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
        except Exception as exc:  # pyogrio raises DataSourceError and friends
            raise TrainingDataError(
                f"cannot read training data {path}: {str(exc).splitlines()[0]}; expected GeoJSON, "
                "shapefile, GeoPackage or CSV"
            ) from None
        if frame.crs is None:
            raise CRSError(
                f"training data {path} has no CRS (a shapefile needs its .prj file); set one, e.g. "
                f"`ogr2ogr -a_srs EPSG:4326 fixed.gpkg {path}`"
            )
    if len(frame) == 0:
        raise TrainingDataError(f"training data {path} holds no features")
    field_name = _find_class_field(frame, class_field, path)
    return apply_remap(_tidy(frame, field_name, crs, source=path), remap)


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
    if n:
        out.attrs["messages"] = [*attrs.get("messages", []),
                                 f"{n} feature(s) of {attrs.get('source', 'the training data')} left out "
                                 "(classes set to ignore)"]
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


def _read_csv_points(path: str):
    import geopandas as gpd
    import shapely.geometry

    try:
        table = pd.read_csv(path, skipinitialspace=True)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise TrainingDataError(f"cannot read CSV {path}: {exc}") from None
    lower = {c.strip().lower(): c for c in table.columns}
    if ".geo" in lower:
        try:
            geoms = [shapely.geometry.shape(json.loads(g)) for g in table[lower[".geo"]]]
        except (TypeError, ValueError, KeyError) as exc:
            raise TrainingDataError(f"cannot parse the .geo column of {path} as GeoJSON ({exc})") from None
        return gpd.GeoDataFrame(table.drop(columns=[lower[".geo"]]), geometry=geoms, crs="EPSG:4326")
    for xname, yname in XY_COLUMN_PAIRS:
        if xname in lower and yname in lower:
            xcol, ycol = lower[xname], lower[yname]
            break
    else:
        raise TrainingDataError(
            f"no coordinate columns in {path}: expected X/Y in EPSG:4326 named e.g. XCoordinate,YCoordinate or "
            f"lon,lat; found {', '.join(map(str, table.columns))}"
        )
    x = pd.to_numeric(table[xcol], errors="coerce")
    y = pd.to_numeric(table[ycol], errors="coerce")
    if x.isna().any() or y.isna().any():
        bad = int((x.isna() | y.isna()).idxmax()) + 2
        raise TrainingDataError(f"{path}, line {bad}: {xcol}/{ycol} is not a number")
    if (x.abs() > 180).any() or (y.abs() > 90).any():
        raise TrainingDataError(
            f"{path}: {xcol}/{ycol} hold values outside longitude/latitude ranges; CSV points must be in "
            "EPSG:4326 (degrees); convert projected coordinates first"
        )
    return gpd.GeoDataFrame(
        table.drop(columns=[xcol, ycol]), geometry=gpd.points_from_xy(x, y), crs="EPSG:4326"
    )


def _find_class_field(frame, class_field: str | None, path: str) -> str:
    columns = [c for c in frame.columns if c != "geometry"]
    if class_field is None:
        lower = {str(c).lower(): c for c in columns}
        for name in DEFAULT_CLASS_FIELDS:
            if name in lower:
                return lower[name]
        raise TrainingDataError(
            f"no class column found in {path}; name it with --class-field (columns: {', '.join(map(str, columns))})"
        )
    if class_field in columns:
        return class_field
    matches = [c for c in columns if str(c).lower() == class_field.lower()]
    if len(matches) == 1:
        return matches[0]
    raise TrainingDataError(
        f"class field {class_field!r} is not in {path}; its columns are {', '.join(map(str, columns)) or 'none'}"
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
        raise TrainingDataError(f"no feature of {source} has both a geometry and a class in {field_name!r}")
    if crs is not None:
        frame = frame.to_crs(crs)
    frame.attrs["messages"] = messages
    frame.attrs["source"] = source
    return frame


def _is_integral(v) -> bool:
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
        The features have no CRS.
    NoOverlapError
        Their extent and the image's are apart; the message gives both, in the image's CRS.
    """
    source = features.attrs.get("source", "training data")
    if features.crs is None:
        raise CRSError(f"{source} has no CRS")
    if features.crs != grid.crs:
        features = features.to_crs(grid.crs)
    left, bottom, right, top = features.total_bounds
    g = grid.bounds
    if not (left <= g[2] and right >= g[0] and bottom <= g[3] and top >= g[1]):  # NaN bounds (empty): apart
        raise NoOverlapError(
            f"{source} does not overlap the image: features span {_fmt_bounds((left, bottom, right, top))}, "
            f"the image {_fmt_bounds(g)} (in {grid.crs.to_string()}); check that both cover the same area "
            "and that the file's CRS is right"
        )


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
    import rasterio.features
    import rasterio.windows
    from rasterio.windows import Window

    grid = stack.grid
    messages = list(features.attrs.get("messages", []))
    source = features.attrs.get("source", "training data")
    if features.crs is None:
        raise CRSError(f"{source} has no CRS")
    if features.crs != grid.crs:
        features = features.to_crs(grid.crs)
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
    is_point = features.geometry.geom_type.isin(["Point", "MultiPoint"])
    points = features[is_point].explode(index_parts=False)
    shapes = features[~is_point]
    parts = []
    n_band = len(stack.bands)
    with stack.reader() as read:
        if len(points):
            rows, cols = rasterio.transform.rowcol(grid.transform, points.geometry.x, points.geometry.y)
            rows, cols = np.asarray(rows), np.asarray(cols)
            inside = (rows >= 0) & (rows < grid.height) & (cols >= 0) & (cols < grid.width)
            if (~inside).any():
                messages.append(f"{int((~inside).sum())} point(s) outside the image ignored")
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
    band_names = stack.band_names
    if parts:
        frame = pd.concat(parts, ignore_index=True)
    else:
        frame = _rows(grid, np.zeros(0, int), np.zeros(0, int), np.zeros(0, int), np.zeros(0, object),
                      np.zeros((0, n_band), np.float32))
    frame.columns = [*frame.columns[: -n_band], *band_names]
    if len(frame) == 0 and min_classes > 0:
        raise NoOverlapError(
            f"no pixel centre of the image falls inside the features of {source}; polygons smaller than a "
            f"pixel ({grid.res[0]:g} {grid.crs.linear_units or 'units'}) take no sample: draw larger polygons "
            "or use points"
        )
    valid = np.isfinite(frame[band_names].to_numpy()).all(axis=1)
    if (~valid).any():
        messages.append(f"{int((~valid).sum())} training pixel(s) on nodata ignored")
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
