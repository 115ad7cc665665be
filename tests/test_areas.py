"""Class area tables (landclass_ui.areas) of real class maps: the bundled Sentinel-2 sample classified by the
pipeline (UTM 31N, 60 m) and assessed against a second annotator's polygons (estimates stratified by mapped area),
and the Sentinel-2 Amazon subset (EPSG:4326: pixel areas on the ellipsoid, row by row).

Pixel counts are checked against an independent count of the whole map read at once; geographic pixel areas
against an equal-area projection (a lat/lon cell is a rectangle in EPSG:6933, the cylindrical equal-area
projection on WGS 84) and against known values (the area of the WGS 84 ellipsoid, a spherical zone); the adjusted
areas against the AccuracyReport the pipeline made.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine

from landclass_ui import areas as areas_module
from landclass_ui.accuracy import Z95, AccuracyError, assess
from landclass_ui.areas import ADJUSTED_COLUMNS, COLUMNS, areas_path, class_areas, pixel_hectares, write_areas
from landclass_ui.errors import CRSError, ImageError
from landclass_ui.legend import Legend, LegendEntry
from landclass_ui.pipeline import run
from landclass_ui.recipe import ImageRef, Recipe, TrainingRef
from landclass_ui.report import mapped_areas
from landclass_ui.sample import sample_paths

DATA = Path(__file__).parent / "data"
SAMPLE = sample_paths()
#: Area of the WGS 84 ellipsoid in m^2, as GeographicLib documents it (Planimeter, "the total area of the
#: ellipsoid"; C. F. F. Karney, geographiclib.sourceforge.io/C++/doc/Planimeter.1.html).
WGS84_AREA_M2 = 510065621724088.5


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    """The bundled sample classified by the default forest, assessed against polygons_emunaibari (stratified)."""
    out = tmp_path_factory.mktemp("bundled")
    recipe = Recipe(images=[ImageRef(SAMPLE.safe)], training=[TrainingRef("file", SAMPLE.polygons, "class")])
    result = run(recipe, str(out / "map.tif"), progress=False,
                 reference=TrainingRef("file", str(DATA / "s2_t31tcj/polygons_emunaibari.geojson"), "class"),
                 reference_remap={"farmland": "FARM"})
    assert result.accuracy is not None and result.accuracy.stratified
    return result


@pytest.fixture(scope="module")
def amazon(tmp_path_factory):
    """The Sentinel-2 Amazon subset (EPSG:4326, 4 classes), half the polygons held out."""
    out = tmp_path_factory.mktemp("amazon")
    recipe = Recipe(images=[ImageRef(str(DATA / "s2_amazon/sen2_L2A_12band.tif"))],
                    training=[TrainingRef("file", str(DATA / "s2_amazon/training_polygons.geojson"), "class")])
    result = run(recipe, str(out / "map.tif"), progress=False, validation_ratio=0.5, seed=0)
    with rasterio.open(result.classification) as src:
        assert src.crs.is_geographic
    return result


def independent_counts(path) -> dict[int, int]:
    """Pixels of each value other than 255, from the whole map read at once."""
    with rasterio.open(path) as src:
        data = src.read(1)
    values, counts = np.unique(data[data != 255], return_counts=True)
    return dict(zip(values.tolist(), counts.tolist()))


@pytest.mark.parametrize("scene", ["bundled", "amazon"])
def test_pixels_and_shares_match_an_independent_count(scene, request):
    result = request.getfixturevalue(scene)
    table = class_areas(result.classification, result.prepared.legend)
    assert list(table.columns) == list(COLUMNS)
    assert table["value"].tolist() == result.prepared.legend.values  # legend order
    assert table["class"].tolist() == result.prepared.legend.names
    expected = independent_counts(result.classification)
    assert dict(zip(table["value"], table["pixels"])) == {v: expected.get(v, 0) for v in table["value"]}
    with rasterio.open(result.classification) as src:
        valid = int((src.read(1) != 255).sum())
    assert table["pixels"].sum() == valid > 0
    assert table["share"].sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(table["share"], table["pixels"] / valid, rtol=1e-15)


def test_projected_hectares_are_pixels_times_the_pixel_area(bundled):
    table = class_areas(bundled.classification)  # legend from map_legend.csv beside it
    assert table["class"].tolist() == ["FARM", "FOREST", "WATER"]
    with rasterio.open(bundled.classification) as src:
        assert src.crs.to_epsg() == 32631 and src.crs.linear_units == "metre"
        pixel_ha = src.res[0] * src.res[1] / 10_000
    assert pixel_ha == pytest.approx(0.36)  # 60 m pixels
    np.testing.assert_allclose(table["hectares"], table["pixels"] * pixel_ha, rtol=1e-15)
    # the report's mapped areas (the strata of the pipeline's assessment) are the same numbers
    report_areas, unit = mapped_areas(bundled.classification, bundled.prepared.legend)
    assert unit == "ha"
    np.testing.assert_allclose(table["hectares"], report_areas.to_numpy(), rtol=1e-15)


def test_geographic_hectares_row_by_row_against_an_equal_area_projection(amazon):
    """A lat/lon pixel is a rectangle in EPSG:6933 (cylindrical equal-area on WGS 84, which keeps areas on the
    ellipsoid): its area is width x height there, an independent computation of every row's pixel area."""
    from pyproj import Transformer

    table = class_areas(amazon.classification, amazon.prepared.legend)
    with rasterio.open(amazon.classification) as src:
        data, transform, height = src.read(1), src.transform, src.height
        assert src.crs.to_epsg() == 4326
    ours = pixel_hectares("EPSG:4326", transform, height)
    to_ea = Transformer.from_crs("EPSG:4326", "EPSG:6933", always_xy=True)
    lats = transform.f + transform.e * np.arange(height + 1)
    x, y = to_ea.transform(np.array([transform.c, transform.c + transform.a])[None, :].repeat(height + 1, 0),
                           lats[:, None].repeat(2, 1))
    theirs = np.abs(np.diff(y[:, 0])) * abs(x[0, 1] - x[0, 0]) / 10_000
    np.testing.assert_allclose(ours, theirs, rtol=1e-7)
    assert 0.0098 < ours.min() < ours.max() < 0.0100  # about 10 m x 10 m at 1.5 degrees south
    for value, hectares in zip(table["value"], table["hectares"]):
        rows = (data == value).sum(axis=1)
        assert hectares == pytest.approx(float(rows @ theirs), rel=1e-7)
    assert table["hectares"].sum() == pytest.approx(float((data != 255).sum(axis=1) @ theirs), rel=1e-7)


