"""Run a chapter's exercise and autograder cells inside pytest, without a kernel.

A chapter's checks are only worth something if they pass the reference
solution *and* reject wrong answers with a readable message. This module
loads ``solutions/NN_topic/NN_topic.ipynb``, builds a namespace from its setup
and solution cells (as the verifier does: no concept cells), lets a test swap
one solution for a wrong answer, and runs an autograder cell's source, hidden
tests included or removed as in the student release, capturing what it
prints. ``structure_problems`` lists the ways a notebook breaks the chapter
conventions (GUIDE.md).

``ChapterChecks`` holds the tests every chapter shares; a chapter's test file
subclasses it with its data:

    class TestChapter02(ChapterChecks):
        CHAPTER = "02_padding_stride_dilation"
        EXERCISES = ["output_size", ...]           # grade_ids, in notebook order
        VISIBLE = [(exercise, label, answer, words), ...]      # caught by the visible checks
        HIDDEN_ONLY = [(exercise, label, answer, words), ...]  # caught only by the hidden tests

An ``answer`` replaces the exercise's solution block (``with_answer``);
``words`` is a string or a list of strings the CheckFailed message must
contain. A chapter whose wrong answers are whole cells overrides
``wrong_cell``.

Example:
    >>> nb = load_solution("01_convolution")
    >>> run_cell(autograder_source(nb, "conv2d_loops"), namespace(nb)).stdout
    '✓ conv2d_loops matches the reference on 2 cases\\n...'
"""

from __future__ import annotations

import ast
import contextlib
import io
import linecache
import os
import re
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

from course_utils.errors import CheckFailed

os.environ.setdefault("MPLBACKEND", "Agg")  # setup cells import pyplot; never open a window in tests

ROOT = Path(__file__).resolve().parents[2]

COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
GRADE_ID = re.compile(r"^[a-z][a-z0-9_]{2,40}$")
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
HIDDEN = re.compile(rf"^[ \t]*{BEGIN_HIDDEN}.*?^[ \t]*{END_HIDDEN}[^\n]*\n?", re.S | re.M)
USES_CHECKS = re.compile(r"\bcourse_utils\.checks\b|\bfrom course_utils import\b[^\n]*\bchecks\b")
STUB = "raise NotImplementedError()"  # nbgrader's code stub for Python


# ---------------------------------------------------------------- reading a notebook


