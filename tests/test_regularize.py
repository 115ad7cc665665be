"""Regularization of class maps (landclass_ui.regularize): majority filter, sieve to a minimum mapping unit, and
the window-by-window file version, which must give exactly the whole-map result (no seams at block edges).

Real maps: tests/data/l8_t11upt/landcover.tif (a Landsat 8 classification, classes 1-4, -999 and -32768 as
nodata, made uint8 with 255 as nodata here) and a 1830 x 1830 NDVI-class map of the bundled Sentinel-2 sample.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.features import sieve as gdal_sieve
from scipy import ndimage

from landclass_ui.errors import LandclassError
from landclass_ui.regularize import (
    RegularizeError,
    majority_filter,
    mmu_pixels,
    regularize,
    regularize_file,
    sieve,
)

ROOT = Path(__file__).resolve().parents[1]
LANDCOVER = ROOT / "tests" / "data" / "l8_t11upt" / "landcover.tif"
SAMPLE_R60 = next((ROOT / "landclass_ui" / "data" / "sample").glob("*.SAFE/GRANULE/*/IMG_DATA/R60m"))
COLORS = {1: (0, 0, 255, 255), 2: (34, 139, 34, 255), 3: (210, 180, 140, 255), 4: (255, 0, 0, 255)}


@pytest.fixture(scope="module")
def landcover(tmp_path_factory):
    """(uint8 array, path of a uint8 GeoTIFF with nodata 255, a colour table, tags and a band description)."""
    with rasterio.open(LANDCOVER) as src:
        raw, profile = src.read(1), src.profile
    classes = np.where((raw >= 1) & (raw <= 4), raw, 255).astype(np.uint8)
    assert set(np.unique(classes)) == {1, 2, 3, 4, 255}
    path = tmp_path_factory.mktemp("landcover") / "landcover_u8.tif"
    profile.update(dtype="uint8", nodata=255)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(classes, 1)
        dst.write_colormap(1, COLORS)
        dst.update_tags(SOURCE="l8_t11upt")
        dst.update_tags(1, LEGEND="1=water;2=forest;3=bare;4=urban")
        dst.set_band_description(1, "class")
    return classes, path


@pytest.fixture(scope="module")
def sample_map(tmp_path_factory):
    """A real, noisy 1830 x 1830 class map: the Sentinel-2 sample's NDVI cut into 5 classes (no nodata value set,
    no colour table)."""
    bands = {}
    for name in ("B04", "B8A"):
        with rasterio.open(next(SAMPLE_R60.glob(f"*_{name}_60m.jp2"))) as src:
            bands[name], profile = src.read(1).astype(np.float32), src.profile
    ndvi = (bands["B8A"] - bands["B04"]) / np.maximum(bands["B8A"] + bands["B04"], 1)
    classes = (np.digitize(ndvi, [0.0, 0.3, 0.5, 0.7]) + 1).astype(np.uint8)
    path = tmp_path_factory.mktemp("sample") / "ndvi_classes.tif"
    profile.update(driver="GTiff", dtype="uint8", nodata=None, tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(classes, 1)
    return classes, path


def naive_majority(classes, size, nodata=255):
    """The rule written out pixel by pixel: (result, number of ties won by the lowest class, not the centre)."""
    r, out, ties = size // 2, classes.copy(), 0
    for y, x in zip(*np.nonzero(classes != nodata)):
        win = classes[max(y - r, 0):y + r + 1, max(x - r, 0):x + r + 1]
        values, counts = np.unique(win[win != nodata], return_counts=True)
        top = values[counts == counts.max()]
        if classes[y, x] not in top:
            out[y, x] = top.min()
            ties += len(top) > 1
    return out, ties


def small_regions(classes, min_pixels, nodata=255):
    """Number of 8-connected single-class regions below ``min_pixels`` (scipy, independent of GDAL)."""
    n = 0
    for value in np.unique(classes[classes != nodata]):
        labels, _ = ndimage.label(classes == value, structure=np.ones((3, 3)))
        n += int(np.count_nonzero(np.bincount(labels.ravel())[1:] < min_pixels))
    return n


# --- majority filter -------------------------------------------------------------------------------------------

def test_majority_filter_by_hand():
    a = np.array([[1, 1, 1, 2, 2],
                  [1, 2, 1, 2, 2],
                  [3, 3, 2, 255, 255],
                  [3, 3, 3, 255, 4]], np.uint8)
    expected = np.array([[1, 1, 1, 2, 2],   # [0, 2]: 1 and 2 tie 3-3, the centre is 1: stays 1
                         [1, 1, 2, 2, 2],   # [1, 1]: 1 has 5 of 8 votes; [1, 2]: 2 has 4, 1 has 3
                         [3, 3, 2, 255, 255],  # [2, 2]: 2 and 3 tie 3-3, the centre is 2: stays 2
                         [3, 3, 3, 255, 4]], np.uint8)  # [3, 4]: only its own vote (nodata has none): stays 4
    before = a.copy()
    assert np.array_equal(majority_filter(a, 3), expected)
    assert np.array_equal(a, before)  # the input is not modified
    # a tie the centre is not part of: 4, 3 and 9 have 2 votes each, the centre 5 one: the lowest, 3, wins
    b = np.array([[4, 4, 3], [3, 5, 9], [9, 255, 7]], np.uint8)
    out = majority_filter(b, 3)
    assert out[1, 1] == 3 and out[2, 1] == 255
    # a window covering the whole map: every valid pixel takes the map's majority (2: 6 votes of 17)
    assert np.array_equal(majority_filter(a, 9), np.where(a == 255, 255, 2))
    # with nodata=None, 255 is a class like any other and votes
    assert majority_filter(a, 3, nodata=None)[2, 4] == 255 and majority_filter(a, 3, nodata=None)[3, 4] == 255


@pytest.mark.parametrize("size", [3, 5])
def test_majority_filter_matches_the_rule_on_real_data(landcover, size):
    crop = landcover[0][40:100, 0:80]  # holds nodata (-999), all four classes and noisy borders
    assert (crop == 255).any()
    expected, ties = naive_majority(crop, size)
    assert ties > 0  # the crop exercises the "lowest class wins" tie rule
    assert np.array_equal(majority_filter(crop, size), expected)


def test_majority_filter_with_the_classes_given_is_the_same(landcover):
    """Told which classes the map may hold (a prediction's: the model's classes), the filter skips looking for
    them and gives the same map; classes that are absent, the nodata value and values beyond uint8 among them
    change nothing."""
    crop = landcover[0][40:100, 0:80]
    present = [int(v) for v in np.unique(crop) if v != 255]
    assert len(present) == 4
    for size in (3, 5):
        expected = majority_filter(crop, size)
        for values in (present, present[::-1] + [9, 17], present + [255, 300, -1]):
            assert np.array_equal(majority_filter(crop, size, values=values), expected), values


@pytest.mark.parametrize("size", [1, 2, 4, 0, -3, 3.0, True, "5", None])
def test_majority_filter_rejects_bad_windows(size):
    with pytest.raises(RegularizeError, match="odd") as info:
        majority_filter(np.ones((4, 4), np.uint8), size)
    assert isinstance(info.value, LandclassError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("bad", [np.ones((4, 4), np.int16), np.ones(4, np.uint8), np.ones((0, 4), np.uint8),
                                 np.ones((2, 4, 4), np.uint8)])
def test_class_maps_must_be_2d_uint8(bad):
    with pytest.raises(RegularizeError, match="uint8"):
        majority_filter(bad, 3)
    with pytest.raises(RegularizeError, match="uint8"):
        sieve(bad, 3)


# --- sieve -----------------------------------------------------------------------------------------------------

def test_sieve_removes_an_island_below_the_mmu_and_keeps_one_at_it():
    a = np.ones((12, 12), np.uint8)
    a[2:4, 2:4] = 2                             # 4 px
    a[7, 8] = a[8, 7:10] = a[9, 8] = 3          # 5 px, a plus sign
    out = sieve(a, 5)
    assert (out[2:4, 2:4] == 1).all()           # below the MMU: merged into its neighbour
    assert np.array_equal(out == 3, a == 3)     # at the MMU: kept
    assert np.count_nonzero(out != a) == 4
    assert (sieve(a, 6) == 1).all()             # both below 6 px


def test_sieve_connectivity():
    a = np.ones((6, 6), np.uint8)
    a[2, 2] = a[3, 3] = 2                        # one region of 2 px by corners, two of 1 px by edges
    assert np.array_equal(sieve(a, 2, connectivity=8), a)
    assert (sieve(a, 2, connectivity=4) == 1).all()
    with pytest.raises(RegularizeError, match="4 or 8"):
        sieve(a, 2, connectivity=6)


def test_sieve_with_nodata():
    a = np.full((8, 10), 1, np.uint8)
    a[:, 6:] = 255
    a[2, 2] = 255                    # a 1 px nodata hole in class 1
    a[5:7, 5] = 3                    # 2 px of class 3 between class 1 and nodata
    a[1, 8] = 2                      # 1 px of class 2 surrounded by nodata
    out = sieve(a, 3)
    assert np.array_equal(out == 255, a == 255)           # nodata stays nodata, and never spreads
    assert (out[5:7, 5] == 1).all()                       # merged into class 1, not into nodata
    assert out[1, 8] == 2                                 # no valid neighbour: left alone (GDAL's rule)
    assert gdal_sieve(a, 3, connectivity=8)[2, 2] == 1    # without the nodata mask GDAL would fill the hole
    # nodata does not count in a region's size: 3 px of class 3 along nodata are removed at an MMU of 4
    b = a.copy()
    b[4:7, 5] = 3
    assert (sieve(b, 4)[4:7, 5] == 1).all() and (sieve(b, 3)[4:7, 5] == 3).all()
    # with nodata=None, 255 is a class: the hole is filled
    assert sieve(a, 3, nodata=None)[2, 2] == 1


@pytest.mark.parametrize("mmu", [2, 5, 20])
def test_sieve_leaves_no_region_below_the_mmu_on_real_data(landcover, mmu):
    classes = landcover[0]
    assert small_regions(classes, mmu) > 100
    out = sieve(classes, mmu)
    assert small_regions(out, mmu) == 0
    assert np.array_equal(out == 255, classes == 255)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, None])
def test_sieve_rejects_bad_mmu(bad):
    with pytest.raises(RegularizeError, match="minimum mapping unit"):
        sieve(np.ones((4, 4), np.uint8), bad)


# --- minimum mapping unit --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, expected", [
    (dict(pixels=7), 7), (dict(pixels=2.1), 3), (dict(pixels=0.2), 1),
    (dict(hectares=0.5, pixel_area_m2=100), 50),        # Sentinel-2 10 m
    (dict(hectares=1, pixel_area_m2=900), 12),          # Landsat 30 m: 11.1 px
    (dict(hectares=0.09, pixel_area_m2=900), 1),        # exactly one pixel, despite float rounding
    (dict(hectares=0.36, pixel_area_m2=3600), 1),       # Sentinel-2 60 m
    (dict(hectares=5, pixel_area_m2=3600), 14),         # 13.9 px
    (dict(pixels=3, pixel_area_m2=100), 3),
])
def test_mmu_pixels(kwargs, expected):
    assert mmu_pixels(**kwargs) == expected


@pytest.mark.parametrize("kwargs, message", [
    (dict(), "either"), (dict(pixels=3, hectares=1, pixel_area_m2=100), "either"),
    (dict(hectares=1), "pixel area"), (dict(pixels=0), "positive"), (dict(pixels=-2), "positive"),
    (dict(pixels=float("nan")), "positive"), (dict(hectares=1, pixel_area_m2=0), "pixel_area_m2"),
    (dict(hectares=float("inf"), pixel_area_m2=100), "positive"), (dict(pixels="5"), "positive"),
])
def test_mmu_pixels_errors(kwargs, message):
    with pytest.raises(RegularizeError, match=message):
        mmu_pixels(**kwargs)


# --- regularize, in memory and window by window --------------------------------------------------------------------

def test_regularize_is_majority_then_sieve(landcover):
    classes = landcover[0]
    both = regularize(classes, majority=5, mmu=10)
    assert np.array_equal(both, sieve(majority_filter(classes, 5), 10))
    assert not np.array_equal(both, majority_filter(sieve(classes, 10), 5))  # the order matters
    nothing = regularize(classes)
    assert np.array_equal(nothing, classes) and nothing is not classes


@pytest.mark.parametrize("kwargs", [dict(majority=5), dict(majority=7, block=97), dict(mmu=2), dict(mmu=5),
                                    dict(mmu=40, connectivity=4), dict(majority=3, mmu=10),
                                    dict(majority=5, mmu=5, block=64)])
def test_regularize_file_has_no_seams(landcover, tmp_path, kwargs):
    """Blocks of 128 px (default here) on a 742 x 169 map: the file equals the whole-map result. A sieve run per
    block, even with a margin of ``mmu`` pixels, fails this (mmu 2 and 5: a largest neighbour cut by the window
    edge looks smaller than it is)."""
    classes, src = landcover
    kwargs = dict(dict(block=128), **kwargs)
    block, connectivity = kwargs.pop("block"), kwargs.pop("connectivity", 8)
    result = regularize_file(src, tmp_path / "out.tif", block=block, connectivity=connectivity, **kwargs)
    with rasterio.open(tmp_path / "out.tif") as dst:
        written = dst.read(1)
    expected = regularize(classes, connectivity=connectivity, **kwargs)
    assert np.array_equal(written, expected)
    # the counts of changed pixels
    majority = kwargs.get("majority")
    after_majority = classes if majority is None else majority_filter(classes, majority)
    assert result.valid_pixels == np.count_nonzero(classes != 255) == 102512
    assert result.majority_changed == np.count_nonzero(after_majority != classes)
    assert result.sieve_changed == np.count_nonzero(expected != after_majority)
    assert (result.majority, result.mmu) == (majority, kwargs.get("mmu"))
    assert result.majority_changed + result.sieve_changed > 0
    assert result.path == str(tmp_path / "out.tif")


def test_regularize_file_keeps_the_profile_colours_and_nodata(landcover, tmp_path):
    classes, src_path = landcover
    result = regularize_file(src_path, tmp_path / "out.tif", majority=3, mmu=4, block=128)
    with rasterio.open(src_path) as src, rasterio.open(tmp_path / "out.tif") as dst:
        assert (dst.crs, dst.transform, dst.shape, dst.count) == (src.crs, src.transform, src.shape, 1)
        assert dst.dtypes == ("uint8",) and dst.nodata == 255
        assert dst.colormap(1) == src.colormap(1) and dst.colormap(1)[2] == COLORS[2]
        assert dst.profile["tiled"] and dst.block_shapes == [(256, 256)] and dst.profile["compress"] == "deflate"
        assert dst.tags()["SOURCE"] == "l8_t11upt" and dst.tags(1)["LEGEND"].startswith("1=water")
        assert dst.descriptions == ("class",)
        written = dst.read(1)
    assert np.array_equal(written == 255, classes == 255)
    n = result.valid_pixels
    assert result.summary() == (f"majority 3x3 changed {result.majority_changed:,} px "
                                f"({100 * result.majority_changed / n:.1f} %), sieve to 4 px changed "
                                f"{result.sieve_changed:,} px ({100 * result.sieve_changed / n:.1f} %)")
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"]  # no temporary file left


def test_regularize_file_on_the_sentinel2_sample(sample_map, tmp_path):
    classes, src_path = sample_map
    assert classes.shape == (1830, 1830)
    result = regularize_file(src_path, tmp_path / "out.tif", majority=5, mmu=12, block=512)
    with rasterio.open(tmp_path / "out.tif") as dst:
        written = dst.read(1)
        assert dst.nodata is None
        with pytest.raises(ValueError):
            dst.colormap(1)  # the source has no colour table: none is made up
    assert np.array_equal(written, regularize(classes, majority=5, mmu=12, nodata=None))
    assert result.valid_pixels == 1830 * 1830
    assert small_regions(written, 12) == 0
    assert result.summary().startswith("majority 5x5 changed ")


def test_regularize_file_errors(landcover, tmp_path):
    _, src = landcover
    out = tmp_path / "out.tif"
    with pytest.raises(RegularizeError, match="one uint8 band"):
        regularize_file(LANDCOVER, out, majority=3)  # int16
    with pytest.raises(RegularizeError, match="odd"):
        regularize_file(src, out, majority=4)
    with pytest.raises(RegularizeError, match="minimum mapping unit"):
        regularize_file(src, out, mmu=0)
    with pytest.raises(RegularizeError, match="block"):
        regularize_file(src, out, majority=3, block=0)
    with pytest.raises(RegularizeError, match="new file"):
        regularize_file(src, src, majority=3)
    assert list(tmp_path.iterdir()) == []
