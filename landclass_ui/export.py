"""Write classification outputs as Cloud Optimized GeoTIFFs.

Prediction streams window by window into a tiled temporary GeoTIFF beside the output (memory does not grow
with the image); rio-cogeo then writes the COG (internal overviews, ``mode`` resampling for classes) to a
second temporary name, validates it, and renames it into place. On any error the temporary files are removed,
so a failed run leaves nothing behind.
"""
from __future__ import annotations

import math
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from ._files import default_file_mode, temp_path
from .compiled import compile_model
from .errors import Cancelled, RecipeError
from .legend import NODATA_CLASS
from .model import predict_block, predict_block_probabilities, single_threaded

__all__ = ["OutputPaths", "write_classification", "legend_path", "probability_path", "class_probability_path",
           "to_cog"]


@dataclass
class OutputPaths:
    """Files written by :func:`write_classification`."""

    classification: str
    legend_csv: str
    probability: str | None = None
    class_probability: str | None = None
    #: the legend for QGIS (``<stem>.qml``, applied when QGIS opens the map) and iota2
    #: (``<stem>_colorFile.txt``, ``<stem>_nomenclature.txt``)
    legend_files: tuple[str, ...] = ()
    #: what the regularization of the class map changed (:meth:`landclass_ui.regularize.RegularizeResult.summary`)
    regularization: str | None = None
    #: wall seconds of the stages: ``"classify"`` (windows read, classified, filtered and written to the temporary
    #: raster: the stage that runs on every core or on the Dask workers) and ``"write"`` (sieve and COGs)
    seconds: dict = field(default_factory=dict)
    #: how and where the windows were classified, e.g. ``"compiled, 2 thread(s)"`` or ``"scikit-learn, Dask: 2
    #: worker(s), 2 thread(s)"``
    engine: str = ""

    def stage_line(self, pixels: int) -> str:
        """One line for the log: ``classified 30.1 Mpx in 1.92 s (15.7 Mpx/s, compiled, 2 thread(s)); outputs
        written in 0.75 s`` (empty before the classification has run)."""
        t = self.seconds.get("classify")
        if not t:
            return ""
        return (f"classified {pixels / 1e6:.1f} Mpx in {t:.2f} s ({pixels / 1e6 / t:.1f} Mpx/s, {self.engine}); "
                f"outputs written in {self.seconds.get('write', 0.0):.2f} s")


#: Outputs larger than this (uncompressed bytes) are written as tiles plus a VRT: 4 GiB, the classic TIFF limit
#: that many readers still have.
MAX_FILE_BYTES = 4 * 1024 ** 3

#: Pixels per call of the model when a window is classified (:func:`~landclass_ui.model.predict_block`'s
#: ``chunk``).
PREDICT_CHUNK = 65536

#: Side in pixels of the windows a whole scene is classified in (a multiple of the 512 px blocks of most
#: GeoTIFFs and COGs, and of 16 for the temporary files' tiles). 1024 rather than 512: a quarter of the calls
#: per pixel (reads, derived bands, the forest in chunks, the majority filter's margins), the stage 7 % faster
#: (median of 10 pairs of runs on the 30 Mpx mosaic of ``benchmarks/scale.py``, 2 cores); a window's arrays
#: are ~30 MB for 6 bands, one window per thread in work at a time.
WINDOW = 1024

#: SEPAL's class-probability palette, from 0 % to 100 %.
PROBABILITY_COLORS = ("#000000", "#8b0000", "#ff0000", "#ffa500", "#ffff00", "#008000")


def probability_colormap() -> dict[int, tuple[int, int, int, int]]:
    """GDAL colour table for a 0-100 probability raster: :data:`PROBABILITY_COLORS` interpolated."""
    from matplotlib.colors import LinearSegmentedColormap

    cmap = LinearSegmentedColormap.from_list("probability", PROBABILITY_COLORS, N=101)
    return {i: tuple(int(round(c * 255)) for c in cmap(i)[:3]) + (255,) for i in range(101)}


def legend_path(output: str | os.PathLike) -> str:
    """``map.tif`` -> ``map_legend.csv`` (beside it)."""
    p = Path(output)
    return str(p.with_name(p.stem + "_legend.csv"))


def probability_path(output: str | os.PathLike) -> str:
    """``map.tif`` -> ``map_probability.tif`` (beside it)."""
    p = Path(output)
    return str(p.with_name(p.stem + "_probability.tif"))


