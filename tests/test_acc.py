"""Accuracy panel and guidance: suggestions of where to add points, the uncertainty raster, cross-validation of
the live training data in the dashboard, and per-class probability bands in the exported outputs."""
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from landclass_ui.guidance import (
    TOO_FEW_MESSAGE,
    Suggestion,
    assess_training,
    locate,
    suggest_points,
    uncertain_raster,
    view_window,
)
from landclass_ui.imagery import Grid
from landclass_ui.recipe import ImageRef, Recipe, TrainingRef
from landclass_ui.sample import sample_paths

DATA = Path(__file__).parent / "data"
SAMPLE = sample_paths()
L5 = [str(DATA / f"l5_amazon/LT52240631988227CUB02_B{i}.TIF") for i in (1, 2, 3, 4, 5, 7)]
L5_POLYGONS = str(DATA / "l5_amazon/training_polygons.gpkg")
LEGEND = [{"value": 1, "name": "FARM", "color": "#94ff00"},
          {"value": 2, "name": "FOREST", "color": "#007f46"},
          {"value": 3, "name": "WATER", "color": "#0094ff"}]


# ---------------------------------------------------------------------------------------------------------
# engine: synthetic arrays with the answer known by construction


def synthetic():
    """40 x 40: class 1 on the left half, 2 on the right, 90 % everywhere except a few planted low pixels."""
    classes = np.ones((40, 40), np.uint8)
    classes[:, 20:] = 2
    prob = np.full((40, 40), 90, np.uint8)
    for (r, c), p in {(5, 5): 30, (6, 6): 20, (13, 8): 55, (12, 17): 60, (30, 10): 50,  # class 1
                      (20, 30): 40, (35, 35): 80}.items():  # class 2 (80: above the threshold)
        prob[r, c] = p
    classes[0:2, 0:2] = 255  # nodata corner
    prob[0:2, 0:2] = 255
    return classes, prob


def picked(items):
    return [(s.value, s.row, s.col, s.probability) for s in items]


def test_suggestions_are_the_lowest_pixels_spread_at_least_a_block_apart():
    classes, prob = synthetic()
    # blocks=4 -> 10 px blocks. Class 1: (6,6)=20 wins its block over (5,5)=30; (30,10)=50 next; (13,8)=55 is
    # 7 px from (6,6) (skipped); (12,17)=60 is 11 px away (taken). Class 2: only (20,30)=40 is below 75.
    items = suggest_points(classes, prob, blocks=4)
    assert picked(items) == [(1, 6, 6, 20), (1, 30, 10, 50), (1, 12, 17, 60), (2, 20, 30, 40)]


def test_suggestions_limited_per_class_and_to_the_window():
    classes, prob = synthetic()
    assert picked(suggest_points(classes, prob, blocks=4, per_class=2)) == [
        (1, 6, 6, 20), (1, 30, 10, 50), (2, 20, 30, 40)]
    # rows 0-19 only: (30,10) and (20,30) are outside; rows/cols reported in the full raster
    assert picked(suggest_points(classes, prob, blocks=4, window=(0, 20, 0, 40))) == [
        (1, 6, 6, 20), (1, 12, 17, 60)]
    assert suggest_points(classes, prob, window=(0, 20, 0, 40), threshold=10) == []


def test_uncertain_raster_marks_pixels_below_the_threshold_but_not_nodata():
    prob = np.array([[0, 74, 75], [100, 255, 30]], np.uint8)
    assert uncertain_raster(prob).tolist() == [[1, 1, 0], [0, 0, 1]]
    assert uncertain_raster(prob, threshold=31).tolist() == [[1, 0, 0], [0, 0, 1]]


def test_locate_gives_pixel_centres_and_a_label():
    grid = Grid(CRS.from_epsg(4326), Affine(0.01, 0, 1.0, 0, -0.01, 44.0), 100, 100)
    (s,) = locate([Suggestion(2, 10, 20, 52)], grid, {2: "FOREST"})
    assert s.lon == pytest.approx(1.0 + 20.5 * 0.01) and s.lat == pytest.approx(44.0 - 10.5 * 0.01)
    assert s.label() == "FOREST? 43.90, 1.21 (52 %)"


def test_view_window_in_grid_rows_and_columns():
    grid = Grid(CRS.from_epsg(4326), Affine(0.01, 0, 1.0, 0, -0.01, 44.0), 100, 100)
    assert view_window(grid, (1.1, 43.5, 1.3, 43.8)) == (20, 50, 10, 30)
    assert view_window(grid, (0.0, 40.0, 5.0, 50.0)) == (0, 100, 0, 100)
    assert view_window(grid, (10.0, 10.0, 11.0, 11.0)) is None


