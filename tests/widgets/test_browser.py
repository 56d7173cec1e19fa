"""Real browser: JupyterLab on localhost, a notebook with a KernelExplorer opened in Debian's chromium (Playwright).

Runs the cell, moves the position slider through its readout, and checks that
the picture the widget shows changed. Screenshots go to
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

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "widgets"
NOTEBOOK = {
    "nbformat": 4, "nbformat_minor": 5,
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}},
    "cells": [{"cell_type": "code", "id": "explorer", "metadata": {}, "execution_count": None, "outputs": [],
               "source": "from course_utils.widgets import KernelExplorer\nKernelExplorer(kernel='sobel_x')"}],
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
    env = dict(os.environ, PYTHONPATH=str(ROOT), JUPYTER_CONFIG_DIR=str(work / ".config"),
               JUPYTER_RUNTIME_DIR=str(work / ".runtime"), JUPYTERLAB_SETTINGS_DIR=str(work / ".settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(work / ".workspaces"))
    env.pop("COURSE_WIDGETS", None)
    log = open(work / "lab.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--LabApp.news_url=None",
                             "--ServerApp.port_retries=0",
                             *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
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


@pytest.mark.slow
def test_slider_changes_the_picture_in_jupyterlab(lab):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; run scripts/ensure_browser.sh (make test does).")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed; run scripts/ensure_browser.sh (make test does).")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--disable-gpu", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(lab, timeout=60_000)
            cell = page.locator(".jp-Notebook .jp-CodeCell").first
            cell.wait_for(timeout=60_000)
            # the kernel must be connected and idle before the cell runs, or the request is dropped
            page.get_by_text("Python 3 (ipykernel) | Idle").first.wait_for(timeout=90_000)
            cell.locator(".cm-content, .CodeMirror").first.click()
            page.keyboard.press("Shift+Enter")
            picture = cell.locator("img.widget-image").first
            picture.wait_for(state="visible", timeout=90_000)
            page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=picture.element_handle(), timeout=30_000)
            before_src = picture.get_attribute("src")
            before = picture.screenshot(path=str(ARTIFACTS / "kernel_explorer_before.png"))
            readout = cell.locator(".widget-slider:has(label:text-is('position')) .widget-readout").first
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type("300")
            page.keyboard.press("Enter")
            page.wait_for_function("([img, src]) => img.src !== src && img.complete && img.naturalWidth > 0",
                                   arg=[picture.element_handle(), before_src], timeout=30_000)
            after = picture.screenshot(path=str(ARTIFACTS / "kernel_explorer_after.png"))
            page.screenshot(path=str(ARTIFACTS / "jupyterlab_kernel_explorer.png"), full_page=True)
            assert before != after, "the KernelExplorer picture did not change after the slider moved"
            for label in ("kernel", "stride", "padding", "dilation"):
                assert cell.locator(f".widget-inline-hbox:has(label:text-is('{label}'))").first.is_visible(), label
            assert "out[" in cell.locator(".widget-html").all_inner_texts().__str__()
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
