"""Fixtures for the site tests: the book built once, served on localhost, opened in Chromium.

The site is built by scripts/build_book.py (smoke mode, solutions behind a toggle;
jupyter-cache makes a rebuild of unchanged chapters take seconds), served by
http.server on 127.0.0.1 in a thread, and opened by Playwright for Python with
Debian's chromium (never a browser download). Both are installed by
scripts/ensure_browser.sh, which `make test` runs; here a missing one is an error,
not a skip.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "site"


def _load_build_book():
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "scripts" / "build_book.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_book"] = module
    spec.loader.exec_module(module)
    return module


build_book = _load_build_book()
CHAPTERS = build_book.discover_chapters()


@pytest.fixture(scope="session")
def site() -> Path:
    """The html folder of a fresh smoke-mode build (rebuilt here; cached execution keeps it quick)."""
    if not CHAPTERS:
        pytest.fail("no chapters in solutions/: the site has nothing to show")
    try:
        return build_book.build("smoke", "hide", quiet=True)
    except build_book.BuildError as exc:
        pytest.fail(f"the book did not build: {exc}")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="session")
def base_url(site: Path) -> Iterator[str]:
    """The site served on 127.0.0.1 (a free port) for the whole session."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def browser():
    """Headless Debian chromium driven by Playwright."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; run scripts/ensure_browser.sh (make test does).")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed; run scripts/ensure_browser.sh (make test does).")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--disable-gpu", "--disable-dev-shm-usage"]
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