def spec_module(chapter: str) -> Any:
    """``grading/<chapter>.py`` imported as a module (its EXERCISES, its Forbid rules, its wrapper names)."""
    import importlib.util

    module_spec = importlib.util.spec_from_file_location(f"_spec_{chapter}", ROOT / "grading" / f"{chapter}.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def answer_with_keys(quiz: Any) -> int:
    """Answer every question of a chapter's Quiz with its own key and return ``quiz.score()``."""
    for i, q in enumerate(quiz.questions):
        quiz.answer(i, q["answer"] if q["kind"] != "text" else q["answer"][0])
    return quiz.score()


def load_solution(chapter: str) -> nbformat.NotebookNode:
    """The instructor notebook ``solutions/<chapter>/<chapter>.ipynb``."""
    return nbformat.read(str(ROOT / "solutions" / chapter / f"{chapter}.ipynb"), as_version=4)


def nbgrader(cell: Any) -> dict:
    """The cell's nbgrader metadata (empty when it has none)."""
    return dict(cell.get("metadata", {}).get("nbgrader", {}) or {})


def solution_cells(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """The exercise cells by grade_id, in notebook order."""
    return {nbgrader(c).get("grade_id"): c for c in nb.cells if c.cell_type == "code" and nbgrader(c).get("solution")}


def autograder_cells(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """The graded test cells (``test_<exercise>``) by grade_id, in notebook order."""
    return {
        nbgrader(c).get("grade_id"): c
        for c in nb.cells
        if c.cell_type == "code" and nbgrader(c).get("grade") and not nbgrader(c).get("solution")
    }


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


def with_answer(source: str, body: str) -> str:
    """A solution cell whose solution block is replaced by ``body`` (dedented, then indented like the block)."""
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if BEGIN_SOLUTION in line)
    end = next(i for i, line in enumerate(lines) if END_SOLUTION in line)
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    new = textwrap.indent(textwrap.dedent(body).strip("\n"), indent).splitlines()
    return "\n".join(lines[:start] + new + lines[end + 1 :])


def secret_lines(source: str, begin: str, end: str) -> set[str]:
    """Code lines found only between ``begin`` and ``end`` delimiters (stripped; no blanks or comments)."""
    inside, outside, depth = set(), set(), False
    for raw in source.splitlines():
        line = raw.strip()
        if begin in line:
            depth = True
        elif end in line:
            depth = False
        elif line and not line.startswith("#"):
            (inside if depth else outside).add(line)
    return inside - outside


def setup_cell(nb: nbformat.NotebookNode) -> Any:
    """The setup cell: the first code cell, the one that installs the course in Colab (the verifier runs it)."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and "google.colab" in code[0].source, (
        "the first code cell is not the setup cell (with the Colab install)"
    )
    return code[0]


def hyper_cell(nb: nbformat.NotebookNode) -> Any:
    found = [c for c in nb.cells if c.cell_type == "code" and "budget(" in c.source and not nbgrader(c)]
    assert len(found) == 1, f"expected one hyper-parameter cell reading budget(...), found {len(found)}"
    return found[0]


# ---------------------------------------------------------------- running cells


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
    exec(_compile(ast.unparse(tree), label), ns)  # noqa: S102 - the course's own notebook
    # The last expression gets its own file name: under the cell's name it would replace the
    # cell's source in linecache, and inspect.getsource of a function defined above it would fail.
    return eval(_compile(ast.unparse(last.value), f"{label}, last line", "eval"), ns) if last is not None else None


def namespace(nb: nbformat.NotebookNode, *, replace: dict[str, str] | None = None, hyper: bool = False) -> dict:
    """A fresh namespace with the setup cell run and every solution cell defined, as when a submission is verified.

    ``hyper`` runs the hyper-parameter cell too (needed by concept cells, never by
    the autograder cells). ``replace`` maps an exercise's grade_id to source code
    to run *instead of* its solution cell, e.g.
    ``{"conv2d_loops": "def conv2d_loops(x, weight, bias=None): ..."}``.
    """
    replace = dict(replace or {})
    ns: dict = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec_source(setup_cell(nb).source, ns, "setup")
        if hyper:
            exec_source(hyper_cell(nb).source, ns, "hyper-parameters")
        for grade_id, c in solution_cells(nb).items():
            exec_source(replace.pop(grade_id, c.source), ns, grade_id)
    assert not replace, f"no solution cell for {sorted(replace)}"
    return ns


def run_setup_cells_too(monkeypatch: pytest.MonkeyPatch, *cell_ids: str) -> None:
    """Make :func:`namespace` also run these locked cells after the solution cells.

    What verification does with a spec's ``SETUP_CELLS``: chapters whose checks call
    helpers from a locked cell (e.g. ``check-helpers``) use it in an autouse fixture.
    """
    module = sys.modules[__name__]
    original = module.namespace

    def with_setup(nb: nbformat.NotebookNode, **kwargs: Any) -> dict:
        ns = original(nb, **kwargs)
        for cell_id in cell_ids:
            cells = [c for c in nb.cells if c.get("id") == cell_id]
            assert len(cells) == 1, f"no cell with id {cell_id!r}"
            exec_source(cells[0].source, ns, cell_id)
        return ns

    monkeypatch.setattr(module, "namespace", with_setup)


@dataclass
class Ran:
    stdout: str
    stderr: str
    value: Any = None


def run_cell(source: str, ns: dict, label: str = "cell") -> Ran:
    """Run ``source`` in ``ns`` capturing stdout and stderr; exceptions propagate. Figures it opens are closed."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            value = exec_source(source, ns, label)
    finally:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")
    return Ran(out.getvalue(), err.getvalue(), value)


def grade(nb: nbformat.NotebookNode, exercise: str, answer: str | None = None, *, hidden: bool = True) -> Any:
    """Run ``test_<exercise>`` on the reference solutions, or with ``answer`` as the exercise's cell.

    With ``hidden=False`` the cell runs as the student release shows it (hidden
    block removed). Returns the ``Ran`` when the cell passes, or the
    ``CheckFailed`` it raised; any other exception propagates.
    """
    ns = namespace(nb, replace=None if answer is None else {exercise: answer})
    source = autograder_source(nb, exercise)
    try:
        return run_cell(source if hidden else without_hidden(source), ns, f"test_{exercise}")
    except CheckFailed as exc:
        return exc


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


# ---------------------------------------------------------------- judged as verification judges


def verify_handins(chapter: str, handins: dict[str, tuple[Any, list[str]]]) -> dict[str, tuple[float, str, str]]:
    """Judge hand-ins ``key -> (Exercise, solution cells)`` of ``chapter`` as verification does, in one child.

    The instructor's setup cell runs once in the sandboxed child, then each hand-in's cells and its
    exercise's calls; this process judges each record with ``Exercise.grade(record, cells)``.
    Returns ``{key: (points, status, reason)}``: the exercise's points, ``"passed"`` and ``""``, or
    0, the status (``rule_violation``, ``wrong``, ``error``...) and the sentence.
    :func:`verified_scores` and :func:`verified_variant_scores` build the hand-ins for you.
    """
    from course_utils.grading import notebook as gnb
    from course_utils.grading.sandbox import Limits, run_child
    from course_utils.grading.spec import load_spec

    spec, instructor = load_spec(ROOT, chapter), load_solution(chapter)
    jobs = [{**ex.job(), "test_id": key, "cells": cells} for key, (ex, cells) in handins.items()]
    records = run_child(
        gnb.setup_sources(instructor, list(spec.setup_cells or ())),
        jobs,
        denied=[str(ROOT / "solutions"), str(ROOT / "grading")],
        limits=Limits(),
    )
    points, result = gnb.test_points(instructor), {}
    for key, (ex, cells) in handins.items():
        status, reason = ex.grade(records.get(key, {"status": "error", "error": "no record"}), cells)
        result[key] = (points[ex.test], status, "") if status == "passed" else (0.0, status, reason or status)
    return result


def verified_scores(chapter: str, answers: dict[str, str] | None = None) -> dict[str, tuple[float, str]]:
    """The chapter's release answered with the solutions except ``answers``, judged as verification judges it.

    ``answers`` maps a solution cell's grade_id to the whole cell handed in instead of the
    instructor's. As ``python -m course_utils.grading verify`` does, the solution cells run in
    the sandboxed child with the spec's calls (``grading/<chapter>.py``), and this process
    applies each exercise's statement rules (forbidden routes, inputs changed, return kinds),
    then its verdict on the outputs (``Exercise.grade(record, sources)``). Returns
    ``{test_id: (points, reason)}``: full points and ``""``, or 0 and the sentence.

    Example:
        >>> scores = verified_scores("01_convolution", {"conv2d_loops": "def conv2d_loops(x, weight, bias=None):\\n"
        ...                                                               "    return F.conv2d(x, weight, bias)\\n"})
        >>> scores["test_conv2d_loops"][0], scores["test_edge_kernel"][0]
        (0.0, 2.0)
    """
    import copy

    from course_utils.grading import notebook as gnb
    from course_utils.grading.spec import load_spec

    answers = dict(answers or {})
    release = copy.deepcopy(nbformat.read(str(ROOT / "notebooks" / chapter / f"{chapter}.ipynb"), as_version=4))
    instructor = solution_cells(load_solution(chapter))
    assert set(answers) <= set(instructor), f"no solution cell {sorted(set(answers) - set(instructor))} in {chapter}"
    for c in release.cells:
        if nbgrader(c).get("solution"):
            c.source = answers.get(nbgrader(c)["grade_id"], instructor[nbgrader(c)["grade_id"]].source)
    handins = {}
    for ex in load_spec(ROOT, chapter).exercises:
        cells, missing = gnb.solution_sources(release, list(ex.solutions))
        assert not missing, f"{ex.test}: the release has no solution cell {missing}"
        handins[ex.test] = (ex, cells)
    return {key: (points, reason) for key, (points, _, reason) in verify_handins(chapter, handins).items()}


def verified_variant_scores(chapter: str, variants: dict[str, tuple[str, str]]) -> dict[str, tuple[float, str]]:
    """Many answers to the same exercises judged as verification judges them, all in one sandboxed child.

    ``variants`` maps a key of yours to ``(grade_id, cell)``: the whole solution cell ``grade_id``
    handed in as ``cell``, the exercise's other solution cells (if any) being the instructor's.
    Each variant is judged as the spec's exercise whose last solution cell is ``grade_id``, as
    :func:`verified_scores` judges it. Returns ``{key: (points, reason)}``.

    Example (``no_bias`` a whole ``conv2d_loops`` cell that ignores its bias):
        >>> scores = verified_variant_scores("01_convolution", {"right": ("conv2d_loops", right), "no bias": ("conv2d_loops", no_bias)})
        >>> scores["right"][0], scores["no bias"][0]
        (2.0, 0.0)
    """
    from course_utils.grading.notebook import to_python
    from course_utils.grading.spec import load_spec

    instructor = solution_cells(load_solution(chapter))
    by_cell = {ex.solutions[-1]: ex for ex in load_spec(ROOT, chapter).exercises}
    handins = {}
    for key, (grade_id, cell) in variants.items():
        assert grade_id in by_cell, (
            f"{key}: no exercise of grading/{chapter}.py ends with the solution cell {grade_id!r}"
        )
        ex = by_cell[grade_id]
        handins[key] = (ex, [to_python(cell if gid == grade_id else instructor[gid].source) for gid in ex.solutions])
    return {key: (points, reason) for key, (points, _, reason) in verify_handins(chapter, handins).items()}


# ---------------------------------------------------------------- conventions


def structure_problems(nb: nbformat.NotebookNode, chapter: str) -> list[str]:
    """Every way the notebook departs from the chapter conventions (GUIDE.md); empty when none."""
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
    sys.path.insert(0, str(ROOT / "scripts"))
    from colab_links import course_address  # the address and ref set once, in pyproject.toml [tool.course]

    badge = f"{COLAB_BADGE})]({course_address().colab_url(f'notebooks/{chapter}/{chapter}.ipynb')})"
    if not nb.cells or nb.cells[0].cell_type != "markdown" or not first.startswith("# ") or badge not in first:
        problems.append("the first cell is not a markdown title with the chapter's Open in Colab badge")
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    for heading, low, high in (("## Objectives", 3, 5), ("## Recap", 3, 3)):
        found = [m for m in markdown if m.startswith(heading)]
        bullets = len(re.findall(r"^- ", found[0], re.M)) if found else 0
        if not low <= bullets <= high:
            problems.append(
                f"{heading!r} should have {low}-{high} bullets, found {bullets if found else 'no such cell'}"
            )
    code = [c for c in nb.cells if c.cell_type == "code"]
    # Run All stops at the first autograder cell whose exercise is unanswered (the stub raises there), so the one
    # quiz must come before the first autograder cell to be reached, and the exercises introduction says how to go on.
    quizzes = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "Quiz(" in c.source]
    first_check = min(
        (i for i, c in enumerate(nb.cells) if id(c) in {id(t) for t in autograder_cells(nb).values()}),
        default=len(nb.cells),
    )
    if len(quizzes) != 1:
        problems.append(f"expected one quiz cell (Quiz([...])), found {len(quizzes)}")
    elif quizzes[0] > first_check:
        problems.append(
            "the quiz comes after the first exercise's check cell, where Run All stops on an unanswered "
            "exercise: put it (and the recap) before the exercises"
        )
    intro = [m for m in markdown if m.startswith("## Exercises")]
    if (
        len(intro) != 1
        or "Run All stops at the first" not in intro[0]
        or "Run Selected Cell and All Below" not in intro[0]
    ):
        problems.append(
            "the '## Exercises' introduction does not say that Run All stops at the first unanswered "
            "exercise and how to go on (Run Selected Cell and All Below): copy chapter 01's wording"
        )
    setups = [c for c in code if "google.colab" in c.source]
    if len(setups) != 1 or "seed_everything(" not in setups[0].source or "print(describe())" not in setups[0].source:
        problems.append("there is not exactly one setup cell that installs in Colab, seeds and prints describe()")
    elif setups[0] is not code[0]:
        problems.append("the setup cell is not the first code cell (the verifier runs the first code cell as setup)")
    # Exercises: solution cell, then its locked autograder cell.
    grade_ids = [nbgrader(c).get("grade_id") for c in nb.cells if nbgrader(c)]
    if len(set(grade_ids)) != len(grade_ids):
        problems.append(f"repeated grade_ids: {grade_ids}")
    for gid in grade_ids:
        if not isinstance(gid, str) or not GRADE_ID.match(gid):
            problems.append(f"grade_id {gid!r} is not a readable snake_case name")
    position = {id(c): i for i, c in enumerate(nb.cells)}
    solutions, tests = solution_cells(nb), autograder_cells(nb)
    for gid, sol in solutions.items():
        meta = nbgrader(sol)
        if meta.get("grade") or meta.get("locked") or meta.get("schema_version") != 3:
            problems.append(f"solution cell {gid!r} has wrong metadata {meta}")
        if sol.source.count(BEGIN_SOLUTION) != 1 or sol.source.count(END_SOLUTION) != 1 or '"""' not in sol.source:
            problems.append(f"solution cell {gid!r} needs a docstring and exactly one BEGIN/END SOLUTION block")
        if f"test_{gid}" not in tests:
            problems.append(f"solution cell {gid!r} has no autograder cell test_{gid}")
            continue
        t = tests[f"test_{gid}"]
        tmeta = nbgrader(t)
        if position[id(t)] < position[id(sol)]:
            problems.append(f"test_{gid} comes before its solution cell")
        if not tmeta.get("locked") or tmeta.get("schema_version") != 3:
            problems.append(f"test_{gid} has wrong metadata {tmeta}")
        points = tmeta.get("points")
        if not isinstance(points, int) or isinstance(points, bool) or not 1 <= points <= 3:
            problems.append(f"test_{gid} is worth {points!r} points; give it a whole number from 1 to 3")
        if not t.source.startswith('"""Check that'):
            problems.append(f'test_{gid} does not start with a docstring """Check that ...')
        if t.source.count(BEGIN_HIDDEN) != 1 or t.source.count(END_HIDDEN) != 1:
            problems.append(f"test_{gid} needs exactly one hidden-test block")
        if not USES_CHECKS.search(t.source):
            problems.append(f"test_{gid} does not use course_utils.checks")
    orphans = set(tests) - {f"test_{gid}" for gid in solutions}
    if orphans:
        problems.append(f"autograder cells without a solution cell: {sorted(orphans)}")
    return problems


# ---------------------------------------------------------------- the tests every chapter shares


@dataclass(frozen=True)
class Wrong:
    """A deliberately wrong answer to one exercise and the words its CheckFailed message must contain."""

    exercise: str
    label: str
    answer: str
    words: tuple[str, ...]

    @classmethod
    def of(cls, case: Sequence) -> Wrong:
        exercise, label, answer, words = case
        return cls(exercise, label, answer, (words,) if isinstance(words, str) else tuple(words))

    @property
    def id(self) -> str:
        return f"{self.exercise}-{self.label.replace(' ', '_')}"


class ChapterChecks:
    """The autograder cells of ``CHAPTER`` pass the reference solution and reject wrong answers readably.

    Not collected itself (no ``Test`` prefix); each ``TestChapterNN`` subclass runs
    every test below on its own chapter. Tests taking ``exercise`` run once per
    entry of ``EXERCISES``; ``visible_wrong`` and ``hidden_wrong`` once per entry
    of ``VISIBLE`` and ``HIDDEN_ONLY``.
    """

    CHAPTER: str
    EXERCISES: Sequence[str]
    VISIBLE: Sequence[tuple]
    HIDDEN_ONLY: Sequence[tuple]
    MIN_HIDDEN_ONLY = 3  # wrong answers that only the hidden tests catch, at least

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "exercise" in metafunc.fixturenames:
            metafunc.parametrize("exercise", list(self.EXERCISES))
        for argname, cases in (("visible_wrong", self.VISIBLE), ("hidden_wrong", self.HIDDEN_ONLY)):
            if argname in metafunc.fixturenames:
                wrong = [Wrong.of(case) for case in cases]
                metafunc.parametrize(argname, wrong, ids=[w.id for w in wrong])

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _smoke_mode(cls):
        """Cells run as in CI: COURSE_SMOKE=1, the Agg backend; the environment is restored afterwards."""
        import matplotlib

        matplotlib.use("Agg")
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("COURSE_SMOKE", "1")
            mp.setenv("MPLBACKEND", "Agg")
            yield

    @pytest.fixture(scope="class")
    @classmethod
    def notebook(cls) -> nbformat.NotebookNode:
        return load_solution(cls.CHAPTER)

    def wrong_cell(self, notebook: nbformat.NotebookNode, wrong: Wrong) -> str:
        """The exercise cell holding the wrong answer: by default the answer replaces the solution block."""
        return with_answer(solution_cells(notebook)[wrong.exercise].source, wrong.answer)

    # ------------------------------------------------------------ layout

    def test_structure(self, notebook) -> None:
        problems = structure_problems(notebook, self.CHAPTER)
        assert not problems, "\n".join(problems)
        assert list(solution_cells(notebook)) == list(self.EXERCISES)
        assert len(self.EXERCISES) >= 4

    def test_every_exercise_has_wrong_answers_for_the_visible_and_the_hidden_checks(self) -> None:
        visible = {exercise for exercise, *_ in self.VISIBLE}
        hidden = {exercise for exercise, *_ in self.HIDDEN_ONLY}
        assert visible == set(self.EXERCISES), (
            f"no wrong answer caught by the visible checks of {set(self.EXERCISES) - visible}"
        )
        assert hidden <= set(self.EXERCISES), f"HIDDEN_ONLY names unknown exercises {hidden - set(self.EXERCISES)}"
        assert len(hidden) >= len(self.EXERCISES) - 1, (
            f"only {sorted(hidden)} have a wrong answer that only hidden tests catch"
        )
        assert len(self.HIDDEN_ONLY) >= self.MIN_HIDDEN_ONLY

    # ------------------------------------------------------------ the solution passes

    def test_solution_passes_visible_and_hidden_checks(self, notebook, exercise: str) -> None:
        ran, seen = grade(notebook, exercise), grade(notebook, exercise, hidden=False)
        assert isinstance(ran, Ran), f"test_{exercise} rejects the reference solution: {ran}"
        assert ran.stderr == "", f"test_{exercise} wrote to stderr on the solution: {ran.stderr!r}"
        lines = ran.stdout.splitlines()
        assert lines and all(line.startswith("✓ ") for line in lines), ran.stdout
        assert isinstance(seen, Ran) and ran.stdout.startswith(seen.stdout), (ran.stdout, seen)
        assert len(lines) > len(seen.stdout.splitlines()), f"the hidden tests printed no ✓ line: {ran.stdout}"

    def test_visible_checks_alone_pass_the_solution(self, notebook, exercise: str) -> None:
        """What the learner's release keeps of the cell (hidden block removed) runs on its own."""
        visible = without_hidden(autograder_source(notebook, exercise))
        assert "HIDDEN" not in visible and "hidden=True" not in visible
        ran = grade(notebook, exercise, hidden=False)
        assert isinstance(ran, Ran), f"the visible checks of {exercise} reject the reference solution: {ran}"
        assert ran.stderr == "" and ran.stdout.startswith("✓ "), (ran.stdout, ran.stderr)

    # ------------------------------------------------------------ wrong answers fail readably

    def test_stub_fails_with_not_written_yet(self, notebook, exercise: str) -> None:
        stub = with_answer(solution_cells(notebook)[exercise].source, STUB)
        failed = grade(notebook, exercise, stub, hidden=False)
        assert isinstance(failed, CheckFailed), f"the visible checks of {exercise} accept nbgrader's stub"
        assert "not written yet" in str(failed) and not readable(str(failed)), str(failed)

    def _caught(self, notebook, wrong: Wrong, *, hidden: bool) -> str:
        """The CheckFailed message ``test_<exercise>`` gives ``wrong``, checked for its words and readability."""
        import torch

        conv2d = torch.nn.functional.conv2d
        failed = grade(notebook, wrong.exercise, self.wrong_cell(notebook, wrong), hidden=hidden)
        assert torch.nn.functional.conv2d is conv2d and torch.conv2d is conv2d, "the check left F.conv2d switched off"
        where = "tests" if hidden else "visible checks"
        assert isinstance(failed, CheckFailed), f"the {where} of {wrong.exercise} accept an answer that {wrong.label}"
        message = str(failed)
        missing = [word for word in wrong.words if word not in message]
        assert not missing, f"{wrong.label}: the message lacks {missing}:\n{message}"
        assert not readable(message), f"{wrong.label}: {readable(message)}:\n{message}"
        return message

    def test_visible_checks_catch_a_wrong_answer(self, notebook, visible_wrong: Wrong) -> None:
        """The learner sees the mistake before grading, and grading (hidden tests included) fails it too."""
        self._caught(notebook, visible_wrong, hidden=False)
        self._caught(notebook, visible_wrong, hidden=True)

    def test_only_hidden_tests_catch_a_subtle_wrong_answer(self, notebook, hidden_wrong: Wrong) -> None:
        ran = grade(notebook, hidden_wrong.exercise, self.wrong_cell(notebook, hidden_wrong), hidden=False)
        assert isinstance(ran, Ran) and ran.stdout.startswith("✓ "), (
            f"expected the visible checks to miss an answer that {hidden_wrong.label}: {ran}"
        )
        self._caught(notebook, hidden_wrong, hidden=True)
