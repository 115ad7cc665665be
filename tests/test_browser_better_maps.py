"""Cloud masks, several dates and regularization in the dashboard, as a person uses them: a real voila server
and headless Chromium, on two real scenes that differ in sensor layout and CRS:

* five Sentinel-2 L2A dates of tile 33TWL, one STAC item folder each (``B02.tif`` ... ``SCL.tif``, EPSG:32633):
  IMG Open the first date, Add the four others -> the panel lists the dates and the share masked and filled
  per date; switching the cloud mask off and on again reaches the recipe;
* Sentinel-2 T11UPT JPEG2000 band files with the SCL among them (EPSG:32611): a pattern that matches the SCL
  too opens the bands, and the SCL becomes the mask, not a band.

Then TRN loads training data, CLS sets a 5 x 5 majority filter and a minimum mapping unit, and Export writes
the map: it is the live run's recipe (masks, dates, regularization) and its nodata are exactly the pixels no
date could fill. Screenshots in ``test-artifacts/better-maps-*.png``.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import rasterio
from playwright.sync_api import sync_playwright
from pyproj import Transformer
from test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, free_port, new_page, start_server, stop_server
from test_browser_scenes import click_tab, no_app_error, wait_message

DATA = Path(__file__).resolve().parent / "data"
T33 = sorted(str(p) for p in (DATA / "s2_t33twl").glob("S2*_L2A"))
T33_BY_DATE = sorted(T33, key=lambda p: Path(p).name.split("_")[2])
MASKED = [0, 1, 3, 8, 9, 10]


def series_points(path: Path) -> Path:
    """Training points of three classes from the clearest date's SCL (vegetation, not vegetated, water)."""
    scl_file = Path(T33_BY_DATE[2]) / "SCL.tif"  # 2023-08-15, 0.3 % masked
    with rasterio.open(scl_file) as src:
        scl, transform, crs = src.read(1), src.transform, src.crs
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    rng = random.Random(3)
    features = []
    for value, name in ((4, "vegetation"), (5, "not vegetated"), (6, "water")):
        rows, cols = np.nonzero(scl == value)
        for k in rng.sample(range(len(rows)), 30):
            lon, lat = to_lonlat.transform(*(transform * (cols[k] + 0.5, rows[k] + 0.5)))
            features.append({"type": "Feature", "properties": {"class": name},
                             "geometry": {"type": "Point", "coordinates": [lon, lat]}})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def scl_masked(path) -> np.ndarray:
    with rasterio.open(path) as src:
        return np.isin(src.read(1), MASKED)


@pytest.mark.parametrize("scene", ["t33twl-5-dates", "t11upt-jp2-with-scl"])
def test_masks_dates_and_regularization_in_the_browser(scene, tmp_path):
    workdir = tmp_path / "work"
    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / f"server-better-maps-{scene}.log", "w") as log:
        proc, url = start_server("voila", port, workdir, log)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                page = new_page(browser)
                try:
                    name = walk(page, url, scene, workdir, tmp_path)
                except Exception:
                    page.screenshot(path=str(ARTIFACTS / f"better-maps-{scene}-failed.png"))
                    raise
                browser.close()
        finally:
            stop_server(proc)
    check_export(scene, workdir, name)


