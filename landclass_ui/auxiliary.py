"""Auxiliary layers put on the image grid and stacked as extra bands: latitude, terrain (DEM), water.

A recipe's ``auxiliary`` list holds entries of three kinds::

    "latitude"
    {"layer": "terrain", "path": "/abs/dem.tif", "bands": ["elevation", "slope", "aspect", "eastness", "northness"]}
    {"layer": "water", "path": "/abs/occurrence.tif", "bands": ["water_occurrence"]}    # bands: null = all

:func:`add_auxiliary` appends them to a stack as computed bands (:class:`LatitudeBand`, :class:`TerrainBand`,
:class:`WaterBand`, each a :class:`~landclass_ui.imagery.ComputedBand`), which ``ImageStack.reader`` asks for
one window at a time. Nothing is precomputed: every window is warped and computed when it is read.

Latitude
    Degrees (WGS 84) of each pixel centre, exact per pixel (pyproj).

Terrain (:class:`TerrainBand`)
    The DEM is first warped onto the image grid (GDAL warper, **bilinear**, in the image CRS, the window padded
    by one pixel on each side), then slope and aspect are computed there with Horn's (1981) 3x3 weighted
    differences, the method of GDAL's ``gdaldem slope/aspect`` (Horn, B.K.P. 1981, "Hill shading and the
    reflectance map", Proc. IEEE 69(1):14-47)::

        dz/dx = ((c + 2f + i) - (a + 2d + g)) / (8 * x_res)     # a b c
        dz/dy = ((g + 2h + i) - (a + 2b + c)) / (8 * y_res)     # d e f   (e: the pixel; y grows southwards)
                                                                # g h i

    Pixel sizes are ground metres: for a projected image CRS the grid's pixel size in its linear unit times
    the unit's metres, divided by the projection's scale factor at the window centre (pyproj
    ``Proj.get_factors``: ~1 for UTM, 1/cos(lat) for Web Mercator); for a geographic image CRS, degrees times
    the length of a degree on the WGS 84 ellipsoid at each row's latitude:
    ``111132.954 - 559.822 cos 2φ + 1.175 cos 4φ`` m per degree of latitude and
    ``111412.84 cos φ - 93.5 cos 3φ + 0.118 cos 5φ`` m per degree of longitude (the usual series; ~110574 and
    111320 cos φ near the equator). Elevations are taken as metres (the file's scale/offset applied).

    * ``elevation`` (m), ``slope`` (degrees, 0-90).
    * ``aspect``: degrees clockwise from north of the direction the slope *faces* (downslope), 0-360.
    * ``eastness`` = sin(aspect), ``northness`` = cos(aspect).
    * Flat pixels (zero gradient) get aspect 0 and eastness = northness = 0 (slope 0 tells them apart from
      north-facing slopes); they are not nodata, so flat land is still classified.

    Because the derivatives are taken on the image grid, no angle is ever averaged; with a DEM much finer
    than the image the slope is that of the DEM smoothed to the image's pixel size.
    Slope/aspect need all 9 neighbours: they are NaN one pixel inside the DEM's coverage edge.

Water (:class:`WaterBand`, one band per file band)
    The raster (e.g. a JRC Global Surface Water tile: occurrence 0-100 %, change, seasonality 0-12 months,
    recurrence, transitions 0-10, max extent 0/1) warped onto the image grid with **nearest** neighbour, so
    class codes (transitions, extent) and month counts stay what they are. Nodata: the file's declared
    nodata; a byte file without one gets 255, the JRC GSW "no data" value (its tiles use 0-100 for
    occurrence and 255 outside the mapped area). Band names: ``water_<band description>``, else for a
    single-band file ``water_<layer>`` from a JRC file name (``occurrence_80W_0Nv1_4_2021.tif`` ->
    ``water_occurrence``) or ``water_occurrence``; else ``water_1..n``.

Pixels a DEM or water raster does not cover are NaN in the stack, so they are left unclassified like any
other nodata; :func:`coverage` says which share of the image an entry covers.
"""
from __future__ import annotations

import math
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np

from .errors import CRSError, ImageError, NoOverlapError
from .imagery import BandSource, Grid, unique_names

__all__ = ["AUXILIARY", "LAYERS", "TERRAIN_BANDS", "AuxEntry", "LatitudeBand", "TerrainBand", "WaterBand",
           "latitude", "terrain", "horn", "add_auxiliary", "aux_bands", "coverage", "parse_entry", "parse_cli",
           "entry_label", "check_entry"]
