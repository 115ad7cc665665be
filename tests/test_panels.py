"""Dashboard panels used as a person uses them: set widget values, click buttons, then check the recipe in the
store *and* the recipe file autosaved on disk. No browser: the widgets are driven from Python.

Most panels are tested on their own with a :class:`RecipeStore`; the full :class:`LandclassApp` is built once
(module fixture) for the click-to-classify round trip and once more to check that reopening loses nothing.
"""
import csv
import json
import math
import shutil
from pathlib import Path

import geopandas as gpd
import ipywidgets as W
import numpy as np
import pytest
import rasterio
from pyproj import Transformer

from landclass_ui.overlay import EMPTY_PNG
from landclass_ui.recipe import ImageRef, Recipe, TrainingRef
from landclass_ui.sample import sample_paths
from landclass_ui.store import RecipeStore
from landclass_ui.ui.auxiliary_panel import AuxPanel
from landclass_ui.ui.cls import ClassifierPanel
from landclass_ui.ui.img import ImagePanel
from landclass_ui.ui.leg import LegendPanel
from landclass_ui.ui.map import PICK_RADIUS_PX, MapView, metres_per_pixel, screen_size
from landclass_ui.ui.tasks import ExportPanel
from landclass_ui.ui.trn import TrainingPanel

DATA = Path(__file__).parent / "data"
SAMPLE = sample_paths()
L5_DIR = DATA / "l5_amazon"
L5_BANDS = [str(L5_DIR / f"LT52240631988227CUB02_B{i}.TIF") for i in (1, 2, 3, 4, 5, 7)]
L5_POLYGONS = str(L5_DIR / "training_polygons.gpkg")
AMAZON_S2 = str(DATA / "s2_amazon" / "sen2_L2A_12band.tif")
AMAZON_S2_POLYGONS = str(DATA / "s2_amazon" / "training_polygons.geojson")

LEGEND = [{"value": 1, "name": "FARM", "color": "#94ff00"},
          {"value": 2, "name": "FOREST", "color": "#007f46"},
          {"value": 3, "name": "WATER", "color": "#0094ff"}]
NAME = "panel_test"


# ---------------------------------------------------------------------------------------------------------
# helpers


def make_store(tmp_path, *, points=(), legend=LEGEND, images=None, training=None, name=NAME) -> RecipeStore:
    """A store on ``tmp_path/work/recipe.json`` holding the sample image, ``legend`` and ``points``; the file is
    written once so that "nothing changed" can be checked on disk too."""
    recipe = Recipe(
        name=name,
        images=[ImageRef(SAMPLE.safe)] if images is None else images,
        legend=None if legend is None else [dict(e) for e in legend],
        training=[TrainingRef("points", points=[dict(p) for p in points])] if training is None else training,
    )
    store = RecipeStore(recipe, tmp_path / "work" / "recipe.json")
    store.save()
    return store


def on_disk(store: RecipeStore) -> dict:
    return json.loads(Path(store.path).read_text(encoding="utf-8"))


def disk_points(store: RecipeStore) -> list[dict]:
    return [p for t in on_disk(store)["training"] if t["kind"] == "points" for p in t["points"]]


def store_points(store: RecipeStore) -> list[dict]:
    return [p for t in store.recipe.training if t.kind == "points" for p in t.points]


def is_error(message: W.HTML) -> bool:
    return "landclass-msg-error" in message.value


def counts(panel: TrainingPanel) -> dict[int, int]:
    """The per-class point counts shown in the TRN table (``data-value`` cell -> number)."""
    import re

    return {int(v): int(n) for v, n in
            re.findall(r"data-value='(\d+)'[^>]*>\s*(\d+)\s*</td>", panel.counts.value)}


def row(panel: LegendPanel, i: int):
    """The widgets (value, name, colour, remove) of legend row ``i``."""
    return panel.rows.children[i].children


P1 = {"x": 1.3, "y": 43.6, "class": 1}
P2 = {"x": 1.4, "y": 43.7, "class": 2}
P3 = {"x": 1.5, "y": 43.8, "class": 3}


# ---------------------------------------------------------------------------------------------------------
# LEG


def test_legend_edits_reach_the_recipe_and_the_file(tmp_path):
    store = make_store(tmp_path)
    panel = LegendPanel(store, str(tmp_path))
    assert len(panel.rows.children) == 3
    row(panel, 0)[1].value = "Cropland"
    row(panel, 1)[2].value = "#123456"
    row(panel, 2)[0].value = 7
    expected = [{"value": 1, "name": "Cropland", "color": "#94ff00"},
                {"value": 2, "name": "FOREST", "color": "#123456"},
                {"value": 7, "name": "WATER", "color": "#0094ff"}]
    assert store.recipe.legend == expected
    assert on_disk(store)["legend"] == expected
    assert not is_error(panel.message)


@pytest.mark.parametrize("widget, value, words", [
    (0, 1, ["value 1", "twice"]),            # row 2 takes row 1's value
    (2, "#94ff00", ["#94ff00", "twice"]),    # row 2 takes row 1's colour
    (1, "   ", ["no name"]),                 # row 2's name blanked
])
def test_invalid_legend_edit_is_not_applied(tmp_path, widget, value, words):
    store = make_store(tmp_path)
    panel = LegendPanel(store, str(tmp_path))
    row(panel, 0)[1].value = "Cropland"  # a valid edit first: it must survive the invalid one
    valid = [dict(LEGEND[0], name="Cropland"), LEGEND[1], LEGEND[2]]
    assert store.recipe.legend == valid
    row(panel, 1)[widget].value = value
    assert store.recipe.legend == valid
    assert on_disk(store)["legend"] == valid
    assert is_error(panel.message)
    for word in words:
        assert word in panel.message.value
    # fixing the draft applies it and clears the message
    row(panel, 1)[widget].value = {0: 2, 2: "#007f46", 1: "FOREST"}[widget]
    assert store.recipe.legend == valid and on_disk(store)["legend"] == valid
    assert panel.message.value == ""


def test_add_class_takes_the_next_value_and_an_unused_colour(tmp_path):
    legend = [{"value": 1, "name": "a", "color": "#1f77b4"}, {"value": 5, "name": "b", "color": "#ff7f0e"},
              {"value": 3, "name": "c", "color": "#2ca02c"}]
    store = make_store(tmp_path, legend=legend)
    panel = LegendPanel(store, str(tmp_path))
    panel.add_button.click()
    new = store.recipe.legend
    assert len(new) == 4 and new[:3] == legend
    added = new[3]
    assert added["value"] == 6
    assert added["name"].strip()
    assert added["color"] not in {e["color"] for e in legend}
    assert added["color"].startswith("#") and len(added["color"]) == 7
    assert on_disk(store)["legend"] == new
    assert len(panel.rows.children) == 4


