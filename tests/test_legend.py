"""Tests of landclass_ui.legend: validation, name matching, CSV import/export, legends derived from labels."""
from __future__ import annotations

import itertools
import re

import pytest

from landclass_ui.errors import LandclassError, LegendError
from landclass_ui.legend import DEFAULT_COLORS, Legend, LegendEntry, normalize_name

HEX = re.compile(r"^#[0-9a-f]{6}$")


def three_classes() -> Legend:
    return Legend(
        [
            LegendEntry(1, "FARM", "#94ff00"),
            LegendEntry(2, "forest", "#007f46"),
            LegendEntry(7, "Urban area", "#ff0000"),
        ]
    )


def write(tmp_path, text, name="legend.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


# --- validation ---------------------------------------------------------------------------------------------


def test_legend_error_is_a_landclass_error():
    assert issubclass(LegendError, LandclassError)


def test_valid_legend_keeps_entries_in_order():
    legend = three_classes()
    assert legend.values == [1, 2, 7]
    assert legend.names == ["FARM", "forest", "Urban area"]
    assert len(legend) == 3


def test_duplicate_value_rejected():
    with pytest.raises(LegendError, match=r"value 1 is used twice"):
        Legend([LegendEntry(1, "water", "#0000ff"), LegendEntry(1, "forest", "#00ff00")])


def test_duplicate_colour_rejected():
    with pytest.raises(LegendError, match=r"colour #0000ff is used twice"):
        Legend([LegendEntry(1, "water", "#0000ff"), LegendEntry(2, "sea", "#0000ff")])


def test_duplicate_colour_rejected_after_normalisation():
    # "#FF0000", "ff0000" and "red" are all the same colour
    with pytest.raises(LegendError, match=r"colour #ff0000 is used twice"):
        Legend([LegendEntry(1, "a", "#FF0000"), LegendEntry(2, "b", "red")])
    with pytest.raises(LegendError, match=r"used twice"):
        Legend([LegendEntry(1, "a", "ff0000"), LegendEntry(2, "b", "#ff0000")])


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_name_rejected(name):
    with pytest.raises(LegendError, match=r"class 2 has no name"):
        Legend([LegendEntry(1, "water", "#0000ff"), LegendEntry(2, name, "#00ff00")])


@pytest.mark.parametrize("second", ["water", "WATER", " Water ", "wAtEr"])
def test_duplicate_name_ignoring_case_rejected(second):
    with pytest.raises(LegendError, match=r"name .* is used twice"):
        Legend([LegendEntry(1, "Water", "#0000ff"), LegendEntry(2, second, "#00ff00")])


@pytest.mark.parametrize("value", [255, 256, -1])
def test_value_outside_0_254_rejected(value):
    with pytest.raises(LegendError, match=rf"class value {value} is outside 0-254"):
        Legend([LegendEntry(value, "water", "#0000ff"), LegendEntry(2, "forest", "#00ff00")])


def test_values_0_and_254_accepted():
    legend = Legend([LegendEntry(0, "water", "#0000ff"), LegendEntry(254, "forest", "#00ff00")])
    assert legend.values == [0, 254]


def test_empty_legend_rejected():
    with pytest.raises(LegendError, match="no class"):
        Legend([])


def test_unreadable_colour_rejected():
    with pytest.raises(LegendError, match="not-a-colour"):
        Legend([LegendEntry(1, "water", "not-a-colour")])


def test_several_problems_reported_together():
    with pytest.raises(LegendError) as info:
        Legend([LegendEntry(1, "water", "#0000ff"), LegendEntry(1, "", "#0000ff")])
    message = str(info.value)
    assert "value 1 is used twice" in message
    assert "colour #0000ff is used twice" in message
    assert "has no name" in message


# --- value_of / name_of / colormap ------------------------------------------------------------------------


@pytest.mark.parametrize("label", ["FARM", "farm ", "Farm", "  fArM", "farm"])
def test_value_of_ignores_case_and_spaces(label):
    assert three_classes().value_of(label) == 1


def test_value_of_multiword_name():
    assert three_classes().value_of(" URBAN AREA ") == 7


@pytest.mark.parametrize("label", [7, "7", " 7 ", 7.0, "7.0"])
def test_value_of_integer(label):
    assert three_classes().value_of(label) == 7


def test_value_of_unknown_label_lists_legend():
    with pytest.raises(LegendError) as info:
        three_classes().value_of("wetland")
    message = str(info.value)
    assert "'wetland'" in message
    for part in ("1 FARM", "2 forest", "7 Urban area"):
        assert part in message


def test_value_of_unknown_integer_rejected():
    with pytest.raises(LegendError, match="not in the legend"):
        three_classes().value_of(3)


def test_name_of():
    legend = three_classes()
    assert legend.name_of(2) == "forest"
    with pytest.raises(LegendError, match="no class with value 3"):
        legend.name_of(3)


def test_colormap():
    # #94ff00 -> (0x94, 0xff, 0x00) = (148, 255, 0); #007f46 -> (0, 127, 70); #ff0000 -> (255, 0, 0)
    assert three_classes().colormap() == {
        1: (148, 255, 0, 255),
        2: (0, 127, 70, 255),
        7: (255, 0, 0, 255),
    }


def test_colours_stored_as_lowercase_hex():
    legend = Legend([LegendEntry(1, "a", "#ABCDEF"), LegendEntry(2, "b", "00FF00"), LegendEntry(3, "c", "blue")])
    assert [e.color for e in legend] == ["#abcdef", "#00ff00", "#0000ff"]


def test_to_list_from_list_round_trip():
    legend = three_classes()
    assert Legend.from_list(legend.to_list()) == legend
    assert legend.to_list()[0] == {"value": 1, "name": "FARM", "color": "#94ff00"}


def test_from_list_missing_key():
    with pytest.raises(LegendError, match="value, name and color"):
        Legend.from_list([{"value": 1, "name": "water"}])


# --- CSV ----------------------------------------------------------------------------------------------------


def test_csv_sepal_import_layout(tmp_path):
    path = write(tmp_path, "code,class,color\n1,Forest,#006400\n2,Water,#0000FF\n10,Crops,#ffff00\n")
    legend = Legend.from_csv(path)
    assert legend == Legend(
        [
            LegendEntry(1, "Forest", "#006400"),
            LegendEntry(2, "Water", "#0000ff"),
            LegendEntry(10, "Crops", "#ffff00"),
        ]
    )


def test_csv_export_layout(tmp_path):
    path = write(tmp_path, "color,value,label\n#006400,3,Forest\n#0000ff,5,Water\n")
    assert Legend.from_csv(path) == Legend(
        [LegendEntry(3, "Forest", "#006400"), LegendEntry(5, "Water", "#0000ff")]
    )


def test_csv_rgb_columns(tmp_path):
    path = write(tmp_path, "value,label,R,G,B\n1,Forest,0,100,0\n2,Water,0,0,255\n")
    legend = Legend.from_csv(path)
    # (0, 100, 0) -> #006400, (0, 0, 255) -> #0000ff
    assert legend == Legend([LegendEntry(1, "Forest", "#006400"), LegendEntry(2, "Water", "#0000ff")])


def test_csv_red_green_blue_columns(tmp_path):
    path = write(tmp_path, "value,name,red,green,blue\n4,Bare soil,160,82,45\n9,Snow,255,250,250\n")
    legend = Legend.from_csv(path)
    # 160 = 0xa0, 82 = 0x52, 45 = 0x2d; 250 = 0xfa
    assert legend == Legend([LegendEntry(4, "Bare soil", "#a0522d"), LegendEntry(9, "Snow", "#fffafa")])


def test_csv_rgb_component_out_of_range(tmp_path):
    path = write(tmp_path, "value,label,R,G,B\n1,Forest,0,300,0\n2,Water,0,0,255\n")
    with pytest.raises(LegendError, match="0-255"):
        Legend.from_csv(path)


def test_csv_colours_without_hash(tmp_path):
    path = write(tmp_path, "code,class,color\n1,Forest,006400\n2,Water,0000FF\n")
    assert [e.color for e in Legend.from_csv(path)] == ["#006400", "#0000ff"]


def test_csv_colour_names(tmp_path):
    path = write(tmp_path, "value,label,color\n1,Forest,green\n2,Water,Blue\n3,Sand,yellow\n")
    # CSS: green = #008000, blue = #0000ff, yellow = #ffff00
    assert [e.color for e in Legend.from_csv(path)] == ["#008000", "#0000ff", "#ffff00"]


def test_csv_headers_case_and_spaces(tmp_path):
    path = write(tmp_path, "Value, Label, Color\n1, Forest, #006400\n2, Water, #0000ff\n")
    assert Legend.from_csv(path) == Legend(
        [LegendEntry(1, "Forest", "#006400"), LegendEntry(2, "Water", "#0000ff")]
    )


def test_csv_with_utf8_bom(tmp_path):
    # spreadsheets often save CSV with a byte-order mark
    path = write(tmp_path, "code,class,color\n1,Forêt,#006400\n2,Eau,#0000ff\n", encoding="utf-8-sig")
    assert Legend.from_csv(path).names == ["Forêt", "Eau"]


def test_csv_round_trip(tmp_path):
    legend = Legend(
        [
            LegendEntry(1, "FARM", "#94ff00"),
            LegendEntry(2, "forest, dense", "#007f46"),  # a comma inside a name must be quoted
            LegendEntry(3, 'so-called "bare"', "#a0522d"),
            LegendEntry(4, "None", "#0000ff"),  # names pandas would read as missing by default
            LegendEntry(5, "NA", "#ffffff"),
            LegendEntry(200, "123", "#000000"),
        ]
    )
    path = tmp_path / "out" / "legend.csv"
    text = legend.to_csv(path)
    assert path.read_text(encoding="utf-8") == text
    assert Legend.from_csv(path) == legend


def test_csv_header_is_color_value_label(tmp_path):
    path = tmp_path / "legend.csv"
    three_classes().to_csv(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "color,value,label"
    assert lines[1] == "#94ff00,1,FARM"
    assert len(lines) == 4


def test_to_csv_without_path_writes_nothing(tmp_path):
    text = three_classes().to_csv()
    assert text.startswith("color,value,label\n")
    assert list(tmp_path.iterdir()) == []


def test_csv_missing_file(tmp_path):
    with pytest.raises(LegendError, match="not found"):
        Legend.from_csv(tmp_path / "nope.csv")


def test_csv_empty_file(tmp_path):
    with pytest.raises(LegendError, match="cannot read legend CSV"):
        Legend.from_csv(write(tmp_path, ""))


def test_csv_header_only(tmp_path):
    with pytest.raises(LegendError, match="no rows"):
        Legend.from_csv(write(tmp_path, "color,value,label\n"))


def test_csv_directory_is_unreadable(tmp_path):
    with pytest.raises(LegendError, match="cannot read legend CSV"):
        Legend.from_csv(tmp_path)


def test_csv_binary_file(tmp_path):
    path = tmp_path / "legend.csv"
    path.write_bytes(b"\xff\xfe\x00\x81\x90\xfe\xff" * 20)
    with pytest.raises(LegendError):
        Legend.from_csv(path)


def test_csv_unknown_columns(tmp_path):
    with pytest.raises(LegendError, match="cannot find the columns") as info:
        Legend.from_csv(write(tmp_path, "foo,bar\nx,y\nz,w\n"))
    assert "foo" in str(info.value)


def test_csv_non_integer_value(tmp_path):
    path = write(tmp_path, "value,label,color\n1,Forest,#006400\n2.5,Water,#0000ff\n")
    with pytest.raises(LegendError, match=r"row 3: value '2.5' is not an integer"):
        Legend.from_csv(path)


def test_csv_invalid_legend_content(tmp_path):
    path = write(tmp_path, "value,label,color\n1,Forest,#006400\n1,Water,#0000ff\n")
    with pytest.raises(LegendError, match="value 1 is used twice"):
        Legend.from_csv(path)


# --- from_labels -----------------------------------------------------------------------------------------


def test_from_labels_names_sorted_by_normalized_key():
    legend = Legend.from_labels(["water", "Forest", "farm", "forest ", "WATER", "urban"])
    # normalized keys sorted: farm < forest < urban < water
    assert legend.values == [1, 2, 3, 4]
    assert [normalize_name(n) for n in legend.names] == ["farm", "forest", "urban", "water"]
    assert legend.names[1] == "Forest"  # the first spelling met, stripped


def test_from_labels_independent_of_input_order():
    labels = ["water", "Forest", "farm", "urban", "Bare soil"]
    expected = {"bare soil": 1, "farm": 2, "forest": 3, "urban": 4, "water": 5}
    for perm in itertools.permutations(labels):
        legend = Legend.from_labels(list(perm))
        assert {normalize_name(e.name): e.value for e in legend} == expected


def test_from_labels_integers_keep_their_values():
    legend = Legend.from_labels([10, 3, "10", " 3", 200, "7"])
    # sorted numerically (3 < 7 < 10 < 200), not as text
    assert legend.values == [3, 7, 10, 200]
    assert legend.names == ["3", "7", "10", "200"]


def test_from_labels_same_integer_written_differently():
    legend = Legend.from_labels([1, "1.0", "1", 2.0])
    assert legend.values == [1, 2]


def test_from_labels_colours_distinct_and_hex():
    legend = Legend.from_labels(["a", "b", "c", "d", "e"])
    colors = [e.color for e in legend]
    assert len(set(colors)) == 5
    assert all(HEX.match(c) for c in colors)


def test_from_labels_many_classes_get_distinct_colours():
    # more classes than DEFAULT_COLORS holds
    n = len(DEFAULT_COLORS) + 30
    legend = Legend.from_labels([f"class {i:03d}" for i in range(n)])
    colors = [e.color for e in legend]
    assert len(legend) == n
    assert len(set(colors)) == n
    assert all(HEX.match(c) for c in colors)


def test_from_labels_colors_mapping_honoured():
    legend = Legend.from_labels(["water", "forest", "farm"], {"water": "#0000FF", "forest": "darkgreen"})
    by_name = {e.name: e.color for e in legend}
    assert by_name["water"] == "#0000ff"
    assert by_name["forest"] == "#006400"  # CSS darkgreen
    assert by_name["farm"] not in ("#0000ff", "#006400")


def test_from_labels_mapping_colour_equal_to_a_default_is_kept():
    # "a" has no colour given and comes first; "b" asks for the first default colour: b keeps it
    legend = Legend.from_labels(["a", "b"], {"b": DEFAULT_COLORS[0]})
    by_name = {e.name: e.color for e in legend}
    assert by_name["b"] == DEFAULT_COLORS[0]
    assert by_name["a"] != DEFAULT_COLORS[0]


def test_from_labels_duplicate_colours_in_mapping():
    legend = Legend.from_labels(["a", "b", "c"], {"a": "#123456", "b": "#123456", "c": "#123456"})
    colors = [e.color for e in legend]
    assert len(set(colors)) == 3
    assert colors.count("#123456") == 1


def test_from_labels_bad_colour_in_mapping_replaced():
    legend = Legend.from_labels(["a", "b"], {"a": "not a colour"})
    assert all(HEX.match(e.color) for e in legend)
    assert len({e.color for e in legend}) == 2


def test_from_labels_empty():
    with pytest.raises(LegendError, match="no class"):
        Legend.from_labels([])


def test_from_labels_gives_common_class_names_their_conventional_colours():
    """Water blue, forest green, built-up red (ESA WorldCover colours), others from the palette."""
    legend = Legend.from_labels(["water", "forest", "village", "dryout", "Bare Earth"])
    by_name = {e.name: e.color for e in legend}
    assert by_name["water"] == "#0064c8" and by_name["forest"] == "#006400"
    assert by_name["village"] == "#fa0000" and by_name["Bare Earth"] == "#b4b4b4"
    assert by_name["dryout"] == DEFAULT_COLORS[0]
    # two names of one colour: the first in sorted order takes it ("Lake" < "water"), the other a free one
    both = {e.name: e.color for e in Legend.from_labels(["water", "Lake"])}
    assert both["Lake"] == "#0064c8" and both["water"] != "#0064c8"
    # a colour given by the file wins
    assert Legend.from_labels(["water", "land"], {"water": "#00ffff"}).colormap()[2][:3] == (0, 255, 255)
