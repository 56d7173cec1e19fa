"""Run a chapter's exercise and autograder cells inside pytest, without a kernel.

A chapter's checks are only worth something if they pass the reference
solution *and* reject wrong answers with a readable message. These helpers
load ``solutions/NN_topic/NN_topic.ipynb``, build a namespace from its setup,
hyper-parameter and solution cells, let a test swap one solution for a wrong
answer, and run an autograder cell's source (hidden tests included) while
capturing what it prints. They also list the ways a notebook breaks the
chapter conventions (``structure_problems``), so each chapter's test file can
assert the same layout.

Example:
    >>> nb = load_solution("01_convolution")
    >>> ns = namespace(nb)
    >>> run_cell(autograder_source(nb, "conv2d_loops"), ns).stdout
    '✓ conv2d_loops matches the reference on 2 cases\\n...'
"""

from __future__ import annotations

import ast
import contextlib
import io
import linecache
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

os.environ.setdefault("MPLBACKEND", "Agg")  # setup cells import pyplot; never open a window in tests

ROOT = Path(__file__).resolve().parents[2]

COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
GRADE_ID = re.compile(r"^[a-z][a-z0-9_]{2,40}$")
HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.S | re.M)


def load_solution(chapter: str) -> nbformat.NotebookNode:
    """The instructor notebook ``solutions/<chapter>/<chapter>.ipynb``."""
    return nbformat.read(str(ROOT / "solutions" / chapter / f"{chapter}.ipynb"), as_version=4)


def nbgrader(cell: Any) -> dict:
    """The cell's nbgrader metadata (empty when it has none)."""
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def solution_cells(nb: nbformat.NotebookNode) -> list[Any]:
    return [c for c in nb.cells if c.cell_type == "code" and nbgrader(c).get("solution")]


def grade_cells(nb: nbformat.NotebookNode) -> list[Any]:
    return [c for c in nb.cells if c.cell_type == "code" and nbgrader(c).get("grade")]


def cell(nb: nbformat.NotebookNode, grade_id: str) -> Any:
    """The cell whose nbgrader ``grade_id`` is ``grade_id``."""
    found = [c for c in nb.cells if nbgrader(c).get("grade_id") == grade_id]
    assert len(found) == 1, f"expected one cell with grade_id {grade_id!r}, found {len(found)}"
    return found[0]


def autograder_source(nb: nbformat.NotebookNode, exercise: str) -> str:
    """Source of the autograder cell of ``exercise`` (grade_id ``test_<exercise>``), hidden tests included."""
    return cell(nb, f"test_{exercise}").source


def without_hidden(source: str) -> str:
    """What the learner sees of an autograder cell: the source minus its hidden-test block."""
    return HIDDEN.sub("", source)


def to_python(source: str) -> str:
    """Turn notebook syntax (``%pip``, ``!cmd``) into plain Python, as IPython does before running a cell."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _compile(source: str, label: str, mode: str = "exec") -> Any:
    filename = f"<notebook cell {label}>"
    # Registered like IPython does, so tracebacks and course_utils' "at line N" can quote the learner's line.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return compile(source, filename, mode)


def exec_source(source: str, ns: dict, label: str = "cell") -> Any:
    """Execute a cell's source in ``ns``; return the value of its last expression (None when it ends otherwise)."""
    tree = ast.parse(to_python(source))
    last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    if last is not None:
        tree.body = tree.body[:-1]
    exec(_compile(ast.unparse(tree), label), ns)
    return eval(_compile(ast.unparse(last.value), label, "eval"), ns) if last is not None else None


def setup_cell(nb: nbformat.NotebookNode) -> Any:
    """The one setup cell: the code cell that installs the course in Colab."""
    found = [c for c in nb.cells if c.cell_type == "code" and "google.colab" in c.source]
    assert len(found) == 1, f"expected exactly one setup cell (with the Colab install), found {len(found)}"
    return found[0]


def hyper_cell(nb: nbformat.NotebookNode) -> Any:
    found = [c for c in nb.cells if c.cell_type == "code" and "budget(" in c.source and not nbgrader(c)]
    assert len(found) == 1, f"expected one hyper-parameter cell reading budget(...), found {len(found)}"
    return found[0]


def namespace(nb: nbformat.NotebookNode, *, replace: dict[str, str] | None = None) -> dict:
    """A fresh namespace with the setup and hyper-parameter cells run and every solution cell defined.

    ``replace`` maps an exercise's grade_id to source code to run *instead of* its
    solution cell, e.g. ``{"conv2d_loops": "def conv2d_loops(x, weight, bias=None): ..."}``.
    """
    replace = dict(replace or {})
    ns: dict = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec_source(setup_cell(nb).source, ns, "setup")
        exec_source(hyper_cell(nb).source, ns, "hyper-parameters")
        for c in solution_cells(nb):
            grade_id = nbgrader(c)["grade_id"]
            exec_source(replace.pop(grade_id, c.source), ns, grade_id)
    assert not replace, f"no solution cell for {sorted(replace)}"
    return ns


@dataclass
class Ran:
    stdout: str
    stderr: str
    value: Any = None


