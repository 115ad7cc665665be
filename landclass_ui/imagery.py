"""Open satellite imagery as one stack of bands on one pixel grid.

A :class:`ImageStack` is a lazy list of bands (file, band index, scale, offset, nodata) plus the grid they are
read on. Nothing is loaded until :meth:`ImageStack.read` asks for a window, so memory does not grow with the
image. Bands from files on another grid are resampled onto the stack's grid on the fly with GDAL's warper
(``rasterio.vrt.WarpedVRT``, bilinear).

Readers (one small function per kind of input) sit in :data:`READERS`; :func:`open_image` picks the first that
accepts a path. Adding a kind is one function and one registry line.

Values returned by :meth:`ImageStack.read` are float32 with ``NaN`` wherever a band is nodata, so nodata is
carried through the whole chain. Sentinel-2 digital numbers are converted to surface reflectance (0-1); other
files are read as stored (with the scale/offset they declare).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import rasterio
import rasterio.errors
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from .errors import CRSError, ImageError, NoOverlapError

__all__ = [
    "Grid",
    "BandSource",
    "ImageStack",
    "open_image",
    "open_images",
    "combine_stacks",
    "READERS",
    "S2_BASELINE_04_DATE",
]

#: First acquisition date processed with Sentinel-2 processing baseline 04.00, which adds a radiometric offset
#: of -1000 DN to L2A products (ESA, "Sentinel-2: Processing Baseline 04.00", 25 January 2022).
S2_BASELINE_04_DATE = _dt.date(2022, 1, 25)


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


@dataclass(frozen=True)
class BandSource:
    """One band of a stack: where it is stored and how its stored values map to physical values.

    ``value = stored * scale + offset``; stored values equal to ``nodata`` (or masked by the file) become NaN.
    ``index`` is 1-based, as in GDAL.
    """

    path: str
    index: int
    name: str
    scale: float = 1.0
    offset: float = 0.0
    nodata: float | None = None


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
    """

    grid: Grid
    bands: list[BandSource]
    messages: list[str] = field(default_factory=list)

    @property
    def band_names(self) -> list[str]:
        """Band names in stack order (unique)."""
        return [b.name for b in self.bands]

    @property
    def crs(self) -> CRS:
        return self.grid.crs

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
    def reader(self) -> Iterator[Callable[[Window | None], np.ndarray]]:
        """Open every file once and yield a function ``read(window) -> array``.

        The array is float32 of shape ``(n_bands, window.height, window.width)`` with NaN for nodata.
        ``read(window, out_shape=(h, w))`` reads the window resampled to ``h x w`` pixels (GDAL's average, from
        the files' overviews when they have them): the quick way to a screen-resolution view.
        Use it when reading many windows; :meth:`read` opens and closes the files for each call.
        """
        with contextlib.ExitStack() as stack:
            datasets: dict[str, rasterio.io.DatasetReaderBase] = {}
            alphas: dict[str, int | None] = {}  # alpha band of a warped file without nodata (marks uncovered area)
            for band in self.bands:
                if band.path in datasets or band.path.startswith(("aux:", "derived:")):
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

            def read(window: Window | None = None, out_shape: tuple[int, int] | None = None) -> np.ndarray:
                if window is None:
                    window = Window(0, 0, self.grid.width, self.grid.height)
                shape = out_shape or (int(window.height), int(window.width))
                out = np.empty((len(self.bands), *shape), np.float32)
                for i, band in enumerate(self.bands):
                    if band.path.startswith("aux:"):  # computed on the grid (landclass_ui.auxiliary)
                        from .auxiliary import compute

                        out[i] = compute(band, self.grid, window, out_shape)
                    elif not band.path.startswith("derived:"):
                        out[i] = _read_band(datasets[band.path], band, window, alphas[band.path], out_shape)
                if any(b.path.startswith("derived:") for b in self.bands):  # from the bands just read
                    from .indices import compute as compute_derived

                    compute_derived(self.bands, out)
                return out

            yield read

    def read(self, window: Window | None = None, out_shape: tuple[int, int] | None = None) -> np.ndarray:
        """Read a window (default: the whole grid) as float32 ``(n_bands, height, width)``, NaN for nodata;
        resampled to ``out_shape`` ``(height, width)`` when given."""
        with self.reader() as read:
            return read(window, out_shape)

    def to_xarray(self, window: Window | None = None):
        """Read a window into an ``xarray.DataArray`` with dims ``(band, y, x)`` and the CRS set (rioxarray).

        ``x``/``y`` are pixel-centre coordinates in the grid's CRS.
        """
        import rioxarray  # noqa: F401  (registers the .rio accessor)
        import xarray as xr

        if window is None:
            window = Window(0, 0, self.grid.width, self.grid.height)
        data = self.read(window)
        t = self.grid.window_transform(window)
        xs = t.c + t.a * (np.arange(int(window.width)) + 0.5)
        ys = t.f + t.e * (np.arange(int(window.height)) + 0.5)
        da = xr.DataArray(data, dims=("band", "y", "x"), coords={"band": self.band_names, "y": ys, "x": xs})
        return da.rio.write_crs(self.grid.crs).rio.write_transform(t)