def class_probability_path(output: str | os.PathLike) -> str:
    """``map.tif`` -> ``map_class_probability.tif`` (beside it)."""
    p = Path(output)
    return str(p.with_name(p.stem + "_class_probability.tif"))


#: COG compression per kind of output, measured on the 30 Mpx mosaic of benchmarks/scale.py (2 cores; the COG
#: step, and the file): class maps LZW (0.6 s, 4.6 MB; DEFLATE: 1.1 s, 5.3 MB), probabilities DEFLATE level 1
#: (0.45 s, 17.3 MB; level 6: 0.8 s, 16.0 MB). Every GeoTIFF reader (GDAL, QGIS, ArcGIS) reads both.
COMPRESSION = {"mode": {"compress": "LZW"}, "average": {"compress": "DEFLATE", "zlevel": 1},
               "nearest": {"compress": "DEFLATE", "zlevel": 1}}


def write_legend_files(legend, output: str | os.PathLike) -> tuple[str, str, str]:
    """Beside the class map ``output``: its QGIS style ``<stem>.qml`` (QGIS applies it when it opens
    ``<stem>.tif`` or ``<stem>.vrt``) and iota2's ``<stem>_colorFile.txt`` and ``<stem>_nomenclature.txt``;
    returns their paths."""
    p = Path(output)
    qml = p.with_suffix(".qml")
    color, nomenclature = p.with_name(p.stem + "_colorFile.txt"), p.with_name(p.stem + "_nomenclature.txt")
    legend.to_qml(qml)
    legend.to_iota2(color, nomenclature)
    return str(qml), str(color), str(nomenclature)


