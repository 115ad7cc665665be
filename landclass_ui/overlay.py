"""Class rasters as map overlays: warped to Web Mercator and encoded as one paletted PNG in a ``data:`` URL.

The live classification is small (the whole scene at a coarse scale, or the visible extent at screen
resolution), so the map shows it as one image (an ``ipyleaflet.ImageOverlay``) instead of tiles: one message
over the widget connection the page already has, no tile server, no request per tile, no file per version.
This is the same in standalone voila, JupyterLab and Binder (nothing to route), and the picture shown is exactly
the array computed, pixel for pixel (PNG is lossless; the page draws it with ``image-rendering: pixelated``).

Leaflet stretches an overlay linearly between its corners in Web Mercator (EPSG:3857), so the raster is first
warped onto an EPSG:3857 grid of about the same number of pixels (nearest neighbour: class values are never
mixed), with :func:`rasterio.warp.reproject`. The PNG is written by Pillow.
"""
from __future__ import annotations

import base64
import io

import numpy as np

from .imagery import Grid

__all__ = ["EMPTY_PNG", "LatLonBounds", "mercator", "png_data_url", "overlay", "rgb_overlay", "decode_data_url"]

#: ``((south, west), (north, east))`` in degrees (EPSG:4326), as ipyleaflet takes bounds.
LatLonBounds = tuple[tuple[float, float], tuple[float, float]]

MERCATOR = "EPSG:3857"


def mercator(array: np.ndarray, grid: Grid, *, nodata: int = 255) -> tuple[np.ndarray, LatLonBounds]:
    """``array`` (uint8 ``(h, w)`` on ``grid``, any CRS) warped to Web Mercator by nearest neighbour.

    Returns the warped uint8 array (about as many pixels as ``array``; ``nodata`` outside the source) and its
    bounds in degrees. A grid already in EPSG:3857 is returned as it is.

    >>> from affine import Affine
    >>> grid = Grid("EPSG:32631", Affine(60, 0, 300000, 0, -60, 4900020), 4, 3)
    >>> warped, ((s, w), (n, e)) = mercator(np.arange(12, dtype="uint8").reshape(3, 4), grid)
    >>> warped.dtype, sorted(set(np.unique(warped)) - {255}) == list(range(12))
    (dtype('uint8'), True)
    >>> round(s, 3), round(w, 3), round(n, 3), round(e, 3)
    (44.224, 0.496, 44.226, 0.499)
    """
    from rasterio.crs import CRS
    from rasterio.enums import Resampling
    from rasterio.warp import calculate_default_transform, reproject, transform_bounds

    h, w = array.shape
    left, top = grid.transform * (0, 0)
    right, bottom = grid.transform * (w, h)
    src_bounds = (min(left, right), min(top, bottom), max(left, right), max(top, bottom))
    dst_crs = CRS.from_string(MERCATOR)
    if CRS.from_user_input(grid.crs) == dst_crs:
        warped, (west, south, east, north) = array, src_bounds
    else:
        transform, width, height = calculate_default_transform(grid.crs, dst_crs, w, h, *src_bounds)
        warped = np.full((height, width), nodata, dtype=np.uint8)
        reproject(array, warped, src_transform=grid.transform, src_crs=grid.crs, src_nodata=nodata,
                  dst_transform=transform, dst_crs=dst_crs, dst_nodata=nodata, resampling=Resampling.nearest)
        west, north = transform * (0, 0)
        east, south = transform * (width, height)
    lw, ls, le, ln = transform_bounds(dst_crs, "EPSG:4326", west, south, east, north)
    return warped, ((ls, lw), (ln, le))


