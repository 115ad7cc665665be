"""A user's own data in the dashboard, end to end, in a real voila server and headless Chromium.

For each of four real scenes that differ in sensor, CRS and file layout (see ``tests/data/SOURCE.md``), as a
person does it: (New recipe) -> IMG: type the image path (or a pattern of band files, or Open then Add) ->
the map moves onto the image and shows its composite -> TRN: type the training file and its class field ->
Load -> the legend holds the file's classes -> the live classification shows those classes' colours ->
Export -> the COG has the image's CRS and grid and the legend's colours. Screenshots in ``test-artifacts/``.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import time
from pathlib import Path

import pytest
import rasterio
from playwright.sync_api import sync_playwright
from rasterio.warp import transform_bounds
from test_browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    JS_PIXELS,
    TIMEOUT_MS,
    choose_class,
    free_port,
    new_page,
    start_server,
    stop_server,
)

DATA = Path(__file__).resolve().parent / "data"

# Where the image is on screen: the box of the image layer's opaque pixels (the composite is transparent outside
# the image), in screen pixels, and the map's box. Tiles travel as blobs, so this is read off the pixels.
JS_IMAGE_BOX = """() => {
  const pane = document.querySelector('.leaflet-landclass-image-pane .leaflet-layer');
  const map = document.querySelector('.landclass-app .leaflet-container').getBoundingClientRect();
  const c = document.createElement('canvas'); c.width = 256; c.height = 256;
  const ctx = c.getContext('2d', {willReadFrequently: true});
  let left = Infinity, top = Infinity, right = -Infinity, bottom = -Infinity, n = 0;
  for (const img of (pane ? pane.querySelectorAll('img.leaflet-tile-loaded') : [])) {
    const r = img.getBoundingClientRect();
    if (r.right < map.left || r.left > map.right || r.bottom < map.top || r.top > map.bottom) continue;
    ctx.clearRect(0, 0, 256, 256); ctx.drawImage(img, 0, 0, 256, 256);
    let d; try { d = ctx.getImageData(0, 0, 256, 256).data; } catch (e) { continue; }  // cross-origin tile
    const k = r.width / 256;
    for (let y = 0; y < 256; y += 2) for (let x = 0; x < 256; x += 2) {
      if (d[(y * 256 + x) * 4 + 3] === 0) continue;
      const sx = r.left + x * k, sy = r.top + y * k;
      if (sx < map.left || sx > map.right || sy < map.top || sy > map.bottom) continue;
      n++; left = Math.min(left, sx); right = Math.max(right, sx); top = Math.min(top, sy);
      bottom = Math.max(bottom, sy);
    }
  }
  return {n, left, top, right, bottom, map: {left: map.left, top: map.top, right: map.right, bottom: map.bottom}};
}"""
# the whole image inside the map, and not zoomed out needlessly: one zoom level more would not fit, so the
# image spans over 40 % of the map's width or height
JS_IMAGE_INSIDE = """() => { const b = (""" + JS_IMAGE_BOX + """)();
  const share = Math.max((b.right - b.left) / (b.map.right - b.map.left),
                         (b.bottom - b.top) / (b.map.bottom - b.map.top));
  return b.n > 100 && b.left > b.map.left + 2 && b.right < b.map.right - 2 && b.top > b.map.top + 2 &&
         b.bottom < b.map.bottom - 2 && share > 0.4; }"""
#: Tiles of the classes pane, for the log of a failed walk: z-index, tiles, tiles loaded per layer.
JS_CLASS_PANE = """() => [...document.querySelectorAll('.leaflet-landclass-class-pane .leaflet-layer')]
  .map(l => [l.style.zIndex, l.querySelectorAll('img').length,
             l.querySelectorAll('img.leaflet-tile-loaded').length])"""


def band_files(folder: str, pattern: str) -> list[str]:
    return sorted(str(p) for p in (DATA / folder).glob(pattern))


L5 = band_files("l5_amazon", "LT52240631988227CUB02_B[123457].TIF")

SCENES = {
    # Sentinel-2 12-band float GeoTIFF, EPSG:4326, GeoJSON; the first-run (sample) recipe, whose unused
    # legend the file's classes replace
    "s2-amazon-geotiff": dict(new=False, open=str(DATA / "s2_amazon" / "sen2_L2A_12band.tif"), add=[],
                              training=str(DATA / "s2_amazon" / "training_polygons.geojson"), field="class",
                              classes=["dryout", "forest", "village", "water"]),
    # Landsat 5 TM, one uint8 file per band opened then added one by one, EPSG:32622, GeoPackage
    "l5-amazon-band-files": dict(new=True, open=L5[0], add=L5[1:],
                                 training=str(DATA / "l5_amazon" / "training_polygons.gpkg"), field="class",
                                 classes=["cleared", "fallen_dry", "forest", "water"]),
    # Landsat 8 Collection 2 L2 crop, a pattern of band files, EPSG:32611, shapefile points, field MC_name
    "l8-c2-pattern": dict(new=True, open=str(DATA / "l8_t11upt" / "LC08_*_SR_B*.tif"), add=[],
                          training=str(DATA / "l8_t11upt" / "training_points.shp"), field="MC_name",
                          classes=None),
    # Sentinel-2 JPEG2000 band files (no .SAFE), EPSG:32611, shapefile polygons, field MC_name
    "s2-t11upt-jp2": dict(new=True, open=str(DATA / "s2_t11upt" / "T11UPT_*_B*_60m.jp2"), add=[],
                          training=str(DATA / "s2_t11upt" / "landcover.shp"), field="MC_name",
                          classes=["Bare Earth", "Built Up", "Vegetation", "Water"]),
}


def image_bounds(paths: list[str]) -> tuple[float, float, float, float]:
    """west, south, east, north (degrees) of the first file (the stack's grid)."""
    with rasterio.open(paths[0]) as src:
        return transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)