def to_cog(src_path: str, dst_path: str, *, resampling: str = "nearest", colormap=None,
           scale: float | None = None, grid: tuple | None = None) -> None:
    """Translate a GeoTIFF into a validated COG with rio-cogeo (512 px blocks, internal overviews; compressed
    as :data:`COMPRESSION` says for ``resampling``: LZW for class maps, DEFLATE for the rest).

    ``resampling`` makes the overviews (and the output, with ``scale``): ``mode`` for classes, ``average`` for
    probabilities. ``scale`` is the output's pixel size in the CRS's units, coarser than the source's (see
    :func:`check_scale`): the source is resampled by GDAL's warper on the way (a ``WarpedVRT``), nodata pixels
    left out of each output pixel. ``grid``, ``(transform, width, height)`` in the source's CRS, writes that
    part of the (resampled) source: a tile of a large output.

    Raises
    ------
    RuntimeError
        If the result does not validate as a COG (a bug, not a user error).
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rio_cogeo.cogeo import cog_translate, cog_validate
    from rio_cogeo.profiles import cog_profiles

    profile = cog_profiles.get("deflate")
    profile.update(blockxsize=512, blockysize=512, num_threads="ALL_CPUS",  # blocks compressed in parallel
                   **COMPRESSION.get(resampling, COMPRESSION["nearest"]))
    options = dict(overview_resampling=resampling, quiet=True, colormap=colormap, use_cog_driver=False,
                   in_memory=False,  # the intermediate file on disk: memory does not grow with the image
                   config={"GDAL_NUM_THREADS": "ALL_CPUS"})
    if scale is None and grid is None:
        cog_translate(src_path, dst_path, profile, **options)
    else:
        with rasterio.open(src_path) as src:
            transform, width, height = grid or scaled_grid(src.transform, src.width, src.height, scale)
            with WarpedVRT(src, crs=src.crs, transform=transform, width=width, height=height,
                           resampling=Resampling[resampling], nodata=src.nodata) as vrt:
                cog_translate(vrt, dst_path, profile, **options)
    valid, errors, _ = cog_validate(dst_path, quiet=True)
    if not valid:
        raise RuntimeError(f"rio-cogeo wrote an invalid COG {dst_path}: {errors}")


def scaled_grid(transform, width: int, height: int, scale: float):
    """The ``(transform, width, height)`` of pixels ``scale`` CRS units a side over the same extent (the last
    row and column may reach past it).

    >>> from affine import Affine
    >>> t, w, h = scaled_grid(Affine(10, 0, 500000, 0, -10, 4000000), 1000, 999, 30)
    >>> (t.a, t.e, t.c, t.f), w, h
    ((30.0, -30.0, 500000.0, 4000000.0), 334, 333)
    """
    from affine import Affine

    ground_w, ground_h = abs(transform.a) * width, abs(transform.e) * height
    new_w, new_h = max(1, int(np.ceil(ground_w / scale - 1e-9))), max(1, int(np.ceil(ground_h / scale - 1e-9)))
    return Affine(scale, 0, transform.c, 0, -scale, transform.f), new_w, new_h


def check_scale(grid, scale: float | None) -> None:
    """``scale`` (the export's pixel size in metres; None: the image's own) is one an export can use on
    ``grid``.

    Raises
    ------
    RecipeError
        The CRS is not projected in metres, the scale is not a positive number, or it is finer than the
        image's pixels (SEPAL refuses that as well: a finer scale invents no detail, it only makes the file
        bigger; export at the image's scale and resample later if another grid is needed).
    """
    from rasterio.crs import CRS

    if scale is None:
        return
    crs = CRS.from_user_input(grid.crs)
    native = max(abs(grid.transform.a), abs(grid.transform.e))
    if not (scale > 0 and np.isfinite(scale)):
        raise RecipeError(f"the export scale must be a positive number of metres, not {scale!r}")
    if not crs.is_projected or (crs.linear_units or "").lower() not in ("metre", "meter", "m"):
        raise RecipeError(f"the export scale is in metres and the image's CRS ({crs.to_string()}) is not in "
                          "metres: leave the scale empty to export at the image's pixels")
    if scale < native - 1e-6:
        raise RecipeError(f"the export scale {scale:g} m is finer than the image's {native:g} m pixels: a finer "
                          f"scale adds no detail, only size; choose {native:g} m (the image's) or coarser")


def default_threads() -> int:
    """Threads for predicting windows: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def predict_window(read, model, window, *, probabilities: bool = False, majority: int | None = None,
                   shape: tuple[int, int] | None = None, probability: bool = True
                   ) -> tuple[tuple[np.ndarray, ...], tuple[int, int]]:
    """Read ``window`` with ``read`` (an :meth:`ImageStack.reader` function) and classify it: the result of
    :func:`~landclass_ui.model.predict_block` (classes ``uint8 (h, w)``, winning probability ``uint8 (h, w)``; with
    ``probabilities`` also the per-class ``uint8 (n_classes, h, w)``), and ``(valid, changed)`` pixel counts.

    With ``majority`` (an odd window size), the class map is regularized here
    (:func:`landclass_ui.regularize.majority_filter`): the window is read and classified with a margin of
    ``majority // 2`` pixels (clipped to the image, whose ``(height, width)`` is ``shape``), filtered and cut back
    to ``window``. The majority filter is local, so this is exactly the filter of the whole map (see
    :mod:`landclass_ui.regularize`), done in the same thread as the prediction and without a second pass over
    the map; ``changed`` counts the pixels it changed, ``valid`` the window's pixels that are not nodata. The
    probabilities are those of the prediction (not regularized), as :func:`regularize_file` leaves them.
    Without ``probability`` (and ``probabilities``), the winning probability is not computed: ``None``."""
    predict = (predict_block_probabilities if probabilities else
               partial(predict_block, chunk=PREDICT_CHUNK, probability=probability))
    if not majority:
        result = predict(model, read(window))
        return result, (int(np.count_nonzero(result[0] != NODATA_CLASS)), 0)
    from rasterio.windows import Window

    from .regularize import majority_filter

    m = majority // 2
    height, width = shape
    r0, c0 = max(int(window.row_off) - m, 0), max(int(window.col_off) - m, 0)
    r1 = min(int(window.row_off + window.height) + m, height)
    c1 = min(int(window.col_off + window.width) + m, width)
    result = predict(model, read(Window(c0, r0, c1 - c0, r1 - r0)))
    core = np.s_[int(window.row_off) - r0:int(window.row_off + window.height) - r0,
                 int(window.col_off) - c0:int(window.col_off + window.width) - c0]
    raw = result[0][core]
    classes = majority_filter(result[0], majority, nodata=NODATA_CLASS, values=model.class_values)[core]
    top = None if result[1] is None else result[1][core]
    out = (classes, top) + ((result[2][(slice(None),) + core],) if probabilities else ())
    return out, (int(np.count_nonzero(raw != NODATA_CLASS)), int(np.count_nonzero(classes != raw)))


