"""The whole app (no browser) with a user's own scenes: the worker thread runs where no event loop runs, as in
a script or a test, and every step a user takes reaches the recipe, the map's layers and the page.

The browser walk of the same steps is ``test_browser_scenes.py``.
"""
from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
import rasterio
from rasterio.warp import transform_bounds

from landclass_ui.legend import Legend
from landclass_ui.overlay import decode_data_url, overlay
from landclass_ui.ui.app import LandclassApp
from landclass_ui.ui.common import KernelLoop

DATA = Path(__file__).parent / "data"

SCENES = {
    "s2-amazon": (str(DATA / "s2_amazon" / "sen2_L2A_12band.tif"), [],
                  str(DATA / "s2_amazon" / "training_polygons.geojson"), "class"),
    "l5-bands": (str(DATA / "l5_amazon" / "LT52240631988227CUB02_B1.TIF"),
                 [str(DATA / "l5_amazon" / f"LT52240631988227CUB02_B{i}.TIF") for i in (2, 3, 4, 5, 7)],
                 str(DATA / "l5_amazon" / "training_polygons.gpkg"), "class"),
    "s2-t11upt-jp2": (str(DATA / "s2_t11upt" / "T11UPT_*_B*_60m.jp2"), [],
                      str(DATA / "s2_t11upt" / "landcover.shp"), "MC_name"),
}


def layer_file(layer) -> str:
    return parse_qs(urlsplit(layer.url).query)["filename"][0]


def is_error(widget) -> bool:
    return "landclass-msg-error" in widget.value


@pytest.fixture
def app(tmp_path):
    a = LandclassApp(workdir=tmp_path / "work", routing="proxy")
    a.wait_idle()
    yield a
    a.wait_idle()


@pytest.mark.parametrize("scene", list(SCENES))
def test_new_recipe_open_image_load_training_classify(app, scene, tmp_path):
    image, adds, training, field = SCENES[scene]
    first = app.store.recipe.name
    assert app.ui.loop is None  # no running loop here: the worker's widget changes are made directly
    app.new_button.click()
    app.wait_idle()
    assert app.store.recipe.images == [] and app.store.recipe.legend is None
    assert first in [v for _, v in app.saved.options]
    assert "no image yet" in app.status.value

    app.img.path.value = image
    app.img.open_button.click()
    for path in adds:
        app.img.path.value = path
        app.img.add_button.click()
    app.wait_idle()
    assert not is_error(app.img.message) and not is_error(app.message), (app.img.message.value, app.message.value)
    # the map was sent onto the image: its centre inside the image, zoomed so that the image fits
    files = sorted(Path(image).parent.glob(Path(image).name))
    with rasterio.open(files[0]) as src:
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
        crs = src.crs
    lat, lon = app.map.map.center
    assert south < lat < north and west < lon < east
    assert app.map.map.zoom >= 10
    # the image layer shows this image's composite: a 3-band uint8 raster in the image's CRS and bounds
    with rasterio.open(layer_file(app.map.image_layer)) as comp:
        assert comp.count == 3 and comp.crs == crs
        assert np.allclose(transform_bounds(comp.crs, "EPSG:4326", *comp.bounds), (west, south, east, north),
                           atol=1e-3)
    assert app.live is not None and app.live.stack.grid.crs == crs
    # under the tiles, the quick preview drawn before them: a picture of this image over its extent
    assert app.map.preview_layer.url.startswith("data:image/webp;base64,")
    (s, w), (n, e) = app.map.preview_layer.bounds
    assert np.allclose((w, s, e, n), (west, south, east, north), atol=0.01)
    picture = decode_data_url(app.map.preview_layer.url)
    assert (picture[..., 3] == 255).mean() > 0.3 and len(np.unique(picture[..., :3].reshape(-1, 3), axis=0)) > 1000

    app.trn.file_path.value = training
    app.trn.class_field.value = field
    app.trn.load_button.click()
    app.wait_idle()
    assert not is_error(app.trn.message), app.trn.message.value
    legend = app.store.recipe.legend
    assert len(legend) >= 4 and "built from" in app.trn.message.value
    assert "classified with" in app.status.value, (app.status.value, app.message.value)
    values = set(np.unique(app._overview.classes).tolist()) - {255}
    assert len(values) >= 3 and values <= {e["value"] for e in legend}
    assert app._overview.grid.crs == crs
    # the map shows it: the class overlay is that array, warped onto the map, over the image's extent
    assert app.map.class_layer.url == overlay(app._overview.classes, app._overview.grid,
                                              Legend.from_list(legend).colormap())[0]
    (s, w), (n, e) = app.map.class_layer.bounds
    assert np.allclose((w, s, e, n), (west, south, east, north), atol=0.01)
    # the training file is drawn on the map in its class colours
    drawn = {layer.name: layer.style["color"] for layer in app.map.polygons_layer.layers}
    assert drawn == {e["name"]: e["color"] for e in legend if e["name"] in drawn} and len(drawn) >= 3

    # a new app on the same folder (a kernel restart) finds the recipe, image and legend again
    again = LandclassApp(workdir=app.workdir, routing="proxy")
    again.wait_idle()
    assert again.store.recipe.to_dict() == app.store.recipe.to_dict()
    assert "classified with" in again.status.value
    assert layer_file(again.map.image_layer) == layer_file(app.map.image_layer)

    # and the first recipe is still there to open
    app.saved.value = first
    app.open_button.click()
    app.wait_idle()
    assert app.store.recipe.name == first and len(app.store.recipe.images) == 1
    assert "Toulouse" in app.store.recipe.images[0].path or ".SAFE" in app.store.recipe.images[0].path


