"""Cloud and shadow masks (Sentinel-2 SCL, Landsat QA_PIXEL) on real scenes of three layouts: loose Sentinel-2
band files (T11UPT, 60 m, EPSG:32611), a folder per date as STAC downloads store them (33TWL, 120 m,
EPSG:32633), a sen2r multi-band file with its SCL at half the resolution (Barbellino, 10 m / 20 m, EPSG:32632),
and a ``.SAFE`` folder built from the T11UPT files. The masked pixels are counted against the SCL file's own
histogram. QA_PIXEL: no real QA_PIXEL file is in the data we have, so its bit decoding is checked on a
synthetic layer beside the real Landsat 8 band files (an edge case: the USGS example values)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from landclass_ui.cloudmask import find_mask, invalid_pixels, mask_kind
from landclass_ui.errors import ImageError, NoOverlapError
from landclass_ui.imagery import masked_share, open_image, read_safe
from landclass_ui.pipeline import open_recipe_images
from landclass_ui.recipe import CloudMaskRef, ImageRef, Recipe

DATA = Path(__file__).parent / "data"
T11 = DATA / "s2_t11upt"
T11_BANDS = [str(T11 / f"T11UPT_20200804T183919_{b}_60m.jp2") for b in ("B02", "B03", "B04", "B8A")]
T11_SCL = str(T11 / "T11UPT_20200804T183919_SCL_60m.jp2")
CLOUDY = DATA / "s2_t33twl" / "S2A_33TWL_20230818_0_L2A"  # 45.7 % cloud cover in the STAC item
CLOUDY_BANDS = [str(CLOUDY / f"{b}.tif") for b in ("B02", "B03", "B04", "B08")]
BARBELLINO = DATA / "s2_barbellino" / "S2A2A_20170703_022_Barbellino_BOA_10.tif"
L8 = DATA / "l8_t11upt"
L8_BANDS = [str(L8 / f"LC08_L2SP_043024_20200802_20200914_02_T1_SR_{b}.tif") for b in ("B2", "B3", "B4", "B5")]
MASKED = [0, 1, 3, 8, 9, 10]  # SCL classes masked by default (no data, saturated, shadow, cloud med/high, cirrus)


def scl_values(path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def histogram(values) -> dict[int, int]:
    return {int(k): int(v) for k, v in zip(*np.unique(values, return_counts=True))}


def nan_pixels(stack) -> np.ndarray:
    data = stack.read()
    assert (np.isnan(data).any(axis=0) == np.isnan(data).all(axis=0)).all()  # a masked pixel is masked in every band
    return np.isnan(data[0])


@pytest.mark.parametrize("scene", ["t11upt", "33twl"])
def test_scl_masked_pixels_are_the_files_cloud_classes(scene):
    bands, scl = (T11_BANDS, T11_SCL) if scene == "t11upt" else (CLOUDY_BANDS, str(CLOUDY / "SCL.tif"))
    stack = open_image(bands)
    assert [m.path for m in stack.masks] == [scl]  # found beside the band files
    values = scl_values(scl)
    hist = histogram(values)
    expected = sum(hist.get(c, 0) for c in MASKED)
    masked = nan_pixels(stack)
    assert masked.sum() == expected
    assert np.array_equal(masked, np.isin(values, MASKED))
    if scene == "33twl":  # the cloudy date: shadow 3861, cloud medium 2737, high 4273, cirrus 485
        assert expected == 3861 + 2737 + 4273 + 485
    share, per_class = masked_share(stack)
    assert share == pytest.approx(expected / values.size)
    assert per_class["cloud high probability"] == pytest.approx(hist.get(9, 0) / values.size)
    assert "cloud mask: SCL" in stack.messages[-1]


def test_snow_is_masked_only_when_asked():
    values = scl_values(CLOUDY / "SCL.tif")
    snow = int((values == 11).sum())
    assert snow == 11
    plain = nan_pixels(open_image(CLOUDY_BANDS)).sum()
    with_snow = nan_pixels(open_image(CLOUDY_BANDS, mask_snow=True)).sum()
    assert with_snow - plain == snow


def test_cloud_mask_off_keeps_every_pixel_and_scl_given_as_a_file_is_not_a_band():
    stack = open_image(CLOUDY_BANDS, cloud_mask=False)
    assert not stack.masks and not np.isnan(stack.read()).any()
    both = open_image([*CLOUDY_BANDS, str(CLOUDY / "SCL.tif")])
    assert both.band_names == ["B02", "B03", "B04", "B08"] and len(both.masks) == 1
    off = open_image([*CLOUDY_BANDS, str(CLOUDY / "SCL.tif")], cloud_mask=False)
    assert off.band_names == ["B02", "B03", "B04", "B08"] and "SCL.tif not used" in off.messages[-1]


def test_scl_at_half_the_resolution_masks_four_pixels_each():
    """sen2r's Barbellino crop: 10 m bands, SCL at 20 m (nearest neighbour onto the 10 m grid)."""
    stack = open_image(str(BARBELLINO))
    assert mask_kind(stack.masks[0].path) == "scl"
    values = scl_values(stack.masks[0].path)
    hist = histogram(values)
    assert hist.get(8, 0) + hist.get(9, 0) == 33  # SOURCE.md: {8: 30, 9: 3}
    assert nan_pixels(stack).sum() == 4 * 33