def test_geographic_pixel_areas_against_known_values():
    """A whole-globe 1 degree grid covers the WGS 84 ellipsoid (GeographicLib's area); on a sphere a lat/lon cell is
    R^2 dlon (sin lat1 - sin lat0) (Archimedes' zone), and the CRS's own ellipsoid is the one used."""
    for res in (1.0, 0.5):
        per_row = pixel_hectares("EPSG:4326", Affine(res, 0, -180, 0, -res, 90), round(180 / res))
        assert per_row.sum() * round(360 / res) * 10_000 == pytest.approx(WGS84_AREA_M2, rel=1e-12)
    r = 6_371_000.0
    sphere = pixel_hectares(f"+proj=longlat +R={r} +no_defs", Affine(0.001, 0, 10, 0, -0.001, 45.002), 2)
    for row, top in enumerate((45.002, 45.001)):
        bottom = top - 0.001
        expected = r * r * math.radians(0.001) * (math.sin(math.radians(top)) - math.sin(math.radians(bottom)))
        assert sphere[row] * 10_000 == pytest.approx(expected, rel=1e-9)
    # south-up grids and rows near a pole
    assert pixel_hectares("EPSG:4326", Affine(1, 0, 0, 0, 1, -90), 180).sum() == pytest.approx(
        WGS84_AREA_M2 / 360 / 10_000, rel=1e-12)


def test_counted_window_by_window(amazon, bundled, monkeypatch):
    """Small windows (whole blocks, 512 x 512 px here) give the same table: the map is never read whole."""
    reads = []
    real_windows = areas_module._windows

    def counting(src):
        for w in real_windows(src):
            reads.append(w)
            yield w

    for result in (bundled, amazon):
        whole = class_areas(result.classification)
        monkeypatch.setattr(areas_module, "WINDOW_PIXELS", 5000)
        monkeypatch.setattr(areas_module, "_windows", counting)
        reads.clear()
        windowed = class_areas(result.classification)
        monkeypatch.undo()
        with rasterio.open(result.classification) as src:
            if src.width > src.block_shapes[0][1]:  # the Amazon map is one 512 px block: one window
                assert len(reads) > 1 and max(w.width * w.height for w in reads) < src.width * src.height
        pd.testing.assert_frame_equal(windowed[["value", "class", "pixels", "share"]],
                                      whole[["value", "class", "pixels", "share"]])
        np.testing.assert_allclose(windowed["hectares"], whole["hectares"], rtol=1e-12)