def test_removing_a_class_with_points_is_refused(tmp_path):
    store = make_store(tmp_path, points=[P2])
    panel = LegendPanel(store, str(tmp_path))
    row(panel, 1)[3].click()  # remove FOREST, which has a point
    assert store.recipe.legend == LEGEND and on_disk(store)["legend"] == LEGEND
    assert is_error(panel.message) and "2" in panel.message.value and "point" in panel.message.value
    assert len(panel.rows.children) == 3 and panel.draft == LEGEND
    row(panel, 1)[0].value = 9  # renumbering it would orphan the point too
    assert store.recipe.legend == LEGEND and is_error(panel.message)
    row(panel, 1)[0].value = 2
    row(panel, 2)[3].click()  # WATER has no point: removed
    assert store.recipe.legend == LEGEND[:2] and on_disk(store)["legend"] == LEGEND[:2]
    assert len(panel.rows.children) == 2


def test_legend_export_writes_sepal_layout(tmp_path):
    store = make_store(tmp_path)
    panel = LegendPanel(store, str(tmp_path))
    panel.export_button.click()
    path = tmp_path / f"{NAME}_legend.csv"
    assert path.read_text().splitlines() == ["color,value,label", "#94ff00,1,FARM", "#007f46,2,FOREST",
                                             "#0094ff,3,WATER"]
    assert str(path) in panel.message.value and not is_error(panel.message)


def test_legend_import_sepal_csv_replaces_the_legend(tmp_path):
    store = make_store(tmp_path)
    panel = LegendPanel(store, str(tmp_path))
    src = tmp_path / "sepal.csv"
    src.write_text("code,class,color\n10,Water,#0000FF\n20,Forest,#00ff00\n30,Bare soil,#a0a0a0\n")
    panel.csv_path.value = str(src)
    panel.import_button.click()
    expected = [{"value": 10, "name": "Water", "color": "#0000ff"},
                {"value": 20, "name": "Forest", "color": "#00ff00"},
                {"value": 30, "name": "Bare soil", "color": "#a0a0a0"}]
    assert store.recipe.legend == expected and on_disk(store)["legend"] == expected
    assert len(panel.rows.children) == 3 and row(panel, 2)[1].value == "Bare soil"
    assert not is_error(panel.message)


@pytest.mark.parametrize("kind", ["qml", "iota2", "semicolons"])
def test_legend_import_of_a_qgis_style_iota2_pair_or_semicolon_csv(tmp_path, kind):
    from landclass_ui.legend import Legend, LegendEntry

    legend = Legend([LegendEntry(10, "Forêt", "#006400"), LegendEntry(20, "Eau", "#0064ff"),
                     LegendEntry(30, "Sol nu", "#a0a0a0")])
    if kind == "qml":
        src = tmp_path / "style.qml"
        legend.to_qml(src)
    elif kind == "iota2":
        src = tmp_path / "nomenclature.txt"
        legend.to_iota2(tmp_path / "colorFile.txt", src)
    else:
        src = tmp_path / "legend.csv"
        src.write_bytes("value;name;color\n10;Forêt;#006400\n20;Eau;#0064ff\n30;Sol nu;#a0a0a0\n".encode("latin-1"))
    store = make_store(tmp_path)
    panel = LegendPanel(store, str(tmp_path))
    panel.csv_path.value = str(src)
    panel.import_button.click()
    assert not is_error(panel.message), panel.message.value
    assert store.recipe.legend == legend.to_list() and on_disk(store)["legend"] == legend.to_list()
    assert len(panel.rows.children) == 3 and row(panel, 0)[1].value == "Forêt"


@pytest.mark.parametrize("name", ["missing.csv", ""])
def test_legend_import_of_a_missing_file_shows_an_error(tmp_path, name):
    store = make_store(tmp_path)
    panel = LegendPanel(store, str(tmp_path))
    panel.csv_path.value = str(tmp_path / name) if name else ""
    panel.import_button.click()  # no exception escapes
    assert is_error(panel.message)
    assert store.recipe.legend == LEGEND and on_disk(store)["legend"] == LEGEND


def test_legend_import_that_drops_a_class_with_points_is_refused(tmp_path):
    """Like removing a class by hand: an imported legend must not orphan collected points."""
    store = make_store(tmp_path, points=[P3])
    panel = LegendPanel(store, str(tmp_path))
    src = tmp_path / "two.csv"
    src.write_text("code,class,color\n1,FARM,#94ff00\n2,FOREST,#007f46\n")
    panel.csv_path.value = str(src)
    panel.import_button.click()
    assert store.recipe.legend == LEGEND and on_disk(store)["legend"] == LEGEND
    assert is_error(panel.message) and "3" in panel.message.value


# ---------------------------------------------------------------------------------------------------------
# TRN


def test_click_adds_points_of_the_chosen_class_and_counts_them(tmp_path):
    store = make_store(tmp_path)
    panel = TrainingPanel(store, str(tmp_path))
    assert counts(panel) == {1: 0, 2: 0, 3: 0}
    panel.chooser.value = 3
    panel.click(43.6, 1.3, None)
    assert store_points(store) == [{"x": 1.3, "y": 43.6, "class": 3}]
    assert disk_points(store) == [{"x": 1.3, "y": 43.6, "class": 3}]
    panel.chooser.value = 1
    panel.click(43.7, 1.4, None)
    panel.click(43.8, 1.5, None)
    assert [p["class"] for p in disk_points(store)] == [3, 1, 1]
    assert counts(panel) == {1: 2, 2: 0, 3: 1}
    assert "3 point(s)" in panel.counts.value
    assert panel.chooser.value == 1  # the chosen class survives the redraws


def test_chooser_starts_on_a_class_so_the_first_click_adds_a_point(tmp_path):
    """A legend of three classes: the class chooser must show one of them, and a click must not say the legend
    has no class."""
    store = make_store(tmp_path)
    panel = TrainingPanel(store, str(tmp_path))
    assert panel.chooser.value in (1, 2, 3)
    panel.click(43.6, 1.3, None)
    assert not is_error(panel.message), panel.message.value
    assert len(disk_points(store)) == 1