def test_safe_folder_finds_its_scl(tmp_path):
    granule = tmp_path / "S2B_MSIL2A_20200804T183919_N0214_R070_T11UPT_20200804T230343.SAFE" / "GRANULE" / "L2A_x"
    folder = granule / "IMG_DATA" / "R60m"
    folder.mkdir(parents=True)
    for f in [*T11_BANDS, T11_SCL]:
        shutil.copy(f, folder)
    safe = str(granule.parent.parent)
    assert find_mask(safe) == str(folder / Path(T11_SCL).name)
    stack = open_image(safe)
    assert stack.band_names == read_safe(safe).band_names  # SCL is not a band
    assert nan_pixels(stack).sum() == 39  # tests/data/SOURCE.md: 4 shadow + 9 medium + 26 high


def test_screen_resolution_reads_are_masked_too():
    stack = open_image(CLOUDY_BANDS)
    small = stack.read(out_shape=(50, 50))
    assert 0 < np.isnan(small[0]).mean() < 1
    assert np.isnan(small[0]).mean() == pytest.approx(masked_share(stack)[0], abs=0.05)


def test_qa_pixel_bits_beside_landsat_band_files(tmp_path):
    for f in L8_BANDS:
        shutil.copy(f, tmp_path)
    with rasterio.open(L8_BANDS[0]) as src:
        profile = src.profile
        shape = (src.height, src.width)
    # USGS Landsat 8-9 C2 QA_PIXEL examples: clear land 21824, water 21952, cloud 22280, shadow 23888,
    # fill 1, dilated cloud 21826, cirrus 54596, snow 30048 (bit 5)
    words = np.array([21824, 21952, 22280, 23888, 1, 21826, 54596, 30048], np.uint16)
    qa = np.resize(words, shape).astype(np.uint16)
    qa_path = tmp_path / "LC08_L2SP_043024_20200802_20200914_02_T1_QA_PIXEL.TIF"
    with rasterio.open(qa_path, "w", **{**profile, "dtype": "uint16", "count": 1, "nodata": 1}) as dst:
        dst.write(qa, 1)
    bands = [str(tmp_path / Path(f).name) for f in L8_BANDS]
    stack = open_image(bands)
    assert [m.kind for m in stack.masks] == ["qa_pixel"]
    expected = np.isin(qa, words[[2, 3, 4, 5, 6]])
    assert np.array_equal(nan_pixels(stack), expected)
    assert np.array_equal(nan_pixels(open_image(bands, mask_snow=True)), np.isin(qa, words[2:]))
    assert invalid_pixels("qa_pixel", words).tolist() == [False, False, True, True, True, True, True, False]


def test_a_mask_file_named_freely_is_told_by_its_data_type(tmp_path):
    shutil.copy(CLOUDY / "SCL.tif", tmp_path / "quality.tif")
    bands = []
    for f in CLOUDY_BANDS:
        bands.append(str(tmp_path / Path(f).name))
        shutil.copy(f, bands[-1])
    assert not open_image(bands).masks  # no SCL beside them now
    stack = open_image(bands, mask_file=str(tmp_path / "quality.tif"))
    assert stack.masks[0].kind == "scl"
    assert nan_pixels(stack).sum() == 3861 + 2737 + 4273 + 485


def test_bad_mask_files_are_refused_with_a_clear_message():
    with pytest.raises(ImageError, match="a cloud mask is one band"):
        open_image(CLOUDY_BANDS, mask_file=str(BARBELLINO))
    with pytest.raises(NoOverlapError, match="does not overlap the image"):
        open_image(CLOUDY_BANDS, mask_file=T11_SCL)
    with pytest.raises(ImageError, match="not found"):
        open_image(CLOUDY_BANDS, mask_file="/nonexistent/SCL.tif")


