"""Live classification (coarse whole scene, visible extent) and the recipe store (autosave, undo)."""
import json

import numpy as np
import pytest
import rasterio
from pyproj import Transformer

from landclass_ui.imagery import open_image
from landclass_ui.legend import Legend
from landclass_ui.live import LiveClassifier
from landclass_ui.recipe import ImageRef, Recipe, TrainingRef
from landclass_ui.sample import sample_paths
from landclass_ui.store import RecipeStore

SAMPLE = sample_paths()
LEGEND = Legend.from_list([{"value": 1, "name": "FARM", "color": "#94ff00"},
                           {"value": 2, "name": "FOREST", "color": "#007f46"},
                           {"value": 3, "name": "WATER", "color": "#0094ff"}])
TO_LONLAT = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True)


def lonlat(row, col):
    return TO_LONLAT.transform(300000 + (col + 0.5) * 60, 4900020 - (row + 0.5) * 60)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    return LiveClassifier(open_image(SAMPLE.safe), overview_px=457)


def recipe_with(points):
    return Recipe(images=[ImageRef(SAMPLE.safe)], legend=LEGEND.to_list(),
                  training=[TrainingRef("points", points=points)])


def test_no_map_before_two_classes(live):
    x, y = lonlat(300, 300)
    assert live.update(recipe_with([]), LEGEND) is None
    assert live.update(recipe_with([{"x": x, "y": y, "class": 1}]), LEGEND) is None


def test_overview_from_polygons_agrees_with_the_full_map(live, tmp_path):
    from landclass_ui.pipeline import run

    recipe = Recipe(images=[ImageRef(SAMPLE.safe)], legend=LEGEND.to_list(),
                    training=[TrainingRef("file", SAMPLE.polygons, "class")])
    result = live.update(recipe, LEGEND)
    coarse = result.classes
    assert coarse.shape == (457, 457) and coarse.dtype == np.uint8 and result.grid.crs.to_epsg() == 32631
    assert result.grid.shape == (457, 457)
    assert result.model.legend.colormap()[3][:3] == (0, 0x94, 0xFF)
    assert tuple(result.grid.bounds) == pytest.approx((300000, 4790220, 409800, 4900020))
    full = run(recipe, str(tmp_path / "full.tif"), progress=False)
    with rasterio.open(full.classification) as src:
        fine = src.read(1, out_shape=(457, 457), resampling=rasterio.enums.Resampling.mode)
    # a coarse pixel averages 4 x 4 image pixels, so mixed pixels may take another class: most agree
    agreement = (coarse == fine).mean()
    assert agreement > 0.75, agreement
    prob = result.probabilities
    assert prob.shape == coarse.shape and prob.max() <= 100 and prob.min() >= 33


def test_each_update_writes_a_new_version(live):
    points = [{"x": lonlat(254, 763)[0], "y": lonlat(254, 763)[1], "class": 3},
              {"x": lonlat(900, 900)[0], "y": lonlat(900, 900)[1], "class": 2}]
    first = live.update(recipe_with(points), LEGEND)
    points.append({"x": lonlat(1500, 200)[0], "y": lonlat(1500, 200)[1], "class": 1})
    second = live.update(recipe_with(points), LEGEND)
    assert second.version > first.version and not np.array_equal(second.classes, first.classes)
    assert second.n_samples == 3
    assert set(np.unique(first.classes)) == {2, 3} and set(np.unique(second.classes)) == {1, 2, 3}


def test_view_is_classified_at_screen_resolution(live):
    recipe = Recipe(images=[ImageRef(SAMPLE.safe)], legend=LEGEND.to_list(),
                    training=[TrainingRef("file", SAMPLE.polygons, "class")])
    live.update(recipe, LEGEND)
    # a 200 x 100 pixel part of the scene shown on a 100 x 50 pixel screen area
    west, north = TO_LONLAT.transform(300000 + 600 * 60, 4900020 - 500 * 60)
    east, south = TO_LONLAT.transform(300000 + 800 * 60, 4900020 - 600 * 60)
    view = live.classify_view((west, south, east, north), (100, 50))
    assert view.grid.width <= 110 and view.grid.height <= 60 and view.classes.shape == view.grid.shape
    left, bottom, right, top = view.grid.bounds
    assert left <= 300000 + 600 * 60 + 60 and right >= 300000 + 800 * 60 - 60
    assert live.classify_view((20.0, 10.0, 21.0, 11.0), (100, 100)) is None  # elsewhere on Earth