def test_select_relabel_delete_and_undo(tmp_path):
    store = make_store(tmp_path, points=[P1, P2, P3])
    panel = TrainingPanel(store, str(tmp_path))
    assert panel.relabel_button.disabled and panel.delete_button.disabled
    panel.chooser.value = 3
    panel.click(P2["y"], P2["x"], 1)  # a click on point 2 (index 1) selects it, adds nothing
    assert panel.selected == 1 and len(store_points(store)) == 3
    assert not panel.relabel_button.disabled and not panel.delete_button.disabled
    assert "point 2" in panel.selection.value
    panel.relabel_button.click()
    relabelled = [P1, dict(P2, **{"class": 3}), P3]
    assert store_points(store) == relabelled and disk_points(store) == relabelled
    assert counts(panel) == {1: 1, 2: 0, 3: 2}
    panel.delete_button.click()
    assert store_points(store) == [P1, P3] and disk_points(store) == [P1, P3]
    assert panel.selected is None and panel.delete_button.disabled
    panel.undo_button.click()
    assert disk_points(store) == relabelled
    panel.undo_button.click()
    assert disk_points(store) == [P1, P2, P3] and store_points(store) == [P1, P2, P3]


def test_clear_all_asks_first(tmp_path):
    store = make_store(tmp_path, points=[P1, P2])
    panel = TrainingPanel(store, str(tmp_path))
    assert panel.confirm.children == ()
    panel.clear_button.click()
    yes, no = panel.confirm.children
    assert "2" in yes.description
    assert disk_points(store) == [P1, P2]  # nothing deleted yet
    no.click()
    assert panel.confirm.children == () and disk_points(store) == [P1, P2] and store_points(store) == [P1, P2]
    panel.clear_button.click()
    panel.confirm.children[0].click()
    assert store_points(store) == [] and disk_points(store) == [] and panel.confirm.children == ()
    assert counts(panel) == {1: 0, 2: 0, 3: 0}
    panel.undo_button.click()
    assert disk_points(store) == [P1, P2]


def test_export_points_csv(tmp_path):
    store = make_store(tmp_path, points=[P1, P3])
    panel = TrainingPanel(store, str(tmp_path))
    panel.export_button.click()
    path = tmp_path / f"{NAME}_reference_data.csv"
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["XCoordinate", "YCoordinate", "class"]
    assert [(float(x), float(y), int(c)) for x, y, c in rows[1:]] == [(1.3, 43.6, 1), (1.5, 43.8, 3)]
    assert str(path) in panel.message.value


def test_load_training_file_adds_a_file_entry(tmp_path):
    store = make_store(tmp_path, points=[P1])
    panel = TrainingPanel(store, str(tmp_path))
    panel.file_path.value = SAMPLE.polygons
    panel.class_field.value = "class"
    panel.load_button.click()
    assert not is_error(panel.message), panel.message.value
    files = [t for t in on_disk(store)["training"] if t["kind"] == "file"]
    assert len(files) == 1
    assert Path(files[0]["path"]).resolve() == Path(SAMPLE.polygons).resolve()
    assert files[0]["class_field"] == "class"
    assert [t.kind for t in store.recipe.training].count("file") == 1
    assert disk_points(store) == [P1]  # the collected points stay
    assert "polygons.geojson" in panel.files.value


@pytest.mark.parametrize("path, field, word", [
    (SAMPLE.polygons, "landcover", "landcover"),     # no such column
    ("/nonexistent/polygons.geojson", "class", "not found"),
])
def test_bad_training_file_changes_nothing(tmp_path, path, field, word):
    store = make_store(tmp_path, points=[P1])
    before = on_disk(store)
    panel = TrainingPanel(store, str(tmp_path))
    panel.file_path.value = path
    panel.class_field.value = field
    panel.load_button.click()
    assert is_error(panel.message) and word in panel.message.value
    assert on_disk(store) == before and store.recipe.to_dict() == before
    assert panel.files.value == ""


def test_a_training_file_can_be_removed_and_undone(tmp_path):
    store = make_store(tmp_path, points=[P1])
    panel = TrainingPanel(store, str(tmp_path))
    panel.file_path.value = SAMPLE.polygons
    panel.load_button.click()
    (button,) = panel.file_buttons.children
    assert "polygons.geojson" in button.description
    button.click()
    assert [t["kind"] for t in on_disk(store)["training"]] == ["points"]
    assert disk_points(store) == [P1] and panel.file_buttons.children == () and panel.files.value == ""
    assert "removed polygons.geojson" in panel.message.value
    panel.undo_button.click()
    assert [t["kind"] for t in on_disk(store)["training"]] == ["points", "file"]
    assert len(panel.file_buttons.children) == 1


def dialog_choices(panel: TrainingPanel) -> dict[str, W.Dropdown]:
    """The class-matching dialog's rows: file class -> its dropdown."""
    out = {}
    for child in panel.dialog.children:
        if isinstance(child, W.HBox) and isinstance(child.children[-1], W.Dropdown):
            label = child.children[0].value.replace("<b>", "").replace("</b>", "")
            out[label] = child.children[-1]
    return out


def dialog_button(panel: TrainingPanel, css: str) -> W.Button | None:
    for child in panel.dialog.children:
        if isinstance(child, W.HBox):
            for b in child.children:
                if isinstance(b, W.Button) and css in b._dom_classes:
                    return b
    return None


def load(panel: TrainingPanel, path, field="class") -> None:
    panel.file_path.value = str(path)
    panel.class_field.value = field
    panel.load_button.click()


def test_file_with_classes_the_legend_lacks_asks_and_changes_nothing_yet(tmp_path):
    """L5 polygons (forest, water, cleared, fallen_dry) against FARM/FOREST/WATER with a point in use: a dialog
    lists cleared and fallen_dry, names FARM as absent from the file, and the recipe is untouched until Apply."""
    store = make_store(tmp_path, points=[P1])
    before = on_disk(store)
    panel = TrainingPanel(store, str(tmp_path))
    load(panel, L5_POLYGONS)
    assert not is_error(panel.message), panel.message.value
    assert sorted(dialog_choices(panel)) == ["cleared", "fallen_dry"]
    text = " ".join(c.value for c in panel.dialog.children if isinstance(c, W.HTML))
    assert "FARM" in text and "training_polygons.gpkg" in text
    assert dialog_button(panel, "landclass-match-replace") is None  # the legend is in use: no replacing it
    assert on_disk(store) == before and store.recipe.to_dict() == before
    dialog_button(panel, "landclass-match-cancel").click()
    assert panel.dialog.children == () and on_disk(store) == before


