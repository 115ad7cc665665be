"""The LEG panel driven from Python: a CSV's path shows a preview of its columns' guessed roles and first rows;
reassigning a role, Accept (the recipe on disk changes), Cancel (nothing changes), a bad assignment (a message
naming the row, no traceback); palettes; manual edits whose messages name the row."""
from __future__ import annotations

import html
import json
from pathlib import Path

import ipywidgets as W
import pytest

from landclass_ui.legend import Legend, LegendEntry, palette_colors
from landclass_ui.recipe import ImageRef, Recipe, TrainingRef
from landclass_ui.sample import sample_paths
from landclass_ui.store import RecipeStore
from landclass_ui.ui.leg import LegendPanel

LEGEND = [{"value": 1, "name": "FARM", "color": "#94ff00"},
          {"value": 2, "name": "FOREST", "color": "#007f46"},
          {"value": 3, "name": "WATER", "color": "#0094ff"}]

# SEPAL's documented RGB example (docs.sepal.io, Classification, LEG: "Import legend"), first rows: the header says
# red,blue,green, the numbers are R,G,B (Tree cover is #006400). Saved by a French spreadsheet: ; and Latin-1.
SEPAL_RGB = ("code;class;red;blue;green\n10;Tree cover;0;100;0\n20;Shrubland;255;187;34\n30;Grassland;255;255;76\n"
             "40;Cropland;240;150;255\n50;Bâti;250;0;0\n80;Eau;0;100;200\n")
SEPAL_RGB_COLORS = ["#006400", "#ffbb22", "#ffff4c", "#f096ff", "#fa0000", "#0064c8"]


def make_store(tmp_path, points=(), legend=LEGEND) -> RecipeStore:
    recipe = Recipe(name="preview_test", images=[ImageRef(sample_paths().safe)], legend=[dict(e) for e in legend],
                    training=[TrainingRef("points", points=[dict(p) for p in points])])
    store = RecipeStore(recipe, tmp_path / "work" / "recipe.json")
    store.save()
    return store


def on_disk(store: RecipeStore) -> dict:
    return json.loads(Path(store.path).read_text(encoding="utf-8"))


def is_error(message: W.HTML) -> bool:
    return "landclass-msg-error" in message.value


def said(panel: LegendPanel) -> str:
    """The message line's text."""
    return html.unescape(panel.message.value)


def roles(panel: LegendPanel) -> list[str]:
    return [c.value for c in panel.role_choices]


