"""Class areas of a class map: how many pixels, hectares and what share of the mapped pixels each legend class
has, written as ``<stem>_areas.csv`` beside the map; with an accuracy assessment stratified by map class, the
area-adjusted estimates (Olofsson et al. 2013, 2014) and their 95% confidence intervals beside them.

Pixels are counted window by window (:func:`numpy.bincount` on windows of whole blocks, at most
:data:`WINDOW_PIXELS` pixels each), so a map of any size is counted in bounded memory. Pixel areas
(:func:`pixel_hectares`):

* projected CRS: the area of the pixel parallelogram, ``|a e - b d|`` from the affine transform, in the CRS's
  linear unit converted to metres (its ``unit_conversion_factor``: 1 for metres, 0.3048 for feet...), the
  same for every pixel;
* geographic CRS (longitude, latitude): the area on the CRS's own ellipsoid of a pixel of each row, computed by
  :meth:`pyproj.Geod.polygon_area_perimeter` (Karney 2013, "Algorithms for geodesics", J. Geodesy 87:43-55,
  through PROJ's copy of GeographicLib). A pixel is bounded by two meridians and two parallels; the parallels
  are followed with a vertex at least every :data:`PARALLEL_STEP_DEGREES` degrees, since the polygon's edges are
  geodesics (the residual error is below 1e-8 of the area even for 1 degree pixels).

Nodata (the class map's 255, :data:`landclass_ui.legend.NODATA_CLASS`, and the file's own nodata value if it is
another one) is never counted: ``share`` is a share of the mapped pixels.
"""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from ._files import atomic_write_text
from .errors import CRSError, ImageError
from .legend import NODATA_CLASS, Legend, normalize_name

__all__ = ["class_areas", "write_areas", "areas_path", "pixel_hectares", "COLUMNS", "ADJUSTED_COLUMNS",
           "WINDOW_PIXELS", "PARALLEL_STEP_DEGREES"]

LOG = logging.getLogger("landclass")

#: Columns of the table: legend value, class name, pixel count, hectares, share of the mapped pixels (0-1).
COLUMNS = ("value", "class", "pixels", "hectares", "share")
#: Columns added from a stratified accuracy assessment: area-adjusted hectares and half the width of their 95%
#: confidence interval (the estimate is ``adjusted_hectares +/- adjusted_hectares_ci95``).
ADJUSTED_COLUMNS = ("adjusted_hectares", "adjusted_hectares_ci95")
#: Largest window read at once, in pixels (its bincount makes an 8-byte index per pixel: 32 MB).
WINDOW_PIXELS = 1 << 22
#: Largest longitude step between the vertices that follow a parallel in a geographic pixel's polygon.
PARALLEL_STEP_DEGREES = 0.01


def areas_path(class_map: str | os.PathLike) -> str:
    """``map.tif`` -> ``map_areas.csv`` (beside it; ``map.vrt`` of a tiled map gives the same).

    >>> areas_path("out/map.tif")
    'out/map_areas.csv'
    """
    p = Path(class_map)
    return str(p.with_name(p.stem + "_areas.csv"))


def _horizontal(crs):
    """The pyproj CRS of ``crs`` (rasterio or pyproj CRS, WKT, EPSG code), without a vertical part or bound
    transformation."""
    import pyproj

    pcrs = pyproj.CRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") else crs)
    if pcrs.is_bound:
        pcrs = pcrs.source_crs
    if pcrs.is_compound:
        pcrs = pcrs.sub_crs_list[0]
        if pcrs.is_bound:
            pcrs = pcrs.source_crs
    return pcrs


