"""Regularization after classification through the command line, the recipe and the CLS panel, on two real
scenes that differ in sensor, CRS and layout (Sentinel-2 T11UPT loose JPEG2000 bands at 60 m, EPSG:32611; the
Landsat 5 Amazon band files at 30 m, EPSG:32622), and a geographic-CRS scene for the hectare check (Sentinel-2
Amazon, one 12-band GeoTIFF in EPSG:4326). The exported map must equal the unregularized map of the same run
regularized in memory (:func:`landclass_ui.regularize.regularize`, tested on its own in test_regularize.py)."""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from landclass_ui.errors import RecipeError
from landclass_ui.pipeline import regularization_pixels
from landclass_ui.recipe import Recipe, RegularizationRef
from landclass_ui.regularize import regularize

DATA = Path(__file__).parent / "data"
T11 = DATA / "s2_t11upt"
SCENES = {
    "s2-t11upt": ([T11 / f"T11UPT_20200804T183919_{b}_60m.jp2" for b in ("B02", "B03", "B04", "B8A", "B11", "B12")],
                  T11 / "landcover.shp", "MC_name", 3600.0),
    "l5-amazon": ([DATA / "l5_amazon" / f"LT52240631988227CUB02_B{i}.TIF" for i in (1, 2, 3, 4, 5, 7)],
                  DATA / "l5_amazon" / "training_polygons.gpkg", "class", 900.0),
}


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "landclass_ui.cli", *map(str, args)], capture_output=True,
                          text=True)


def read(path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


@pytest.mark.parametrize("scene", sorted(SCENES))
def test_exported_map_is_the_plain_map_regularized(tmp_path, scene):
    files, training, field, pixel_area = SCENES[scene]
    common = ["classify", *files, "-t", training, "--class-field", field, "--preset", "sepal"]
    plain = run_cli(*common, "-o", tmp_path / "plain.tif")
    assert plain.returncode == 0, plain.stderr
    mmu_px = int(np.ceil(0.5 * 10_000 / pixel_area))  # 0.5 ha: 2 px at 60 m, 6 px at 30 m
    reg = run_cli(*common, "-o", tmp_path / "reg.tif", "--majority", "5", "--mmu", "0.5ha",
                  "--recipe-out", tmp_path / "recipe.json")
    assert reg.returncode == 0, reg.stderr
    before, after = read(tmp_path / "plain.tif"), read(tmp_path / "reg.tif")
    expected = regularize(before, majority=5, mmu=mmu_px)
    assert np.array_equal(after, expected)
    changed = int((after != before).sum())
    assert changed > 0
    assert "regularization: majority 5x5 changed" in reg.stderr and f"sieve to {mmu_px} px" in reg.stderr
    mpx = before.size / 1e6  # the classification stage's line: pixels, seconds, rate and where it ran
    assert re.search(rf"classified {mpx:.1f} Mpx in [\d.]+ s \([\d.]+ Mpx/s, compiled, \d+ thread\(s\)\); "
                     r"outputs written in [\d.]+ s", reg.stderr), reg.stderr
    assert np.array_equal(after == 255, before == 255)  # nodata (clouds, no data) stays nodata
    with rasterio.open(tmp_path / "reg.tif") as src, rasterio.open(tmp_path / "plain.tif") as ref:
        assert src.colormap(1) == ref.colormap(1) and src.nodata == 255  # the legend's colours
    assert cog_validate(str(tmp_path / "reg.tif"), quiet=True)[0]
    saved = json.loads((tmp_path / "recipe.json").read_text())
    assert saved["regularization"] == {"majority": 5, "mmu": 0.5, "mmu_unit": "ha"}
    again = run_cli("run", tmp_path / "recipe.json", "-o", tmp_path / "again.tif")  # the recipe alone does it
    assert again.returncode == 0, again.stderr
    assert np.array_equal(read(tmp_path / "again.tif"), after)


@pytest.mark.parametrize("scene", sorted(SCENES))
@pytest.mark.parametrize("majority", [3, 5])
def test_majority_with_the_prediction_equals_the_whole_map_filtered(tmp_path, scene, majority):
    """The majority filter runs in each window's thread, on the window classified with a margin: with 64 px
    windows (many seams, image edges on all sides) the map equals the whole unregularized map filtered at once,
    and the count of changed pixels is the true one."""
    from landclass_ui.export import write_classification
    from landclass_ui.pipeline import fit_model, prepare
    from landclass_ui.recipe import ImageRef, TrainingRef
    from landclass_ui.regularize import majority_filter

    files, training, field, _ = SCENES[scene]
    prepared = prepare(Recipe(images=[ImageRef(str(f)) for f in files],
                              training=[TrainingRef("file", str(training), field)]))
    model = fit_model(prepared, prepared.samples)
    plain = write_classification(tmp_path / "plain.tif", prepared.stack, model, block=64, probability=True)
    reg = write_classification(tmp_path / "reg.tif", prepared.stack, model, block=64, probability=True,
                               majority=majority)
    before, after = read(plain.classification), read(reg.classification)
    assert before.shape[0] > 3 * 64 and before.shape[1] > 3 * 64  # many windows
    expected = majority_filter(before, majority)
    assert np.array_equal(after, expected)
    changed = int((after != before).sum())
    assert changed > 0 and f"changed {changed:,} px" in reg.regularization
    assert np.array_equal(read(reg.probability), read(plain.probability))  # probabilities as predicted


@pytest.mark.parametrize("args, words", [
    (["--majority", "4"], "odd whole number"),
    (["--majority", "1"], "odd whole number"),
    (["--mmu", "2acres"], "12, 12px or 0.5ha"),
    (["--mmu", "0"], "positive number"),
])
def test_bad_settings_exit_2_with_one_line(tmp_path, args, words):
    files, training, field, _ = SCENES["s2-t11upt"]
    result = run_cli("classify", *files, "-t", training, "--class-field", field, "-o", tmp_path / "m.tif", *args)
    assert result.returncode == 2 and words in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "m.tif").exists()


