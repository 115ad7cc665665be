"""The sensor and product table (landclass_ui.sensors) and what the readers do with it: reflectance scale and
offset per product (Landsat Collection 2 Level-2, Sentinel-2 band files), the user's stated scale, indices
refused on values of unknown scale, EBBI's thermal band as SEPAL feeds it, the Landsat 7 tasseled cap.

Expected values are computed here from digital numbers read with rasterio and the published constants, never
from the package's own output.
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from landclass_ui import indices as I
from landclass_ui import sensors as S
from landclass_ui.errors import ImageError
from landclass_ui.imagery import open_image
from landclass_ui.pipeline import open_recipe_image
from landclass_ui.recipe import DerivedRef, ImageRef, Recipe
from landclass_ui.sample import sample_paths

DATA = Path(__file__).parent / "data"
L8 = DATA / "l8_t11upt"
L8_ID = "LC08_L2SP_043024_20200802_20200914_02_T1"
T11UPT = DATA / "s2_t11upt"
L5_FILES = [DATA / "l5_amazon" / f"LT52240631988227CUB02_B{i}.TIF" for i in (1, 2, 3, 4, 5, 7)]
ROW, COL = 40, 60


def dn(path, row=ROW, col=COL) -> float:
    with rasterio.open(path) as src:
        return float(src.read(1)[row, col])


def l8_band(n: int) -> Path:
    return L8 / f"{L8_ID}_SR_B{n}.tif"


def test_landsat_c2_surface_reflectance_is_scaled_on_reading():
    stack = open_image([str(l8_band(n)) for n in (2, 3, 4, 5)])
    assert stack.units == {"B2": "reflectance", "B3": "reflectance", "B4": "reflectance", "B5": "reflectance"}
    values = stack.read()
    for i, n in enumerate((2, 3, 4, 5)):  # USGS LSDS-1619: reflectance = DN x 2.75e-05 - 0.2
        assert values[i, ROW, COL] == pytest.approx(dn(l8_band(n)) * 2.75e-05 - 0.2, abs=1e-6)
    assert any("2.75e-05" in m and "USGS" in m for m in stack.messages)
    # DN 0 is fill: nodata
    with rasterio.open(l8_band(4)) as src:
        zeros = src.read(1) == 0
    if zeros.any():
        assert np.isnan(values[2][zeros]).all()


def test_landsat_c2_scale_is_read_from_the_mtl_beside_the_file(tmp_path):
    band = tmp_path / l8_band(4).name
    shutil.copy(l8_band(4), band)
    (tmp_path / f"{L8_ID}_MTL.txt").write_text(
        "GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS\n"
        "    REFLECTANCE_MULT_BAND_4 = 2.0000E-05\n"
        "    REFLECTANCE_ADD_BAND_4 = -0.100000\n"
        "END_GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS\n")
    stack = open_image(str(band))
    assert stack.read()[0, ROW, COL] == pytest.approx(dn(band) * 2.0e-05 - 0.1, abs=1e-6)
    assert any("read from " + f"{L8_ID}_MTL.txt" in m for m in stack.messages)


def test_sentinel2_band_files_take_the_offset_of_their_sensing_date(tmp_path):
    b04 = T11UPT / "T11UPT_20200804T183919_B04_60m.jp2"
    stack = open_image(str(b04))  # 2020: before processing baseline 04.00, no offset
    assert stack.units == {"B04": "reflectance"}
    assert stack.read()[0, ROW, COL] == pytest.approx(dn(b04) / 10000, abs=1e-7)
    later = tmp_path / "T11UPT_20230804T183919_B04_60m.jp2"  # the same file, named as sensed in 2023
    shutil.copy(b04, later)
    assert open_image(str(later)).read()[0, ROW, COL] == pytest.approx((dn(b04) - 1000) / 10000, abs=1e-7)


def test_evi_on_landsat_c2_matches_the_published_formula_on_reflectance():
    stack = open_image([str(l8_band(n)) for n in (2, 3, 4, 5)])
    full = I.add_derived(stack, {"sensor": "landsat-8-9", "indices": ["evi", "savi", "kndvi"]})
    got = dict(zip(full.band_names, full.read()))
    blue, red, nir = (dn(l8_band(n)) * 2.75e-05 - 0.2 for n in (2, 4, 5))
    evi = 2.5 * (nir - red) / (nir + 6 * red - 7.5 * blue + 1)  # Huete et al. (2002)
    assert got["evi"][ROW, COL] == pytest.approx(evi, abs=1e-5)
    assert -1 < got["evi"][ROW, COL] < 1  # on raw DN it was far outside
    assert got["savi"][ROW, COL] == pytest.approx(1.5 * (nir - red) / (nir + red + 0.5), abs=1e-5)
    assert got["kndvi"][ROW, COL] == pytest.approx(math.tanh(((nir - red) / 0.4) ** 2), abs=1e-5)


def test_indices_that_need_reflectance_are_refused_on_dn_until_the_scale_is_stated(tmp_path):
    recipe = Recipe(images=[ImageRef(str(p)) for p in L5_FILES],
                    derived=DerivedRef(indices=["ndvi", "evi"], sensor="landsat-5"))
    with pytest.raises(ImageError, match=r"evi assumes surface reflectance .* B4, B3, B1 .* images\[\]\.scale"):
        open_recipe_image(recipe)
    # NDVI does not depend on the scale
    recipe.derived.indices = ["ndvi"]
    assert open_recipe_image(recipe).band_names[-1] == "ndvi"
    # stated in the recipe (and kept in its file), EVI is computed on reflectance = DN x 0.002
    recipe.derived.indices = ["ndvi", "evi"]
    for ref in recipe.images:
        ref.scale = 0.002
    recipe.save(tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["images"][0]["scale"] == 0.002
    stack = open_recipe_image(Recipe.load(tmp_path / "r.json"))
    got = dict(zip(stack.band_names, stack.read()))
    blue, red, nir = (dn(L5_FILES[i], 10, 20) * 0.002 for i in (0, 2, 3))
    assert got["evi"][10, 20] == pytest.approx(2.5 * (nir - red) / (nir + 6 * red - 7.5 * blue + 1), abs=1e-5)
    assert stack.units["B1"] == "reflectance"


def test_a_bad_stated_scale_is_refused():
    recipe = Recipe(images=[ImageRef(str(L5_FILES[0]), scale=-1.0)])
    with pytest.raises(ImageError, match="positive number"):
        open_recipe_image(recipe)


def test_ebbi_uses_the_thermal_band_in_kelvin_as_sepal_feeds_it(tmp_path):
    """SEPAL's EBBI takes Landsat 8 ST_B10 scaled to Kelvin / 1000 (3.41802e-06, offset 0.149); our stack
    reads Kelvin (0.00341802, offset 149, USGS) and EBBI divides by 1000: the same number."""
    st = tmp_path / f"{L8_ID}_ST_B10.tif"
    with rasterio.open(l8_band(5)) as src:
        profile = src.profile
        shape = (src.height, src.width)
    thermal_dn = np.full(shape, 44000, np.uint16)  # 44000 x 0.00341802 + 149 = 299.4 K
    thermal_dn[ROW, COL] = 45123
    with rasterio.open(st, "w", **profile) as dst:
        dst.write(thermal_dn, 1)
    # Landsat 8 has no SWIR in this crop: give B4 as swir1 by hand, which is enough to check the formula
    files = [str(l8_band(n)) for n in (2, 3, 4, 5)] + [str(st)]
    stack = open_image(files)
    assert stack.units["B10"] == "kelvin"
    assert stack.read()[-1, ROW, COL] == pytest.approx(45123 * 0.00341802 + 149.0, abs=1e-3)
    full = I.add_derived(stack, {"sensor": "landsat-8-9", "roles": {"swir1": "B4"}, "indices": ["ebbi"]})
    got = full.read()[-1, ROW, COL]
    swir1, nir = (dn(l8_band(n)) * 2.75e-05 - 0.2 for n in (4, 5))
    thermal_sepal = 45123 * 3.41802e-06 + 0.149
    assert got == pytest.approx((swir1 - nir) / (10 * math.sqrt(swir1 + thermal_sepal)), abs=1e-5)
    # a thermal band of unknown unit is refused
    with pytest.raises(ImageError, match="thermal band in Kelvin"):
        I.derived_sources(["B4", "B5", "B10"], indices=["ebbi"], sensor="landsat-8-9", roles={"swir1": "B4"},
                          units={"B4": "reflectance", "B5": "reflectance", "B10": ""})


def test_landsat7_tasseled_cap_uses_huang_2002():
    names = ["blue", "green", "red", "nir", "swir1", "swir2"]
    huang = {"tc_brightness": [0.3561, 0.3972, 0.3904, 0.6966, 0.2286, 0.1596],
             "tc_greenness": [-0.3344, -0.3544, -0.4556, 0.6966, -0.0242, -0.2630],
             "tc_wetness": [0.2626, 0.2141, 0.0926, 0.0656, -0.7629, -0.5388]}
    for name, coefs in huang.items():
        index = I._find_index(name, "landsat-7")
        for k, role in enumerate(names):  # a unit reflectance in one band gives that band's coefficient
            args = {r: np.array([1.0 if r == role else 0.0]) for r in names}
            assert index.func(**args)[0] == pytest.approx(coefs[k])
    # Landsat 5 keeps Crist (1985)
    crist = I._find_index("tc_brightness", "landsat-5")
    assert crist.func(*[np.array([1.0 if r == "blue" else 0.0]) for r in names])[0] == pytest.approx(0.2043)
    assert S.sensor_from_paths(["LE07_L2SP_224063_20000101_20200917_02_T1_SR_B3.TIF"]) == "landsat-7"


def test_one_table_for_roles_composites_and_product_names():
    # Landsat 8/9 true colour is B4, B3, B2 (the bug was B3, B2, B1), and Landsat 5/7 is B3, B2, B1
    for sensor, expected in [("landsat-8-9", ["B4", "B3", "B2"]), ("landsat-7", ["B3", "B2", "B1"]),
                             ("landsat-5", ["B3", "B2", "B1"]), ("sentinel-2", ["B04", "B03", "B02"])]:
        bands = ["B1", "B2", "B3", "B4", "B5"] if sensor != "sentinel-2" else ["B02", "B03", "B04", "B8A"]
        roles = S.resolve_roles(bands, sensor)
        assert [roles[r] for r in S.COMPOSITES["true colour"]] == expected
    for sensor in S.SENSORS.values():  # every sensor has the roles a true-colour view needs
        assert {"red", "green", "blue", "nir"} <= set(sensor.bands)
    assert S.sensor_from_paths([sample_paths().safe]) == "sentinel-2"
    assert S.get_sensor("landsat-5-7").name == "landsat-5"
    with pytest.raises(ImageError, match="unknown sensor 'landsat-3'; choose one of sentinel-2"):
        S.get_sensor("landsat-3")


def test_a_recipe_of_the_old_landsat_5_7_sensor_still_loads(tmp_path):
    recipe = Recipe(images=[ImageRef(str(p)) for p in L5_FILES]).to_dict()
    recipe["derived"] = {"indices": ["ndvi"], "sensor": "landsat-5-7"}
    (tmp_path / "old.json").write_text(json.dumps(recipe))
    loaded = Recipe.load(tmp_path / "old.json")
    assert loaded.derived.sensor == "landsat-5"
    assert open_recipe_image(loaded).band_names[-1] == "ndvi"


def test_sample_safe_is_reflectance():
    stack = open_image(sample_paths().safe)
    assert set(stack.units.values()) == {"reflectance"}