def png_data_url(array: np.ndarray, colormap: dict[int, tuple[int, int, int, int]]) -> str:
    """A paletted PNG of ``array`` (uint8 ``(h, w)``) as a ``data:image/png;base64,`` URL.

    ``colormap`` is a GDAL-style colour table ``{value: (r, g, b, a)}`` (a 0-255); values without a colour
    are transparent. Written with Pillow at a low compression level (speed over a few kB).

    >>> url = png_data_url(np.array([[1, 2]], dtype="uint8"), {1: (255, 0, 0, 255)})
    >>> url.startswith("data:image/png;base64,")
    True
    >>> decode_data_url(url)[0].tolist()
    [[255, 0, 0, 255], [0, 0, 0, 0]]
    """
    from PIL import Image

    palette = np.zeros((256, 4), dtype=np.uint8)
    for value, rgba in colormap.items():
        if 0 <= int(value) <= 255:
            palette[int(value)] = (tuple(rgba) + (255,))[:4]
    image = Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8), mode="P")
    image.putpalette(palette[:, :3].tobytes(), rawmode="RGB")
    image.info["transparency"] = palette[:, 3].tobytes()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1, transparency=palette[:, 3].tobytes())
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_data_url(url: str) -> np.ndarray:
    """The RGBA pixels (uint8 ``(h, w, 4)``) of a PNG or WebP ``data:`` URL (what a browser draws; for tests)."""
    from PIL import Image

    data = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


def overlay(array: np.ndarray, grid: Grid, colormap: dict[int, tuple[int, int, int, int]], *,
            nodata: int = 255) -> tuple[str, LatLonBounds]:
    """``array`` (uint8 ``(h, w)`` on ``grid``) as an ``ImageOverlay``'s ``(url, bounds)``: warped to Web
    Mercator (:func:`mercator`) and encoded (:func:`png_data_url`); ``nodata`` pixels are transparent."""
    warped, bounds = mercator(array, grid, nodata=nodata)
    colors = {k: v for k, v in colormap.items() if k != nodata}
    return png_data_url(warped, colors), bounds



def rgb_overlay(rgb: np.ndarray, grid: Grid, *, nodata: int = 0, quality: int = 70) -> tuple[str, LatLonBounds]:
    """A colour picture (uint8 ``(3, h, w)``: red, green, blue on ``grid``, any CRS) as an ``ImageOverlay``'s
    ``(url, bounds)``: each band warped to Web Mercator by nearest neighbour (:func:`mercator`), encoded as a
    WebP with alpha (lossy colours at ``quality`` 0-100, lossless alpha: a photo-like picture of 1000 px a
    side is ~0.4 MB, against ~2.7 MB as PNG), transparent where all three bands are ``nodata`` (0 in
    :func:`landclass_ui.display.stretch`'s pictures) or outside the image.

    >>> from affine import Affine
    >>> grid = Grid("EPSG:4326", Affine(1, 0, 0, 0, -1, 2), 2, 2)
    >>> rgb = np.array([[[200, 0], [0, 0]], [[100, 0], [0, 0]], [[50, 0], [0, 0]]], dtype="uint8")
    >>> url, bounds = rgb_overlay(rgb, grid, quality=100)
    >>> url.startswith("data:image/webp;base64,")
    True
    >>> picture = decode_data_url(url)
    >>> int((picture[:, :, 3] == 255).sum()), int((picture[:, :, 3] == 0).sum())  # one pixel shown, 3 not
    (1, 3)
    >>> bool(np.abs(picture[0, 0, :3].astype(int) - [200, 100, 50]).max() <= 8)
    True
    """
    from PIL import Image

    bands, bounds = [], None
    for band in rgb:
        warped, bounds = mercator(band, grid, nodata=nodata)
        bands.append(warped)
    picture = np.stack(bands, axis=-1)
    alpha = np.where((picture == nodata).all(axis=-1), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(np.dstack([picture, alpha]), mode="RGBA").save(buffer, format="WEBP", quality=quality,
                                                                   method=0)
    return "data:image/webp;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"), bounds


#: A transparent 1 x 1 PNG: an overlay with nothing to show.
EMPTY_PNG = png_data_url(np.zeros((1, 1), dtype=np.uint8), {})