def test_opening_another_image_releases_the_previous_one(app):
    old_live = app.live
    assert old_live is not None
    app.img.path.value = SCENES["s2-amazon"][0]
    app.img.open_button.click()
    app.wait_idle()
    assert app.live is not old_live and app.live.stack.grid.crs != old_live.stack.grid.crs
    assert app._overview is None or app._overview.grid.crs == app.live.stack.grid.crs
    # the overlays moved to the new image's extent
    (south, west), (north, east) = app.map.class_layer.bounds
    lat, lon = app.map.map.center
    assert south < lat < north and west < lon < east


def test_picking_ndvi_rebuilds_the_live_stack(app):
    """The recipe's derived section changed -> the live model's bands include the index."""
    from landclass_ui.sample import sample_paths

    app.trn.file_path.value = sample_paths().polygons
    app.trn.load_button.click()
    app.img.set_indices([])  # the recommended preset's NDVI and NDWI off
    app.wait_idle()
    assert "ndvi" not in " ".join(app.live.model.band_names).lower()
    app.img.set_indices(["ndvi"])
    app.wait_idle()
    assert any("ndvi" in b.lower() for b in app.live.model.band_names), app.live.model.band_names
    assert "classified with" in app.status.value


def test_adding_a_dem_rebuilds_the_live_stack(app, tmp_path):
    """The recipe's auxiliary section changed -> the live model's bands include the terrain bands, and the
    classes map is redrawn (a new version)."""
    from rasterio.transform import from_origin

    from landclass_ui.sample import sample_paths

    app.trn.file_path.value = sample_paths().polygons
    app.trn.load_button.click()
    app.wait_idle()
    before, version = list(app.live.model.band_names), app.version
    grid = app.live.stack.grid
    left, bottom, right, top = grid.bounds
    rows, cols = np.mgrid[0:100, 0:100]
    dem = tmp_path / "dem.tif"  # a tilted plane over the sample scene, in its CRS (EPSG:32631)
    with rasterio.open(dem, "w", driver="GTiff", width=100, height=100, count=1, dtype="float32", crs=grid.crs,
                       transform=from_origin(left, top, (right - left) / 100, (top - bottom) / 100)) as dst:
        dst.write((100 + 5 * cols + 2 * rows).astype("float32"), 1)
    app.aux.add("terrain", str(dem))
    app.wait_idle()
    assert not is_error(app.message) and not is_error(app.aux.message)
    after = app.live.model.band_names
    assert after[: len(before)] == before and {"elevation", "slope"} <= set(after), after
    assert app.version > version and "classified with" in app.status.value