def test_hectares_need_a_projected_crs():
    from landclass_ui.imagery import open_image

    grid = open_image(str(DATA / "s2_amazon" / "sen2_L2A_12band.tif")).grid  # EPSG:4326
    with pytest.raises(RecipeError, match="give it in pixels"):
        regularization_pixels(RegularizationRef(None, 0.5, "ha"), grid)
    assert regularization_pixels(RegularizationRef(3, 4, "px"), grid) == (3, 4)
    t11 = open_image([str(p) for p in SCENES["s2-t11upt"][0]]).grid
    assert regularization_pixels(RegularizationRef(None, 1, "ha"), t11) == (None, 3)  # 10000 / 3600 m² -> 3 px


def test_recipe_round_trip_leaves_no_regularization_out(tmp_path):
    recipe = Recipe(name="r")
    assert "regularization" not in recipe.to_dict()
    recipe.regularization = RegularizationRef(7, 12, "px")
    recipe.save(tmp_path / "r.json")
    assert Recipe.load(tmp_path / "r.json").regularization == RegularizationRef(7, 12.0, "px")


def test_cls_regularization_box_edits_the_recipe(tmp_path):
    from landclass_ui.store import RecipeStore
    from landclass_ui.ui.postprocess import RegularizationBox

    store = RecipeStore(Recipe(name="cls"), tmp_path / "work" / "recipe.json")
    box = RegularizationBox(store)
    box.majority.value = 5
    box.unit.value = "ha"
    box.mmu.value = "0.5"
    assert store.recipe.regularization == RegularizationRef(5, 0.5, "ha")
    saved = json.loads((tmp_path / "work" / "recipe.json").read_text())
    assert saved["regularization"] == {"majority": 5, "mmu": 0.5, "mmu_unit": "ha"}
    box.mmu.value = "half a hectare"
    assert "landclass-msg-error" in box.message.value and "0.5" in box.message.value
    assert store.recipe.regularization == RegularizationRef(5, 0.5, "ha")  # unchanged
    box.mmu.value = ""
    box.majority.value = 0
    assert not store.recipe.regularization.active
    assert "regularization" not in json.loads((tmp_path / "work" / "recipe.json").read_text())


