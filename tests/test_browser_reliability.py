"""Nothing lost, in a real browser: two tabs on one recipe, and a recipe whose data folder was moved.

Standalone voila and headless Chromium, offline (the basemaps' requests are aborted), as in
``test_browser_clicks.py``.

1. Two tabs (two kernels) on one work folder: 3 points clicked in the first, then 2 in the second, then 1 in the
   first. All 6 are saved in that order, and each tab shows all of them once it has made its own edit (the issue
   measured 2 of 5 kept). On the bundled Sentinel-2 scene (UTM 31N, a .SAFE).
2. The Landsat 5 band GeoTIFFs (UTM 22S) of a recipe, moved to another folder: the page names the missing files
   above the map; typing the new folder and pressing *Find files* opens the image and classifies it.
"""
from __future__ import annotations

import json
import re
import shutil

from playwright.sync_api import sync_playwright
from test_browser import (
    ARTIFACTS,
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
from test_relocate import DATA, move

from landclass_ui.legend import Legend
from landclass_ui.recipe import ImageRef, Recipe, TrainingRef
from landclass_ui.training import read_training

MAP = ".landclass-app .leaflet-container"


def open_app(browser, url: str):
    page = new_page(browser)
    page.goto(url, timeout=TIMEOUT_MS)
    page.wait_for_selector(MAP, timeout=TIMEOUT_MS)
    return page


def click_points(page, n: int, row: float) -> list[int]:
    """Training mode on, then ``n`` clicks along a row of the map (classes in turn); the classes clicked."""
    if not page.locator(".landclass-training-toggle.mod-active").count():
        page.click(".landclass-training-toggle")
        page.wait_for_selector(".landclass-training-toggle.mod-active", timeout=10_000)
    labels = [x.strip() for x in page.locator(".landclass-class-chooser select option").all_inner_texts()]
    box = page.locator(MAP).bounding_box()
    clicked = []
    for k in range(n):
        label = labels[k % len(labels)]
        choose_class(page, label)
        page.mouse.click(box["x"] + (0.3 + 0.08 * k) * box["width"], box["y"] + row * box["height"])
        clicked.append(int(re.search(r"\((\d+)\)", label).group(1)))
        page.wait_for_timeout(400)
    return clicked


def saved_points(workdir) -> list[dict]:
    saved = json.loads((workdir / "recipe.json").read_text())
    return [q for t in saved["training"] if t["kind"] == "points" for q in t["points"]]


def wait_points(page, n: int) -> None:
    page.get_by_role("tab", name="TRN").click()
    page.wait_for_selector(f".landclass-trn :text('{n} point(s)')", timeout=60_000)


def test_two_tabs_on_one_recipe_keep_every_point(tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    workdir = tmp_path / "work"
    with open(ARTIFACTS / "server-two-tabs.log", "w") as log:
        proc, url = start_server("voila", free_port(), workdir, log)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                first = open_app(browser, url)
                wait_for_picture(first, MAP, timeout=TIMEOUT_MS / 1000)
                second = open_app(browser, url)
                wait_for_picture(second, MAP, timeout=TIMEOUT_MS / 1000)
                first.bring_to_front()
                clicked = click_points(first, 3, 0.35)
                wait_points(first, 3)
                second.bring_to_front()
                clicked += click_points(second, 2, 0.55)
                wait_points(second, 5)  # its own 2 on top of the first tab's 3
                second.wait_for_selector(".landclass-msg:has-text('also edited in another tab')", timeout=30_000)
                markers_second = second.locator(".leaflet-overlay-pane svg path").count()
                second.screenshot(path=str(ARTIFACTS / "two-tabs-second.png"))
                first.bring_to_front()
                clicked += click_points(first, 1, 0.75)
                wait_points(first, 6)
                first.screenshot(path=str(ARTIFACTS / "two-tabs-first.png"))
                browser.close()
        finally:
            stop_server(proc)
    points = saved_points(workdir)
    assert [q["class"] for q in points] == clicked and len(points) == 6
    assert len({(q["x"], q["y"]) for q in points}) == 6
    assert markers_second >= 5  # the second tab drew the first tab's points too


def test_moved_landsat_files_are_found_from_the_page(tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    old = tmp_path / "old" / "l5_amazon"
    shutil.copytree(DATA / "l5_amazon", old)
    labels = read_training(old / "training_polygons.gpkg", "class")["label"]
    recipe = Recipe(name="moved_l5", images=[ImageRef(str(old / f"LT52240631988227CUB02_B{i}.TIF"))
                                             for i in (1, 2, 3, 4, 5, 7)],
                    legend=Legend.from_labels(sorted(set(labels))).to_list(),
                    training=[TrainingRef("file", path=str(old / "training_polygons.gpkg"), class_field="class")])
    workdir = tmp_path / "work"
    workdir.mkdir()
    recipe.save(workdir / "recipe.json")
    new = move(old, tmp_path / "USB drive" / "projects" / "l5_amazon")  # a space in the path, as users have
    with open(ARTIFACTS / "server-relocate.log", "w") as log:
        proc, url = start_server("voila", free_port(), workdir, log)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                page = open_app(browser, url)
                page.wait_for_selector(".landclass-missing-files:has-text('7 file(s) of this recipe are not found')",
                                       timeout=TIMEOUT_MS)
                assert page.locator(".landclass-relocate-box").is_visible()
                page.screenshot(path=str(ARTIFACTS / "relocate-before.png"))
                page.locator(".landclass-relocate-folder input").fill(str(new.parent.parent))
                page.keyboard.press("Tab")
                page.wait_for_timeout(300)
                page.get_by_role("button", name="Find files").click()
                page.wait_for_selector(".landclass-msg-ok:has-text('found 7 of 7 missing file(s)')", timeout=30_000)
                page.wait_for_selector(".landclass-status-text:has-text('classified with')", timeout=TIMEOUT_MS)
                wait_for_picture(page, MAP, timeout=TIMEOUT_MS / 1000)
                assert not page.locator(".landclass-relocate-box").is_visible()
                page.screenshot(path=str(ARTIFACTS / "relocate-after.png"))
                browser.close()
        finally:
            stop_server(proc)
    saved = Recipe.load(workdir / "recipe.json")
    assert all(i.path.startswith(str(new)) for i in saved.images) and saved.training[0].path.startswith(str(new))
