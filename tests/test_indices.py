"""Tests of landclass_ui.indices: derived bands (pairwise operations, spectral indices) computed by the stack.

Expected values are worked out by hand from raw pixel values read with rasterio (Sentinel-2 L2A baseline 04.00:
reflectance = (DN - 1000) / 10000; Landsat 5 test files: DN as stored), or from the published formula applied
to arrays read with rasterio, never from the package's own output.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.windows import Window

from landclass_ui import indices as I
from landclass_ui import sensors as S
from landclass_ui.errors import ImageError, RecipeError
from landclass_ui.imagery import open_image, with_scale
from landclass_ui.pipeline import open_recipe_image, run
from landclass_ui.recipe import DerivedRef, ImageRef, PairwiseRef, Recipe, TrainingRef
from landclass_ui.sample import sample_paths

DATA = Path(__file__).parent / "data"
L5_FILES = [DATA / "l5_amazon" / f"LT52240631988227CUB02_B{i}.TIF" for i in range(1, 8)]
AMAZON_S2 = DATA / "s2_amazon" / "sen2_L2A_12band.tif"
ATOL = 1e-5  # float32 reflectance


def s2_dn(band: str) -> np.ndarray:
    (path,) = Path(sample_paths().safe).glob(f"GRANULE/*/IMG_DATA/R60m/*_{band}_60m.jp2")
    with rasterio.open(path) as src:
        return src.read(1).astype(np.float64)


def l5_dn(i: int) -> np.ndarray:
    with rasterio.open(L5_FILES[i - 1]) as src:
        return src.read(1).astype(np.float64)


def read_derived(stack, derived: dict, window: Window | None = None) -> dict[str, np.ndarray]:
    full = I.add_derived(stack, derived)
    data = full.read(window)
    return dict(zip(full.band_names, data))


# ---------------------------------------------------------------------------------------------------------
# Band roles and what is offered


def test_roles_of_the_sample_are_detected_and_only_possible_indices_offered():
    stack = open_image(sample_paths().safe)
    assert stack.band_names == ["B02", "B03", "B04", "B8A"]
    roles = S.resolve_roles(stack.band_names)
    assert roles == {"blue": "B02", "green": "B03", "red": "B04", "nir": "B8A"}  # B8A when B08 is absent
    offered = I.available_indices(roles, S.detect_sensor(stack.band_names))
    assert set(offered) == {"ndvi", "ndwi", "evi", "evi2", "savi", "kndvi"}  # no SWIR, no thermal
    with pytest.raises(ImageError, match="swir1"):
        I.add_derived(stack, {"indices": ["ndmi"]})


def test_sentinel2_prefers_b08_and_accepts_unpadded_names():
    roles = S.resolve_roles(["B2", "B3", "B4", "B8", "B8A", "B11", "B12"])  # B8A makes it Sentinel-2
    assert roles == {"blue": "B2", "green": "B3", "red": "B4", "nir": "B8", "swir1": "B11", "swir2": "B12"}
    offered = I.available_indices(roles, "sentinel-2")
    assert {"ndmi", "mndwi", "nbr", "ndbi", "ibi", "ndfi", "bui", "ui", "nbi", "mvi"} <= set(offered)
    assert "ebbi" not in offered and not any(o.startswith("tc_") for o in offered)


def test_landsat_names_need_the_sensor():
    names = ["B1", "B2", "B3", "B4", "B5", "B6", "B7"]
    assert S.detect_sensor(names) is None and S.resolve_roles(names) == {}
    assert I.available_indices(S.resolve_roles(names)) == []
    l57 = S.resolve_roles(names, "landsat-5-7")
    l89 = S.resolve_roles(names, "landsat-8-9")
    assert (l57["red"], l57["nir"], l57["thermal"]) == ("B3", "B4", "B6")
    assert (l89["red"], l89["nir"], l89["swir1"]) == ("B4", "B5", "B6")
    assert "thermal" not in l89  # no B10 here
    assert {"tc_brightness", "tc_greenness", "tc_wetness", "ebbi"} <= set(I.available_indices(l57, "landsat-5-7"))
    # roles by hand win over the sensor, and a band that is not there is a clear error
    assert S.resolve_roles(names, "landsat-8-9", {"nir": "B4", "red": "B3"})["nir"] == "B4"
    with pytest.raises(ImageError, match="B9"):
        S.resolve_roles(names, None, {"nir": "B9"})
    with pytest.raises(ImageError, match="sensor"):
        S.resolve_roles(names, "landsat-3")


# ---------------------------------------------------------------------------------------------------------
# Index values at real pixels


def test_sentinel2_indices_at_two_pixels_by_hand():
    stack = open_image(sample_paths().safe)
    v = read_derived(stack, {"indices": ["ndvi", "ndwi", "evi", "savi", "kndvi"]})
    # Raw DN read with rasterio at (row 500, col 700): B02 1106, B03 1254, B04 1335, B8A 2400
    # -> reflectance 0.0106, 0.0254, 0.0335, 0.1400.
    assert [s2_dn(b)[500, 700] for b in ("B02", "B03", "B04", "B8A")] == [1106, 1254, 1335, 2400]
    r, c = 500, 700
    assert v["ndvi"][r, c] == pytest.approx(0.1065 / 0.1735, abs=ATOL)                 # 0.61383
    assert v["ndwi"][r, c] == pytest.approx(-0.1146 / 0.1654, abs=ATOL)                # -0.69287
    assert v["evi"][r, c] == pytest.approx(2.5 * 0.1065 / 1.2615, abs=ATOL)            # 0.21106
    assert v["savi"][r, c] == pytest.approx(1.5 * 0.1065 / 0.6735, abs=ATOL)           # 0.23719
    assert v["kndvi"][r, c] == pytest.approx(math.tanh((0.1065 / 0.4) ** 2), abs=ATOL)  # 0.07077
    # (row 1200, col 300): B04 1400, B8A 3690 -> 0.0400, 0.2690; NDVI 0.229 / 0.309
    assert (s2_dn("B04")[1200, 300], s2_dn("B8A")[1200, 300]) == (1400, 3690)
    assert v["ndvi"][1200, 300] == pytest.approx(0.229 / 0.309, abs=ATOL)              # 0.74110


def test_sentinel2_indices_over_a_window_match_the_formulas():
    stack = open_image(sample_paths().safe)
    win = Window(600, 400, 64, 48)
    v = read_derived(stack, {"indices": ["ndvi", "ndwi", "evi", "evi2", "savi", "kndvi"]}, win)
    sl = (slice(400, 448), slice(600, 664))
    blue, green, red, nir = ((s2_dn(b)[sl] - 1000) / 10000 for b in ("B02", "B03", "B04", "B8A"))
    np.testing.assert_allclose(v["ndvi"], (nir - red) / (nir + red), atol=ATOL)
    np.testing.assert_allclose(v["ndwi"], (green - nir) / (green + nir), atol=ATOL)
    np.testing.assert_allclose(v["evi"], 2.5 * (nir - red) / (nir + 6 * red - 7.5 * blue + 1), atol=ATOL)
    np.testing.assert_allclose(v["evi2"], 2.5 * (nir - red) / (nir + 2.4 * red + 1), atol=ATOL)
    np.testing.assert_allclose(v["savi"], 1.5 * (nir - red) / (nir + red + 0.5), atol=ATOL)
    np.testing.assert_allclose(v["kndvi"], np.tanh(((nir - red) / 0.4) ** 2), atol=ATOL)


def test_landsat5_indices_and_tasseled_cap_at_a_pixel_by_hand():
    stack = open_image([str(p) for p in L5_FILES])
    assert stack.band_names == ["B1", "B2", "B3", "B4", "B5", "B6", "B7"]
    assert set(stack.units.values()) == {""}  # Level-1 DN: no reflectance scale known
    v = read_derived(stack, {"sensor": "landsat-5", "indices": ["ndvi", "ndmi", "nbr"]})
    # DN read with rasterio at (row 10, col 20): B1 62, B2 24, B3 17, B4 88, B5 56, B6 137, B7 15
    assert [l5_dn(i)[10, 20] for i in range(1, 8)] == [62, 24, 17, 88, 56, 137, 15]
    r, c = 10, 20
    assert v["ndvi"][r, c] == pytest.approx(71 / 105, abs=ATOL)          # (88-17)/(88+17)
    assert v["ndmi"][r, c] == pytest.approx(32 / 144, abs=ATOL)          # (88-56)/(88+56)
    assert v["nbr"][r, c] == pytest.approx(73 / 103, abs=ATOL)           # (88-15)/(88+15)
    # indices that assume reflectance are refused on DN, saying what is missing and how to state it
    for name in ("tc_brightness", "ebbi", "evi"):
        with pytest.raises(ImageError, match=r"unknown scale.*images\[\]\.scale"):
            I.add_derived(stack, {"sensor": "landsat-5", "indices": [name]})
    # once the user states a scale (here reflectance = DN / 100), the tasseled cap is computed on it
    v = read_derived(with_scale(stack, 0.01), {"sensor": "landsat-5", "indices": ["tc_brightness", "tc_wetness"]})
    # Crist (1985) brightness: (.2043*62 + .4158*24 + .5524*17 + .5741*88 + .3124*56 + .2303*15) / 100
    assert v["tc_brightness"][r, c] == pytest.approx(1.035063, abs=1e-5)
    # wetness: (.0315*62 + .2021*24 + .3102*17 + .1594*88 - .6806*56 - .6109*15) / 100
    assert v["tc_wetness"][r, c] == pytest.approx((1.953 + 4.8504 + 5.2734 + 14.0272 - 38.1136 - 9.1635) / 100,
                                                  abs=1e-5)
    # without the sensor the Landsat names are ambiguous: NDVI is not offered
    with pytest.raises(ImageError, match="nir"):
        I.add_derived(stack, {"indices": ["ndvi"]})


def test_landsat8_tasseled_cap_coefficients_baig_2014():
    names = ["blue", "green", "red", "nir", "swir1", "swir2"]
    expected = {"tc_brightness": [0.3029, 0.2786, 0.4733, 0.5599, 0.508, 0.1872],
                "tc_greenness": [-0.2941, -0.243, -0.5424, 0.7276, 0.0713, -0.1608],
                "tc_wetness": [0.1511, 0.1973, 0.3283, 0.3407, -0.7117, -0.4559]}
    for name, coefs in expected.items():
        (index,) = [i for i in I._ALL_INDICES if i.name == name and i.sensor == "landsat-8-9"]
        for k, role in enumerate(names):  # a unit reflectance in one band gives that band's coefficient
            args = {r: np.array([1.0 if r == role else 0.0]) for r in names}
            assert index.func(**args)[0] == pytest.approx(coefs[k])


def test_ndfi_recovers_a_known_mixture():
    E = np.array(list(I.NDFI_ENDMEMBERS.values())).T  # bands x (gv, shade, npv, soil, cloud)
    mixes = np.array([[0.6, 0.2, 0.1, 0.1, 0.0], [1, 0, 0, 0, 0], [0.0, 0.3, 0.3, 0.4, 0.0], [0.5, 0.5, 0, 0, 0]])
    pixels = mixes @ E.T
    np.testing.assert_allclose(I.ndfi_fractions(pixels), mixes, atol=1e-9)
    got = I.ndfi(*pixels.T)
    # GVs = GV / (1 - shade): 0.6/0.8 = 0.75 -> (0.75 - 0.2) / 0.95; pure GV -> 1; no GV -> -1; GV+shade -> 1
    np.testing.assert_allclose(got, [0.55 / 0.95, 1.0, -1.0, 1.0], atol=1e-9)
    # a pixel off the simplex: fractions stay non-negative and sum to one
    fr = I.ndfi_fractions(np.array([[0.02, 0.05, 0.03, 0.35, 0.15, 0.06]]))
    assert (fr >= 0).all() and fr.sum() == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------------------
# Pairwise operations, naming, NaN


def test_pairwise_names_and_count_three_bands_give_three_per_operation():
    stack = open_image(sample_paths().safe)
    full = I.add_derived(stack, {"pairwise": {"operations": ["nd", "ratio", "difference"],
                                              "bands": ["B03", "B04", "B8A"]}})
    assert full.band_names[4:] == ["nd_B03_B04", "nd_B03_B8A", "nd_B04_B8A",
                                   "ratio_B03_B04", "ratio_B03_B8A", "ratio_B04_B8A",
                                   "diff_B03_B04", "diff_B03_B8A", "diff_B04_B8A"]
    v = dict(zip(full.band_names, full.read(Window(700, 500, 1, 1))[:, 0, 0]))
    # reflectance at (500, 700): B04 0.0335, B8A 0.1400
    assert v["nd_B04_B8A"] == pytest.approx((0.0335 - 0.14) / 0.1735, abs=ATOL)
    assert v["ratio_B04_B8A"] == pytest.approx(0.0335 / 0.14, abs=ATOL)
    assert v["diff_B04_B8A"] == pytest.approx(0.0335 - 0.14, abs=ATOL)
    # all bands when none are listed: 4 bands -> 6 pairs
    assert len(I.add_derived(stack, {"pairwise": {"operations": ["nd"]}}).bands) == 4 + 6
    with pytest.raises(ImageError, match="B12"):
        I.add_derived(stack, {"pairwise": {"operations": ["nd"], "bands": ["B04", "B12"]}})
    with pytest.raises(ImageError, match="unknown band operation"):
        I.add_derived(stack, {"pairwise": {"operations": ["angle"]}})


def test_nan_propagates_and_division_by_zero_is_nan(tmp_path):
    path = tmp_path / "two.tif"
    a = np.array([[0.2, 0.0, -9999, 0.3]], np.float32)
    b = np.array([[0.1, 0.0, 0.4, 0.0]], np.float32)
    with rasterio.open(path, "w", driver="GTiff", width=4, height=1, count=2, dtype="float32", nodata=-9999,
                       crs=CRS.from_epsg(32631), transform=from_origin(0, 10, 10, 10)) as dst:
        dst.write(np.stack([a, b]))
    stack = with_scale(open_image(path), 1.0)  # the file holds reflectance: the user says so
    v = read_derived(stack, {"pairwise": {"operations": ["nd", "ratio", "difference"]},
                             "roles": {"nir": "B1", "red": "B2"}, "indices": ["ndvi", "evi2"]})
    np.testing.assert_allclose(v["nd_B1_B2"][0], [0.1 / 0.3, np.nan, np.nan, 1.0], atol=ATOL)
    np.testing.assert_allclose(v["ratio_B1_B2"][0], [2.0, np.nan, np.nan, np.nan], atol=ATOL)  # 0.3/0 -> NaN
    np.testing.assert_allclose(v["diff_B1_B2"][0], [0.1, 0.0, np.nan, 0.3], atol=ATOL)
    np.testing.assert_allclose(v["ndvi"][0], [0.1 / 0.3, np.nan, np.nan, 1.0], atol=ATOL)
    assert np.isnan(v["evi2"][0, 2]) and not np.isinf(v["ratio_B1_B2"]).any()


# ---------------------------------------------------------------------------------------------------------
# Recipe and classification


def test_recipe_round_trip_and_old_recipes_load(tmp_path):
    recipe = Recipe(name="r", images=[ImageRef(sample_paths().safe)],
                    derived=DerivedRef(PairwiseRef(["nd", "ratio"], ["B04", "B8A"]), ["ndvi", "ndwi"],
                                       "sentinel-2", {"red": "B04", "nir": "B8A"}))
    recipe.save(tmp_path / "r.json")
    on_disk = json.loads((tmp_path / "r.json").read_text())
    assert on_disk["schema_version"] == 1
    assert on_disk["derived"] == {"pairwise": {"operations": ["nd", "ratio"], "bands": ["B04", "B8A"]},
                                  "indices": ["ndvi", "ndwi"], "sensor": "sentinel-2",
                                  "roles": {"red": "B04", "nir": "B8A"}}
    again = Recipe.load(tmp_path / "r.json")
    assert again.derived == recipe.derived and again.to_dict() == recipe.to_dict()
    assert open_recipe_image(again).band_names == ["B02", "B03", "B04", "B8A", "nd_B04_B8A", "ratio_B04_B8A",
                                                   "ndvi", "ndwi"]
    del on_disk["derived"]  # a recipe written before derived bands existed
    old = Recipe.from_dict(on_disk)
    assert old.derived == DerivedRef() and old.derived.empty
    assert open_recipe_image(old).band_names == ["B02", "B03", "B04", "B8A"]
    on_disk["derived"] = ["ndvi"]
    with pytest.raises(RecipeError):
        Recipe.from_dict(on_disk)


def test_classification_run_with_derived_bands(tmp_path):
    sample = sample_paths()
    recipe = Recipe(name="derived", images=[ImageRef(sample.safe)],
                    training=[TrainingRef("file", sample.polygons, "class")],
                    derived=DerivedRef(PairwiseRef(["ratio"], ["B04", "B8A"]), ["ndvi", "ndwi"]))
    recipe.classifier.params = {"n_trees": 10}
    result = run(recipe, str(tmp_path / "map.tif"), samples_out=str(tmp_path / "samples.csv"))
    assert result.model.band_names == ["B02", "B03", "B04", "B8A", "ratio_B04_B8A", "ndvi", "ndwi"]
    with open(tmp_path / "samples.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows and {"ratio_B04_B8A", "ndvi", "ndwi"} <= set(rows[0])
    for row in rows[:50]:  # the derived columns are the formulas of the band columns of the same pixel
        red, nir, green = float(row["B04"]), float(row["B8A"]), float(row["B03"])
        assert float(row["ndvi"]) == pytest.approx((nir - red) / (nir + red), abs=ATOL)
        assert float(row["ndwi"]) == pytest.approx((green - nir) / (green + nir), abs=ATOL)
        assert float(row["ratio_B04_B8A"]) == pytest.approx(red / nir, rel=1e-5)
    with rasterio.open(tmp_path / "map.tif") as src:
        classes = src.read(1)
    assert set(np.unique(classes)) <= {1, 2, 3} and len(np.unique(classes)) == 3


# ---------------------------------------------------------------------------------------------------------
# IMG panel


def test_img_panel_derived_controls(tmp_path):
    from landclass_ui.store import RecipeStore
    from landclass_ui.ui.img import ImagePanel

    store = RecipeStore(Recipe(name="p", images=[ImageRef(sample_paths().safe)]), tmp_path / "r.json")
    panel = ImagePanel(store, start_dir=str(tmp_path))
    assert [v for _, v in panel.indices.options] == ["ndvi", "ndwi", "evi", "evi2", "savi", "kndvi"]
    panel.operations["nd"].value = True
    assert json.loads((tmp_path / "r.json").read_text())["derived"]["pairwise"]["operations"] == ["nd"]
    panel.indices.value = ("ndvi",)
    panel.apply_indices.click()
    assert store.recipe.derived.indices == ["ndvi"]
    panel.sensor.value = "sentinel-2"  # the roles are stored explicitly once the sensor is chosen
    assert store.recipe.derived.roles == {"blue": "B02", "green": "B03", "red": "B04", "nir": "B8A"}
    panel.bands.value = ("B02", "B03", "B04")  # no NIR left: NDVI can no longer be made and is dropped
    panel.apply_bands.click()
    assert store.recipe.derived.indices == [] and "ndvi" not in [v for _, v in panel.indices.options]
    assert store.recipe.derived.pairwise.operations == ["nd"]
    assert open_recipe_image(store.recipe).band_names[3:] == ["nd_B02_B03", "nd_B02_B04", "nd_B03_B04"]
    store.undo()
    assert store.recipe.derived.indices == ["ndvi"] and panel.indices.value == ("ndvi",)


def test_img_panel_stacks_a_second_image_and_refuses_one_that_does_not_overlap(tmp_path):
    from landclass_ui.store import RecipeStore
    from landclass_ui.ui.img import ImagePanel

    store = RecipeStore(Recipe(name="p", images=[ImageRef(sample_paths().safe)]), tmp_path / "r.json")
    panel = ImagePanel(store, start_dir=str(tmp_path))
    panel.path.value = str(AMAZON_S2)  # Brazil, not Toulouse
    panel.add_button.click()
    assert "does not overlap" in panel.message.value and len(store.recipe.images) == 1
    copy = tmp_path / "second_date.tif"  # the same scene's B04 as a second "date"
    (b04,) = Path(sample_paths().safe).glob("GRANULE/*/IMG_DATA/R60m/*_B04_60m.jp2")
    with rasterio.open(b04) as src:
        profile = src.profile | {"driver": "GTiff"}
        with rasterio.open(copy, "w", **profile) as dst:
            dst.write(src.read())
    panel.path.value = str(copy)
    panel.add_button.click()
    assert "second_date.tif" in panel.others.value, panel.message.value
    assert [Path(i.path).name for i in store.recipe.images][1] == "second_date.tif"
    assert open_recipe_image(store.recipe).band_names[-1] == "second_date"