def run_cell(source: str, ns: dict, label: str = "cell") -> Ran:
    """Run ``source`` in ``ns`` capturing stdout and stderr; exceptions propagate."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        value = exec_source(source, ns, label)
    return Ran(out.getvalue(), err.getvalue(), value)


def readable(message: str) -> list[str]:
    """Ways a check message fails to read as plain advice (empty when it is fine)."""
    problems = []
    if "Traceback" in message or 'File "' in message:
        problems.append("it contains traceback text")
    if "course_utils/" in message or "site-packages" in message:
        problems.append("it names a file inside the course package or site-packages")
    if len(message) > 700:
        problems.append(f"it is {len(message)} characters long")
    if not message.strip():
        problems.append("it is empty")
    return problems


def structure_problems(nb: nbformat.NotebookNode, chapter: str) -> list[str]:
    """Every way the notebook departs from the chapter conventions (CONTEXT.md, GUIDE.md); empty when none."""
    problems: list[str] = []
    if (nb.nbformat, nb.nbformat_minor) < (4, 5):
        problems.append(f"nbformat {nb.nbformat}.{nb.nbformat_minor}; cell ids need 4.5")
    if nb.metadata.get("kernelspec") != KERNELSPEC:
        problems.append(f"kernelspec is {nb.metadata.get('kernelspec')}, expected {KERNELSPEC}")
    ids = [c.get("id") for c in nb.cells]
    if None in ids or len(set(ids)) != len(ids):
        problems.append("cell ids are missing or repeated")
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and (c.outputs or c.execution_count is not None):
            problems.append(f"cell {i} has stored outputs or an execution count")
    first = nb.cells[0].source if nb.cells else ""
    badge = f"{COLAB_BADGE})](https://colab.research.google.com/github/cnn-course/cnn-course/blob/main/notebooks/{chapter}/{chapter}.ipynb)"
    if nb.cells[0].cell_type != "markdown" or not first.startswith("# ") or badge not in first:
        problems.append("the first cell is not a markdown title with the chapter's Open in Colab badge")
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    for heading, low, high in (("## Objectives", 3, 5), ("## Recap", 3, 3)):
        found = [m for m in markdown if m.startswith(heading)]
        bullets = len(re.findall(r"^- ", found[0], re.M)) if found else 0
        if not low <= bullets <= high:
            problems.append(f"{heading!r} should have {low}-{high} bullets, found {bullets if found else 'no such cell'}")
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or "Quiz(" not in code[-1].source:
        problems.append("the last code cell is not the quiz (Quiz([...]))")
    setups = [c for c in code if "google.colab" in c.source]
    if len(setups) != 1 or "seed_everything(" not in setups[0].source or "print(describe())" not in setups[0].source:
        problems.append("there is not exactly one setup cell that installs in Colab, seeds and prints describe()")
    # Exercises: solution cell, then its locked autograder cell.
    grade_ids = [nbgrader(c).get("grade_id") for c in nb.cells if nbgrader(c)]
    if len(set(grade_ids)) != len(grade_ids):
        problems.append(f"repeated grade_ids: {grade_ids}")
    for gid in grade_ids:
        if not isinstance(gid, str) or not GRADE_ID.match(gid):
            problems.append(f"grade_id {gid!r} is not a readable snake_case name")
    position = {id(c): i for i, c in enumerate(nb.cells)}
    for sol in solution_cells(nb):
        meta, gid = nbgrader(sol), nbgrader(sol).get("grade_id")
        if meta.get("grade") or meta.get("locked") or meta.get("schema_version") != 3:
            problems.append(f"solution cell {gid!r} has wrong metadata {meta}")
        if "### BEGIN SOLUTION" not in sol.source or "### END SOLUTION" not in sol.source or '"""' not in sol.source:
            problems.append(f"solution cell {gid!r} lacks a docstring or the BEGIN/END SOLUTION delimiters")
        tests = [c for c in grade_cells(nb) if nbgrader(c).get("grade_id") == f"test_{gid}"]
        if len(tests) != 1:
            problems.append(f"solution cell {gid!r} has no autograder cell test_{gid}")
            continue
        t, tmeta = tests[0], nbgrader(tests[0])
        if position[id(t)] < position[id(sol)]:
            problems.append(f"test_{gid} comes before its solution cell")
        if not tmeta.get("locked") or tmeta.get("solution") or tmeta.get("schema_version") != 3:
            problems.append(f"test_{gid} has wrong metadata {tmeta}")
        points = tmeta.get("points")
        if not isinstance(points, (int, float)) or not 1 <= points <= 3:
            problems.append(f"test_{gid} is worth {points!r} points; give it 1 to 3")
        if not t.source.startswith('"""Check that'):
            problems.append(f"test_{gid} does not start with a docstring \"\"\"Check that ...")
        if "### BEGIN HIDDEN TESTS" not in t.source or "### END HIDDEN TESTS" not in t.source:
            problems.append(f"test_{gid} has no hidden tests")
        if "course_utils.checks" not in t.source:
            problems.append(f"test_{gid} does not use course_utils.checks")
    orphans = {nbgrader(c)["grade_id"] for c in grade_cells(nb)} - {f"test_{nbgrader(s)['grade_id']}" for s in solution_cells(nb)}
    if orphans:
        problems.append(f"autograder cells without a solution cell: {sorted(orphans)}")
    return problems
