"""Legends to and from the tools users come from: QGIS styles (.qml), iota2's colorFile/nomenclature pair, and
CSV files as spreadsheets write them (semicolons, tabs, a byte-order mark, Latin-1)."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import rasterio

from landclass_ui.errors import LegendError
from landclass_ui.legend import Legend, LegendEntry

LEGEND = Legend([LegendEntry(1, "Forêt dense", "#006400"), LegendEntry(2, "Cultures, prairies", "#ffd700"),
                 LegendEntry(7, "Eau & zones humides", "#0064ff"), LegendEntry(12, "Bâti", "#e60000")])

#: What QGIS writes for a paletted raster ("Save Style", QGIS 3.x): the elements on the way to the palette, and
#: the attributes of the renderer and of each palette entry.
QGIS_PATH = ["pipe", "rasterrenderer", "colorPalette", "paletteEntry"]
QGIS_RENDERER = {"type": "paletted", "band": "1", "opacity": "1", "alphaBand": "-1", "nodataColor": ""}
QGIS_ENTRY = {"value", "color", "alpha", "label"}


def test_qml_is_what_qgis_writes_for_a_paletted_raster(tmp_path):
    path = tmp_path / "map.qml"
    text = LEGEND.to_qml(path)
    assert text.startswith("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>")
    root = ET.parse(path).getroot()
    assert root.tag == "qgis" and "version" in root.attrib
    node = root
    for tag in QGIS_PATH[:-1]:
        node = node.find(tag)
        assert node is not None, tag
        if tag == "rasterrenderer":
            assert node.attrib == QGIS_RENDERER
    entries = node.findall(QGIS_PATH[-1])
    assert [set(e.attrib) for e in entries] == [QGIS_ENTRY] * len(LEGEND)
    assert [(int(e.get("value")), e.get("label"), e.get("color"), e.get("alpha")) for e in entries] == [
        (e.value, e.name, e.color, "255") for e in LEGEND]
    assert Legend.from_qml(path) == LEGEND and Legend.read(path) == LEGEND  # class names survive (&, accents)


def test_qml_that_is_not_a_paletted_style_is_refused(tmp_path):
    path = tmp_path / "gray.qml"
    path.write_text("<!DOCTYPE qgis><qgis><pipe><rasterrenderer type='singlebandgray' band='1'/></pipe></qgis>")
    with pytest.raises(LegendError, match="not the QGIS style of a paletted"):
        Legend.read(path)
    (tmp_path / "broken.qml").write_text("<qgis>")
    with pytest.raises(LegendError, match="cannot read QGIS style"):
        Legend.read(tmp_path / "broken.qml")


def test_iota2_pair_round_trip_and_reading(tmp_path):
    color, nomenclature = tmp_path / "colorFile.txt", tmp_path / "nomenclature.txt"
    LEGEND.to_iota2(color, nomenclature)
    assert color.read_text().splitlines() == ["1 0 100 0", "2 255 215 0", "7 0 100 255", "12 230 0 0"]
    assert nomenclature.read_text(encoding="utf-8").splitlines()[0] == "Forêt dense:1"
    assert Legend.from_iota2(nomenclature, color) == LEGEND
    assert Legend.read(nomenclature) == LEGEND  # the colour file found beside it
    # as iota2's users write them: Latin-1, a space after the colon, colours for values not in the nomenclature
    (tmp_path / "other").mkdir()
    n2, c2 = tmp_path / "other" / "nomenclature.txt", tmp_path / "other" / "color.txt"
    n2.write_bytes("prairies:13\nforêts de conifères: 17\n\n".encode("latin-1"))
    c2.write_text("0 255 255 255\n13 170 170 0\n17 0 50 0\n255 255 255 255\n")
    assert [(e.value, e.name, e.color) for e in Legend.read(n2)] == [(13, "prairies", "#aaaa00"),
                                                                     (17, "forêts de conifères", "#003200")]
    n2.write_text("prairies=13\n")
    with pytest.raises(LegendError, match=r"line 1: 'prairies=13' is not 'name:value'"):
        Legend.from_iota2(n2)


@pytest.mark.parametrize("sep", [";", "\t", ","])
@pytest.mark.parametrize("encoding", ["utf-8-sig", "latin-1"])
def test_legend_csv_as_spreadsheets_write_it(tmp_path, sep, encoding):
    """SEPAL's import header code,class,color, separated as a spreadsheet of the locale writes it, saved with a
    byte-order mark or in Latin-1; a quoted name holds the separator."""
    rows = [sep.join(["code", "class", "color"])] + [sep.join([str(e.value), f'"{e.name}"', e.color]) for e in LEGEND]
    path = tmp_path / "legend.csv"
    path.write_bytes("\n".join(rows).encode(encoding))
    assert Legend.read(path) == LEGEND


def test_rgb_columns_in_any_order(tmp_path):
    path = tmp_path / "legend.csv"
    path.write_text("value;name;blue;red;green\n1;Forest;0;0;100\n2;Water;255;0;100\n")
    assert [(e.value, e.name, e.color) for e in Legend.read(path)] == [(1, "Forest", "#006400"),
                                                                       (2, "Water", "#0064ff")]


def test_every_class_map_has_its_qgis_style_and_iota2_pair(tmp_path):
    """The bundled scene and the Landsat 5 band files: beside each map, <stem>.qml and the iota2 pair, holding the
    map's legend (the same as its colour table and legend CSV)."""
    from test_jobs import recipe_of

    from landclass_ui.pipeline import run

    for scene in ("s2-safe", "l5-bands"):
        result = run(recipe_of(scene), str(tmp_path / scene / "map.tif"))
        legend = Legend.read(result.legend_csv)
        qml, color, nomenclature = (Path(p) for p in result.legend_files)
        assert (qml.name, color.name, nomenclature.name) == ("map.qml", "map_colorFile.txt", "map_nomenclature.txt")
        assert Legend.from_qml(qml) == legend == Legend.from_iota2(nomenclature, color)
        with rasterio.open(result.classification) as src:
            table = src.colormap(1)
        assert all("#%02x%02x%02x" % table[e.value][:3] == e.color for e in legend)


def test_cli_takes_a_qgis_style_or_an_iota2_nomenclature_as_legend(tmp_path, capsys):
    from test_jobs import recipe_of

    from landclass_ui.cli import main

    recipe = recipe_of("l5-bands")
    images, training = [r.path for r in recipe.images], recipe.training[0].path
    legend = Legend([LegendEntry(10, "forest", "#006400"), LegendEntry(20, "water", "#0000ff"),
                     LegendEntry(30, "cleared", "#b4b4b4"), LegendEntry(40, "fallen_dry", "#8b4513")])
    legend.to_qml(tmp_path / "style.qml")
    legend.to_iota2(tmp_path / "colorFile.txt", tmp_path / "nomenclature.txt")
    for given in ("style.qml", "nomenclature.txt"):
        out = tmp_path / f"map_{Path(given).stem}.tif"
        assert main(["classify", *images, "-t", training, "-o", str(out), "--legend", str(tmp_path / given),
                     "-q"]) == 0
        assert Legend.read(out.with_suffix(".qml")) == legend
    capsys.readouterr()
    (tmp_path / "bad.qml").write_text("<qgis/>")
    assert main(["classify", *images, "-t", training, "-o", str(tmp_path / "x.tif"), "--legend",
                 str(tmp_path / "bad.qml"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "not the QGIS style of a paletted" in err and "\n" not in err
