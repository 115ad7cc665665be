"""The TRN panel's new sources of training data, driven from Python as the page drives them: a CSV with chosen
columns and a row filter, "Sample a classification map" (preview, counts per class, Add samples), "Import
training from recipe" (the same class dialog as a file), and the summary table shown after each import. Real data:
the Landsat 8 crop with its SCP map ``landcover.tif`` and training points, the T11UPT polygons."""
import html
import json
import re
import shutil
from pathlib import Path

import geopandas as gpd
import ipywidgets as W
import pandas as pd
import pytest

from landclass_ui.imagery import open_image
from landclass_ui.legend import Legend, LegendEntry
from landclass_ui.pipeline import prepare
from landclass_ui.recipe import ImageRef, Recipe, TrainingRef
from landclass_ui.store import RecipeStore
from landclass_ui.training import points_records, read_ref, sample_class_map
from landclass_ui.ui.trn import TrainingPanel, collected_points

DATA = Path(__file__).parent / "data"
LANDCOVER = DATA / "l8_t11upt" / "landcover.tif"
L8_POINTS = DATA / "l8_t11upt" / "training_points.shp"
L8_FILES = [str(DATA / "l8_t11upt" / f"LC08_L2SP_043024_20200802_20200914_02_T1_SR_{b}.tif")
            for b in ("B2", "B3", "B4", "B5")]
T11UPT_POLYGONS = DATA / "s2_t11upt" / "landcover.shp"
MC = Legend([LegendEntry(1, "Built Up", "#e31a1c"), LegendEntry(2, "Vegetation", "#33a02c"),
             LegendEntry(3, "Bare Earth", "#b15928"), LegendEntry(4, "Water", "#1f78b4")])
#: a point clicked on the map, on the Landsat 8 crop
CLICK = {"x": -114.3, "y": 51.9, "class": 2}


@pytest.fixture(scope="module")
def l8():
    return open_image(L8_FILES)


def make_store(tmp_path, *, legend=MC, points=(CLICK,), name="panel_test") -> RecipeStore:
    recipe = Recipe(name=name, images=[ImageRef(p) for p in L8_FILES],
                    legend=None if legend is None else legend.to_list(),
                    training=[TrainingRef("points", points=[dict(p) for p in points])])
    store = RecipeStore(recipe, tmp_path / "work" / "recipe.json")
    store.save()
    return store


def on_disk(store) -> dict:
    return json.loads(Path(store.path).read_text(encoding="utf-8"))


def is_error(panel) -> bool:
    return "landclass-msg-error" in panel.message.value


def message(panel) -> str:
    """The panel's message line as text."""
    return html.unescape(re.sub(r"<[^>]+>", "", panel.message.value))


def texts(widget) -> str:
    """Every HTML text under a widget, unescaped."""
    if isinstance(widget, W.HTML):
        return html.unescape(widget.value)
    return " ".join(texts(c) for c in getattr(widget, "children", ()))


def summary_rows(panel) -> dict[str, list[int]]:
    """The summary table: class -> [features, outside, on nodata, no pixel, used, pixels]."""
    out = {}
    for name, cells in re.findall(r"<tr class='landclass-summary-row' data-class='([^']*)'><td>[^<]*</td>(.*?)</tr>",
                                  panel.summary.value):
        out[name] = [int(v) for v in re.findall(r">(\d+)</td>", cells)]
    return out


def dialog_choices(panel) -> dict[str, W.Dropdown]:
    out = {}
    for child in panel.dialog.children:
        if isinstance(child, W.HBox) and isinstance(child.children[-1], W.Dropdown):
            out[child.children[0].value.replace("<b>", "").replace("</b>", "")] = child.children[-1]
    return out


def dialog_button(panel, css) -> W.Button | None:
    for child in panel.dialog.children:
        if isinstance(child, W.HBox):
            for b in child.children:
                if isinstance(b, W.Button) and css in b._dom_classes:
                    return b
    return None


