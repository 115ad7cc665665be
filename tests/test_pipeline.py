"""Training and window-by-window prediction: nodata stays nodata, the window size changes nothing."""
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely

from landclass_ui.model import fit, predict_block
from landclass_ui.pipeline import prepare, run
from landclass_ui.recipe import ImageRef, Recipe, TrainingRef

DATA = Path(__file__).parent / "data"
L5 = [str(DATA / f"l5_amazon/LT52240631988227CUB02_B{i}.TIF") for i in (1, 2, 3, 4, 5, 7)]


def l5_recipe():
    return Recipe(images=[ImageRef(p) for p in L5],
                  training=[TrainingRef("file", str(DATA / "l5_amazon/training_polygons.gpkg"), "class")])


def test_window_size_does_not_change_the_map(tmp_path):
    small = run(l5_recipe(), str(tmp_path / "small.tif"), probability=True, block=64, progress=False)
    large = run(l5_recipe(), str(tmp_path / "large.tif"), probability=True, block=4096, progress=False)
    with rasterio.open(small.classification) as a, rasterio.open(large.classification) as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))
    with rasterio.open(small.probability) as a, rasterio.open(large.probability) as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))


def test_predict_block_matches_the_estimator_and_masks_nodata():
    prepared = prepare(l5_recipe())
    model = fit(prepared.samples, prepared.legend)
    data = prepared.stack.read()[:, :40, :50].copy()
    data[2, 5:10, 5:10] = np.nan  # one band missing is enough to leave a pixel unclassified
    classes, prob = predict_block(model, data)
    assert classes.dtype == np.uint8 and classes.shape == (40, 50)
    assert (classes[5:10, 5:10] == 255).all() and (prob[5:10, 5:10] == 255).all()
    valid = np.ones((40, 50), bool)
    valid[5:10, 5:10] = False
    pixels = data.reshape(data.shape[0], -1).T[valid.ravel()]
    np.testing.assert_array_equal(classes[valid], model.estimator.predict(pixels))
    expected_prob = np.rint(model.estimator.predict_proba(pixels).max(axis=1) * 100)
    np.testing.assert_array_equal(prob[valid], expected_prob)


def test_default_classifier_is_a_25_tree_forest():
    prepared = prepare(l5_recipe())
    model = fit(prepared.samples, prepared.legend)
    assert model.classifier == "random-forest" and len(model.estimator.estimators_) == 25
    assert model.params["n_trees"] == 25 and model.params["bag_fraction"] == 0.5


def test_nodata_in_the_image_stays_nodata_in_the_outputs(tmp_path):
    # a real Landsat band pair with a block set to the declared nodata (255)
    stacked = tmp_path / "stack.tif"
    with rasterio.open(L5[2]) as red, rasterio.open(L5[3]) as nir:
        profile = red.profile | {"count": 2}
        data = np.stack([red.read(1), nir.read(1)])
    data[:, 100:150, 100:180] = 255
    with rasterio.open(stacked, "w", **profile) as dst:
        dst.write(data)
    recipe = Recipe(images=[ImageRef(str(stacked))],
                    training=[TrainingRef("file", str(DATA / "l5_amazon/training_polygons.gpkg"), "class")])
    result = run(recipe, str(tmp_path / "map.tif"), probability=True, progress=False)
    with rasterio.open(result.classification) as src:
        classes = src.read(1)
    with rasterio.open(result.probability) as src:
        prob = src.read(1)
    assert (classes[100:150, 100:180] == 255).all() and (prob[100:150, 100:180] == 255).all()
    outside = np.ones_like(classes, bool)
    outside[100:150, 100:180] = False
    assert (classes[outside] != 255).all() and (prob[outside] <= 100).all()


def test_collected_points_in_a_recipe(tmp_path):
    """Points as the dashboard stores them (lon/lat, legend values) train a map."""
    from pyproj import Transformer

    prepared = prepare(l5_recipe())
    frame = prepared.samples.frame
    to_lonlat = Transformer.from_crs(prepared.stack.crs, "EPSG:4326", always_xy=True)
    points = []
    for value, group in frame.groupby("class"):
        pick = group.iloc[:: max(1, len(group) // 15)][:15]
        for x, y in zip(pick["x"], pick["y"]):
            lon, lat = to_lonlat.transform(x, y)
            points.append({"x": lon, "y": lat, "class": int(value)})
    recipe = Recipe(images=[ImageRef(p) for p in L5], legend=prepared.recipe.legend,
                    training=[TrainingRef("points", points=points)])
    result = run(recipe, str(tmp_path / "points.tif"), progress=False)
    assert len(result.prepared.samples.frame) == len(points)
    # the map agrees with the polygon labels on most polygon pixels
    with rasterio.open(result.classification) as src:
        mapped = src.read(1)
    agree = (mapped[frame["row"], frame["col"]] == frame["class"]).mean()
    assert agree > 0.9
    assert shapely.Point(points[0]["x"], points[0]["y"]).x < 0  # western hemisphere: lon/lat kept as given


def _sample_recipe():
    from landclass_ui.sample import sample_paths

    paths = sample_paths()
    return Recipe(images=[ImageRef(paths.safe)], training=[TrainingRef("file", paths.polygons, "class")])


@pytest.mark.parametrize("make_recipe", [l5_recipe, _sample_recipe], ids=["l5-band-files", "s2-safe"])
def test_predict_block_in_chunks_and_without_the_probability_gives_the_same_classes(make_recipe):
    from rasterio.windows import Window

    from landclass_ui.pipeline import apply_preset

    recipe = make_recipe()
    apply_preset(recipe)  # with indices, as the command line classifies by default
    prepared = prepare(recipe)
    model = fit(prepared.samples, prepared.legend)
    data = prepared.stack.read(Window(30, 20, 200, 150))
    data[-1, 10:20, 30:60] = np.nan  # a computed band missing is enough to leave a pixel unclassified
    classes, prob = predict_block(model, data)
    assert (classes[10:20, 30:60] == 255).all() and (classes != 255).sum() == 150 * 200 - 300
    chunked, chunked_prob = predict_block(model, data, chunk=7000)
    np.testing.assert_array_equal(chunked, classes)
    np.testing.assert_array_equal(chunked_prob, prob)
    only, none = predict_block(model, data, chunk=7000, probability=False)
    assert none is None
    np.testing.assert_array_equal(only, classes)
