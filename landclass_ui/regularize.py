"""Regularization of a classified map: a majority (mode) filter, then a sieve to a minimum mapping unit.

This is the post-classification clean-up that iota2 users know (iota2 regularizes its maps with OTB's
``ClassificationMapRegularization``, a majority vote in a neighbourhood, then removes regions below a minimum
mapping unit) and that QGIS SCP users do with "Classification sieve" (GDAL's ``gdal_sieve``). Class maps are
``uint8`` ``(H, W)`` arrays whose nodata is 255 (see :mod:`landclass_ui.export`).

Window by window (:func:`regularize_file`)
------------------------------------------
The majority filter is local: a pixel's result depends only on the ``size x size`` window around it, so each
block is read with a margin of ``size // 2`` pixels and only its core is kept; the result is exactly that of
the whole map (outside the map nothing votes, in a block as in the whole map).

The sieve is not local, so it is *not* windowed. A margin of ``mmu`` pixels does decide correctly *which*
regions touching a block's core are removed: a region of ``n`` connected pixels spans at most ``n - 1`` steps,
so a region of fewer than ``mmu`` pixels that touches the core lies entirely within ``mmu - 1`` pixels of it,
its neighbours within ``mmu``, and is seen whole; a region of ``mmu`` pixels or more that touches the core holds
a connected set of ``mmu`` pixels grown from a core pixel (breadth first), all within ``mmu - 1`` pixels of the
core, so it is seen with at least ``mmu`` pixels and kept. But GDAL merges a small region into its *largest*
neighbour, by that neighbour's full size, and follows chains of small neighbours; a neighbour cut by the window
edge looks smaller than it is, so the window can pick another class. On ``tests/data/l8_t11upt/landcover.tif``
(mmu 2, 8-connected, 128-pixel blocks, margin 2) 2 of the 259 pixels the sieve changes get a different class,
and no finite margin fixes this in general: a region's size can depend on pixels arbitrarily far away. So
:func:`regularize_file` runs GDAL's sieve once over the whole map (GDAL's own algorithm: three line-by-line
passes, 16-24 bytes per region), holding the map, its mask and the result in memory: 3-4 bytes per pixel, about
0.5 GB for a 10980 x 10980 Sentinel-2 tile. The MMU itself costs no memory, so it needs no cap.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from ._arrays import fill_where
from ._files import replacing
from .errors import LandclassError

__all__ = ["RegularizeError", "RegularizeResult", "majority_filter", "sieve", "mmu_pixels", "regularize",
           "regularize_file"]


class RegularizeError(LandclassError, ValueError):
    """A regularization parameter or input map cannot be used (even window, MMU below 1 pixel, not uint8)."""


def _check_classes(classes) -> np.ndarray:
    classes = np.asarray(classes)
    if classes.ndim != 2 or classes.size == 0 or classes.dtype != np.uint8:
        raise RegularizeError(f"a class map must be a non-empty 2-D uint8 array, not {classes.dtype} "
                              f"{classes.shape}: convert it with np.where(valid, classes, 255).astype(np.uint8)")
    return np.ascontiguousarray(classes)


def _check_size(size) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 3 or size % 2 == 0:
        raise RegularizeError(f"the majority window must be an odd whole number of pixels >= 3 (3, 5, 7...), "
                              f"not {size!r}")
    return int(size)


def _check_min_pixels(min_pixels) -> int:
    if isinstance(min_pixels, bool) or not isinstance(min_pixels, (int, np.integer)) or min_pixels < 1:
        raise RegularizeError(f"the minimum mapping unit must be a whole number of pixels >= 1, not {min_pixels!r}")
    return int(min_pixels)


def majority_filter(classes, size: int, *, nodata: int | None = 255, values=None) -> np.ndarray:
    """Each pixel takes the most frequent class of the ``size x size`` square window centred on it.

    The majority vote of OTB's ``ClassificationMapRegularization`` (which iota2 uses), in a square window.
    ``classes``: ``uint8`` array ``(H, W)``; returns a new ``uint8`` array ``(H, W)``. Nodata pixels (and
    pixels outside the map) do not vote, and nodata pixels stay nodata. On a tie the pixel keeps its own class
    if it is among the tied classes (OTB's "Original" option), else takes the lowest tied class value. Counts
    are exact integers: a box sum (along rows, then columns) of each present class's mask, so the cost is
    O(H x W x classes x size). Raises :class:`RegularizeError` if ``size`` is not odd and >= 3, or ``classes``
    is not a 2-D ``uint8`` array. ``values``: the class values the map may hold, when the caller knows them
    (e.g. the model's classes; more than are present is fine: a class that is not there gets no votes); by
    default those found in the map (one more pass over it).

    >>> a = np.array([[1, 1, 2, 2], [3, 2, 1, 2], [3, 3, 255, 2]], np.uint8)
    >>> majority_filter(a, 3)  # at [1, 1]: 1 and 3 tie with 3 votes each, 2 has 2: the lowest, 1, wins
    array([[  1,   1,   2,   2],
           [  3,   1,   2,   2],
           [  3,   3, 255,   2]], dtype=uint8)
    """
    classes = _check_classes(classes)
    size = _check_size(size)
    r = size // 2
    h, w = classes.shape
    if values is None:
        values = np.flatnonzero(np.bincount(classes.ravel(), minlength=256))  # the classes present
    values = np.unique(np.asarray(values, np.int64))  # ascending
    values = values[(values >= 0) & (values <= 255) & (values != (-1 if nodata is None else nodata))]
    values = values.astype(np.uint8)  # compared with the uint8 map as uint8: an int64 scalar would cast it
    # counts are at most size**2: the smallest unsigned type that holds them (uint8 up to 15 x 15)
    acc = np.uint8 if size * size < 2 ** 8 else np.uint16 if size * size < 2 ** 16 else np.uint32
    padded = np.zeros((h + 2 * r, w + 2 * r), np.bool_)  # the class's mask; outside the map nothing votes
    inside = padded[r:r + h, r:r + w]
    rows = np.empty((h + 2 * r, w), acc)
    count = np.empty((h, w), acc)
    best_count = np.zeros((h, w), acc)
    best_class = classes.copy()
    own_count = np.zeros((h, w), acc)
    more, scratch = np.empty((h, w), np.bool_), np.empty((h, w), np.uint8)
    for value in values:  # ascending, and ">" below: the lowest class wins a tie
        np.equal(classes, value, out=inside)
        np.add(padded[:, :w], padded[:, 1:w + 1], out=rows, dtype=acc)  # a box sum: along rows, then columns
        for k in range(2, size):
            rows += padded[:, k:k + w]
        np.add(rows[:h], rows[1:h + 1], out=count)
        for k in range(2, size):
            count += rows[k:k + h]
        np.greater(count, best_count, out=more)
        fill_where(best_class, value, more, scratch)
        np.maximum(best_count, count, out=best_count)
        own_count += count * inside  # each pixel is in one class's mask
    keep = own_count == best_count
    if nodata is not None:
        keep |= classes == nodata
    fill_where(best_class, classes, keep, scratch)  # np.where(keep, classes, best_class), in place
    return best_class


def sieve(classes, min_pixels: int, *, nodata: int | None = 255, connectivity: int = 8) -> np.ndarray:
    """Merge every connected region of fewer than ``min_pixels`` pixels into its largest neighbouring region.

    GDAL's sieve filter (``gdal_sieve``, QGIS SCP's "Classification sieve") through
    :func:`rasterio.features.sieve`. ``classes``: ``uint8`` array ``(H, W)``; ``min_pixels``: the minimum
    mapping unit in pixels (see :func:`mmu_pixels`); ``connectivity``: 4 (edges) or 8 (edges and corners)
    neighbours make a region. Returns a new ``uint8`` array ``(H, W)``. Nodata pixels are masked out for GDAL:
    they stay nodata, count in no region's size and are never a merge target, so a small region touching only
    nodata is kept. When a small region's largest neighbour is small too, GDAL follows that neighbour's largest
    neighbour, and so on, until a region of ``min_pixels`` or more. Raises :class:`RegularizeError` for
    ``min_pixels`` < 1, a connectivity other than 4 or 8, or ``classes`` not a 2-D ``uint8`` array.

    >>> a = np.array([[1, 1, 1], [1, 2, 1], [1, 1, 255]], np.uint8)
    >>> sieve(a, 2)
    array([[  1,   1,   1],
           [  1,   1,   1],
           [  1,   1, 255]], dtype=uint8)
    """
    from rasterio.features import sieve as gdal_sieve

    classes = _check_classes(classes)
    min_pixels = _check_min_pixels(min_pixels)
    if connectivity not in (4, 8):
        raise RegularizeError(f"connectivity must be 4 or 8 neighbours, not {connectivity!r}")
    mask = None if nodata is None else classes != nodata
    return gdal_sieve(classes, min_pixels, out=np.empty_like(classes), mask=mask, connectivity=connectivity)


def mmu_pixels(*, pixels: float | None = None, hectares: float | None = None,
               pixel_area_m2: float | None = None) -> int:
    """The minimum mapping unit in whole pixels, rounded up, from ``pixels`` or from ``hectares`` (1 ha =
    10,000 m²) and the area of one pixel in m² (``pixel_area_m2``, e.g. 100 for 10 m pixels; only used with
    ``hectares``). Raises :class:`RegularizeError` unless exactly one of ``pixels`` and ``hectares`` is given,
    as a positive finite number, with a positive ``pixel_area_m2`` for ``hectares``.

    >>> mmu_pixels(hectares=0.5, pixel_area_m2=100)   # 0.5 ha of 10 m pixels
    50
    >>> mmu_pixels(hectares=1, pixel_area_m2=900)     # 11.1 Landsat pixels
    12
    >>> mmu_pixels(pixels=7)
    7
    """
    def positive(name, value) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not math.isfinite(value) or value <= 0:
            raise RegularizeError(f"{name} must be a positive number, not {value!r}")
        return float(value)

    if (pixels is None) == (hectares is None):
        raise RegularizeError("give the minimum mapping unit either in pixels= or in hectares=, not both or none")
    if pixels is not None:
        n = positive("the minimum mapping unit in pixels", pixels)
    else:
        if pixel_area_m2 is None:
            raise RegularizeError("a minimum mapping unit in hectares needs the pixel area: give pixel_area_m2=")
        n = positive("the minimum mapping unit in hectares", hectares) * 10_000 / positive("pixel_area_m2",
                                                                                              pixel_area_m2)
    return max(1, math.ceil(round(n, 6)))  # round first: 0.09 ha / 900 m² is 1.0000000000000002 in floats


def regularize(classes, *, majority: int | None = None, mmu: int | None = None, nodata: int | None = 255,
               connectivity: int = 8) -> np.ndarray:
    """:func:`majority_filter` with a ``majority x majority`` window, then :func:`sieve` to ``mmu`` pixels, on a
    ``uint8`` array ``(H, W)``; either step is skipped when ``None``. Returns a new ``uint8`` array ``(H, W)``.

    >>> a = np.array([[1, 1, 1, 2], [1, 2, 1, 2], [1, 1, 1, 2]], np.uint8)
    >>> regularize(a, mmu=2)
    array([[1, 1, 1, 2],
           [1, 1, 1, 2],
           [1, 1, 1, 2]], dtype=uint8)
    """
    out = _check_classes(classes).copy()
    if majority is not None:
        out = majority_filter(out, majority, nodata=nodata)
    if mmu is not None:
        out = sieve(out, mmu, nodata=nodata, connectivity=connectivity)
    return out


@dataclass(frozen=True)
class RegularizeResult:
    """What :func:`regularize_file` wrote and changed (pixel counts; ``valid_pixels`` excludes nodata)."""

    path: str
    valid_pixels: int
    majority: int | None
    majority_changed: int
    mmu: int | None
    sieve_changed: int

    def summary(self) -> str:
        """One line for the user, e.g. ``majority 5x5 changed 1,234 px (1.2 %), sieve to 12 px changed 56 px
        (0.1 %)``."""
        pct = lambda n: 100 * n / self.valid_pixels if self.valid_pixels else 0.0
        parts = []
        if self.majority is not None:
            parts.append(f"majority {self.majority}x{self.majority} changed {self.majority_changed:,} px "
                         f"({pct(self.majority_changed):.1f} %)")
        if self.mmu is not None:
            parts.append(f"sieve to {self.mmu} px changed {self.sieve_changed:,} px ({pct(self.sieve_changed):.1f} %)")
        return ", ".join(parts) or "no regularization"


def regularize_file(src_path: str | os.PathLike, dst_path: str | os.PathLike, *, majority: int | None = None,
                    mmu: int | None = None, block: int = 1024, connectivity: int = 8) -> RegularizeResult:
    """:func:`regularize` a single-band ``uint8`` class map file into a tiled GeoTIFF ``dst_path``.

    The majority filter runs on ``block x block`` windows (:mod:`rasterio.windows`) read with a margin of
    ``majority // 2`` pixels, of which only the core is written, so the result is exactly that of the whole map;
    the sieve runs once over the whole map (see the module documentation for why). The output keeps the
    source's profile (CRS, transform, nodata, compression; tiled 256 x 256, BigTIFF if needed), colour table,
    tags and band description; it is written to a temporary file renamed into place, so an error leaves no
    partial file. Raises :class:`RegularizeError` for a bad parameter, a source that is not a single ``uint8``
    band, or ``dst_path`` naming the source.
    """
    import rasterio
    from rasterio.windows import Window

    if majority is not None:
        _check_size(majority)
    if mmu is not None:
        _check_min_pixels(mmu)
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        raise RegularizeError(f"block must be a whole number of pixels >= 1, not {block!r}")
    if os.path.abspath(src_path) == os.path.abspath(dst_path):
        raise RegularizeError(f"write the regularized map to a new file, not over its source {src_path}")
    with rasterio.open(src_path) as src:
        if src.count != 1 or src.dtypes[0] != "uint8":
            raise RegularizeError(f"{src_path} is not a class map (one uint8 band): {src.count} band(s) of "
                                  f"{src.dtypes[0]}")
        nodata = None if src.nodata is None else int(src.nodata)
        try:
            colormap = src.colormap(1)
        except ValueError:  # no colour table
            colormap = None
        profile = dict(src.profile, driver="GTiff", tiled=True, blockxsize=256, blockysize=256, BIGTIFF="IF_SAFER",
                       compress=src.profile.get("compress") or "lzw")
        h, w = src.height, src.width
        whole = np.empty((h, w), np.uint8) if mmu is not None else None
        m = majority // 2 if majority is not None else 0
        valid = majority_changed = sieve_changed = 0
        with replacing(dst_path) as tmp:
            with rasterio.open(tmp, "w", **profile) as dst:
                for row in range(0, h, block):
                    for col in range(0, w, block):
                        r0, c0 = max(row - m, 0), max(col - m, 0)
                        r1, c1 = min(row + block + m, h), min(col + block + m, w)
                        data = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0))
                        core = np.s_[row - r0:min(row + block, h) - r0, col - c0:min(col + block, w) - c0]
                        before = data[core]
                        after = before if majority is None else majority_filter(data, majority, nodata=nodata)[core]
                        valid += before.size if nodata is None else int(np.count_nonzero(before != nodata))
                        majority_changed += int(np.count_nonzero(after != before))
                        if whole is not None:
                            whole[row:row + after.shape[0], col:col + after.shape[1]] = after
                        else:
                            dst.write(after, 1, window=Window(col, row, after.shape[1], after.shape[0]))
                if whole is not None:
                    sieved = sieve(whole, mmu, nodata=nodata, connectivity=connectivity)
                    sieve_changed = int(np.count_nonzero(sieved != whole))
                    del whole
                    dst.write(sieved, 1)
                if colormap is not None:
                    dst.write_colormap(1, colormap)
                dst.update_tags(**src.tags())
                dst.update_tags(1, **src.tags(1))
                if src.descriptions[0]:
                    dst.set_band_description(1, src.descriptions[0])
    return RegularizeResult(str(dst_path), valid, majority, majority_changed, mmu, sieve_changed)