def expand(pattern: str) -> list[str]:
    import glob

    return sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]


def click_tab(page, title: str) -> None:
    page.get_by_role("tab", name=title).click()


def wait_message(page, panel: str, text: str, timeout: int = 60_000) -> str:
    """Wait for ``text`` in the panel's message line; fail at once with the message if it turns red."""
    deadline = time.time() + timeout / 1000
    sel = f"{panel} .landclass-msg"
    while time.time() < deadline:
        for m in page.locator(sel).all():
            t = m.inner_text()
            if text in t:
                return t
            if "landclass-msg-error" in (m.get_attribute("class") or ""):
                raise AssertionError(f"{panel}: {t}")
        page.wait_for_timeout(200)
    raise AssertionError(f"{panel}: no message with {text!r}; last: "
                         f"{[m.inner_text() for m in page.locator(sel).all()]}")


def no_app_error(page) -> None:
    errors = [m.inner_text() for m in page.locator(".landclass-app .landclass-msg-error").all()]
    assert not errors, errors


@pytest.mark.parametrize("scene", list(SCENES))
def test_own_image_and_training_end_to_end(scene, tmp_path):
    spec = SCENES[scene]
    files = expand(spec["open"]) + spec["add"]
    assert len(files) >= 1 and all(Path(f).exists() for f in files), files
    west, south, east, north = image_bounds(files)
    with rasterio.open(files[0]) as src:
        image_crs, image_transform, image_shape = src.crs, src.transform, (src.height, src.width)
    ARTIFACTS.mkdir(exist_ok=True)
    workdir = tmp_path / "work"
    port = free_port()
    with open(ARTIFACTS / f"server-{scene}.log", "w") as log:
        proc, url = start_server("voila", port, workdir, log)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                page = new_page(browser)
                try:
                    name, saved, options = walk(page, url, spec, scene, workdir, (west, south, east, north),
                                                server_pid=proc.pid)
                except Exception:
                    page.screenshot(path=str(ARTIFACTS / f"scene-{scene}-failed.png"))
                    print("image box:", page.evaluate(JS_IMAGE_BOX))
                    print("class pixels:", page.evaluate(JS_PIXELS, "class"))
                    print("class pane:", page.evaluate(JS_CLASS_PANE))
                    print_kernel_threads(proc, workdir)
                    raise
                browser.close()
        finally:
            stop_server(proc)
    check_export(workdir, name, saved, image_crs, image_transform, image_shape)