@pytest.fixture
def renamed_csv(tmp_path):
    """The 89 Landsat 8 points as a CSV whose coordinate columns nothing detects (lon_deg, lat_deg)."""
    frame = gpd.read_file(L8_POINTS).to_crs("EPSG:4326")
    path = tmp_path / "points.csv"
    pd.DataFrame({"lon_deg": frame.geometry.x, "lat_deg": frame.geometry.y, "MC_ID": frame["MC_ID"],
                  "MC_name": frame["MC_name"]}).to_csv(path, index=False)
    return path


# ---------------------------------------------------------------------------------------------------------
# a CSV with columns and a filter


def test_csv_with_named_columns_and_a_filter(tmp_path, renamed_csv, l8):
    store = make_store(tmp_path)
    panel = TrainingPanel(store, str(tmp_path / "work"), image=lambda: l8)
    assert panel.csv_box.layout.display == "none"
    panel.file_path.value = str(renamed_csv)
    assert panel.csv_box.layout.display == "flex"  # a CSV: its columns are shown, X/Y asked
    assert "lon_deg, lat_deg, MC_ID, MC_name" in panel.csv_columns.value
    assert panel.x_column.placeholder == "auto"  # nothing detected
    panel.class_field.value = "MC_name"
    panel.x_column.value, panel.y_column.value = "lon_deg", "lat_deg"
    panel.filter.value = 'MC_name != "Water"'
    panel.load_button.click()
    assert not is_error(panel), panel.message.value
    (ref,) = [t for t in on_disk(store)["training"] if t["kind"] == "file"]
    assert (ref["x"], ref["y"], ref["filter"], ref["class_field"]) == ("lon_deg", "lat_deg", 'MC_name != "Water"',
                                                                       "MC_name")
    assert "geometry" not in ref
    # the summary: per class the features, none outside or on nodata, Water filtered out
    assert summary_rows(panel) == {"Built Up": [5, 0, 0, 0, 5, 5], "Vegetation": [40, 0, 0, 0, 40, 40],
                                   "Bare Earth": [40, 0, 0, 0, 40, 40]}
    assert "filter MC_name != &quot;Water&quot;" in panel.files.value
    # reopened, the recipe reads the file the same way
    reopened = Recipe.load(store.path)
    assert len(read_ref([t for t in reopened.training if t.kind == "file"][0])) == 85


@pytest.mark.parametrize("expression, words", [
    ("MC_ID >", "not a valid expression"),
    ("confidence > 0.8", "'confidence' is not a column"),
])
def test_bad_filter_shows_one_line_and_changes_nothing(tmp_path, renamed_csv, expression, words):
    store = make_store(tmp_path)
    before = on_disk(store)
    panel = TrainingPanel(store, str(tmp_path / "work"))
    panel.file_path.value = str(renamed_csv)
    panel.class_field.value = "MC_name"
    panel.x_column.value, panel.y_column.value = "lon_deg", "lat_deg"
    panel.filter.value = expression
    panel.load_button.click()
    assert is_error(panel) and words in message(panel) and "MC_ID, MC_name" in message(panel)
    assert "Traceback" not in message(panel)
    assert on_disk(store) == before and panel.summary.value == ""


def test_csv_columns_are_detected_and_shown(tmp_path):
    frame = gpd.read_file(L8_POINTS).to_crs("EPSG:4326")
    path = tmp_path / "sepal.csv"
    pd.DataFrame({"XCoordinate": frame.geometry.x, "YCoordinate": frame.geometry.y,
                  "class": frame["MC_name"]}).to_csv(path, index=False)
    store = make_store(tmp_path)
    panel = TrainingPanel(store, str(tmp_path / "work"))
    panel.file_path.value = str(path)
    assert (panel.x_column.placeholder, panel.y_column.placeholder) == ("auto: XCoordinate", "auto: YCoordinate")
    panel.load_button.click()
    assert not is_error(panel), panel.message.value
    (ref,) = [t for t in on_disk(store)["training"] if t["kind"] == "file"]
    assert "x" not in ref and "filter" not in ref  # detected columns are not written down
    assert set(summary_rows(panel)) == {"Built Up", "Vegetation", "Bare Earth", "Water"}
    assert "No image open" in panel.summary.value  # no image given to the panel: counts only