TERRAIN_BANDS = ("elevation", "slope", "aspect", "eastness", "northness")
#: JRC Global Surface Water layer names (as in its file names).
JRC_LAYERS = ("occurrence", "change", "seasonality", "recurrence", "transitions", "extent")
JRC_NODATA = 255


def latitude(grid, window, out_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Latitude (degrees, WGS 84 / EPSG:4326) of each pixel centre of ``window`` on ``grid``.

    Returns float32 ``(height, width)`` (``out_shape`` when given: the window resampled to that many pixels).
    Computed exactly per pixel with pyproj, so it is right for any projected or geographic CRS.
    """
    from pyproj import Transformer

    h, w = out_shape or (int(window.height), int(window.width))
    t = grid.window_transform(window)
    sx, sy = window.width / w, window.height / h
    cols, rows = np.meshgrid((np.arange(w) + 0.5) * sx, (np.arange(h) + 0.5) * sy)
    xs = t.c + cols * t.a
    ys = t.f + rows * t.e
    if grid.crs.is_geographic and grid.crs.to_epsg() == 4326:
        return ys.astype(np.float32)
    _, lats = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    return np.asarray(lats, dtype=np.float32)


#: Auxiliary layers computed from the grid alone, by name.
AUXILIARY: dict[str, Callable] = {"latitude": latitude}
#: Every layer an entry can name.
LAYERS = ("latitude", "terrain", "water")


# ---------------------------------------------------------------------------------------------------------
# Entries


@dataclass(frozen=True)
class AuxEntry:
    """A parsed recipe entry: ``layer`` (latitude, terrain, water), ``path`` and ``bands`` (None: all)."""

    layer: str
    path: str | None = None
    bands: tuple[str, ...] | None = None

    def to_recipe(self):
        if self.layer in AUXILIARY:
            return self.layer
        return {"layer": self.layer, "path": self.path, "bands": None if self.bands is None else list(self.bands)}


def parse_entry(entry) -> AuxEntry:
    """An :class:`AuxEntry` from a recipe entry (a layer name, or a dict with ``layer``, ``path``, ``bands``).

    Raises
    ------
    ImageError
        Unknown layer, missing path, unknown terrain band.
    """
    if isinstance(entry, AuxEntry):
        return entry
    if isinstance(entry, str):
        if entry in AUXILIARY:
            return AuxEntry(entry)
        if entry in ("terrain", "water"):
            raise ImageError(f"auxiliary layer {entry!r} needs a file: terrain=/path/dem.tif or water=/path/occ.tif")
        raise ImageError(f"unknown auxiliary layer {entry!r}; available: {', '.join(LAYERS)}")
    if not isinstance(entry, dict):
        raise ImageError(f"an auxiliary entry must be a layer name or an object, not {entry!r}")
    layer = entry.get("layer")
    if layer in AUXILIARY:
        return AuxEntry(layer)
    if layer not in ("terrain", "water"):
        raise ImageError(f"unknown auxiliary layer {layer!r}; available: {', '.join(LAYERS)}")
    path = entry.get("path")
    if not path:
        raise ImageError(f"the {layer} auxiliary layer has no file path")
    bands = entry.get("bands")
    if bands is not None:
        bands = tuple(str(b) for b in bands)
        if not bands:
            raise ImageError(f"the {layer} auxiliary layer has no band chosen")
        if layer == "terrain":
            bad = [b for b in bands if b not in TERRAIN_BANDS]
            if bad:
                raise ImageError(f"unknown terrain band(s) {', '.join(bad)}; available: {', '.join(TERRAIN_BANDS)}")
    return AuxEntry(layer, str(path), bands)


def parse_cli(spec: str):
    """A recipe entry from a command-line ``--aux`` value: ``latitude``, ``terrain=PATH``, ``water=PATH``.

    Paths are made absolute. Other values are returned as they are (the run then reports them as unknown).
    """
    spec = spec.strip()
    layer, sep, path = spec.partition("=")
    layer = layer.strip().lower()
    if sep and layer in ("terrain", "water"):
        if not path.strip():
            raise ImageError(f"--aux {layer}= needs a file path, e.g. --aux {layer}=/data/file.tif")
        entry = {"layer": layer, "path": os.path.abspath(os.path.expanduser(path.strip())), "bands": None}
        if layer == "terrain":
            entry["bands"] = list(TERRAIN_BANDS)
        return entry
    return spec


def entry_label(entry) -> str:
    e = parse_entry(entry)
    return e.layer if e.path is None else f"{e.layer} ({os.path.basename(e.path)})"


# ---------------------------------------------------------------------------------------------------------
# Files


def _open(path: str, what: str):
    import rasterio

    if not os.path.isfile(path):
        raise ImageError(f"{what} file not found: {path}")
    try:
        src = rasterio.open(path)
    except Exception as exc:  # rasterio.errors.RasterioIOError and friends
        raise ImageError(f"cannot read {path} as a raster ({exc}); give a GeoTIFF {what}") from None
    if src.crs is None:
        src.close()
        raise CRSError(f"{what} {path} has no coordinate reference system; assign one first, e.g. "
                       f"`gdal_edit.py -a_srs EPSG:4326 {path}`")
    if src.transform.b != 0 or src.transform.d != 0:
        src.close()
        raise ImageError(f"{what} {path} is rotated; warp it north-up first (gdalwarp)")
    return src


def _water_nodata(src, i: int) -> float | None:
    nd = src.nodatavals[i]
    if nd is None and src.dtypes[i] == "uint8":
        return float(JRC_NODATA)
    return nd


def _water_names(path: str, src) -> list[str]:
    descriptions = [d for d in src.descriptions]
    if src.count == 1 and not descriptions[0]:
        stem = os.path.basename(path).lower()
        layer = next((lay for lay in JRC_LAYERS if stem.startswith(lay)), "occurrence")
        return [f"water_{layer}"]
    names = []
    for i, d in enumerate(descriptions):
        d = re.sub(r"[^0-9a-zA-Z]+", "_", d or "").strip("_").lower()
        names.append(f"water_{d}" if d and not d.startswith("water") else (d or f"water_{i + 1}"))
    return unique_names(names)


def aux_bands(entry) -> list:
    """The :class:`~landclass_ui.imagery.BandSource` list an entry adds (checks the file: found, readable,
    with a CRS)."""
    e = parse_entry(entry)
    if e.layer in AUXILIARY:
        return [BandSource(path="", index=0, name=e.layer, computed=LatitudeBand())]
    if e.layer == "terrain":
        _open(e.path, "DEM").close()
        return [BandSource(path=e.path, index=1, name=b, computed=TerrainBand(e.path, b))
                for b in (e.bands or TERRAIN_BANDS)]
    with _open(e.path, "water raster") as src:
        names = _water_names(e.path, src)
        if e.bands is not None:
            bad = [b for b in e.bands if b not in names]
            if bad:
                raise ImageError(f"no band {', '.join(bad)} in {e.path}; it has {', '.join(names)}")
        return [BandSource(path=e.path, index=i + 1, name=names[i],
                           computed=WaterBand(e.path, i + 1, _water_nodata(src, i),
                                              float(src.scales[i] if src.scales else 1.0),
                                              float(src.offsets[i] if src.offsets else 0.0)))
                for i in range(src.count) if e.bands is None or names[i] in e.bands]


def _check_overlap(grid, path: str, what: str) -> None:
    from rasterio.warp import transform_bounds

    with _open(path, what) as src:
        try:
            b = transform_bounds(src.crs, grid.crs, *src.bounds, densify_pts=21)
        except Exception:  # outside the area the transformation is defined on
            b = (math.inf, math.inf, -math.inf, -math.inf)
    g = grid.bounds
    if not all(map(math.isfinite, b)) or b[0] >= g[2] or b[2] <= g[0] or b[1] >= g[3] or b[3] <= g[1]:
        raise NoOverlapError(f"the {what} {path} does not overlap the image; give a file covering the image area")


def add_auxiliary(stack, entries: Sequence):
    """``stack`` with the auxiliary layers of ``entries`` (recipe entries) appended as bands.

    Raises
    ------
    ImageError
        An unknown layer (the message lists the known ones), a missing or unreadable file.
    CRSError
        A DEM or water raster without a CRS.
    NoOverlapError
        A DEM or water raster that does not overlap the image.
    """
    bands = list(stack.bands)
    for entry in entries:
        e = parse_entry(entry)
        if e.path is not None:
            _check_overlap(stack.grid, e.path, "DEM" if e.layer == "terrain" else "water raster")
        bands.extend(aux_bands(e))
    names = unique_names([b.name for b in bands])
    return replace(stack, bands=[replace(b, name=n) for b, n in zip(bands, names)])


def check_entry(entry, grid=None) -> float | None:
    """Check an entry against the image grid (file readable, CRS, overlap) and return its :func:`coverage`
    (None without a grid). Raises what :func:`add_auxiliary` raises."""
    e = parse_entry(entry)
    aux_bands(e)
    if grid is None:
        return None
    if e.path is not None:
        _check_overlap(grid, e.path, "DEM" if e.layer == "terrain" else "water raster")
    return coverage(grid, e)


# ---------------------------------------------------------------------------------------------------------
# Computing


def _target(grid, window, out_shape, pad: int = 0):
    """Transform and shape of ``window`` on ``grid`` (resampled to ``out_shape``), padded by ``pad`` pixels."""
    from affine import Affine

    h, w = out_shape or (int(window.height), int(window.width))
    t = grid.window_transform(window) * Affine.scale(window.width / w, window.height / h)
    return t * Affine.translation(-pad, -pad), (h + 2 * pad, w + 2 * pad)


def _warp(path: str, index: int, grid, transform, shape, resampling, nodata=None, what="DEM") -> np.ndarray:
    """Band ``index`` of ``path`` on the target grid, float32, NaN where the file has no data."""
    import rasterio
    from rasterio.warp import reproject

    out = np.full(shape, np.nan, np.float32)
    with _open(path, what) as src:
        src_nodata = src.nodatavals[index - 1] if nodata is None else nodata
        reproject(rasterio.band(src, index), out, src_nodata=src_nodata, dst_transform=transform,
                  dst_crs=grid.crs, dst_nodata=np.nan, resampling=resampling)
        if what == "DEM":
            scale = src.scales[index - 1] if src.scales else 1.0
            offset = src.offsets[index - 1] if src.offsets else 0.0
            if scale != 1.0 or offset != 0.0:
                out = out * np.float32(scale) + np.float32(offset)
    return out


def metres_per_degree(lat_deg) -> tuple[np.ndarray, np.ndarray]:
    """Length (m) of one degree of longitude and of latitude at ``lat_deg`` on the WGS 84 ellipsoid."""
    phi = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lon = 111412.84 * np.cos(phi) - 93.5 * np.cos(3 * phi) + 0.118 * np.cos(5 * phi)
    lat = 111132.954 - 559.822 * np.cos(2 * phi) + 1.175 * np.cos(4 * phi)
    return lon, lat


def _pixel_metres(crs, transform, shape) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Ground size (m) of the pixels of a padded target grid: x and y (per row for a geographic CRS)."""
    xres, yres = abs(transform.a), abs(transform.e)
    if crs.is_geographic:
        rows = np.arange(shape[0])[:, None] + 0.5
        lats = transform.f + transform.e * rows
        mlon, mlat = metres_per_degree(lats)
        return xres * mlon, yres * mlat
    unit = crs.linear_units_factor[1] if crs.linear_units_factor else 1.0
    kx = ky = 1.0
    try:  # the projection's scale factor at the centre (1/cos(lat) for Mercator, ~1 for UTM)
        from pyproj import Proj, Transformer

        cx, cy = transform * (shape[1] / 2, shape[0] / 2)
        lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(cx, cy)
        f = Proj(crs).get_factors(lon, lat)
        if math.isfinite(f.parallel_scale) and math.isfinite(f.meridional_scale):
            kx, ky = f.parallel_scale, f.meridional_scale
    except Exception:
        pass
    return xres * unit / kx, yres * unit / ky


def horn(z: np.ndarray, xres, yres) -> dict[str, np.ndarray]:
    """Slope, aspect, eastness, northness of the interior of ``z`` (padded by one pixel on each side).

    ``xres``/``yres``: ground pixel size in metres (scalars, or ``(rows + 2, 1)`` arrays per row of ``z``).
    Horn (1981) 3x3 differences, as ``gdaldem``; aspect clockwise from north, downslope; flat: aspect 0,
    eastness = northness = 0. NaN wherever one of the 9 neighbours is NaN.
    """
    z = z.astype(np.float64)
    a, b, c = z[:-2, :-2], z[:-2, 1:-1], z[:-2, 2:]
    d, f = z[1:-1, :-2], z[1:-1, 2:]
    g, h, i = z[2:, :-2], z[2:, 1:-1], z[2:, 2:]
    xres = np.asarray(xres, dtype=np.float64)
    yres = np.asarray(yres, dtype=np.float64)
    if xres.ndim:
        xres = xres[1:-1]
    if yres.ndim:
        yres = yres[1:-1]
    dzdx = ((c + 2 * f + i) - (a + 2 * d + g)) / (8 * xres)  # rising eastwards
    dzdn = -((g + 2 * h + i) - (a + 2 * b + c)) / (8 * yres)  # rising northwards
    mag = np.hypot(dzdx, dzdn)
    slope = np.degrees(np.arctan(mag))
    flat = mag == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        east = np.where(flat, 0.0, -dzdx / mag)  # the downslope direction's east and north components
        north = np.where(flat, 0.0, -dzdn / mag)
    aspect = np.where(flat, 0.0, np.degrees(np.arctan2(east, north)) % 360.0)
    nan = np.isnan(mag)
    for arr in (east, north, aspect):
        arr[nan] = np.nan
    return {"slope": slope, "aspect": aspect, "eastness": east, "northness": north}


_CACHE: "OrderedDict[tuple, dict[str, np.ndarray]]" = OrderedDict()
_LOCK = threading.Lock()


def terrain(dem_path: str, grid, window, out_shape=None) -> dict[str, np.ndarray]:
    """Every terrain band (:data:`TERRAIN_BANDS`) of ``window`` on ``grid``, float32 (see the module doc).

    The last few windows are cached, so the five bands of one window warp the DEM once.
    """
    from rasterio.enums import Resampling

    try:
        mtime = os.path.getmtime(dem_path)
    except OSError:
        mtime = None
    key = (dem_path, mtime, grid.crs.to_wkt(), tuple(grid.transform), grid.width, grid.height,
           int(window.col_off), int(window.row_off), int(window.width), int(window.height), out_shape)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    transform, shape = _target(grid, window, out_shape, pad=1)
    z = _warp(dem_path, 1, grid, transform, shape, Resampling.bilinear)
    xres, yres = _pixel_metres(grid.crs, transform, shape)
    out = {"elevation": z[1:-1, 1:-1]}
    out.update(horn(z, xres, yres))
    out = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}
    with _LOCK:
        _CACHE[key] = out
        while len(_CACHE) > 8:
            _CACHE.popitem(last=False)
    return out


