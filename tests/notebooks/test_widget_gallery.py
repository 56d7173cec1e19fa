"""The widget gallery (jupyter-book/widget_gallery.ipynb) shows every course widget and runs in smoke mode.

The gallery is a page of the course site, not a chapter: nothing in it is graded,
so it has no solutions/ source and no release. It is executed here by nbval
(`--nbval-lax`, as the chapters are) with COURSE_SMOKE=1 and MPLBACKEND=Agg, so
a broken gallery fails the notebooks stage of `make test` before the book build
does; it must finish within the smoke budget and leave no file in
jupyter-book/. The site tests check its pictures in a browser.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "grading"))
from gradetools import ROOT, report, run_nbval  # noqa: E402

GALLERY = ROOT / "jupyter-book" / "widget_gallery.ipynb"
BUDGET_S = float(os.environ.get("COURSE_NOTEBOOK_BUDGET_S", "60"))
CELL_TIMEOUT_S = 120
GENERATED = {"_build", "_vendor", ".ipynb_checkpoints", "__pycache__"}  # made by the book build, not by the gallery


@pytest.fixture(scope="module")
def gallery() -> nbformat.NotebookNode:
    assert GALLERY.is_file(), "jupyter-book/widget_gallery.ipynb is missing"
    return nbformat.read(GALLERY, as_version=4)


def test_gallery_builds_every_widget(gallery) -> None:
    """Each widget of course_utils.widgets has a section and a code cell that builds it; no stored outputs."""
    from course_utils import widgets

    code = "\n".join(c.source for c in gallery.cells if c.cell_type == "code")
    headings = [
        line[3:].strip()
        for c in gallery.cells
        if c.cell_type == "markdown"
        for line in c.source.splitlines()
        if line.startswith("## ")
    ]
    for name in (n for n in widgets.__all__ if n != "display_mode"):
        assert name in headings, f"the gallery has no '## {name}' section"
        assert re.search(rf"\b{name}\(", code), f"no code cell of the gallery builds a {name}"
    assert all(not c.get("outputs") for c in gallery.cells if c.cell_type == "code"), (
        "the gallery is stored with outputs; clear them (the book executes it)"
    )


def test_gallery_runs_in_smoke_mode(request: pytest.FixtureRequest) -> None:
    folder = GALLERY.parent
    run = run_nbval(GALLERY, ignore=GENERATED, cell_timeout=CELL_TIMEOUT_S, timeout=max(300.0, 5 * BUDGET_S))
    code, output, seconds, left = run.code, run.output, run.seconds, run.left
    report(
        request.config,
        f"\n[gallery] jupyter-book/widget_gallery.ipynb: executed with nbval in {seconds:.1f} s (budget {BUDGET_S:.0f} s)",
    )

    assert code == 0, f"jupyter-book/widget_gallery.ipynb failed under nbval (exit {code}):\n{output[-8000:]}"
    assert " passed" in output, output[-2000:]
    assert not left, (
        f"running the gallery wrote {[str(p.relative_to(folder)) for p in left]} into jupyter-book/ (removed again)"
    )
    assert seconds < BUDGET_S, f"the gallery took {seconds:.1f} s in smoke mode, over the {BUDGET_S:.0f} s budget"