def test_background_error_reaches_the_page_and_the_log(app, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(app.live, "fit", broken)
    app.store.edit("add point", lambda r: r.training[0].points.append({"x": 1.3, "y": 43.6, "class": 1}))
    app.wait_idle()
    assert is_error(app.message) and "disk on fire" in app.message.value
    assert "Traceback" not in app.message.value and "landclass.log" in app.message.value
    log = (app.workdir / "landclass.log").read_text()
    assert "Traceback" in log and "RuntimeError: disk on fire" in log


def test_a_bad_image_path_is_one_red_line_and_changes_nothing(app):
    before = json.loads((app.workdir / "recipe.json").read_text())
    app.img.path.value = str(DATA / "nothing_here_*.tif")
    app.img.open_button.click()
    assert is_error(app.img.message) and "no file matches" in app.img.message.value
    app.wait_idle()
    assert json.loads((app.workdir / "recipe.json").read_text()) == before


def test_kernel_loop_runs_calls_from_threads_on_the_loop_thread():
    """With a running loop (as in a kernel), a worker's call runs on the loop's thread, in order."""
    seen = []
    done = threading.Event()

    async def main():
        ui = KernelLoop()
        loop_thread = threading.get_ident()

        def worker():
            for i in range(5):
                ui.call(lambda i=i: seen.append((i, threading.get_ident() == loop_thread)))
            ui.call(done.set)

        threading.Thread(target=worker).start()
        while not done.is_set():
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert seen == [(i, True) for i in range(5)]


def test_kernel_loop_reports_errors_of_handed_over_calls(tmp_path):
    from landclass_ui.ui.common import log_to

    log_to(tmp_path)
    errors = []

    async def main():
        ui = KernelLoop(on_error=errors.append)
        t = threading.Thread(target=ui.call, args=(lambda: 1 / 0,))
        t.start()
        t.join()
        await asyncio.sleep(0.05)

    asyncio.run(main())
    assert errors and "ZeroDivisionError" in errors[0] and "landclass.log" in errors[0]
    assert "ZeroDivisionError" in (tmp_path / "landclass.log").read_text()


def test_new_twice_in_a_second_keeps_both_recipes(app):
    first = app.store.recipe.name
    app.new_button.click()
    second = app.store.recipe.name
    app.new_button.click()
    third = app.store.recipe.name
    app.wait_idle()
    assert len({first, second, third}) == 3
    assert {first, second} <= set(app.store.saved_names())
    assert [v for _, v in app.saved.options if v] == app.store.saved_names()[1:]  # all but the current one


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGUSR1"), reason="POSIX signal; Windows has none")
def test_sigusr1_writes_every_threads_stack_to_the_log(app):
    import os
    import signal
    import time

    started = threading.Event()

    def waiting_worker():
        started.set()
        time.sleep(2)

    threading.Thread(target=waiting_worker, name="stuck-looking", daemon=True).start()
    started.wait(5)
    os.kill(os.getpid(), signal.SIGUSR1)
    time.sleep(0.3)
    text = Path(app.log_path).read_text()
    assert "waiting_worker" in text and "most recent call first" in text


def test_first_map_report_sends_every_widget_state_again(app, monkeypatch):
    """A page opening while the worker changes widgets can miss a change; once the page reports the map's
    extent (it has built its widgets), every widget of the app, map layers included, is sent again, once."""
    import ipywidgets as W

    sent = []
    monkeypatch.setattr(W.Widget, "send_state", lambda self, key=None: sent.append(self.model_id))
    app.map.map.set_trait("bounds", ((-1.48, -56.37), (-1.46, -56.35)))  # the browser shows the map
    app.wait_idle()
    ids = set(sent)
    assert app.status.model_id in ids and app.message.model_id in ids
    assert {layer.model_id for layer in app.map.map.layers} <= ids
    assert app.map.class_layer.model_id in ids and app.trn.widget.model_id in ids
    assert len(sent) == len(ids) > 50  # each once
    sent.clear()
    app.map.map.set_trait("bounds", ((-1.47, -56.36), (-1.45, -56.34)))  # the user pans: no second send
    app.wait_idle()
    assert app.status.model_id not in sent


def test_the_map_shows_the_legend_and_follows_its_edits(app):
    html = app.map.legend.value
    names = [e["name"] for e in app.store.recipe.legend]
    assert names and all(n in html for n in names)
    assert all(e["color"] in html for e in app.store.recipe.legend)
    app.store.edit("rename class", lambda r: r.legend[0].update(name="Cropland"))
    assert "Cropland" in app.map.legend.value and names[0] not in app.map.legend.value
    app.store.edit("no legend", lambda r: setattr(r, "legend", None))
    assert app.map.legend.value == ""


def test_the_map_names_the_class_a_click_adds_after_the_legend_renames_or_recolours_it(app):
    # a new recipe without a training file: the user types the legend in LEG (found by hand on a Landsat 7
    # scene: the map said "a click adds Class 1" after class 1 was renamed "water")
    app.new_button.click()
    app.wait_idle()
    for _ in range(3):
        app.leg.add_button.click()
    assert "a click adds" in app.map.click_class.value and "Class 1" in app.map.click_class.value
    name = app.leg.rows.children[0].children[1]
    name.value = "water"
    assert app.trn.chooser.value == 1 and "water" in app.map.click_class.value
    assert "Class 1" not in app.map.click_class.value
    app.leg.rows.children[0].children[2].value = "#123456"
    assert "#123456" in app.map.click_class.value
    app.trn.chooser.value = 2
    assert "Class 2" in app.map.click_class.value


def test_the_new_recipe_note_goes_once_an_image_is_opened(app):
    # seen on a CI screenshot: "new recipe ...: open an image in IMG" stayed after the image was opened and classified
    image, adds, training, field = SCENES["s2-t11upt-jp2"]  # bands with known roles: no composite note
    app.new_button.click()
    app.wait_idle()
    assert "open an image in IMG" in app.message.value and not is_error(app.message)
    app.img.path.value = image
    app.img.open_button.click()
    app.wait_idle()
    assert app.store.recipe.images and "open an image in IMG" not in app.message.value


def test_a_training_file_of_another_area_is_refused_and_the_right_one_still_loads(app):
    """The bundled scene (Toulouse) is open: the Landsat 5 polygons (Amazon) are refused with a red line naming
    both extents, nothing is added to the recipe, and the scene's own polygons load and classify after it."""
    from landclass_ui.sample import sample_paths

    before = json.loads((app.workdir / "recipe.json").read_text())
    app.trn.file_path.value = SCENES["l5-bands"][2]
    app.trn.class_field.value = "class"
    app.trn.load_button.click()
    assert is_error(app.trn.message) and "does not overlap the image" in app.trn.message.value
    assert "EPSG:32631" in app.trn.message.value and app.trn.dialog.children == ()
    app.wait_idle()
    assert json.loads((app.workdir / "recipe.json").read_text()) == before
    app.trn.file_path.value = sample_paths().polygons
    app.trn.load_button.click()
    assert not is_error(app.trn.message), app.trn.message.value
    app.wait_idle()
    assert "classified with" in app.status.value and not is_error(app.message)


def test_two_pages_on_one_work_folder_lose_no_point(app):
    """Two pages (two kernels) on the same work folder, as two browser tabs: 3 points clicked in the first, then
    2 in the second: the recipe keeps all 5, the second page says it took the first page's changes (and still
    says so once it has classified) and draws them, and the live map is trained on all 5."""
    from landclass_ui.ui.trn import collected_points

    other = LandclassApp(workdir=app.workdir, routing="proxy")
    other.wait_idle()
    grid = app.image_stack.grid
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    spots = [to_lonlat.transform(*(grid.transform * (grid.width * f, grid.height * g)))
             for f, g in ((0.2, 0.3), (0.5, 0.5), (0.7, 0.2), (0.3, 0.8), (0.8, 0.7))]
    for i, (lon, lat) in enumerate(spots[:3]):
        app.trn.chooser.value = app.trn.chooser.options[i % 3][1]
        app.trn.click(lat, lon, None)
    for i, (lon, lat) in enumerate(spots[3:]):
        other.trn.chooser.value = other.trn.chooser.options[(i + 1) % 3][1]
        other.trn.click(lat, lon, None)
    saved = json.loads((app.workdir / "recipe.json").read_text())
    points = [p for t in saved["training"] if t["kind"] == "points" for p in t["points"]]
    assert np.allclose([(p["x"], p["y"]) for p in points], spots, atol=1e-6)
    assert len(collected_points(other.store.recipe)) == 5 and "another tab or window" in other.message.value
    assert len(other.map._points) == 5  # drawn on the second page's map
    other.wait_idle()
    assert "classified with 5 training pixels" in other.status.value, other.status.value
    # the classification that follows does not wipe that message (it did, so a browser could miss it)
    assert "another tab or window" in other.message.value, other.message.value


def test_clicks_and_edits_during_an_export_are_not_blocked(app):
    """Export runs as a process of its own: while it runs, clicks add points and retrain at once, and a panel edit
    goes into the recipe; the export keeps the recipe as it was when Export was pressed, and finishes."""
    import time

    from pyproj import Transformer

    from landclass_ui.jobs import read_task
    from landclass_ui.recipe import Recipe
    from landclass_ui.sample import sample_paths
    from landclass_ui.ui.trn import collected_points

    app.trn.file_path.value = sample_paths().polygons
    app.trn.class_field.value = "class"
    app.trn.load_button.click()
    app.wait_idle()
    trees = app.store.recipe.classifier.params.get("n_trees")
    task = app.export.start()
    assert task is not None and task.state == "running", app.export.message.value
    grid = app.image_stack.grid
    to_lonlat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    started = time.perf_counter()
    for i, (f, g) in enumerate(((0.2, 0.3), (0.5, 0.5), (0.7, 0.2))):
        lon, lat = to_lonlat.transform(*(grid.transform * (grid.width * f, grid.height * g)))
        app.trn.chooser.value = app.trn.chooser.options[i % 3][1]
        app._on_click(lat, lon, None)
    app.cls._fields["n_trees"].value = 40  # a panel edit during the export
    app.wait_idle()
    busy = time.perf_counter() - started
    running = read_task(app.workdir / "tasks" / task.id).state == "running"
    assert len(collected_points(app.store.recipe)) == 3 and "classified with" in app.status.value
    assert app.store.recipe.classifier.params["n_trees"] == 40
    done = app.export.wait(180)
    assert done.state == "done", done.message
    snapshot = Recipe.load(app.workdir / "tasks" / task.id / "recipe.json")
    assert collected_points(snapshot) == [] and snapshot.classifier.params.get("n_trees") == trees
    # the clicks and the retrain were served while the export ran (it takes seconds: a Python process of its own)
    assert running, f"the export ended before the clicks were served ({busy:.1f} s)"


def test_the_composite_note_goes_when_the_bands_it_needs_are_added(app):
    """Band files added one by one (IMG: Open, then Add): while the red band is missing, the message line says
    the true colour composite cannot be made and which bands are shown; once the red band is there the image is
    drawn in true colour and that note is gone (it used to stay, as if final)."""
    l5 = DATA / "l5_amazon"
    app.img.path.value = str(l5 / "LT52240631988227CUB02_B1.TIF")
    app.img.open_button.click()
    app.img.path.value = str(l5 / "LT52240631988227CUB02_B2.TIF")
    app.img.add_button.click()
    app.wait_idle()
    assert "true colour needs the red band" in app.message.value, app.message.value
    assert [Path(i.path).stem[-2:] for i in app.store.recipe.images] == ["B1", "B2"]
    app.img.path.value = str(l5 / "LT52240631988227CUB02_B3.TIF")
    app.img.add_button.click()
    app.wait_idle()
    assert "needs the" not in app.message.value and not is_error(app.message), app.message.value
    with rasterio.open(layer_file(app.map.image_layer)) as comp:  # red, green, blue: B3, B2, B1
        assert comp.count == 3
    # a message shown after the note is not taken away by it
    app.message.show("something else", "info")
    app._note("composite", None)
    app.wait_idle()
    assert "something else" in app.message.value