# ---------------------------------------------------------------------------------------------------------
# Reading helpers


@contextlib.contextmanager
def _open_raster(path: str):
    """rasterio.open with a clear :class:`ImageError` instead of GDAL's message alone."""
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        if not os.path.exists(path):
            raise ImageError(f"image file not found: {path}") from None
        raise ImageError(f"cannot read {path} as a raster ({exc}); is it a GeoTIFF/COG/VRT or JPEG2000?") from None
    with src:
        yield src


def _read_band(src, band: BandSource, window: Window, alpha: int | None = None,
               out_shape: tuple[int, int] | None = None) -> np.ndarray:
    sized = {} if out_shape is None else {"out_shape": out_shape, "resampling": Resampling.average}
    try:
        data = src.read(band.index, window=window, masked=True, boundless=False, **sized)
        outside = src.read(alpha, window=window, **sized) == 0 if alpha else None
    except rasterio.errors.RasterioIOError as exc:
        raise ImageError(f"cannot read band {band.name} of {band.path}: {exc}; the file may be corrupt") from None
    values = data.data.astype(np.float32)
    mask = np.ma.getmaskarray(data)
    if band.nodata is not None:
        mask |= data.data == band.nodata
    if outside is not None:
        mask |= outside
    if band.scale != 1.0 or band.offset != 0.0:
        values = values * np.float32(band.scale) + np.float32(band.offset)
    values[mask] = np.nan
    return values


# ---------------------------------------------------------------------------------------------------------
# Readers