def test_dialog_maps_adds_and_ignores_classes(tmp_path):
    from landclass_ui.pipeline import prepare

    store = make_store(tmp_path, points=[P1], images=[ImageRef(L5_BANDS[0]), *map(ImageRef, L5_BANDS[1:])])
    panel = TrainingPanel(store, str(tmp_path))
    load(panel, L5_POLYGONS)
    choices = dialog_choices(panel)
    choices["cleared"].value = "FARM"                       # map to a legend class
    choices["fallen_dry"].label = "add to legend"           # add as a new class
    dialog_button(panel, "landclass-match-apply").click()
    assert not is_error(panel.message), panel.message.value
    saved = on_disk(store)
    assert [e["name"] for e in saved["legend"]] == ["FARM", "FOREST", "WATER", "fallen_dry"]
    assert saved["legend"][3]["value"] == 4
    assert saved["legend"][3]["color"] not in {e["color"] for e in LEGEND}
    (ref,) = [t for t in saved["training"] if t["kind"] == "file"]
    assert ref["remap"] == {"cleared": "FARM"}
    assert panel.dialog.children == ()
    # the engine reads the file through the mapping: cleared polygons train FARM; the map point P1 is off
    # this scene and is dropped with a message
    store.edit("drop points", lambda r: r.training[0].points.clear())
    prepared = prepare(Recipe.from_dict(on_disk(store)))
    labels = set(prepared.samples.frame["label"])
    assert labels == {"FARM", "FOREST", "WATER", "fallen_dry"}
    # ignoring instead drops those polygons
    store.undo(), store.undo()
    load(panel, L5_POLYGONS)
    choices = dialog_choices(panel)
    choices["cleared"].label = "ignore"
    choices["fallen_dry"].label = "ignore"
    dialog_button(panel, "landclass-match-apply").click()
    (ref,) = [t for t in on_disk(store)["training"] if t["kind"] == "file"]
    assert ref["remap"] == {"cleared": None, "fallen_dry": None}
    assert [e["name"] for e in on_disk(store)["legend"]] == ["FARM", "FOREST", "WATER"]


@pytest.mark.parametrize("legend, replaced", [(None, False), ([], False), (LEGEND, True)])
def test_empty_or_untouched_legend_is_built_from_the_file(tmp_path, legend, replaced):
    """No legend, or the first-run legend used by no training data: the file's classes become the legend
    (sorted names, values 1..n); a replaced legend comes back with Undo."""
    store = make_store(tmp_path, legend=legend)
    panel = TrainingPanel(store, str(tmp_path), default_legend=LEGEND)
    load(panel, L5_POLYGONS)
    assert not is_error(panel.message), panel.message.value
    saved = on_disk(store)["legend"]
    assert [(e["value"], e["name"]) for e in saved] == [(1, "cleared"), (2, "fallen_dry"), (3, "forest"),
                                                        (4, "water")]
    assert len({e["color"] for e in saved}) == 4
    assert ("replaced" in panel.message.value) == replaced
    store.undo()
    assert on_disk(store)["legend"] == legend


def test_dialog_refuses_to_ignore_every_class(tmp_path):
    typed = [{"value": 10, "name": "Urban", "color": "#ff0000"}, {"value": 20, "name": "Crops", "color": "#ffff00"}]
    store = make_store(tmp_path, legend=typed, points=[{"x": 1.3, "y": 43.6, "class": 10}])
    before = on_disk(store)
    panel = TrainingPanel(store, str(tmp_path))
    load(panel, AMAZON_S2_POLYGONS)
    for dd in dialog_choices(panel).values():
        dd.label = "ignore"
    dialog_button(panel, "landclass-match-apply").click()
    assert is_error(panel.message) and "ignore" in panel.message.value
    assert on_disk(store) == before and len(panel.dialog.children) > 0  # the dialog stays to choose again


def test_edited_unused_legend_offers_to_use_the_files_classes(tmp_path):
    """A legend the user typed (not the first-run one), used by nothing yet: the dialog offers to replace it."""
    typed = [{"value": 10, "name": "Urban", "color": "#ff0000"}, {"value": 20, "name": "Crops", "color": "#ffff00"}]
    store = make_store(tmp_path, legend=typed)
    panel = TrainingPanel(store, str(tmp_path), default_legend=LEGEND)
    load(panel, AMAZON_S2_POLYGONS)
    assert sorted(dialog_choices(panel)) == ["dryout", "forest", "village", "water"]
    dialog_button(panel, "landclass-match-replace").click()
    assert [e["name"] for e in on_disk(store)["legend"]] == ["dryout", "forest", "village", "water"]
    assert panel.dialog.children == ()


def test_relative_training_path_still_works_after_reopening(tmp_path, monkeypatch):
    """A path typed relative to the notebook's folder must name the same file when the recipe is reopened
    (relative paths in a recipe file are resolved against the recipe's folder)."""
    notebook = tmp_path / "notebook"
    notebook.mkdir()
    shutil.copy(SAMPLE.polygons, notebook / "mine.geojson")
    monkeypatch.chdir(notebook)
    store = make_store(tmp_path)  # recipe in tmp_path/work, not in the notebook's folder
    panel = TrainingPanel(store, str(tmp_path / "work"))
    panel.file_path.value = "mine.geojson"
    panel.load_button.click()
    assert not is_error(panel.message), panel.message.value
    reopened = Recipe.load(store.path)
    (ref,) = [t for t in reopened.training if t.kind == "file"]
    assert Path(ref.path).resolve() == (notebook / "mine.geojson").resolve()


# ---------------------------------------------------------------------------------------------------------
# IMG


@pytest.mark.parametrize("path", [L5_BANDS[3], AMAZON_S2])
def test_open_image_updates_the_recipe_and_the_band_list(tmp_path, path):
    store = make_store(tmp_path)
    panel = ImagePanel(store, start_dir=str(tmp_path))
    assert panel.bands.options == ("B02", "B03", "B04", "B8A")  # the sample at 60 m
    with rasterio.open(path) as src:
        count = src.count
    panel.path.value = path
    panel.open_button.click()
    assert not is_error(panel.message), panel.message.value
    assert [i.path for i in store.recipe.images] == [path]
    assert [i["path"] for i in on_disk(store)["images"]] == [path]
    assert len(panel.bands.options) == count
    assert set(panel.bands.value) == set(panel.bands.options)


def test_select_bands(tmp_path):
    store = make_store(tmp_path)
    panel = ImagePanel(store, start_dir=str(tmp_path))
    panel.path.value = AMAZON_S2
    panel.open_button.click()
    assert "B4" in panel.bands.options and "B8" in panel.bands.options
    panel.bands.value = ("B8", "B4")
    panel.apply_bands.click()
    assert store.recipe.images[0].bands == ["B8", "B4"]
    assert on_disk(store)["images"][0]["bands"] == ["B8", "B4"]
    assert set(panel.bands.value) == {"B4", "B8"}
    panel.bands.value = ()
    panel.apply_bands.click()
    assert is_error(panel.message) and on_disk(store)["images"][0]["bands"] == ["B8", "B4"]
    store.undo()  # back to all bands: the list shows them all again
    assert store.recipe.images[0].bands is None and len(panel.bands.value) == 12