def test_results_md_says_how_the_map_was_made(tmp_path):
    files, training, field, _ = SCENES["s2-t11upt"]
    result = run_cli("classify", *files, "-t", training, "--class-field", field, "-o", tmp_path / "m.tif",
                     "--majority", "3", "--mmu", "4", "--validation-ratio", "0.5")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "m_RESULTS.md").read_text()
    section = text.split("## How the map was made")[1].split("## Recipe")[0]
    assert "cloud mask: 0.05 % of the image is nodata" in section
    assert "regularization (majority 3x3, minimum mapping unit 4 px): majority 3x3 changed" in section
    assert '"regularization": {' in text.split("## Recipe")[1]


def test_hold_out_accuracy_is_read_off_the_regularized_map(tmp_path):
    """The hold-out pixels are scored on the written (regularized) map, as a reference sample is, not on the
    classifier's own predictions: with a 7 x 7 majority filter some of them change class."""
    from landclass_ui.pipeline import hold_out, map_values_at, prepare, run
    from landclass_ui.recipe import ImageRef, TrainingRef

    files, training, field, _ = SCENES["l5-amazon"]
    recipe = Recipe(name="l5", images=[ImageRef(str(p)) for p in files],
                    training=[TrainingRef("file", str(training), field)], regularization=RegularizationRef(7))
    result = run(recipe, str(tmp_path / "map.tif"), validation_ratio=0.5, seed=3, progress=False)
    held = hold_out(prepare(recipe).samples, 0.5, seed=3)
    frame = held.validation.frame
    mapped = map_values_at(result.classification, frame["x"].to_numpy(), frame["y"].to_numpy())
    predicted = result.model.estimator.predict(held.validation.features)
    assert (mapped != predicted).sum() > 0  # the filter changed some validation pixels
    truth = held.validation.classes
    assert result.accuracy.overall_accuracy == pytest.approx((mapped == truth).mean())
    assert result.accuracy.overall_accuracy != pytest.approx((predicted == truth).mean())


def test_winners_equal_numpy_argmax_and_max_also_on_ties():
    """The column-wise winner (landclass_ui.model.winners) is numpy's argmax (the first of tied columns) and max,
    on random probabilities with ties, for 1 to 9 classes."""
    from landclass_ui.model import winners

    rng = np.random.default_rng(3)
    for k in range(1, 10):
        proba = rng.integers(0, 5, (5000, k)).astype(np.float64) / 4  # many ties
        best, top = winners(proba)
        assert np.array_equal(best, proba.argmax(axis=1)) and np.array_equal(top, proba.max(axis=1))


def test_fill_where_is_numpy_where_on_irregular_masks():
    """The branch-free in-place select (landclass_ui._arrays.fill_where) gives np.where's values on random masks
    of every density, 1-D and 2-D, for every uint8 value; the mask is used up, the scratch is only work space."""
    from landclass_ui._arrays import fill_where

    rng = np.random.default_rng(5)
    for shape in [(7,), (1000,), (37, 53)]:
        for density in (0.0, 0.1, 0.5, 0.9, 1.0):
            for value in (0, 1, 128, 254, 255):
                out = rng.integers(0, 256, shape).astype(np.uint8)
                where = rng.random(shape) < density
                expected = np.where(where, np.uint8(value), out)
                fill_where(out, value, where, np.empty(shape, np.uint8))
                assert np.array_equal(out, expected), (shape, density, value)