def pixel_hectares(crs, transform, height: int) -> np.ndarray:
    """Area of one pixel of each row of a raster, in hectares: float64 ``(height,)``.

    Parameters
    ----------
    crs : rasterio.crs.CRS, pyproj.CRS or anything :meth:`pyproj.CRS.from_user_input` takes
        A projected CRS (any linear unit) or a geographic one (longitude, latitude in degrees or another angular
        unit; x is the longitude, as rasterio orders it).
    transform : affine.Affine
        The raster's pixel-to-CRS transform.
    height : int
        Number of rows.

    Raises
    ------
    CRSError
        No CRS, a CRS that is neither projected nor geographic, a geographic grid that is rotated (a pixel's
        area then changes along the row as well), or rows beyond the poles.

    Examples
    --------
    >>> from affine import Affine
    >>> pixel_hectares("EPSG:32631", Affine(10, 0, 300000, 0, -10, 4900020), 2).tolist()  # 10 m x 10 m
    [0.01, 0.01]
    >>> float(pixel_hectares("EPSG:2227", Affine(100, 0, 0, 0, -100, 0), 1)[0])  # 100 US survey feet
    0.09290341161327487
    """
    if crs is None:
        raise CRSError("the class map has no coordinate reference system, so its pixels have no area; give it one "
                       "(e.g. gdal_edit.py -a_srs EPSG:32631 map.tif)")
    pcrs = _horizontal(crs)
    a, b, _, d, e, f = (transform.a, transform.b, transform.c, transform.d, transform.e, transform.f)
    if pcrs.is_projected:
        unit = pcrs.axis_info[0]
        metres = unit.unit_conversion_factor  # metres per unit of the projected axes
        if not (unit.unit_name and metres and math.isfinite(metres) and metres > 0):
            raise CRSError(f"the class map's CRS ({pcrs.name}) has no usable linear unit ({unit.unit_name!r}); "
                           "reproject the map to a CRS in metres")
        return np.full(height, abs(a * e - b * d) * metres * metres / 10_000.0)
    if not pcrs.is_geographic:
        raise CRSError(f"the class map's CRS ({pcrs.name}) is neither projected nor geographic, so its pixels' "
                       "areas are unknown; reproject the map to a projected CRS in metres")
    if b != 0 or d != 0:
        raise CRSError("the class map's grid is rotated in a geographic CRS; its pixel areas are not computed: "
                       "warp it to a north-up grid (gdalwarp) first")
    degrees = pcrs.axis_info[0].unit_conversion_factor * 180.0 / math.pi  # degrees per unit (radians per unit)
    geod = pcrs.get_geod()
    width = abs(a) * degrees
    lons = np.linspace(0.0, width, max(1, math.ceil(width / PARALLEL_STEP_DEGREES)) + 1)
    edges = (f + e * np.arange(height + 1)) * degrees  # latitude of each row boundary
    if np.abs(edges).max(initial=0) > 90 + 1e-9:
        raise CRSError(f"the class map's rows reach latitude {edges[np.abs(edges).argmax()]:.6f}, beyond a pole; "
                       "check its transform")
    edges = np.clip(edges, -90.0, 90.0)
    out = np.empty(height)
    for row in range(height):
        top, bottom = edges[row], edges[row + 1]
        area, _ = geod.polygon_area_perimeter(np.concatenate([lons, lons[::-1]]),
                                              np.concatenate([np.full(len(lons), top),
                                                              np.full(len(lons), bottom)]))
        out[row] = abs(area) / 10_000.0
    return out