def print_kernel_threads(proc, workdir) -> None:
    """Ask the server's kernels for their threads' stacks (SIGUSR1, see landclass_ui.ui.common) and print
    the app's log: where a stuck dashboard waits."""
    import psutil

    for child in psutil.Process(proc.pid).children(recursive=True):
        if "ipykernel" in " ".join(child.cmdline()):
            child.send_signal(signal.SIGUSR1)
    time.sleep(1)
    log = workdir / "landclass.log"
    print(log.read_text()[-20000:] if log.exists() else "no landclass.log")


def walk(page, url, spec, scene, workdir, bounds, *, server_pid: int):
    """The person's walk through the dashboard; returns the recipe name, the saved recipe and the class
    chooser's options."""
    west, south, east, north = bounds
    page.goto(url, timeout=TIMEOUT_MS)
    page.wait_for_selector(".landclass-app .leaflet-container", timeout=TIMEOUT_MS)
    page.wait_for_selector(".landclass-status-text:has-text('at least two classes')", timeout=TIMEOUT_MS)
    first_name = page.locator(".landclass-recipe-name input").input_value()
    if spec["new"]:
        page.click(".landclass-new-recipe")
        page.wait_for_selector(".landclass-status-text:has-text('no image yet')", timeout=60_000)
        assert page.locator(".landclass-recipe-name input").input_value() != first_name
        assert first_name in page.locator(".landclass-saved-recipes select").inner_text()

    # IMG: open the image (and add band files)
    click_tab(page, "IMG")
    page.fill(".landclass-image-path input", spec["open"])
    page.click(".landclass-img button:has-text('Open')")
    wait_message(page, ".landclass-img", "opened")
    for f in spec["add"]:
        page.fill(".landclass-image-path input", f)
        page.click(".landclass-add-image")
        wait_message(page, ".landclass-img", f"added {Path(f).name}")
    # the map moves onto the image and shows its composite: the whole image inside the map, a real
    # picture (many colours), and not zoomed out needlessly (it fills a good part of the map)
    shown = f"() => ({JS_IMAGE_INSIDE})() && (p => p.colours.length >= 15)(({JS_PIXELS})('image'))"
    page.wait_for_function(shown, timeout=90_000, polling=250)
    # and it stays so once any zoom animation has ended (a busy machine can catch the map mid-zoom,
    # old tiles scaled, before the new zoom's tiles replace them)
    page.wait_for_timeout(500)
    page.wait_for_function(shown, timeout=90_000, polling=250)
    page.screenshot(path=str(ARTIFACTS / f"scene-{scene}-1-image.png"))

    # TRN: load the training file; the legend is built from its classes
    click_tab(page, "TRN")
    page.fill(".landclass-trn input[placeholder*='polygons']", spec["training"])
    page.fill(".landclass-trn .widget-text:has-text('Class field') input", spec["field"])
    page.click(".landclass-trn button:has-text('Load training file')")
    wait_message(page, ".landclass-trn", "loaded")
    saved = json.loads((workdir / "recipe.json").read_text())
    names = [e["name"] for e in saved["legend"]]
    if spec["classes"] is not None:
        assert names == spec["classes"]
    assert len(names) >= 3
    options = page.locator(".landclass-class-chooser select option").all_inner_texts()
    assert [o.replace("\xa0", " ").rsplit(" (", 1)[0] for o in options] == names
    # the live classification shows the legend's colours; the training data are drawn too
    page.wait_for_selector(".landclass-status-text:has-text('classified with')", timeout=90_000)
    rgb = [",".join(str(int(e["color"][i:i + 2], 16)) for i in (1, 3, 5)) for e in saved["legend"]]
    page.wait_for_function(
        f"(rgb) => (p => rgb.filter(c => p.colours.includes(c)).length >= 3)(({JS_PIXELS})('class'))",
        arg=rgb, timeout=90_000, polling=250)
    pixels = page.evaluate(JS_PIXELS, "class")
    shown = set(rgb) & set(pixels["colours"])
    assert len(shown) >= 3, (pixels, rgb)
    assert pixels["opaque"] > 0.05, pixels
    assert page.locator(".leaflet-overlay-pane path").count() >= 8  # polygons / points drawn
    no_app_error(page)
    # a click in training mode adds a point of the chosen class there, and the map is retrained
    status = page.inner_text(".landclass-status")
    n = int(status.split("classified with ")[1].split()[0])
    box = page.evaluate(JS_IMAGE_BOX)
    choose_class(page, index=len(names) - 1)
    page.click(".landclass-training-toggle")
    page.mouse.click((box["left"] + box["right"]) / 2, (box["top"] + box["bottom"]) / 2)
    page.wait_for_selector(f".landclass-status-text:has-text('classified with {n + 1} training')",
                           timeout=90_000)
    page.click(".landclass-training-toggle")
    saved = json.loads((workdir / "recipe.json").read_text())
    points = [p for t in saved["training"] if t["kind"] == "points" for p in t["points"]]
    assert [p["class"] for p in points] == [saved["legend"][-1]["value"]]
    assert west < points[0]["x"] < east and south < points[0]["y"] < north
    no_app_error(page)
    page.screenshot(path=str(ARTIFACTS / f"scene-{scene}-2-classified.png"))

    # Export: a task of its own, which goes on when the kernel that started it dies; the new page's
    # task list shows it again, done
    click_tab(page, "Export")
    name = page.locator(".landclass-recipe-name input").input_value()
    page.click(".landclass-export")
    page.wait_for_selector(".landclass-task-running", timeout=60_000)
    # the kernel dies as when Jupyter shuts it down (SIGKILL to its process group), and the page
    # is opened again: a new kernel
    old_kernels = kernels(server_pid)
    assert len(old_kernels) == 1, old_kernels
    os.killpg(os.getpgid(old_kernels[0]), signal.SIGKILL)
    statuses = [json.loads(f.read_text()) for f in (workdir / "tasks").glob("*/status.json")]
    assert [t["state"] for t in statuses] == ["running"]  # killed while the export ran
    page.reload(timeout=TIMEOUT_MS)
    page.wait_for_selector(".landclass-status-text:has-text('classified with')", timeout=TIMEOUT_MS)
    assert old_kernels[0] not in kernels(server_pid)
    click_tab(page, "Export")
    task = page.locator(".landclass-task").first
    task.locator(".landclass-task-text:has-text('done')").wait_for(timeout=180_000)
    assert f"downloads/{name}: {name}.tif, {name}_legend.csv" in task.inner_text()
    page.screenshot(path=str(ARTIFACTS / f"scene-{scene}-3-exported.png"))

    # the new kernel found the same recipe, image and legend again
    assert page.locator(".landclass-recipe-name input").input_value() == name
    click_tab(page, "TRN")
    again = page.locator(".landclass-class-chooser select option").all_inner_texts()
    assert again == options
    no_app_error(page)
    return name, saved, options