def open_l5_band_files(tmp_path):
    """The IMG panel of a new store, the Landsat 5 band files opened with a pattern, as a user types it."""
    store = make_store(tmp_path)
    panel = ImagePanel(store, start_dir=str(tmp_path))
    panel.path.value = str(L5_DIR / "LT52240631988227CUB02_B[123457].TIF")
    panel.open_button.click()
    return store, panel


def test_bands_of_stacked_files_are_listed_and_chosen_together(tmp_path):
    """Landsat 5 band files opened with a pattern: every file's band is listed; choosing three bands keeps
    their files and leaves the others out of the stack."""
    store, panel = open_l5_band_files(tmp_path)
    assert not is_error(panel.message), panel.message.value
    assert list(panel.bands.options) == ["B1", "B2", "B3", "B4", "B5", "B7"]
    assert len(panel.bands.value) == 6 and "6 band(s) in 6 file(s)" in panel.info.value
    assert store.recipe.derived.sensor == "landsat-5"  # from the product name (LT5...)
    panel.bands.value = ("B4", "B3", "B5")
    panel.apply_bands.click()
    assert [Path(i.path).name[-6:] for i in store.recipe.images] == ["B3.TIF", "B4.TIF", "B5.TIF"]
    assert all(i.bands is None for i in store.recipe.images)
    assert "left out" in panel.message.value and "B1.TIF" in panel.message.value
    assert list(panel.bands.options) == ["B3", "B4", "B5"]
    store.undo()
    assert len(store.recipe.images) == 6 and len(panel.bands.value) == 6


def test_evi_on_dn_asks_for_the_reflectance_scale_and_works_once_it_is_set(tmp_path):
    """Landsat 5 Level-1 DN: EVI is refused with the reason and the fix; the user types the scale in IMG; EVI
    is then accepted and both are in the recipe file."""
    store, panel = open_l5_band_files(tmp_path)
    assert "scale unknown" in panel.info.value
    panel.indices.value = ("ndvi", "evi")
    panel.apply_indices.click()
    assert is_error(panel.message) and "evi assumes surface reflectance" in panel.message.value
    assert "scale" in panel.message.value and store.recipe.derived.indices == []
    panel.scale.value = "ten"
    panel.apply_scale.click()
    assert is_error(panel.message) and "number" in panel.message.value
    panel.scale.value = "0.002"
    panel.apply_scale.click()
    assert not is_error(panel.message), panel.message.value
    assert [i.scale for i in store.recipe.images] == [0.002] * 6
    assert "values: reflectance (0-1)" in panel.info.value
    panel.indices.value = ("ndvi", "evi")
    panel.apply_indices.click()
    assert not is_error(panel.message), panel.message.value
    disk = on_disk(store)
    assert disk["derived"]["indices"] == ["ndvi", "evi"] and disk["images"][0]["scale"] == 0.002
    panel.scale.value = ""  # back to "as read": EVI cannot stay, the edit is refused and nothing changes
    panel.apply_scale.click()
    assert is_error(panel.message) and on_disk(store)["images"][0]["scale"] == 0.002


@pytest.mark.parametrize("kind", ["missing", "corrupt"])
def test_open_bad_image_shows_an_error_and_changes_nothing(tmp_path, kind):
    store = make_store(tmp_path)
    before = on_disk(store)
    panel = ImagePanel(store, start_dir=str(tmp_path))
    bands = panel.bands.options
    path = tmp_path / "scene.tif"
    if kind == "corrupt":
        path.write_bytes(b"II*\x00" + b"this is not really a TIFF" * 20)
    panel.path.value = str(path)
    panel.open_button.click()
    assert is_error(panel.message)
    assert on_disk(store) == before and store.recipe.to_dict() == before
    assert panel.bands.options == bands


def test_relative_image_path_still_works_after_reopening(tmp_path, monkeypatch):
    notebook = tmp_path / "notebook"
    notebook.mkdir()
    shutil.copy(AMAZON_S2, notebook / "scene.tif")
    monkeypatch.chdir(notebook)
    store = make_store(tmp_path)
    panel = ImagePanel(store, start_dir=str(notebook))
    panel.path.value = "scene.tif"
    panel.open_button.click()
    assert not is_error(panel.message), panel.message.value
    reopened = Recipe.load(store.path)
    assert Path(reopened.images[0].path).resolve() == (notebook / "scene.tif").resolve()


# ---------------------------------------------------------------------------------------------------------
# AUX


def test_latitude_checkbox(tmp_path):
    store = make_store(tmp_path)
    panel = AuxPanel(store)
    box = panel.boxes["latitude"]
    assert box.value is False
    box.value = True
    assert store.recipe.auxiliary == ["latitude"] and on_disk(store)["auxiliary"] == ["latitude"]
    box.value = False
    assert store.recipe.auxiliary == [] and on_disk(store)["auxiliary"] == []
    box.value = True
    history = len(store._history)
    store.undo()
    assert box.value is False and store.recipe.auxiliary == [] and on_disk(store)["auxiliary"] == []
    assert len(store._history) == history - 1  # re-syncing the box made no new edit
    store.undo()
    assert box.value is True and on_disk(store)["auxiliary"] == ["latitude"]


# ---------------------------------------------------------------------------------------------------------
# CLS


def test_number_of_trees(tmp_path):
    store = make_store(tmp_path)
    panel = ClassifierPanel(store)
    trees = panel._fields["n_trees"]
    assert trees.value == 25
    trees.value = 50
    assert store.recipe.classifier.params == {"n_trees": 50}
    assert on_disk(store)["classifier"] == {"name": "random-forest", "params": {"n_trees": 50}}
    trees.value = 25  # the default is not stored
    assert store.recipe.classifier.params == {} and on_disk(store)["classifier"]["params"] == {}
    trees.value = 50
    store.undo()
    assert trees.value == 25


def test_invalid_parameter_shows_an_error_and_changes_nothing(tmp_path):
    store = make_store(tmp_path)
    panel = ClassifierPanel(store)
    bag = panel._fields["bag_fraction"]
    bag.value = "0.3"
    assert store.recipe.classifier.params == {"bag_fraction": 0.3}
    bag.value = "2"
    assert is_error(panel.message) and "bag_fraction" in panel.message.value
    assert store.recipe.classifier.params == {"bag_fraction": 0.3}
    assert on_disk(store)["classifier"]["params"] == {"bag_fraction": 0.3}
    bag.value = "lots"
    assert is_error(panel.message) and on_disk(store)["classifier"]["params"] == {"bag_fraction": 0.3}


