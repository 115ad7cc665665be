"""Benchmark: one live retrain-and-redraw after a click, as the dashboard does it (points' pixels cached, the
whole scene at a coarse scale, the visible extent at screen resolution), against the naive way (sample the
points and classify the whole scene at full resolution).

Runs on the bundled Sentinel-2 scene with 12 collected points (4 per class). Run with::

    .venv/bin/python benchmarks/live.py
"""
from __future__ import annotations

import statistics
import time
import warnings

warnings.simplefilter("ignore")


def main() -> None:
    from pyproj import Transformer
    from rasterio.windows import Window

    from landclass_ui.legend import Legend
    from landclass_ui.live import LiveClassifier
    from landclass_ui.model import fit, predict_block
    from landclass_ui.overlay import overlay
    from landclass_ui.pipeline import open_recipe_image
    from landclass_ui.training import extract_samples, points_frame
    from landclass_ui.ui.app import default_recipe

    recipe = default_recipe()
    legend = Legend.from_list(recipe.legend)
    to_lonlat = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True)
    # pixels of the tutorial's polygons: water, forest, farm (row, col)
    pixels = {3: [(254, 763), (256, 766), (1380, 1245), (1381, 1247)],
              2: [(1210, 390), (1215, 395), (1220, 400), (1225, 405)],
              1: [(700, 1200), (900, 300), (1500, 900), (300, 1500)]}
    for value, cells in pixels.items():
        for row, col in cells:
            lon, lat = to_lonlat.transform(300000 + (col + 0.5) * 60, 4900020 - (row + 0.5) * 60)
            recipe.training[0].points.append({"x": lon, "y": lat, "class": value})
    stack = open_recipe_image(recipe)
    points = recipe.training[0].points
    view = (1.20, 43.50, 1.45, 43.65)  # a zoomed-in view over Toulouse, 1000 x 600 screen pixels

    live = LiveClassifier(stack, overview_px=640)
    live.update(recipe, legend)  # warm-up: reads the coarse scene once, caches the points' pixels
    colors = legend.colormap()
    times = []
    for i in range(5):
        recipe.training[0].points = points[: len(points) - 1] if i % 2 else points
        start = time.perf_counter()
        # what a click costs the kernel: retrain, classify, and the pictures the map shows (overlays)
        overlay(live.update(recipe, legend).classes, live.overview_grid, colors)
        view_result = live.classify_view(view, (1000, 600))
        overlay(view_result.classes, view_result.grid, colors)
        times.append(time.perf_counter() - start)
    live_s = statistics.median(times)

    times = []
    for _ in range(3):
        start = time.perf_counter()
        samples = extract_samples(stack, points_frame(points, crs=stack.crs), legend)
        model = fit(samples, legend)
        with stack.reader() as read:
            for window in stack.grid.windows(512):
                predict_block(model, read(Window(*window.flatten())))
        times.append(time.perf_counter() - start)
    naive_s = statistics.median(times)

    n = stack.grid.width * stack.grid.height
    print(f"scene {stack.grid.width} x {stack.grid.height} px, {len(points)} training points")
    print(f"{'method':<36} {'median s':>9}")
    print(f"{'live (coarse scene + screen view)':<36} {live_s:9.2f}")
    print(f"{'naive (full scene, full resolution)':<36} {naive_s:9.2f}")
    print(f"live / naive: x{live_s / naive_s:.2f} ({naive_s / live_s:.1f} times faster); "
          f"naive classifies {n / 1e6:.1f} M pixels per click")


if __name__ == "__main__":
    main()
