"""Benchmark: classify the bundled Sentinel-2 scene (1830 x 1830 px, 4 bands) window by window, as the engine
does, against the naive baseline that reads the whole image and predicts every pixel in one call.

Prints, for each, wall time, pixels per second and peak resident memory (each run in its own process), and the
ratios. Run with::

    .venv/bin/python benchmarks/predict.py
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time


def _fitted():
    """The bundled scene prepared from its polygons and a fitted default forest."""
    from landclass_ui.model import fit
    from landclass_ui.pipeline import prepare
    from landclass_ui.recipe import ImageRef, Recipe, TrainingRef
    from landclass_ui.sample import sample_paths

    s = sample_paths()
    prepared = prepare(Recipe(images=[ImageRef(s.safe)], training=[TrainingRef("file", s.polygons, "class")]))
    return prepared, fit(prepared.samples, prepared.legend)


def windowed(out_dir: str) -> dict:
    from landclass_ui.export import write_classification

    prepared, model = _fitted()
    start = time.perf_counter()
    write_classification(f"{out_dir}/map.tif", prepared.stack, model, probability=True, progress=False)
    return {"seconds": time.perf_counter() - start, "pixels": prepared.stack.grid.width * prepared.stack.grid.height}


def naive(out_dir: str) -> dict:
    import numpy as np
    import rasterio

    prepared, model = _fitted()
    start = time.perf_counter()
    data = prepared.stack.read()  # the whole image at once
    n, h, w = data.shape
    pixels = data.reshape(n, -1).T
    proba = model.estimator.predict_proba(pixels)
    classes = model.class_values[proba.argmax(axis=1)].astype(np.uint8).reshape(h, w)
    prob = np.rint(proba.max(axis=1) * 100).astype(np.uint8).reshape(h, w)
    g = prepared.stack.grid
    profile = dict(driver="GTiff", width=w, height=h, count=1, dtype="uint8", crs=g.crs, transform=g.transform)
    with rasterio.open(f"{out_dir}/naive.tif", "w", **profile) as dst:
        dst.write(classes, 1)
    with rasterio.open(f"{out_dir}/naive_prob.tif", "w", **profile) as dst:
        dst.write(prob, 1)
    return {"seconds": time.perf_counter() - start, "pixels": h * w}


def child(kind: str) -> None:
    with tempfile.TemporaryDirectory() as out:
        result = {"windowed": windowed, "naive": naive}[kind](out)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    results = {}
    for kind in ("naive", "windowed"):
        out = subprocess.run([sys.executable, __file__, kind], capture_output=True, text=True, check=True)
        results[kind] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{'method':<10} {'seconds':>8} {'Mpx/s':>7} {'peak MB':>8}")
    for kind, r in results.items():
        print(f"{kind:<10} {r['seconds']:8.2f} {r['pixels'] / r['seconds'] / 1e6:7.2f} {r['peak_mb']:8.0f}")
    n, w = results["naive"], results["windowed"]
    print(f"windowed / naive: time x{w['seconds'] / n['seconds']:.2f}, peak memory x{w['peak_mb'] / n['peak_mb']:.2f}"
          " (windowed also writes validated COGs with overviews; naive writes plain GeoTIFFs)")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        child(sys.argv[1])
    else:
        main()