def open_csv(tmp_path, panel: LegendPanel, data: bytes | str, name: str = "legend.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    panel.csv_path.value = str(path)
    return path


def test_entering_a_csv_shows_its_columns_and_rows_and_changes_nothing(tmp_path):
    store = make_store(tmp_path)
    before = Path(store.path).read_bytes()
    panel = LegendPanel(store, str(tmp_path))
    assert panel.preview.layout.display == "none" and panel.role_choices == []
    open_csv(tmp_path, panel, SEPAL_RGB.encode("latin-1"))
    assert panel.preview.layout.display != "none"
    assert [c.description for c in panel.role_choices] == ["code", "class", "red", "blue", "green"]
    assert roles(panel) == ["value", "name", "red", "blue", "green"]  # the header's word, as SEPAL guesses
    table = panel.preview_table.value
    assert "Tree cover" in table and "Bâti" in table and table.count("landclass-swatch") == 6
    assert "#000064" in table  # the colour the header's order gives: wrong, for the user to see
    assert "Accept" in panel.accept_button.description and not is_error(panel.message)
    assert Path(store.path).read_bytes() == before and store.recipe.legend == LEGEND


def test_reassigning_a_column_swaps_roles_and_accept_writes_the_recipe(tmp_path):
    store = make_store(tmp_path)
    panel = LegendPanel(store, str(tmp_path))
    path = open_csv(tmp_path, panel, SEPAL_RGB.encode("latin-1"))
    panel.role_choices[3].value = "green"  # the column headed "blue" holds green: the "green" column takes blue
    assert roles(panel) == ["value", "name", "red", "green", "blue"]
    assert "#006400" in panel.preview_table.value
    panel.accept_button.click()
    assert not is_error(panel.message), said(panel)
    saved = on_disk(store)["legend"]
    assert [e["color"] for e in saved] == SEPAL_RGB_COLORS and store.recipe.legend == saved
    assert [e["value"] for e in saved] == [10, 20, 30, 40, 50, 80] and saved[4]["name"] == "Bâti"
    assert path.name in said(panel) and "value,name,red,green,blue" in said(panel)
    assert panel.preview.layout.display == "none" and len(panel.rows.children) == 6
    store.undo()  # one step, like any edit
    assert store.recipe.legend == LEGEND


def test_import_button_takes_the_roles_shown(tmp_path):
    store = make_store(tmp_path)
    panel = LegendPanel(store, str(tmp_path))
    open_csv(tmp_path, panel, SEPAL_RGB)
    panel.role_choices[4].value = "blue"  # green column -> blue; the blue column takes green
    panel.import_button.click()
    assert [e["color"] for e in on_disk(store)["legend"]] == SEPAL_RGB_COLORS


def test_cancel_changes_nothing(tmp_path):
    store = make_store(tmp_path)
    before = Path(store.path).read_bytes()
    panel = LegendPanel(store, str(tmp_path))
    open_csv(tmp_path, panel, SEPAL_RGB)
    panel.role_choices[0].value = "ignore"
    panel.cancel_button.click()
    assert Path(store.path).read_bytes() == before and store.recipe.legend == LEGEND
    assert panel.preview.layout.display == "none" and panel.role_choices == []
    assert not is_error(panel.message) and "unchanged" in said(panel)
    assert len(panel.rows.children) == 3


@pytest.mark.parametrize("text, change, words", [
    # no value column
    ("code,class,color\n10,a,#000000\n20,b,#000001\n", (0, "ignore"), ["no column holds the class values"]),
    # a role left half-given: two colours
    ("code,class,color,r,g,b\n10,a,#000000,0,0,0\n", (3, "red"), ["both"]),
    # duplicate values
    ("code,class,color\n10,a,#000000\n20,b,#000001\n10,c,#000002\n", None, ["row 4", "value 10 is used twice"]),
    # a bad colour, and a component out of range
    ("code,class,color\n10,a,#000000\n20,b,#00zz00\n", None, ["row 3", "'#00zz00'"]),
    ("code,class,r,g,b\n10,a,0,0,0\n20,b,0,256,0\n", None, ["row 3", "green 256 is outside 0-255"]),
    # the name column taken for the value: not integers
    ("code,class,color\n10,Forest,#000000\n", (1, "value"), ["row 2", "value 'Forest' is not an integer"]),
])
def test_bad_assignment_names_the_problem_and_changes_nothing(tmp_path, text, change, words):
    store = make_store(tmp_path)
    before = Path(store.path).read_bytes()
    panel = LegendPanel(store, str(tmp_path))
    open_csv(tmp_path, panel, text)
    if change is not None:
        panel.role_choices[change[0]].value = change[1]
    assert is_error(panel.message)  # shown at once, before Accept
    panel.message.clear()
    panel.accept_button.click()  # no exception escapes
    assert is_error(panel.message)
    assert "Traceback" not in said(panel) and "unexpected" not in said(panel)
    for word in words:
        assert word in said(panel), said(panel)
    assert Path(store.path).read_bytes() == before and store.recipe.legend == LEGEND
    assert panel.preview.layout.display != "none"  # still open, to fix the roles or cancel


def test_bad_rows_are_marked_in_the_preview(tmp_path):
    store = make_store(tmp_path)
    panel = LegendPanel(store, str(tmp_path))
    open_csv(tmp_path, panel, "code,class,color\n10,a,#000000\n20,b,#000000\n")
    assert panel.preview_table.value.count("#fde7ea") == 1  # row 3 shaded
    assert "row 3: colour #000000 is used twice (rows 2 and 3)" in said(panel)


def test_accept_refused_when_a_class_with_points_would_go(tmp_path):
    store = make_store(tmp_path, points=[{"x": 1.5, "y": 43.8, "class": 3}])
    before = Path(store.path).read_bytes()
    panel = LegendPanel(store, str(tmp_path))
    open_csv(tmp_path, panel, "value,name,color\n1,FARM,#94ff00\n2,FOREST,#007f46\n")
    panel.accept_button.click()
    assert is_error(panel.message) and "3" in said(panel) and "point" in said(panel)
    assert Path(store.path).read_bytes() == before
    assert panel.preview.layout.display != "none"  # still open: the user may cancel, or edit the file and reopen it


def test_a_csv_without_header_is_previewed_by_its_content(tmp_path):
    store = make_store(tmp_path)
    panel = LegendPanel(store, str(tmp_path))
    open_csv(tmp_path, panel, "10\tTree cover\t0\t100\t0\n20\tShrubland\t255\t187\t34\n")
    assert [c.description for c in panel.role_choices] == [f"column {i}" for i in range(1, 6)]
    assert roles(panel) == ["value", "name", "red", "green", "blue"]
    assert "no header" in panel.preview_title.value
    panel.accept_button.click()
    assert [e["color"] for e in on_disk(store)["legend"]] == ["#006400", "#ffbb22"]


def test_other_legend_files_need_no_preview(tmp_path):
    store = make_store(tmp_path)
    panel = LegendPanel(store, str(tmp_path))
    legend = Legend([LegendEntry(10, "Forêt", "#006400"), LegendEntry(20, "Eau", "#0064ff")])
    legend.to_qml(tmp_path / "style.qml")
    legend.to_iota2(tmp_path / "colorFile.txt", tmp_path / "nomenclature.txt")
    for name in ("style.qml", "nomenclature.txt", "missing.csv"):
        panel.csv_path.value = str(tmp_path / name)
        assert panel.preview.layout.display == "none" and not is_error(panel.message)
    panel.csv_path.value = str(tmp_path / "style.qml")
    panel.import_button.click()
    assert on_disk(store)["legend"] == legend.to_list()


def test_a_new_path_replaces_the_preview(tmp_path):
    store = make_store(tmp_path)
    panel = LegendPanel(store, str(tmp_path))
    open_csv(tmp_path, panel, SEPAL_RGB, "a.csv")
    open_csv(tmp_path, panel, "color,value,label\n#006400,3,Forest\n#0000ff,5,Water\n", "b.csv")
    assert roles(panel) == ["color", "value", "name"]
    panel.csv_path.value = ""
    assert panel.preview.layout.display == "none"


# --- palettes -------------------------------------------------------------------------------------------------


def test_apply_palette_colours_every_class_in_value_order(tmp_path):
    legend = [{"value": 7, "name": "c", "color": "#000000"}, {"value": 2, "name": "a", "color": "#000001"},
              {"value": 4, "name": "b", "color": "#000002"}]
    store = make_store(tmp_path, legend=legend)
    panel = LegendPanel(store, str(tmp_path))
    assert "tab10" in panel.palette.options[0][0] and "10 colours" in panel.palette.options[0][0]
    assert {v for _, v in panel.palette.options} >= {"tab10", "Set3", "Paired", "viridis", "YlGn"}
    panel.palette.value = "Set3"
    panel.palette_button.click()
    set3 = palette_colors("Set3", 3)
    assert [e["color"] for e in on_disk(store)["legend"]] == [set3[2], set3[0], set3[1]]
    assert [e["name"] for e in on_disk(store)["legend"]] == ["c", "a", "b"]
    assert [r.children[2].value for r in panel.rows.children] == [set3[2], set3[0], set3[1]]
    panel.palette.value = "viridis"
    panel.palette_button.click()
    assert [e["color"] for e in on_disk(store)["legend"]] == ["#fde725", "#440154", "#21918c"]


def test_a_palette_too_small_is_refused(tmp_path):
    legend = [{"value": i, "name": f"class {i}", "color": f"#0000{i:02x}"} for i in range(1, 13)]
    store = make_store(tmp_path, legend=legend)
    before = Path(store.path).read_bytes()
    panel = LegendPanel(store, str(tmp_path))
    panel.palette.value = "tab10"
    panel.palette_button.click()
    assert is_error(panel.message) and "tab10 has 10 colours" in said(panel)
    assert Path(store.path).read_bytes() == before and panel.draft == legend


def test_a_palette_on_an_invalid_draft_changes_nothing(tmp_path):
    store = make_store(tmp_path)
    panel = LegendPanel(store, str(tmp_path))
    panel.rows.children[1].children[0].value = 1  # FOREST takes FARM's value: a draft, not saved
    draft = [dict(d) for d in panel.draft]
    panel.palette_button.click()
    assert is_error(panel.message) and "value 1 is used twice" in said(panel)
    assert panel.draft == draft and store.recipe.legend == LEGEND


# --- manual edits -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("widget, value, text", [
    (0, 1, "row 2: value 1 is used twice (rows 1 and 2)"),
    (2, "#94ff00", "row 2: colour #94ff00 is used twice (rows 1 and 2)"),
    (1, " ", "row 2: class 2 has no name"),
    (1, "farm", "row 2: name 'farm' is used twice (rows 1 and 2)"),
    (0, 255, "row 2: class value 255 is outside 0-254 (255 is nodata)"),
])
def test_manual_edit_messages_name_the_row_and_outline_it(tmp_path, widget, value, text):
    store = make_store(tmp_path)
    panel = LegendPanel(store, str(tmp_path))
    panel.rows.children[1].children[widget].value = value
    assert is_error(panel.message) and text in said(panel), said(panel)
    assert [r.layout.border for r in panel.rows.children] == [None, "1px solid #b00020", None]
    assert store.recipe.legend == LEGEND
    panel.rows.children[1].children[widget].value = {0: 2, 1: "FOREST", 2: "#007f46"}[widget]
    assert panel.message.value == "" and store.recipe.legend == LEGEND
