"""The dashboard as a person uses it: a real voila server, headless Chromium (Debian's), mouse clicks.

Two ways of serving, as users run it:
* ``voila``: standalone ``voila app.ipynb`` (tiles travel over the kernel websocket), and
* ``jupyter``: a Jupyter server with voila's extension at ``/voila/render/app.ipynb`` (JupyterLab, Binder:
  tiles through localtileserver's proxy).

Screenshots go to ``test-artifacts/``. The click-to-refreshed-tiles times are printed (run with ``-s``).
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 180_000
#: The basemaps' tile servers (landclass_ui.ui.map.basemaps). The tests run as if offline: their requests are
#: aborted, so that every machine sees the same map, and a test shows the app works without network.
BASEMAP_HOSTS = re.compile(r"^https?://([a-z0-9.-]+\.)?(openstreetmap\.org|arcgisonline\.com)/")

# The images of a pane (leaflet-landclass-<idx>-pane): the image's tiles, or the live results' overlays (one
# picture each: the scene first, then the zoomed-in view; a 1 x 1 picture is an empty overlay)
JS_IMAGES = """(idx) => [...document.querySelectorAll(
    `.leaflet-landclass-${idx}-pane img.leaflet-tile, .leaflet-landclass-${idx}-pane img.leaflet-image-layer`)]"""
JS_LAYER_LOADED = """([idx, minImages]) => {
  const imgs = (""" + JS_IMAGES + """)(idx);
  return imgs.length >= minImages && imgs.every(i => i.classList.contains('leaflet-image-layer')
      ? i.complete && i.naturalWidth > 0 : i.classList.contains('leaflet-tile-loaded'));
}"""
# the image's tiles (not its preview picture, an overlay in the same pane): at least n loaded, none failed
JS_TILES_LOADED = """([idx, n]) => {
  const pane = `.leaflet-landclass-${idx}-pane img.leaflet-tile`;
  return document.querySelectorAll(`${pane}.leaflet-tile-loaded`).length >= n
      && document.querySelectorAll(`${pane}.leaflet-tile-error`).length === 0;
}"""
JS_MARK_OLD = """(idx) => { (""" + JS_IMAGES + """)(idx).forEach(i => i.dataset.oldsrc = i.src); }"""
# a new map on screen: every tile's src swapped (jupyter-leaflet refreshes a tile layer in place when its URL
# changes), or the scene overlay's picture replaced, and the new pictures decoded
JS_REFRESHED = """(idx) => {
  const imgs = (""" + JS_IMAGES + """)(idx);
  const overlays = imgs.filter(i => i.classList.contains('leaflet-image-layer'));
  const fresh = i => i.src !== i.dataset.oldsrc && i.complete && i.naturalWidth > 0;
  return overlays.length ? fresh(overlays[0]) && overlays[0].naturalWidth > 1 : imgs.length > 0 && imgs.every(fresh);
}"""
# colours of a pane's pictures drawn on a canvas (tiles at 256 x 256, overlays pixel for pixel): a hash, the
# share of opaque pixels, the distinct colours; ``src`` is the scene overlay's data URL
JS_PIXELS = """(idx) => {
  let h = 0, opaque = 0, n = 0; const colours = new Set();
  const imgs = (""" + JS_IMAGES + """)(idx)
      .filter(i => i.classList.contains('leaflet-image-layer') ? i.naturalWidth > 1
                                                               : i.classList.contains('leaflet-tile-loaded'))
      .map(i => [i.style.transform || (i.style.left + i.style.top), i]).sort();
  for (const [k, img] of imgs) {
    // a tile the browser fetched straight from the tile server (before jupyter-loopback took over) cannot be
    // read back (cross-origin): skip it
    const c2 = document.createElement('canvas'); c2.width = 1; c2.height = 1;
    try { c2.getContext('2d').drawImage(img, 0, 0, 1, 1); c2.getContext('2d').getImageData(0, 0, 1, 1); }
    catch (e) { continue; }
    const overlay = img.classList.contains('leaflet-image-layer');
    const c = document.createElement('canvas');
    c.width = overlay ? img.naturalWidth : 256; c.height = overlay ? img.naturalHeight : 256;
    const ctx = c.getContext('2d', {willReadFrequently: true});
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(img, 0, 0, c.width, c.height);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    for (let p = 0; p < d.length; p += 4 * 7) {
      h = (h * 31 + d[p] + 3 * d[p + 1] + 7 * d[p + 2] + 11 * d[p + 3]) >>> 0; n++;
      if (d[p + 3] > 0) { opaque++; colours.add(d[p] + ',' + d[p + 1] + ',' + d[p + 2]); }
    }
  }
  const first = imgs.length ? imgs[0][1] : null;
  return {hash: h, opaque: n ? opaque / n : 0, colours: [...colours].slice(0, 20), tiles: imgs.length,
          src: first && first.classList.contains('leaflet-image-layer') ? first.src : null};
}"""

def screen_picture(page, selector: str) -> dict:
    """What the screen shows inside ``selector``: the share of pixels that are not Leaflet's grey background
    and the number of distinct colours (quantized to 4 bits a channel)."""
    import io

    import numpy as np
    from PIL import Image

    shot = Image.open(io.BytesIO(page.locator(selector).screenshot())).convert("RGB")
    rgb = np.asarray(shot).reshape(-1, 3)
    background = np.all(np.abs(rgb.astype(int) - 221) <= 2, axis=1)
    colours = np.unique((rgb[~background] >> 4).astype(np.int32) @ np.array([256, 16, 1]))
    return {"share": float((~background).mean()), "colours": int(colours.size)}


def choose_class(page, label: str | None = None, *, index: int | None = None) -> str:
    """Choose a class in TRN's class chooser, as a person does, and wait until the map says a click adds it
    (the kernel has the choice: a click sent before would add the previous class). Returns the class name."""
    chooser = ".landclass-class-chooser select"
    if label is None:
        label = page.locator(f"{chooser} option").nth(index).inner_text()
    page.select_option(chooser, label=label)
    name = re.sub(r"\s*\(\d+\)\s*$", "", label).strip()  # "FARM (1)": the name, without the value
    page.locator(".landclass-click-class").filter(
        has_text=re.compile(r"a click adds\s*" + re.escape(name) + r"$")).wait_for(timeout=30_000)
    return name


def wait_for_picture(page, selector: str, timeout: float, *, share: float = 0.3, colours: int = 15) -> dict:
    """Poll the screen until ``selector`` shows a real picture (see :func:`screen_picture`)."""
    deadline = time.time() + timeout
    seen = {}
    while time.time() < deadline:
        seen = screen_picture(page, selector)
        if seen["share"] > share and seen["colours"] >= colours:
            return seen
        page.wait_for_timeout(300)
    raise AssertionError(f"{selector} shows no picture after {timeout} s: {seen}")


def new_page(browser, width: int = 1400, height: int = 950):
    """A page of ``width`` x ``height`` px in which the basemaps' tiles fail as with no network
    (:data:`BASEMAP_HOSTS`)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.route(BASEMAP_HOSTS, lambda route: route.abort("internetdisconnected"))
    return page


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, url: str | None, timeout: float = 90) -> None:
    """Wait until the server listens (and answers ``url``, when given). Voila's page itself is not requested:
    each request of it starts a kernel."""
    start = time.time()
    while time.time() - start < timeout:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                pass
            if url:
                with urllib.request.urlopen(url, timeout=3):
                    pass
            return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"no server on port {port}")


