"""The default recipe and SEPAL's preset: what a new recipe starts from in the CLI and the dashboard, on two real
scenes of different sensors (the bundled Sentinel-2 sample; Landsat 8 C2 band files), and an image whose band
roles are unknown (sen2r's Barbellino surface reflectance file: bands B1..B11 that are not Sentinel-2's band
numbers, and a name no sensor is read from), where the indices are left out with a message instead of failing."""
import subprocess
import sys
from pathlib import Path

import pytest

from landclass_ui.errors import RecipeError
from landclass_ui.pipeline import PRESETS, apply_preset
from landclass_ui.recipe import ImageRef, Recipe, RegularizationRef, TrainingRef
from landclass_ui.sample import sample_paths

DATA = Path(__file__).parent / "data"
L8 = [str(DATA / "l8_t11upt" / f"LC08_L2SP_043024_20200802_20200914_02_T1_SR_{b}.tif") for b in
      ("B2", "B3", "B4", "B5")]


@pytest.mark.parametrize("images", [[sample_paths().safe], L8], ids=["s2-safe", "l8-c2-bands"])
def test_recommended_and_sepal(images):
    recipe = Recipe(images=[ImageRef(p) for p in images])
    notes = apply_preset(recipe)
    assert recipe.derived.indices == ["ndvi", "ndwi"] and recipe.regularization == RegularizationRef(3)
    assert recipe.derived.sensor in ("sentinel-2", "landsat-8-9")
    assert "preset recommended" in notes[-1]
    apply_preset(recipe, "sepal")
    assert recipe.derived.indices == [] and not recipe.regularization.active
    assert Recipe().regularization == recipe.regularization and Recipe().derived.indices == []  # the plain Recipe


def test_indices_the_bands_cannot_make_are_left_out_with_a_message():
    recipe = Recipe(images=[ImageRef(str(DATA / "s2_barbellino" / "S2A2A_20170703_022_Barbellino_BOA_10.tif"))])
    notes = apply_preset(recipe)
    assert recipe.derived.indices == [] and recipe.regularization == RegularizationRef(3)
    assert "NDVI, NDWI left out" in notes[0]
    with pytest.raises(RecipeError, match="recommended, sepal"):
        apply_preset(recipe, "iota2")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "landclass_ui.cli", *map(str, args)], capture_output=True,
                          text=True)


def test_cli_classify_starts_from_the_recommended_preset_and_flags_override_it(tmp_path):
    s = sample_paths()
    common = ["classify", s.safe, "-t", s.polygons, "--class-field", s.class_field]
    default = run_cli(*common, "-o", tmp_path / "a.tif", "--recipe-out", tmp_path / "a.json")
    assert default.returncode == 0, default.stderr
    saved = Recipe.load(tmp_path / "a.json")
    assert saved.derived.indices == ["ndvi", "ndwi"] and saved.regularization.majority == 3
    assert "preset recommended" in default.stderr and "regularization: majority 3x3 changed" in default.stderr
    sepal = run_cli(*common, "-o", tmp_path / "b.tif", "--recipe-out", tmp_path / "b.json", "--preset", "sepal")
    assert sepal.returncode == 0, sepal.stderr
    saved = Recipe.load(tmp_path / "b.json")
    assert saved.derived.indices == [] and not saved.regularization.active and "regularization:" not in sepal.stderr
    mixed = run_cli(*common, "-o", tmp_path / "c.tif", "--recipe-out", tmp_path / "c.json", "--majority", "5",
                    "--indices", "ndvi")
    assert mixed.returncode == 0, mixed.stderr
    saved = Recipe.load(tmp_path / "c.json")
    assert saved.derived.indices == ["ndvi"] and saved.regularization.majority == 5
    bad = run_cli(*common, "-o", tmp_path / "d.tif", "-t", tmp_path / "missing.geojson")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1  # the preset's note does not precede an error


def test_dashboard_new_recipe_and_preset_box(tmp_path):
    from landclass_ui.store import RecipeStore
    from landclass_ui.ui.app import default_recipe, empty_recipe
    from landclass_ui.ui.postprocess import PresetBox

    assert default_recipe().derived.indices == ["ndvi", "ndwi"] and default_recipe().regularization.majority == 3
    assert empty_recipe().derived.indices == ["ndvi", "ndwi"]  # wished; IMG keeps those a new image can make
    recipe = default_recipe()
    recipe.training = [TrainingRef("file", sample_paths().polygons, sample_paths().class_field)]
    store = RecipeStore(recipe, tmp_path / "work" / "recipe.json")
    box = PresetBox(store)
    box.choice.value = "sepal"
    box.apply.click()
    assert store.recipe.derived.indices == [] and not store.recipe.regularization.active
    assert store.recipe.training and "defaults: random forest (25 trees) on the bands" in box.message.value
    store.undo()
    assert store.recipe.derived.indices == ["ndvi", "ndwi"]
    assert set(PRESETS) == {"recommended", "sepal"}