def test_recipe_keeps_the_setting_and_leaves_the_default_out(tmp_path):
    recipe = Recipe(name="r", images=[ImageRef(p) for p in CLOUDY_BANDS])
    assert "cloud_mask" not in recipe.to_dict()
    assert open_recipe_images(recipe).masks
    recipe.cloud_mask = CloudMaskRef(enabled=False)
    recipe.save(tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["cloud_mask"]["enabled"] is False
    loaded = Recipe.load(tmp_path / "r.json")
    assert loaded.cloud_mask == CloudMaskRef(enabled=False)
    assert not open_recipe_images(loaded).masks
    # the SCL file as one of the recipe's images is its mask, not a band
    recipe = Recipe(name="r", images=[ImageRef(p) for p in [*CLOUDY_BANDS, str(CLOUDY / "SCL.tif")]])
    stack = open_recipe_images(recipe)
    assert stack.band_names == ["B02", "B03", "B04", "B08"] and len(stack.masks) == 1


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "landclass_ui.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd)


def test_cli_flags(tmp_path):
    polygons = T11 / "landcover.shp"
    common = ["classify", *T11_BANDS, "-t", polygons, "--class-field", "MC_name"]
    off = run_cli(*common, "-o", tmp_path / "off.tif", "--no-cloud-mask", cwd=tmp_path)
    assert off.returncode == 0, off.stderr
    on = run_cli(*common, "-o", tmp_path / "on.tif", cwd=tmp_path)
    assert on.returncode == 0, on.stderr
    with rasterio.open(tmp_path / "off.tif") as a, rasterio.open(tmp_path / "on.tif") as b:
        assert (a.read(1) == 255).sum() == 0 and (b.read(1) == 255).sum() == 39
    bad = run_cli(*common, "-o", tmp_path / "bad.tif", "--cloud-mask", CLOUDY / "SCL.tif", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "does not overlap" in bad.stderr
    assert not (tmp_path / "bad.tif").exists()
    both = run_cli(*common, "-o", tmp_path / "x.tif", "--cloud-mask", T11_SCL, "--no-cloud-mask", cwd=tmp_path)
    assert both.returncode == 2 and "not both" in both.stderr


def test_img_panel_opens_a_date_folder_and_switches_the_mask(tmp_path):
    from landclass_ui.store import RecipeStore
    from landclass_ui.ui.img import ImagePanel

    store = RecipeStore(Recipe(name="img"), tmp_path / "work" / "recipe.json")
    panel = ImagePanel(store, start_dir=str(tmp_path))
    panel.path.value = str(CLOUDY / "*.tif")  # the four bands and the SCL
    panel.open_button.click()
    assert "landclass-msg-error" not in panel.message.value, panel.message.value
    assert panel.bands.options == ("B02", "B03", "B04", "B08")  # SCL is the mask, not a band
    assert [Path(i.path).name for i in store.recipe.images] == ["B02.tif", "B03.tif", "B04.tif", "B08.tif"]
    assert store.recipe.cloud_mask.file is None  # found beside the bands anyway
    share = (3861 + 2737 + 4273 + 485) / 22500  # shadow, cloud medium, high, cirrus of 150 x 150 px
    assert panel.cloud.value and f"cloud mask: {100 * share:.2f} % of the image is nodata" in panel.mask_info.value
    panel.cloud.value = False
    saved = json.loads((tmp_path / "work" / "recipe.json").read_text())
    assert saved["cloud_mask"]["enabled"] is False and "cloud mask off" in panel.mask_info.value
    panel.snow.value = True  # snow alone does not turn masking on
    assert store.recipe.cloud_mask == CloudMaskRef(enabled=False, snow=True)
    panel.mask_file.value = T11_SCL  # another area: refused, recipe unchanged
    panel.apply_mask.click()
    assert "does not overlap" in panel.message.value
    assert store.recipe.cloud_mask == CloudMaskRef(enabled=False, snow=True)
    panel.mask_file.value = str(CLOUDY / "SCL.tif")
    panel.apply_mask.click()
    assert store.recipe.cloud_mask.enabled and store.recipe.cloud_mask.file == str(CLOUDY / "SCL.tif")
    share = (3861 + 2737 + 4273 + 485 + 11) / 22500  # with snow: + 11 px
    assert f"cloud mask: {100 * share:.2f} % of the image is nodata" in panel.mask_info.value