def predicted_windows(stack, model, windows: Iterable, *, probabilities: bool = False,
                      threads: int | None = None, majority: int | None = None, probability: bool = True
                      ) -> Iterator[tuple[object, tuple[np.ndarray, ...], tuple[int, int]]]:
    """Read and classify ``windows`` of ``stack`` on ``threads`` threads at once; yields ``(window, result,
    counts)`` as each is done (in any order), ``result`` and ``counts`` as :func:`predict_window` gives them
    (with ``majority``, the class map regularized by a majority filter in the same pass; without
    ``probability``, no winning probability: ``None``).

    The threads read through one set of open files, their reads taking turns (``ImageStack.reader(lock=...)``:
    each block is decoded once, also where windows' margins overlap), and each predicts with a one-thread copy
    of the model (:func:`~landclass_ui.model.single_threaded`): reading, prediction and the caller's writing
    overlap, every classifier predicts in parallel, and the cores are not oversubscribed. At most
    ``2 x threads`` windows are in flight, so memory is bounded by the window size, not the image.
    """
    from contextlib import ExitStack

    threads = threads or default_threads()
    model1 = single_threaded(model) if threads > 1 else model
    shape = (stack.grid.height, stack.grid.width)
    with ExitStack() as opened:
        read = opened.enter_context(stack.reader(lock=threading.Lock()))

        def work(window):
            return (window, *predict_window(read, model1, window, probabilities=probabilities,
                                            majority=majority, shape=shape, probability=probability))

        todo = iter(windows)
        with ThreadPoolExecutor(threads, thread_name_prefix="landclass-predict") as pool:
            running = {pool.submit(work, w) for w in islice(todo, 2 * threads)}
            try:
                while running:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
                        running.update(pool.submit(work, w) for w in islice(todo, 1))
            finally:
                for future in running:
                    future.cancel()


def warm_up_worker() -> None:
    """Import what a Dask worker needs to classify windows besides this module (derived bands, cloud masks,
    scikit-learn's forests, tl2cgen: about a second on a cold worker). Submitted to every worker, not waited
    for, as soon as the cluster is there, it overlaps the training in this process instead of delaying the
    first windows."""
    import importlib

    for name in ("landclass_ui.indices", "landclass_ui.cloudmask", "sklearn.ensemble", "tl2cgen"):
        try:
            importlib.import_module(name)
        except ImportError:  # not installed on that worker: the task says so when it runs
            pass


def _read_and_predict(stack, model, windows: list, probabilities: bool, majority: int | None = None,
                      probability: bool = True) -> list:
    """Windows of ``stack`` read and classified, a list of ``(window, result, counts)`` (a task on a Dask worker:
    the worker opens the image itself, once for the task's windows: GDAL's block cache then serves the blocks
    that neighbouring windows' margins share); without ``probability``, the winning-class probability is left
    out of each result (``None``): it need not travel back."""
    out = []
    with stack.reader() as read:
        for window in windows:
            result, counts = predict_window(read, model, window, probabilities=probabilities, majority=majority,
                                            shape=(stack.grid.height, stack.grid.width), probability=probability)
            if not probability:
                result = (result[0], None) + tuple(result[2:])
            out.append((window, result, counts))
    return out


#: Windows per Dask task (:func:`dask_windows`), at most: the scheduler and this process spend ~6 ms on each task
#: (its state, messages, the result's arrival) and the worker opens the image for each (its block cache empty),
#: a third of a 512 px window's classification in all; with 4 windows a task, a tenth.
WINDOWS_PER_TASK = 4


