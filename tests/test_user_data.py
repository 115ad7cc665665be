"""The engine pieces that let a user's own data in: class mapping of training files, matching a file's classes
with a legend, sensors from product names, composites from band roles, the recipe library (New / Open)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from landclass_ui.display import composite_bands
from landclass_ui.errors import RecipeError, TrainingDataError
from landclass_ui.imagery import open_image
from landclass_ui.legend import Legend, match_labels
from landclass_ui.recipe import Recipe, TrainingRef
from landclass_ui.sample import sample_paths
from landclass_ui.sensors import resolve_roles, sensor_from_paths
from landclass_ui.store import RecipeStore, safe_file_name
from landclass_ui.training import read_training

DATA = Path(__file__).parent / "data"
L5_POLYGONS = DATA / "l5_amazon" / "training_polygons.gpkg"
T11UPT = DATA / "s2_t11upt"
L8 = DATA / "l8_t11upt"
LEGEND = Legend.from_list([{"value": 1, "name": "FARM", "color": "#94ff00"},
                           {"value": 2, "name": "FOREST", "color": "#007f46"},
                           {"value": 3, "name": "WATER", "color": "#0094ff"}])


# --- training files through a class mapping ------------------------------------------------------------


def test_remap_relabels_and_drops_features():
    plain = read_training(L5_POLYGONS, "class")
    counts = plain["label"].value_counts()
    mapped = read_training(L5_POLYGONS, "class", remap={"Cleared ": "FARM", "fallen_dry": None})
    assert set(mapped["label"]) == {"FARM", "forest", "water"}
    assert (mapped["label"] == "FARM").sum() == counts["cleared"]
    assert len(mapped) == len(plain) - counts["fallen_dry"]
    assert any("left out" in m for m in mapped.attrs["messages"])


def test_remap_that_ignores_everything_is_refused():
    with pytest.raises(TrainingDataError, match="ignore"):
        read_training(L5_POLYGONS, "class", remap={c: None for c in ("forest", "water", "cleared", "fallen_dry")})


def test_remap_survives_the_recipe_file(tmp_path):
    recipe = Recipe(training=[TrainingRef("file", path=str(L5_POLYGONS), class_field="class",
                                          remap={"cleared": "FARM", "fallen_dry": None})])
    recipe.save(tmp_path / "r.json")
    again = Recipe.load(tmp_path / "r.json")
    assert again.training[0].remap == {"cleared": "FARM", "fallen_dry": None}
    assert json.loads((tmp_path / "r.json").read_text())["training"][0]["remap"]["fallen_dry"] is None


def test_match_labels_lists_unknown_and_absent_classes():
    labels = read_training(L5_POLYGONS, "class")["label"]
    m = match_labels(labels, LEGEND)
    assert (m.known, m.unknown, m.absent) == (["forest", "water"], ["cleared", "fallen_dry"], ["FARM"])
    assert not m.complete
    assert match_labels(["farm", "3"], LEGEND).complete  # names ignoring case, or values


def test_with_classes_takes_next_values_and_unused_colours():
    more = LEGEND.with_classes(["cleared", "fallen_dry"], {"cleared": "#94ff00"})  # a colour already in use
    assert more.values == [1, 2, 3, 4, 5] and more.names[3:] == ["cleared", "fallen_dry"]
    colors = [e.color for e in more]
    assert len(set(colors)) == 5


# --- sensors and composites ----------------------------------------------------------------------------


@pytest.mark.parametrize("paths, sensor", [
    ([L8 / "LC08_L2SP_043024_20200802_20200914_02_T1_SR_B4.tif"], "landsat-8-9"),
    ([DATA / "l5_amazon" / "LT52240631988227CUB02_B3.TIF"], "landsat-5"),
    ([T11UPT / "T11UPT_20200804T183919_B04_60m.jp2"], "sentinel-2"),
    ([sample_paths().safe], "sentinel-2"),
    ([DATA / "s2_amazon" / "sen2_L2A_12band.tif"], None),
    ([DATA / "l5_amazon" / "LT52240631988227CUB02_B3.TIF", T11UPT / "T11UPT_20200804T183919_B04_60m.jp2"], None),
])
def test_sensor_from_product_names(paths, sensor):
    assert sensor_from_paths([str(p) for p in paths]) == sensor


@pytest.mark.parametrize("files, sensor, expected", [
    # Landsat 8 OLI: B4 red, B3 green, B2 blue (not the first three bands reversed: B4 B3 B2 by luck only)
    (sorted(L8.glob("LC08_*_SR_B*.tif")), "landsat-8-9", ["B4", "B3", "B2"]),
    # Landsat 5 TM: B3 red, B2 green, B1 blue
    (sorted((DATA / "l5_amazon").glob("*_B[123457].TIF")), "landsat-5", ["B3", "B2", "B1"]),
    # Sentinel-2 band files in name order (B02 B03 B04 B11 B12 B8A): B04 B03 B02
    (sorted(T11UPT.glob("T11UPT_*_B*_60m.jp2")), None, ["B04", "B03", "B02"]),
])
def test_true_colour_from_the_sensor(files, sensor, expected):
    stack = open_image([str(f) for f in files])
    roles = resolve_roles(stack.band_names, sensor or sensor_from_paths([str(f) for f in files]))
    bands, note = composite_bands(stack.band_names, "true colour", roles)
    assert (bands, note) == (expected, None)


def test_composite_without_roles_shows_the_first_three_bands_and_says_why():
    bands, note = composite_bands(["b1", "b2", "b3", "b4"], "false colour (NIR, red, green)", {})
    assert bands == ["b1", "b2", "b3"]
    assert "nir" in note and "IMG" in note
    assert composite_bands(["x"], "true colour", {})[0] == ["x", "x", "x"]


# --- the recipe library --------------------------------------------------------------------------------


def test_safe_file_names():
    assert safe_file_name("Classification_2026-11-23_18-09-33") == "Classification_2026-11-23_18-09-33"
    assert safe_file_name('a/b\\c:d*e?"f<g>h|') == "a_b_c_d_e_f_g_h"
    assert safe_file_name("NUL") == "NUL_" and safe_file_name("com1.json") == "com1.json_"
    assert safe_file_name("...") == "recipe"


def test_library_keeps_every_recipe_and_opens_it_again(tmp_path):
    store = RecipeStore.open(tmp_path / "recipe.json", lambda: Recipe(name="first"), library=tmp_path / "recipes")
    store.edit("legend", lambda r: setattr(r, "legend", LEGEND.to_list()))
    assert (tmp_path / "recipes" / "first.json").is_file()
    store.start(Recipe(name="second"), "new recipe")
    assert store.recipe.name == "second" and not store.can_undo
    assert json.loads((tmp_path / "recipe.json").read_text())["name"] == "second"
    assert set(store.saved_names()) == {"first", "second"}
    store.open_saved("first")
    assert store.recipe.name == "first" and store.recipe.legend == LEGEND.to_list()
    with pytest.raises(RecipeError, match="no saved recipe called 'third'"):
        store.open_saved("third")


def test_rename_moves_the_library_copy_and_refuses_a_taken_name(tmp_path):
    store = RecipeStore(Recipe(name="a"), tmp_path / "recipe.json", library=tmp_path / "lib")
    store.save()
    store.start(Recipe(name="b"), "new recipe")
    store.edit("rename", lambda r: setattr(r, "name", "c"))
    assert sorted(store.saved_names()) == ["a", "c"]
    with pytest.raises(RecipeError, match="exists already"):
        store.edit("rename", lambda r: setattr(r, "name", "a"))
    assert store.recipe.name == "c"

