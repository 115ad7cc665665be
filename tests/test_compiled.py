"""Forests compiled to C (landclass_ui.compiled) predict what scikit-learn predicts, on two real scenes (the bundled
Sentinel-2 .SAFE in UTM 31N and the Landsat 5 band files in UTM 22S); what cannot be compiled falls back to
scikit-learn with a note in the log; whole-scene maps are the same on 1 or 2 threads, compiled or not."""
from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np
import pytest
import rasterio

from landclass_ui.compiled import CompiledEstimator, compile_model
from landclass_ui.export import write_classification
from landclass_ui.model import fit, predict_block, single_threaded
from landclass_ui.pipeline import prepare
from landclass_ui.recipe import ImageRef, Recipe, TrainingRef
from landclass_ui.sample import sample_paths

DATA = Path(__file__).parent / "data"
L5 = [str(DATA / f"l5_amazon/LT52240631988227CUB02_B{i}.TIF") for i in (1, 2, 3, 4, 5, 7)]
SCENES = {
    "s2-safe": lambda: Recipe(images=[ImageRef(sample_paths().safe)],
                              training=[TrainingRef("file", sample_paths().polygons, "class")]),
    "l5-bands": lambda: Recipe(images=[ImageRef(p) for p in L5],
                               training=[TrainingRef("file", str(DATA / "l5_amazon/training_polygons.gpkg"), "class")]),
}


@pytest.fixture(scope="module", params=list(SCENES))
def prepared(request):
    return prepare(SCENES[request.param]())