def _unique_names(names: list[str]) -> list[str]:
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
        If the file cannot be read. CRSError if it has no CRS.
    """
    with _open_raster(path) as src:
        if src.crs is None:
            raise CRSError(
                f"{path} has no coordinate reference system; assign one first, e.g. "
                f"`gdal_edit.py -a_srs EPSG:32631 {path}`"
            )
        if src.transform.b != 0 or src.transform.d != 0:
            raise ImageError(f"{path} is rotated; warp it north-up first (gdalwarp)")
        if src.count == 1:
            names = [src.descriptions[0] or _band_name_from_file(path)]
        else:
            names = [d or f"B{i + 1}" for i, d in enumerate(src.descriptions)]
        names = _unique_names(names)
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
        return ImageStack(Grid.of(src), bands)


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


def s2_offset(safe: str | Path) -> tuple[float, str]:
    """Sentinel-2 L2A radiometric offset (DN) of a ``.SAFE`` product and how it was found.

    ``reflectance = (DN + offset) / 10000``: offset is -1000 for processing baseline 04.00 and later, 0 before
    (ESA, "Sentinel-2 Products Specification Document" 14.9, and the baseline 04.00 note of 25 January 2022).

    Looked for in this order: ``BOA_ADD_OFFSET`` or ``PROCESSING_BASELINE`` in ``MTD_MSIL2A.xml``; the
    baseline ``_Nxxxx_`` in the product name; the sensing date in the band file names (products sensed from
    :data:`S2_BASELINE_04_DATE` on carry the offset).

    Returns
    -------
    offset : float
        -1000.0 or 0.0 (or the value the metadata gives).
    how : str
        One sentence saying where the offset came from.
    """
    safe = Path(safe)
    mtd = safe / "MTD_MSIL2A.xml"
    if mtd.is_file():
        try:
            root = ET.parse(mtd).getroot()
        except ET.ParseError:
            root = None
        if root is not None:
            offsets = [float(e.text) for e in root.iter() if e.tag.endswith("BOA_ADD_OFFSET") and e.text]
            if offsets:
                return offsets[0], f"BOA_ADD_OFFSET {offsets[0]:g} read from {mtd.name}"
            for e in root.iter():
                if e.tag.endswith("PROCESSING_BASELINE") and e.text:
                    baseline = float(e.text)
                    off = -1000.0 if baseline >= 4.0 else 0.0
                    return off, f"processing baseline {e.text} read from {mtd.name}: offset {off:g}"
    match = re.search(r"_N(\d{2})(\d{2})_", safe.name)
    if match:
        baseline = float(f"{match.group(1)}.{match.group(2)}")
        off = -1000.0 if baseline >= 4.0 else 0.0
        return off, f"processing baseline {baseline:05.2f} read from the product name: offset {off:g}"
    for path in safe.glob("GRANULE/*/IMG_DATA/**/*.jp2"):
        match = re.search(r"_(\d{8})T\d{6}_", path.name)
        if match:
            sensed = _dt.datetime.strptime(match.group(1), "%Y%m%d").date()
            off = -1000.0 if sensed >= S2_BASELINE_04_DATE else 0.0
            return off, (
                f"no MTD_MSIL2A.xml and no baseline in the folder name; sensed {sensed}, so "
                f"{'baseline >= 04.00 assumed' if off else 'a baseline before 04.00 assumed'}: offset {off:g}"
            )
    return 0.0, "no metadata found: no offset applied"


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
            "is it a complete Sentinel-2 L2A product?"
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
        sources.append(BandSource(band_path, 1, band, scale=1e-4, offset=offset * 1e-4, nodata=0))
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


#: Readers tried in order: ``(accepts(path) -> bool, read(path, bands=, resolution=) -> ImageStack)``.
READERS: list[tuple[Callable[[str], bool], Callable[..., ImageStack]]] = [
    (is_safe, read_safe),
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


def open_image(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    bands: Sequence[str] | None = None,
    resolution: float | None = None,
) -> ImageStack:
    """Open one image, or several files stacked band after band, as an :class:`ImageStack`.

    Parameters
    ----------
    paths : path or list of paths
        A raster file (GeoTIFF, COG, VRT, JPEG2000), a Sentinel-2 L2A ``.SAFE`` folder, or several of them
        (e.g. one file per Landsat band). Several inputs are stacked in the order given, on the first input's
        grid; inputs on another grid are resampled onto it (bilinear) and a message says so.
    bands : list of str, optional
        Band names to keep, in this order (see :attr:`ImageStack.band_names`). Default: all (for a ``.SAFE``,
        the ten 10/20 m spectral bands present).
    resolution : float, optional
        For a ``.SAFE``: 10, 20 or 60 (m).

    Raises
    ------
    ImageError, CRSError
        Unreadable file, no CRS, unknown band.
    NoOverlapError
        If a later input does not overlap the first one.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [str(p) for p in paths]
    if not paths:
        raise ImageError("no image given")
    if len(paths) == 1:
        stack = _read_one(paths[0], bands=bands, resolution=resolution)
        return stack if is_safe(paths[0]) else stack.select(bands)
    stacks = [_read_one(p, resolution=resolution) for p in paths]
    return combine_stacks(stacks, paths).select(bands)


def open_images(paths: Sequence[str], **options) -> ImageStack:
    """Alias of :func:`open_image` for a list of paths."""
    return open_image(list(paths), **options)


def combine_stacks(stacks: list[ImageStack], paths: list[str]) -> ImageStack:
    """Stack several images band after band on the first one's grid (later ones resampled, bilinear).

    Raises
    ------
    NoOverlapError
        If an image does not overlap the first.
    """
    from rasterio.warp import transform_bounds

    grid = stacks[0].grid
    messages = list(stacks[0].messages)
    all_bands = list(stacks[0].bands)
    for stack, path in zip(stacks[1:], paths[1:]):
        messages.extend(stack.messages)
        if not stack.grid.same_as(grid):
            b = transform_bounds(stack.grid.crs, grid.crs, *stack.grid.bounds, densify_pts=21)
            g = grid.bounds
            if b[0] >= g[2] or b[2] <= g[0] or b[1] >= g[3] or b[3] <= g[1]:
                raise NoOverlapError(
                    f"{path} does not overlap {paths[0]} (bounds {tuple(round(v, 3) for v in b)} vs "
                    f"{tuple(round(v, 3) for v in g)} in {grid.crs}); stack images of the same area"
                )
            messages.append(
                f"{Path(path).name} resampled (bilinear) onto the grid of {Path(paths[0]).name} "
                f"({grid.res[0]:g} x {grid.res[1]:g}, {grid.crs.to_string()})"
            )
        all_bands.extend(stack.bands)
    names = _unique_names([b.name for b in all_bands])
    all_bands = [replace(b, name=n) for b, n in zip(all_bands, names)]
    return ImageStack(grid, all_bands, messages)
