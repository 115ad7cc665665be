"""Class rasters as map overlays (landclass_ui.overlay): the picture the map shows puts every class where the
raster has it, on real rasters in three CRSs (UTM 11N, UTM 22S, geographic)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer

from landclass_ui.imagery import Grid
from landclass_ui.overlay import EMPTY_PNG, decode_data_url, mercator, overlay, png_data_url

DATA = Path(__file__).parent / "data"
COLORS = {v: (40 * v % 256, 255 - 30 * v % 256, (70 * v) % 256, 255) for v in range(1, 9)}


def real_classes(name: str) -> tuple[np.ndarray, Grid]:
    """A real categorical raster (uint8, 255 = nodata) and its grid."""
    if name == "l8-landcover":  # a land-cover map, UTM 11N, 4 classes and -999 nodata
        with rasterio.open(DATA / "l8_t11upt" / "landcover.tif") as src:
            data = src.read(1)
            grid = Grid(src.crs, src.transform, src.width, src.height)
        return np.where(data < 0, 255, data).astype(np.uint8), grid
    path = {"l5-nir": DATA / "l5_amazon" / "LT52240631988227CUB02_B4.TIF",       # UTM 22S
            "s2-nir": DATA / "s2_amazon" / "sen2_L2A_12band.tif"}[name]         # EPSG:4326
    with rasterio.open(path) as src:
        band = src.read(src.count if name == "l5-nir" else 8).astype(float)
        grid = Grid(src.crs, src.transform, src.width, src.height)
    edges = np.nanpercentile(band, [20, 40, 60, 80])  # five classes of brightness
    return (np.digitize(band, edges) + 1).astype(np.uint8), grid


@pytest.mark.parametrize("name", ["l8-landcover", "l5-nir", "s2-nir"])
def test_overlay_puts_each_class_where_the_raster_has_it(name):
    classes, grid = real_classes(name)
    url, ((south, west), (north, east)) = overlay(classes, grid, COLORS)
    rgba = decode_data_url(url)
    h, w = rgba.shape[:2]
    assert 0.5 < h * w / classes.size < 2  # about as many pixels as the raster
    # the centre of every overlay pixel, placed as Leaflet places it (linear in Web Mercator between the bounds)
    to_merc = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    x0, y1 = to_merc.transform(west, south)
    x1, y0 = to_merc.transform(east, north)
    cols, rows = np.meshgrid((np.arange(w) + 0.5) / w, (np.arange(h) + 0.5) / h)
    xs, ys = x0 + cols * (x1 - x0), y0 - rows * (y0 - y1)
    to_crs = Transformer.from_crs("EPSG:3857", grid.crs, always_xy=True)
    px, py = to_crs.transform(xs.ravel(), ys.ravel())
    c, r = ~grid.transform * (np.asarray(px), np.asarray(py))
    r, c = np.floor(r).astype(int), np.floor(c).astype(int)
    inside = (r >= 0) & (r < grid.height) & (c >= 0) & (c < grid.width)
    expected = np.zeros((h * w, 4), dtype=np.uint8)  # transparent outside the raster and on nodata
    value = classes[r[inside], c[inside]]
    table = np.zeros((256, 4), dtype=np.uint8)
    for v, color in COLORS.items():
        table[v] = color
    expected[inside] = table[value]
    agree = (expected == rgba.reshape(-1, 4)).all(axis=1)
    # nearest neighbour in a warp vs. the exact position: only pixels on a class edge may differ
    assert agree.mean() > 0.98, agree.mean()
    opaque = rgba[..., 3] == 255
    assert opaque.sum() > 0.4 * h * w
    assert {tuple(x) for x in np.unique(rgba[opaque], axis=0)} <= set(COLORS.values())


def test_overlay_bounds_are_the_raster_extent():
    classes, grid = real_classes("l8-landcover")
    _, ((south, west), (north, east)) = mercator(classes, grid)
    from rasterio.warp import transform_bounds

    w, s, e, n = transform_bounds(grid.crs, "EPSG:4326", *grid.bounds, densify_pts=21)
    assert (south, west, north, east) == pytest.approx((s, w, n, e), abs=0.002)


def test_png_is_paletted_lossless_and_transparent_where_no_colour():
    values = np.array([[1, 2, 255], [0, 3, 1]], dtype=np.uint8)
    rgba = decode_data_url(png_data_url(values, {1: (10, 20, 30, 255), 2: (1, 2, 3, 255), 3: (9, 9, 9, 128)}))
    assert rgba[0, 0].tolist() == [10, 20, 30, 255] and rgba[0, 1].tolist() == [1, 2, 3, 255]
    assert rgba[1, 1].tolist() == [9, 9, 9, 128]
    assert rgba[0, 2, 3] == 0 and rgba[1, 0, 3] == 0
    assert decode_data_url(EMPTY_PNG).shape == (1, 1, 4) and decode_data_url(EMPTY_PNG)[0, 0, 3] == 0
