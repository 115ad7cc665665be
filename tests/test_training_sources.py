"""Where training data come from, beyond a vector file: CSV points with chosen columns and a row filter, a class
remap, random points sampled from an existing classification map (SEPAL's "Sample classification"), another
recipe's training sets, and the per-class summary of what an import brings (features outside the image or on
nodata are reported, never dropped silently).

Real data throughout (``tests/data/SOURCE.md``): the Landsat 8 crop and its SCP classification ``landcover.tif``
(int16, values 1-4, nodata -32768, and -999 which is no class), the Landsat 8 training points, the T11UPT
Sentinel-2 bands and SCP polygons, the Amazon Sentinel-2 polygons, and the bundled Toulouse scene with a map made
by classifying it.
"""
import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
import shapely.affinity
from pyproj import Transformer

from landclass_ui.errors import CRSError, LegendError, NoOverlapError, RecipeError, TrainingDataError
from landclass_ui.imagery import open_image
from landclass_ui.legend import Legend, LegendEntry
from landclass_ui.pipeline import prepare, run
from landclass_ui.recipe import ImageRef, Recipe, TrainingRef
from landclass_ui.sample import sample_paths
from landclass_ui.training import (
    SUMMARY_COLUMNS,
    apply_filter,
    class_map_legend,
    class_map_values,
    csv_layout,
    extract_samples,
    points_frame,
    points_records,
    read_ref,
    read_training,
    recipe_training,
    sample_class_map,
    summarize_training,
    summary_text,
)

DATA = Path(__file__).parent / "data"
SAMPLE = sample_paths()
LANDCOVER = DATA / "l8_t11upt" / "landcover.tif"
L8_POINTS = DATA / "l8_t11upt" / "training_points.shp"
L8_FILES = [DATA / "l8_t11upt" / f"LC08_L2SP_043024_20200802_20200914_02_T1_SR_{b}.tif"
            for b in ("B2", "B3", "B4", "B5")]
S2_FILES = [DATA / "s2_t11upt" / f"T11UPT_20200804T183919_{b}_60m.jp2"
            for b in ("B02", "B03", "B04", "B8A", "B11", "B12")]
T11UPT_POLYGONS = DATA / "s2_t11upt" / "landcover.shp"
AMAZON_POLYGONS = DATA / "s2_amazon" / "training_polygons.geojson"
AMAZON_S2 = DATA / "s2_amazon" / "sen2_L2A_12band.tif"
#: landcover.tif's classes (MC_ID / MC_name of the SCP project it comes from)
MC = Legend([LegendEntry(1, "Built Up", "#e31a1c"), LegendEntry(2, "Vegetation", "#33a02c"),
             LegendEntry(3, "Bare Earth", "#b15928"), LegendEntry(4, "Water", "#1f78b4")])
#: landcover.tif's pixel counts per value (tests/data/SOURCE.md)
LANDCOVER_COUNTS = {-999: 22886, 1: 729, 2: 81501, 3: 19837, 4: 445}
LANDCLASS = [sys.executable, "-m", "landclass_ui.cli"]


