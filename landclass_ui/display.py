"""Display copies of an image for the map: 8-bit colour composites with a percentile stretch.

The tile server renders uint8 rasters with overviews fast (no per-tile statistics); raw uint16/float bands
are slow (see ../shared/notes/STACK.md). A composite is written once per image and band choice into a cache
folder and reused.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ._files import replacing, temp_path
from .export import to_cog
from .imagery import Grid, ImageStack
from .sensors import COMPOSITES

__all__ = ["COMPOSITES", "composite_bands", "stretch", "preview", "make_composite"]



def composite_bands(band_names: Sequence[str], composite: str = "true colour",
                    roles: dict[str, str] | None = None) -> tuple[list[str], str | None]:
    """The three bands (red, green, blue channels) of a named composite and a message when it could not be
    made as asked.

    ``roles`` maps band roles (``red``, ``green``, ``blue``, ``nir``) to band names, as
    :func:`landclass_ui.sensors.resolve_roles` gives them from the sensor; when a role is missing, the first
    three bands are shown as red, green, blue and the message says why and what to do.

    >>> composite_bands(["B02", "B03", "B04", "B8A"], "false colour (NIR, red, green)",
    ...                 {"blue": "B02", "green": "B03", "red": "B04", "nir": "B8A"})
    (['B8A', 'B04', 'B03'], None)
    >>> composite_bands(["B1", "B2", "B3", "B4"], "true colour")[0]
    ['B1', 'B2', 'B3']
    """
    names = list(band_names)
    if not names:
        raise ValueError("no band to show")
    wanted = COMPOSITES[composite]
    roles = roles or {}
    if all(roles.get(r) in names for r in wanted):
        return [roles[r] for r in wanted], None
    first = (names * 3)[:3]
    missing = [r for r in wanted if roles.get(r) not in names]
    return first, (f"{composite} needs the {', '.join(missing)} band(s), which are not known for these bands: "
                   f"showing {', '.join(first)} as red, green, blue; choose the sensor or the band roles in IMG")


def _key(stack: ImageStack, bands: Sequence[str]) -> str:
    sources = [(b.path, b.index, b.scale, b.offset, os.path.getmtime(b.path)) for b in stack.bands
               if b.name in bands and b.computed is None]
    text = json.dumps([sources, list(bands), stack.grid.width, stack.grid.height], default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def stretch(data: np.ndarray, percentiles: tuple[float, float] = (2, 98)) -> np.ndarray:
    """Bands float ``(n, h, w)`` (reflectance or DN; NaN where nodata) to uint8 ``(n, h, w)`` for display:
    each band stretched linearly between its ``percentiles`` to 1-255; 0 where any band is nodata.

    >>> stretch(np.array([[[0.0, 0.5, 1.0, np.nan]]]), (0, 100)).tolist()
    [[[1, 128, 255, 0]]]
    """
    out = np.zeros(data.shape, np.uint8)
    valid = np.isfinite(data).all(axis=0)
    for i in range(data.shape[0]):
        values = data[i][valid]
        if values.size == 0:
            continue
        lo, hi = np.percentile(values, percentiles)
        scaled = (data[i] - lo) / max(hi - lo, 1e-12) * 254 + 1
        out[i] = np.where(valid, np.clip(scaled, 1, 255), 0).astype(np.uint8)
    return out


def preview(stack: ImageStack, bands: Sequence[str], *, max_px: int = 1024,
            percentiles: tuple[float, float] = (2, 98)) -> tuple[np.ndarray, Grid]:
    """A quick colour picture of ``bands`` (red, green, blue order) for the map while the display copy and
    its tiles are made: uint8 ``(3, h, w)`` (:func:`stretch`) and its grid (the image's extent and CRS).

    The image is read at a power-of-two reduction that brings its longest side to ``max_px`` pixels or
    fewer, so GDAL reads the file's overviews (JPEG 2000 resolution levels, GeoTIFF overviews) where it has
    them: a fraction of a full read.
    """
    from affine import Affine

    g = stack.grid
    factor = 2 ** max(0, math.ceil(math.log2(max(g.width, g.height) / max_px)))
    shape = (max(1, -(-g.height // factor)), max(1, -(-g.width // factor)))
    rgb = stretch(stack.select(list(bands)).read(None, shape if factor > 1 else None), percentiles)
    transform = g.transform * Affine.scale(g.width / shape[1], g.height / shape[0])
    return rgb, Grid(g.crs, transform, shape[1], shape[0])


def make_composite(stack: ImageStack, bands: Sequence[str], cache_dir: str | os.PathLike,
                   *, percentiles: tuple[float, float] = (2, 98), max_px: int = 4096) -> str:
    """Write (once) a 3-band uint8 COG of ``bands`` (red, green, blue order) stretched per band between the
    given percentiles (computed on a reduced view), 0 as nodata, with overviews; returns its path.

    The copy is at most ``max_px`` pixels a side (larger scenes are averaged down; the map's detail comes
    from the live classification, which reads the full-resolution bands).
    """
    import rasterio
    from affine import Affine

    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"composite_{_key(stack, bands)}.tif"
    if path.exists():
        return str(path)
    sub = stack.select(list(bands))
    g = stack.grid
    factor = max(1.0, max(g.width, g.height) / max_px)
    shape = (max(1, int(round(g.height / factor))), max(1, int(round(g.width / factor))))
    out = stretch(sub.read(None, shape if factor > 1 else None), percentiles)
    transform = g.transform * Affine.scale(g.width / shape[1], g.height / shape[0])
    profile = dict(driver="GTiff", width=shape[1], height=shape[0], count=3, dtype="uint8", crs=g.crs,
                   transform=transform, nodata=0, tiled=True, blockxsize=256, blockysize=256,
                   compress="deflate", photometric="RGB")
    raw = temp_path(cache, path.stem, "raw")  # unique temporary names: two kernels may build the same copy
    try:
        with replacing(path) as tmp:
            with rasterio.open(raw, "w", **profile) as dst:
                dst.write(out)
            to_cog(raw, tmp, resampling="average")
    finally:
        os.unlink(raw)
    return str(path)

