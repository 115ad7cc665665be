"""Legend CSV columns: the roles guessed from the header and the content (guess_columns), given as text
(parse_columns, the CLI's --legend-columns), read with explicit roles (Legend.from_table); SEPAL's documented
legend CSVs as spreadsheets save them; matplotlib palettes (palette_colors, Legend.with_palette)."""
from __future__ import annotations

import pytest

from landclass_ui.errors import LegendError
from landclass_ui.legend import (
    PALETTES,
    Legend,
    LegendColumns,
    LegendEntry,
    check_rows,
    guess_columns,
    palette_colors,
    palette_size,
    parse_columns,
    read_table,
)

# SEPAL's documentation, Classification recipe, LEG, "Import legend" (docs.sepal.io, cookbook/classification):
# the same classes (ESA WorldCover's) once with hex colours, once with "RGB-defined colors" under the header
# code,class,red,blue,green although the numbers are in R,G,B order (Tree cover 0,100,0 is #006400).
SEPAL_HEX = """code,class,color
10,Tree cover,#006400
20,Shrubland,#ffbb22
30,Grassland,#ffff4c
40,Cropland,#f096ff
50,Built-up,#fa0000
60,Bare,#b4b4b4
70,Snow,#f0f0f0
80,Water,#0064c8
90,Herbaceous wetland,#0096a0
95,Mangroves,#00cf75
100,Moss,#fae6a0
"""
SEPAL_RGB = """code,class,red,blue,green
10,Tree cover,0,100,0
20,Shrubland,255,187,34
30,Grassland,255,255,76
40,Cropland,240,150,255
50,Built-up,250,0,0
60,Bare,180,180,180
70,Snow,240,240,240
80,Water,0,100,200
90,Herbaceous wetland,0,150,160
95,Mangroves,0,207,117
100,Moss,250,230,160
"""
WORLDCOVER_COLORS = ["#006400", "#ffbb22", "#ffff4c", "#f096ff", "#fa0000", "#b4b4b4", "#f0f0f0", "#0064c8",
                     "#0096a0", "#00cf75", "#fae6a0"]
WORLDCOVER_VALUES = [10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100]


def spreadsheet(text: str, sep: str = ",", encoding: str = "utf-8", eol: str = "\n") -> bytes:
    """``text`` as a spreadsheet saves it: another separator (no cell here holds one), line ends, encoding."""
    return eol.join(line.replace(",", sep) for line in text.splitlines()).encode(encoding)


def write(tmp_path, data: bytes | str, name: str = "legend.csv"):
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


# --- SEPAL's documented examples ----------------------------------------------------------------------------


@pytest.mark.parametrize("sep", [",", ";", "\t"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1"])
def test_sepal_hex_example_as_spreadsheets_save_it(tmp_path, sep, encoding):
    text = SEPAL_HEX.replace("Snow", "Neige et glace").replace("Bare", "Sol nu (dénudé)")
    path = write(tmp_path, spreadsheet(text, sep, encoding, "\r\n"))
    assert str(guess_columns(path)) == "value,name,color"
    legend = Legend.read(path)
    assert legend.values == WORLDCOVER_VALUES and [e.color for e in legend] == WORLDCOVER_COLORS
    assert legend.names[5:7] == ["Sol nu (dénudé)", "Neige et glace"]
    assert read_table(path).delimiter == sep


@pytest.mark.parametrize("sep", [",", ";"])
@pytest.mark.parametrize("encoding", ["utf-8-sig", "latin-1"])
def test_sepal_rgb_example_follows_the_header_until_the_roles_are_given(tmp_path, sep, encoding):
    """The header says red,blue,green: the guess follows it (and the colours are wrong, as they would be in
    SEPAL); giving the roles in the file's real order reads the same legend as the hex example."""
    path = write(tmp_path, spreadsheet(SEPAL_RGB.replace("Water", "Eau libre"), sep, encoding))
    columns = guess_columns(path)
    assert columns.roles == ("value", "name", "red", "blue", "green")
    guessed = Legend.read(path)
    assert guessed.colormap()[10][:3] == (0, 0, 100)  # red 0, blue 100, green 0 as the header says
    for given in ("value,name,r,g,b", "code,class,red,green,blue", LegendColumns(("value", "name", "red", "green",
                                                                                    "blue"))):
        legend = Legend.from_table(path, given)
        assert [e.color for e in legend] == WORLDCOVER_COLORS and legend.values == WORLDCOVER_VALUES
        assert legend.names[7] == "Eau libre"
        assert Legend.read(path, columns=given) == legend
    hex_legend = Legend.from_csv(write(tmp_path, SEPAL_HEX.replace("Water", "Eau libre"), "hex.csv"))
    assert Legend.from_table(path, "value,name,r,g,b") == hex_legend


def test_sepal_export_layout_color_value_label(tmp_path):
    legend = Legend.from_csv(write(tmp_path, SEPAL_HEX))
    exported = tmp_path / "recipe_legend.csv"
    legend.to_csv(exported)
    assert exported.read_text(encoding="utf-8").splitlines()[:2] == ["color,value,label", "#006400,10,Tree cover"]
    assert str(guess_columns(exported)) == "color,value,name"
    assert Legend.read(exported) == legend
    # the export as a French spreadsheet saves it: semicolons, a byte-order mark, accents
    french = legend.to_csv().replace(",", ";").replace("Tree cover", "Forêt")
    path = write(tmp_path, french.encode("utf-8-sig"), "fr.csv")
    assert Legend.read(path).names[0] == "Forêt" and Legend.read(path).values == WORLDCOVER_VALUES


# --- guessing -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, roles", [
    ("value,label,R,G,B\n1,Forest,0,100,0\n2,Water,0,0,255\n", "value,name,red,green,blue"),
    ("B;G;R;Name;Value\n0;100;0;Forest;1\n255;0;0;Water;2\n", "blue,green,red,name,value"),
    ("class,label,color\n1,Forest,#006400\n2,Water,#0000ff\n", "value,name,color"),  # "class" holding integers
    ("id,value,name,colour,notes\n7,1,Forest,#006400,x\n8,2,Water,#0000ff,y\n", "-,value,name,color"),
    # no header: the content tells the columns
    ("1,Forest,#006400\n2,Water,#0000ff\n", "value,name,color"),
    ("#006400;1;Forest\n#0000ff;2;Water\n", "color,value,name"),
    ("10,Tree cover,0,100,0\n20,Shrubland,255,187,34\n", "value,name,red,green,blue"),
    # headers it does not know: the content again
    ("Klasse,Bezeichnung,Farbe\n1,Wald,#006400\n2,Wasser,#0000ff\n", "value,name,color"),
    ("a,b\nx,y\n", "name"),  # no value, no colour: Legend.read says so
])
def test_guess_columns(tmp_path, text, roles):
    assert str(guess_columns(write(tmp_path, text))) == roles


