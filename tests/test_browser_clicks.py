"""A burst of clicks in the browser, as an impatient person makes them: nothing lost, no stale map.

Standalone voila, headless Chromium, offline (the basemaps' requests are aborted): load the bundled polygons in
TRN, turn training mode on, then click 50 places quickly (150 ms apart, classes in turn, without waiting for the
map). Checked: the 50 points are saved in the recipe with the classes clicked and drawn on the map; once the app
is idle, the classification on screen is exactly what ``LiveClassifier`` computes for the saved training set (the
overlay's PNG and the pixels the browser decoded from it); no error in the browser console and no failed request
but the basemaps'. The same two servers' click-by-click path is ``test_browser.py``; this runs voila only.
"""
from __future__ import annotations

import base64
import json
import re
import time

import numpy as np
from playwright.sync_api import sync_playwright
from test_browser import (
    ARTIFACTS,
    BASEMAP_HOSTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    TIMEOUT_MS,
    choose_class,
    free_port,
    new_page,
    start_server,
    stop_server,
    wait_for_picture,
)

from landclass_ui.legend import Legend
from landclass_ui.live import LiveClassifier
from landclass_ui.overlay import decode_data_url, overlay
from landclass_ui.pipeline import open_recipe_image
from landclass_ui.recipe import Recipe
from landclass_ui.sample import sample_paths
from landclass_ui.ui.app import LandclassApp

CLICKS = 50  # issue 13: "50 rapid clicks produce 50 points, in order"
STATUS = re.compile(r"classified with (\d+) training pixels")
# the scene overlay (first picture of the class pane): its data URL and its pixels as the browser decoded them
JS_SCENE = """() => {
  const img = document.querySelector('.leaflet-landclass-class-pane img.leaflet-image-layer');
  if (!img || !img.complete || img.naturalWidth < 2) return null;
  const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d'); ctx.imageSmoothingEnabled = false; ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let s = ''; for (let i = 0; i < d.length; i += 32768) s += String.fromCharCode.apply(null, d.subarray(i, i + 32768));
  return {src: img.src, width: c.width, height: c.height, rgba: btoa(s)};
}"""


def external(url: str) -> bool:
    """A request to another machine than the app's server (basemaps, CDNs): failing here, offline on purpose."""
    return bool(BASEMAP_HOSTS.match(url)) or bool(re.match(r"https?://(?!127\.0\.0\.1[:/])", url))


def status(page) -> str:
    return page.inner_text(".landclass-status-text")


def wait_settled(page, pixels: int, timeout: float = 120) -> dict:
    """Wait until the status reports ``pixels`` training pixels and the scene overlay has not changed for 2 s."""
    deadline, last, since = time.time() + timeout, None, time.time()
    while time.time() < deadline:
        found = STATUS.search(status(page))
        scene = page.evaluate(JS_SCENE)
        key = scene and scene["src"]
        if key != last:
            last, since = key, time.time()
        if found and int(found.group(1)) == pixels and scene and time.time() - since >= 2:
            return scene
        page.wait_for_timeout(200)
    raise AssertionError(f"not settled on {pixels} training pixels: status {status(page)!r}")


def test_ten_quick_clicks_are_all_saved_and_the_last_map_is_the_right_one(tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    workdir = tmp_path / "work"
    problems: list[str] = []
    with open(ARTIFACTS / "server-clicks.log", "w") as log:
        proc, url = start_server("voila", free_port(), workdir, log)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                page = new_page(browser)
                # offline, the basemaps and voila's icon font (from a CDN) fail: only the app's own requests count
                page.on("console", lambda m: problems.append(f"console {m.type}: {m.text} {m.location}")
                        if m.type == "error" and not external(m.location.get("url", "")) else None)
                page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}")
                        if not external(r.url) else None)
                page.goto(url, timeout=TIMEOUT_MS)
                map_sel = ".landclass-app .leaflet-container"
                page.wait_for_selector(map_sel, timeout=TIMEOUT_MS)
                wait_for_picture(page, map_sel, timeout=TIMEOUT_MS / 1000)
                page.wait_for_selector(".landclass-status-text:has-text('at least two classes')", timeout=TIMEOUT_MS)

                page.get_by_role("tab", name="TRN").click()
                page.locator(".landclass-trn input[placeholder='polygons.geojson / points.csv']").fill(
                    sample_paths().polygons)
                page.locator(".landclass-trn .widget-text:has(label:text-is('Class field')) input").fill("class")
                page.keyboard.press("Tab")
                page.wait_for_timeout(300)
                page.get_by_role("button", name="Load training file").click()
                page.wait_for_selector(".landclass-status-text:has-text('classified with')", timeout=90_000)
                polygons_pixels = int(STATUS.search(status(page)).group(1))

                page.click(".landclass-training-toggle")
                page.wait_for_selector(".landclass-training-toggle.mod-active", timeout=10_000)
                labels = [x.strip() for x in page.locator(".landclass-class-chooser select option").all_inner_texts()]
                paths_before = page.locator(".leaflet-overlay-pane svg path").count()
                box = page.locator(map_sel).bounding_box()
                clicked = []
                for k in range(CLICKS):  # a 10 x 5 grid over the middle of the scene, classes in turn
                    label = labels[k % len(labels)]
                    choose_class(page, label)
                    fx, fy = 0.27 + 0.05 * (k % 10), 0.30 + 0.08 * (k // 10)
                    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
                    clicked.append(int(re.search(r"\((\d+)\)", label).group(1)))
                    page.wait_for_timeout(150)
                scene = wait_settled(page, polygons_pixels + CLICKS)
                paths_after = page.locator(".leaflet-overlay-pane svg path").count()
                assert f"{CLICKS} point(s)" in page.inner_text(".landclass-trn")
                page.screenshot(path=str(ARTIFACTS / "clicks-voila.png"))
                browser.close()
        finally:
            stop_server(proc)

    # the 50 points were saved, in the order and with the classes clicked, and drawn on the map
    saved = json.loads((workdir / "recipe.json").read_text())
    points = [q for t in saved["training"] if t["kind"] == "points" for q in t["points"]]
    assert [q["class"] for q in points] == clicked
    assert len({(q["x"], q["y"]) for q in points}) == CLICKS
    assert paths_after - paths_before == CLICKS
    # the map on screen is what the live classifier makes of the saved training set: no stale picture
    recipe = Recipe.from_dict(saved)
    overview_px = LandclassApp.__init__.__kwdefaults__["overview_px"]
    result = LiveClassifier(open_recipe_image(recipe), overview_px=overview_px).update(
        recipe, Legend.from_list(recipe.legend))
    expected = overlay(result.classes, result.grid, result.model.legend.colormap())[0]
    assert scene["src"] == expected
    shown = np.frombuffer(base64.b64decode(scene["rgba"]), np.uint8).reshape(scene["height"], scene["width"], 4)
    assert np.array_equal(shown, decode_data_url(expected))
    assert not problems, problems
    print(f"\n{CLICKS} clicks saved; final map = LiveClassifier's ({result.n_samples} training pixels); screenshot "
          f"{ARTIFACTS / 'clicks-voila.png'}")
