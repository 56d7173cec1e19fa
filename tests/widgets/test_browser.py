"""Real browser: JupyterLab on localhost, a notebook with a KernelExplorer opened in Debian's chromium (Playwright).

Runs the cell, moves the position slider, and checks that the picture the
widget shows changed; at a 900 px notebook column with the file browser open,
checks that every control stays inside the cell. Screenshots go to
``test-artifacts/widgets/``. Chromium and Playwright are installed by
``scripts/ensure_browser.sh`` (``make test`` runs it; never ``playwright install``).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from course_utils.widgets.quiz import encode_answer

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "widgets"
NOTEBOOK = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}},
    "cells": [
        {
            "cell_type": "code",
            "id": "explorer",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": "from course_utils.widgets import KernelExplorer\nKernelExplorer(kernel='sobel_x')",
        },
        {
            "cell_type": "code",
            "id": "quiz",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": "from course_utils.widgets import Quiz\n"
            f"Quiz([{{'question': 'Output width?', 'key': {encode_answer(30, 'Because 32 - 3 + 1 = 30.')!r}}}])",
        },
    ],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a temporary folder with one notebook; yields (url of the notebook, token)."""
    pytest.importorskip("jupyterlab")
    work = tmp_path_factory.mktemp("lab")
    (work / "explorer.ipynb").write_text(json.dumps(NOTEBOOK))
    port, token = free_port(), secrets.token_hex(16)
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        JUPYTER_CONFIG_DIR=str(work / ".config"),
        JUPYTER_RUNTIME_DIR=str(work / ".runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(work / ".settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(work / ".workspaces"),
    )
    env.pop("COURSE_WIDGETS", None)
    log = open(work / "lab.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={work}",
            "--LabApp.news_url=None",
            "--ServerApp.port_retries=0",
            *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        ],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    pytest.fail(f"JupyterLab did not start: {(work / 'lab.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/lab/tree/explorer.ipynb?token={token}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def launch(pw):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; run scripts/ensure_browser.sh (make test does).")
    return pw.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=["--disable-gpu", "--disable-dev-shm-usage"]
    )


def playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed; run scripts/ensure_browser.sh (make test does).")
    return sync_playwright()


def run_code_cell(page, lab, index: int = 0):
    """Open the notebook, run its code cell number ``index`` once the kernel is idle; return the cell locator."""
    page.goto(lab, timeout=60_000)
    cell = page.locator(".jp-Notebook .jp-CodeCell").nth(index)
    cell.wait_for(timeout=60_000)
    # the kernel must be connected and idle before the cell runs, or the request is dropped
    page.get_by_text("Python 3 (ipykernel) | Idle").first.wait_for(timeout=90_000)
    cell.locator(".cm-content, .CodeMirror").first.click()
    page.keyboard.press("Shift+Enter")
    return cell


def run_explorer_cell(page, lab):
    """Run the notebook's first cell (the KernelExplorer); return (cell locator, picture locator)."""
    cell = run_code_cell(page, lab, 0)
    picture = cell.locator("img.widget-image").first
    picture.wait_for(state="visible", timeout=90_000)
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=picture.element_handle(), timeout=30_000
    )
    return cell, picture


@pytest.mark.slow
def test_slider_changes_the_picture_in_jupyterlab(lab):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            cell, picture = run_explorer_cell(page, lab)
            before_src = picture.get_attribute("src")
            before = picture.screenshot(path=str(ARTIFACTS / "kernel_explorer_before.png"))
            where = cell.locator(".widget-html:has-text('(row, column)')").first.inner_text()
            track = cell.locator(".widget-slider:has(label:text-is('position')) .slider").first
            box = track.bounding_box()
            track.click(position={"x": box["width"] * 0.2, "y": box["height"] / 2})  # the position slider moves
            page.wait_for_function(
                "([img, src]) => img.src !== src && img.complete && img.naturalWidth > 0",
                arg=[picture.element_handle(), before_src],
                timeout=30_000,
            )
            after = picture.screenshot(path=str(ARTIFACTS / "kernel_explorer_after.png"))
            page.screenshot(path=str(ARTIFACTS / "jupyterlab_kernel_explorer.png"), full_page=True)
            assert before != after, "the KernelExplorer picture did not change after the slider moved"
            moved = cell.locator(".widget-html:has-text('(row, column)')").first.inner_text()
            assert moved != where and "(row, column) = (" in moved, (where, moved)
            for label in ("kernel", "stride", "padding", "dilation"):
                assert cell.locator(f".widget-inline-hbox:has(label:text-is('{label}'))").first.is_visible(), label
            assert "out[" in cell.locator(".widget-html").all_inner_texts().__str__()
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()