def test_classes_without_pixels_and_values_outside_the_legend(bundled, caplog):
    legend = bundled.prepared.legend.with_classes(["SNOW"])
    table = class_areas(bundled.classification, legend)
    snow = table.set_index("class").loc["SNOW"]
    assert (snow["pixels"], snow["hectares"], snow["share"]) == (0, 0.0, 0.0)
    assert table["share"].sum() == pytest.approx(1.0)
    short = Legend([e for e in bundled.prepared.legend if e.name != "WATER"])
    with caplog.at_level(logging.WARNING, logger="landclass"):
        table = class_areas(bundled.classification, short)
    assert "values not in its legend: 3" in caplog.text
    assert table["value"].tolist() == [1, 2, 3] and table["class"].tolist() == ["FARM", "FOREST", ""]
    assert table["share"].sum() == pytest.approx(1.0)


def test_write_areas_with_the_stratified_assessment(bundled):
    report = bundled.accuracy
    path = write_areas(bundled.classification, bundled.prepared.legend, accuracy=report)
    assert path == areas_path(bundled.classification) == str(Path(bundled.classification).with_name("map_areas.csv"))
    table = pd.read_csv(path)
    assert list(table.columns) == list(COLUMNS) + list(ADJUSTED_COLUMNS)
    expected = class_areas(bundled.classification, bundled.prepared.legend)
    # written rounded: hectares to 4 decimals (1 m²), shares to 6
    pd.testing.assert_frame_equal(table[list(COLUMNS)], expected, check_dtype=False, check_exact=False, atol=5e-5)
    table = table.set_index("class")
    # the report was stratified by the same map's hectares: its numbers, unchanged
    for name in report.classes:
        assert table.loc[name, "adjusted_hectares"] == pytest.approx(report.area[name], abs=5e-5)
        assert table.loc[name, "adjusted_hectares_ci95"] == pytest.approx(Z95 * report.area_se[name], abs=5e-5)
        low, high = report.interval("area")
        assert table.loc[name, "adjusted_hectares"] - table.loc[name, "adjusted_hectares_ci95"] == \
            pytest.approx(low[name], abs=1e-4)
    # the adjusted areas redistribute the mapped area among the classes
    assert table["adjusted_hectares"].sum() == pytest.approx(table["hectares"].sum(), abs=1e-3)
    assert (table["adjusted_hectares_ci95"] > 0).all()
    print("\n" + table.to_string())


def test_without_accuracy_or_with_a_hold_out_no_adjusted_columns(amazon, caplog):
    assert not amazon.accuracy.stratified  # hold-out pixels: a simple random sample, no map strata
    with caplog.at_level(logging.INFO, logger="landclass"):
        path = write_areas(amazon.classification, accuracy=amazon.accuracy)
    assert "not stratified" in caplog.text
    assert list(pd.read_csv(path).columns) == list(COLUMNS)
    text = Path(write_areas(amazon.classification)).read_text()
    assert text.splitlines()[0] == "value,class,pixels,hectares,share"
    assert text.splitlines()[2].startswith("2,forest,")


def test_adjusted_hectares_of_a_geographic_map_stratified_by_pixels(amazon):
    """A report stratified by pixel counts (what the pipeline has for a map in degrees) is re-estimated with the
    map's hectares as strata areas: the result is the report assess() makes with hectares, and close to the
    pixel-weighted one rescaled (pixels differ in area by latitude only slightly here)."""
    with rasterio.open(amazon.classification) as src:
        frame = amazon.prepared.samples.frame
        rows, cols = rasterio.transform.rowcol(src.transform, frame["x"].to_numpy(), frame["y"].to_numpy())
        mapped = src.read(1)[rows, cols]
    legend = amazon.prepared.legend
    names = dict(zip(legend.values, legend.names))
    reference_labels = [names[int(v)] for v in amazon.prepared.samples.classes]
    mapped_labels = [names[int(v)] for v in mapped]
    table = class_areas(amazon.classification, legend)
    by_pixels = assess(reference_labels, mapped_labels, mapped_area=dict(zip(table["class"], table["pixels"])))
    by_hectares = assess(reference_labels, mapped_labels, mapped_area=dict(zip(table["class"], table["hectares"])))
    written = pd.read_csv(write_areas(amazon.classification, legend, accuracy=by_pixels)).set_index("class")
    for name in legend.names:
        assert written.loc[name, "adjusted_hectares"] == pytest.approx(by_hectares.area[name], abs=5e-5)
        assert written.loc[name, "adjusted_hectares_ci95"] == pytest.approx(Z95 * by_hectares.area_se[name],
                                                                             abs=5e-5)
        rescaled = by_pixels.area[name] * table["hectares"].sum() / table["pixels"].sum()
        assert written.loc[name, "adjusted_hectares"] == pytest.approx(rescaled, rel=1e-3)