def test_guess_keeps_a_header_role_whose_cells_are_wrong_so_the_row_is_named(tmp_path):
    path = write(tmp_path, "value,label,color\n1,Forest,#006400\n2.5,Water,#0000ff\n3,Sand,#zzzzzz\n")
    assert str(guess_columns(path)) == "value,name,color"
    with pytest.raises(LegendError) as info:
        Legend.read(path)
    assert "row 3: value '2.5' is not an integer" in str(info.value)
    assert "row 4: colour '#zzzzzz'" in str(info.value)


def test_a_legend_without_names_is_named_by_its_values(tmp_path):
    legend = Legend.read(write(tmp_path, "value,color\n1,#006400\n2,#0000ff\n"))
    assert legend.names == ["1", "2"]


def test_utf16_tab_separated_as_excel_saves_unicode_text(tmp_path):
    path = write(tmp_path, "value\tname\tcolor\r\n1\tForêt\t#006400\r\n2\tEau\t#0000ff\r\n".encode("utf-16"))
    assert Legend.read(path).names == ["Forêt", "Eau"] and read_table(path).encoding == "utf-16"


def test_windows_1252_names(tmp_path):
    path = write(tmp_path, "value;name;color\n1;Forêt d’Europe;#006400\n2;Eau €;#0000ff\n".encode("cp1252"))
    assert Legend.read(path).names == ["Forêt d’Europe", "Eau €"]


# --- roles given as text -------------------------------------------------------------------------------------


def test_parse_columns_positional_roles():
    columns = parse_columns("value,name,r,g,b")
    assert columns.roles == ("value", "name", "red", "green", "blue")
    assert (columns.value, columns.name, columns.color, columns.rgb) == (0, 1, None, (2, 3, 4))
    assert parse_columns(" Hex , -, code ,label").roles == ("color", "ignore", "value", "name")
    assert parse_columns(str(parse_columns("-,-,b,value,g,r"))) == parse_columns("-,-,b,value,g,r")
    assert str(parse_columns("value,color,-,-")) == "value,color"


@pytest.mark.parametrize("text, words", [
    ("value,name,r,g,x", ["'x'", "column 5"]),
    ("name,r,g,b", ["no column holds the class values"]),
    ("value,name,r,g", ["blue"]),
    ("value,name", ["no column holds the colours"]),
    ("value,value,color", ["columns 1 and 2"]),
    ("value,color,r,g,b", ["both"]),
])
def test_parse_columns_errors(text, words):
    with pytest.raises(LegendError) as info:
        parse_columns(text)
    for word in words:
        assert word in str(info.value)


def test_roles_that_do_not_fit_the_file(tmp_path):
    path = write(tmp_path, "value,name,color\n1,a,#000000\n")
    with pytest.raises(LegendError, match="the file has 3"):
        Legend.from_table(path, "value,name,-,-,color")
    with pytest.raises(LegendError, match="cannot find the columns") as info:
        Legend.from_table(write(tmp_path, "foo,bar\nx,y\n", "foo.csv"))
    assert "foo, bar" in str(info.value)