def kernels(server_pid: int) -> list[int]:
    """The pids of the notebook kernels the server runs now (a zombie is no longer running)."""
    import psutil

    found = []
    for child in psutil.Process(server_pid).children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "ipykernel" in " ".join(child.cmdline()):
                found.append(child.pid)
        except psutil.NoSuchProcess:
            pass
    return found


def check_export(workdir, name, saved, image_crs, image_transform, image_shape):
    names = [e["name"] for e in saved["legend"]]
    cog = workdir / "downloads" / name / f"{name}.tif"
    from rio_cogeo.cogeo import cog_validate

    assert cog_validate(str(cog))[0], cog
    with rasterio.open(cog) as src:
        assert src.crs == image_crs
        assert (src.height, src.width) == image_shape and src.transform.almost_equals(image_transform)
        colormap = src.colormap(1)
        values = set(int(v) for v in __import__("numpy").unique(src.read(1))) - {255}
    legend = {int(e["value"]): e for e in saved["legend"]}
    assert values <= set(legend) and len(values) >= 3, values
    for value, e in legend.items():
        assert "#%02x%02x%02x" % colormap[value][:3] == e["color"].lower()
    with open(cog.with_name(f"{name}_legend.csv"), newline="") as f:
        assert [r["label"] for r in csv.DictReader(f)] == names
    log = workdir / "landclass.log"
    assert not log.exists() or "Traceback" not in log.read_text(), log.read_text()
