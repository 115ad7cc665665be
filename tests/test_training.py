"""Training data: reading, class names, rasterization of polygons and points, and the errors users meet."""
import json
import os

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from pyproj import Transformer

from landclass_ui.errors import CRSError, LegendError, NoOverlapError, TrainingDataError
from landclass_ui.imagery import open_image
from landclass_ui.legend import Legend, LegendEntry
from landclass_ui.sample import sample_paths
from landclass_ui.training import extract_samples, points_frame, read_training

SAMPLE = sample_paths()
LEGEND3 = Legend([LegendEntry(1, "FARM", "#94ff00"), LegendEntry(2, "FOREST", "#007f46"),
                  LegendEntry(3, "WATER", "#0094ff")])


@pytest.fixture(scope="module")
def stack():
    return open_image(SAMPLE.safe)


def centres_inside(grid, polygons):
    """Pixel (row, col) whose centre lies inside the polygons, by shapely: independent of rasterio."""
    out = {}
    for label, geom in zip(polygons["label"], polygons.geometry):
        minx, miny, maxx, maxy = geom.bounds
        c0 = int((minx - grid.transform.c) // grid.transform.a)
        c1 = int((maxx - grid.transform.c) // grid.transform.a) + 1
        r0 = int((grid.transform.f - maxy) // -grid.transform.e)
        r1 = int((grid.transform.f - miny) // -grid.transform.e) + 1
        cols, rows = np.meshgrid(np.arange(c0, c1 + 1), np.arange(r0, r1 + 1))
        xs = grid.transform.c + (cols + 0.5) * grid.transform.a
        ys = grid.transform.f + (rows + 0.5) * grid.transform.e
        inside = shapely.contains_xy(geom, xs, ys)
        for r, c in zip(rows[inside], cols[inside]):
            out[(int(r), int(c))] = label
    return out


def test_polygons_rasterized_by_pixel_centre(stack):
    features = read_training(SAMPLE.polygons, "class", crs=stack.crs)
    samples = extract_samples(stack, features, LEGEND3)
    expected = centres_inside(stack.grid, features)
    got = dict(zip(zip(samples.frame["row"], samples.frame["col"]), samples.frame["label"]))
    assert got == expected
    # the tutorial's own count of training pixels for these polygons (see tests/data/SOURCE.md)
    assert len(samples.frame) == 3113
    assert set(samples.frame["class"]) == {1, 2, 3}


def test_sample_values_are_the_image_values(stack):
    features = read_training(SAMPLE.polygons, "class", crs=stack.crs)
    samples = extract_samples(stack, features, LEGEND3)
    image = stack.read()
    rows, cols = samples.frame["row"].to_numpy(), samples.frame["col"].to_numpy()
    np.testing.assert_array_equal(samples.features, image[:, rows, cols].T)
    # x/y are pixel centres in the image CRS
    np.testing.assert_allclose(samples.frame["x"], 300000 + (cols + 0.5) * 60)
    np.testing.assert_allclose(samples.frame["y"], 4900020 - (rows + 0.5) * 60)


def test_class_names_are_normalized(tmp_path, stack):
    data = json.load(open(SAMPLE.polygons))
    spellings = {"FARM": "farm ", "FOREST": " Forest", "WATER": "WATER"}
    for f in data["features"]:
        f["properties"]["class"] = spellings[f["properties"]["class"]]
    path = tmp_path / "mixed.geojson"
    path.write_text(json.dumps(data))
    features = read_training(path, "class", crs=stack.crs)
    samples = extract_samples(stack, features, LEGEND3)
    assert sorted(samples.counts().index) == ["FARM", "FOREST", "WATER"]
    assert len(samples.frame) == 3113


def test_reprojected_polygons_give_the_same_pixels(tmp_path, stack):
    direct = extract_samples(stack, read_training(SAMPLE.polygons, "class", crs=stack.crs), LEGEND3)
    other = gpd.read_file(SAMPLE.polygons).to_crs("EPSG:3857")
    path = tmp_path / "mercator.gpkg"
    other.to_file(path)
    via = extract_samples(stack, read_training(path, "class"), LEGEND3)
    a = set(zip(direct.frame["row"], direct.frame["col"]))
    b = set(zip(via.frame["row"], via.frame["col"]))
    assert len(a ^ b) <= 0.005 * len(a)


def test_sepal_csv_points_take_the_pixel_they_fall_in(tmp_path, stack):
    to_lonlat = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True)
    # three points at known pixels (row, col), placed a quarter pixel off the centre
    pixels = [(100, 200, "Farm"), (1000, 1500, "forest"), (1829, 0, "WATER")]
    rows = []
    for r, c, label in pixels:
        x = 300000 + (c + 0.25) * 60
        y = 4900020 - (r + 0.75) * 60
        lon, lat = to_lonlat.transform(x, y)
        rows.append({"XCoordinate": lon, "YCoordinate": lat, "class": label})
    rows.append({"XCoordinate": 10.0, "YCoordinate": 50.0, "class": "FARM"})  # far outside
    path = tmp_path / "points.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    samples = extract_samples(stack, read_training(path, "class"), LEGEND3)
    got = sorted(zip(samples.frame["row"], samples.frame["col"], samples.frame["class"]))
    assert got == [(100, 200, 1), (1000, 1500, 2), (1829, 0, 3)]
    assert any("1 point(s) outside the image" in m for m in samples.messages)
    with rasterio.open(stack.bands[0].path) as src:
        dn = src.read(1)[100, 200]
    b02 = samples.frame.loc[samples.frame["row"] == 100, "B02"].item()
    assert b02 == pytest.approx((dn - 1000) / 10000, abs=1e-6)


def test_collected_points_and_integer_classes(stack):
    lon, lat = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True).transform(
        300000 + 10.5 * 60, 4900020 - 20.5 * 60)
    lon2, lat2 = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True).transform(
        300000 + 30.5 * 60, 4900020 - 40.5 * 60)
    frame = points_frame([{"x": lon, "y": lat, "class": 1}, {"x": lon2, "y": lat2, "class": 3}])
    samples = extract_samples(stack, frame, LEGEND3)
    assert sorted(zip(samples.frame["row"], samples.frame["col"], samples.frame["class"])) == [
        (20, 10, 1), (40, 30, 3)]


def test_missing_class_field_lists_the_columns():
    with pytest.raises(TrainingDataError, match=r"'landcover' is not in .*columns are id, class, color"):
        read_training(SAMPLE.polygons, "landcover")


def test_no_overlap(tmp_path, stack):
    moved = gpd.read_file(SAMPLE.polygons)
    moved["geometry"] = moved.geometry.translate(xoff=20.0)  # 20 degrees east
    path = tmp_path / "moved.geojson"
    moved.to_file(path)
    with pytest.raises(NoOverlapError, match="does not overlap the image"):
        extract_samples(stack, read_training(path, "class", crs=stack.crs), LEGEND3)


def test_fewer_than_two_classes(tmp_path, stack):
    only = gpd.read_file(SAMPLE.polygons)
    only = only[only["class"] == "FOREST"]
    path = tmp_path / "forest.geojson"
    only.to_file(path)
    with pytest.raises(TrainingDataError, match="fewer than two classes"):
        extract_samples(stack, read_training(path, "class"), LEGEND3)


def test_unknown_class_is_named(stack):
    legend = Legend([LegendEntry(1, "FARM", "#94ff00"), LegendEntry(2, "FOREST", "#007f46")])
    with pytest.raises(LegendError, match="'WATER'.*not in the legend"):
        extract_samples(stack, read_training(SAMPLE.polygons, "class"), legend)


def test_shapefile_without_prj(tmp_path):
    path = tmp_path / "roi.shp"
    gpd.read_file(SAMPLE.polygons).to_file(path)
    os.remove(tmp_path / "roi.prj")
    with pytest.raises(CRSError, match="no CRS"):
        read_training(path, "class")


@pytest.mark.parametrize("content", [b"", b"\x00\x01garbage\xff" * 10])
def test_empty_or_corrupt_file(tmp_path, content):
    path = tmp_path / "broken.geojson"
    path.write_bytes(content)
    with pytest.raises(TrainingDataError):
        read_training(path, "class")


def test_csv_in_projected_coordinates_is_refused(tmp_path):
    path = tmp_path / "utm.csv"
    path.write_text("x,y,class\n345000,4850000,FARM\n")
    with pytest.raises(TrainingDataError, match="EPSG:4326"):
        read_training(path, "class")


def test_training_pixels_on_nodata_are_dropped(tmp_path):
    profile = dict(driver="GTiff", width=20, height=10, count=2, dtype="uint16", crs="EPSG:32631",
                   transform=rasterio.transform.from_origin(300000, 4900020, 60, 60), nodata=0)
    data = np.full((2, 10, 20), 500, np.uint16)
    data[:, :, 10:] = 3000
    data[:, 0:2, :] = 0  # two nodata rows
    path = tmp_path / "img.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    stack = open_image(path)
    left = shapely.box(300000, 4900020 - 600, 300000 + 600, 4900020)
    right = shapely.box(300000 + 600, 4900020 - 600, 300000 + 1200, 4900020)
    frame = gpd.GeoDataFrame({"class": ["a", "b"]}, geometry=[left, right], crs="EPSG:32631")
    path_v = tmp_path / "v.gpkg"
    frame.to_file(path_v)
    samples = extract_samples(stack, read_training(path_v, "class"),
                              Legend.from_labels(["a", "b"]))
    assert len(samples.frame) == 2 * 8 * 10
    assert any("40 training pixel(s) on nodata ignored" in m for m in samples.messages)
    assert np.isfinite(samples.features).all()
