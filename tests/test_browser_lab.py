"""The app in JupyterLab, as a user runs it there: open app.ipynb, run its cells, see the image's tiles, click
two training points, see the map classified (the ``.[lab]`` extra; the tiles reach the page through the
Jupyter server's proxy)."""
from __future__ import annotations

import shutil
import time

from playwright.sync_api import sync_playwright
from test_browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    JS_PIXELS,
    ROOT,
    TIMEOUT_MS,
    choose_class,
    free_port,
    new_page,
    start_server,
    stop_server,
    wait_for_picture,
)


def accept_kernel(page) -> bool:
    """JupyterLab sometimes asks which kernel to start for the notebook (a "Select Kernel" dialog over the
    page, which takes every click): choose the proposed one, Python 3, as a person would. True when it did."""
    dialog = page.locator(".jp-Dialog:has-text('Select Kernel')")
    if not dialog.count():
        return False
    dialog.locator("button.jp-mod-accept").click()
    dialog.wait_for(state="detached", timeout=10_000)
    return True


def run_all_cells(page, attempts: int = 4) -> None:
    """Run > Run All Cells, until the code cell runs: a freshly opened notebook can show an idle kernel
    before its session accepts requests, and a first Run All is then lost."""
    started = ".jp-CodeCell .jp-InputPrompt:text-matches('\\[(\\*|\\d+)\\]')"
    for attempt in range(attempts):
        try:
            accept_kernel(page)
            page.click(".lm-MenuBar-itemLabel:text-is('Run')", timeout=10_000)
            page.click(".lm-Menu-itemLabel:text-is('Run All Cells')", timeout=10_000)
            page.wait_for_selector(started, timeout=20_000)
            return
        except Exception:
            if attempt == attempts - 1:
                raise
            if not accept_kernel(page):
                page.keyboard.press("Escape")  # a menu left open


def run_app(page, attempts: int = 3) -> None:
    """Run the notebook until the app shows. On a loaded machine JupyterLab may switch kernels after the first
    Run All (its "Select Kernel" dialog, answered by :func:`accept_kernel`): the cell's prompt is then empty
    again and nothing runs, so a person runs it again."""
    for attempt in range(attempts):
        run_all_cells(page)
        try:
            page.wait_for_function(
                """() => document.querySelector('.landclass-app .leaflet-container') ||
                         [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                           .some(p => p.textContent.trim() === '[ ]:')""", timeout=TIMEOUT_MS, polling=500)
        except Exception:
            if attempt == attempts - 1:
                raise
        if page.locator(".landclass-app .leaflet-container").count():
            return
        print(f"[lab] the cell did not run (kernel switched?): running it again ({attempt + 1})")
        accept_kernel(page)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=TIMEOUT_MS)
    page.wait_for_selector(".landclass-app .leaflet-container", timeout=TIMEOUT_MS)


def test_app_runs_in_jupyterlab(tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    workdir = tmp_path / "work"
    port = free_port()
    notebooks = tmp_path / "notebooks"  # a copy: JupyterLab saves the outputs into the notebook it runs
    notebooks.mkdir()
    shutil.copy(ROOT / "app.ipynb", notebooks / "app.ipynb")
    with open(ARTIFACTS / "server-lab.log", "w") as log:
        proc, url = start_server("jupyter", port, workdir, log, root=notebooks)
        lab = url.replace("/voila/render/app.ipynb", "/lab/tree/app.ipynb")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                page = new_page(browser, 1500, 1000)
                try:
                    start = time.perf_counter()
                    page.goto(lab, timeout=TIMEOUT_MS)
                    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=TIMEOUT_MS)
                    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                           timeout=TIMEOUT_MS)
                    run_app(page)
                    wait_for_picture(page, ".landclass-app .leaflet-container", timeout=TIMEOUT_MS / 1000)
                    page.wait_for_selector(".landclass-status-text:has-text('at least two classes')",
                                           timeout=TIMEOUT_MS)
                    print(f"\n[lab] dashboard with image tiles after {time.perf_counter() - start:.1f} s")
                    page.click(".landclass-training-toggle")
                    box = page.locator(".landclass-app .leaflet-container").bounding_box()
                    for label, fx, fy in (("WATER (3)", 0.30, 0.35), ("FOREST (2)", 0.55, 0.55)):
                        choose_class(page, label)
                        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
                    page.wait_for_selector(".landclass-status-text:has-text('classified with 2 training pixels')",
                                           timeout=TIMEOUT_MS)
                    page.wait_for_function(
                        "(idx) => (p => p.opaque > 0.3 && p.colours.length >= 2)((" + JS_PIXELS + ")(idx))",
                        arg="class", timeout=90_000, polling=250)
                    assert page.locator(".landclass-msg-error").count() == 0
                    page.screenshot(path=str(ARTIFACTS / "dashboard-lab.png"))
                except Exception:
                    page.screenshot(path=str(ARTIFACTS / "dashboard-lab-failed.png"))
                    raise
                browser.close()
        finally:
            stop_server(proc)
