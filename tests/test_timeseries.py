"""Tests of landclass_ui.timeseries: acquisition dates, date-band names and linear temporal gap filling.

Real data: ``tests/data/s2_t33twl`` (see tests/data/SOURCE.md), five Sentinel-2 L2A dates of tile 33TWL at 120 m,
150 x 150 px, 2023-08-10/13/15/18/20 (day numbers 0, 3, 5, 8, 10). A value is masked where SCL is 0 no data,
1 saturated, 3 cloud shadow, 8/9 cloud medium/high probability or 10 thin cirrus (plain numpy here; the
project's cloud masks are another module's job), or any band is 0 (none in the crop).

Reflectance = DN / 10000: these earth-search COGs already have the baseline-04.00 offset applied
(``earthsearch:boa_offset_applied: true``; see test_crop_offset_already_applied). Linear interpolation commutes
with any affine scaling, so the expected values do not depend on that choice anyway.

Expected filled values are worked out by hand from the DN read with rasterio and written below, and the days
between the dates; never from the function's own output.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from landclass_ui.errors import ImageError
from landclass_ui.timeseries import acquisition_date, date_band_name, day_numbers, gap_fill, split_date_band_name

DATA = Path(__file__).parent / "data" / "s2_t33twl"
FOLDERS = ("S2B_33TWL_20230810_0_L2A", "S2B_33TWL_20230813_0_L2A", "S2A_33TWL_20230815_0_L2A",
           "S2A_33TWL_20230818_0_L2A", "S2B_33TWL_20230820_0_L2A")
DATES = (dt.date(2023, 8, 10), dt.date(2023, 8, 13), dt.date(2023, 8, 15), dt.date(2023, 8, 18),
         dt.date(2023, 8, 20))
BANDS = ("B02", "B03", "B04", "B08")
B04, B08 = BANDS.index("B04"), BANDS.index("B08")
INVALID_SCL = (0, 1, 3, 8, 9, 10)
ATOL = 1e-6  # float32 reflectance


@pytest.fixture(scope="module")
def series():
    """DN (T, 4, H, W) float64, SCL (T, H, W), mask (T, H, W) and reflectance (T, 4, H, W) float32 with NaN."""
    dn, scl = [], []
    for folder in FOLDERS:
        bands = []
        for band in BANDS:
            with rasterio.open(DATA / folder / f"{band}.tif") as src:
                bands.append(src.read(1).astype(np.float64))
        dn.append(bands)
        with rasterio.open(DATA / folder / "SCL.tif") as src:
            scl.append(src.read(1))
    dn, scl = np.array(dn), np.array(scl)
    masked = np.isin(scl, INVALID_SCL) | (dn == 0).any(axis=1)
    values = (dn / 10000.0).astype(np.float32)
    values[np.broadcast_to(masked[:, None], values.shape)] = np.nan
    return {"dn": dn, "scl": scl, "masked": masked, "values": values}


@pytest.fixture(scope="module")
def result(series):
    days = day_numbers(DATES)
    filled, was_filled = gap_fill(series["values"], days)
    return filled, was_filled


# ---------------------------------------------------------------------------------------------------------
# The test data


def test_crop_files():
    for folder, date in zip(FOLDERS, DATES):
        for band in (*BANDS, "SCL"):
            with rasterio.open(DATA / folder / f"{band}.tif") as src:
                assert src.driver == "GTiff"
                assert src.compression is not None and src.compression.value == "DEFLATE"
                assert src.dtypes[0] == ("uint8" if band == "SCL" else "uint16")
                assert src.crs.to_epsg() == 32633
                assert (src.width, src.height) == (150, 150)
                assert tuple(src.transform)[:6] == (120.0, 0.0, 550380.0, 0.0, -120.0, 5087400.0)
        item = json.loads((DATA / folder / f"{folder}.json").read_text())
        assert item["id"] == folder
        assert item["properties"]["datetime"].startswith(date.isoformat())
        assert item["properties"]["s2:processing_baseline"] == "05.09"


def test_crop_offset_already_applied(series):
    """The STAC items say offset -0.1 in raster:bands but also earthsearch:boa_offset_applied: true; the pixels
    side with the latter (a known earth-search inconsistency, Element84/earth-search#9): water (SCL 6) on the
    clearest date has median B08 DN 408, and 151 of its 177 pixels are below 1000, which (DN - 1000) / 10000
    would make negative reflectances (NIR of clear water is ~0.01-0.05 with DN / 10000)."""
    for folder in FOLDERS:
        item = json.loads((DATA / folder / f"{folder}.json").read_text())
        assert item["properties"]["earthsearch:boa_offset_applied"] is True
        assert item["assets"]["nir"]["raster:bands"][0]["offset"] == -0.1
    water = series["scl"][2] == 6
    assert water.sum() == 177
    assert np.median(series["dn"][2, B08][water]) == 408
    assert (series["dn"][2, B08][water] < 1000).sum() == 151


def test_crop_has_gaps_to_fill(series):
    """Per-date masked pixel counts (from the SCL histograms in tests/data/SOURCE.md)."""
    assert series["masked"].sum(axis=(1, 2)).tolist() == [11327, 1164, 59, 11356, 340]
    assert series["masked"].all(axis=0).sum() == 4


# ---------------------------------------------------------------------------------------------------------
# Acquisition dates and band names


@pytest.mark.parametrize("name, expected", [
    ("S2B_33TWL_20230810_0_L2A", dt.date(2023, 8, 10)),
    ("S2A_MSIL2A_20200804T183919_N0214_R070_T11UPT_20200804T230343.SAFE", dt.date(2020, 8, 4)),
    ("S2B_MSIL2A_20230810T094549_N0509_R079_T33TWL_20230811T130104.SAFE", dt.date(2023, 8, 10)),
    ("T11UPT_20200804T183919_B02_60m.jp2", dt.date(2020, 8, 4)),
    ("LC08_L2SP_043024_20200802_20200914_02_T1", dt.date(2020, 8, 2)),
    ("LC08_L2SP_043024_20200802_20200914_02_T1_SR_B4.TIF", dt.date(2020, 8, 2)),
    ("LT52240631988227CUB02", dt.date(1988, 8, 14)),  # 1988, day 227
    ("LT52240631988227CUB02_B3.TIF", dt.date(1988, 8, 14)),
    ("S2A_OPER_PRD_MSIL1C_PDMC_20160102T120000_R094_V20151231T101000_20151231T101000.SAFE", dt.date(2015, 12, 31)),
    ("ndvi_20230810.tif", dt.date(2023, 8, 10)),
    ("mosaic_2023-08-15.tif", dt.date(2023, 8, 15)),
])
def test_acquisition_date_names(name, expected):
    assert acquisition_date(name) == expected


def test_acquisition_date_crop_folders(tmp_path):
    for folder, date in zip(FOLDERS, DATES):
        assert acquisition_date(DATA / folder) == date
        assert acquisition_date(DATA / folder / "B04.tif") == date  # no date in the name: its folder's
        assert acquisition_date(DATA / folder / f"{folder}.json") == date
    # A folder with no date in its name but its STAC item: the item's properties.datetime.
    renamed = tmp_path / "second_image"
    renamed.mkdir()
    shutil.copy(DATA / FOLDERS[3] / f"{FOLDERS[3]}.json", renamed / "item.json")
    assert acquisition_date(renamed) == dt.date(2023, 8, 18)
    # The STAC item wins over a date in the folder name.
    mislabelled = tmp_path / "copy_20240101"
    mislabelled.mkdir()
    shutil.copy(DATA / FOLDERS[0] / f"{FOLDERS[0]}.json", mislabelled / "copy_20240101.json")
    assert acquisition_date(mislabelled) == dt.date(2023, 8, 10)


def test_acquisition_date_missing(tmp_path):
    (tmp_path / "image.tif").write_bytes(b"")
    with pytest.raises(ImageError, match="YYYYMMDD.*STAC.*by hand"):
        acquisition_date(tmp_path / "image.tif")
    with pytest.raises(ImageError, match="No acquisition date"):
        acquisition_date("scene_20231345.tif")  # eight digits, but no date
    bad = tmp_path / "folder"
    bad.mkdir()
    (bad / "folder.json").write_text("{not json")
    with pytest.raises(ImageError):
        acquisition_date(bad)


def test_date_band_name():
    assert date_band_name(dt.date(2023, 8, 10), "B04") == "20230810_B04"
    assert date_band_name(dt.datetime(2023, 8, 10, 9, 58), "ndvi") == "20230810_ndvi"
    assert date_band_name("2023-08-10", "B08") == "20230810_B08"
    assert date_band_name("20230810", "B08") == "20230810_B08"
    assert [date_band_name(d, "B04") for d in DATES] == ["20230810_B04", "20230813_B04", "20230815_B04",
                                                         "20230818_B04", "20230820_B04"]
    assert split_date_band_name("20230818_nd_B04_B08") == (dt.date(2023, 8, 18), "nd_B04_B08")
    assert split_date_band_name("B04") is None
    with pytest.raises(ValueError):
        date_band_name(dt.date(2023, 8, 10), "")
    with pytest.raises(ValueError):
        date_band_name("10/08/2023", "B04")


def test_day_numbers():
    assert day_numbers(DATES).tolist() == [0.0, 3.0, 5.0, 8.0, 10.0]
    assert day_numbers(DATES, origin=dt.date(2023, 1, 1)).tolist() == [221.0, 224.0, 226.0, 229.0, 231.0]
    noon = dt.datetime(2023, 8, 10, 12, tzinfo=dt.timezone.utc)
    assert day_numbers([dt.date(2023, 8, 10), noon]).tolist() == [0.0, 0.5]


# ---------------------------------------------------------------------------------------------------------
# Gap filling on the real crop: hand-computed pixels. (row, col) in the crop; DN per date in date order.


def _check_pixel(series, row, col, scl, dn_b04, dn_b08):
    """The test's premises: SCL and DN of the pixel as read when the test was written."""
    assert series["scl"][:, row, col].tolist() == scl
    assert series["dn"][:, B04, row, col].tolist() == dn_b04
    assert series["dn"][:, B08, row, col].tolist() == dn_b08


def test_fill_between_neighbours_cloud_shadow_on_0818(series, result):
    # 2023-08-18 cloud shadow (SCL 3), clear on 08-15 and 08-20: weight (18 - 15) / (20 - 15) = 0.6.
    row, col = 4, 27
    _check_pixel(series, row, col, [4, 4, 4, 3, 4], [1495, 1086, 1121, 310, 1024], [3672, 2867, 3062, 676, 3154])
    filled, was_filled = result
    assert filled[3, B04, row, col] == pytest.approx((1121 + (1024 - 1121) * 3 / 5) / 10000, abs=ATOL)  # 0.10628
    assert filled[3, B08, row, col] == pytest.approx((3062 + (3154 - 3062) * 3 / 5) / 10000, abs=ATOL)  # 0.31172
    for b in range(len(BANDS)):  # the same rule on every band, from the DN as read
        v15, v20 = series["dn"][2, b, row, col], series["dn"][4, b, row, col]
        assert filled[3, b, row, col] == pytest.approx((v15 + (v20 - v15) * (18 - 15) / (20 - 15)) / 10000,
                                                       abs=ATOL)
    assert was_filled[:, :, row, col].tolist() == [[False] * 4, [False] * 4, [False] * 4, [True] * 4, [False] * 4]
    # The valid dates are untouched.
    assert filled[[0, 1, 2, 4], B04, row, col].tolist() == pytest.approx([0.1495, 0.1086, 0.1121, 0.1024], abs=ATOL)


def test_fill_between_neighbours_cloud_shadow_on_0813(series, result):
    # 2023-08-13 cloud shadow, clear on 08-10 and 08-15: weight (13 - 10) / (15 - 10) = 0.6.
    row, col = 33, 122
    _check_pixel(series, row, col, [4, 3, 4, 4, 4], [693, 299, 347, 481, 366], [6547, 4831, 5045, 5809, 5319])
    filled, was_filled = result
    assert filled[1, B04, row, col] == pytest.approx((693 + (347 - 693) * 3 / 5) / 10000, abs=ATOL)  # 0.04854
    assert filled[1, B08, row, col] == pytest.approx((6547 + (5045 - 6547) * 3 / 5) / 10000, abs=ATOL)  # 0.56458
    assert was_filled[:, B04, row, col].tolist() == [False, True, False, False, False]


def test_fill_before_first_valid_date(series, result):
    # Cloud on 08-10 (SCL 8) and cirrus on 08-13 (SCL 10): both get the first valid value, 08-15's.
    row, col = 116, 31
    _check_pixel(series, row, col, [8, 10, 4, 4, 4], [1978, 399, 377, 477, 392], [4616, 4164, 4027, 4524, 3946])
    filled, was_filled = result
    assert filled[:2, B04, row, col].tolist() == pytest.approx([0.0377, 0.0377], abs=ATOL)
    assert filled[:2, B08, row, col].tolist() == pytest.approx([0.4027, 0.4027], abs=ATOL)
    assert was_filled[:, B08, row, col].tolist() == [True, True, False, False, False]


def test_fill_after_last_valid_date(series, result):
    row, col = 11, 60  # shadow on the last date only: 08-18's value
    _check_pixel(series, row, col, [4, 4, 4, 4, 3], [763, 261, 355, 344, 300], [4580, 2732, 3117, 2785, 2580])
    filled, was_filled = result
    assert filled[4, B04, row, col] == pytest.approx(0.0344, abs=ATOL)
    assert filled[4, B08, row, col] == pytest.approx(0.2785, abs=ATOL)
    assert was_filled[:, B04, row, col].tolist() == [False, False, False, False, True]

    row, col = 74, 122  # shadow on the last two dates: 08-15's value on both
    _check_pixel(series, row, col, [4, 4, 4, 3, 3], [1208, 233, 291, 349, 215], [2630, 2228, 2714, 1225, 770])
    assert filled[3:, B04, row, col].tolist() == pytest.approx([0.0291, 0.0291], abs=ATOL)
    assert filled[3:, B08, row, col].tolist() == pytest.approx([0.2714, 0.2714], abs=ATOL)


def test_fill_three_gaps_one_pixel(series, result):
    # Masked on 08-10, 08-13 (before the first valid date, 08-15) and 08-18 (between 08-15 and 08-20).
    row, col = 102, 25
    _check_pixel(series, row, col, [8, 10, 4, 3, 4], [768, 421, 450, 186, 472], [3588, 3254, 3640, 760, 3681])
    filled, was_filled = result
    expected_b04 = [450, 450, 450, 450 + (472 - 450) * 3 / 5, 472]
    expected_b08 = [3640, 3640, 3640, 3640 + (3681 - 3640) * 3 / 5, 3681]
    assert filled[:, B04, row, col].tolist() == pytest.approx([v / 10000 for v in expected_b04], abs=ATOL)
    assert filled[:, B08, row, col].tolist() == pytest.approx([v / 10000 for v in expected_b08], abs=ATOL)
    assert was_filled[:, B04, row, col].tolist() == [True, True, False, True, False]


def test_pixel_masked_on_every_date_stays_nan(series, result):
    # SCL 3 on all five dates (the DN look like vegetation: a doubtful shadow, but masked is masked).
    row, col = 124, 115
    _check_pixel(series, row, col, [3, 3, 3, 3, 3], [550, 407, 474, 675, 494], [5099, 3961, 4106, 4702, 4200])
    filled, was_filled = result
    assert np.isnan(filled[:, :, row, col]).all()
    assert not was_filled[:, :, row, col].any()


def test_filled_mask_is_masked_and_fillable(series, result):
    filled, was_filled = result
    masked = series["masked"]
    fillable = masked & ~masked.all(axis=0)
    for b in range(len(BANDS)):
        assert np.array_equal(was_filled[:, b], fillable)
    valid = ~np.isnan(series["values"])
    assert np.array_equal(filled[valid], series["values"][valid])  # valid values unchanged, bit for bit
    assert np.array_equal(np.isnan(filled), np.broadcast_to(masked.all(axis=0), filled.shape))
    assert filled.dtype == np.float32 and was_filled.dtype == bool
    # Share of filled pixels per date: every masked pixel but the 4 masked on all dates.
    counts = was_filled[:, 0].sum(axis=(1, 2))
    assert counts.tolist() == [11323, 1160, 55, 11352, 336]
    shares = counts / was_filled[0, 0].size
    print("\nfilled share per date: " + ", ".join(f"{d}: {s:.2%}" for d, s in zip(DATES, shares)))
    assert shares.round(4).tolist() == [0.5032, 0.0516, 0.0024, 0.5045, 0.0149]


def test_matches_np_interp_on_sample(series, result):
    """An independent reference: numpy.interp on each pixel's valid dates (it also copies the end values
    outside the valid range), on 400 random pixels that have at least one valid date."""
    filled, _ = result
    days = day_numbers(DATES)
    rows, cols = np.nonzero(~series["masked"].all(axis=0))
    pick = np.random.default_rng(20230810).choice(rows.size, 400, replace=False)
    for r, c in zip(rows[pick], cols[pick]):
        ok = ~series["masked"][:, r, c]
        for b in range(len(BANDS)):
            expected = np.interp(days, days[ok], series["dn"][ok, b, r, c] / 10000)
            np.testing.assert_allclose(filled[:, b, r, c], expected, atol=ATOL)


def test_any_trailing_shape(series, result):
    filled, was_filled = result
    values = series["values"]
    days = day_numbers(DATES)
    for b in range(len(BANDS)):  # (T, H, W) per band
        f, w = gap_fill(values[:, b], days)
        assert np.array_equal(f, filled[:, b], equal_nan=True) and np.array_equal(w, was_filled[:, b])
    f, w = gap_fill(values.reshape(len(DATES), -1), days)  # (T, n)
    assert np.array_equal(f, filled.reshape(len(DATES), -1), equal_nan=True)
    assert np.array_equal(w, was_filled.reshape(len(DATES), -1))


# ---------------------------------------------------------------------------------------------------------
# Synthetic cases

# Cases of the linear gap-filling tests of Jordi Inglada's OTB TemporalGapFilling module (linearGapfillingTest:
# mask with 1 = masked, pixel, dates, expected), as vendored in Sen2Agri-System; the all-masked case gives 0
# there and NaN here.
OTB_CASES = [
    ([0, 0, 0, 0, 0, 0, 0], [1, 1, 2, 3, 4, 1, 1], [0, 1, 2, 3, 4, 5, 6], [1, 1, 2, 3, 4, 1, 1]),
    ([1, 1, 1, 1, 1, 1, 1], [1, 1, 2, 3, 4, 1, 1], [0, 1, 2, 3, 4, 5, 6], [np.nan] * 7),
    ([0, 0, 0, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1], [0, 1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 1, 1]),
    ([1, 0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1], [0, 1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 1, 1]),
    ([1, 1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 1, 1, 1], [0, 1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 1, 1]),
    ([0, 0, 0, 0, 0, 1, 1], [1, 1, 1, 1, 1, 20, 0], [0, 1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 1, 1]),
    ([0, 0, 0, 1, 0, 0, 0], [1, 1, 1, 0, 4, 1, 1], [0, 1, 2, 2.5, 4, 5, 6], [1, 1, 1, 7 / 4, 4, 1, 1]),
    ([0, 0, 0, 1, 0, 0, 0], [1, 1, 1, 0, 4, 1, 1], [0, 1, 2, 3.7, 4, 5, 6], [1, 1, 1, 3 / 2 * 3.7 - 2, 4, 1, 1]),
    ([0, 0, 0, 1, 0, 0, 0], [1, 1, 1, 0, 4, 1, 1], [0, 1, 2.5, 3.7, 4, 5, 6], [1, 1, 1, 2 * 3.7 - 4, 4, 1, 1]),
]


@pytest.mark.parametrize("mask, pixel, dates, expected", OTB_CASES)
def test_otb_cases(mask, pixel, dates, expected):
    values = np.where(np.array(mask, bool), np.nan, np.array(pixel, np.float32)).astype(np.float32)
    filled, was_filled = gap_fill(values, dates)
    np.testing.assert_allclose(filled, np.array(expected, np.float64), atol=1e-6)
    assert was_filled.tolist() == [bool(m) and not np.isnan(e) for m, e in zip(mask, expected)]


def test_single_date():
    values = np.array([[[np.nan, 0.2], [0.3, np.nan]]], np.float32)  # (T=1, 2, 2)
    filled, was_filled = gap_fill(values, [0])
    assert np.array_equal(filled, values, equal_nan=True)
    assert not was_filled.any() and was_filled.shape == values.shape


def test_all_valid_and_input_untouched():
    rng = np.random.default_rng(0)
    values = rng.random((4, 3, 5, 6)).astype(np.float32)
    filled, was_filled = gap_fill(values, [0, 5, 10, 16])
    assert np.array_equal(filled, values) and filled is not values and not was_filled.any()
    gappy = values.copy()
    gappy[1, :, 2, 3] = np.nan
    before = gappy.copy()
    gap_fill(gappy, [0, 5, 10, 16])
    assert np.array_equal(gappy, before, equal_nan=True)


def test_float64_in_float32_out():
    filled, was_filled = gap_fill(np.array([1.0, np.nan, 2.0]), [0, 1, 4])
    assert filled.dtype == np.float32
    assert filled.tolist() == pytest.approx([1.0, 1.25, 2.0])
    assert was_filled.tolist() == [False, True, False]


def test_errors():
    with pytest.raises(TypeError, match="float32"):
        gap_fill(np.zeros((3, 2), np.uint16), [0, 1, 2])
    with pytest.raises(ValueError, match="shape"):
        gap_fill(np.zeros((3, 2), np.float32), [0, 1])
    with pytest.raises(ValueError):
        gap_fill(np.zeros((0, 2), np.float32), [])
    with pytest.raises(ValueError):
        gap_fill(np.float32(1.0), [0])
    with pytest.raises(ImageError, match="same date"):
        gap_fill(np.zeros((3, 2), np.float32), [0, 3, 3])
    with pytest.raises(ImageError, match="increasing"):
        gap_fill(np.zeros((3, 2), np.float32), [0, 5, 3])
    with pytest.raises(ImageError):
        gap_fill(np.zeros((2, 2), np.float32), [0, np.nan])
