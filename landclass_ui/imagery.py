"""Open satellite imagery as one stack of bands on one pixel grid.

A :class:`ImageStack` is a lazy list of bands (file, band index, scale, offset, nodata) plus the grid they are
read on. Nothing is loaded until :meth:`ImageStack.read` asks for a window, so memory does not grow with the
image. Bands from files on another grid are resampled onto the stack's grid on the fly with GDAL's warper
(``rasterio.vrt.WarpedVRT``, bilinear).

Readers (one small function per kind of input) sit in :data:`READERS`; :func:`open_image` picks the first that
accepts a path. Adding a kind is one function and one registry line.

Values returned by :meth:`ImageStack.read` are float32 with ``NaN`` wherever a band is nodata, so nodata is
carried through the whole chain. Products whose scale is known (:mod:`landclass_ui.sensors`: Sentinel-2 L2A and
its band files, Landsat Collection 2 Level-2) are converted to reflectance (0-1) or Kelvin; other files are
read as stored (with the scale/offset they declare), their unit unknown.

Bands computed from other bands or from the grid (spectral indices, pairwise bands, terrain, latitude...)
are :class:`ComputedBand` objects carried by a :class:`BandSource`; the reader calls their ``compute`` and
knows nothing else about them (they live in :mod:`landclass_ui.indices` and :mod:`landclass_ui.auxiliary`).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import glob
import os
import re
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence, runtime_checkable

import numpy as np
import rasterio
import rasterio.errors
from affine import Affine
from rasterio._err import CPLE_BaseError
from rasterio.crs import CRS
from rasterio.enums import MaskFlags, Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from .cloudmask import MaskSource, find_mask, mask_kind, split_layers
from .errors import CRSError, ImageError, NoOverlapError
from .sensors import REFLECTANCE, product_radiometry, s2_offset
from .timeseries import date_band_name, day_numbers, gap_fill

__all__ = [
    "Grid",
    "ComputedBand",
    "BandSource",
    "ImageStack",
    "open_image",
    "expand_paths",
    "with_masks",
    "check_pixels",
    "masked_share",
    "series_shares",
    "stack_dates",
    "TimeSeries",
    "read_band_folder",
    "open_images",
    "combine_stacks",
    "READERS",
    "unique_names",
    "with_scale",
]


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid: CRS, affine transform (pixel corner), width and height in pixels."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` in the grid's CRS units."""
        left, top = self.transform * (0, 0)
        right, bottom = self.transform * (self.width, self.height)
        return (min(left, right), min(bottom, top), max(left, right), max(bottom, top))

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size ``(x, y)`` in CRS units (metres for projected CRS, degrees for geographic)."""
        return (abs(self.transform.a), abs(self.transform.e))

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``."""
        return (self.height, self.width)

    def windows(self, size: int = 512) -> Iterator[Window]:
        """Cover the grid with square windows of at most ``size`` pixels a side, row by row."""
        for row in range(0, self.height, size):
            for col in range(0, self.width, size):
                yield Window(col, row, min(size, self.width - col), min(size, self.height - row))

    def window_transform(self, window: Window) -> Affine:
        """Affine transform of the top-left corner of ``window``."""
        return rasterio.windows.transform(window, self.transform)

    def same_as(self, other: "Grid") -> bool:
        """True when both grids have the same CRS, transform (to 1e-9 of a pixel) and size."""
        return (
            self.crs == other.crs
            and self.width == other.width
            and self.height == other.height
            and self.transform.almost_equals(other.transform, precision=1e-9 * max(self.res))
        )

    @classmethod
    def of(cls, dataset) -> "Grid":
        """The grid of an open rasterio dataset."""
        return cls(dataset.crs, dataset.transform, dataset.width, dataset.height)


@runtime_checkable
class ComputedBand(Protocol):
    """A band computed when a window is read, from other bands of the stack and/or the grid.

    ``inputs`` names the stack bands it needs (read or computed before it, in stack order); ``compute`` gets
    them as float32 ``(height, width)`` arrays, NaN for nodata, in that order, and returns float32
    ``(height, width)`` with NaN where the value is undefined. ``window`` is on ``grid``; ``out_shape``
    ``(height, width)``, when given, is the window resampled to that many pixels (a screen-resolution view).
    Implementations: spectral indices and pairwise bands (:mod:`landclass_ui.indices`), latitude, terrain
    and water layers (:mod:`landclass_ui.auxiliary`).
    """

    inputs: tuple[str, ...]

    def compute(self, grid: "Grid", window: Window, out_shape: tuple[int, int] | None,
                inputs: Sequence[np.ndarray]) -> np.ndarray: ...


@dataclass(frozen=True)
class BandSource:
    """One band of a stack: where it is stored and how its stored values map to physical values.

    ``value = stored * scale + offset``; stored values equal to ``nodata`` (or masked by the file) become NaN.
    ``index`` is 1-based, as in GDAL. ``unit`` is :data:`~landclass_ui.sensors.REFLECTANCE` (0-1),
    :data:`~landclass_ui.sensors.KELVIN`, or ``""`` when unknown (values as stored). A band with ``computed``
    set is not read from ``path`` (which then only says where its data comes from, if anywhere): its values
    come from ``computed.compute`` (:class:`ComputedBand`).
    """

    path: str
    index: int
    name: str
    scale: float = 1.0
    offset: float = 0.0
    nodata: float | None = None
    unit: str = ""
    computed: ComputedBand | None = None


@dataclass(frozen=True)
class TimeSeries:
    """The dates of a stack made of several acquisitions: ``dates`` in time order, ``bands[t]`` the stack band
    names of date ``t`` (the same band of every date at the same position: ``20230810_B04``, ``20230813_B04``),
    and ``gap_fill``: masked pixels of a date filled by linear interpolation between the nearest valid dates
    (:func:`landclass_ui.timeseries.gap_fill`, iota2's default)."""

    dates: tuple[_dt.date, ...]
    bands: tuple[tuple[str, ...], ...]
    gap_fill: bool = True
    sources: tuple[BandSource, ...] = ()  # every date's file bands, also when a selection holds only some