def test_parameter_error_goes_away_once_the_value_is_valid(tmp_path):
    """Typing a bad value, then the stored value back: the field is valid again, so no error may remain."""
    store = make_store(tmp_path)
    panel = ClassifierPanel(store)
    bag = panel._fields["bag_fraction"]
    bag.value = "2"
    assert is_error(panel.message)
    bag.value = "0.5"  # the default, which is what the recipe holds
    assert store.recipe.classifier.params == {}
    assert not is_error(panel.message), panel.message.value


# ---------------------------------------------------------------------------------------------------------
# Export


def l5_store(tmp_path, class_field="class"):
    return make_store(tmp_path, images=[ImageRef(p) for p in L5_BANDS], legend=None,
                      training=[TrainingRef("file", L5_POLYGONS, class_field)], name="l5_export")


def test_export_writes_cog_legend_and_probability(tmp_path):
    """Export starts a task (its own process) that writes to downloads/<recipe name>/; the task list shows it
    running, then done with its outputs."""
    from rio_cogeo.cogeo import cog_validate

    store = l5_store(tmp_path)
    panel = ExportPanel(store, str(tmp_path))
    assert panel.list.children == () and panel.cancel_button.disabled  # no task yet
    task = panel.button.click() or panel.task
    assert task is not None and task.state == "running" and not panel.cancel_button.disabled
    assert [row.id for row in panel.rows.values()] == [task.id] and "running" in panel.rows[task.id].text.value
    done = panel.wait(180)
    assert done.state == "done", done.message
    assert "wrote" in panel.message.value and not is_error(panel.message), panel.message.value
    assert panel.progress.value == pytest.approx(1.0) and panel.cancel_button.disabled
    output = tmp_path / "downloads" / "l5_export" / "l5_export.tif"
    assert f"files to {output.parent} in " in panel.message.value and ": l5_export.tif, " in panel.message.value
    assert f"in {output.parent}: l5_export.tif, l5_export_legend.csv" in panel.rows[task.id].text.value
    assert "done" in panel.rows[task.id].text.value
    valid, errors, _ = cog_validate(str(output), quiet=True)
    assert valid, errors
    with rasterio.open(L5_BANDS[0]) as band, rasterio.open(output) as src:
        assert (src.width, src.height, src.crs) == (band.width, band.height, band.crs)
        classes = set(np.unique(src.read(1)).tolist())
    legend_csv = output.with_name("l5_export_legend.csv")
    assert str(legend_csv) in done.outputs
    with open(legend_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["color", "value", "label"]
    assert sorted(r["label"] for r in rows) == ["cleared", "fallen_dry", "forest", "water"]
    assert classes <= {int(r["value"]) for r in rows} | {255} and len(classes - {255}) >= 2
    with rasterio.open(output.with_name("l5_export_probability.tif")) as src:
        prob = src.read(1)
    assert ((prob <= 100) | (prob == 255)).all()
    # a new panel (a new page, another kernel) lists the task again
    again = ExportPanel(store, str(tmp_path))
    assert list(again.rows) == [task.id] and "done" in again.rows[task.id].text.value


def test_export_at_a_coarser_scale(tmp_path):
    store = l5_store(tmp_path)
    panel = ExportPanel(store, str(tmp_path))
    panel.scale.value = "60 m"
    panel.output.value = str(tmp_path / "coarse.tif")
    panel.start()
    assert panel.wait(180).state == "done", panel.message.value
    with rasterio.open(L5_BANDS[0]) as band, rasterio.open(tmp_path / "coarse.tif") as src:
        assert src.res == (60.0, 60.0) and src.crs == band.crs
        assert src.width == math.ceil(band.width * band.res[0] / 60)
    panel.scale.value = "10"  # finer than the 30 m pixels: refused, in one line, nothing started
    panel.start()
    assert panel.wait(180).state == "failed" and is_error(panel.message)
    assert "finer than the image&#x27;s 30 m pixels" in panel.message.value, panel.message.value
    panel.scale.value = "thirty"
    assert panel.start() is None and "must be a number of metres" in panel.message.value


def test_export_can_be_cancelled_and_leaves_nothing(tmp_path):
    """The bundled scene (16 windows): Cancel right after Export stops it; no map, no temporary file; the panel
    can export again."""
    store = make_store(tmp_path, legend=None, training=[TrainingRef("file", SAMPLE.polygons, "class")],
                       name="cancelled")
    out = tmp_path / "out"
    panel = ExportPanel(store, str(tmp_path))
    panel.output.value = str(out / "cancelled.tif")
    assert panel.cancel_button.disabled  # nothing to cancel yet
    task = panel.start()
    assert not panel.cancel_button.disabled
    panel.cancel_button.click()
    ended = panel.wait(180)
    assert ended.state == "cancelled", ended
    assert "cancelled; nothing was written" in panel.message.value and not is_error(panel.message)
    assert "cancelled" in panel.rows[task.id].text.value and panel.rows[task.id].cancel.disabled
    assert list(out.iterdir()) == []
    assert panel.cancel_button.disabled
    panel.start()  # and a new export runs to the end
    assert panel.wait(180).state == "done" and (out / "cancelled.tif").exists()
    assert len(panel.list.children) == 2


def test_export_with_hold_out_writes_the_accuracy_report(tmp_path):
    store = l5_store(tmp_path)
    panel = ExportPanel(store, str(tmp_path))
    panel.validation.value = 0.5
    panel.probability.value = False
    panel.output.value = str(tmp_path / "l5_export.tif")
    panel.start()
    panel.wait(180)
    assert "wrote" in panel.message.value and "l5_export_RESULTS.md" in panel.message.value, panel.message.value
    text = (tmp_path / "l5_export_RESULTS.md").read_text()
    assert "50% of the training polygons held out" in text and "Overall accuracy:" in text
    assert (tmp_path / "l5_export_confusion.png").stat().st_size > 1000


def test_export_with_a_reference_file_of_unknown_classes_shows_an_error(tmp_path):
    store = l5_store(tmp_path)
    panel = ExportPanel(store, str(tmp_path))
    panel.reference.value = SAMPLE.polygons  # FARM/FOREST/WATER: not this legend's classes
    panel.start()
    panel.wait(180)
    assert is_error(panel.message) and "not in the legend" in panel.message.value, panel.message.value
    assert not list((tmp_path / "downloads" / "l5_export").iterdir())


def test_export_with_bad_training_data_shows_an_error(tmp_path):
    store = l5_store(tmp_path, class_field="no_such_field")
    panel = ExportPanel(store, str(tmp_path))
    task = panel.start()
    panel.wait(180)
    assert is_error(panel.message) and "no_such_field" in panel.message.value
    assert "wrote" not in panel.message.value and "Traceback" not in panel.message.value
    assert "failed" in panel.rows[task.id].text.value and "no_such_field" in panel.rows[task.id].text.value
    assert not list((tmp_path / "downloads" / "l5_export").iterdir())


# ---------------------------------------------------------------------------------------------------------
# map helpers


def test_metres_per_pixel():
    equator = 2 * math.pi * 6378137 / 256  # Web Mercator: the equator spans 256 px at zoom 0
    assert metres_per_pixel(0, 0) == pytest.approx(equator, rel=1e-7)
    assert metres_per_pixel(60, 1) == pytest.approx(equator * 0.5 / 2, rel=1e-7)
    assert metres_per_pixel(-45, 12) == pytest.approx(equator * math.sqrt(0.5) / 4096, rel=1e-7)


def test_screen_size():
    def y(lat, zoom):  # pixel row of a latitude, from the textbook Mercator formula
        phi = math.radians(lat)
        return (1 - math.log(math.tan(math.pi / 4 + phi / 2)) / math.pi) / 2 * 256 * 2 ** zoom

    # one degree of longitude at zoom 10 is 256 * 1024 / 360 = 728.18 px
    w, h = screen_size(((43.0, 1.0), (44.0, 2.0)), 10)
    assert w == 728
    assert h == round(y(43.0, 10) - y(44.0, 10))
    assert 995 < h < 1010  # Mercator stretches y by 1 / cos(lat): 728 px / cos(43.5 deg) = 1004 px
    assert screen_size(((-10.0, -90.0), (10.0, 90.0)), 0) == (128, round(y(-10, 0) - y(10, 0)))
    assert screen_size(((43.0, 1.0), (43.0, 1.0)), 5) == (1, 1)  # never 0 px


def make_map(clicks):
    from ipyleaflet import TileLayer

    view = MapView(center=(0.0, 0.0), bounds=[[-1, -1], [1, 1]],
                   on_click=lambda lat, lon, nearest: clicks.append((lat, lon, nearest)))
    view.replace_image(TileLayer(url="http://127.0.0.1/image/{z}/{x}/{y}.png"))
    return view


def test_nearest_point_within_pick_radius():
    clicks = []
    view = make_map(clicks)
    view.map.zoom = 10
    deg_per_px = 360 / (256 * 2 ** 10)  # at the equator, x and y scales agree
    points = [{"x": 0.0, "y": 0.0, "class": 1}, {"x": 20 * deg_per_px, "y": 0.0, "class": 2}]
    view.show_points(points, {1: "#ff0000", 2: "#00ff00"})
    assert PICK_RADIUS_PX == 9
    assert view.nearest_point(0.0, 8 * deg_per_px) == 0          # 8 px from point 0, 12 from point 1
    assert view.nearest_point(0.0, 12 * deg_per_px) == 1         # 12 px from point 0, 8 from point 1
    assert view.nearest_point(0.0, 10 * deg_per_px) is None      # half way: both 10 px > 9, nothing picked
    assert view.nearest_point(-5 * deg_per_px, 23 * deg_per_px) == 1   # 5.8 px from point 1
    assert view.nearest_point(7 * deg_per_px, 7 * deg_per_px) is None  # 9.9 px from point 0
    assert view.nearest_point(0.0, -30 * deg_per_px) is None
    # training mode off: clicks are ignored; on: reported with the picked point
    view._interaction(type="click", coordinates=[0.0, 8 * deg_per_px])
    assert clicks == []
    view.training.value = True
    view._interaction(type="click", coordinates=[0.0, 8 * deg_per_px])
    view._interaction(type="click", coordinates=[0.0, 50 * deg_per_px])
    view._interaction(type="mousemove", coordinates=[0.0, 0.0])
    assert clicks == [(0.0, 8 * deg_per_px, 0), (0.0, 50 * deg_per_px, None)]


def test_map_has_basemaps_under_the_image_and_overlays_over_it():
    view = make_map([])
    osm, esri, image, classification, prob, uncertain = view.map.layers[:6]
    assert (osm.name, esri.name, image.name) == ("OpenStreetMap", "Esri World Imagery", "Image")
    # the image: its tiles over its preview, one entry in the layer control, in the image's pane
    assert image.layers == (view.preview_layer, view.image_layer)
    assert view.preview_layer.pane == view.image_layer.pane == "landclass-image"
    assert osm.base and esri.base and osm.visible and not esri.visible  # a choice in the layer control
    assert "tile.openstreetmap.org" in osm.url and "arcgisonline.com" in esri.url
    assert "OpenStreetMap" in osm.attribution and "Esri" in esri.attribution
    assert classification.layers == (view.class_layer, view.view_layer)
    assert (prob, uncertain) == (view.prob_layer, view.uncertain_layer) and not prob.visible
    # an overlay gets its picture and its place in one message; the opacity slider drives the class layers
    view.show_overlay("class", "data:image/png;base64,AAAA", ((1.0, 2.0), (3.0, 4.0)))
    assert view.class_layer.url.endswith("AAAA") and view.class_layer.bounds == [[1.0, 2.0], [3.0, 4.0]]
    view.opacity.value = 0.3
    assert view.class_layer.opacity == view.view_layer.opacity == view.prob_layer.opacity == 0.3
    view.clear_overlays()
    assert view.class_layer.url == view.view_layer.url == EMPTY_PNG
    # another image: its preview and tiles replace the previous ones; no image: neither
    view.show_preview("data:image/webp;base64,BBBB", ((1.0, 2.0), (3.0, 4.0)))
    assert view.preview_layer.url.endswith("BBBB") and view.preview_layer.bounds == [[1.0, 2.0], [3.0, 4.0]]
    from ipyleaflet import TileLayer

    second = TileLayer(url="http://127.0.0.1/second/{z}/{x}/{y}.png")
    view.replace_image(second)
    assert image.layers == (view.preview_layer, second) and view.image_layer is second
    view.clear_image()
    assert image.layers == (view.preview_layer,) and view.image_layer is None and view.preview_layer.url == EMPTY_PNG


def test_training_polygons_show_their_class_under_the_pointer():
    view = make_map([])
    square = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"label": "forest"},
              "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]]}}]}
    view.show_polygons([("FOREST", "#007f46", square), ("WATER", "#0094ff", square)])
    forest, water = view.polygons_layer.layers
    assert forest.style["color"] == "#007f46" and forest.hover_style["weight"] > forest.style["weight"]
    assert view.hover.value == ""
    # the page reports the pointer over a feature as a "mouseover" message of the layer
    water._handle_mouse_events(None, {"event": "mouseover", "feature": square["features"][0],
                                      "properties": {"label": "water"}}, None)
    assert "<b>WATER</b>" in view.hover.value and "#0094ff" in view.hover.value
    forest._handle_mouse_events(None, {"event": "mouseover", "feature": square["features"][0],
                                       "properties": {"label": "forest"}}, None)
    assert "<b>FOREST</b>" in view.hover.value