def test_accuracy_labelled_by_value_and_mismatches(bundled):
    report = bundled.accuracy
    by_value = {"FARM": 1, "FOREST": 2, "WATER": 3}
    cm = report.confusion_matrix
    reference, mapped = [], []
    for m in cm.index:
        for r in cm.columns:
            reference += [by_value[r]] * int(cm.loc[m, r])
            mapped += [by_value[m]] * int(cm.loc[m, r])
    table = class_areas(bundled.classification)
    valued = assess(reference, mapped, mapped_area=dict(zip(table["value"], table["hectares"])))
    written = pd.read_csv(write_areas(bundled.classification, accuracy=valued)).set_index("class")
    for name in by_value:
        assert written.loc[name, "adjusted_hectares"] == pytest.approx(report.area[name], abs=5e-5)
    stranger = assess(["FARM", "FARM", "MARS", "MARS"], ["FARM", "FARM", "FOREST", "FOREST"],
                      mapped_area={"FARM": 1.0, "FOREST": 1.0})
    with pytest.raises(AccuracyError, match=r"'MARS' of the accuracy assessment are not in the class map's legend"):
        write_areas(bundled.classification, accuracy=stranger)
    no_water_sample = assess(["FARM", "FARM", "FOREST", "FOREST"], ["FARM", "FARM", "FOREST", "FOREST"],
                             mapped_area={"FARM": 1.0, "FOREST": 1.0})
    with pytest.raises(AccuracyError, match="'WATER' cover part of the map but have no sample unit"):
        write_areas(bundled.classification, accuracy=no_water_sample)


def test_errors(tmp_path, bundled):
    profile = dict(driver="GTiff", width=4, height=3, count=1, dtype="uint8", nodata=255,
                   transform=Affine(10, 0, 0, 0, -10, 0))
    with rasterio.open(tmp_path / "nocrs.tif", "w", **profile) as dst:
        dst.write(np.ones((1, 3, 4), np.uint8))
    with pytest.raises(CRSError, match="no coordinate reference system"):
        class_areas(tmp_path / "nocrs.tif")
    with rasterio.open(tmp_path / "float.tif", "w", **{**profile, "dtype": "float32", "crs": "EPSG:32631"}) as dst:
        dst.write(np.ones((1, 3, 4), np.float32))
    with pytest.raises(ImageError, match="is not a class map: its first band is of type float32"):
        class_areas(tmp_path / "float.tif")
    with pytest.raises(ImageError, match="cannot open class map"):
        class_areas(tmp_path / "missing.tif")
    with pytest.raises(CRSError, match="rotated in a geographic CRS"):
        pixel_hectares("EPSG:4326", Affine(0.001, 0.0005, 0, 0.0005, -0.001, 0), 3)
    with pytest.raises(CRSError, match="beyond a pole"):
        pixel_hectares("EPSG:4326", Affine(1, 0, 0, 0, -1, 95), 3)
    assert not Path(areas_path(tmp_path / "float.tif")).exists()  # nothing written on error
    # an unknown value in a map without a legend beside it is named by its value; nodata other than 255 is left out
    data = np.array([[0, 0, 7, 255], [7, 7, 7, 9], [9, 9, 9, 9]], np.uint8)
    with rasterio.open(tmp_path / "own.tif", "w", **{**profile, "nodata": 0, "crs": "EPSG:32631"}) as dst:
        dst.write(data[None])
    table = class_areas(tmp_path / "own.tif")
    assert table[["value", "class", "pixels"]].values.tolist() == [[7, "7", 4], [9, "9", 5]]
    np.testing.assert_allclose(table["hectares"], [0.04, 0.05])
    legend = Legend([LegendEntry(0, "zero", "#000000"), LegendEntry(7, "seven", "#ff0000")])
    table = class_areas(tmp_path / "own.tif", legend)
    assert table[["class", "pixels"]].values.tolist() == [["zero", 0], ["seven", 4], ["", 5]]


def test_a_tiled_map_through_its_vrt(bundled, tmp_path):
    """An output split into tiles (SEPAL's export: 4 tiles of at most 1 MiB here) is counted through its VRT, as
    one map."""
    tiled = run(bundled.prepared.recipe, str(tmp_path / "tiled.tif"), progress=False, max_file_bytes=1 << 20)
    assert tiled.classification.endswith(".vrt") and len(list(tmp_path.glob("tiled-*.tif"))) == 4
    assert areas_path(tiled.classification) == str(tmp_path / "tiled_areas.csv")
    pd.testing.assert_frame_equal(class_areas(tiled.classification, bundled.prepared.legend),
                                  class_areas(bundled.classification, bundled.prepared.legend))
