"""Exports as tasks of their own (landclass_ui.jobs), and the export scale, on two real scenes that differ in
sensor, CRS and file layout: the bundled Sentinel-2 .SAFE (JPEG 2000 bands, UTM 31N) and the Landsat 5 band
GeoTIFFs (UTM 22S)."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from landclass_ui.errors import RecipeError
from landclass_ui.jobs import ExportOptions, cancel_task, list_tasks, start_export
from landclass_ui.pipeline import run
from landclass_ui.recipe import ImageRef, Recipe, TrainingRef
from landclass_ui.sample import sample_paths

DATA = Path(__file__).resolve().parent / "data"
L5 = sorted(str(p) for p in (DATA / "l5_amazon").glob("*_B[1-5,7].TIF"))


def recipe_of(scene: str) -> Recipe:
    if scene == "s2-safe":
        s = sample_paths()
        return Recipe(name="s2_task", images=[ImageRef(s.safe)], legend=None,
                      training=[TrainingRef("file", s.polygons, "class")])
    return Recipe(name="l5_task", images=[ImageRef(p) for p in L5], legend=None,
                  training=[TrainingRef("file", str(DATA / "l5_amazon/training_polygons.gpkg"), "class")])


SCENES = ["s2-safe", "l5-bands"]


def wait_for(workdir, task_id, timeout=180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = next(t for t in list_tasks(workdir) if t.id == task_id)
        if task.state != "running":
            return task
        time.sleep(0.2)
    raise TimeoutError(task_id)


STARTER = """
import sys, time
from landclass_ui.jobs import ExportOptions, start_export
from landclass_ui.recipe import Recipe
task = start_export(sys.argv[1], Recipe.load(sys.argv[2]), ExportOptions(output=sys.argv[3]))
print(task.id, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("scene", SCENES)
def test_an_export_goes_on_when_the_kernel_that_started_it_is_killed(scene, tmp_path):
    """A notebook kernel starts the export and is killed as Jupyter kills kernels (SIGKILL to its process
    group): the export finishes, with the same map as an export in this process."""
    recipe = recipe_of(scene)
    recipe.save(tmp_path / "recipe.json")
    output = tmp_path / "downloads" / "map.tif"
    kernel = subprocess.Popen([sys.executable, "-c", STARTER, str(tmp_path), str(tmp_path / "recipe.json"),
                               str(output)], stdout=subprocess.PIPE, text=True, start_new_session=True)
    task_id = kernel.stdout.readline().strip()
    assert [t.id for t in list_tasks(tmp_path)] == [task_id]
    os.killpg(kernel.pid, signal.SIGKILL)
    kernel.wait(10)
    task = wait_for(tmp_path, task_id)
    assert task.state == "done", task.message
    assert task.outputs[:2] == [str(output), str(output.with_name("map_legend.csv"))]
    assert task.done == task.total > 0 and task.finished > task.started
    status = json.loads((tmp_path / "tasks" / task_id / "status.json").read_text())
    assert status["state"] == "done" and status["pid"] != kernel.pid
    here = run(recipe, str(tmp_path / "here.tif"))
    with rasterio.open(output) as a, rasterio.open(here.classification) as b:
        assert a.profile == b.profile and np.array_equal(a.read(1), b.read(1))


def test_a_cancelled_task_writes_nothing(tmp_path):
    output = tmp_path / "downloads" / "map.tif"
    task = start_export(tmp_path, recipe_of("s2-safe"), ExportOptions(output=str(output)))
    cancel_task(tmp_path, task.id)
    ended = wait_for(tmp_path, task.id)
    assert ended.state == "cancelled" and "nothing was written" in ended.message
    assert list(output.parent.iterdir()) == []


def test_a_killed_task_is_reported_failed(tmp_path):
    output = tmp_path / "downloads" / "map.tif"
    task = start_export(tmp_path, recipe_of("l5-bands"), ExportOptions(output=str(output)))
    status = tmp_path / "tasks" / task.id / "status.json"
    deadline = time.monotonic() + 60
    while json.loads(status.read_text())["pid"] is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(json.loads(status.read_text())["pid"], signal.SIGKILL)
    ended = wait_for(tmp_path, task.id)
    assert ended.state == "failed" and "ended without finishing" in ended.message
    assert str(output) in ended.message and "task.log" in ended.message


def test_a_task_that_fails_says_why_in_one_line(tmp_path):
    recipe = recipe_of("l5-bands")
    recipe.training[0].class_field = "no_such_field"
    task = start_export(tmp_path, recipe, ExportOptions(output=str(tmp_path / "out" / "map.tif")))
    ended = wait_for(tmp_path, task.id)
    assert ended.state == "failed" and "no_such_field" in ended.message
    assert "\n" not in ended.message and "Traceback" not in ended.message
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("scene", SCENES)
def test_export_scale_resamples_classes_by_mode_and_probabilities_by_average(scene, tmp_path):
    recipe = recipe_of(scene)
    native = run(recipe, str(tmp_path / "native.tif"), probability=True)
    with rasterio.open(native.classification) as src:
        size = src.res[0]
        classes, transform, crs = src.read(1), src.transform, src.crs
    coarse = run(recipe, str(tmp_path / "coarse.tif"), probability=True, scale=2 * size)
    with rasterio.open(coarse.classification) as src, rasterio.open(coarse.probability) as prob:
        assert src.res == (2 * size, 2 * size) and src.crs == crs
        assert (src.transform.c, src.transform.f) == (transform.c, transform.f)
        assert (src.height, src.width) == (math.ceil(classes.shape[0] / 2), math.ceil(classes.shape[1] / 2))
        small = src.read(1)
        p_small, p_native = prob.read(1), rasterio.open(native.probability).read(1)
    # each coarse pixel is the most frequent class of its 2 x 2 block: compare where the block is unanimous
    h, w = (classes.shape[0] // 2) * 2, (classes.shape[1] // 2) * 2
    blocks = classes[:h, :w].reshape(h // 2, 2, w // 2, 2).transpose(0, 2, 1, 3).reshape(h // 2, w // 2, 4)
    unanimous = (blocks == blocks[..., :1]).all(axis=-1) & (blocks[..., 0] != 255)
    assert unanimous.mean() > 0.3
    assert (small[: h // 2, : w // 2][unanimous] == blocks[..., 0][unanimous]).mean() > 0.999
    # probabilities averaged: the same mean over the scene, within rounding
    valid_native, valid_small = p_native[p_native != 255], p_small[p_small != 255]
    assert abs(valid_native.mean() - valid_small.mean()) < 1.0


def test_export_scale_finer_than_the_image_or_in_degrees_is_refused(tmp_path):
    recipe = recipe_of("l5-bands")
    with pytest.raises(RecipeError, match="finer than the image's 30 m pixels"):
        run(recipe, str(tmp_path / "fine.tif"), scale=10)
    assert not list(tmp_path.iterdir())
    # an image in EPSG:4326: a scale in metres does not apply
    path = tmp_path / "geographic.tif"
    rng = np.random.default_rng(0)
    with rasterio.open(path, "w", driver="GTiff", width=40, height=40, count=3, dtype="uint16", crs="EPSG:4326",
                       transform=Affine(0.001, 0, 10, 0, -0.001, 45)) as dst:
        dst.write(rng.integers(100, 5000, (3, 40, 40), dtype=np.uint16))
    from landclass_ui.export import check_scale
    from landclass_ui.imagery import open_image

    with pytest.raises(RecipeError, match=r"CRS \(EPSG:4326\) is not in metres"):
        check_scale(open_image(str(path)).grid, 30)


@pytest.mark.parametrize("scene", SCENES)
def test_cli_pixel_size(scene, tmp_path, capsys):
    from landclass_ui.cli import main

    recipe = recipe_of(scene)
    images = [r.path for r in recipe.images]
    training = recipe.training[0].path
    assert main(["classify", *images, "-t", training, "-o", str(tmp_path / "m.tif"), "-q"]) == 0
    with rasterio.open(tmp_path / "m.tif") as src:
        size = src.res[0]
    assert main(["classify", *images, "-t", training, "-o", str(tmp_path / "c.tif"), "-q",
                 "--pixel-size", str(3 * size)]) == 0
    with rasterio.open(tmp_path / "c.tif") as src:
        assert src.res == (3 * size, 3 * size)
    capsys.readouterr()
    assert main(["classify", *images, "-t", training, "-o", str(tmp_path / "f.tif"), "-q",
                 "--pixel-size", str(size / 2)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("landclass: error: the export scale") and "finer than the image" in err
    assert "\n" not in err and not (tmp_path / "f.tif").exists()


@pytest.mark.parametrize("scene", SCENES)
def test_a_large_output_is_written_as_tiles_and_a_vrt(scene, tmp_path):
    """Above max_file_bytes, each output is tiles named as Earth Engine names them plus a VRT; the VRT reads as
    the single file would, with its colour table and nodata."""
    from rio_cogeo.cogeo import cog_validate

    recipe = recipe_of(scene)
    single = run(recipe, str(tmp_path / "one" / "map.tif"), probability=True)
    with rasterio.open(single.classification) as src:
        width, height = src.width, src.height
    limit = 256 * 256 + 1  # tiles of 256 x 256 px
    tiled = run(recipe, str(tmp_path / "tiles" / "map.tif"), probability=True, max_file_bytes=limit)
    assert tiled.classification == str(tmp_path / "tiles" / "map.vrt")
    assert tiled.probability == str(tmp_path / "tiles" / "map_probability.vrt")
    names = sorted(p.name for p in (tmp_path / "tiles").glob("map-*.tif"))
    expected = sorted(f"map-{r:010d}-{c:010d}.tif" for r in range(0, height, 256) for c in range(0, width, 256))
    assert names == expected and len(names) >= 2
    assert all(cog_validate(str(tmp_path / "tiles" / n), quiet=True)[0] for n in names)
    assert not list((tmp_path / "tiles").glob("*tmp*")) and not (tmp_path / "tiles" / "map.tif").exists()
    for a, b in ((single.classification, tiled.classification), (single.probability, tiled.probability)):
        with rasterio.open(a) as x, rasterio.open(b) as y:
            assert y.driver == "VRT" and (x.crs, x.transform, x.shape, x.nodata) == (y.crs, y.transform, y.shape,
                                                                                      y.nodata)
            assert x.colormap(1) == y.colormap(1)
            assert np.array_equal(x.read(1), y.read(1))


def test_cli_max_file_size(tmp_path, capsys):
    from landclass_ui.cli import main

    recipe = recipe_of("s2-safe")
    images, training = [r.path for r in recipe.images], recipe.training[0].path
    # 915 x 915 px at 120 m: 0.8 MiB, over 0.0005 GiB (0.5 MiB): 512 px tiles
    assert main(["classify", *images, "-t", training, "-o", str(tmp_path / "m.tif"), "--max-file-size", "0.0005",
                 "--pixel-size", "120", "-q"]) == 0
    assert f"wrote {tmp_path / 'm.vrt'}" in capsys.readouterr().out
    with rasterio.open(tmp_path / "m.vrt") as src:
        assert src.res == (120.0, 120.0) and src.shape == (915, 915)
        assert sorted(p.name for p in tmp_path.glob("m-*.tif")) == [
            "m-0000000000-0000000000.tif", "m-0000000000-0000000512.tif", "m-0000000512-0000000000.tif",
            "m-0000000512-0000000512.tif"]
        assert len(set(np.unique(src.read(1)).tolist()) - {255}) == 3


def test_an_ended_task_leaves_no_zombie(tmp_path):
    from landclass_ui import jobs

    task = start_export(tmp_path, recipe_of("l5-bands"), ExportOptions(output=str(tmp_path / "m.tif")))
    child = jobs._CHILDREN[task.id]
    assert wait_for(tmp_path, task.id).state == "done"
    deadline = time.monotonic() + 30
    while task.id in jobs._CHILDREN and time.monotonic() < deadline:
        list_tasks(tmp_path)
        time.sleep(0.1)
    assert task.id not in jobs._CHILDREN and child.returncode == 0
