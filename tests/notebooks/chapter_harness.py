"""Run a chapter's solution notebook in-process and swap in other answers, to test its autograder cells.

The per-chapter tests (``test_chapterNN_checks.py``) use this to show that the
checks can fail: the reference solution passes every autograder cell (hidden
tests included), nbgrader's stub fails each one with "not written yet", and a
deliberately wrong answer per exercise fails with a readable ``CheckFailed``
message, either already in the visible checks or only in the hidden tests.

Cells run with ``exec`` in one namespace, in notebook order, after IPython
syntax (``%pip``) is turned into plain Python, with ``COURSE_SMOKE=1`` and the
Agg backend: by default only the setup cell and the exercise cells, so every
autograder cell is shown to work without the concept cells (the whole notebook
is executed by nbval in test_solutions_execute.py). Nothing is written to the
chapter's folder. (tests/notebooks/nbtools.py, written for chapter 01 at the
same time, does the same job; the two can be merged.)
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parents[2]
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
STUB = "raise NotImplementedError()"


def load(chapter: str) -> nbformat.NotebookNode:
    return nbformat.read(str(ROOT / "solutions" / chapter / f"{chapter}.ipynb"), as_version=nbformat.NO_CONVERT)


def meta(cell: Any) -> dict:
    return dict(cell.get("metadata", {}).get("nbgrader", {}) or {})


def solution_cells(nb: nbformat.NotebookNode) -> dict[str, Any]:
    return {meta(c)["grade_id"]: c for c in nb.cells if meta(c).get("solution")}


def test_cells(nb: nbformat.NotebookNode) -> dict[str, Any]:
    return {meta(c)["grade_id"]: c for c in nb.cells if meta(c).get("grade") and not meta(c).get("solution")}


def structure_problems(nb: nbformat.NotebookNode) -> list[str]:
    """What breaks the course's conventions for graded cells (empty when none)."""
    problems = []
    if (nb.nbformat, nb.nbformat_minor) < (4, 5):
        problems.append(f"nbformat {nb.nbformat}.{nb.nbformat_minor}, expected 4.5 with cell ids")
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        problems.append("kernelspec is not python3")
    ids = Counter(c.get("id") for c in nb.cells)
    if None in ids or any(n > 1 for n in ids.values()):
        problems.append("cell ids missing or repeated")
    grade_ids = Counter(meta(c).get("grade_id") for c in nb.cells if meta(c))
    problems += [f"grade_id {g!r} used {n} times" for g, n in grade_ids.items() if n > 1]
    for c in nb.cells:
        if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None):
            problems.append(f"cell {c.get('id')} has stored outputs")
    solutions, tests = solution_cells(nb), test_cells(nb)
    for gid, cell in solutions.items():
        if f"test_{gid}" not in tests:
            problems.append(f"exercise {gid!r} has no autograder cell 'test_{gid}'")
        if cell.source.count(BEGIN_SOLUTION) != 1 or cell.source.count(END_SOLUTION) != 1:
            problems.append(f"exercise {gid!r} needs exactly one solution block")
        if meta(cell).get("locked") or meta(cell).get("grade"):
            problems.append(f"exercise {gid!r} must be unlocked and ungraded")
    for gid, cell in tests.items():
        if gid.removeprefix("test_") not in solutions:
            problems.append(f"autograder cell {gid!r} has no exercise {gid.removeprefix('test_')!r}")
        if not meta(cell).get("points", 0) > 0:
            problems.append(f"autograder cell {gid!r} has no points")
        if not meta(cell).get("locked"):
            problems.append(f"autograder cell {gid!r} is not locked")
        if not cell.source.startswith('"""Check that'):
            problems.append(f"autograder cell {gid!r} does not start with a docstring 'Check that ...'")
        if cell.source.count(BEGIN_HIDDEN) != 1 or cell.source.count(END_HIDDEN) != 1:
            problems.append(f"autograder cell {gid!r} needs exactly one hidden-test block")
    return problems


def python(source: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def visible(source: str) -> str:
    """A test cell as the student release shows it: the hidden-test block removed."""
    return re.sub(rf"[ \t]*{BEGIN_HIDDEN}.*?{END_HIDDEN}[^\n]*\n?", "", source, flags=re.S)


def with_answer(source: str, body: str) -> str:
    """A solution cell whose solution block is replaced by ``body`` (indented like the block)."""
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if BEGIN_SOLUTION in line)
    end = next(i for i, line in enumerate(lines) if END_SOLUTION in line)
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    new = textwrap.indent(textwrap.dedent(body).strip("\n"), indent).splitlines()
    return "\n".join(lines[:start] + new + lines[end + 1 :])


def run(source: str, namespace: dict) -> str:
    """Execute one cell's source in ``namespace``; returns what it printed."""
    import matplotlib.pyplot as plt

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(python(source), "<cell>", "exec"), namespace)  # noqa: S102 - our own notebook
    plt.close("all")
    return out.getvalue()


def run_notebook(nb: nbformat.NotebookNode, *, graded_only: bool = True) -> dict:
    """Run code cells in order in smoke mode; returns the namespace.

    With ``graded_only`` (the default) only the setup cell (the first code cell)
    and the exercise cells run, as when a submission is verified: every
    exercise and every autograder cell must work without the concept cells.
    """
    os.environ["COURSE_SMOKE"] = "1"
    import matplotlib

    matplotlib.use("Agg")
    namespace: dict = {"__name__": "__main__"}
    code = [c for c in nb.cells if c.cell_type == "code"]
    for index, cell in enumerate(code):
        if not graded_only or index == 0 or meta(cell).get("solution"):
            run(cell.source, namespace)
    return namespace


def outcome(namespace: dict, solution: str, test: str) -> str:
    """``"pass"`` or the CheckFailed message of ``test`` after running ``solution`` in a copy of ``namespace``."""
    from course_utils.errors import CheckFailed

    ns = dict(namespace)
    run(solution, ns)
    try:
        run(test, ns)
    except CheckFailed as exc:
        return str(exc)
    return "pass"