def _windows(src) -> Iterator:
    """Windows of whole blocks covering ``src``, full rows when they fit in :data:`WINDOW_PIXELS`."""
    from rasterio.windows import Window

    block_h, block_w = src.block_shapes[0] if src.block_shapes else (1, src.width)
    block_h, block_w = max(1, min(block_h, src.height)), max(1, min(block_w, src.width))
    if block_h * src.width <= WINDOW_PIXELS:
        cols = src.width
        rows = max(block_h, WINDOW_PIXELS // src.width // block_h * block_h)
    else:
        rows = block_h
        cols = max(block_w, WINDOW_PIXELS // block_h // block_w * block_w)
    for row in range(0, src.height, rows):
        for col in range(0, src.width, cols):
            yield Window(col, row, min(cols, src.width - col), min(rows, src.height - row))


def _count(class_map: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, set[int]]:
    """Pixels (int64 ``(256,)``) and hectares (float64 ``(256,)``) of every value of ``class_map``, and the
    values that are nodata."""
    import rasterio

    try:
        src = rasterio.open(class_map)
    except rasterio.errors.RasterioIOError as exc:
        raise ImageError(f"cannot open class map {class_map}: {exc}") from None
    with src:
        if src.count < 1 or src.dtypes[0] != "uint8":
            found = f"of type {src.dtypes[0]}" if src.count else "missing"
            raise ImageError(f"{class_map} is not a class map: its first band is {found}; a class map is one uint8 "
                             "band of class values (nodata 255)")
        ha = pixel_hectares(src.crs, src.transform, src.height)
        nodata = {NODATA_CLASS}
        if src.nodata is not None and float(src.nodata).is_integer() and 0 <= src.nodata <= 255:
            nodata.add(int(src.nodata))
        pixels = np.zeros(256, np.int64)
        uniform = bool(np.all(ha == ha[0])) if len(ha) else True
        hectares = np.zeros(256)
        for window in _windows(src):
            data = src.read(1, window=window)
            if uniform:
                pixels += np.bincount(data.ravel(), minlength=256)
                continue
            # per row: row r's counts are bins r*256 .. r*256+255
            h = data.shape[0]
            index = (np.arange(h, dtype=np.int64)[:, None] * 256 + data).ravel()
            per_row = np.bincount(index, minlength=h * 256).reshape(h, 256)
            pixels += per_row.sum(axis=0)
            hectares += ha[window.row_off:window.row_off + h] @ per_row
        if uniform:
            hectares = pixels * (ha[0] if len(ha) else 0.0)
    for v in nodata:
        pixels[v], hectares[v] = 0, 0.0
    return pixels, hectares, nodata


def _legend_of(class_map, legend) -> Legend | None:
    from .export import legend_path

    if isinstance(legend, Legend):
        return legend
    if legend is not None:
        return Legend.read(legend)
    beside = legend_path(class_map)
    return Legend.read(beside) if os.path.exists(beside) else None


def class_areas(class_map_path: str | os.PathLike, legend: Legend | str | os.PathLike | None = None) -> pd.DataFrame:
    """Pixels, hectares and share of each class of a class map.

    Parameters
    ----------
    class_map_path : path
        A class map: one uint8 band of legend values, nodata 255 (as :func:`landclass_ui.export.write_classification`
        writes it; a tiled map's VRT too), with a CRS.
    legend : Legend or path, optional
        Names the classes and orders the rows. A path is read with :meth:`Legend.read`. Default: the map's
        ``<stem>_legend.csv`` (:func:`landclass_ui.export.legend_path`) when it exists, else the values found in
        the map, named by their value.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`: ``value`` (int), ``class`` (name), ``pixels`` (int, pixels of that value),
        ``hectares`` (float, ``pixels`` x the pixel area; for a geographic CRS the sum of each row's pixel area,
        :func:`pixel_hectares`) and ``share`` (``pixels`` / all mapped pixels, 0-1; NaN when no pixel is mapped).
        One row per legend class, in legend order, classes without pixels included with 0; then the values found
        in the map but missing from the legend (class name empty, logged as a warning). Nodata is left out.

    Raises
    ------
    ImageError
        The file cannot be opened or is not a uint8 class map.
    CRSError
        No CRS, or pixel areas cannot be computed (:func:`pixel_hectares`).
    LegendError
        The legend file cannot be read.
    """
    legend = _legend_of(class_map_path, legend)
    pixels, hectares, nodata = _count(class_map_path)
    entries = [(e.value, e.name) for e in legend] if legend is not None else []
    known = {v for v, _ in entries}
    extra = [int(v) for v in np.flatnonzero(pixels) if int(v) not in known]
    if legend is not None and extra:
        LOG.warning("class map %s has values not in its legend: %s", class_map_path, ", ".join(map(str, extra)))
    entries += [(v, "" if legend is not None else str(v)) for v in extra]
    values = np.array([v for v, _ in entries], dtype=np.int64)
    in_map = np.array([0 <= v <= 255 and v not in nodata for v in values], dtype=bool)
    counts = np.where(in_map, pixels[np.clip(values, 0, 255)], 0)
    total = int(pixels.sum())
    return pd.DataFrame({
        "value": values,
        "class": pd.Series([name for _, name in entries], dtype=object),
        "pixels": counts.astype(np.int64),
        "hectares": np.where(in_map, hectares[np.clip(values, 0, 255)], 0.0),
        "share": counts / total if total else np.full(len(values), np.nan),
    }, columns=list(COLUMNS))


def _adjusted(table: pd.DataFrame, accuracy) -> tuple[np.ndarray, np.ndarray] | None:
    """Area-adjusted hectares and their 95% half-interval for the rows of ``table``, from a stratified accuracy
    report (None for a report without map strata).

    The report's sample (its confusion matrix, rows = map class, columns = reference class) is estimated again by
    :func:`landclass_ui.accuracy.assess` with this map's class hectares as the strata's areas: the stratified
    area estimator of Olofsson et al. (2013, 2014) with ``A`` in hectares, 95% interval +/- ``Z95`` x SE (Z95 =
    1.95996..., the report's own). When the report was made with the same areas in hectares (what
    :func:`landclass_ui.pipeline.assess` does for a map in metres), these are its ``area`` and ``Z95 x area_se``;
    when it was made with pixel counts (a geographic map) the strata weights become areas.
    """
    from .accuracy import Z95, AccuracyError, assess

    if not accuracy.stratified:
        LOG.info("class areas: the accuracy assessment is not stratified by the map's classes (a hold-out or "
                 "cross-validation sample), so it gives no area-adjusted estimates")
        return None
    classes = list(accuracy.classes)
    by_name = {normalize_name(c): c for c in classes if isinstance(c, str)}
    by_value = {}
    for c in classes:
        if isinstance(c, (int, np.integer)) and not isinstance(c, bool):
            by_value[int(c)] = c
    labels = []
    for value, name in zip(table["value"], table["class"]):
        if name and normalize_name(name) in by_name:
            labels.append(by_name[normalize_name(name)])
        elif int(value) in by_value:
            labels.append(by_value[int(value)])
        else:
            labels.append(name or int(value))  # not in the report: assess() refuses it if it has pixels
    unknown = [c for c in classes if c not in labels]
    if unknown:
        raise AccuracyError(f"class(es) {', '.join(map(repr, unknown))} of the accuracy assessment are not in the "
                            f"class map's legend ({', '.join(map(str, table['class']))}); assess the map against "
                            "a reference sample labelled with its legend")
    cm = accuracy.confusion_matrix
    mapped, reference = [], []
    for i, row_class in enumerate(cm.index):
        for j, ref_class in enumerate(cm.columns):
            k = int(cm.iat[i, j])
            mapped += [row_class] * k
            reference += [ref_class] * k
    areas = {label: float(ha) for label, ha in zip(labels, table["hectares"]) if ha > 0}
    estimate = assess(reference, mapped, mapped_area=areas)
    adjusted = np.array([float(estimate.area.get(label, 0.0)) for label in labels])
    ci95 = np.array([Z95 * float(estimate.area_se.get(label, 0.0)) for label in labels])
    return adjusted, ci95


def write_areas(class_map_path: str | os.PathLike, legend: Legend | str | os.PathLike | None = None,
                accuracy=None) -> str:
    """Write the class area table :func:`class_areas` beside the map as ``<stem>_areas.csv`` (atomically;
    UTF-8, comma-separated, a header line, full float precision, NaN as an empty cell) and return its path.

    Parameters
    ----------
    class_map_path, legend
        As :func:`class_areas`.
    accuracy : landclass_ui.accuracy.AccuracyReport, optional
        An assessment of this map. When it is stratified by map class (``accuracy.stratified``: a reference
        sample assessed with the mapped areas, :func:`landclass_ui.pipeline.assess`), the columns
        :data:`ADJUSTED_COLUMNS` are added: ``adjusted_hectares``, the class's area estimated from the reference
        sample (Olofsson et al. 2014: the map's area corrected for its omission and commission errors), and
        ``adjusted_hectares_ci95``, 1.96 standard errors (the 95% interval is ``adjusted_hectares`` +/- it; NaN
        when a map class has a single sample unit). Classes are matched by name (else by value). A report that
        is not stratified (hold-out pixels, cross-validation) estimates no map areas: the columns are left out
        (noted in the ``landclass`` log).

    Raises
    ------
    ImageError, CRSError, LegendError
        As :func:`class_areas`.
    AccuracyError
        A class of ``accuracy`` is not in the legend, or a class with mapped pixels has no sample unit in it.
    """
    table = class_areas(class_map_path, legend)
    if accuracy is not None:
        adjusted = _adjusted(table, accuracy)
        if adjusted is not None:
            table["adjusted_hectares"], table["adjusted_hectares_ci95"] = adjusted
    path = areas_path(class_map_path)
    rounded = table.round({"hectares": 4, "share": 6, "adjusted_hectares": 4, "adjusted_hectares_ci95": 4})
    atomic_write_text(path, rounded.to_csv(index=False, lineterminator="\n"))
    return path