def test_file_summary_reports_polygons_off_the_image(tmp_path, l8):
    """The T11UPT polygons lie south of the Landsat 8 crop: the file is refused (it does not overlap), nothing is
    added; the L8 points are all used."""
    store = make_store(tmp_path)
    panel = TrainingPanel(store, str(tmp_path / "work"), image=lambda: l8)
    panel.file_path.value = str(T11UPT_POLYGONS)
    panel.class_field.value = "MC_name"
    panel.load_button.click()
    assert is_error(panel) and "does not overlap" in panel.message.value
    panel.file_path.value = str(L8_POINTS)
    panel.load_button.click()
    assert not is_error(panel), panel.message.value
    rows = summary_rows(panel)
    assert sum(r[0] for r in rows.values()) == 89 and sum(r[4] for r in rows.values()) == 89
    assert "<i>total</i>" in panel.summary.value


# ---------------------------------------------------------------------------------------------------------
# sample a classification map


def count_box(panel, value) -> W.BoundedIntText:
    return panel._sample_counts[value]


def plus_minus(panel, value):
    """The - and + buttons of a class's row in the preview."""
    for row in panel.sample_preview.children:
        if isinstance(row, W.HBox) and count_box(panel, value) in row.children:
            minus, _, plus = row.children[2:5]
            return minus, plus
    raise AssertionError(f"no row for class {value}")


def test_sample_map_preview_adjust_add_and_reopen(tmp_path, l8):
    store = make_store(tmp_path)
    panel = TrainingPanel(store, str(tmp_path / "work"), image=lambda: l8)
    panel.map_path.value = str(LANDCOVER)
    panel.per_class.value = 50
    panel.preview_button.click()
    assert not is_error(panel), panel.message.value
    assert {v: count_box(panel, v).value for v in MC.values} == {1: 50, 2: 50, 3: 50, 4: 50}
    assert on_disk(store)["training"] == [{"kind": "points", "path": None, "class_field": None, "layer": None,
                                           "points": [CLICK], "remap": {}}]  # nothing added by a preview
    text = texts(panel.sample_preview)
    # values that are no class, pixels per class: those of the map's 742 x 169 px under the image's 740 x 167
    # (the map reaches half a pixel past the image on each side: its outer rows and columns are not sampled)
    assert "-999 (22824 px)" in text and "671 px" in text
    minus, plus = plus_minus(panel, 4)
    plus.click(), plus.click()  # steps of per class / 10
    assert count_box(panel, 4).value == 60
    plus_minus(panel, 2)[0].click()
    assert count_box(panel, 2).value == 45
    count_box(panel, 3).value = 0
    panel.sample_preview.children[-1].children[0].click()  # Add samples
    assert not is_error(panel), panel.message.value
    saved = on_disk(store)["training"]
    assert saved[0]["points"] == [CLICK] and "source" not in saved[0]  # the clicked points are another set
    sampled = saved[1]
    assert sampled["kind"] == "points" and "sampled from landcover.tif" in sampled["source"]
    by_class = pd.Series([p["class"] for p in sampled["points"]]).value_counts().to_dict()
    assert by_class == {1: 50, 2: 45, 4: 60}
    # the same points as the engine draws (Water beyond the 50 previewed: drawn again, a superset)
    expected = points_records(sample_class_map(LANDCOVER, MC, per_class={1: 50, 2: 45, 4: 60},
                                               within=(*l8.grid.bounds, l8.grid.crs)))
    assert sorted(map(str, sampled["points"])) == sorted(map(str, expected))
    # the summary: every point drawn falls on the image and trains
    rows = summary_rows(panel)
    assert set(rows) == {"Built Up", "Vegetation", "Water"}
    assert all(r[1] == 0 and r[4] == r[0] for r in rows.values())
    assert collected_points(store.recipe) == [CLICK]
    # a click adds to the clicked points, never to the sampled set
    panel.click(51.89, -114.31, None)
    assert len(collected_points(store.recipe)) == 2 and len(store.recipe.training[1].points) == 155
    # reopened: the same points, listed with a Remove button; the engine trains on them
    reopened = Recipe.load(store.path)
    assert reopened.training[1].points == sampled["points"]
    again = TrainingPanel(RecipeStore(reopened, tmp_path / "work" / "recipe.json"), str(tmp_path / "work"))
    (button,) = again.file_buttons.children
    assert "landclass-remove-set" in button._dom_classes and "landcover.tif" in button.description
    assert "(155 points)" in again.files.value
    assert set(prepare(reopened).samples.frame["label"]) == {"Built Up", "Vegetation", "Water"}
    button.click()
    assert [t.kind for t in again.store.recipe.training] == ["points"]
    again.undo_button.click()
    assert len(again.store.recipe.training[1].points) == 155