CONTROLS = (
    "img.widget-image, .widget-play, .widget-slider, .widget-dropdown, .widget-toggle-buttons, .widget-text, "
    ".widget-html, .widget-gridbox, button, input, select"
)


@pytest.mark.slow
def test_every_control_fits_a_900px_column_with_the_file_browser_open(lab):
    """Issue 10: in a 900 px notebook column (JupyterLab, file browser open) no KernelExplorer control lies
    outside its cell: the controls wrap below the picture instead of being clipped."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page(viewport={"width": 1240, "height": 1000})
            cell, picture = run_explorer_cell(page, lab)
            assert page.locator("#filebrowser").first.is_visible(), "the file browser should be open"
            panel = page.locator(".jp-NotebookPanel").first
            page.set_viewport_size({"width": 1240 + 900 - round(panel.bounding_box()["width"]), "height": 1000})
            page.wait_for_function(
                "(el) => Math.abs(el.getBoundingClientRect().width - 900) <= 2",
                arg=panel.element_handle(),
                timeout=10_000,
            )
            page.wait_for_timeout(300)  # let the output re-flow
            page.screenshot(path=str(ARTIFACTS / "kernel_explorer_900px.png"), full_page=True)
            bounds = cell.bounding_box()
            boxes = cell.locator(".jp-OutputArea-output").first.evaluate(
                """(out, sel) => [...out.querySelectorAll(sel)].filter(e => e.offsetParent !== null).map(e => {
                       const r = e.getBoundingClientRect();
                       return {name: e.className || e.tagName, x: r.x, y: r.y, right: r.right, bottom: r.bottom}; })""",
                CONTROLS,
            )
            assert len(boxes) > 40, boxes  # the picture, sliders, toggles, the 9 grid boxes, ...
            outside = [b for b in boxes if b["x"] < bounds["x"] - 1 or b["right"] > bounds["x"] + bounds["width"] + 1]
            assert not outside, (
                f"cell spans x {bounds['x']:.0f}-{bounds['x'] + bounds['width']:.0f}; outside: {outside}"
            )
            image = picture.bounding_box()
            preset = cell.locator(".widget-dropdown:has(label:text-is('kernel'))").first.bounding_box()
            assert preset["y"] >= image["y"] + image["height"] - 1, "the controls should wrap below the picture"
            output = cell.locator(".jp-OutputArea-output").first
            assert output.evaluate("(e) => e.scrollWidth <= e.clientWidth + 1"), "the output scrolls sideways"
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure_900px.png"), full_page=True)
            raise
        finally:
            browser.close()


@pytest.mark.slow
def test_quiz_enter_submits_and_explains_only_after_an_attempt(lab):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            cell = run_code_cell(page, lab, 1)
            box = cell.locator(".widget-text input").first
            box.wait_for(state="visible", timeout=90_000)
            assert "32 - 3 + 1" not in cell.inner_text()  # neither in the cell's source nor in the widget
            output = cell.locator(".jp-OutputArea").first
            assert "Output width?" in output.inner_text()
            box.fill("31")
            box.press("Enter")  # no button: Enter alone sends the answer
            cell.get_by_text("Not quite").first.wait_for(timeout=30_000)
            assert "32 - 3 + 1 = 30" in output.inner_text()
            box.fill("30")
            box.press("Enter")
            cell.get_by_text("Right.").first.wait_for(timeout=30_000)
            assert "1 of 1 right so far" in output.inner_text()
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure_quiz.png"), full_page=True)
            raise
        finally:
            browser.close()