def start_server(backend: str, port: int, workdir: Path, log, root: Path = ROOT) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, LANDCLASS_WORKDIR=str(workdir))
    env.pop("LANDCLASS_TILE_ROUTING", None)  # the app must find the routing by itself
    if backend == "voila":
        cmd = [str(BIN / "voila"), "app.ipynb", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"]
        url, ready = f"http://127.0.0.1:{port}/", None
    else:
        cmd = [str(BIN / "jupyter"), "server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               "--allow-root", "--IdentityProvider.token=", "--ServerApp.password=",
               f"--ServerApp.root_dir={root}"]
        url = f"http://127.0.0.1:{port}/voila/render/app.ipynb"
        ready = f"http://127.0.0.1:{port}/api/status"
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_ready(port, ready)
    except Exception:
        stop_server(proc)
        raise
    return proc, url


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except Exception:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(15)


@pytest.mark.parametrize("backend", ["voila", "jupyter"])
def test_click_to_train_in_the_browser(backend, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    workdir = tmp_path / "work"
    port = free_port()
    log_path = ARTIFACTS / f"server-{backend}.log"
    with open(log_path, "w") as log:
        proc, url = start_server(backend, port, workdir, log)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                page = new_page(browser)
                start = time.perf_counter()
                page.goto(url, timeout=TIMEOUT_MS)
                page.wait_for_selector(".landclass-app .leaflet-container", timeout=TIMEOUT_MS)
                # the panels, and the image's tiles
                for title in ("IMG", "LEG", "TRN", "AUX", "CLS", "Export"):
                    assert page.get_by_role("tab", name=title).count() == 1, title
                # a real picture: tiles loaded, mostly opaque (tiles overhang the scene), many colours. Polled:
                # the map may still move to the scene's bounds and load new tiles after the first ones
                # the browser may fetch the first tiles straight from the tile server, before jupyter-loopback
                # takes over: those cannot be read back in the page (cross-origin), so look at the screen
                wait_for_picture(page, ".landclass-app .leaflet-container", timeout=TIMEOUT_MS / 1000)
                print(f"\n[{backend}] dashboard with the image after {time.perf_counter() - start:.1f} s")
                # the picture may be the image's quick preview: its tiles come from the tile server (over the
                # kernel's websocket in standalone voila, through the proxy under a Jupyter server)
                page.wait_for_function(JS_TILES_LOADED, arg=["image", 4], timeout=60_000, polling=50)
                print(f"[{backend}] image tiles after {time.perf_counter() - start:.1f} s")
                page.wait_for_selector(".landclass-status-text:has-text('at least two classes')",
                                       timeout=TIMEOUT_MS)
                assert page.locator(".landclass-recipe-name input").input_value().startswith("Classification_")

                page.click(".landclass-training-toggle")
                page.wait_for_selector(".landclass-training-toggle.mod-active", timeout=10_000)
                box = page.locator(".landclass-app .leaflet-container").bounding_box()
                clicks = [("WATER (3)", 0.30, 0.35), ("FOREST (2)", 0.55, 0.55), ("FARM (1)", 0.70, 0.40),
                          ("FOREST (2)", 0.40, 0.70), ("FARM (1)", 0.62, 0.28)]
                times, pixels = [], [page.evaluate(JS_PIXELS, "class")]
                for i, (label, fx, fy) in enumerate(clicks, 1):
                    choose_class(page, label)
                    if i >= 2:
                        page.evaluate(JS_MARK_OLD, "class")
                    t = time.perf_counter()
                    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
                    page.wait_for_function(
                        "(n) => document.querySelectorAll('.leaflet-overlay-pane svg path').length >= n",
                        arg=i, timeout=30_000, polling=50)
                    if i >= 2:  # from the second class on, every click retrains and refreshes the map
                        page.wait_for_selector(f".landclass-status-text:has-text('classified with {i} training "
                                               "pixels')", timeout=90_000)
                        page.wait_for_function(JS_REFRESHED, arg="class", timeout=90_000, polling=20)
                        page.wait_for_function(JS_LAYER_LOADED, arg=["class", 1], timeout=90_000, polling=20)
                        times.append(time.perf_counter() - t)
                        pixels.append(page.evaluate(JS_PIXELS, "class"))
                status = page.inner_text(".landclass-status")
                page.wait_for_timeout(300)
                shot = ARTIFACTS / f"dashboard-{backend}.png"
                page.screenshot(path=str(shot))
                browser.close()
        finally:
            stop_server(proc)
    print(f"[{backend}] click -> refreshed classification tiles: median {statistics.median(times):.2f} s "
          f"(all {[round(x, 2) for x in times]}); status {status!r}; screenshot {shot}")
    # markers: one per click; the classification layer shows classes in the legend's colours and changes
    assert pixels[-1]["opaque"] > 0.3, pixels[-1]
    legend_rgb = {"148,255,0", "0,127,70", "0,148,255"}
    assert len(legend_rgb & set(pixels[-1]["colours"])) >= 2, pixels[-1]["colours"]
    assert len({px["hash"] for px in pixels}) >= 3, "the classification tiles did not change"
    assert "classified with 5 training pixels" in status
    # the recipe was saved, with the points and their classes, as the person clicked them
    saved = json.loads((workdir / "recipe.json").read_text())
    points = [p for t in saved["training"] if t["kind"] == "points" for p in t["points"]]
    assert [p["class"] for p in points] == [3, 2, 1, 2, 1]
    from pyproj import Transformer

    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32631", always_xy=True)
    for p in points:  # every click landed on the scene (bounds of the bundled image, in its CRS)
        x, y = to_utm.transform(p["x"], p["y"])
        assert 300000 < x < 409800 and 4790220 < y < 4900020, p