def water(path: str, index: int, grid, window, out_shape=None, *, nodata=None, scale: float = 1.0,
          offset: float = 0.0) -> np.ndarray:
    """Band ``index`` (1-based) of a water raster on ``window`` of ``grid`` (nearest neighbour; nodata ->
    NaN; ``stored * scale + offset``), float32 ``(height, width)``."""
    from rasterio.enums import Resampling

    transform, shape = _target(grid, window, out_shape)
    values = _warp(path, index, grid, transform, shape, Resampling.nearest, nodata=nodata, what="water raster")
    if scale != 1.0 or offset != 0.0:
        values = values * np.float32(scale) + np.float32(offset)
    return values


@dataclass(frozen=True)
class LatitudeBand:
    """Latitude of each pixel centre (:func:`latitude`), a :class:`~landclass_ui.imagery.ComputedBand`."""

    inputs: tuple[str, ...] = ()

    def compute(self, grid: Grid, window, out_shape, inputs) -> np.ndarray:
        return latitude(grid, window, out_shape)


@dataclass(frozen=True)
class TerrainBand:
    """One terrain band (``name`` of :data:`TERRAIN_BANDS`) of a DEM (:func:`terrain`)."""

    path: str
    name: str
    inputs: tuple[str, ...] = ()

    def compute(self, grid: Grid, window, out_shape, inputs) -> np.ndarray:
        return terrain(self.path, grid, window, out_shape)[self.name]


