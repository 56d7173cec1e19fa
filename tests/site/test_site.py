"""The built course site, opened in a real browser (Chromium through Playwright).

For every chapter page: the title, every image loaded, math typeset, the
launch and download buttons, no hidden test on the page, no request leaving
localhost, no failed request and no console error. The widget gallery
(jupyter-book/widget_gallery.ipynb) gets the same checks, plus a still picture
for every course widget. The search page finds each chapter. One screenshot per
part of the table of contents (and of the intro) goes to test-artifacts/site/.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import build_book  # scripts/build_book.py, loaded by conftest.py
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = build_book.discover_chapters()
PAGES = build_book.discover_pages()  # notebook pages kept in jupyter-book/ (the widget gallery)

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
pytestmark = pytest.mark.timeout(600)


def chapter_title(name: str) -> str:
    """The chapter's first level-1 heading in solutions/, as the page shows it (markup removed)."""
    nb = json.loads((ROOT / "solutions" / name / f"{name}.ipynb").read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for line in "".join(cell["source"]).splitlines():
            if line.startswith("# "):
                return re.sub(r"[`*_]|\$", "", line[2:]).strip()
    pytest.fail(f"solutions/{name}/{name}.ipynb has no '# title' heading")


def page_path(name: str) -> str:
    return f"notebooks/{name}/{name}.html"


@dataclass
class Visit:
    """A page opened in a fresh browser context, with what it asked for and what went wrong."""

    page: object
    requests: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def foreign(self) -> list[str]:
        hosts = []
        for url in self.requests:
            parsed = urlparse(url)
            if parsed.scheme in ("data", "blob", "about"):
                continue
            if parsed.hostname not in LOCAL_HOSTS:
                hosts.append(url)
        return hosts


def visit(browser, url: str) -> Visit:
    """Open ``url``; block (and record) any request to another host; wait for MathJax and images."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    v = Visit(page)
    page.on("request", lambda r: v.requests.append(r.url))
    page.on("requestfailed", lambda r: v.failures.append(f"{r.url} ({r.failure})"))
    page.on("response", lambda r: v.failures.append(f"{r.url} (HTTP {r.status})") if r.status >= 400 else None)
    page.on("console", lambda m: v.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: v.errors.append(str(e)))

    def route(r):
        host = urlparse(r.request.url).hostname
        if host in LOCAL_HOSTS or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            r.abort()  # never reach out, but the request is still recorded above

    context.route("**/*", route)
    page.goto(url, wait_until="load")
    page.evaluate(
        """async () => {
            if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
            const imgs = Array.from(document.images);
            imgs.forEach(i => { i.loading = "eager"; });
            await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
        }"""
    )
    page.wait_for_load_state("networkidle")
    return v


def check_clean(v: Visit) -> None:
    assert not v.foreign(), f"requests to other hosts: {v.foreign()}"
    assert not v.failures, f"failed requests: {v.failures}"
    assert not v.errors, f"console errors: {v.errors}"


def test_chapters_found():
    assert CHAPTERS, "no chapter in solutions/"


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_page(browser, base_url, site, name):
    v = visit(browser, f"{base_url}/{page_path(name)}")
    page = v.page
    try:
        title = chapter_title(name)
        assert page.locator("article h1").first.inner_text().strip().rstrip("#").strip() == title
        assert page.title().startswith(title)

        # every image loaded; a chapter shows at least one figure
        images = page.evaluate("Array.from(document.querySelectorAll('article img')).map(i => [i.src, i.naturalWidth])")
        assert images, "the chapter page shows no image (its figures did not render)"
        broken = [src for src, width in images if width == 0]
        assert not broken, f"images that did not load: {broken}"

        # every math element typeset by the vendored MathJax
        math = page.evaluate(
            "Array.from(document.querySelectorAll('article .math')).map(e => e.querySelector('mjx-container') !== null)"
        )
        assert all(math), f"{math.count(False)} of {len(math)} formulas were not typeset"
        if math:
            assert "vendor/mathjax/tex-chtml.js" in page.evaluate(
                "Array.from(document.scripts).map(s => s.src).join(' ')"
            )

        # embedded widget views (e.g. progress bars) rendered by the vendored html-manager
        views = page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count()
        if views:
            page.wait_for_selector(".jupyter-widgets", state="attached", timeout=15_000)

        # hidden tests never reach the page; solutions are behind a toggle
        text = page.locator("article").inner_text()
        assert "HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
        for toggle in page.locator(".tag_course-solution details.hide-input").all():
            assert toggle.get_attribute("open") is None, "a solution is shown without being asked for"

        # launch button: Colab opens the student notebook of this repository
        expected = build_book.course_address().colab_url(f"notebooks/{name}/{name}.ipynb")  # pyproject [tool.course]
        hrefs = page.evaluate("Array.from(document.querySelectorAll('a')).map(a => a.getAttribute('href'))")
        assert expected in hrefs, f"no Colab launch link to {expected}"

        # download button: the student release, byte for byte
        download = [h for h in hrefs if h and h.endswith(f"_sources/notebooks/{name}/{name}.ipynb")]
        assert download, "no download link to the chapter notebook"
        served = (site / "_sources" / "notebooks" / name / f"{name}.ipynb").read_bytes()
        assert served == (ROOT / "notebooks" / name / f"{name}.ipynb").read_bytes()
        response = page.request.get(f"{base_url}/_sources/notebooks/{name}/{name}.ipynb")
        assert response.ok and response.body() == served

        check_clean(v)
    finally:
        page.context.close()


def test_widget_gallery_page(browser, base_url, site):
    """One section per course widget, each showing its still picture; launch and download give the repository's file."""
    from course_utils import widgets

    assert "widget_gallery" in PAGES
    v = visit(browser, f"{base_url}/jupyter-book/widget_gallery.html")
    page = v.page
    try:
        assert page.locator("article h1").first.inner_text().strip().rstrip("#").strip() == "Widget gallery"
        images = page.evaluate("Array.from(document.querySelectorAll('article img')).map(i => [i.src, i.naturalWidth])")
        broken = [src for src, width in images if width == 0]
        assert not broken, f"images that did not load: {broken}"

        # every widget has its section, and the section shows a picture (the static fallback), not a repr
        sections = page.evaluate(
            """Array.from(document.querySelectorAll('article section section')).map(s => [
                s.querySelector('h2') ? s.querySelector('h2').textContent.replace('#', '').trim() : '',
                s.querySelectorAll('.cell_output img').length,
                Array.from(s.querySelectorAll('.cell_output')).map(o => o.innerText).join(' ')])"""
        )
        shown = {title: (count, text) for title, count, text in sections}
        for name in (n for n in widgets.__all__ if n != "display_mode"):
            assert name in shown, f"the gallery has no section for {name}"
            count, text = shown[name]
            assert count >= 1, f"the {name} section shows no picture"
            assert f"{name}(" not in text, f"the {name} section shows the widget's text repr instead of its picture"

        # the chapter links resolve to pages of this site
        links = page.evaluate("Array.from(document.querySelectorAll('article a.reference.internal')).map(a => a.href)")
        assert any("/notebooks/" in link for link in links), "the gallery links to no chapter"
        for link in links:
            assert page.request.get(link.split("#")[0]).ok, f"broken link {link}"

        # launch button: Colab opens this notebook in the repository; download: the same file, byte for byte
        hrefs = page.evaluate("Array.from(document.querySelectorAll('a')).map(a => a.getAttribute('href'))")
        assert build_book.course_address().colab_url("jupyter-book/widget_gallery.ipynb") in hrefs
        assert (ROOT / "jupyter-book" / "widget_gallery.ipynb").is_file()
        assert any(h and h.endswith("_sources/jupyter-book/widget_gallery.ipynb") for h in hrefs), "no download link"
        response = page.request.get(f"{base_url}/_sources/jupyter-book/widget_gallery.ipynb")
        assert response.ok and response.body() == (ROOT / "jupyter-book" / "widget_gallery.ipynb").read_bytes()

        check_clean(v)
    finally:
        page.context.close()


def test_pages_embed_only_the_widget_state_they_show(site):
    """A page without widget views carries no widget models (the course widgets are pictures here)."""
    pages = list(site.rglob("*.html"))
    assert pages
    for html in pages:
        text = html.read_text(errors="replace")
        match = build_book.WIDGET_STATE_RE.search(text)
        if match and not build_book.WIDGET_VIEW_RE.search(text):
            assert json.loads(match.group(2))["state"] == {}, f"{html.relative_to(site)} embeds unused widget models"


def test_prune_widget_state_keeps_what_views_use():
    """Unit check of the pruning on a small page (no build needed)."""
    state = {
        "version_major": 2,
        "version_minor": 0,
        "state": {
            "a1": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_b2"], "layout": "IPY_MODEL_c3"}},
            "b2": {"model_name": "HTMLModel", "state": {"value": "</script> is escaped"}},
            "c3": {"model_name": "LayoutModel", "state": {}},
            "d4": {"model_name": "IntSliderModel", "state": {"layout": "IPY_MODEL_e5"}},
            "e5": {"model_name": "LayoutModel", "state": {}},
        },
    }
    body = json.dumps(state).replace("</", "<\\/")
    view = '<script type="application/vnd.jupyter.widget-view+json">{"version_major": 2, "version_minor": 0, "model_id": "a1"}</script>'
    page = f'<html><script type="application/vnd.jupyter.widget-state+json">{body}</script>{view}</html>'
    pruned = build_book.prune_widget_state(page)
    kept = json.loads(build_book.WIDGET_STATE_RE.search(pruned).group(2))["state"]
    assert set(kept) == {"a1", "b2", "c3"}
    assert kept["b2"]["state"]["value"] == "</script> is escaped" and "</script> is" not in pruned
    no_views = build_book.prune_widget_state(page.replace(view, ""))
    assert json.loads(build_book.WIDGET_STATE_RE.search(no_views).group(2))["state"] == {}
    broken = page.replace(body, "{not json")
    assert build_book.prune_widget_state(broken) == broken
    assert build_book.prune_widget_state("<html></html>") == "<html></html>"


def test_toc_stages_book_pages_at_their_repository_path():
    toc = (
        "format: jb-book\nroot: intro\nparts:\n  - caption: A\n    chapters:\n      - glob: notebooks/0[1-4]_*/*\n"
        "  - caption: Tools\n    chapters:\n      - file: widget_gallery\n"
    )
    expanded = yaml.safe_load(build_book.expand_toc(toc, ["01_convolution"], ["widget_gallery"]))
    assert expanded["parts"][1]["chapters"] == [{"file": "jupyter-book/widget_gallery"}]
    assert expanded["parts"][0]["chapters"] == [{"file": "notebooks/01_convolution/01_convolution"}]
    real = yaml.safe_load(build_book.expand_toc((ROOT / "jupyter-book" / "_toc.yml").read_text(), CHAPTERS, PAGES))
    files = [entry["file"] for part in real["parts"] for entry in part["chapters"]]
    assert "jupyter-book/widget_gallery" in files, "the widget gallery is not in the table of contents"


def test_math_is_typeset_somewhere(browser, base_url):
    """The course has formulas; at least one chapter page shows typeset math."""
    counts = []
    for name in CHAPTERS:
        v = visit(browser, f"{base_url}/{page_path(name)}")
        counts.append(v.page.locator("article mjx-container").count())
        v.page.context.close()
    assert max(counts) > 0, "no chapter page has typeset math"


@pytest.mark.parametrize("name", CHAPTERS)
def test_search_finds_chapter(browser, base_url, name):
    words = re.findall(r"[A-Za-z]{5,}", chapter_title(name))
    assert words, f"the title of {name} has no word to search for"
    term = max(words, key=len).lower()
    v = visit(browser, f"{base_url}/search.html?q={term}")
    try:
        v.page.wait_for_selector("#search-results ul.search li a", timeout=30_000)
        links = v.page.evaluate(
            "Array.from(document.querySelectorAll('#search-results ul.search li a')).map(a => a.href)"
        )
        assert any(page_path(name) in link for link in links), f"searching '{term}' did not list {name}: {links}"
        check_clean(v)
    finally:
        v.page.context.close()


def test_intro_and_screenshots(browser, base_url, site, artifacts):
    """The intro page is clean; one screenshot of the intro and of the first chapter of each part."""
    v = visit(browser, f"{base_url}/intro.html")
    try:
        text = v.page.locator("article").inner_text()
        for topic in ("Who it is for", "Run it on your own machine", "Run it in Colab", "nbgrader"):
            assert topic in text
        check_clean(v)
        v.page.screenshot(path=str(artifacts / "00_intro.png"), full_page=False)
    finally:
        v.page.context.close()

    toc = yaml.safe_load((site.parents[1] / "src" / "_toc.yml").read_text())
    parts = toc.get("parts", [])
    assert parts, "the table of contents has no part"
    for i, part in enumerate(parts, start=1):
        first = part["chapters"][0]["file"]
        v = visit(browser, f"{base_url}/{first}.html")
        try:
            check_clean(v)
            slug = re.sub(r"[^a-z0-9]+", "_", part["caption"].lower()).strip("_")
            shot = artifacts / f"{i:02d}_{slug}.png"
            v.page.screenshot(path=str(shot), full_page=False)
            assert shot.stat().st_size > 10_000
        finally:
            v.page.context.close()
        # the part's caption is in the navigation
        assert part["caption"] in (site / "intro.html").read_text()


def test_no_foreign_urls_in_scripts_or_styles(site):
    """No page loads a script, style sheet or image from another host."""
    pattern = re.compile(r'<(?:script|img|link)\b[^>]*(?:src|href)="(https?:)?//', re.I)
    offenders = []
    for html in site.rglob("*.html"):
        for m in pattern.finditer(html.read_text(errors="replace")):
            tag = html.read_text(errors="replace")[m.start() : m.start() + 160]
            if "<link" in tag and 'rel="stylesheet"' not in tag and 'rel="preload"' not in tag:
                continue
            offenders.append(f"{html.relative_to(site)}: {tag}")
    assert not offenders, offenders


def test_page_preparation_strips_hidden_tests_and_marks_exercises():
    """Unit check of the page preparation on a tiny notebook (no build needed)."""
    nb = {
        "cells": [
            {
                "cell_type": "markdown",
                "id": "a",
                "metadata": {},
                "source": "[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://x/y.ipynb)",
            },
            {
                "cell_type": "code",
                "id": "b",
                "execution_count": None,
                "outputs": [],
                "metadata": {"nbgrader": {"solution": True, "grade": False, "grade_id": "f"}},
                "source": 'def f(x):\n    """Doc."""\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n',
            },
            {
                "cell_type": "code",
                "id": "c",
                "execution_count": None,
                "outputs": [],
                "metadata": {"nbgrader": {"solution": False, "grade": True, "grade_id": "test_f", "points": 1}},
                "source": '"""Check that f works."""\nassert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(2) == 2\n### END HIDDEN TESTS\nprint(\'ok\')',
            },
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    hide = build_book.prepare_notebook(nb, "hide")
    sources = ["".join(c["source"]) for c in hide["cells"]]
    assert sources[0] == "[Open in Colab](https://x/y.ipynb)"
    assert "raise NotImplementedError()" in sources[1] and "return x" not in sources[1]  # the task
    assert sources[2] == 'def f(x):\n    """Doc."""\n    return x'  # the solution, markers dropped
    assert "hide-input" in hide["cells"][2]["metadata"]["tags"]
    assert "f(2)" not in sources[3] and "print('ok')" in sources[3] and "HIDDEN" not in sources[3]
    assert "course-check" in hide["cells"][3]["metadata"]["tags"]
    omit = build_book.prepare_notebook(nb, "omit")
    assert "remove-cell" in omit["cells"][2]["metadata"]["tags"]
    assert "HIDDEN" not in json.dumps(omit)
    with pytest.raises(build_book.BuildError):
        build_book.strip_between("### BEGIN HIDDEN TESTS\nx = 1\n", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


def test_chapters_come_from_the_execution_cache(site):
    """Every staged page (chapters, widget gallery) has a matching jupyter-cache record: a rebuild does not re-execute it."""
    from jupyter_cache import get_cache

    cache = get_cache(site.parents[1] / "_build" / ".jupyter_cache")
    staged = [site.parents[1] / "src" / "notebooks" / name / f"{name}.ipynb" for name in CHAPTERS]
    staged += [site.parents[1] / "src" / "jupyter-book" / f"{name}.ipynb" for name in PAGES]
    for path in staged:
        record = cache.match_cache_file(path)  # KeyError when the page is not cached
        assert record.pk >= 1