def task_sizes(n_windows: int, slots: int, per_task: int = WINDOWS_PER_TASK) -> list[int]:
    """How many windows each Dask task takes, in the order the tasks are submitted, for ``n_windows`` windows
    and ``slots`` tasks in flight (2 per worker thread).

    Guided self-scheduling (Polychronopoulos & Kuck 1987, IEEE Trans. Computers C-36(12): 1425-1439): a task
    takes the windows left divided by ``slots``, at most ``per_task``, at least one. Full tasks first keep the
    scheduler's work per window low; then the tasks shrink, down to single windows, so the workers finish
    together instead of one waiting while the other classifies a last task of ``per_task`` windows.

    >>> task_sizes(30, 4)
    [4, 4, 4, 4, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1]
    """
    sizes, left = [], n_windows
    while left > 0:
        sizes.append(max(1, min(per_task, left // max(1, slots))))
        left -= sizes[-1]
    return sizes


def dask_windows(stack, model, windows: Iterable, *, client, probabilities: bool = False,
                 majority: int | None = None, probability: bool = True, per_task: int = WINDOWS_PER_TASK
                 ) -> Iterator[tuple[object, tuple[np.ndarray, ...], tuple[int, int]]]:
    """:func:`predicted_windows` on a Dask cluster: the windows are read and classified by the workers,
    ``per_task`` in each task, and come back here to be written; yields ``(window, result, counts)`` as they
    are done (without ``probability``, ``result[1]`` is None: the winning-class probability is not sent back).

    ``client`` is a ``distributed.Client``. The model (one thread per task: the workers' threads are the
    parallelism) and the image's description are sent to every worker once (``scatter(broadcast=True)``); the
    workers open the image themselves, once per task, so its paths must be readable from them (a shared file
    system, or URLs GDAL reads: ``/vsicurl/``, ``/vsis3/``). A task takes up to ``per_task`` windows in a row,
    fewer towards the end (:func:`task_sizes`), so that the workers finish together. At most 2 tasks per worker
    thread are in flight, so this process holds a few windows at a time, whatever the image's size.
    """
    from distributed import as_completed

    # hash=False: keys of their own, so a second run on the same client does not share (and lose) the first's
    model_f, stack_f = client.scatter([single_threaded(model), stack], broadcast=True, hash=False)
    slots = 2 * max(1, sum(client.nthreads().values()))
    windows = list(windows)
    todo = iter(windows)

    def submit(batch):
        return client.submit(_read_and_predict, stack_f, model_f, batch, probabilities, majority, probability,
                             pure=False)

    batches = (list(islice(todo, size)) for size in task_sizes(len(windows), slots, per_task))
    running = as_completed([submit(b) for b in islice(batches, slots)])
    try:
        for future in running:
            yield from future.result()
            for b in islice(batches, 1):
                running.add(submit(b))
            future.release()
    finally:
        for future in list(running.futures):  # stopped early (an error, a cancel): the cluster's work stops
            future.cancel()


def _sample_pixels(stack, windows: list, n: int = 5000) -> np.ndarray:
    """Up to ``n`` valid pixels ``(n, n_bands)`` float32 from the first windows of ``stack`` that have any."""
    found, count = [], 0
    with stack.reader() as read:
        for window in windows[:16]:
            data = read(window)
            pixels = data.reshape(data.shape[0], -1).T
            pixels = pixels[np.isfinite(pixels).all(axis=1)]
            found.append(pixels[:: max(1, len(pixels) // n)][: n - count])
            count += len(found[-1])
            if count >= n:
                break
    return np.concatenate(found) if found else np.zeros((0, len(stack.band_names)), np.float32)


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("the export was cancelled; nothing was written")


def write_classification(output: str | os.PathLike, stack, model, *, probability: bool = False,
                         class_probabilities: bool = False, progress: bool | None = None, block: int = WINDOW,
                         on_progress: Callable[[int, int], None] | None = None,
                         threads: int | None = None, compiled: bool = True, client=None,
                         cancel: threading.Event | None = None, scale: float | None = None,
                         max_file_bytes: int | None = MAX_FILE_BYTES, majority: int | None = None,
                         mmu: int | None = None) -> OutputPaths:
    """Classify ``stack`` with ``model`` window by window and write the class map (and probability) as COGs.

    Parameters
    ----------
    output : path
        The class map: uint8 legend values, :data:`NODATA_CLASS` (255) as nodata, the legend's colours as its
        colour table. ``<stem>_legend.csv`` (SEPAL's ``color,value,label``) is written beside it.
    stack : ImageStack
    model : TrainedModel
        Or a :class:`~landclass_ui.regional.RegionalModel` (one model per region, the stack ending with the
        region band): each pixel is classified by its region's model, those in no region stay nodata, and the
        maps are one mosaic; each region's forest is compiled on its own.
    probability : bool
        Also write ``<stem>_probability.tif``: winning-class probability 0-100 (uint8, nodata 255).
    class_probabilities : bool
        Also write ``<stem>_class_probability.tif`` (SEPAL's ``<class> %`` bands): one uint8 band per legend
        class, in legend order, its probability 0-100 (a pixel's bands sum to 100 within rounding), nodata 255,
        band descriptions ``"<class name> %"``.
    progress : bool or None
        tqdm progress bar on stderr (None: only when stderr is a terminal).
    block : int
        Window size in pixels (default :data:`WINDOW`, 1024).
    on_progress : callable, optional
        Called as ``on_progress(done_pixels, total_pixels)`` after each window (the dashboard's progress bar).
    threads : int, optional
        Windows read and predicted at once (:func:`predicted_windows`; default: the cores available).
    compiled : bool
        Predict with the forest compiled to C (:func:`landclass_ui.compiled.compile_model`: the same
        probabilities, checked on the image's pixels; scikit-learn where it cannot be compiled). With
        ``client``, the compiled library travels to the workers with the model (same platform needed).
    client : distributed.Client, optional
        Classify the windows on this Dask cluster (:func:`dask_windows`) instead of this machine's threads;
        the outputs are the same, written here.
    cancel : threading.Event, optional
        Set from another thread to stop: checked after every window and before each COG translation.
    scale : float, optional
        The outputs' pixel size in metres, coarser than the image's (:func:`check_scale`; SEPAL's export
        scale): classified at the image's pixels, then resampled, by mode for the class map and by average for
        the probabilities. None: the image's pixels.
    max_file_bytes : int or None
        An output larger than this, uncompressed, is written as tiles of at most this size plus a VRT that
        mosaics them (:func:`tile_windows`; SEPAL's export does the same), and its path in the result is the
        VRT's (``<stem>.vrt``). Default :data:`MAX_FILE_BYTES`; None: always one file.
    majority, mmu : int, optional
        Regularize the class map (:func:`landclass_ui.regularize.regularize_file`) before it is written: a
        majority filter of ``majority`` x ``majority`` pixels, then a sieve to ``mmu`` pixels; at the image's
        pixels, before ``scale``. The probabilities are left as predicted. ``OutputPaths.regularization`` says
        what changed.

    Raises
    ------
    RecipeError
        ``scale`` cannot be used (:func:`check_scale`); checked before anything is done.
    Cancelled
        ``cancel`` was set; nothing is left at ``output`` or beside it (temporary files removed).
    """
    import rasterio
    from tqdm import tqdm

    output = Path(output)
    grid = stack.grid
    check_scale(grid, scale)
    output.parent.mkdir(parents=True, exist_ok=True)
    # The temporary files' tiles are the windows (GeoTIFF tiles are multiples of 16 px): each window fills whole
    # tiles, written once, never read back, merged and rewritten. With smaller windows than tiles, GDAL keeps a
    # half-written tile in its block cache, which the reading threads share and may flush (once on CI, a whole
    # 256 px window of a probability raster written into 512 px tiles came out as nodata: test_dask.py).
    tile = block if block % 16 == 0 else 512
    profile = dict(
        driver="GTiff", width=grid.width, height=grid.height, count=1, dtype="uint8", crs=grid.crs,
        transform=grid.transform, nodata=NODATA_CLASS, tiled=True, blockxsize=tile, blockysize=tile,
        BIGTIFF="IF_SAFER",  # temporary files, read once by the COG translation: not compressed
    )
    temps: list[str] = []
    try:
        raw_class = temp_path(output.parent, output.stem, "raw")
        temps.append(raw_class)
        raw_prob = None
        if probability:
            raw_prob = temp_path(output.parent, output.stem, "rawprob")
            temps.append(raw_prob)
        raw_cube = None
        n_cube = len(model.legend.values)
        if class_probabilities:
            raw_cube = temp_path(output.parent, output.stem, "rawcube")
            temps.append(raw_cube)
        windows = list(grid.windows(block))
        if compiled:
            model = compile_model(model, _sample_pixels(stack, windows))
        bar = tqdm(total=grid.width * grid.height, unit="px", unit_scale=True, desc="classifying",
                   disable=(None if progress is None else not progress))
        with rasterio.open(raw_class, "w", **profile) as dst_c:
            dst_c.write_colormap(1, model.legend.colormap())
            dst_p = rasterio.open(raw_prob, "w", **profile) if raw_prob else None
            if dst_p is not None:
                dst_p.write_colormap(1, probability_colormap())
            # photometric/colorinterp: else GDAL takes 3-4 uint8 bands for RGB(A) and rio-cogeo masks by "alpha"
            dst_q = (rasterio.open(raw_cube, "w", **{**profile, "count": n_cube, "photometric": "MINISBLACK"})
                     if raw_cube else None)
            if dst_q is not None:
                from rasterio.enums import ColorInterp

                dst_q.colorinterp = [ColorInterp.gray] + [ColorInterp.undefined] * (n_cube - 1)
                for band, name in enumerate(model.legend.names, start=1):
                    dst_q.set_band_description(band, f"{name} %")
            done = valid = changed = 0
            started = time.perf_counter()
            done_windows = (dask_windows(stack, model, windows, client=client, probabilities=dst_q is not None,
                                         majority=majority, probability=dst_p is not None)
                            if client is not None else
                            predicted_windows(stack, model, windows, probabilities=dst_q is not None,
                                              threads=threads, majority=majority, probability=dst_p is not None))
            try:
                for window, result, counts in done_windows:
                    valid, changed = valid + counts[0], changed + counts[1]
                    _check(cancel)
                    classes, prob = result[:2]
                    if dst_q is not None:
                        dst_q.write(result[2], window=window)
                    dst_c.write(classes, 1, window=window)
                    if dst_p is not None:
                        dst_p.write(prob, 1, window=window)
                    bar.update(int(window.width * window.height))
                    done += int(window.width * window.height)
                    if on_progress is not None:
                        on_progress(done, grid.width * grid.height)
            finally:
                done_windows.close()  # stops the threads' or the cluster's work at once on an error or cancel
                if dst_p is not None:
                    dst_p.close()
                if dst_q is not None:
                    dst_q.close()
                bar.close()
        seconds = {"classify": time.perf_counter() - started}
        started = time.perf_counter()
        from .compiled import CompiledEstimator

        kind = "compiled" if isinstance(getattr(model, "estimator", None), CompiledEstimator) else "scikit-learn"
        if client is not None:
            n = client.nthreads()
            engine = f"{kind}, Dask: {len(n)} worker(s), {sum(n.values())} thread(s)"
        else:
            engine = f"{kind}, {threads or default_threads()} thread(s)"
        summary = None
        if majority is not None or mmu is not None:  # the majority filter was applied with the prediction
            from .regularize import RegularizeResult, regularize_file

            sieved = 0
            if mmu is not None:  # the sieve is not local: one pass over the whole map (see regularize)
                _check(cancel)
                regularized = temp_path(output.parent, output.stem, "reg")
                temps.append(regularized)
                sieved = regularize_file(raw_class, regularized, mmu=mmu).sieve_changed
                raw_class = regularized
            summary = RegularizeResult(str(output), valid, majority, changed, mmu, sieved).summary()
        finals: list[tuple[str, str]] = []  # (temporary, final) names, moved into place at the end
        written = []
        for raw, final, resampling, colormap in (
                (raw_class, str(output), "mode", model.legend.colormap()),
                (raw_prob, probability_path(output), "average", probability_colormap()),
                (raw_cube, class_probability_path(output), "average", None)):
            if raw is None:
                written.append(None)
                continue
            _check(cancel)
            pairs = _finish(raw, final, resampling=resampling, colormap=colormap, scale=scale,
                            max_bytes=max_file_bytes, cancel=cancel)
            temps.extend(t for t, _ in pairs)
            finals.extend(pairs)
            written.append(pairs[-1][1])  # the COG, or the VRT of the tiles
        legend_csv = legend_path(output)
        model.legend.to_csv(legend_csv)
        legend_files = write_legend_files(model.legend, output)
        for tmp, final in finals:
            os.chmod(tmp, default_file_mode())
            os.replace(tmp, final)
        seconds["write"] = time.perf_counter() - started
        return OutputPaths(written[0], legend_csv, written[1], written[2], legend_files, summary, seconds, engine)
    finally:
        for name in temps:
            if os.path.exists(name):
                os.unlink(name)


def tile_windows(width: int, height: int, count: int, max_bytes: int) -> list[tuple[int, int, int, int]]:
    """Square tiles ``(row_off, col_off, height, width)`` of a ``width`` x ``height`` raster of ``count``
    uint8 bands, each at most ``max_bytes`` uncompressed, sides a multiple of 256 px (at least 256); one tile
    when the whole raster fits.

    >>> tile_windows(1000, 600, 1, 10**9)
    [(0, 0, 600, 1000)]
    >>> [t[:2] for t in tile_windows(1000, 600, 1, 512 * 512)]
    [(0, 0), (0, 512), (512, 0), (512, 512)]
    """
    if width * height * count <= max_bytes:
        return [(0, 0, height, width)]
    side = max(256, int(math.sqrt(max_bytes / count)) // 256 * 256)
    return [(r, c, min(side, height - r), min(side, width - c))
            for r in range(0, height, side) for c in range(0, width, side)]


def _finish(raw: str, final: str, *, resampling: str, colormap, scale: float | None, max_bytes: int | None,
            cancel: threading.Event | None) -> list[tuple[str, str]]:
    """The COG(s) of the temporary raster ``raw`` for the output ``final``: ``[(temporary, final)]`` names.

    One COG when it is at most ``max_bytes`` uncompressed (None: any size); else tiles of at most that size,
    named as Earth Engine (and so SEPAL) names the files of a large export, ``<stem>-<row>-<col>.tif`` (pixel
    offsets, 10 digits), and a VRT ``<stem>.vrt`` that mosaics them (:func:`write_vrt`), last in the list."""
    import rasterio

    final = Path(final)
    with rasterio.open(raw) as src:
        transform, width, height = ((src.transform, src.width, src.height) if scale is None
                                    else scaled_grid(src.transform, src.width, src.height, scale))
        count = src.count
    tiles = tile_windows(width, height, count, max_bytes) if max_bytes else [(0, 0, height, width)]
    if len(tiles) == 1:
        tmp = temp_path(final.parent, final.stem, "cog")
        try:
            to_cog(raw, tmp, resampling=resampling, colormap=colormap, scale=scale)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return [(tmp, str(final))]
    pairs: list[tuple[str, str]] = []
    try:
        for row, col, h, w in tiles:
            _check(cancel)
            name = final.with_name(f"{final.stem}-{row:010d}-{col:010d}.tif")
            tmp = temp_path(final.parent, name.stem, "cog")
            pairs.append((tmp, str(name)))
            to_cog(raw, tmp, resampling=resampling, colormap=colormap,
                   grid=(transform * transform.translation(col, row), w, h))
        vrt = final.with_suffix(".vrt")
        tmp = temp_path(final.parent, vrt.stem, "vrt", suffix=".vrt")
        pairs.append((tmp, str(vrt)))
        write_vrt(tmp, [(Path(n).name, *t) for (_, n), t in zip(pairs[:-1], tiles)], raw, transform, width, height)
    except BaseException:
        for tmp, _ in pairs:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise
    return pairs


def write_vrt(path: str, tiles: list[tuple[str, int, int, int, int]], like: str, transform, width: int,
              height: int) -> None:
    """A GDAL VRT at ``path`` mosaicking ``tiles``, ``(file name relative to the VRT, row offset, column
    offset, height, width)`` in pixels, on the grid ``transform``/``width``/``height``, with the bands, nodata,
    colour table and band descriptions of the raster ``like``. The format: GDAL's VRT tutorial
    (gdal.org/drivers/raster/vrt.html), as ``gdalbuildvrt`` writes it."""
    import xml.etree.ElementTree as ET

    import rasterio

    with rasterio.open(like) as src:
        crs, dtypes, nodata, descriptions = src.crs, src.dtypes, src.nodata, src.descriptions
        colormaps = {}
        for band in range(1, src.count + 1):
            try:
                colormaps[band] = src.colormap(band)
            except ValueError:  # no colour table
                pass
    root = ET.Element("VRTDataset", rasterXSize=str(width), rasterYSize=str(height))
    ET.SubElement(root, "SRS", dataAxisToSRSAxisMapping="1,2").text = crs.to_wkt()
    ET.SubElement(root, "GeoTransform").text = ", ".join(repr(float(v)) for v in transform.to_gdal())
    gdal_types = {"uint8": "Byte", "uint16": "UInt16", "int16": "Int16", "float32": "Float32"}
    for band, dtype in enumerate(dtypes, start=1):
        b = ET.SubElement(root, "VRTRasterBand", dataType=gdal_types[dtype], band=str(band))
        if nodata is not None:
            ET.SubElement(b, "NoDataValue").text = repr(float(nodata)).removesuffix(".0")
        if descriptions[band - 1]:
            ET.SubElement(b, "Description").text = descriptions[band - 1]
        if band in colormaps:
            ET.SubElement(b, "ColorInterp").text = "Palette"
            table = ET.SubElement(b, "ColorTable")
            for value in range(256):
                c = colormaps[band].get(value, (0, 0, 0, 0))
                ET.SubElement(table, "Entry", c1=str(c[0]), c2=str(c[1]), c3=str(c[2]), c4=str(c[3]))
        for name, row, col, h, w in tiles:
            source = ET.SubElement(b, "ComplexSource" if nodata is not None else "SimpleSource")
            ET.SubElement(source, "SourceFilename", relativeToVRT="1").text = name
            ET.SubElement(source, "SourceBand").text = str(band)
            ET.SubElement(source, "SrcRect", xOff="0", yOff="0", xSize=str(w), ySize=str(h))
            ET.SubElement(source, "DstRect", xOff=str(col), yOff=str(row), xSize=str(w), ySize=str(h))
            if nodata is not None:
                ET.SubElement(source, "NODATA").text = repr(float(nodata)).removesuffix(".0")
    ET.indent(root)
    Path(path).write_text(ET.tostring(root, encoding="unicode") + "\n")


def read_class_map(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """Read a class map written here: uint8 ``(height, width)`` and its rasterio profile (with colour table
    under ``"colormap"``)."""
    import rasterio

    with rasterio.open(path) as src:
        data = src.read(1)
        profile = dict(src.profile)
        profile["colormap"] = src.colormap(1)
    return data, profile