def run_cli(*args, cwd=None):
    return subprocess.run([*LANDCLASS, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def one_error_line(result, *words):
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("landclass: error: "), result.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def l8():
    return open_image([str(p) for p in L8_FILES])


@pytest.fixture(scope="module")
def s2():
    return open_image([str(p) for p in S2_FILES])


@pytest.fixture(scope="module")
def l8_points_csv(tmp_path_factory):
    """The 89 Landsat 8 training points as SEPAL's CSV (XCoordinate, YCoordinate in EPSG:4326) plus their two
    attributes."""
    frame = gpd.read_file(L8_POINTS).to_crs("EPSG:4326")
    path = tmp_path_factory.mktemp("csv") / "points.csv"
    pd.DataFrame({"XCoordinate": frame.geometry.x, "YCoordinate": frame.geometry.y, "MC_ID": frame["MC_ID"],
                  "MC_name": frame["MC_name"]}).to_csv(path, index=False)
    return path


def map_value_at(points, path=LANDCOVER):
    """The map's value at each point (EPSG:4326 lon/lat), read by rasterio's sampler: independent of the
    sampling code."""
    with rasterio.open(path) as src:
        to_map = Transformer.from_crs("EPSG:4326", src.crs, always_xy=True)
        xs, ys = to_map.transform(points.geometry.x.to_numpy(), points.geometry.y.to_numpy())
        return np.array([v[0] for v in src.sample(zip(xs, ys))])


# ---------------------------------------------------------------------------------------------------------
# CSV: columns and round trips


def test_exported_points_csv_reads_back_as_the_same_points(tmp_path):
    """Points as the dashboard keeps them (degrees rounded to 1e-7), written as SEPAL's reference-data CSV (the
    TRN export's layout) and read back: the same coordinates and classes, in order."""
    frame = gpd.read_file(L8_POINTS).to_crs("EPSG:4326")
    points = points_records(frame.assign(**{"class": frame["MC_ID"]}))
    path = tmp_path / "export_reference_data.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["XCoordinate", "YCoordinate", "class"])
        w.writerows([p["x"], p["y"], p["class"]] for p in points)
    back = read_training(path)
    assert len(back) == len(points) == 89
    assert [(g.x, g.y) for g in back.geometry] == [(p["x"], p["y"]) for p in points]
    assert list(back["label"]) == [str(p["class"]) for p in points]
    # and the points of the recipe read through read_ref are the same ones
    again = read_ref(TrainingRef("points", points=points))
    assert [(g.x, g.y) for g in again.geometry] == [(g.x, g.y) for g in back.geometry]


@pytest.mark.parametrize("encoding, column", [("wkt", "geometry"), ("geojson", ".geo"), ("wkt", "footprint")])
def test_polygons_in_a_geometry_column_are_the_polygons_of_the_file(tmp_path, encoding, column):
    """The Amazon polygons written to a CSV with a WKT ``geometry`` column, a GeoJSON ``.geo`` column (Earth
    Engine's table export) or a WKT column of another name (found by its content) are detected and read as the
    same polygons: same features, same training pixels."""
    frame = gpd.read_file(AMAZON_POLYGONS)
    if encoding == "wkt":
        table = pd.DataFrame({"class": frame["class"], column: frame.geometry.to_wkt(rounding_precision=-1)})
    else:
        table = pd.DataFrame({"class": frame["class"], column: [json.dumps(shapely.geometry.mapping(g))
                                                                for g in frame.geometry]})
    path = tmp_path / "polygons.csv"
    table.to_csv(path, index=False)
    assert csv_layout(path).geometry == column
    back = read_training(path, "class")
    original = read_training(AMAZON_POLYGONS, "class")
    assert all(a.equals_exact(b, 1e-12) for a, b in zip(back.geometry, original.geometry))
    stack = open_image(AMAZON_S2)
    legend = Legend.from_labels(list(original["label"]))
    a, b = extract_samples(stack, back, legend), extract_samples(stack, original, legend)
    pd.testing.assert_frame_equal(a.frame, b.frame)


def test_csv_columns_can_be_named(tmp_path, l8_points_csv):
    """Coordinates under names nothing detects: the error lists the columns; naming them reads the points."""
    table = pd.read_csv(l8_points_csv).rename(columns={"XCoordinate": "easting_deg", "YCoordinate": "northing_deg"})
    path = tmp_path / "renamed.csv"
    table.to_csv(path, index=False)
    layout = csv_layout(path)
    assert (layout.x, layout.y, layout.geometry, layout.rows) == (None, None, None, 89)
    with pytest.raises(TrainingDataError, match="no coordinate columns.*easting_deg, northing_deg, MC_ID, MC_name"):
        read_training(path, "MC_name")
    named = read_training(path, "MC_name", x="Easting_Deg", y="northing_deg")  # names match ignoring case
    reference = read_training(l8_points_csv, "MC_name")
    assert [(g.x, g.y) for g in named.geometry] == [(g.x, g.y) for g in reference.geometry]
    with pytest.raises(TrainingDataError, match="'lon' is not in renamed.csv; its columns are easting_deg"):
        read_training(path, "MC_name", x="lon", y="northing_deg")
    with pytest.raises(TrainingDataError, match="both the X"):
        read_training(path, "MC_name", x="easting_deg")
    with pytest.raises(TrainingDataError, match="for CSV files"):
        read_training(L8_POINTS, "MC_name", x="lon", y="lat")


# ---------------------------------------------------------------------------------------------------------
# row filter


def test_filter_keeps_the_rows_it_selects(l8_points_csv, l8):
    table = pd.read_csv(l8_points_csv)
    kept = read_training(l8_points_csv, "MC_name", filter='MC_ID in [1, 4] or MC_name == "Bare Earth"')
    expected = table[table["MC_ID"].isin([1, 3, 4])]
    assert len(kept) == len(expected) == 49
    assert sorted(set(kept["label"])) == ["Bare Earth", "Built Up", "Water"]
    assert any("kept 49 of 89 row(s) of points.csv" in m for m in kept.attrs["messages"])
    # the same filter on the shapefile itself (attribute columns of a vector file)
    shp = read_training(L8_POINTS, "MC_name", filter='MC_ID in [1, 4] or MC_name == "Bare Earth"')
    assert sorted(shp["label"]) == sorted(kept["label"])
    samples = extract_samples(l8, kept, MC)
    assert set(samples.frame["label"]) == {"Built Up", "Bare Earth", "Water"}


def test_filter_on_polygons_leaves_out_a_class_and_backquotes_name_spaced_columns(s2, tmp_path):
    """T11UPT SCP polygons: 'C_name != "Road"' drops the one road polygon and its pixels; a column named with a
    space is filtered in backquotes."""
    frame = read_training(T11UPT_POLYGONS, "C_name", filter='C_name != "Road"')
    assert len(frame) == 7 and "Road" not in set(frame["label"])
    samples = extract_samples(s2, frame, Legend.from_labels(list(frame["label"])))
    assert "Road" not in set(samples.frame["label"])
    table = gpd.read_file(T11UPT_POLYGONS).drop(columns=["fid"]).rename(columns={"MC_name": "macro class"})
    path = tmp_path / "spaced.gpkg"
    table.to_file(path)
    water = read_training(path, "C_name", filter='`macro class` == "Water"')
    assert list(water["label"]) == ["Lake"]


BAD_FILTERS = {
    "syntax error": ("MC_ID >", "is not a valid expression"),
    "unknown column": ("confidence > 0.8", "'confidence' is not a column"),
    "text against a number": ("MC_name > 3", "cannot be applied"),
    "not a condition": ("MC_ID * 2", "is not a condition"),
    "keeps nothing": ("MC_ID > 99", "keeps none of the 89 row(s)"),
    "a python call": ('__import__("os")', "uses a call, which a row filter may not"),
}


@pytest.mark.parametrize("case", list(BAD_FILTERS))
def test_invalid_filter_is_one_line_naming_the_columns(case, l8_points_csv):
    expression, words = BAD_FILTERS[case]
    for path in (l8_points_csv, L8_POINTS):
        with pytest.raises(TrainingDataError) as info:
            read_training(path, "MC_name", filter=expression)
        message = str(info.value)
        assert "\n" not in message and words in message and "MC_ID, MC_name" in message, message
        assert "Traceback" not in message


def test_filter_comes_before_anything_else(tmp_path, l8_points_csv):
    """A row the filter leaves out is never parsed: a broken coordinate there does no harm."""
    table = pd.read_csv(l8_points_csv)
    table["XCoordinate"] = table["XCoordinate"].astype(object)
    table.loc[5, "XCoordinate"] = "n/a"
    path = tmp_path / "broken.csv"
    table.to_csv(path, index=False)
    with pytest.raises(TrainingDataError, match="line 7: XCoordinate/YCoordinate is not a number"):
        read_training(path, "MC_name")
    kept = read_training(path, "MC_name", filter=f"MC_ID != {table.loc[5, 'MC_ID']}")
    assert len(kept) == int((table["MC_ID"] != table.loc[5, "MC_ID"]).sum())


def test_apply_filter_has_no_access_to_variables():
    table = pd.DataFrame({"a": [1, 2]})
    with pytest.raises(TrainingDataError, match="not defined|not a column|not a valid expression"):
        apply_filter(table, "a > @table.shape[0]")


# ---------------------------------------------------------------------------------------------------------
# the recipe keeps filter, columns and source, only when set


def test_training_ref_json_has_the_new_keys_only_when_set(tmp_path, l8_points_csv):
    recipe = Recipe(name="r", images=[ImageRef(str(L8_FILES[0]))], training=[
        TrainingRef("file", path=str(L8_POINTS), class_field="MC_name"),
        TrainingRef("file", path=str(l8_points_csv), class_field="MC_name", filter="MC_ID < 4", x="XCoordinate",
                    y="YCoordinate"),
        TrainingRef("points", points=[{"x": -114.3, "y": 51.9, "class": 2}], source="sampled from landcover.tif")])
    d = recipe.to_dict()
    assert set(d["training"][0]) == {"kind", "path", "class_field", "layer", "points", "remap"}
    assert d["training"][1]["filter"] == "MC_ID < 4" and d["training"][1]["x"] == "XCoordinate"
    assert "geometry" not in d["training"][1] and "source" not in d["training"][1]
    assert d["training"][2]["source"] == "sampled from landcover.tif"
    recipe.save(tmp_path / "r.json")
    back = Recipe.load(tmp_path / "r.json")
    assert back.to_dict() == d
    assert len(read_ref(back.training[1])) == 89 - 4  # the 4 Water points (MC_ID 4) filtered out


# ---------------------------------------------------------------------------------------------------------
# sampling a classification map


def test_sample_landcover_map_stratified_by_class():
    points = sample_class_map(LANDCOVER, MC, per_class=1000)
    counts = pd.DataFrame(points.attrs["counts"]).set_index("value")
    # every class's pixels as counted in SOURCE.md; the small classes give all they have
    assert counts["cells"].to_dict() == {v: n for v, n in LANDCOVER_COUNTS.items() if v > 0}
    assert counts["sampled"].to_dict() == {1: 729, 2: 1000, 3: 1000, 4: 445}
    assert class_map_values(LANDCOVER) == LANDCOVER_COUNTS
    assert any("-999 (22886 px)" in m and "ignored" in m for m in points.attrs["messages"])
    assert any("Water: 445 pixel(s)" in m and "fewer than the 1000 asked" in m for m in points.attrs["messages"])
    # each point carries the map's class at its location, at a pixel centre, no pixel twice
    assert (map_value_at(points) == points["class"].to_numpy()).all()
    assert (points["value"] == points["class"]).all()
    with rasterio.open(LANDCOVER) as src:
        to_map = Transformer.from_crs("EPSG:4326", src.crs, always_xy=True)
        x, y = to_map.transform(points["x"].to_numpy(), points["y"].to_numpy())
        cols, rows = (x - src.bounds.left) / 30 - 0.5, (src.bounds.top - y) / 30 - 0.5
    np.testing.assert_allclose(cols, np.round(cols), atol=1e-6)
    np.testing.assert_allclose(rows, np.round(rows), atol=1e-6)
    assert len(set(zip(np.round(rows), np.round(cols)))) == len(points)
    assert points.crs.to_epsg() == 4326 and list(points["label"].unique()) == MC.names


def test_sample_is_fixed_by_the_seed_whatever_the_windows_and_nests():
    a = sample_class_map(LANDCOVER, MC, per_class=300)
    b = sample_class_map(LANDCOVER, MC, per_class=300, block=77)  # other windows: the same points
    pd.testing.assert_frame_equal(a[["x", "y", "class"]], b[["x", "y", "class"]])
    other = sample_class_map(LANDCOVER, MC, per_class=300, seed=7)
    assert len(set(zip(a["x"], a["y"])) & set(zip(other["x"], other["y"]))) < len(a) // 2
    fewer = sample_class_map(LANDCOVER, MC, per_class={"Vegetation": 40, 3: 10})
    assert fewer.groupby("class").size().to_dict() == {2: 40, 3: 10}
    for value, n in ((2, 40), (3, 10)):  # the sample of n is the first n of the larger one
        pd.testing.assert_frame_equal(fewer[fewer["class"] == value][["x", "y"]].reset_index(drop=True),
                                      a[a["class"] == value][["x", "y"]].head(n).reset_index(drop=True))


def test_values_without_a_legend_class_can_go_to_a_default_class():
    points = sample_class_map(LANDCOVER, MC, per_class=2000, unknown="default", default_class="Bare Earth")
    counts = pd.DataFrame(points.attrs["counts"]).set_index("class")
    assert counts.loc["Bare Earth", "cells"] == LANDCOVER_COUNTS[3] + LANDCOVER_COUNTS[-999]
    bare = points[points["class"] == 3]
    assert set(bare["value"]) == {3, -999}
    assert (map_value_at(bare) == bare["value"].to_numpy()).all()
    assert any("sampled as Bare Earth" in m for m in points.attrs["messages"])


def test_sampling_at_a_coarser_scale_takes_cell_centres():
    points = sample_class_map(LANDCOVER, MC, per_class=100, scale=90)
    with rasterio.open(LANDCOVER) as src:
        to_map = Transformer.from_crs("EPSG:4326", src.crs, always_xy=True)
        x, y = to_map.transform(points["x"].to_numpy(), points["y"].to_numpy())
        i, j = (x - src.bounds.left) / 90 - 0.5, (src.bounds.top - y) / 90 - 0.5
    np.testing.assert_allclose(i, np.round(i), atol=1e-6)
    np.testing.assert_allclose(j, np.round(j), atol=1e-6)
    assert (map_value_at(points) == points["class"].to_numpy()).all()
    cells = pd.DataFrame(points.attrs["counts"]).set_index("value")["cells"]
    assert cells.sum() < sum(n for v, n in LANDCOVER_COUNTS.items() if v > 0) / 8  # 1 cell in 9 pixels
    assert points.attrs["scale"] == 90


def test_sampling_a_map_in_degrees_at_a_scale_in_metres(tmp_path):
    """landcover.tif warped to EPSG:4326 (nearest neighbour): a scale of 60 m becomes degrees at the map's
    latitude; every point still carries the map's class, and there are about a quarter as many cells as 30 m
    pixels."""
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    with rasterio.open(LANDCOVER) as src:
        transform, width, height = calculate_default_transform(src.crs, "EPSG:4326", src.width, src.height,
                                                               *src.bounds)
        profile = {**src.profile, "crs": "EPSG:4326", "transform": transform, "width": width, "height": height}
        with rasterio.open(tmp_path / "lonlat.tif", "w", **profile) as dst:
            reproject(rasterio.band(src, 1), rasterio.band(dst, 1), resampling=Resampling.nearest)
    points = sample_class_map(tmp_path / "lonlat.tif", MC, per_class=100, scale=60)
    assert (map_value_at(points, tmp_path / "lonlat.tif") == points["class"].to_numpy()).all()
    cells = sum(c["cells"] for c in points.attrs["counts"])
    pixels = sum(n for v, n in LANDCOVER_COUNTS.items() if v > 0)
    assert 0.2 < cells / pixels < 0.3


def test_a_large_map_is_read_in_windows(bundled_maps, monkeypatch):
    """The 1830 x 1830 map of the bundled scene sampled with 256-pixel windows: no read is larger than a window,
    and the points are those of one 4096-pixel window."""
    whole = sample_class_map(bundled_maps / "map60.tif", per_class=300, block=4096)
    sizes = []
    original = rasterio.io.DatasetReader.read

    def read(self, *args, **kwargs):
        window = kwargs.get("window")
        sizes.append((window.height, window.width) if window is not None else (self.height, self.width))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(rasterio.io.DatasetReader, "read", read)
    windowed = sample_class_map(bundled_maps / "map60.tif", per_class=300, block=256)
    assert max(h * w for h, w in sizes) <= 256 * 256 and len(sizes) >= 49
    pd.testing.assert_frame_equal(whole, windowed)


BAD_SAMPLING = {
    "missing map": (lambda tmp: dict(path=tmp / "none.tif"), TrainingDataError, "not found"),
    "band it lacks": (lambda tmp: dict(band=2), TrainingDataError, "has 1 band(s)"),
    "reflectance, not classes": (lambda tmp: dict(path=AMAZON_S2), TrainingDataError,
                                 "is not a classification map"),
    "no legend value": (lambda tmp: dict(legend=Legend([LegendEntry(10, "a", "#000000"),
                                                        LegendEntry(20, "b", "#ffffff")])),
                        TrainingDataError, "the map holds -999, 1, 2, 3, 4"),
    "no samples": (lambda tmp: dict(per_class=0), TrainingDataError, "at least one sample"),
    "negative scale": (lambda tmp: dict(scale=-30), TrainingDataError, "positive number of metres"),
    "default without class": (lambda tmp: dict(unknown="default"), TrainingDataError, "needs the default class"),
    "default not in legend": (lambda tmp: dict(unknown="default", default_class="Snow"), LegendError, "Snow"),
    "bad unknown": (lambda tmp: dict(unknown="keep"), TrainingDataError, "ignored or sent to a default class"),
}


@pytest.mark.parametrize("case", list(BAD_SAMPLING))
def test_sampling_errors_are_one_line(case, tmp_path):
    make, error, words = BAD_SAMPLING[case]
    kwargs = {"path": LANDCOVER, "legend": MC, **make(tmp_path)}
    with pytest.raises(error) as info:
        sample_class_map(kwargs.pop("path"), kwargs.pop("legend"), **kwargs)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_map_without_crs(tmp_path):
    with rasterio.open(LANDCOVER) as src:
        data, profile = src.read(), src.profile
    profile.update(crs=None)
    with rasterio.open(tmp_path / "nocrs.tif", "w", **profile) as dst:
        dst.write(data)
    with pytest.raises(CRSError, match="no CRS"):
        sample_class_map(tmp_path / "nocrs.tif", MC)


def test_landcover_samples_train_the_landsat_scene_that_reproduces_the_map(tmp_path):
    """300 points per class of landcover.tif, sampled onto the Landsat 8 crop (another grid: its pixel centres
    are the map's pixel corners, and the map is one pixel larger right and below): the points off the image are
    reported, and the forest trained on the rest agrees with the map on 80 % of the scene's pixels."""
    points = sample_class_map(LANDCOVER, MC, per_class=300)
    ref = TrainingRef("points", points=points_records(points), source="sampled from landcover.tif")
    recipe = Recipe(name="from_map", images=[ImageRef(str(p)) for p in L8_FILES], legend=MC.to_list(),
                    training=[ref])
    stack = open_image([str(p) for p in L8_FILES])
    summary = summarize_training(read_ref(ref), stack, MC)
    left, bottom, right, top = stack.grid.bounds
    utm = read_ref(ref, crs=stack.crs)
    off = ~((utm.geometry.x >= left) & (utm.geometry.x < right) & (utm.geometry.y > bottom)
            & (utm.geometry.y <= top))
    assert int(summary["outside"].sum()) == int(off.sum()) > 0
    assert (summary["used"] + summary["outside"] == summary["features"]).all()
    result = run(recipe, str(tmp_path / "map.tif"), progress=False)
    assert any(f"{int(off.sum())} point(s) outside the image ignored" in m for m in result.messages)
    with rasterio.open(tmp_path / "map.tif") as m:
        mapped = m.read(1)
        rows, cols = np.mgrid[0:m.height, 0:m.width]
        xs, ys = rasterio.transform.xy(m.transform, rows.ravel(), cols.ravel())
    with rasterio.open(LANDCOVER) as lc:
        truth = np.array([v[0] for v in lc.sample(zip(xs, ys))]).reshape(mapped.shape)
    keep = (truth > 0) & (mapped != 255)
    assert (mapped[keep] == truth[keep]).mean() > 0.78


def test_landcover_samples_fall_outside_the_sentinel2_tile(s2):
    """The T11UPT Sentinel-2 bands (60 m) lie 2.3 km south of landcover.tif: every sampled point is reported
    outside, and a run says where both are, in one line."""
    points = sample_class_map(LANDCOVER, MC, per_class=50)
    frame = points_frame(points_records(points))
    summary = summarize_training(frame, s2, MC)
    assert summary["outside"].tolist() == summary["features"].tolist() == [50, 50, 50, 50]
    assert "200 of 200 feature(s) not used: 200 outside the image" in summary_text(summary)
    recipe = Recipe(name="apart", images=[ImageRef(str(p)) for p in S2_FILES], legend=MC.to_list(),
                    training=[TrainingRef("points", points=points_records(points), source="landcover.tif")])
    with pytest.raises(NoOverlapError, match="does not overlap the image") as info:
        prepare(recipe)
    assert "\n" not in str(info.value)


@pytest.fixture(scope="module")
def bundled_maps(tmp_path_factory):
    """The bundled Toulouse scene classified from its polygons, at its 60 m pixels and at 120 m."""
    out = tmp_path_factory.mktemp("bundled")
    recipe = Recipe(name="bundled", images=[ImageRef(SAMPLE.safe)],
                    training=[TrainingRef("file", SAMPLE.polygons, "class")])
    run(recipe, str(out / "map60.tif"), progress=False)
    run(Recipe.from_dict(recipe.to_dict()), str(out / "map120.tif"), progress=False, scale=120)
    return out


def test_a_landclass_map_brings_its_legend_and_retrains_at_another_resolution(bundled_maps, tmp_path):
    """The 120 m map of the bundled scene: its legend comes from map120_legend.csv beside it; 200 points per class
    retrain the 60 m scene into a map that agrees with the 60 m map on 85 % of its pixels."""
    legend = class_map_legend(bundled_maps / "map120.tif")
    assert legend.names == ["FARM", "FOREST", "WATER"]
    points = sample_class_map(bundled_maps / "map120.tif", per_class=200)
    assert points.groupby("label").size().to_dict() == {"FARM": 200, "FOREST": 200, "WATER": 200}
    assert (map_value_at(points, bundled_maps / "map120.tif") == points["class"].to_numpy()).all()
    recipe = Recipe(name="again", images=[ImageRef(SAMPLE.safe)], legend=legend.to_list(),
                    training=[TrainingRef("points", points=points_records(points), source="map120.tif")])
    run(recipe, str(tmp_path / "again.tif"), progress=False)
    with rasterio.open(tmp_path / "again.tif") as a, rasterio.open(bundled_maps / "map60.tif") as b:
        x, y = a.read(1), b.read(1)
    keep = (x != 255) & (y != 255)
    assert (x[keep] == y[keep]).mean() > 0.85


# ---------------------------------------------------------------------------------------------------------
# another recipe's training data


def other_recipe(tmp_path) -> Path:
    """A recipe saved in its own folder with a relative path to the T11UPT polygons (integer classes MC_ID, one of
    them ignored by its remap) and two points, legend MC."""
    folder = tmp_path / "elsewhere"
    (folder / "data").mkdir(parents=True)
    for part in T11UPT_POLYGONS.parent.glob("landcover.*"):
        shutil.copy(part, folder / "data" / part.name)
    recipe = Recipe(name="Other", images=[ImageRef("T11UPT.tif")], legend=MC.to_list(), training=[
        TrainingRef("points", points=[{"x": -114.15518, "y": 51.73445, "class": 4},  # in the lake
                                     {"x": -114.20447, "y": 51.73098, "class": 2}]),  # in the trees
        TrainingRef("file", path="data/landcover.shp", class_field="MC_ID", remap={"1": None})])
    path = folder / "other.json"
    path.write_text(json.dumps(recipe.to_dict()))  # paths stay relative to the recipe's folder
    return path


def test_recipe_training_reads_files_and_points_named_by_its_legend(tmp_path):
    imported = recipe_training(other_recipe(tmp_path))
    assert imported.name == "Other" and len(imported.refs) == 2
    assert Path(imported.refs[1].path) == (tmp_path / "elsewhere" / "data" / "landcover.shp").resolve()
    assert imported.classes == ["Water", "Vegetation", "Bare Earth"]  # Built Up (MC_ID 1) is ignored by its remap
    assert list(imported.frames[0]["label"]) == ["Water", "Vegetation"]


def test_adopting_into_another_legend_translates_values_by_name(tmp_path):
    """This recipe numbers the classes otherwise: the points take this legend's values, and the file's integer
    classes are remapped to names, so the polygons train the right classes."""
    mine = Legend([LegendEntry(1, "Water", "#0000ff"), LegendEntry(2, "Bare Earth", "#aa8800"),
                   LegendEntry(5, "Vegetation", "#00aa00")])
    imported = recipe_training(other_recipe(tmp_path))
    refs = imported.adopt(mine)
    assert [p["class"] for p in refs[0].points] == [1, 5]  # Water and Vegetation by this legend
    assert refs[0].source == "recipe Other"
    assert refs[1].remap == {"1": None, "2": "Vegetation", "3": "Bare Earth", "4": "Water"}
    recipe = Recipe(name="mine", images=[ImageRef(str(p)) for p in S2_FILES], legend=mine.to_list(), training=refs)
    samples = prepare(recipe).samples.frame
    polygons = read_training(T11UPT_POLYGONS, "MC_name")  # EPSG:32611, the tile's CRS
    water = polygons[polygons["label"] == "Water"].geometry.union_all()
    pts = gpd.GeoSeries(gpd.points_from_xy(samples["x"], samples["y"]), crs="EPSG:32611")
    inside = pts.within(water).to_numpy()
    assert inside.any() and set(samples.loc[inside, "label"]) == {"Water"}
    assert set(samples["class"]) <= {1, 2, 5} and "Built Up" not in set(samples["label"])


def test_adopt_needs_every_class_settled(tmp_path):
    two = Legend([LegendEntry(1, "Water", "#0000ff"), LegendEntry(2, "Forest", "#007f46")])
    imported = recipe_training(other_recipe(tmp_path))
    with pytest.raises(LegendError, match="'Vegetation', 'Bare Earth' of recipe 'Other' are not in the legend"):
        imported.adopt(two)
    refs = imported.adopt(two, {"Vegetation": "Forest", "bare earth": None})
    assert refs[0].points[1]["class"] == 2
    assert refs[1].remap == {"1": None, "2": "Forest", "3": None, "4": "Water"}
    with pytest.raises(TrainingDataError, match="every class of recipe 'Other' is set to ignore"):
        imported.adopt(two, {"Vegetation": None, "Bare Earth": None, "Water": None})


def test_recipe_import_errors(tmp_path):
    with pytest.raises(RecipeError, match="not found"):
        recipe_training(tmp_path / "none.json")
    empty = tmp_path / "empty.json"
    Recipe(name="Empty", training=[TrainingRef("points", points=[])]).save(empty)
    with pytest.raises(TrainingDataError, match="'Empty'.*has no training data"):
        recipe_training(empty)
    path = other_recipe(tmp_path)
    (tmp_path / "elsewhere" / "data" / "landcover.shp").unlink()
    with pytest.raises(TrainingDataError, match="recipe 'Other': training data file not found"):
        recipe_training(path)


# ---------------------------------------------------------------------------------------------------------
# the summary of an import


def test_summary_counts_what_is_outside_on_nodata_or_too_small(tmp_path):
    """On the Landsat 8 crop: the 89 points are all used; the T11UPT polygons lie off the crop; a polygon smaller
    than a pixel takes no pixel; a point on a masked (cloud) pixel of the Sentinel-2 tile is on nodata."""
    l8 = open_image([str(p) for p in L8_FILES])
    points = read_training(L8_POINTS, "MC_name")
    summary = summarize_training(points, l8, MC)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert summary.set_index("class")["used"].to_dict() == {"Built Up": 5, "Vegetation": 40, "Bare Earth": 40,
                                                             "Water": 4}
    assert summary["pixels"].sum() == 89 and summary["outside"].sum() == 0
    polygons = read_training(T11UPT_POLYGONS, "MC_name")
    off = summarize_training(polygons, l8, MC)
    assert off["outside"].sum() == off["features"].sum() == 8 and off["polygons"].sum() == 8
    centre = shapely.Point(points.to_crs(l8.crs).geometry.iloc[0].coords[0])
    corner = shapely.affinity.translate(centre, 15, 15)  # points are at pixel centres: this is a pixel corner
    tiny = gpd.GeoDataFrame({"label": ["Water"], "group": [0]}, geometry=[corner.buffer(5).envelope], crs=l8.crs)
    assert summarize_training(tiny, l8, MC)["no_pixel"].tolist() == [1]
    s2 = open_image([str(p) for p in S2_FILES])  # SCL clouds and shadows are nodata
    band = s2.read()
    rows, cols = np.nonzero(~np.isfinite(band).all(axis=0))
    assert len(rows), "the T11UPT tile has masked pixels"
    x, y = rasterio.transform.xy(s2.grid.transform, rows[:3], cols[:3])
    cloud = gpd.GeoDataFrame({"label": ["Water"] * 3}, geometry=gpd.points_from_xy(x, y), crs=s2.crs)
    cloud["group"] = range(3)
    summary = summarize_training(cloud, s2, MC)
    assert summary["nodata"].tolist() == [3] and summary["used"].tolist() == [0]
    text = summary_text(summary)
    assert "3 of 3 feature(s) not used: 3 on nodata" in text
    # without an image: the features only
    bare = summarize_training(points)
    assert bare["features"].sum() == 89 and bare["used"].isna().all()


def test_extract_samples_names_what_it_leaves_out(s2):
    """Every feature left out is said in a message: points and polygons off the image, polygons without a pixel
    centre, pixels on nodata."""
    polygons = read_training(T11UPT_POLYGONS, "MC_name", crs=s2.crs)
    far = polygons.iloc[[0]].copy()
    far["geometry"] = far.geometry.translate(0, 50_000)
    tiny = polygons.iloc[[1]].copy()
    # the SCP polygons' vertices sit on pixel centres: a 3 m disc around a pixel corner holds no pixel centre
    tiny["geometry"] = [shapely.affinity.translate(g.representative_point(), 30, 30).buffer(3) for g in tiny.geometry]
    features = pd.concat([polygons, far, tiny], ignore_index=True)
    features["group"] = range(len(features))
    features = gpd.GeoDataFrame(features, crs=s2.crs)
    samples = extract_samples(s2, features, MC)
    text = " | ".join(samples.messages)
    assert "1 polygon(s) outside the image ignored" in text
    assert "polygon(s) take no pixel" in text


# ---------------------------------------------------------------------------------------------------------
# command line


def legend_csv(tmp_path) -> Path:
    path = tmp_path / "mc_legend.csv"
    MC.to_csv(path)
    return path


def test_cli_samples_a_map_and_the_recipe_reruns(tmp_path):
    out = tmp_path / "map.tif"
    result = run_cli("classify", *L8_FILES, "--sample-map", LANDCOVER, "--samples-per-class", 100,
                     "--legend", legend_csv(tmp_path), "-o", out, "--recipe-out", tmp_path / "recipe.json",
                     "--samples-out", tmp_path / "samples.csv")
    assert result.returncode == 0, result.stderr
    assert "sampled Built Up 100, Vegetation 100, Bare Earth 100, Water 100 point(s) from landcover.tif" in \
        result.stderr
    saved = json.loads((tmp_path / "recipe.json").read_text())
    (ref,) = saved["training"]
    assert ref["kind"] == "points" and len(ref["points"]) == 400 and "landcover.tif" in ref["source"]
    samples = pd.read_csv(tmp_path / "samples.csv")
    assert samples.groupby("label").size().min() == 100  # drawn within the image: none falls off it
    again = run_cli("run", tmp_path / "recipe.json", "-o", tmp_path / "again.tif")
    assert again.returncode == 0, again.stderr
    with rasterio.open(out) as a, rasterio.open(tmp_path / "again.tif") as b:
        assert (a.read(1) == b.read(1)).all()


def quarter_of_l8(tmp_path) -> list[Path]:
    """The Landsat 8 bands cut to their top-left quarter (real pixels, a smaller image than the class map)."""
    from rasterio.windows import Window

    out = []
    for path in L8_FILES:
        with rasterio.open(path) as src:
            window = Window(0, 0, src.width // 2, src.height // 2)
            profile = {**src.profile, "width": int(window.width), "height": int(window.height),
                       "transform": src.window_transform(window)}
            with rasterio.open(tmp_path / path.name, "w", **profile) as dst:
                dst.write(src.read(window=window))
        out.append(tmp_path / path.name)
    return out


def test_a_map_larger_than_the_image_is_sampled_within_the_image(tmp_path):
    """SEPAL samples a classification within the recipe's area: points are drawn only where the image is (the
    image's bounds given in another CRS, EPSG:4326, to exercise the reprojection), so all can train."""
    from rasterio.warp import transform_bounds

    files = quarter_of_l8(tmp_path)
    with rasterio.open(files[0]) as src:
        box, crs = src.bounds, src.crs
    lonlat = transform_bounds(crs, "EPSG:4326", *box)
    whole = sample_class_map(LANDCOVER, MC, per_class=100)
    inside = sample_class_map(LANDCOVER, MC, per_class=100, within=(*lonlat, "EPSG:4326"))
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(inside["x"].to_numpy(),
                                                                            inside["y"].to_numpy())
    # the box in EPSG:4326 encloses the image's (UTM's grid is turned against the meridians): the points lie in
    # that box brought back to the image's CRS, and most in the image itself
    left, bottom, right, top = transform_bounds("EPSG:4326", crs, *lonlat, densify_pts=21)
    assert ((x > left) & (x < right) & (y > bottom) & (y < top)).all()
    assert ((x > box.left) & (x < box.right) & (y > box.bottom) & (y < box.top)).mean() > 0.6
    wx, wy = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(whole["x"].to_numpy(),
                                                                              whole["y"].to_numpy())
    assert ((wx > box.right) | (wy < box.bottom)).mean() > 0.5  # without it, most points are elsewhere
    cells_whole = {c["class"]: c["cells"] for c in whole.attrs["counts"]}
    cells_inside = {c["class"]: c["cells"] for c in inside.attrs["counts"]}
    assert all(cells_inside[k] < cells_whole[k] for k in cells_whole)  # the counts are the image's area's
    assert len(inside) == sum(min(100, n) for n in cells_inside.values())  # a class with fewer cells: all
    with pytest.raises(TrainingDataError, match="does not overlap the image"):
        sample_class_map(LANDCOVER, MC, within=(10.0, 40.0, 10.5, 40.5, "EPSG:4326"))
    # the command line samples within the images it classifies
    result = run_cli("classify", *files, "--sample-map", LANDCOVER, "--samples-per-class", 50,
                     "--legend", legend_csv(tmp_path), "-o", tmp_path / "map.tif",
                     "--samples-out", tmp_path / "samples.csv")
    assert result.returncode == 0, result.stderr
    drawn = re.search(r"sampled (.*) point\(s\) from landcover.tif", result.stderr).group(1)
    counts = [int(part.rsplit(" ", 1)[1]) for part in drawn.split(", ")]
    assert sum(counts) > 150 and len(pd.read_csv(tmp_path / "samples.csv")) == sum(counts)  # every one trains


def test_cli_csv_columns_filter_and_class_remap(tmp_path, l8_points_csv):
    table = pd.read_csv(l8_points_csv).rename(columns={"XCoordinate": "lon_deg", "YCoordinate": "lat_deg"})
    table.to_csv(tmp_path / "points.csv", index=False)
    result = run_cli("classify", *L8_FILES, "-t", tmp_path / "points.csv", "--class-field", "MC_name",
                     "--x-column", "lon_deg", "--y-column", "lat_deg", "--training-filter", 'MC_name != "Water"',
                     "--class-remap", "Built Up=Bare Earth", "-o", tmp_path / "map.tif",
                     "--samples-out", tmp_path / "samples.csv", "--recipe-out", tmp_path / "recipe.json")
    assert result.returncode == 0, result.stderr
    samples = pd.read_csv(tmp_path / "samples.csv")
    assert samples.groupby("label").size().to_dict() == {"Bare Earth": 45, "Vegetation": 40}
    (ref,) = json.loads((tmp_path / "recipe.json").read_text())["training"]
    assert ref["filter"] == 'MC_name != "Water"' and (ref["x"], ref["y"]) == ("lon_deg", "lat_deg")
    assert ref["remap"] == {"Built Up": "Bare Earth"}


def test_cli_class_remap_drops_a_class(tmp_path):
    result = run_cli("classify", *S2_FILES, "-t", T11UPT_POLYGONS, "--class-field", "C_name",
                     "--class-remap", "Road=Built Up", "--class-remap", "Hail Scar=", "--class-remap", "Lake=Water",
                     "-o", tmp_path / "map.tif", "--samples-out", tmp_path / "samples.csv")
    assert result.returncode == 0, result.stderr
    labels = set(pd.read_csv(tmp_path / "samples.csv")["label"])
    assert labels == {"Bare Earth", "Built Up", "Trees", "Vegetation", "Water"}


def test_cli_training_recipe(tmp_path):
    path = other_recipe(tmp_path)
    result = run_cli("classify", *S2_FILES, "--training-recipe", path, "-o", tmp_path / "map.tif",
                     "--recipe-out", tmp_path / "recipe.json", "--samples-out", tmp_path / "samples.csv")
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / "recipe.json").read_text())
    assert [e["name"] for e in saved["legend"]] == MC.names
    assert [t["kind"] for t in saved["training"]] == ["points", "file"]
    assert set(pd.read_csv(tmp_path / "samples.csv")["label"]) == {"Vegetation", "Bare Earth", "Water"}


BAD_CLI = {
    "no training": ([], ["no training data"]),
    "sampling flag alone": (["-t", L8_POINTS, "--samples-per-class", "5"], ["--samples-per-class", "--sample-map"]),
    "missing map": (["--sample-map", "nowhere.tif"], ["classification map not found"]),
    "zero samples": (["--sample-map", LANDCOVER, "--samples-per-class", "0"], ["at least 1"]),
    "bad filter": (["-t", L8_POINTS, "--class-field", "MC_name", "--training-filter", "MC_ID >"],
                   ["not a valid expression", "MC_ID, MC_name"]),
    "unknown filter column": (["-t", L8_POINTS, "--class-field", "MC_name", "--training-filter", "confidence > 0.8"],
                              ["'confidence' is not a column", "MC_ID, MC_name"]),
    "x without y": (["-t", "points.csv", "--x-column", "lon"], ["--y-column"]),
    "columns for a shapefile": (["-t", L8_POINTS, "--x-column", "lon", "--y-column", "lat"], ["are for CSV"]),
    "remap without =": (["-t", L8_POINTS, "--class-field", "MC_name", "--class-remap", "Water"], ["NAME=CLASS"]),
    "remap to a missing class": (["-t", L8_POINTS, "--class-field", "MC_name", "--class-remap", "Water=Lake",
                                  "--legend", "LEGEND"], ["'Lake'", "not in the legend"]),
    "missing recipe": (["--training-recipe", "none.json"], ["recipe file not found"]),
}


@pytest.mark.parametrize("case", list(BAD_CLI))
def test_cli_bad_training_input_exits_2_with_one_line(case, tmp_path):
    flags, words = BAD_CLI[case]
    flags = [str(legend_csv(tmp_path)) if f == "LEGEND" else f for f in flags]
    result = run_cli("classify", *L8_FILES, *flags, "-o", tmp_path / "map.tif", cwd=tmp_path)
    one_error_line(result, *words)
    assert not (tmp_path / "map.tif").exists()


def test_the_live_map_trains_on_the_filtered_rows(l8):
    """The dashboard's live classifier reads a training file as the pipeline does: with its row filter."""
    from landclass_ui.live import LiveClassifier

    legend = Legend.from_labels(["Bare Earth", "Built Up", "Vegetation", "Water"])
    live = LiveClassifier(l8, overview_px=200)
    every = TrainingRef("file", str(L8_POINTS), "MC_name")
    some = TrainingRef("file", str(L8_POINTS), "MC_name", filter="MC_ID in [2, 4]")
    counts = {}
    for name, ref in (("every", every), ("some", some)):
        samples = live.samples(Recipe(images=[ImageRef(str(p)) for p in L8_FILES], training=[ref]), legend)
        counts[name] = dict(samples.counts())
    assert set(counts["some"]) == {"Vegetation", "Water"} and len(counts["every"]) == 4
    assert counts["some"] == {k: v for k, v in counts["every"].items() if k in ("Vegetation", "Water")}


@pytest.mark.parametrize("expression", [
    'MC_ID.__class__.__init__.__globals__["__builtins__"]["open"]("{marker}", "w")',
    '__import__("os").system("touch {marker}")',
    'MC_name.str.__class__.__mro__',
    '(lambda: open("{marker}", "w"))()',
    '[c for c in MC_name]',
])
def test_a_row_filter_is_data_never_code(expression, tmp_path):
    """A recipe's filter could come from anyone: what is not a condition on columns is refused before pandas
    sees it (its python engine resolves attributes and calls methods), and nothing runs."""
    marker = tmp_path / "ran"
    with pytest.raises(TrainingDataError, match="a row filter may not|not a valid expression"):
        read_training(L8_POINTS, "MC_name", filter=expression.format(marker=marker))
    assert not marker.exists()
    kept = read_training(L8_POINTS, "MC_name", filter='MC_name.str.startswith("W") or MC_ID == 2')
    assert set(kept["label"]) == {"Water", "Vegetation"}