def test_nearest_point_without_points():
    view = make_map([])
    assert view.nearest_point(0.0, 0.0) is None


def test_selected_point_is_drawn_larger():
    view = make_map([])
    view.show_points([P1, P2], {1: "#94ff00", 2: "#007f46"}, selected=1)
    small, big = view.points_layer.layers
    assert big.radius > small.radius
    assert (small.fill_color, big.fill_color) == ("#94ff00", "#007f46")
    assert tuple(big.location) == (P2["y"], P2["x"])


# ---------------------------------------------------------------------------------------------------------
# the whole app


def wait_idle(app, timeout=90.0):
    app.wait_idle(timeout)  # the worker, then the accuracy assessment that follows it


def polygon_interior(label):
    """(lat, lon) inside the sample polygon of class ``label``."""
    frame = gpd.read_file(SAMPLE.polygons)
    (geom,) = frame.loc[frame["class"].str.upper() == label, "geometry"]
    p = geom.representative_point()
    return p.y, p.x


@pytest.fixture(scope="module")
def app_run(tmp_path_factory):
    from landclass_ui.ui.app import LandclassApp

    workdir = tmp_path_factory.mktemp("app")
    app = LandclassApp(workdir=workdir, routing="proxy")
    wait_idle(app)
    first_status = app.status.value
    first_url = app.map.class_layer.url
    water, forest = polygon_interior("WATER"), polygon_interior("FOREST")
    app.trn.chooser.value = 3
    app._on_click(*water, None)
    app.trn.chooser.value = 2
    app._on_click(*forest, None)
    wait_idle(app)
    return {"app": app, "workdir": workdir, "first_status": first_status, "first_url": first_url,
            "water": water, "forest": forest}