def walk(page, url, scene, workdir, tmp_path) -> str:
    page.goto(url, timeout=TIMEOUT_MS)
    page.wait_for_selector(".landclass-status-text:has-text('at least two classes')", timeout=TIMEOUT_MS)
    page.click(".landclass-new-recipe")
    page.wait_for_selector(".landclass-status-text:has-text('no image yet')", timeout=60_000)
    click_tab(page, "IMG")
    info = page.locator(".landclass-img .landclass-mask-info")
    if scene == "t33twl-5-dates":
        page.fill(".landclass-image-path input", T33_BY_DATE[0])
        page.click(".landclass-img button:has-text('Open')")
        wait_message(page, ".landclass-img", "opened")
        for folder in T33_BY_DATE[1:]:
            page.fill(".landclass-image-path input", folder)
            page.click(".landclass-add-image")
            wait_message(page, ".landclass-img", f"added {Path(folder).name}")
        page.wait_for_selector(".landclass-img :text('dates: 2023-08-10, 2023-08-13, 2023-08-15, 2023-08-18, "
                               "2023-08-20')", timeout=60_000)
        masked = scl_masked(Path(T33_BY_DATE[0]) / "SCL.tif").mean()
        info.locator(f"text=2023-08-10 {100 * masked:.1f} %").wait_for(timeout=60_000)
        assert "filled" in info.inner_text()
        bands = page.locator(".landclass-bands select option").all_inner_texts()
        assert bands[:2] == ["20230810_B02", "20230810_B03"] and len(bands) == 20
        training, field = series_points(tmp_path / "points.geojson"), "class"
    else:
        page.fill(".landclass-image-path input", str(DATA / "s2_t11upt" / "T11UPT_*_60m.jp2"))
        page.click(".landclass-img button:has-text('Open')")
        wait_message(page, ".landclass-img", "opened")
        bands = page.locator(".landclass-bands select option").all_inner_texts()
        assert bands == ["B02", "B03", "B04", "B11", "B12", "B8A"]  # the SCL is the mask, not a band
        info.locator("text=cloud mask: 0.05 % of the image is nodata").wait_for(timeout=60_000)
        training, field = DATA / "s2_t11upt" / "landcover.shp", "MC_name"
    # the cloud mask off, then on again: the recipe follows
    page.click(".landclass-cloud-mask input")
    info.locator("text=cloud mask off").wait_for(timeout=60_000)
    assert json.loads((workdir / "recipe.json").read_text())["cloud_mask"]["enabled"] is False
    page.click(".landclass-cloud-mask input")
    info.locator("text=% of the image" if scene != "t33twl-5-dates" else "text=filled").first.wait_for(
        timeout=60_000)
    assert "cloud_mask" not in json.loads((workdir / "recipe.json").read_text())  # the default again
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / f"better-maps-{scene}-1-img.png"))

    click_tab(page, "TRN")
    page.fill(".landclass-trn input[placeholder*='polygons']", str(training))
    page.fill(".landclass-trn .widget-text:has-text('Class field') input", field)
    page.click(".landclass-trn button:has-text('Load training file')")
    wait_message(page, ".landclass-trn", "loaded")
    page.wait_for_selector(".landclass-status-text:has-text('classified with')", timeout=90_000)

    click_tab(page, "CLS")
    page.select_option(".landclass-majority select", label="5 x 5")
    wait_message(page, ".landclass-regularization", "regularization: majority 5x5")
    page.fill(".landclass-mmu input", "3")
    page.press(".landclass-mmu input", "Enter")
    wait_message(page, ".landclass-regularization", "minimum mapping unit 3 px")
    saved = json.loads((workdir / "recipe.json").read_text())
    assert saved["regularization"] == {"majority": 5, "mmu": 3.0, "mmu_unit": "px"}
    page.fill(".landclass-mmu input", "three")
    page.press(".landclass-mmu input", "Enter")
    page.wait_for_selector(".landclass-regularization .landclass-msg-error", timeout=30_000)
    assert json.loads((workdir / "recipe.json").read_text())["regularization"]["mmu"] == 3.0  # unchanged
    page.screenshot(path=str(ARTIFACTS / f"better-maps-{scene}-2-cls.png"))
    page.fill(".landclass-mmu input", "3")
    page.press(".landclass-mmu input", "Enter")

    click_tab(page, "Export")
    name = page.locator(".landclass-recipe-name input").input_value()
    page.click(".landclass-export")
    task = page.locator(".landclass-task").first
    task.locator(".landclass-task-text:has-text('done')").wait_for(timeout=180_000)
    assert f"{name}_areas.csv" in task.inner_text()
    no_app_error(page)
    page.screenshot(path=str(ARTIFACTS / f"better-maps-{scene}-3-exported.png"))
    return name


def check_export(scene, workdir, name):
    from landclass_ui.recipe import Recipe
    from landclass_ui.regularize import regularize

    out = workdir / "downloads" / name / f"{name}.tif"
    with rasterio.open(out) as src:
        classes = src.read(1)
    recipe = Recipe.load(next((workdir / "tasks").glob("*/recipe.json")))
    assert recipe.regularization.majority == 5 and recipe.regularization.mmu == 3
    if scene == "t33twl-5-dates":
        assert len(recipe.images) == 5
        never_clear = np.logical_and.reduce([scl_masked(Path(f) / "SCL.tif") for f in T33])
        assert np.array_equal(classes == 255, never_clear)  # every other cloud filled from another date
    else:
        assert [Path(i.path).name.split("_")[2] for i in recipe.images] == ["B02", "B03", "B04", "B11", "B12",
                                                                             "B8A"]
        scl = scl_masked(DATA / "s2_t11upt" / "T11UPT_20200804T183919_SCL_60m.jp2")
        assert np.array_equal(classes == 255, scl)  # 39 cloud and shadow pixels, kept nodata by the majority
    assert np.array_equal(regularize(classes, mmu=3), classes)  # sieved: no patch under 3 px is left
    areas = (out.with_name(f"{name}_areas.csv")).read_text().splitlines()
    assert areas[0] == "value,class,pixels,hectares,share" and len(areas) >= 4
    assert sum(int(r.split(",")[2]) for r in areas[1:]) == int((classes != 255).sum())