@dataclass
class ImageStack:
    """Bands from one or more files, read on one common :class:`Grid`.

    Attributes
    ----------
    grid : Grid
        The pixel grid every band is read on (the first file's grid).
    bands : list of BandSource
        The bands in stack order.
    messages : list of str
        What was done that a user should know (resampling, the Sentinel-2 offset applied, ...).
    masks : list of MaskSource
        Quality layers (SCL, QA_PIXEL; :mod:`landclass_ui.cloudmask`) whose flagged pixels are nodata in the
        bands they cover (every band read from a file, unless the mask names its bands).
    series : TimeSeries or None
        For images of several dates stacked by :func:`stack_dates`: the dates, the bands of each, and whether
        masked pixels are filled from the other dates (:func:`landclass_ui.timeseries.gap_fill`).
    """

    grid: Grid
    bands: list[BandSource]
    messages: list[str] = field(default_factory=list)
    masks: list[MaskSource] = field(default_factory=list)
    series: TimeSeries | None = None

    @property
    def band_names(self) -> list[str]:
        """Band names in stack order (unique)."""
        return [b.name for b in self.bands]

    @property
    def crs(self) -> CRS:
        return self.grid.crs

    @property
    def image_bands(self) -> list[str]:
        """Names of the bands read from files (not computed), in stack order."""
        return [b.name for b in self.bands if b.computed is None]

    @property
    def units(self) -> dict[str, str]:
        """Band name -> unit (``"reflectance"``, ``"kelvin"`` or ``""``: unknown)."""
        return {b.name: b.unit for b in self.bands}

    def select(self, names: Sequence[str] | None) -> "ImageStack":
        """A stack with only the named bands, in the given order.

        Raises
        ------
        ImageError
            If a name is not a band of this stack (the message lists the bands there are).
        """
        if not names:
            return self
        by_name = {b.name: b for b in self.bands}
        by_lower = {b.name.lower(): b for b in self.bands}
        chosen = []
        for name in names:
            band = by_name.get(name) or by_lower.get(str(name).strip().lower())
            if band is None:
                raise ImageError(
                    f"no band named {name!r} in the image; the bands are {', '.join(self.band_names)}"
                )
            chosen.append(band)
        return replace(self, bands=chosen)

    @contextlib.contextmanager
    def reader(self, *, lock: threading.Lock | None = None) -> Iterator[Callable[[Window | None], np.ndarray]]:
        """Open every file once and yield a function ``read(window) -> array``.

        The array is float32 of shape ``(n_bands, window.height, window.width)`` with NaN for nodata.
        ``read(window, out_shape=(h, w))`` reads the window resampled to ``h x w`` pixels (GDAL's average, from
        the files' overviews when they have them): the quick way to a screen-resolution view.
        Use it when reading many windows; :meth:`read` opens and closes the files for each call.

        With ``lock``, several threads may call ``read`` at once: the files' reads take turns under the lock
        (a GDAL dataset serves one thread at a time) and the rest (nodata, gap filling, derived bands) runs in
        parallel. One set of open files then decodes each block once for all threads: its block cache serves
        the margins that neighbouring windows share (on a DEFLATE COG with a 3 x 3 majority filter, 10 % less
        time than one set of files per thread).
        """
        own = [b for b in self.bands if b.computed is None]
        series, groups = self.series, []
        if series is not None and series.gap_fill and len(series.dates) > 1:
            # the bands of every date at the positions this stack holds: a selection of some bands (a
            # display composite) still reads the other dates' bands it is filled from
            names = {b.name for b in own}
            positions = sorted({k for date_bands in series.bands for k, n in enumerate(date_bands) if n in names})
            groups = [[date_bands[k] for date_bands in series.bands] for k in positions]
            by_name = {b.name: b for b in series.sources}
            own += [by_name[n] for g in groups for n in g if n not in names]
        with contextlib.ExitStack() as stack:
            datasets: dict[str, rasterio.io.DatasetReaderBase] = {}
            alphas: dict[str, int | None] = {}  # alpha band of a warped file without nodata (marks uncovered area)
            for band in own:
                if band.computed is not None or band.path in datasets:
                    continue
                src = stack.enter_context(_open_raster(band.path))
                alphas[band.path] = None
                if not Grid.of(src).same_as(self.grid):
                    src = stack.enter_context(
                        WarpedVRT(
                            src,
                            crs=self.grid.crs,
                            transform=self.grid.transform,
                            width=self.grid.width,
                            height=self.grid.height,
                            resampling=Resampling.bilinear,
                            **(
                                {"add_alpha": True}
                                if band.nodata is None
                                else {"src_nodata": band.nodata, "nodata": band.nodata}
                            ),
                        )
                    )
                    if band.nodata is None:
                        alphas[band.path] = src.count
                datasets[band.path] = src
            masks = [(mask, _open_mask(stack, mask, self.grid)) for mask in self.masks]
            guard = lock if lock is not None else contextlib.nullcontext()

            def read(window: Window | None = None, out_shape: tuple[int, int] | None = None) -> np.ndarray:
                if window is None:
                    window = Window(0, 0, self.grid.width, self.grid.height)
                shape = out_shape or (int(window.height), int(window.width))
                out = np.empty((len(self.bands), *shape), np.float32)
                done: dict[str, int] = {}
                with guard:
                    for i, band in enumerate(self.bands):
                        if band.computed is None:
                            _read_band(datasets[band.path], band, window, alphas[band.path], out_shape, out=out[i])
                            done[band.name] = i
                    extra = {b.name: _read_band(datasets[b.path], b, window, alphas[b.path], out_shape)
                             for b in own if b.name not in done}  # other dates' bands, for the gap filling
                    flagged = [(mask, _read_mask(mask, src, window, out_shape)) for mask, src in masks]
                for mask, invalid in flagged:
                    if invalid.any():
                        names = mask.bands or list(done)
                        rows = [done[n] for n in names if n in done]
                        out[rows] = np.where(invalid, np.float32(np.nan), out[rows])
                        for n in names:
                            if n in extra:
                                extra[n][invalid] = np.nan
                for group in groups:  # one band, every date: (T, h, w)
                    series_values = np.stack([out[done[n]] if n in done else extra[n] for n in group])
                    filled = gap_fill(series_values, day_numbers(series.dates))[0]
                    for t, n in enumerate(group):
                        if n in done:
                            out[done[n]] = filled[t]
                for i, band in enumerate(self.bands):  # computed bands, from the bands before them
                    if band.computed is not None:
                        needs = band.computed.inputs
                        missing = [n for n in needs if n not in done]
                        if missing:
                            raise ImageError(f"band {band.name} is computed from band(s) {', '.join(missing)}, "
                                             "which are not in the stack; keep them selected")
                        out[i] = band.computed.compute(self.grid, window, out_shape, [out[done[n]] for n in needs])
                        done[band.name] = i
                return out

            yield read

    def read(self, window: Window | None = None, out_shape: tuple[int, int] | None = None) -> np.ndarray:
        """Read a window (default: the whole grid) as float32 ``(n_bands, height, width)``, NaN for nodata;
        resampled to ``out_shape`` ``(height, width)`` when given."""
        with self.reader() as read:
            return read(window, out_shape)

    def to_xarray(self, window: Window | None = None, *, chunks: int = 512):
        """The stack as a lazy, chunked ``xarray.DataArray`` (dask), dims ``(band, y, x)``, float32, NaN for
        nodata, band names as the ``band`` coordinate, ``x``/``y`` the pixel centres in the grid's CRS, the CRS
        and transform set (rioxarray).

        Nothing is read until a chunk is computed: each ``chunks`` x ``chunks`` pixel block of ``window``
        (default: the whole grid) is one :meth:`read` of all bands (computed bands included), so a dask
        scheduler can read and process blocks in parallel. This is the entry point of the Dask path.

        >>> from landclass_ui.sample import sample_paths
        >>> da = open_image(sample_paths().safe).to_xarray(chunks=1024)
        >>> da.dims, da.shape, da.data.chunksize
        (('band', 'y', 'x'), (4, 1830, 1830), (4, 1024, 1024))
        """
        import dask
        import dask.array as dska
        import rioxarray  # noqa: F401  (registers the .rio accessor)
        import xarray as xr

        if window is None:
            window = Window(0, 0, self.grid.width, self.grid.height)
        c0, r0, width, height = int(window.col_off), int(window.row_off), int(window.width), int(window.height)
        n = len(self.bands)
        rows = []
        for r in range(r0, r0 + height, chunks):
            row = []
            for c in range(c0, c0 + width, chunks):
                w = Window(c, r, min(chunks, c0 + width - c), min(chunks, r0 + height - r))
                block = dask.delayed(self.read, pure=True)(w)
                row.append(dska.from_delayed(block, shape=(n, int(w.height), int(w.width)), dtype=np.float32))
            rows.append(row)
        data = dska.block([rows])  # nesting: bands (one block), rows of blocks, blocks of a row
        t = self.grid.window_transform(window)
        xs = t.c + t.a * (np.arange(width) + 0.5)
        ys = t.f + t.e * (np.arange(height) + 0.5)
        da = xr.DataArray(data, dims=("band", "y", "x"), coords={"band": self.band_names, "y": ys, "x": xs})
        return da.rio.write_crs(self.grid.crs).rio.write_transform(t)