def test_app_starts_asking_for_two_classes(app_run):
    assert "at least two classes" in app_run["first_status"]
    assert app_run["app"].message.value == ""


def overlay_value(layer, grid_result, lat, lon):
    """What the map shows at (lat, lon): the RGBA of the class overlay's pixel there (its PNG placed between its
    bounds in Web Mercator, as Leaflet places it), and the class of the live result's pixel there."""
    from landclass_ui.overlay import decode_data_url

    rgba = decode_data_url(layer.url)
    (south, west), (north, east) = layer.bounds
    to_merc = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    x0, y0 = to_merc.transform(west, north)
    x1, y1 = to_merc.transform(east, south)
    x, y = to_merc.transform(lon, lat)
    h, w = rgba.shape[:2]
    shown = rgba[int((y0 - y) / (y0 - y1) * h), int((x - x0) / (x1 - x0) * w)]
    to_crs = Transformer.from_crs("EPSG:4326", grid_result.grid.crs, always_xy=True)
    col, row = ~grid_result.grid.transform * to_crs.transform(lon, lat)
    return tuple(int(v) for v in shown), int(grid_result.classes[int(row), int(col)])


def test_app_clicks_make_a_new_classification(app_run):
    from landclass_ui.overlay import overlay

    app = app_run["app"]
    url = app.map.class_layer.url
    assert url != app_run["first_url"] and url.startswith("data:image/png;base64,")
    result = app._overview
    assert set(np.unique(result.classes).tolist()) <= {1, 2, 3, 255}
    assert url == overlay(result.classes, result.grid, result.model.legend.colormap())[0]
    assert result.version >= 1
    assert "classified with" in app.status.value and "2 training pixels" in app.status.value
    assert counts(app.trn) == {1: 0, 2: 1, 3: 1}
    assert len(app.map.points_layer.layers) == 2


def test_app_two_clicks_map_water_as_water_and_forest_as_forest(app_run):
    """One click in the lake, one in the forest: the live map shows each clicked place in its own class, in
    the legend's colour at that place on the map."""
    app = app_run["app"]
    found = {name: overlay_value(app.map.class_layer, app._overview, *app_run[name]) for name in ("water", "forest")}
    assert found == {"water": ((0, 0x94, 0xFF, 255), 3), "forest": ((0, 0x7F, 0x46, 255), 2)}


def test_app_shows_band_importance_of_the_live_forest(app_run):
    shown = app_run["app"].cls.importance.value
    assert "Band importance" in shown
    assert all(band in shown for band in ("B02", "B03", "B04", "B8A"))


def test_app_saves_the_points(app_run):
    saved = json.loads((app_run["workdir"] / "recipe.json").read_text())
    (lat_w, lon_w), (lat_f, lon_f) = app_run["water"], app_run["forest"]
    points = [p for t in saved["training"] if t["kind"] == "points" for p in t["points"]]
    assert [p["class"] for p in points] == [3, 2]
    assert points[0]["x"] == pytest.approx(lon_w, abs=1e-6) and points[0]["y"] == pytest.approx(lat_w, abs=1e-6)
    assert points[1]["x"] == pytest.approx(lon_f, abs=1e-6) and points[1]["y"] == pytest.approx(lat_f, abs=1e-6)


def test_app_click_on_a_point_selects_it(app_run):
    app = app_run["app"]
    lat, lon = app_run["water"]
    app.map.training.value = True
    try:
        app.map._interaction(type="click", coordinates=[lat, lon])  # exactly on the water point
    finally:
        app.map.training.value = False
    assert app.trn.selected == 0
    saved = json.loads((app_run["workdir"] / "recipe.json").read_text())
    assert len([p for t in saved["training"] if t["kind"] == "points" for p in t["points"]]) == 2
    radii = [m.radius for m in app.map.points_layer.layers]
    assert radii[0] > radii[1]


def test_a_new_app_reopens_the_recipe_with_its_points(app_run):
    from landclass_ui.ui.app import LandclassApp

    old = app_run["app"]
    wait_idle(old)
    again = LandclassApp(workdir=app_run["workdir"], routing="proxy")
    assert "reopened" in again.store.opened_message
    assert again.store.recipe.name == old.store.recipe.name == again.name.value
    assert store_points(again.store) == store_points(old.store)
    assert counts(again.trn) == {1: 0, 2: 1, 3: 1}
    wait_idle(again)
    assert "classified with" in again.status.value