def scene_pixels(stack, n=200_000) -> np.ndarray:
    data = stack.read()
    pixels = data.reshape(data.shape[0], -1).T
    pixels = pixels[np.isfinite(pixels).all(axis=1)]
    return pixels[:: max(1, len(pixels) // n)]


@pytest.mark.parametrize("classifier", ["random-forest", "gradient-tree-boost"])
def test_compiled_forest_gives_scikit_learns_probabilities(prepared, classifier, tmp_path):
    model = fit(prepared.samples, prepared.legend, classifier)
    pixels = scene_pixels(prepared.stack)
    compiled = compile_model(model, pixels[:2000], cache_dir=tmp_path)
    assert isinstance(compiled.estimator, CompiledEstimator), "not compiled"
    assert list(compiled.estimator.classes_) == list(model.estimator.classes_)
    ours, theirs = compiled.estimator.predict_proba(pixels), model.estimator.predict_proba(pixels)
    assert ours.shape == theirs.shape and np.abs(ours - theirs).max() <= 1e-6
    block = prepared.stack.read()[:, :300, :300]
    for a, b in zip(predict_block(compiled, block), predict_block(model, block)):
        assert (a == b).mean() >= 0.9999


def test_a_compiled_model_is_cached_by_its_hash(prepared, tmp_path, monkeypatch):
    import tl2cgen

    model = fit(prepared.samples, prepared.legend)
    sample = scene_pixels(prepared.stack, 2000)
    first = compile_model(model, sample, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.so"))) == 1

    def no_compiler(*args, **kwargs):
        raise AssertionError("compiled again")

    monkeypatch.setattr(tl2cgen, "export_lib", no_compiler)
    again = compile_model(model, sample, cache_dir=tmp_path)  # the same fitted model: the library is reused
    assert again.estimator.libpath == first.estimator.libpath
    other = fit(prepared.samples, prepared.legend, "random-forest", {"n_trees": 5})
    assert compile_model(other, sample, cache_dir=tmp_path) is other  # another model: compiling it failed here
    # a compiled model travels (e.g. to another process) without its loaded predictors, with its library
    restored = pickle.loads(pickle.dumps(first.estimator))
    assert np.array_equal(restored.predict_proba(sample), first.estimator.predict_proba(sample))
    # ... also to a machine that does not have the library (a Dask worker elsewhere): it lands in its cache
    state = first.estimator.__getstate__()
    state["libpath"] = str(tmp_path / "elsewhere" / Path(state["libpath"]).name)
    monkeypatch.setenv("LANDCLASS_CACHE", str(tmp_path / "worker"))
    moved = CompiledEstimator.__new__(CompiledEstimator)
    moved.__setstate__(state)
    assert Path(moved.libpath).parent == tmp_path / "worker" / "compiled"
    assert np.array_equal(moved.predict_proba(sample), first.estimator.predict_proba(sample))


def test_what_cannot_be_compiled_is_predicted_by_scikit_learn_with_a_note(prepared, tmp_path, monkeypatch, caplog):
    sample = scene_pixels(prepared.stack, 2000)
    bayes = fit(prepared.samples, prepared.legend, "naive-bayes")
    with caplog.at_level(logging.INFO, logger="landclass"):
        assert compile_model(bayes, sample, cache_dir=tmp_path) is bayes
    assert "GaussianNB is not compiled" in caplog.text or "is not compiled" in caplog.text
    forest = fit(prepared.samples, prepared.legend)
    monkeypatch.setattr("landclass_ui.compiled.shutil.which", lambda name: None)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="landclass"):
        assert compile_model(forest, sample, cache_dir=tmp_path) is forest
    assert "no C compiler" in caplog.text


def test_single_threaded_copy_leaves_the_model_alone(prepared):
    svm = fit(prepared.samples, prepared.legend, "svm")
    forest = fit(prepared.samples, prepared.legend)
    assert single_threaded(forest).estimator.n_jobs == 1 and forest.estimator.n_jobs != 1
    copy = single_threaded(svm)
    block = prepared.stack.read()[:, :50, :50]
    assert all(np.array_equal(a, b) for a, b in zip(predict_block(copy, block), predict_block(svm, block)))


def test_whole_scene_map_is_the_same_on_two_threads_compiled(prepared, tmp_path, monkeypatch):
    monkeypatch.setenv("LANDCLASS_CACHE", str(tmp_path / "cache"))
    model = fit(prepared.samples, prepared.legend)
    plain = write_classification(tmp_path / "plain.tif", prepared.stack, model, probability=True, progress=False,
                                 threads=1, compiled=False, block=256)
    fast = write_classification(tmp_path / "fast.tif", prepared.stack, model, probability=True, progress=False,
                                threads=2, compiled=True, block=256)
    assert list((tmp_path / "cache" / "compiled").glob("*.so")), "the forest was not compiled"
    for a, b in ((plain.classification, fast.classification), (plain.probability, fast.probability)):
        with rasterio.open(a) as x, rasterio.open(b) as y:
            assert (x.read(1) == y.read(1)).mean() >= 0.9999
            assert x.profile["blockxsize"] == y.profile["blockxsize"] == 512


def test_a_cancelled_export_stops_and_leaves_nothing(prepared, tmp_path):
    import threading

    from landclass_ui.errors import Cancelled

    model = fit(prepared.samples, prepared.legend)
    cancel, seen = threading.Event(), []

    def progress(done, total):
        seen.append(done)
        cancel.set()  # the user presses Cancel while the first windows are written

    with pytest.raises(Cancelled, match="cancelled; nothing was written"):
        write_classification(tmp_path / "map.tif", prepared.stack, model, probability=True, progress=False,
                             block=64, on_progress=progress, cancel=cancel, compiled=False)
    total = prepared.stack.grid.width * prepared.stack.grid.height
    assert seen and seen[-1] < total  # stopped before the end
    assert list(tmp_path.iterdir()) == []


def test_the_command_line_keeps_freed_memory_for_reuse_with_glibc():
    """On Linux with glibc (CI's and the benchmark's machine), glibc accepts every allocator setting (``mallopt``
    returns 0 for a value out of its range, and then this is False)."""
    import platform
    import subprocess
    import sys

    libc, _ = platform.libc_ver()
    assert libc == "glibc", "this test runs where landclass's exports run: Linux with glibc"
    # in a process of its own: the settings stay with the process that makes them
    code = "from landclass_ui._allocator import keep_freed_memory; print(keep_freed_memory())"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() \
        == "True"