def test_store_saves_every_edit_and_undoes(tmp_path):
    path = tmp_path / "recipe.json"
    store = RecipeStore.open(path, lambda: recipe_with([]))
    seen = []
    store.observe(seen.append)
    store.edit("add point", lambda r: r.training[0].points.append({"x": 1.0, "y": 43.5, "class": 1}))
    store.edit("add point", lambda r: r.training[0].points.append({"x": 1.1, "y": 43.6, "class": 2}))
    assert len(json.loads(path.read_text())["training"][0]["points"]) == 2
    assert store.undo() == "add point"
    assert len(json.loads(path.read_text())["training"][0]["points"]) == 1
    assert seen == ["add point", "add point", "undo add point"]
    reopened = RecipeStore.open(path, lambda: recipe_with([]))
    assert reopened.recipe.training[0].points == [{"x": 1.0, "y": 43.5, "class": 1}]


def test_store_failed_edit_changes_nothing(tmp_path):
    store = RecipeStore.open(tmp_path / "r.json", lambda: recipe_with([]))

    def bad(recipe):
        recipe.name = "half done"
        raise ValueError("boom")

    with pytest.raises(ValueError):
        store.edit("bad", bad)
    assert store.recipe.name != "half done" and not store.can_undo


def test_store_keeps_a_corrupt_file_aside(tmp_path):
    path = tmp_path / "recipe.json"
    path.write_text("{ not json")
    store = RecipeStore.open(path, lambda: recipe_with([]))
    assert (tmp_path / "recipe.json.corrupt").read_text() == "{ not json"
    assert "not valid JSON" in store.opened_message
    assert json.loads(path.read_text())["schema_version"] == 1


def test_one_class_file_completed_by_points(live, tmp_path):
    """A training file with a single class is fine live: collected points of another class complete it."""
    import geopandas as gpd

    water = gpd.read_file(SAMPLE.polygons)
    water = water[water["class"] == "WATER"]
    path = tmp_path / "water.geojson"
    water.to_file(path)
    only_water = Recipe(images=[ImageRef(SAMPLE.safe)], legend=LEGEND.to_list(),
                        training=[TrainingRef("file", str(path), "class")])
    assert live.update(only_water, LEGEND) is None
    x, y = lonlat(1215, 395)  # a forest pixel of the tutorial's polygons
    only_water.training.append(TrainingRef("points", points=[{"x": x, "y": y, "class": 2}]))
    result = live.update(only_water, LEGEND)
    assert result is not None and result.n_samples == 282 + 1  # the water polygons' pixels and the point