@dataclass(frozen=True)
class WaterBand:
    """Band ``index`` of a water raster (:func:`water`)."""

    path: str
    index: int
    nodata: float | None = None
    scale: float = 1.0
    offset: float = 0.0
    inputs: tuple[str, ...] = ()

    def compute(self, grid: Grid, window, out_shape, inputs) -> np.ndarray:
        return water(self.path, self.index, grid, window, out_shape, nodata=self.nodata, scale=self.scale,
                     offset=self.offset)


def coverage(stack_or_grid, entry, *, max_side: int = 1024) -> float:
    """Share (0-1) of the image's pixels a DEM or water raster has data for (1.0 for latitude).

    Exact for images up to ``max_side`` pixels a side; larger ones are sampled on a grid of at most
    ``max_side`` pixels a side (nearest neighbour at the coarse pixel centres).
    """
    from rasterio.enums import Resampling
    from rasterio.windows import Window

    grid = getattr(stack_or_grid, "grid", stack_or_grid)
    e = parse_entry(entry)
    if e.path is None:
        return 1.0
    k = max(grid.width, grid.height) / max_side
    out_shape = None if k <= 1 else (max(1, round(grid.height / k)), max(1, round(grid.width / k)))
    transform, shape = _target(grid, Window(0, 0, grid.width, grid.height), out_shape)
    if e.layer == "terrain":
        values = _warp(e.path, 1, grid, transform, shape, Resampling.nearest)
    else:
        first = aux_bands(e)[0].computed
        values = _warp(e.path, first.index, grid, transform, shape, Resampling.nearest, nodata=first.nodata,
                       what="water raster")
    return float(np.isfinite(values).mean())