# ---------------------------------------------------------------------------------------------------------
# Reading helpers


def _gdal_reason(exc: BaseException) -> str:
    """The first line of GDAL's message behind a rasterio error (whose own message may only be "Read failed. See
    previous exception for details.")."""
    cause = exc.__cause__ or exc.__context__
    text = str(cause) if cause is not None and "previous exception" in str(exc) else str(exc)
    return (text.strip().splitlines() or [type(exc).__name__])[0]


@contextlib.contextmanager
def _open_raster(path: str):
    """rasterio.open with a clear :class:`ImageError` instead of GDAL's message alone."""
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        if not os.path.exists(path):
            raise ImageError(f"image file not found: {path}") from None
        raise ImageError(f"cannot read {path} as a raster ({_gdal_reason(exc)}); choose a GeoTIFF/COG/VRT or "
                         "JPEG2000 file (or a Sentinel-2 .SAFE folder)") from None
    with src:
        yield src


def _read_band(src, band: BandSource, window: Window, alpha: int | None = None,
               out_shape: tuple[int, int] | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """One band of ``window`` as float32 ``(h, w)`` (into ``out`` when given), NaN where nodata, scaled."""
    sized = {} if out_shape is None else {"out_shape": out_shape, "resampling": Resampling.average}
    # GDAL's mask is needed only for a mask band or alpha of the file's own (or of GDAL's overview averaging);
    # a nodata value is compared here, without GDAL reading the band a second time for its mask
    flags = src.mask_flag_enums[band.index - 1]
    own_mask = out_shape is not None or not set(flags) <= {MaskFlags.all_valid, MaskFlags.nodata}
    try:
        data = src.read(band.index, window=window, masked=own_mask, boundless=False, **sized)
        outside = src.read(alpha, window=window, **sized) == 0 if alpha else None
    except rasterio.errors.RasterioIOError as exc:
        raise ImageError(f"cannot read band {band.name} of {band.path} ({_gdal_reason(exc)}): the file is damaged or "
                         "truncated; download or export it again") from None
    file_nodata = None
    if own_mask:
        mask, data = np.ma.getmaskarray(data), data.data
    else:
        file_nodata = src.nodatavals[band.index - 1] if MaskFlags.nodata in flags else None
        mask = _equal_to(data, file_nodata) if file_nodata is not None else None
    values = np.empty(data.shape, np.float32) if out is None else out
    np.copyto(values, data, casting="unsafe")  # the digital numbers as float32, straight into the stack
    for more in (_equal_to(data, band.nodata) if band.nodata is not None and band.nodata != file_nodata else None,
                 outside):
        if more is not None:
            mask = more if mask is None else mask | more
    if band.scale != 1.0 or band.offset != 0.0:  # in place, in float32: as ``values * scale + offset``
        values *= np.float32(band.scale)
        values += np.float32(band.offset)
    if mask is not None and mask.any():
        values[mask] = np.nan
    return values


def _equal_to(data: np.ndarray, value: float) -> np.ndarray:
    """``data == value`` (bool, ``data``'s shape), compared in ``data``'s own type when ``value`` is one of its
    values: an integer band compared with a Python float is otherwise cast whole to float64 first."""
    if np.issubdtype(data.dtype, np.integer) and float(value).is_integer():
        info = np.iinfo(data.dtype)
        if not info.min <= value <= info.max:
            return np.zeros(data.shape, bool)  # a nodata value the band's type cannot hold
        return data == data.dtype.type(int(value))
    return data == value


def _open_mask(files: contextlib.ExitStack, mask: MaskSource, grid: Grid):
    """The quality layer opened on ``grid`` (a nearest-neighbour WarpedVRT when its own grid differs), closed
    with ``files``."""
    src = files.enter_context(_open_raster(mask.path))
    if Grid.of(src).same_as(grid):
        return src
    return files.enter_context(WarpedVRT(src, crs=grid.crs, transform=grid.transform, width=grid.width,
                                         height=grid.height, resampling=Resampling.nearest))


def _read_mask(mask: MaskSource, src, window: Window, out_shape: tuple[int, int] | None) -> np.ndarray:
    """True where the quality layer flags the pixel (nearest-neighbour when resampled to ``out_shape``)."""
    sized = {} if out_shape is None else {"out_shape": out_shape, "resampling": Resampling.nearest}
    try:
        values = src.read(1, window=window, **sized)
    except rasterio.errors.RasterioIOError as exc:
        raise ImageError(f"cannot read the {mask.label} mask {mask.path} ({_gdal_reason(exc)}): the file is damaged or "
                         "truncated; download it again, or turn the cloud mask off") from None
    return mask.invalid(values)


# ---------------------------------------------------------------------------------------------------------
# Readers


def unique_names(names: list[str]) -> list[str]:
    """Names made unique by suffixing repeats: ``["B1", "B1"]`` -> ``["B1", "B1_2"]``."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
        out.append(name)
    return out


def _band_name_from_file(path: str) -> str:
    """``LT05_..._B4.TIF`` -> ``B4``; ``T31TCJ_..._B8A_60m.jp2`` -> ``B8A``; otherwise the file stem."""
    stem = Path(path).name.split(".")[0]
    match = re.search(r"_(B\d+[A-Z]?)(?:_\d+m)?$", stem, re.IGNORECASE)
    return match.group(1).upper() if match else stem


def read_raster_file(path: str) -> ImageStack:
    """Reader for any single raster file GDAL opens (GeoTIFF, COG, VRT, JPEG2000...).

    Band names are the band descriptions when set, else ``B1..Bn`` for a multi-band file or a name taken from
    the file name (``..._B4.TIF`` -> ``B4``) for a single-band file. Declared nodata, scale and offset are
    honoured.

    Raises
    ------
    ImageError
        If the file cannot be read, or has no geotransform (where its pixels are on the ground), or a Landsat band
        file's ``_MTL.txt`` beside it is damaged. CRSError if it has no CRS.
    """
    with _open_raster(path) as src:
        if src.crs is None:
            raise CRSError(
                f"{path} has no coordinate reference system; assign one first, e.g. "
                f"`gdal_edit.py -a_srs EPSG:32631 {path}`"
            )
        if src.transform.is_identity:  # GDAL's default when the file has no geotransform
            how = ("it has ground control points only: warp it first (gdalwarp -t_srs EPSG:...)" if src.gcps[0] else
                   f"georeference it first, e.g. `gdal_edit.py -a_ullr <left> <top> <right> <bottom> {path}`")
            raise ImageError(f"{path} has no geotransform (where its pixels are on the ground); {how}")
        if src.transform.b != 0 or src.transform.d != 0:
            raise ImageError(f"{path} is rotated; warp it north-up first (gdalwarp)")
        if src.count == 1:
            names = [src.descriptions[0] or _band_name_from_file(path)]
        else:
            names = [d or f"B{i + 1}" for i, d in enumerate(src.descriptions)]
        names = unique_names(names)
        bands = [
            BandSource(
                path=str(path),
                index=i + 1,
                name=names[i],
                scale=float(src.scales[i] if src.scales else 1.0),
                offset=float(src.offsets[i] if src.offsets else 0.0),
                nodata=src.nodatavals[i],
            )
            for i in range(src.count)
        ]
        messages = []
        known = product_radiometry(path) if src.count == 1 else None
        if known is not None and bands[0].scale == 1.0 and bands[0].offset == 0.0:
            nodata = bands[0].nodata if bands[0].nodata is not None else 0.0  # 0 is fill in both product families
            bands = [replace(bands[0], scale=known.scale, offset=known.offset, unit=known.unit, nodata=nodata)]
            messages.append(f"{names[0]}: {known.unit} = DN x {known.scale:g} {known.offset:+g} ({known.how})")
        return ImageStack(Grid.of(src), bands, messages)


# --- Sentinel-2 L2A .SAFE ---------------------------------------------------------------------------------

_S2_BAND_RE = re.compile(r"_(B\d[\dA])_(\d+)m\.jp2$", re.IGNORECASE)
#: Spectral bands used by default (the aerosol B01 and water-vapour B09 bands are left out, as in SEPAL).
S2_DEFAULT_BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")


def is_safe(path: str) -> bool:
    """True for a Sentinel-2 ``.SAFE`` folder (a folder holding ``GRANULE/``)."""
    p = Path(path)
    return p.is_dir() and (p / "GRANULE").is_dir()


def _safe_band_files(safe: Path) -> dict[int, dict[str, str]]:
    """``{resolution_m: {band: path}}`` for the L2A ``GRANULE/*/IMG_DATA/R{10,20,60}m`` layout."""
    found: dict[int, dict[str, str]] = {}
    for path in sorted(safe.glob("GRANULE/*/IMG_DATA/R*m/*.jp2")):
        match = _S2_BAND_RE.search(path.name)
        if match:
            found.setdefault(int(match.group(2)), {})[match.group(1).upper()] = str(path)
    return found


def read_safe(
    path: str, *, bands: Sequence[str] | None = None, resolution: int | None = None
) -> ImageStack:
    """Reader for a Sentinel-2 Level-2A ``.SAFE`` folder.

    Bands are looked up under ``GRANULE/*/IMG_DATA/R{10,20,60}m/``. Unless ``resolution`` (10, 20 or 60 m) is
    given, the stack is built at the finest resolution where every chosen band exists; a band missing there is
    resampled from its finest resolution (with a message). Default bands: :data:`S2_DEFAULT_BANDS` present in
    the product. Values are BOA reflectance ``(DN + offset) / 10000`` (see :func:`s2_offset`), float32, with
    DN 0 as nodata.

    A ``resolution`` the product has no files for (e.g. 10 m in a product holding only R60m) is built by
    resampling (bilinear) from the finest resolution each band has.

    Raises
    ------
    ImageError
        If no band files are found, a requested band is not in the product, or the resolution is not 10, 20
        or 60.
    """
    safe = Path(path)
    files = _safe_band_files(safe)
    if not files:
        raise ImageError(
            f"{path} holds no Level-2A band files under GRANULE/*/IMG_DATA/R10m|R20m|R60m/; "
            "download the complete Sentinel-2 L2A product again, or open its band files"
        )
    available = sorted({b for per_res in files.values() for b in per_res})
    if bands:
        wanted = [str(b).strip().upper() for b in bands]
        wanted = [("B0" + b[1:]) if re.fullmatch(r"B\d", b) else b for b in wanted]
        missing = [b for b in wanted if b not in available]
        if missing:
            raise ImageError(
                f"band(s) {', '.join(missing)} not in {safe.name}; it has {', '.join(available)}"
            )
    else:
        wanted = [b for b in S2_DEFAULT_BANDS if b in available] or available
    messages = []
    if resolution is not None:
        if int(resolution) not in (10, 20, 60):
            raise ImageError(f"Sentinel-2 resolution must be 10, 20 or 60 (m), not {resolution}")
        target = int(resolution)
    else:
        complete = [res for res in sorted(files) if all(b in files[res] for b in wanted)]
        if complete:
            target = complete[0]
        else:  # the finest resolution that holds the most of the chosen bands
            target = max(sorted(files), key=lambda res: sum(b in files[res] for b in wanted))
    offset, how = s2_offset(safe)
    messages.append(f"Sentinel-2 reflectance = (DN {offset:+g}) / 10000 ({how})")
    sources = []
    for band in wanted:
        if band in files.get(target, {}):
            band_path = files[target][band]
        else:
            res_from = min(res for res in files if band in files[res])
            band_path = files[res_from][band]
            messages.append(f"{band} resampled from {res_from} m to {target} m")
        sources.append(BandSource(band_path, 1, band, scale=1e-4, offset=offset * 1e-4, nodata=0, unit=REFLECTANCE))
    grid = _s2_grid(files, target)
    return ImageStack(grid, sources, messages)


def _s2_grid(files: dict[int, dict[str, str]], target: int) -> Grid:
    if target in files:
        with _open_raster(next(iter(files[target].values()))) as src:
            return Grid.of(src)
    with _open_raster(next(iter(files[min(files)].values()))) as src:
        left, bottom, right, top = src.bounds
        width = int(round((right - left) / target))
        height = int(round((top - bottom) / target))
        return Grid(src.crs, Affine(target, 0, left, 0, -target, top), width, height)


# --- A folder of band files (a STAC item downloaded: B02.tif, B03.tif, ..., SCL.tif, <item>.json) ------------

_FOLDER_BAND_RE = re.compile(r"^(B\d[\dA])\.(tiff?|jp2)$", re.IGNORECASE)


def is_band_folder(path: str) -> bool:
    """True for a folder (not a ``.SAFE``) holding band files named ``B02.tif``, ``B8A.jp2``..."""
    p = Path(path)
    return p.is_dir() and not is_safe(path) and any(_FOLDER_BAND_RE.match(f.name) for f in p.iterdir())


def read_band_folder(path: str, *, bands: Sequence[str] | None = None, resolution: float | None = None
                     ) -> ImageStack:
    """Reader for a folder of one acquisition's band files, ``B02.tif``, ``B03.tif``... (as a STAC item's assets
    are downloaded, e.g. from Element84's earth-search), stacked in band order on the finest band's grid.

    Reflectance: from the STAC item JSON in the folder, when there is one: each asset's ``raster:bands`` scale,
    and its offset unless the item says ``earthsearch:boa_offset_applied`` (then the files already hold
    ``reflectance x 10000`` and the item's offset of -0.1 is a known metadata error: Element84/earth-search#9).
    Without an item, values are as stored (a ``.json`` that is not JSON is skipped with a message saying so). DN 0
    is nodata. ``SCL.tif`` beside the bands is the cloud mask (:func:`landclass_ui.cloudmask.find_mask`), not a
    band.

    Raises
    ------
    ImageError
        A requested band that is not in the folder; a STAC item whose assets are malformed (:func:`_stac_scales`).
    """
    import json

    folder = Path(path)
    files = {m.group(1).upper(): str(f) for f in sorted(folder.iterdir()) if (m := _FOLDER_BAND_RE.match(f.name))}
    wanted = [b.upper() for b in bands] if bands else sorted(files, key=lambda b: (len(b.rstrip("A")), b))
    missing = [b for b in wanted if b not in files]
    if missing:
        raise ImageError(f"band(s) {', '.join(missing)} not in {folder.name}; it has {', '.join(sorted(files))}")
    scales: dict[str, tuple[float, float]] = {}
    messages = []
    for item in sorted(folder.glob("*.json")):
        try:
            stac = json.loads(item.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:  # undecodable or not JSON: say so, read as stored
            reason = (str(exc).splitlines() or [type(exc).__name__])[0]
            messages.append(f"{item.name} skipped: not a readable JSON file ({reason}); band values as stored")
            continue
        if not isinstance(stac, dict) or stac.get("type") != "Feature":
            continue
        scales, applied = _stac_scales(stac, set(files), item)
        if scales:
            messages.append(f"reflectance = DN x {next(iter(scales.values()))[0]:g} from the STAC item {item.name}"
                            + (" (offset already applied: earthsearch:boa_offset_applied)" if applied else ""))
        break
    stacks = [read_raster_file(files[b]) for b in wanted]
    sources = []
    for b, one in zip(wanted, stacks):
        band = replace(one.bands[0], name=b, nodata=one.bands[0].nodata if one.bands[0].nodata is not None else 0.0)
        if b in scales:
            band = replace(band, scale=scales[b][0], offset=scales[b][1], unit=REFLECTANCE)
        sources.append(band)
    grid = min((one.grid for one in stacks), key=lambda g: abs(g.res[0]))
    return ImageStack(grid, sources, messages)


def _stac_scales(stac: dict, bands: set[str], item: Path) -> tuple[dict[str, tuple[float, float]], bool]:
    """``{band: (scale, offset)}`` of the band files ``bands`` from a STAC item's assets (``raster:bands``), and
    whether the item says ``earthsearch:boa_offset_applied`` (then the offset is 0).

    Raises
    ------
    ImageError
        Properties, assets or ``raster:bands`` that are not JSON objects/lists as STAC has them, or a scale or
        offset that is not a finite number (a scale of 0 included); the item is named.
    """
    def bad(what: str) -> ImageError:
        return ImageError(f"STAC item {item}: {what}; fix the item, or remove it to read the band values as stored")

    properties, assets = stac.get("properties", {}), stac.get("assets", {})
    if not isinstance(properties, dict) or not isinstance(assets, dict):
        raise bad("its 'properties' and 'assets' must be JSON objects")
    applied = bool(properties.get("earthsearch:boa_offset_applied"))
    scales = {}
    for key, asset in assets.items():
        if not isinstance(asset, dict):
            raise bad(f"asset {key!r:.40} is not a JSON object")
        band = Path(str(asset.get("href", ""))).name.split(".")[0].upper()
        raster_bands = asset.get("raster:bands") or [{}]
        first = raster_bands[0] if isinstance(raster_bands, list) else None
        if not isinstance(first, dict):
            raise bad(f"'raster:bands' of asset {key!r:.40} is not a list of JSON objects")
        if band not in bands or first.get("scale") is None:
            continue
        try:
            scale, offset = float(first["scale"]), 0.0 if applied else float(first.get("offset") or 0.0)
        except (TypeError, ValueError, OverflowError):
            scale, offset = float("nan"), 0.0
        if not (np.isfinite(scale) and np.isfinite(offset) and scale != 0):
            raise bad(f"asset {key!r:.40} has scale {first.get('scale')!r:.40} and offset {first.get('offset')!r:.40}, "
                      "not finite numbers (and a scale other than 0)")
        scales[band] = (scale, offset)
    return scales, applied


#: Readers tried in order: ``(accepts(path) -> bool, read(path, bands=, resolution=) -> ImageStack)``.
READERS: list[tuple[Callable[[str], bool], Callable[..., ImageStack]]] = [
    (is_safe, read_safe),
    (is_band_folder, read_band_folder),
    (lambda p: os.path.isfile(p), lambda p, **_: read_raster_file(p)),
]


def _read_one(path: str, **options) -> ImageStack:
    path = str(path)
    for accepts, read in READERS:
        if accepts(path):
            return read(path, **options)
    if not os.path.exists(path):
        raise ImageError(f"image not found: {path}; check the path (a raster file or a Sentinel-2 .SAFE folder)")
    raise ImageError(f"{path} is neither a raster file nor a Sentinel-2 .SAFE folder")


def expand_paths(text: str) -> list[str]:
    """The absolute paths a user typed: one path, or a pattern with ``*``/``?``/``[...]`` (e.g.
    ``/data/T11UPT_*_B*_60m.jp2`` for loose band files), expanded in sorted order.

    Raises
    ------
    ImageError
        Nothing typed, or a pattern that matches no file.
    """
    text = text.strip()
    if not text:
        raise ImageError("type the path of an image (a raster file, a Sentinel-2 .SAFE folder or a pattern "
                         "like /data/*_B*.TIF), or pick one with Browse")
    path = os.path.abspath(os.path.expanduser(text))  # the saved recipe must not depend on the cwd
    if not glob.has_magic(path) or os.path.exists(path):  # a file or folder whose name has [ ] or * in it
        return [path]
    found = sorted(glob.glob(path))
    if not found:
        raise ImageError(f"no file matches {text}; check the folder and the pattern")
    return found


def open_image(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    bands: Sequence[str] | None = None,
    resolution: float | None = None,
    cloud_mask: bool = True,
    mask_file: str | os.PathLike | None = None,
    mask_snow: bool = False,
) -> ImageStack:
    """Open one image, or several files stacked band after band, as an :class:`ImageStack`.

    Parameters
    ----------
    paths : path or list of paths
        A raster file (GeoTIFF, COG, VRT, JPEG2000), a Sentinel-2 L2A ``.SAFE`` folder, or several of them
        (e.g. one file per Landsat band). Several inputs are stacked in the order given, on the first input's
        grid; inputs on another grid are resampled onto it (bilinear) and a message says so. Among several
        inputs, a Sentinel-2 ``SCL`` or Landsat ``QA_PIXEL`` file (by its name) is a quality layer, not a band.
    bands : list of str, optional
        Band names to keep, in this order (see :attr:`ImageStack.band_names`). Default: all (for a ``.SAFE``,
        the ten 10/20 m spectral bands present).
    resolution : float, optional
        For a ``.SAFE``: 10, 20 or 60 (m).
    cloud_mask : bool
        Mask clouds, cirrus and cloud shadows (nodata) with the product's quality layer: the ``SCL`` of a
        Sentinel-2 L2A product, the ``QA_PIXEL`` of a Landsat Collection 2 product, found beside the image
        (:func:`landclass_ui.cloudmask.find_mask`), or ``mask_file``. On by default, as in SEPAL's mosaics.
    mask_file : path, optional
        The quality layer to use (an SCL or QA_PIXEL raster; which one is told by its name, else by its data
        type: uint8 SCL, uint16 QA_PIXEL), for band files whose layer is not found beside them.
    mask_snow : bool
        Mask snow and ice too (SCL 11, QA_PIXEL bit 5).

    Raises
    ------
    ImageError, CRSError
        Unreadable file, no CRS (or one that cannot be transformed to the first input's), unknown band, a
        ``mask_file`` that is not a quality layer, a damaged ``_MTL.txt`` beside a Landsat band file.
    NoOverlapError
        If a later input does not overlap the first one.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [str(p) for p in paths]
    if not paths:
        raise ImageError("no image given")
    paths, layers = split_layers(paths)
    if len(paths) == 1:
        stack = _read_one(paths[0], bands=bands, resolution=resolution)
        stack = stack if is_safe(paths[0]) or is_band_folder(paths[0]) else stack.select(bands)
    else:
        stacks = [_read_one(p, resolution=resolution) for p in paths]
        stack = combine_stacks(stacks, paths).select(bands)
    if not cloud_mask:
        skipped = [Path(p).name for p in layers]
        return replace(stack, messages=[*stack.messages, f"cloud mask off: {', '.join(skipped)} not used"]
                       ) if skipped else stack
    return with_masks(stack, [*layers, *([str(mask_file)] if mask_file else []),
                              *([] if mask_file else [find_mask(p) for p in paths])], snow=mask_snow)


def with_masks(stack: ImageStack, paths: Sequence[str | None], *, snow: bool = False) -> ImageStack:
    """The stack with the quality layers at ``paths`` (None entries skipped, repeats once) as masks.

    Raises
    ------
    ImageError
        A path that is not a readable single-band SCL or QA_PIXEL raster, or one that does not overlap the image.
    CRSError
        A layer without a CRS, or with one that cannot be transformed to the image's.
    """
    masks = list(stack.masks)
    messages = list(stack.messages)
    for path in dict.fromkeys(p for p in paths if p):
        if any(m.path == path for m in masks):
            continue
        kind = mask_kind(path)
        with _open_raster(path) as src:
            if src.count != 1:
                raise ImageError(f"{path} has {src.count} bands; a cloud mask is one band (Sentinel-2 SCL or "
                                 "Landsat QA_PIXEL)")
            if kind is None:
                kind = {"uint8": "scl", "uint16": "qa_pixel"}.get(src.dtypes[0])
            if kind is None:
                raise ImageError(f"cannot tell whether {Path(path).name} is a Sentinel-2 SCL or a Landsat QA_PIXEL "
                                 f"layer (its data type is {src.dtypes[0]}); give a file whose name holds SCL or "
                                 "QA_PIXEL")
            if src.crs is None:
                raise CRSError(f"the cloud mask {path} has no coordinate reference system; give the quality layer of "
                               "the image's own product, or turn the cloud mask off")
            _check_overlap(Grid.of(src), stack.grid, path, "the image")
        mask = MaskSource(str(path), kind, snow)
        masks.append(mask)
        names = ", ".join(mask.flags().values())
        messages.append(f"cloud mask: {mask.label} {Path(path).name} ({names} are nodata)")
    return replace(stack, masks=masks, messages=messages)


def _mask_values(stack: ImageStack, max_side: int) -> list[tuple[MaskSource, np.ndarray]]:
    """Each mask's stored values on the stack's grid, at most ``max_side`` pixels a side (nearest)."""
    scale = max(1.0, max(stack.grid.width, stack.grid.height) / max_side)
    shape = (max(1, round(stack.grid.height / scale)), max(1, round(stack.grid.width / scale)))
    window = Window(0, 0, stack.grid.width, stack.grid.height)
    with contextlib.ExitStack() as files:
        return [(mask, _open_mask(files, mask, stack.grid).read(1, window=window, out_shape=shape,
                                                                  resampling=Resampling.nearest))
                for mask in stack.masks]


def check_pixels(stack: ImageStack, *, max_px: int = 64, max_pixels: int | None = None) -> None:
    """Check cheaply that every band file of ``stack`` can be decoded and holds valid pixels: a thumbnail of each
    band (at most ``max_px`` pixels a side, nearest neighbour: GeoTIFF overviews and JPEG 2000 resolution levels
    make it a small read; when it shows nodata only, an average over the whole band confirms). With
    ``max_pixels``, a file of more pixels is refused before any pixel is read (a header can declare any size).

    Raises
    ------
    ImageError
        A file of more than ``max_pixels`` pixels; one that cannot be decoded (truncated or damaged; it is decoded
        in one thread, as GDAL only prints the JPEG 2000 errors of its decoding threads and returns zeros); a band
        whose pixels are all nodata.
    """
    files = [b for b in stack.bands if b.computed is None]
    if max_pixels is not None:
        for path in dict.fromkeys(b.path for b in files):
            with _open_raster(path) as src:
                if src.width * src.height > max_pixels:
                    raise ImageError(
                        f"{path} is {src.width} x {src.height} px ({src.width * src.height / 1e6:,.0f} Mpx), more "
                        f"than the dashboard reads ({max_pixels / 1e6:,.0f} Mpx); crop it to your area "
                        "(gdal_translate -projwin) or make its pixels coarser (gdalwarp -tr) first, or classify it "
                        "whole with the command line (landclass classify), which reads it window by window")
    with rasterio.Env(GDAL_NUM_THREADS=1):
        for band in files:
            with _open_raster(band.path) as src:
                factor = max(1.0, max(src.width, src.height) / max_px)
                shape = (max(1, round(src.height / factor)), max(1, round(src.width / factor)))
                valid = False
                for resampling in (Resampling.nearest, Resampling.average):
                    try:
                        data = src.read(band.index, out_shape=shape, masked=True, resampling=resampling)
                    except rasterio.errors.RasterioIOError as exc:
                        raise ImageError(f"cannot read band {band.name} of {band.path} ({_gdal_reason(exc)}): the "
                                         "file is damaged or truncated; download or export it again") from None
                    ok = ~np.ma.getmaskarray(data)
                    if band.nodata is not None and not np.isnan(band.nodata):
                        ok &= data.data != band.nodata
                    if data.dtype.kind == "f":
                        ok &= ~np.isnan(data.data)
                    valid = bool(ok.any())
                    if valid or factor == 1.0:
                        break
            if not valid:
                raise ImageError(f"{band.path} holds no valid pixel in band {band.name} (every pixel is nodata"
                                 f"{'' if band.nodata is None else f', {band.nodata:g}'}); check the file (an empty "
                                 "export?) and its nodata value (gdalinfo -stats)")


def masked_share(stack: ImageStack, *, max_side: int = 2048) -> tuple[float, dict[str, float]]:
    """The share (0-1) of the image's pixels its masks flag, and the share per SCL class / QA_PIXEL bit name.

    Read at most ``max_side`` pixels a side (nearest neighbour): an estimate to within a pixel's share for
    larger images. ``(0.0, {})`` without a mask. For a stack of several dates, a pixel counts when any date's
    mask flags it (see :func:`series_shares` for each date's).
    """
    if not stack.masks:
        return 0.0, {}
    invalid = None
    per_flag: dict[str, float] = {}
    for mask, values in _mask_values(stack, max_side):
        flagged = mask.invalid(values)
        invalid = flagged if invalid is None else invalid | flagged
        for flag, name in mask.flags().items():
            hit = values == flag if mask.kind == "scl" else (values.astype(np.uint32) >> flag) & 1 == 1
            per_flag[name] = per_flag.get(name, 0.0) + float(hit.mean()) / len(stack.masks)
    return float(invalid.mean()), per_flag


def series_shares(stack: ImageStack, *, max_side: int = 2048) -> list[tuple[_dt.date, float, float]]:
    """For a stack of several dates (:attr:`ImageStack.series`): ``(date, masked, filled)`` per date, the shares
    (0-1) of the pixels masked on that date and of those filled from other dates (masked, but valid on some other
    date: :func:`landclass_ui.timeseries.gap_fill`; 0 when gap filling is off). Estimated on at most
    ``max_side`` pixels a side. ``[]`` for a single-date stack."""
    series = stack.series
    if series is None:
        return []
    values = _mask_values(stack, max_side)
    shape = values[0][1].shape if values else (1, 1)
    masked = []
    for names in series.bands:
        flags = np.zeros(shape, bool)
        for mask, v in values:
            if not mask.bands or set(mask.bands) & set(names):
                flags |= mask.invalid(v)
        masked.append(flags)
    clear_somewhere = ~np.logical_and.reduce(masked) if masked else np.zeros(shape, bool)
    return [(d, float(m.mean()), float((m & clear_somewhere).mean()) if series.gap_fill else 0.0)
            for d, m in zip(series.dates, masked)]


def stack_dates(stacks: list[ImageStack], dates: Sequence[_dt.date], paths: Sequence[str], *,
                gap_fill: bool = True) -> ImageStack:
    """Stack images of several dates of the same area as one feature stack, dates in time order, each band
    named by its date (``20230810_B04``, iota2's and SEPAL's naming), on the earliest image's grid.

    Images of the same date (e.g. one file per band) are first stacked band after band (:func:`combine_stacks`).
    Every date must have the same bands (the names before the date prefix). Each date's cloud mask masks only
    that date's bands, and with ``gap_fill`` the masked pixels are filled by linear interpolation in time
    (:class:`TimeSeries`).

    Raises
    ------
    ImageError
        Dates with different bands (the message lists them), or fewer than two dates.
    NoOverlapError
        An image that does not overlap the first.
    """
    by_date: dict[_dt.date, list[int]] = {}
    for i, d in enumerate(dates):
        by_date.setdefault(d, []).append(i)
    if len(by_date) < 2:
        raise ImageError("a time series needs images of at least two dates")
    ordered = sorted(by_date)
    per_date = []
    for d in ordered:
        idx = by_date[d]
        one = stacks[idx[0]] if len(idx) == 1 else combine_stacks([stacks[i] for i in idx], [paths[i] for i in idx])
        per_date.append(one)
    first = per_date[0].band_names
    for d, one in zip(ordered, per_date):  # another area first: its bands differing is not the point then
        if not one.grid.same_as(per_date[0].grid):
            _check_overlap(one.grid, per_date[0].grid, paths[by_date[d][0]], paths[by_date[ordered[0]][0]])
    for d, one in zip(ordered, per_date):
        if one.band_names != first:
            raise ImageError(f"the images of {d.isoformat()} have the bands {', '.join(one.band_names)}, those of "
                             f"{ordered[0].isoformat()} {', '.join(first)}; give every date the same bands")
    renamed = []
    for d, one in zip(ordered, per_date):
        names = {b.name: date_band_name(d, b.name) for b in one.bands}
        renamed.append(replace(one, bands=[replace(b, name=names[b.name]) for b in one.bands],
                               masks=[replace(m, bands=tuple(names[n] for n in (m.bands or names)))
                                      for m in one.masks]))
    stack = combine_stacks(renamed, [paths[by_date[d][0]] for d in ordered])
    series = TimeSeries(tuple(ordered), tuple(tuple(b.name for b in one.bands) for one in renamed), gap_fill,
                        tuple(b for one in renamed for b in one.bands))
    note = (f"time series of {len(ordered)} dates ({', '.join(d.isoformat() for d in ordered)}), bands named "
            f"like {date_band_name(ordered[0], first[0])}"
            + ("; masked pixels filled by linear interpolation in time" if gap_fill and stack.masks else ""))
    return replace(stack, series=series, messages=[*stack.messages, note])


def with_scale(stack: ImageStack, scale: float, offset: float = 0.0) -> ImageStack:
    """The stack with every file band read as reflectance ``stored * scale + offset`` (0-1), as the user
    states it for a product whose scale the readers do not know (recipe ``images[].scale``/``offset``; e.g.
    0.0001 for reflectance stored as integers x 10000, 1 for a file already in reflectance).

    Raises
    ------
    ImageError
        A scale that is not a positive finite number.
    """
    import math

    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0 and math.isfinite(offset)):
        raise ImageError(f"reflectance scale must be a positive number (e.g. 0.0001 or 1), not {scale!r}")
    bands = [b if b.computed is not None else replace(b, scale=float(scale), offset=float(offset), unit=REFLECTANCE)
             for b in stack.bands]
    note = f"reflectance = stored x {scale:g} {offset:+g} (stated by the user)"
    return replace(stack, bands=bands, messages=[*stack.messages, note])


def open_images(paths: Sequence[str], **options) -> ImageStack:
    """Alias of :func:`open_image` for a list of paths."""
    return open_image(list(paths), **options)


def _crs_name(crs) -> str:
    """A CRS as a message names it: ``EPSG:32611``, else the name in its definition."""
    try:
        epsg = crs.to_epsg()
        if epsg:
            return f"EPSG:{epsg}"
        import pyproj

        return pyproj.CRS.from_wkt(crs.to_wkt()).name
    except Exception:  # a CRS pyproj cannot read: still a message
        return "a CRS without a name"


def _check_overlap(grid: Grid, target: Grid, path: str, what: str) -> None:
    """Raise NoOverlapError unless ``grid`` (of ``path``) overlaps ``target`` (of ``what``); CRSError when the
    one CRS cannot be transformed to the other (e.g. a local engineering CRS, without a datum)."""
    from rasterio.warp import transform_bounds

    try:
        b = transform_bounds(grid.crs, target.crs, *grid.bounds, densify_pts=21)
    except (rasterio.errors.RasterioError, rasterio.errors.CRSError, CPLE_BaseError):
        raise CRSError(f"the coordinate reference system of {path} ({_crs_name(grid.crs)}) cannot be transformed to "
                       f"that of {what} ({_crs_name(target.crs)}): PROJ knows no operation between them; reproject "
                       f"{path} first (gdalwarp -t_srs) or give it its real CRS (gdal_edit.py -a_srs)") from None
    g = target.bounds
    if b[0] >= g[2] or b[2] <= g[0] or b[1] >= g[3] or b[3] <= g[1]:
        raise NoOverlapError(
            f"{path} does not overlap {what} (bounds {tuple(round(v, 3) for v in b)} vs "
            f"{tuple(round(v, 3) for v in g)} in {target.crs}); use files of the same area"
        )


def combine_stacks(stacks: list[ImageStack], paths: list[str]) -> ImageStack:
    """Stack several images band after band on the first one's grid (later ones resampled, bilinear).

    Raises
    ------
    NoOverlapError
        If an image does not overlap the first.
    CRSError
        If an image's CRS cannot be transformed to the first one's.
    """

    grid = stacks[0].grid
    messages = list(stacks[0].messages)
    all_bands = list(stacks[0].bands)
    masks = [_scoped(m, stacks[0]) for m in stacks[0].masks]
    for stack, path in zip(stacks[1:], paths[1:]):
        messages.extend(stack.messages)
        masks.extend(_scoped(m, stack) for m in stack.masks)
        if not stack.grid.same_as(grid):
            _check_overlap(stack.grid, grid, path, paths[0])
            messages.append(
                f"{Path(path).name} resampled (bilinear) onto the grid of {Path(paths[0]).name} "
                f"({grid.res[0]:g} x {grid.res[1]:g}, {grid.crs.to_string()})"
            )
        all_bands.extend(stack.bands)
    names = unique_names([b.name for b in all_bands])
    renamed = {id(b): n for b, n in zip(all_bands, names)}
    masks = _merge_masks([replace(m, bands=tuple(renamed.get(id(b), b.name) for b in all_bands if b.name in m.bands
                                                 and any(b is x for x in owner.bands)))
                          for m, owner in masks])
    all_bands = [replace(b, name=n) for b, n in zip(all_bands, names)]
    return ImageStack(grid, all_bands, list(dict.fromkeys(messages)), masks)


def _scoped(mask: MaskSource, stack: ImageStack) -> tuple[MaskSource, ImageStack]:
    """The mask with the file bands of ``stack`` it covers named, and the stack they belong to."""
    names = mask.bands or tuple(b.name for b in stack.bands if b.computed is None)
    return replace(mask, bands=tuple(names)), stack


def _merge_masks(masks: list[MaskSource]) -> list[MaskSource]:
    """One mask per (path, kind, snow), covering the bands of all its copies (a mask found beside each of
    several band files of one product)."""
    merged: dict[tuple, MaskSource] = {}
    for m in masks:
        key = (m.path, m.kind, m.snow)
        merged[key] = replace(m, bands=tuple(dict.fromkeys((*merged[key].bands, *m.bands)))) if key in merged else m
    return list(merged.values())