def test_explicit_roles_rows_named(tmp_path):
    path = write(tmp_path, "v,n,r,g,b\n1,a,0,0,0\n1,b,0,0,1\n3,c,0,300,x\n4,d,0,0,0\n")
    with pytest.raises(LegendError) as info:
        Legend.from_table(path, "value,name,r,g,b")
    message = str(info.value)
    assert "row 3: value 1 is used twice (rows 2 and 3)" in message
    assert "row 4: green 300 is outside 0-255" in message and "row 4: blue 'x' is not an integer" in message
    assert "row 5: colour #000000 is used twice (rows 2 and 5)" in message


def test_columns_for_a_qgis_style_are_refused(tmp_path):
    Legend([LegendEntry(1, "a", "#000000")]).to_qml(tmp_path / "s.qml")
    with pytest.raises(LegendError, match="apply to a legend CSV"):
        Legend.read(tmp_path / "s.qml", columns="value,name,color")


def test_check_rows_names_each_row():
    rows = [{"value": 1, "name": "a", "color": "#000000"}, {"value": 1, "name": " ", "color": "#000000"},
            {"value": 300, "name": "A", "color": "nope"}]
    entries, problems = check_rows(rows)
    assert [e.name for e in entries] == ["a"]
    assert [n for n, _ in problems] == [2, 2, 2, 3, 3, 3]
    texts = [t for _, t in problems]
    assert texts[:3] == ["row 2: class 1 has no name", "row 2: value 1 is used twice (rows 1 and 2)",
                         "row 2: colour #000000 is used twice (rows 1 and 2)"]
    assert texts[3].startswith("row 3: class value 300 is outside 0-254")
    assert texts[4].startswith("row 3: colour 'nope'")
    assert texts[5] == "row 3: name 'A' is used twice (rows 1 and 3)"  # names match ignoring case


# --- palettes -----------------------------------------------------------------------------------------------


def test_palette_colors_are_matplotlibs():
    import matplotlib
    from matplotlib.colors import to_hex

    assert palette_colors("tab10", 10) == [to_hex(c) for c in matplotlib.colormaps["tab10"].colors]
    assert palette_colors("Set3", 2) == ["#8dd3c7", "#ffffb3"]
    assert palette_colors("viridis", 3) == ["#440154", "#21918c", "#fde725"]
    assert palette_colors("viridis", 0) == []


@pytest.mark.parametrize("name", list(PALETTES))
def test_every_offered_palette_gives_distinct_colours(name):
    n = palette_size(name) or 60
    colors = palette_colors(name, n)
    assert len(colors) == n == len(set(colors))
    assert (PALETTES[name] == "qualitative") == (palette_size(name) is not None)


def test_with_palette_in_value_order_and_its_limits():
    legend = Legend([LegendEntry(30, "c", "#000000"), LegendEntry(10, "a", "#000001"), LegendEntry(20, "b", "#000002")])
    coloured = legend.with_palette("Paired")
    assert coloured.values == [30, 10, 20] and coloured.names == ["c", "a", "b"]
    assert [e.color for e in coloured] == [palette_colors("Paired", 3)[i] for i in (2, 0, 1)]
    big = Legend([LegendEntry(i, f"class {i}", f"#0000{i:02x}") for i in range(12)])
    with pytest.raises(LegendError, match="palette Set1 has 9 colours and the legend 12 classes"):
        big.with_palette("Set1")
    assert len({e.color for e in big.with_palette("YlGn")}) == 12
    with pytest.raises(LegendError, match="unknown palette 'rainbowz'"):
        legend.with_palette("rainbowz")
    with pytest.raises(LegendError, match="only .* distinct colours"):
        palette_colors("binary", 255 * 2)


def test_cli_legend_columns_override_the_guess(tmp_path):
    """SEPAL's red,blue,green header over R,G,B values: the guess follows the header, --legend-columns fixes it."""
    import subprocess
    import sys

    import rasterio

    from landclass_ui.sample import sample_paths

    s = sample_paths()
    csv_path = tmp_path / "legend.csv"
    csv_path.write_text("code;class;red;blue;green\n1;FARM;148;255;0\n2;FOREST;0;127;70\n3;WATER;0;148;255\n",
                        encoding="utf-8-sig")
    common = [sys.executable, "-m", "landclass_ui.cli", "classify", s.safe, "-t", s.polygons, "--class-field",
              s.class_field, "--legend", str(csv_path), "--bands", "B04,B8A"]
    colours = {}
    for roles in (None, "value,name,r,g,b"):
        out = tmp_path / f"{roles or 'guess'}.tif"
        result = subprocess.run([*common, "-o", str(out), *(["--legend-columns", roles] if roles else [])],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        with rasterio.open(out) as src:
            colours[roles] = src.colormap(1)[1][:3]
    assert colours[None] == (148, 0, 255)  # as the header says: red 148, blue 255, green 0
    assert colours["value,name,r,g,b"] == (148, 255, 0)  # the file's real R,G,B order
    bad = subprocess.run([*common, "-o", str(tmp_path / "x.tif"), "--legend-columns", "value,nom"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "'nom' (column 2) is not a role" in bad.stderr and bad.stderr.count("\n") == 1