# ---------------------------------------------------------------------------------------------------------
# cross-validation of the training data


def test_assess_training_needs_two_units_per_class():
    import pandas as pd

    from landclass_ui.legend import Legend
    from landclass_ui.training import SampleTable

    frame = pd.DataFrame({"x": [0.0, 1000.0], "y": [0.0, 0.0], "row": [0, 0], "col": [0, 100], "group": [0, 1],
                          "class": [1, 2], "label": ["FARM", "FOREST"], "b": [0.1, 0.9]})
    result = assess_training(SampleTable(frame, ["b"], []), Legend.from_list(LEGEND[:2]))
    assert result.report is None and result.message == TOO_FEW_MESSAGE == result.summary()


def test_assess_training_on_separable_points_is_perfect():
    """Two classes of 6 points each, far apart in space and value: every fold predicts its points right."""
    import pandas as pd

    from landclass_ui.legend import Legend
    from landclass_ui.training import SampleTable

    rows = [{"x": 1000.0 * i, "y": 0.0, "row": 0, "col": 100 * i, "group": i, "class": 1 + i % 2,
             "label": ["FARM", "FOREST"][i % 2], "b": [0.1, 0.9][i % 2] + 0.001 * i} for i in range(12)]
    result = assess_training(SampleTable(pd.DataFrame(rows), ["b"], []), Legend.from_list(LEGEND[:2]))
    assert result.k == 5 and result.report.n == 12
    assert result.report.overall_accuracy == 1.0 and result.report.kappa == 1.0
    assert result.cross_validation.mean == 1.0
    assert result.report.confusion_matrix.to_numpy().tolist() == [[6, 0], [0, 6]]


# ---------------------------------------------------------------------------------------------------------
# the dashboard


def wait_idle(app, timeout=120.0):
    app.wait_idle(timeout)  # the worker, then the accuracy assessment that follows it


@pytest.fixture(scope="module")
def polygons_app(tmp_path_factory):
    """The app on the bundled scene with the sample polygons (3113 pixels) as training file."""
    from landclass_ui.ui.app import LandclassApp

    workdir = tmp_path_factory.mktemp("acc")
    Recipe(name="acc_test", images=[ImageRef(SAMPLE.safe)], legend=[dict(e) for e in LEGEND],
           training=[TrainingRef("file", SAMPLE.polygons, SAMPLE.class_field)]).save(workdir / "recipe.json")
    app = LandclassApp(workdir=workdir, routing="proxy")
    wait_idle(app)
    return app


def test_accuracy_panel_shows_cross_validation_of_the_polygons(polygons_app):
    app = polygons_app
    assert "classified with 3113 training pixels" in app.status.value, app.status.value
    summary = app.acc.summary.value
    m = re.search(r"Overall accuracy (\d+\.\d) % ± (\d+\.\d)</b> \(mean ± sd over 5 folds\), <b>kappa (\d\.\d\d)",
                  summary)
    assert m, summary
    assert 80 <= float(m.group(1)) <= 100 and 0.5 <= float(m.group(3)) <= 1
    assert all(f"<td>{name}</td>" in app.acc.table.value for name in ("FARM", "FOREST", "WATER"))
    assert app.acc.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert "optimistic" in app.acc.widget.children[1].value and "Probability" in app.acc.widget.children[1].value
    assert app.acc.result.report.n == 1500  # subsampled to keep it cheap
    assert app.accuracy_seconds and app.accuracy_seconds[-1] < 10


def test_uncertain_layer_is_the_live_probability_below_75(polygons_app):
    from landclass_ui.overlay import EMPTY_PNG, decode_data_url

    app = polygons_app
    result = app._overview
    assert not app.map.uncertain_layer.visible
    assert app.map.uncertain_layer.url == EMPTY_PNG  # hidden: no picture sent meanwhile
    app.acc.show_uncertain.value = True  # shown: now it draws the latest result
    marked = result.uncertain
    assert np.array_equal(marked, ((result.probabilities < 75) & (result.probabilities != 255)).astype(np.uint8))
    assert marked.any()  # a real scene has uncertain pixels
    rgba = decode_data_url(app.map.uncertain_layer.url)
    magenta = (rgba[..., :3] == (255, 0, 255)).all(-1) & (rgba[..., 3] == 255)
    # the overlay is the marked raster warped to Web Mercator (about as many pixels): the same share marked
    assert abs(magenta.mean() - marked.mean()) < 0.02, (magenta.mean(), marked.mean())
    assert (rgba[~magenta][:, 3] == 0).all()  # the rest is transparent
    assert app.map.uncertain_layer.visible
    app.acc.show_uncertain.value = False


