"""Tests of landclass_ui.imagery: opening Sentinel-2 .SAFE folders, raster files and stacks of files.

Expected values are never taken from our own code: they are read with rasterio (GDAL) directly and converted by
hand (Sentinel-2 L2A baseline 04.00: reflectance = (DN - 1000) / 10000), or they are built into small synthetic
rasters written into ``tmp_path``.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.windows import Window

from landclass_ui.errors import CRSError, ImageError, NoOverlapError
from landclass_ui.imagery import S2_DEFAULT_BANDS, ImageStack, open_image
from landclass_ui.sample import sample_paths
from landclass_ui.sensors import s2_offset

DATA = Path(__file__).parent / "data"
L5_DIR = DATA / "l5_amazon"
L5_FILES = [L5_DIR / f"LT52240631988227CUB02_B{i}.TIF" for i in range(1, 8)]
AMAZON_S2 = DATA / "s2_amazon" / "sen2_L2A_12band.tif"

SAFE_NAME = "S2A_MSIL2A_20221116T105321_N0400_R051_T31TCJ_20221116T170958.SAFE"
SAMPLE_BANDS = ["B02", "B03", "B04", "B8A"]
# Tight enough to tell apart two reflectances one DN apart (1e-4), loose enough for float32 rounding.
ATOL = 1e-6


def one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert msg and "\n" not in msg, repr(msg)
    return msg


# ---------------------------------------------------------------------------------------------------------
# Bundled Sentinel-2 sample (real data)


@pytest.fixture(scope="module")
def sample_safe() -> Path:
    safe = Path(sample_paths().safe)
    assert safe.name == SAFE_NAME
    return safe


@pytest.fixture(scope="module")
def sample_jp2(sample_safe) -> dict[str, Path]:
    """Band name -> the R60m jp2 file, found by globbing (not with the package's own lookup)."""
    files = {}
    for band in SAMPLE_BANDS:
        (path,) = sample_safe.glob(f"GRANULE/*/IMG_DATA/R60m/*_{band}_60m.jp2")
        files[band] = path
    return files


@pytest.fixture(scope="module")
def sample_dn(sample_jp2) -> dict[str, np.ndarray]:
    """Raw digital numbers as GDAL reads them."""
    out = {}
    for band, path in sample_jp2.items():
        with rasterio.open(path) as src:
            out[band] = src.read(1)
    return out


def expected_reflectance(dn: np.ndarray, offset: float = -1000.0) -> np.ndarray:
    ref = (dn.astype(np.float64) + offset) / 10000.0
    return np.where(dn == 0, np.nan, ref)


@pytest.fixture(scope="module")
def sample_stack(sample_safe):
    return open_image(sample_safe)


@pytest.fixture(scope="module")
def sample_full(sample_stack) -> np.ndarray:
    return sample_stack.read()


def link_safe(sample_jp2, root: Path, safe_name: str) -> Path:
    """A copy of the sample .SAFE tree under ``root/safe_name`` whose jp2 files are symlinks to the originals."""
    safe = root / safe_name
    for path in sample_jp2.values():
        rel = path.relative_to(path.parents[4])  # GRANULE/<granule>/IMG_DATA/R60m/<file>
        target = safe / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(path, target)
    return safe


def test_sample_band_names_in_order(sample_stack):
    assert sample_stack.band_names == SAMPLE_BANDS


def test_sample_grid(sample_stack):
    grid = sample_stack.grid
    assert (grid.width, grid.height) == (1830, 1830)
    assert grid.shape == (1830, 1830)
    assert grid.res == (60.0, 60.0)
    assert grid.crs == CRS.from_epsg(32631)
    assert sample_stack.crs == CRS.from_epsg(32631)
    assert grid.bounds == pytest.approx((300000.0, 4790220.0, 409800.0, 4900020.0), abs=1e-6)


def test_sample_reflectance_equals_gdal_dn_full_image(sample_full, sample_dn):
    assert sample_full.dtype == np.float32
    assert sample_full.shape == (4, 1830, 1830)
    for i, band in enumerate(SAMPLE_BANDS):
        np.testing.assert_allclose(
            sample_full[i], expected_reflectance(sample_dn[band]), rtol=0, atol=ATOL, err_msg=band
        )
    # Sanity of the physical range: the scene is not all nodata, and reflectance is mostly within 0..1.5.
    assert np.isfinite(sample_full).mean() > 0.99
    assert np.nanmedian(sample_full) == pytest.approx(np.median((sample_dn["B04"] - 1000.0) / 10000.0), abs=0.2)


@pytest.mark.parametrize(
    "window",
    [
        Window(0, 0, 1, 1),
        Window(1829, 1829, 1, 1),
        Window(917, 503, 64, 17),
        Window(1800, 0, 30, 200),
        Window(0, 1700, 512, 130),
    ],
)
def test_sample_windowed_reflectance_matches_gdal(sample_stack, sample_jp2, window):
    got = sample_stack.read(window)
    assert got.shape == (4, window.height, window.width)
    for i, band in enumerate(SAMPLE_BANDS):
        with rasterio.open(sample_jp2[band]) as src:
            dn = src.read(1, window=window)
        np.testing.assert_allclose(got[i], expected_reflectance(dn), rtol=0, atol=ATOL)


def test_sample_individual_pixels_by_hand(sample_stack, sample_jp2):
    # A handful of single pixels, addressed by map coordinates and checked one by one.
    rng = np.random.default_rng(0)
    xs = rng.uniform(300000, 409800, 12)
    ys = rng.uniform(4790220, 4900020, 12)
    with sample_stack.reader() as read:
        for x, y in zip(xs, ys):
            col, row = int((x - 300000) // 60), int((4900020 - y) // 60)
            got = read(Window(col, row, 1, 1))[:, 0, 0]
            for i, band in enumerate(SAMPLE_BANDS):
                with rasterio.open(sample_jp2[band]) as src:
                    (dn,) = next(src.sample([(x, y)]))
                assert got[i] == pytest.approx((int(dn) - 1000) / 10000, abs=ATOL)


def test_sample_offset_found_in_product_name(sample_stack, sample_safe):
    offset, how = s2_offset(sample_safe)
    assert offset == -1000.0
    assert "product name" in how
    text = " ".join(sample_stack.messages)
    assert "product name" in text and "-1000" in text


def test_safe_without_baseline_in_name_uses_sensing_date(tmp_path, sample_jp2, sample_dn, sample_stack):
    safe = link_safe(sample_jp2, tmp_path, "SENTINEL.SAFE")
    offset, how = s2_offset(safe)
    assert offset == -1000.0
    assert "2022-11-16" in how
    stack = open_image(safe)
    assert stack.band_names == SAMPLE_BANDS
    assert stack.grid.same_as(sample_stack.grid)
    assert "2022-11-16" in " ".join(stack.messages)
    window = Window(300, 1200, 400, 250)
    got = stack.read(window)
    for i, band in enumerate(SAMPLE_BANDS):
        dn = sample_dn[band][1200:1450, 300:700]
        np.testing.assert_allclose(got[i], expected_reflectance(dn), rtol=0, atol=ATOL)


MTD_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">
  <n1:General_Info>
    <Product_Info>
      <PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>
      <Product_Image_Characteristics>
        <QUANTIFICATION_VALUES_LIST>
          <BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>
        </QUANTIFICATION_VALUES_LIST>
        {offsets}
      </Product_Image_Characteristics>
    </Product_Info>
  </n1:General_Info>
</n1:Level-2A_User_Product>
"""


def write_mtd(safe: Path, baseline: str, boa_offset: int | None = None) -> None:
    offsets = ""
    if boa_offset is not None:
        offsets = "<BOA_ADD_OFFSET_VALUES_LIST>" + "".join(
            f'<BOA_ADD_OFFSET band_id="{i}">{boa_offset}</BOA_ADD_OFFSET>' for i in range(13)
        ) + "</BOA_ADD_OFFSET_VALUES_LIST>"
    (safe / "MTD_MSIL2A.xml").write_text(MTD_TEMPLATE.format(baseline=baseline, offsets=offsets))


def test_mtd_processing_baseline_0214_overrides_name_and_date(tmp_path, sample_jp2, sample_dn):
    # The folder name says N0400 and the date is after 2022-01-25, but the metadata file has the last word.
    safe = link_safe(sample_jp2, tmp_path, SAFE_NAME)
    write_mtd(safe, "02.14")
    offset, how = s2_offset(safe)
    assert offset == 0.0
    assert "MTD_MSIL2A.xml" in how
    stack = open_image(safe, bands=["B04"])
    window = Window(100, 100, 300, 300)
    got = stack.read(window)[0]
    dn = sample_dn["B04"][100:400, 100:400]
    np.testing.assert_allclose(got, expected_reflectance(dn, offset=0.0), rtol=0, atol=ATOL)
    assert "MTD_MSIL2A.xml" in " ".join(stack.messages)


def test_mtd_boa_add_offset_is_used(tmp_path, sample_jp2, sample_dn):
    # An offset value no rule would guess, so the only way to get it is to read it from the XML.
    safe = link_safe(sample_jp2, tmp_path, "SENTINEL.SAFE")
    write_mtd(safe, "04.00", boa_offset=-500)
    offset, how = s2_offset(safe)
    assert offset == -500.0
    assert "BOA_ADD_OFFSET" in how
    stack = open_image(safe, bands=["B8A"])
    got = stack.read(Window(0, 0, 200, 200))[0]
    dn = sample_dn["B8A"][:200, :200]
    np.testing.assert_allclose(got, expected_reflectance(dn, offset=-500.0), rtol=0, atol=ATOL)


# ---------------------------------------------------------------------------------------------------------
# Band selection


def test_band_selection_keeps_requested_order(sample_safe, sample_dn):
    stack = open_image(sample_safe, bands=["B8A", "B04"])
    assert stack.band_names == ["B8A", "B04"]
    got = stack.read(Window(1000, 1000, 50, 60))
    np.testing.assert_allclose(got[0], expected_reflectance(sample_dn["B8A"][1000:1060, 1000:1050]), atol=ATOL, rtol=0)
    np.testing.assert_allclose(got[1], expected_reflectance(sample_dn["B04"][1000:1060, 1000:1050]), atol=ATOL, rtol=0)


def test_band_selection_normalises_case_and_short_names(sample_safe):
    stack = open_image(sample_safe, bands=["b4", "b8a", " B2 "])
    assert stack.band_names == ["B04", "B8A", "B02"]


def test_unknown_band_lists_available_bands(sample_safe):
    with pytest.raises(ImageError) as exc:
        open_image(sample_safe, bands=["B04", "B11"])
    msg = one_line(exc)
    assert "B11" in msg
    for band in SAMPLE_BANDS:
        assert band in msg


def test_unknown_band_in_file_stack_lists_available_bands():
    with pytest.raises(ImageError) as exc:
        open_image(L5_FILES[:3], bands=["B1", "B9"])
    msg = one_line(exc)
    assert "B9" in msg and "B1" in msg and "B2" in msg and "B3" in msg


def test_band_selection_on_file_stack_is_case_insensitive():
    stack = open_image(L5_FILES, bands=["b4", "B3"])
    assert stack.band_names == ["B4", "B3"]
    with rasterio.open(L5_FILES[3]) as src:
        b4 = src.read(1).astype(np.float32)
    np.testing.assert_array_equal(stack.read()[0], b4)


# ---------------------------------------------------------------------------------------------------------
# Synthetic Sentinel-2 .SAFE with the three resolutions

SYN_ORIGIN = (300000.0, 4900020.0)
SYN_EXTENT = 120  # metres: 12 px at 10 m, 6 px at 20 m, 2 px at 60 m
SYN_BANDS = {
    10: ["B02", "B03", "B04", "B08"],
    20: ["B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B11", "B12"],
    60: ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B09", "B11", "B12"],
}
B08_DN = 3000  # B08 is constant: any resampling of it gives (3000 - 1000) / 10000 = 0.2
B11_RAMP = (2000, 100)  # B11 at 20 m: DN = 2000 + 100 * column


def syn_dn(band: str, res: int) -> np.ndarray:
    """Distinct, known DN for every (band, resolution)."""
    n = SYN_EXTENT // res
    rows, cols = np.mgrid[0:n, 0:n]
    if band == "B08":
        return np.full((n, n), B08_DN, np.uint16)
    if band == "B11":
        return (B11_RAMP[0] + B11_RAMP[1] * cols).astype(np.uint16)
    base = 1000 + 37 * int(band[1:3].replace("A", "")) + {10: 1, 20: 2, 60: 3}[res] * 1000
    dn = (base + 3 * rows + 5 * cols).astype(np.uint16)
    if band == "B05" and res == 20:
        dn[2, 3] = 0  # DN 0 is nodata in Sentinel-2
    return dn


def write_jp2(path: Path, data: np.ndarray, res: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path, "w", driver="JP2OpenJPEG", width=data.shape[1], height=data.shape[0], count=1, dtype="uint16",
        crs="EPSG:32631", transform=from_origin(*SYN_ORIGIN, res, res), QUALITY=100, REVERSIBLE="YES",
    ) as dst:
        dst.write(data, 1)


@pytest.fixture(scope="module")
def syn_safe(tmp_path_factory) -> Path:
    safe = tmp_path_factory.mktemp("syn") / "S2B_MSIL2A_20221116T105321_N0400_R051_T31TCJ_20221116T170958.SAFE"
    img = safe / "GRANULE" / "L2A_T31TCJ_A038658_20221116T105603" / "IMG_DATA"
    for res, bands in SYN_BANDS.items():
        for band in bands:
            write_jp2(img / f"R{res}m" / f"T31TCJ_20221116T105321_{band}_{res}m.jp2", syn_dn(band, res), res)
    # Noise that must be ignored: a true-colour image and a scene classification layer.
    b02 = img / "R20m" / "T31TCJ_20221116T105321_B02_20m.jp2"
    shutil.copy(b02, img / "R20m" / "T31TCJ_20221116T105321_TCI_20m.jp2")
    shutil.copy(b02, img / "R20m" / "T31TCJ_20221116T105321_SCL_20m.jp2")
    return safe


def syn_expected(band: str, res: int) -> np.ndarray:
    return expected_reflectance(syn_dn(band, res))


def test_syn_default_is_20m_with_default_bands(syn_safe):
    stack = open_image(syn_safe)
    assert stack.grid.res == (20.0, 20.0)
    assert stack.grid.shape == (6, 6)
    # The ten default bands; B01/B09 (60 m only), TCI and SCL are not among them.
    assert stack.band_names == list(S2_DEFAULT_BANDS)
    data = stack.read()
    for i, band in enumerate(stack.band_names):
        if band == "B08":
            continue
        np.testing.assert_allclose(data[i], syn_expected(band, 20), rtol=0, atol=ATOL, err_msg=band)
    # B08 only exists at 10 m: resampled to 20 m, and the user is told.
    np.testing.assert_allclose(data[stack.band_names.index("B08")], 0.2, rtol=0, atol=ATOL)
    assert any("B08" in m and "10 m" in m and "20 m" in m for m in stack.messages)


def test_syn_dn_zero_is_nan(syn_safe):
    stack = open_image(syn_safe, bands=["B05"])
    data = stack.read()[0]
    assert np.isnan(data[2, 3])
    assert np.isnan(data).sum() == 1


def test_syn_10m_bands_pick_10m(syn_safe):
    stack = open_image(syn_safe, bands=["B02", "B03", "B04", "B08"])
    assert stack.grid.res == (10.0, 10.0)
    assert stack.grid.shape == (12, 12)
    assert stack.grid.bounds == pytest.approx((300000.0, 4899900.0, 300120.0, 4900020.0))
    data = stack.read()
    for i, band in enumerate(["B02", "B03", "B04", "B08"]):
        np.testing.assert_allclose(data[i], syn_expected(band, 10), rtol=0, atol=ATOL, err_msg=band)
    assert not any("resampled" in m for m in stack.messages)


def test_syn_b08_with_b11_is_10m_with_b11_resampled(syn_safe):
    stack = open_image(syn_safe, bands=["B08", "B11"])
    assert stack.band_names == ["B08", "B11"]
    assert stack.grid.res == (10.0, 10.0)
    assert any("B11" in m and "20 m" in m and "10 m" in m for m in stack.messages)
    data = stack.read()
    np.testing.assert_allclose(data[0], syn_expected("B08", 10), rtol=0, atol=ATOL)
    # Bilinear interpolation of a linear ramp is exact between the 20 m pixel centres: the 10 m pixel centre at
    # x = 10 c + 5 lies on the ramp DN(x) = 2000 + 100 * (x - 10) / 20.
    b11 = data[1]
    assert np.isfinite(b11).all()
    for c in range(1, 11):
        dn = B11_RAMP[0] + B11_RAMP[1] * ((10 * c + 5) - 10) / 20
        np.testing.assert_allclose(b11[:, c], (dn - 1000) / 10000, rtol=0, atol=1e-5, err_msg=f"column {c}")


def test_syn_resolution_60_forces_60m(syn_safe):
    stack = open_image(syn_safe, bands=["B02", "B04", "B11"], resolution=60)
    assert stack.grid.res == (60.0, 60.0)
    assert stack.grid.shape == (2, 2)
    data = stack.read()
    for i, band in enumerate(["B02", "B04", "B11"]):
        np.testing.assert_allclose(data[i], syn_expected(band, 60), rtol=0, atol=ATOL, err_msg=band)


def test_syn_bad_resolution_is_an_error(syn_safe):
    with pytest.raises(ImageError) as exc:
        open_image(syn_safe, resolution=30)
    assert "10, 20 or 60" in one_line(exc)


def test_safe_without_band_files_is_an_error(tmp_path):
    safe = tmp_path / "EMPTY.SAFE"
    (safe / "GRANULE" / "L2A_X" / "IMG_DATA").mkdir(parents=True)
    with pytest.raises(ImageError) as exc:
        open_image(safe)
    assert "GRANULE" in one_line(exc)


@pytest.mark.parametrize("date, offset", [("20220125", -1000.0), ("20220124", 0.0), ("20190701", 0.0)])
def test_sensing_date_rule_boundary(tmp_path, date, offset):
    safe = tmp_path / "SENTINEL.SAFE"
    write_jp2(safe / "GRANULE" / "G" / "IMG_DATA" / "R60m" / f"T31TCJ_{date}T105321_B04_60m.jp2",
              np.full((2, 2), 1500, np.uint16), 60)
    got_offset, how = s2_offset(safe)
    assert got_offset == offset
    value = open_image(safe).read()[0, 0, 0]
    assert value == pytest.approx((1500 + offset) / 10000, abs=ATOL)


@pytest.mark.parametrize("baseline, offset", [("N0211", 0.0), ("N0400", -1000.0), ("N0509", -1000.0)])
def test_baseline_in_product_name(tmp_path, baseline, offset):
    # Sensing date before 2022-01-25: the name's baseline must win over the date rule.
    safe = tmp_path / f"S2A_MSIL2A_20211116T105321_{baseline}_R051_T31TCJ_20211116T170958.SAFE"
    write_jp2(safe / "GRANULE" / "G" / "IMG_DATA" / "R60m" / "T31TCJ_20211116T105321_B04_60m.jp2",
              np.full((2, 2), 1500, np.uint16), 60)
    got_offset, how = s2_offset(safe)
    assert got_offset == offset
    assert "product name" in how


# ---------------------------------------------------------------------------------------------------------
# Stacks of single-band files (Landsat 5, real data)


@pytest.fixture(scope="module")
def l5_dn() -> list[np.ndarray]:
    out = []
    for path in L5_FILES:
        with rasterio.open(path) as src:
            out.append(src.read(1))
    return out


@pytest.fixture(scope="module")
def l5_profile() -> dict:
    with rasterio.open(L5_FILES[0]) as src:
        return dict(src.profile)


def test_landsat_stack_names_grid_and_values(l5_dn):
    stack = open_image([str(p) for p in L5_FILES])
    assert stack.band_names == [f"B{i}" for i in range(1, 8)]
    assert stack.crs == CRS.from_epsg(32622)
    assert stack.grid.shape == (310, 287)
    assert stack.grid.res == (30.0, 30.0)
    data = stack.read()
    assert data.dtype == np.float32 and data.shape == (7, 310, 287)
    for i in range(7):
        np.testing.assert_array_equal(data[i], l5_dn[i].astype(np.float32))
    assert not any("resampled" in m for m in stack.messages)


def test_landsat_stack_keeps_given_order(l5_dn):
    order = [4, 3, 2]  # near-infrared, red, green
    stack = open_image([L5_FILES[i - 1] for i in order])
    assert stack.band_names == ["B4", "B3", "B2"]
    data = stack.read()
    for k, i in enumerate(order):
        np.testing.assert_array_equal(data[k], l5_dn[i - 1].astype(np.float32))


def test_landsat_nodata_255_is_nan(tmp_path, l5_dn, l5_profile):
    dn = l5_dn[0].copy()
    holes = np.zeros(dn.shape, bool)
    holes[10:20, 30:45] = True
    holes[300:, :5] = True
    dn[holes] = 255
    path = tmp_path / "LT52240631988227CUB02_B1.TIF"
    with rasterio.open(path, "w", **l5_profile) as dst:
        dst.write(dn, 1)
    stack = open_image([path, L5_FILES[1]])
    data = stack.read()
    assert np.array_equal(np.isnan(data[0]), holes)
    np.testing.assert_array_equal(data[0][~holes], dn[~holes].astype(np.float32))
    np.testing.assert_array_equal(data[1], l5_dn[1].astype(np.float32))


def test_file_on_shifted_grid_is_resampled_and_nan_outside(tmp_path, l5_dn, l5_profile):
    # B4's first 200 x 200 pixels written at a grid shifted by (50 rows, 100 columns) of 30 m: the pixel centres
    # coincide, so bilinear resampling must give the DN back exactly; beyond the copy it is NaN.
    left, top = l5_profile["transform"].c, l5_profile["transform"].f
    crop = l5_dn[3][:200, :200]
    profile = dict(l5_profile, width=200, height=200, transform=from_origin(left + 100 * 30, top - 50 * 30, 30, 30))
    path = tmp_path / "shifted_B4.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(crop, 1)
    stack = open_image([L5_FILES[0], path])
    assert stack.band_names == ["B1", "B4"]
    assert any("shifted_B4.tif" in m and "resampled" in m for m in stack.messages)
    data = stack.read()
    np.testing.assert_array_equal(data[0], l5_dn[0].astype(np.float32))
    expected = np.full((310, 287), np.nan, np.float32)
    expected[50:250, 100:287] = crop[:, :187]
    np.testing.assert_array_equal(data[1], expected)


def test_file_at_60m_is_resampled_onto_30m_grid(tmp_path, l5_dn, l5_profile):
    # B4 aggregated to 60 m (2 x 2 means), covering only the top-left part of the 30 m grid.
    b4 = l5_dn[3][:200, :200].astype(np.float32)
    coarse = b4.reshape(100, 2, 100, 2).mean(axis=(1, 3)).astype(np.float32)
    left, top = l5_profile["transform"].c, l5_profile["transform"].f
    path = tmp_path / "B4_60m.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=100, height=100, count=1, dtype="float32", crs="EPSG:32622",
        transform=from_origin(left, top, 60, 60), nodata=-9999,
    ) as dst:
        dst.write(coarse, 1)
    stack = open_image([L5_FILES[0], path])
    assert stack.grid.res == (30.0, 30.0) and stack.grid.shape == (310, 287)
    assert any("B4_60m.tif" in m and "resampled" in m for m in stack.messages)
    data = stack.read()[1]
    inside = data[:200, :200]
    assert np.isfinite(inside[1:-1, 1:-1]).all()
    assert coarse.min() - 1e-3 <= np.nanmin(inside) and np.nanmax(inside) <= coarse.max() + 1e-3
    # A 30 m pixel centre lies a quarter of a 60 m pixel from the nearest 60 m centre: bilinear gives
    # 9/16 of it plus 3/16 + 3/16 + 1/16 of its neighbours. Checked at an interior pixel by hand.
    r, c = 81, 121  # 30 m pixel; its centre is at 60 m pixel coordinates (40.75, 60.75)
    r0, c0 = 40, 60
    expected = (
        9 / 16 * coarse[r0, c0] + 3 / 16 * coarse[r0, c0 + 1] + 3 / 16 * coarse[r0 + 1, c0]
        + 1 / 16 * coarse[r0 + 1, c0 + 1]
    )
    assert data[r, c] == pytest.approx(expected, abs=1e-3)
    assert np.isnan(data[200:, :]).all() and np.isnan(data[:, 200:]).all()


def test_file_without_nodata_on_other_grid_is_nan_outside(tmp_path):
    # No declared nodata: the area the second file does not cover must still be NaN, not 0.
    profile = dict(driver="GTiff", width=10, height=10, count=1, dtype="float32", crs="EPSG:32631")
    first, second = tmp_path / "a.tif", tmp_path / "b.tif"
    with rasterio.open(first, "w", transform=from_origin(0, 100, 10, 10), **profile) as dst:
        dst.write(np.ones((1, 10, 10), np.float32))
    with rasterio.open(second, "w", transform=from_origin(50, 100, 10, 10), **profile) as dst:
        dst.write(np.full((1, 10, 10), 5.0, np.float32))
    data = open_image([first, second]).read()
    np.testing.assert_array_equal(data[0], 1.0)
    np.testing.assert_array_equal(data[1][:, 5:], 5.0)
    assert np.isnan(data[1][:, :5]).all()


def test_disjoint_file_is_no_overlap_error(tmp_path, l5_profile):
    path = tmp_path / "far_away.tif"
    profile = dict(l5_profile, width=20, height=20, transform=from_origin(200000, 5000000, 30, 30))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.ones((1, 20, 20), np.uint8))
    with pytest.raises(NoOverlapError) as exc:
        open_image([L5_FILES[0], path])
    assert "far_away.tif" in one_line(exc)


def test_disjoint_file_in_other_crs_is_no_overlap_error(tmp_path):
    path = tmp_path / "europe.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=10, height=10, count=1, dtype="float32", crs="EPSG:4326",
        transform=from_origin(2.0, 48.0, 0.01, 0.01),
    ) as dst:
        dst.write(np.ones((1, 10, 10), np.float32))
    with pytest.raises(NoOverlapError):
        open_image([L5_FILES[0], path])


def test_duplicate_names_are_made_unique():
    stack = open_image([L5_FILES[0], L5_FILES[0]])
    assert len(set(stack.band_names)) == 2
    assert stack.band_names[0] == "B1"


# ---------------------------------------------------------------------------------------------------------
# Amazon Sentinel-2 12-band file in a geographic CRS (real data)


def test_amazon_geographic_multiband_file():
    with rasterio.open(AMAZON_S2) as src:
        expected = src.read(masked=True).filled(np.nan).astype(np.float32)
        descriptions = list(src.descriptions)
        crs = src.crs
    assert all(descriptions) and len(descriptions) == 12
    stack = open_image(AMAZON_S2)
    assert stack.band_names == descriptions
    assert stack.crs.is_geographic and stack.crs == crs
    assert stack.grid.shape == (237, 247)
    data = stack.read()
    np.testing.assert_array_equal(data, expected)
    assert np.isfinite(data).any()


def test_amazon_band_selection_by_description():
    stack = open_image(AMAZON_S2, bands=["B8A", "B2"])
    assert stack.band_names == ["B8A", "B2"]
    with rasterio.open(AMAZON_S2) as src:
        idx = {d: i + 1 for i, d in enumerate(src.descriptions)}
        expected = np.stack([src.read(idx["B8A"]), src.read(idx["B2"])]).astype(np.float32)
    np.testing.assert_array_equal(stack.read(), expected)


# ---------------------------------------------------------------------------------------------------------
# Errors


def test_crs_less_geotiff_is_crs_error(tmp_path):
    path = tmp_path / "nocrs.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8", transform=from_origin(0, 4, 1, 1)
    ) as dst:
        dst.write(np.ones((1, 4, 4), np.uint8))
    with pytest.raises(CRSError) as exc:
        open_image(path)
    msg = one_line(exc)
    assert "nocrs.tif" in msg
    assert "coordinate reference system" in msg and "gdal_edit" in msg


def test_missing_path_is_image_error(tmp_path):
    path = tmp_path / "does_not_exist.tif"
    with pytest.raises(ImageError) as exc:
        open_image(path)
    msg = one_line(exc)
    assert "does_not_exist.tif" in msg and "not found" in msg and "check" in msg


def test_missing_path_in_a_list_is_image_error(tmp_path):
    with pytest.raises(ImageError) as exc:
        open_image([L5_FILES[0], tmp_path / "missing_B2.TIF"])
    assert "missing_B2.TIF" in one_line(exc)


def test_corrupt_file_is_image_error(tmp_path):
    path = tmp_path / "corrupt.tif"
    path.write_bytes(np.random.default_rng(1).bytes(4096))
    with pytest.raises(ImageError) as exc:
        open_image(path)
    msg = one_line(exc)
    assert "corrupt.tif" in msg and "GeoTIFF" in msg


def test_no_paths_is_image_error():
    with pytest.raises(ImageError):
        open_image([])


# ---------------------------------------------------------------------------------------------------------
# Reading windows and xarray


def test_reader_windows_equal_full_read_sliced():
    stack = open_image(L5_FILES)
    full = stack.read()
    windows = list(stack.grid.windows(size=100))
    assert len(windows) == 4 * 3  # 310 rows -> 4 strips, 287 columns -> 3
    covered = np.zeros(stack.grid.shape, int)
    with stack.reader() as read:
        for w in windows:
            part = read(w)
            r, c, h, wd = int(w.row_off), int(w.col_off), int(w.height), int(w.width)
            assert part.shape == (7, h, wd)
            np.testing.assert_array_equal(part, full[:, r:r + h, c:c + wd])
            covered[r:r + h, c:c + wd] += 1
    assert (covered == 1).all()


def test_reader_on_resampled_stack_equals_full_read(tmp_path, l5_profile):
    # Windows through the warped (resampled) path too.
    coarse = np.arange(100 * 100, dtype=np.float32).reshape(100, 100)
    left, top = l5_profile["transform"].c, l5_profile["transform"].f
    path = tmp_path / "ramp_60m.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=100, height=100, count=1, dtype="float32", crs="EPSG:32622",
        transform=from_origin(left + 15, top - 15, 60, 60), nodata=-1,
    ) as dst:
        dst.write(coarse, 1)
    stack = open_image([L5_FILES[2], path])
    full = stack.read()
    with stack.reader() as read:
        for w in [Window(0, 0, 50, 50), Window(120, 130, 67, 80), Window(250, 280, 37, 30)]:
            r, c = int(w.row_off), int(w.col_off)
            np.testing.assert_array_equal(read(w), full[:, r:r + int(w.height), c:c + int(w.width)])


def test_to_xarray(sample_stack, sample_dn):
    window = Window(10, 20, 30, 40)
    da = sample_stack.to_xarray(window)
    assert da.dims == ("band", "y", "x")
    assert list(da.coords["band"].values) == SAMPLE_BANDS
    assert da.shape == (4, 40, 30)
    assert da.rio.crs == CRS.from_epsg(32631)
    # Pixel centres of the window: column 10 -> x = 300000 + 10.5 * 60; row 20 -> y = 4900020 - 20.5 * 60.
    assert float(da.x[0]) == pytest.approx(300000 + 10.5 * 60)
    assert float(da.y[0]) == pytest.approx(4900020 - 20.5 * 60)
    assert float(da.x[-1] - da.x[0]) == pytest.approx(29 * 60)
    assert float(da.y[-1] - da.y[0]) == pytest.approx(-39 * 60)
    np.testing.assert_allclose(
        da.sel(band="B03").values, expected_reflectance(sample_dn["B03"][20:60, 10:40]), rtol=0, atol=ATOL
    )


def test_to_xarray_full_geographic():
    da = open_image(AMAZON_S2).to_xarray()
    assert da.dims == ("band", "y", "x")
    assert da.shape == (12, 237, 247)
    assert da.rio.crs.is_geographic
    with rasterio.open(AMAZON_S2) as src:
        assert list(da.band.values) == list(src.descriptions)
        assert da.rio.bounds() == pytest.approx(tuple(src.bounds), abs=1e-9)


def test_to_xarray_is_lazy_chunked_and_equal_to_read(monkeypatch):
    """Nothing is read until computed; each chunk is one read of its window; computed bands come along."""
    import dask.array

    from landclass_ui.indices import add_derived

    stack = add_derived(open_image(sample_paths().safe), {"indices": ["ndvi"]})
    calls = []
    real_read = ImageStack.read
    monkeypatch.setattr(ImageStack, "read", lambda self, w=None, s=None: calls.append(w) or real_read(self, w, s))
    da = stack.to_xarray(Window(100, 200, 700, 450), chunks=300)
    assert calls == [] and isinstance(da.data, dask.array.Array)
    assert da.data.chunks == ((5,), (300, 150), (300, 300, 100))
    assert list(da.band.values) == ["B02", "B03", "B04", "B8A", "ndvi"]
    corner = da.isel(y=slice(290, 310), x=slice(590, 610)).values  # four chunks meet here
    assert len(calls) == 4
    np.testing.assert_array_equal(corner, real_read(stack, Window(690, 490, 20, 20)))
    assert da.rio.transform() == stack.grid.window_transform(Window(100, 200, 700, 450))


@pytest.mark.parametrize("scene", ["s2-safe-jp2", "l5-geotiff", "t11upt-jp2-with-scl"])
def test_a_locked_reader_shared_by_threads_reads_what_one_thread_reads(scene):
    """``reader(lock=...)``: four threads read overlapping windows (with margins, as the majority filter's) at once
    through one set of open files, and get exactly the arrays of a reader used by one thread: on JPEG 2000 bands
    (with a cloud mask, whose read is under the lock too) and on GeoTIFF band files."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    if scene == "s2-safe-jp2":
        stack = open_image(sample_paths().safe)
    elif scene == "l5-geotiff":
        stack = open_image(L5_FILES)
    else:
        folder = DATA / "s2_t11upt"
        stack = open_image(sorted(str(p) for p in folder.glob("*_B*.jp2")))
        assert stack.masks  # the SCL beside the bands
    g = stack.grid
    corners = [(max(r - 1, 0), max(c - 1, 0)) for r in range(0, g.height, 128) for c in range(0, g.width, 128)]
    windows = [Window(c, r, min(130, g.width - c), min(130, g.height - r)) for r, c in corners[:40]]
    with stack.reader() as read:
        expected = [read(w) for w in windows]
    with stack.reader(lock=threading.Lock()) as read, ThreadPoolExecutor(4) as pool:
        got = list(pool.map(read, windows))
    for e, o in zip(expected, got):
        np.testing.assert_array_equal(e, o)
    assert any(np.isfinite(e).any() for e in expected)


def test_expand_paths_takes_patterns_and_names_with_brackets(tmp_path):
    from landclass_ui.imagery import expand_paths

    l8 = Path(__file__).parent / "data" / "l8_t11upt"
    folder = tmp_path / "landsat [2020]"  # brackets in a real folder name are not a pattern
    folder.mkdir()
    for band in ("B5", "B3", "B4"):
        shutil.copy(l8 / f"LC08_L2SP_043024_20200802_20200914_02_T1_SR_{band}.tif", folder / f"SR_{band}.tif")
    literal = str(folder / "SR_B4.tif")
    assert expand_paths(literal) == [literal]
    assert expand_paths(str(l8 / "LC08_*_SR_B[45].tif")) == [
        str(l8 / f"LC08_L2SP_043024_20200802_20200914_02_T1_SR_{b}.tif") for b in ("B4", "B5")]
    with pytest.raises(ImageError, match="no file matches .*SR_B9\\*; check the folder and the pattern"):
        expand_paths(str(l8 / "SR_B9*"))
    stack = open_image(literal)
    assert stack.grid.width > 0 and len(stack.bands) == 1


def test_a_nodata_value_is_compared_in_the_bands_own_type():
    """The reader compares a uint16 band with its nodata in uint16 (not cast whole to float64); a nodata value the
    type cannot hold (negative, fractional, NaN) matches no pixel, as NumPy's float comparison says."""
    from landclass_ui.imagery import _equal_to

    data = np.array([[0, 1, 65535], [7, 0, 2]], np.uint16)
    for value in (0.0, 65535.0, 7, -9999.0, 1.5, 70000.0, float("nan")):
        with np.errstate(invalid="ignore"):
            expected = data.astype(np.float64) == value
        got = _equal_to(data, value)
        assert got.dtype == bool and got.shape == data.shape
        assert (got == expected).all(), value
    floats = np.array([1.5, np.nan, -9999.0], np.float32)
    assert _equal_to(floats, -9999.0).tolist() == [False, False, True]
    assert _equal_to(floats, 1.5).tolist() == [True, False, False]