def test_coarse_picture_is_every_kth_pixel_of_the_full_one(live):
    """The first, coarse picture of a refresh is the full one's pixels at the centres of k x k blocks: same
    model, same bands, so the same classes, on a grid k times coarser over the same place."""
    from landclass_ui.live import COARSE_PX

    recipe = Recipe(images=[ImageRef(SAMPLE.safe)], legend=LEGEND.to_list(),
                    training=[TrainingRef("file", SAMPLE.polygons, "class")])
    full = live.update(recipe, LEGEND)
    coarse = live.classify_overview(coarse=True)
    step = -(-457 // COARSE_PX)  # 2
    assert max(coarse.classes.shape) <= COARSE_PX and coarse.grid.res == pytest.approx(
        (full.grid.res[0] * step, full.grid.res[1] * step))
    assert np.array_equal(coarse.classes, full.classes[step // 2::step, step // 2::step])
    assert np.array_equal(coarse.probabilities, full.probabilities[step // 2::step, step // 2::step])
    assert coarse.grid.transform.c == full.grid.transform.c and coarse.grid.transform.f == full.grid.transform.f


def test_view_bands_are_read_once_per_extent(live, monkeypatch):
    west, north = TO_LONLAT.transform(300000 + 600 * 60, 4900020 - 500 * 60)
    east, south = TO_LONLAT.transform(300000 + 800 * 60, 4900020 - 600 * 60)
    view = ((west, south, east, north), (100, 50))
    first = live.classify_view(*view)

    def no_read(*args, **kwargs):
        raise AssertionError("the view's bands were read again")

    monkeypatch.setattr(live.stack, "read", no_read)
    again = live.classify_view(*view)  # a retrain on the same view: no read
    coarse = live.classify_view(*view, coarse=True)
    assert np.array_equal(again.classes, first.classes) and coarse.classes.shape == first.classes.shape
    with pytest.raises(AssertionError, match="read again"):
        live.classify_view((west, south, east, north), (120, 60))  # another extent is read


def test_warm_reads_the_scene_before_the_first_training(monkeypatch):
    fresh = LiveClassifier(open_image(SAMPLE.safe), overview_px=300)
    fresh.warm()
    assert fresh.overview().shape == (len(fresh.stack.band_names), *fresh.overview_grid.shape)

    def no_read(*args, **kwargs):
        raise AssertionError("the scene was read again")

    monkeypatch.setattr(fresh.stack, "read", no_read)
    x1, y1 = lonlat(300, 300)
    x2, y2 = lonlat(100, 700)
    result = fresh.update(recipe_with([{"x": x1, "y": y1, "class": 1}, {"x": x2, "y": y2, "class": 2}]), LEGEND)
    assert result is not None and result.classes.shape == fresh.overview_grid.shape


def test_two_stores_on_one_file_keep_each_others_points(tmp_path):
    """Two tabs on one work folder (two kernels, two stores of the same recipe.json): 3 points clicked in the
    first, then 2 in the second, then 1 in the first: all 6 are saved, in that order; an edit by position in a
    stale store is refused and the store reloaded; so is an undo across the other tab's edits."""
    from landclass_ui.errors import RecipeError
    from landclass_ui.ui.trn import add_point, collected_points

    path = tmp_path / "recipe.json"
    first = RecipeStore.open(path, lambda: recipe_with([]))
    second = RecipeStore.open(path, lambda: recipe_with([]))
    for k in range(3):
        first.edit("add point", lambda r, k=k: add_point(r, 1.0 + k, 43.0, 1))
    second.edit("add point", lambda r: add_point(r, 2.0, 44.0, 2))
    assert second.merged  # on top of the first tab's 3 points
    second.edit("add point", lambda r: add_point(r, 3.0, 44.0, 2))
    assert not second.merged and [p["x"] for p in collected_points(second.recipe)] == [1.0, 2.0, 3.0, 2.0, 3.0]
    first.edit("add point", lambda r: add_point(r, 9.0, 45.0, 3))
    saved = json.loads(path.read_text())
    points = [p for t in saved["training"] if t["kind"] == "points" for p in t["points"]]
    assert [(p["x"], p["class"]) for p in points] == [(1.0, 1), (2.0, 1), (3.0, 1), (2.0, 2), (3.0, 2), (9.0, 3)]
    # the second tab deletes "its 5th point" by position: refused, and it now shows all 6
    with pytest.raises(RecipeError, match="changed in another tab or window"):
        second.edit("delete point", lambda r: r.training[0].points.pop(4), rebase=False)
    assert len(collected_points(second.recipe)) == 6 and not second.can_undo
    first.edit("add point", lambda r: add_point(r, 10.0, 45.0, 3))
    with pytest.raises(RecipeError, match="undo starts again"):
        second.undo()
    assert len(collected_points(second.recipe)) == 7 == len(collected_points(Recipe.load(path)))
    # with no other writer, edits and undo work as before
    second.edit("delete point", lambda r: r.training[0].points.pop(6), rebase=False)
    assert not second.merged and second.undo() == "delete point"


def _click_points(path: str, first: float, n: int, start) -> None:
    """A page of its own (a process, as a kernel is): wait for ``start``, then add ``n`` points at once."""
    from landclass_ui.ui.trn import add_point

    store = RecipeStore.open(path, lambda: recipe_with([]))
    start.wait()
    for k in range(n):
        store.edit("add point", lambda r, k=k: add_point(r, first + k, 43.0, 1))


def test_two_processes_clicking_at_once_lose_no_point(tmp_path):
    """Two kernels writing the same recipe.json at the same moment, 40 edits each with no pause: the file lock
    around check-and-write (``<path>.lock``) makes every edit see the other's last save, so all 80 points are
    saved, each process's in its own order. (Without the lock, both read the same file and the later write drops
    the other's point: this is what the test catches.)"""
    import multiprocessing

    from landclass_ui.ui.trn import collected_points

    path = str(tmp_path / "recipe.json")
    RecipeStore.open(path, lambda: recipe_with([]))
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    pages = [ctx.Process(target=_click_points, args=(path, first, 40, start)) for first in (1000.0, 2000.0)]
    for p in pages:
        p.start()
    import time

    time.sleep(3.0)  # both have imported and opened the store
    start.set()
    for p in pages:
        p.join(120)
        assert p.exitcode == 0
    xs = [p["x"] for p in collected_points(Recipe.load(path))]
    assert len(xs) == 80 and sorted(xs) == [1000.0 + k for k in range(40)] + [2000.0 + k for k in range(40)]
    assert [x for x in xs if x < 2000] == sorted(x for x in xs if x < 2000)  # each page's clicks in its order
    assert [x for x in xs if x >= 2000] == sorted(x for x in xs if x >= 2000)


def test_a_held_lock_gives_a_message_and_changes_nothing(tmp_path):
    """When another program holds the recipe's lock past the timeout, the edit is refused with a message that
    says what to do, and neither the store nor the file change."""
    from filelock import FileLock

    from landclass_ui.errors import RecipeError
    from landclass_ui.ui.trn import add_point, collected_points

    path = tmp_path / "recipe.json"
    store = RecipeStore.open(path, lambda: recipe_with([]))
    store.lock_timeout = 0.3
    with FileLock(str(path) + ".lock", thread_local=False):
        with pytest.raises(RecipeError, match="close other landclass pages"):
            store.edit("add point", lambda r: add_point(r, 1.0, 43.0, 1))
    assert collected_points(store.recipe) == [] == collected_points(Recipe.load(path))
    store.edit("add point", lambda r: add_point(r, 1.0, 43.0, 1))  # the lock released: edits go on
    assert len(collected_points(Recipe.load(path))) == 1


def test_new_recipe_keeps_the_other_pages_edits_in_the_library(tmp_path):
    """A page pressing New saves the current recipe to the library first: the copy kept there is the file's
    (with the other page's last points), not this page's older one."""
    from landclass_ui.ui.trn import add_point, collected_points

    path = tmp_path / "recipe.json"
    first = RecipeStore.open(path, lambda: recipe_with([]), library=tmp_path / "recipes")
    second = RecipeStore.open(path, lambda: recipe_with([]), library=tmp_path / "recipes")
    second.edit("add point", lambda r: add_point(r, 1.0, 43.0, 1))
    name = first.recipe.name
    first.start(Recipe(name="other"), "new recipe")
    assert len(collected_points(Recipe.load(first.library_path(name)))) == 1


def test_rolling_backups_keep_what_undo_no_longer_reaches(tmp_path, monkeypatch):
    """The saved recipe is copied to backups/ before it is overwritten (at most once per backup_every seconds,
    the newest kept): after 'Clear all' and a new start, the points are still in a backup."""
    from landclass_ui.ui.trn import add_point, collected_points

    path = tmp_path / "recipe.json"
    store = RecipeStore.open(path, lambda: recipe_with([]))
    store.backup_every, store.backups = 0.0, 3
    for k in range(5):
        store.edit("add point", lambda r, k=k: add_point(r, 1.0 + k, 43.0, 1))
    store.edit("clear points", lambda r: r.training[0].points.clear())
    store.start(recipe_with([]), "new recipe")  # the undo history is gone
    backups = sorted((tmp_path / "backups").glob("recipe-*.json"))
    assert len(backups) == 3  # the newest kept
    counts = [len(collected_points(Recipe.load(b))) for b in backups]
    assert 5 in counts  # the recipe just before "clear points"
    # at most one backup per backup_every seconds: a burst of edits adds none
    store.backup_every = 3600.0
    for k in range(4):
        store.edit("add point", lambda r, k=k: add_point(r, 2.0 + k, 44.0, 2))
    assert sorted((tmp_path / "backups").glob("recipe-*.json")) == backups


def test_the_live_map_shows_the_regularization_at_the_images_pixels(live):
    """Zoomed in to the image's pixels, the live picture is the export's regularization of the classifier's
    picture; on the scene overview (about 4 image pixels a picture pixel) a 3 x 3 window is below one picture
    pixel, so it is left as predicted, and a 13 x 13 window becomes 3 x 3 there."""
    from landclass_ui.recipe import RegularizationRef
    from landclass_ui.regularize import regularize

    plain = Recipe(images=[ImageRef(SAMPLE.safe)], legend=LEGEND.to_list(),
                   training=[TrainingRef("file", SAMPLE.polygons, "class")])
    west, north = TO_LONLAT.transform(300000 + 600 * 60, 4900020 - 500 * 60)
    east, south = TO_LONLAT.transform(300000 + 800 * 60, 4900020 - 600 * 60)
    bounds = (west, south, east, north)
    live.fit(plain, LEGEND)
    raw_view, raw_scene = live.classify_view(bounds, (400, 200)), live.classify_overview()
    smooth = Recipe(**{**plain.__dict__, "regularization": RegularizationRef(3, 4, "px")})
    live.fit(smooth, LEGEND)
    view = live.classify_view(bounds, (400, 200))
    assert abs(view.grid.res[0]) == 60  # the image's pixels
    assert np.array_equal(view.classes, regularize(raw_view.classes, majority=3, mmu=4))
    assert not np.array_equal(view.classes, raw_view.classes)
    assert np.array_equal(live.classify_overview().classes, raw_scene.classes)  # 3 x 3 is under a picture pixel
    live.fit(Recipe(**{**plain.__dict__, "regularization": RegularizationRef(13)}), LEGEND)
    factor = abs(raw_scene.grid.res[0]) / 60
    window = int(round((13 / factor - 1) / 2)) * 2 + 1
    assert window == 3
    assert np.array_equal(live.classify_overview().classes, regularize(raw_scene.classes, majority=3))
    live.fit(plain, LEGEND)  # the shared classifier as the other tests expect it