def test_suggestions_are_listed_and_a_click_zooms_there(polygons_app):
    app = polygons_app
    buttons = app.acc.suggestions.children
    assert buttons, app.acc.suggestion_note.value
    items = app.acc.items
    per_class = {}
    for s in items:
        per_class[s.name] = per_class.get(s.name, 0) + 1
        assert s.probability < 75
        assert int(app._overview.probabilities[s.row, s.col]) == s.probability
        assert app.live.model.legend.values[app.live.model.legend.names.index(s.name)] == \
            int(app._overview.classes[s.row, s.col])
    assert max(per_class.values()) <= 5
    assert re.fullmatch(r"(FARM|FOREST|WATER)\? -?\d+\.\d\d, -?\d+\.\d\d \(\d+ %\)", buttons[0].description)
    buttons[0].click()
    assert app.map.map.center == [items[0].lat, items[0].lon] or tuple(app.map.map.center) == (items[0].lat,
                                                                                               items[0].lon)
    assert app.map.map.zoom >= 15


def test_accuracy_panel_asks_for_more_points_with_one_point_per_class(tmp_path):
    from landclass_ui.ui.app import LandclassApp

    frame = gpd.read_file(SAMPLE.polygons).to_crs(4326)
    points = []
    for value, label in ((3, "WATER"), (2, "FOREST")):
        p = frame.loc[frame["class"].str.upper() == label, "geometry"].iloc[0].representative_point()
        points.append({"x": p.x, "y": p.y, "class": value})
    Recipe(name="acc_points", images=[ImageRef(SAMPLE.safe)], legend=[dict(e) for e in LEGEND],
           training=[TrainingRef("points", points=points)]).save(tmp_path / "recipe.json")
    app = LandclassApp(workdir=tmp_path, routing="proxy")
    wait_idle(app)
    assert "classified with 2 training pixels" in app.status.value
    assert TOO_FEW_MESSAGE in app.acc.summary.value
    assert app.acc.image.value == b""


# ---------------------------------------------------------------------------------------------------------
# per-class probability bands


@pytest.fixture(scope="module")
def l5_run(tmp_path_factory):
    from landclass_ui.pipeline import run

    out = tmp_path_factory.mktemp("cube") / "map.tif"
    recipe = Recipe(images=[ImageRef(p) for p in L5], training=[TrainingRef("file", L5_POLYGONS, "class")])
    return run(recipe, str(out), class_probabilities=True, block=100, progress=False)


def test_class_probability_bands(l5_run):
    from rio_cogeo.cogeo import cog_validate

    path = l5_run.class_probability
    assert Path(path).name == "map_class_probability.tif"
    legend = l5_run.model.legend
    with rasterio.open(path) as src:
        cube = src.read()
        assert src.descriptions == tuple(f"{n} %" for n in legend.names)
        assert src.count == len(legend.values) and src.dtypes[0] == "uint8" and src.nodata == 255
    with rasterio.open(l5_run.classification) as src:
        classes = src.read(1)
    valid = classes != 255
    assert valid.all() or not (cube[:, ~valid] != 255).any()
    total = cube[:, valid].astype(int).sum(axis=0)
    assert np.abs(total - 100).max() <= len(legend.values) // 2 + 1  # rounding of each band
    # the winning band is the class map (where the top two are not tied after rounding)
    top2 = np.sort(cube[:, valid], axis=0)[-2:]
    clear = top2[1] > top2[0]
    winner = np.asarray(legend.values)[cube[:, valid].argmax(axis=0)]
    assert clear.mean() > 0.9
    assert np.array_equal(winner[clear], classes[valid][clear])
    assert cog_validate(path, quiet=True)[0]


def test_cli_class_probabilities_flag(tmp_path):
    from landclass_ui.cli import main

    out = tmp_path / "cli.tif"
    status = main(["classify", *L5, "-t", L5_POLYGONS, "-o", str(out), "--class-probabilities", "-q"])
    assert status == 0
    with rasterio.open(tmp_path / "cli_class_probability.tif") as src:
        assert src.count == 4 and all(d.endswith(" %") for d in src.descriptions)
    assert not (tmp_path / "cli_probability.tif").exists()