def test_sample_map_with_an_empty_legend_takes_the_maps_classes(tmp_path):
    store = make_store(tmp_path, legend=None, points=())
    panel = TrainingPanel(store, str(tmp_path / "work"))
    panel.map_path.value = str(LANDCOVER)
    panel.per_class.value = 10
    panel.map_scale.value = "90"
    panel.preview_button.click()
    assert not is_error(panel), panel.message.value
    assert "The legend will be the map's: 1, 2, 3, 4" in panel.sample_preview.children[0].value
    panel.sample_preview.children[-1].children[0].click()
    saved = on_disk(store)
    assert [e["name"] for e in saved["legend"]] == ["1", "2", "3", "4"]
    (ref,) = [t for t in saved["training"] if t.get("source")]
    assert len(ref["points"]) == 40 and "scale 90 m" in ref["source"]


@pytest.mark.parametrize("field, value, words", [
    ("map_path", "nowhere.tif", "not found"),
    ("map_scale", "thirty", "number of metres"),
    ("map_path", "", "type the path"),
])
def test_sample_map_errors_show_one_line(tmp_path, field, value, words):
    store = make_store(tmp_path)
    before = on_disk(store)
    panel = TrainingPanel(store, str(tmp_path / "work"))
    panel.map_path.value = str(LANDCOVER)
    getattr(panel, field).value = value
    panel.preview_button.click()
    assert is_error(panel) and words in panel.message.value
    assert on_disk(store) == before and panel.sample_preview.children == ()


# ---------------------------------------------------------------------------------------------------------
# import the training data of another recipe


def save_other(workdir: Path) -> Path:
    """``<workdir>/recipes/Other.json``: points (Water, Vegetation) and the T11UPT polygons by MC_ID (Built Up
    ignored by its remap), a relative path to a copy of them beside the recipe, legend MC."""
    folder = workdir / "recipes"
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for part in T11UPT_POLYGONS.parent.glob("landcover.*"):
        shutil.copy(part, folder / "data" / part.name)
    recipe = Recipe(name="Other", images=[ImageRef("T11UPT.tif")], legend=MC.to_list(), training=[
        TrainingRef("points", points=[{"x": -114.15518, "y": 51.73445, "class": 4},
                                      {"x": -114.20447, "y": 51.73098, "class": 2}]),
        TrainingRef("file", path="data/landcover.shp", class_field="MC_ID", remap={"1": None})])
    path = folder / "Other.json"
    path.write_text(json.dumps(recipe.to_dict()))
    return path


