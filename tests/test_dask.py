"""Classification on a Dask cluster (``write_classification(client=...)``, ``landclass classify --workers``):
the same maps as this machine's threads, on two real scenes (the bundled Sentinel-2 .SAFE of JPEG2000 bands, UTM
31N, and the Landsat 5 GeoTIFF band files, UTM 22S), with a local cluster of 2 worker processes as CI has."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from distributed import Client, LocalCluster, get_task_stream
from test_compiled import DATA, L5, SCENES  # the same two scenes as the compiled forests' tests

from landclass_ui.export import WINDOWS_PER_TASK, task_sizes, write_classification
from landclass_ui.model import fit
from landclass_ui.pipeline import prepare
from landclass_ui.sample import sample_paths


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as c:
        yield c


def same(local, remote, windows, share=0.9999):
    """At least ``share`` of the pixels equal; else the windows that differ, with their values, in the message."""
    equal = local == remote
    if equal.mean() < share:
        where = []
        for w in windows:
            part = (slice(w.row_off, w.row_off + w.height), slice(w.col_off, w.col_off + w.width))
            if not equal[part].all():
                bad = ~equal[part]
                where.append(f"window row {w.row_off} col {w.col_off}: {bad.sum()} px differ, here "
                             f"{np.unique(local[part][bad])[:6]}, on the cluster {np.unique(remote[part][bad])[:6]}")
        pytest.fail(f"{equal.mean():.6f} of the pixels equal; " + "; ".join(where[:8]))


@pytest.mark.parametrize("scene", list(SCENES))
def test_a_dask_cluster_makes_the_same_map(client, scene, tmp_path):
    prepared = prepare(SCENES[scene]())
    model = fit(prepared.samples, prepared.legend)
    local = write_classification(tmp_path / "local.tif", prepared.stack, model, probability=True, progress=False,
                                 compiled=False, block=256)
    seen = []
    with get_task_stream(client) as stream:
        remote = write_classification(tmp_path / "dask.tif", prepared.stack, model, probability=True,
                                      progress=False, block=256, client=client,
                                      on_progress=lambda done, total: seen.append(done))
    tasks = [t for t in stream.data if t["key"].startswith("_read_and_predict")]
    n_windows = len(list(prepared.stack.grid.windows(256)))
    assert len(tasks) == len(task_sizes(n_windows, 4))  # every window, once, on the cluster (2 tasks a worker)
    assert len({t["worker"] for t in tasks}) == 2  # both workers took some
    for a, b in ((local.classification, remote.classification), (local.probability, remote.probability)):
        with rasterio.open(a) as x, rasterio.open(b) as y:
            assert x.profile == y.profile and x.colormap(1) == y.colormap(1)
            same(x.read(1), y.read(1), prepared.stack.grid.windows(256))
    assert seen == sorted(seen) and seen[-1] == prepared.stack.grid.width * prepared.stack.grid.height
    # a second run on the same client (its own scattered keys, no probability sent back) makes the same map
    again = write_classification(tmp_path / "again.tif", prepared.stack, model, progress=False, block=256,
                                 client=client)
    with rasterio.open(local.classification) as x, rasterio.open(again.classification) as y:
        same(x.read(1), y.read(1), prepared.stack.grid.windows(256))


CLI_SCENES = {
    "s2-safe": ([sample_paths().safe], sample_paths().polygons),
    "l5-bands": (L5, str(DATA / "l5_amazon/training_polygons.gpkg")),
}


@pytest.mark.parametrize("scene", list(CLI_SCENES))
def test_cli_workers_flag_makes_the_same_map(scene, tmp_path, capsys):
    from landclass_ui.cli import main

    images, training = CLI_SCENES[scene]
    assert main(["classify", *images, "-t", training, "-o", str(tmp_path / "local.tif"), "-q"]) == 0
    assert main(["classify", *images, "-t", training, "-o", str(tmp_path / "dask.tif"), "--workers", "2"]) == 0
    assert "local Dask cluster of 2 worker(s)" in capsys.readouterr().err
    with rasterio.open(tmp_path / "local.tif") as x, rasterio.open(tmp_path / "dask.tif") as y:
        assert (x.read(1) == y.read(1)).mean() >= 0.9999


def test_cli_bad_cluster_options_are_one_line_and_write_nothing(tmp_path, capsys):
    from landclass_ui.cli import main

    images, training = CLI_SCENES["l5-bands"]
    out = tmp_path / "map.tif"
    assert main(["classify", *images, "-t", training, "-o", str(out), "--workers", "0", "-q"]) == 2
    assert capsys.readouterr().err.strip() == "landclass: error: --workers needs at least 1 worker, not 0"
    assert main(["classify", *images, "-t", training, "-o", str(out), "--scheduler", "tcp://127.0.0.1:9", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("landclass: error: cannot reach the Dask scheduler tcp://127.0.0.1:9") and "\n" not in err
    assert not list(tmp_path.iterdir())


def test_local_cluster_workers_allocate_as_this_process(monkeypatch):
    """The local cluster of --workers leaves MALLOC_TRIM_THRESHOLD_ unset in its workers (Dask's nannies set it to
    65536, which makes glibc map and unmap every window's arrays: a worker then classified ~1.7x slower), and
    keeps Dask's one-thread settings for OpenMP/BLAS."""
    import argparse
    import os

    from landclass_ui.cli import _dask_client

    # as in a fresh `landclass` process: a nanny started earlier in this test process (the tests above) has put
    # Dask's value into this process's environment, which the workers would inherit
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with _dask_client(argparse.Namespace(workers=1, scheduler=None), lambda m: None) as client:
        env = list(client.run(lambda: (os.environ.get("MALLOC_TRIM_THRESHOLD_"),
                                       os.environ.get("OMP_NUM_THREADS"))).values())
    assert env == [(None, "1")]


@pytest.mark.parametrize("n_windows", [1, 3, 4, 7, 16, 31, 121, 484])
@pytest.mark.parametrize("slots", [2, 4, 16])  # 2 per worker thread
def test_task_sizes_cover_every_window_and_shrink_towards_the_end(n_windows, slots):
    """Guided self-scheduling: the task sizes add up to the windows, never exceed WINDOWS_PER_TASK, never grow
    from one task to the next, and the last tasks (as many as are in flight) are single windows, so no worker
    is left alone with a large last task."""
    sizes = task_sizes(n_windows, slots)
    assert sum(sizes) == n_windows and all(1 <= s <= WINDOWS_PER_TASK for s in sizes)
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[-min(slots, len(sizes)):] == [1] * min(slots, len(sizes))
    if n_windows >= 4 * slots * WINDOWS_PER_TASK:  # a large image: mostly full tasks
        assert sizes.count(WINDOWS_PER_TASK) * WINDOWS_PER_TASK > n_windows / 2