def test_import_recipe_through_the_class_dialog(tmp_path):
    work = tmp_path / "work"
    save_other(work)
    mine = Legend([LegendEntry(1, "Water", "#0000ff"), LegendEntry(2, "Forest", "#007f46")])
    store = make_store(tmp_path, legend=mine, points=[{"x": -114.3, "y": 51.9, "class": 1}])
    Recipe(name="panel_test").save(work / "recipes" / "panel_test.json")  # the open recipe's own copy
    panel = TrainingPanel(store, str(work))
    assert [label for label, _ in panel.recipe_choice.options] == ["saved recipes ...", "Other"]
    panel.recipe_choice.label = "Other"
    before = on_disk(store)
    panel.import_button.click()
    assert not is_error(panel), panel.message.value
    assert sorted(dialog_choices(panel)) == ["Bare Earth", "Vegetation"]  # Water is in the legend
    assert on_disk(store) == before  # nothing yet
    dialog_button(panel, "landclass-match-cancel").click()
    assert on_disk(store) == before and "not imported" in panel.message.value
    panel.import_button.click()
    choices = dialog_choices(panel)
    choices["Vegetation"].value = "Forest"
    choices["Bare Earth"].label = "add to legend"
    dialog_button(panel, "landclass-match-apply").click()
    assert not is_error(panel), panel.message.value
    saved = on_disk(store)
    assert [(e["value"], e["name"]) for e in saved["legend"]] == [(1, "Water"), (2, "Forest"), (3, "Bare Earth")]
    assert saved["legend"][2]["color"] == MC.entries[2].color  # the other recipe's colour
    points = [t for t in saved["training"] if t.get("source") == "recipe Other"]
    assert [p["class"] for p in points[0]["points"]] == [1, 2]
    (file_ref,) = [t for t in saved["training"] if t["kind"] == "file"]
    assert Path(file_ref["path"]) == (work / "recipes" / "data" / "landcover.shp").resolve()
    assert file_ref["remap"] == {"1": None, "2": "Forest", "3": "Bare Earth", "4": "Water"}
    assert "Vegetation -> Forest" in message(panel) and "added to the legend: Bare Earth" in message(panel)
    assert set(summary_rows(panel)) == {"Water", "Forest", "Bare Earth"}
    assert len(panel.file_buttons.children) == 2  # the imported points and the file


def test_import_recipe_into_an_empty_legend_takes_its_legend(tmp_path):
    work = tmp_path / "work"
    path = save_other(work)
    store = make_store(tmp_path, legend=None, points=())
    panel = TrainingPanel(store, str(work))
    panel.recipe_path.value = str(path)  # a typed path wins over the list
    panel.import_button.click()
    assert not is_error(panel), panel.message.value
    saved = on_disk(store)
    assert saved["legend"] == MC.to_list()
    kinds = [(t["kind"], t.get("source")) for t in saved["training"]]
    assert kinds == [("points", None), ("points", "recipe Other"), ("file", None)]
    assert "imported the training data of recipe Other" in panel.message.value


def test_import_of_a_missing_recipe_is_one_line(tmp_path):
    store = make_store(tmp_path)
    before = on_disk(store)
    panel = TrainingPanel(store, str(tmp_path / "work"))
    panel.import_button.click()
    assert is_error(panel) and "choose a saved recipe" in panel.message.value
    panel.recipe_path.value = str(tmp_path / "none.json")
    panel.import_button.click()
    assert is_error(panel) and "recipe file not found" in panel.message.value
    assert on_disk(store) == before


def test_a_geopackage_with_two_layers_offers_them_and_loads_the_chosen_one(tmp_path, l8):
    """The Landsat 8 points and the T11UPT polygons (real, both with MC_name) as two layers of one GeoPackage:
    the panel lists the layers, loads the one chosen, and the recipe keeps the layer."""
    gpkg = tmp_path / "samples.gpkg"
    gpd.read_file(T11UPT_POLYGONS).drop(columns=["fid"], errors="ignore").to_file(gpkg, layer="polygons")
    gpd.read_file(L8_POINTS).drop(columns=["fid"], errors="ignore").to_file(gpkg, layer="points")
    store = make_store(tmp_path)
    panel = TrainingPanel(store, str(tmp_path / "work"), image=lambda: l8)
    panel.file_path.value = str(gpkg)
    assert list(panel.layer.options) == ["polygons", "points"] and panel.layer.layout.display == "flex"
    panel.class_field.value = "MC_name"
    panel.layer.value = "points"
    panel.load_button.click()
    assert not is_error(panel), message(panel)
    files = [t for t in on_disk(store)["training"] if t["kind"] == "file"]
    assert files[-1]["layer"] == "points" and files[-1]["path"] == str(gpkg)
    assert len(read_ref(store.recipe.training[-1])) == len(gpd.read_file(L8_POINTS))
    panel.file_path.value = str(L8_POINTS)  # one layer: no dropdown
    assert panel.layer.layout.display == "none"
