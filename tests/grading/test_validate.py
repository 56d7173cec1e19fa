"""A check cell never ends in a value, in any chapter; nbgrader's Validate button works on chapter 01.

The defect guarded: before check functions returned None, ``check_function(...)`` ending a check
cell left its number of cases as the cell's output, which nbgrader reads as partial credit:
``nbgrader validate`` on chapter 01 filled with the solutions stopped with "ValueError: partial
credit cannot be greater than maximum points for cell".

That is checked statically for EVERY chapter (``displayed_value``, exact for IPython's own decision
to display a cell's value; see its docstring), in the autograder cells as nbgrader runs them
(hidden tests included) and as the release hands them out. One real ``nbgrader validate`` then runs
on chapter 01 only, filled with the solutions and as released: the session's class release
(conftest.py's ``graded_class``) when the class run already made one, else the committed release.
Running nbgrader validate on every chapter, twice, executed every chapter twice more per test
session (about 5 minutes on 2 loaded cores, growing with each chapter).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import classroom
import gradetools
import pytest
from gradetools import ROOT, chapter_params, read_notebook, release_path, require_chapter, solution_path

CHAPTERS = chapter_params()
VALIDATED = "01_convolution"  # the fastest real chapter: the one nbgrader validate really runs
FILLED = "_filled"


def _nbgrader(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


# ---------------------------------------------------------------------------------------------
# The static rule
# ---------------------------------------------------------------------------------------------


def none_returning(namespace: dict[str, object], module: str = "checks") -> frozenset[str]:
    """The functions of ``namespace`` annotated ``-> None`` (they never give a cell a value), and print.

    Each is named bare (``check_function``) and through ``module`` (``checks.check_function``), as the
    chapters call them after ``from course_utils import checks``.
    """
    names = {"print"}
    for name, fn in namespace.items():
        if callable(fn) and not isinstance(fn, type):
            try:
                hints = typing.get_type_hints(fn)
            except Exception:  # an annotation that cannot be resolved proves nothing
                continue
            if hints.get("return", ...) is type(None):
                names |= {name, f"{module}.{name}"}
    return frozenset(names)


def checks_none_returning() -> frozenset[str]:
    import course_utils.checks as checks

    return none_returning({name: getattr(checks, name) for name in checks.__all__})


def displayed_value(source: str, quiet_calls: frozenset[str]) -> str | None:
    """Why IPython would display a value at the end of this cell, or None when it cannot.

    IPython (``ast_node_interactivity = "last_expr"``, the kernel's default and nbgrader's) transforms
    the cell (magics become calls), parses it, and runs only the LAST top-level statement in
    'single' mode, and only when it is an expression statement (``ast.Expr``); that is the only
    statement whose value reaches the display hook. The hook then shows nothing when the cell's last
    token (comments and newlines skipped) is ``;``, and nothing when the value is None. The first two
    conditions are decided here exactly as IPython decides them (the same transformer, the same
    ``semicolon_at_end_of_expression``); the value is unknown before running, so a final expression
    is accepted only when it is a call of a function named in ``quiet_calls`` (``name(...)`` or
    ``checks.name(...)``: the functions annotated ``-> None``, and print) or the constant None.
    Anything else (a name, a number, another method call, ``check_function(...)`` if it returned a
    value) is reported.
    """
    from IPython.core.displayhook import DisplayHook
    from IPython.core.inputtransformer2 import TransformerManager

    python = TransformerManager().transform_cell(source)
    body = ast.parse(python).body
    if not body or not isinstance(body[-1], ast.Expr):
        return None
    if DisplayHook.semicolon_at_end_of_expression(python):
        return None
    value = body[-1].value
    if (
        isinstance(value, ast.Call)
        and isinstance(value.func, (ast.Name, ast.Attribute))
        and ast.unparse(value.func) in quiet_calls
    ):
        return None
    if isinstance(value, ast.Constant) and value.value is None:
        return None
    return f"the cell ends in `{ast.unparse(value)[:80]}`, whose value IPython displays"


# Cells whose display behaviour IPython itself decides in test_static_rule_agrees_with_ipython. In
# them check_function is the old one, returning its number of cases (annotated -> int).
OLD_CHECK_FUNCTION = "def check_function(fn, reference, cases, **kwargs) -> int:\n    return len(cases)\n"
SYNTHETIC_CELLS = {
    "old check_function last": "check_function(abs, abs, [1, 2, 3])",
    "with a comment after it": "check_function(abs, abs, [1, 2, 3])  # the visible cases\n\n",
    "hidden tests after visible": "check_function(abs, abs, [1])\n### BEGIN HIDDEN TESTS\ncheck_function(abs, abs, [1, 2])\n### END HIDDEN TESTS",
    "trailing semicolon": "check_function(abs, abs, [1, 2, 3]);",
    "semicolon then comment": "check_function(abs, abs, [1, 2, 3]);  # quiet\n",
    "assigned": "_ = check_function(abs, abs, [1, 2, 3])",
    "print last": "check_function(abs, abs, [1, 2, 3])\nprint('all checks passed')",
    "inside an if": "if True:\n    check_function(abs, abs, [1, 2, 3])",
    "a name last": "n = check_function(abs, abs, [1, 2])\nn",
    "a method call last": "import torch\ntorch.zeros(2).sum()",
    "a line magic": "%time check_function(abs, abs, [1, 2, 3])",
    "None last": "None",
    "through the module": "import types\nchecks = types.SimpleNamespace(check_function=check_function)\n"
    "checks.check_function(abs, abs, [1, 2])",
}

IPYTHON_DRIVER = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_cell(sys.argv[1], store_history=True)
shown = {}
for name, cell in json.loads(sys.stdin.read()).items():
    shown[name] = shell.run_cell(cell, store_history=True).result is not None
print(json.dumps(shown))
"""


def test_static_rule_agrees_with_ipython() -> None:
    """On every synthetic cell, the rule reports a value exactly when IPython really displays one."""
    proc = subprocess.run(
        [sys.executable, "-c", IPYTHON_DRIVER, OLD_CHECK_FUNCTION],
        input=json.dumps(SYNTHETIC_CELLS),
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    shown = json.loads(proc.stdout.strip().splitlines()[-1])
    namespace: dict[str, object] = {}
    exec(OLD_CHECK_FUNCTION, namespace)
    quiet = none_returning({"check_function": namespace["check_function"]})
    assert "check_function" not in quiet
    static = {name: displayed_value(cell, quiet) is not None for name, cell in SYNTHETIC_CELLS.items()}
    assert static == shown, {name: (static[name], shown[name]) for name in shown if static[name] != shown[name]}
    assert any(shown.values()) and not all(shown.values())  # both verdicts occur


def test_static_rule_catches_check_function_returning_a_value() -> None:
    """The defect itself: a check cell ending in check_function(...) is reported once check_function returns a value."""
    cell = (
        '"""Check that conv1d_valid matches F.conv1d."""\nfrom course_utils.checks import check_function\n'
        "check_function(conv1d_valid, reference, [(x, w)], arg_names=('x', 'w'))"
    )
    namespace: dict[str, object] = {}
    exec(OLD_CHECK_FUNCTION, namespace)
    reason = displayed_value(cell, none_returning(namespace))
    assert reason is not None and "check_function(conv1d_valid" in reason
    # Today's check_function returns None (annotated so): the same cell is fine, and a ';' always is.
    assert "check_function" in checks_none_returning()
    assert displayed_value(cell, checks_none_returning()) is None
    assert displayed_value(cell + ";", none_returning(namespace)) is None
    dotted = "from course_utils import checks\nchecks.check_function(conv1d_valid, reference, [(x, w)])"
    assert displayed_value(dotted, none_returning(namespace)) is not None
    assert displayed_value(dotted, checks_none_returning()) is None


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_check_cell_ends_in_a_value(chapter: str) -> None:
    """Every autograder cell, with its hidden tests (as nbgrader autogrades it) and as released, ends in no value."""
    require_chapter(chapter)
    quiet = checks_none_returning()
    found = []
    for label, path in (("solutions", solution_path(chapter)), ("release", release_path(chapter))):
        assert path.is_file(), f"{path.relative_to(ROOT)} is missing (run `make release CHAPTER={chapter}`)"
        nb = read_notebook(path)
        if not re.search(
            r"^from course_utils import (.*, )?checks\b", "\n".join(c.source for c in nb.cells), flags=re.M
        ):
            quiet = frozenset(name for name in quiet if not name.startswith("checks."))  # `checks` is not the module
        cells = [c for c in nb.cells if _nbgrader(c).get("grade") and not _nbgrader(c).get("solution")]
        assert cells, f"{path.relative_to(ROOT)} has no autograder cell"
        for cell in cells:
            reason = displayed_value(cell.source, quiet)
            if reason:
                found.append(f"{label} {_nbgrader(cell).get('grade_id')}: {reason}")
    assert not found, (
        "nbgrader reads a number left as a check cell's value as partial credit; end the cell with a "
        "statement, a print(...) or a ';':\n" + "\n".join(found)
    )


# ---------------------------------------------------------------------------------------------
# One real nbgrader validate, chapter 01
# ---------------------------------------------------------------------------------------------


def fill(release: Path, solutions: Path, dest: Path) -> int:
    """Write ``release`` with each solution cell's source replaced by the solutions' cell of the same grade_id."""
    import nbformat

    answers = {
        _nbgrader(c)["grade_id"]: c.source for c in read_notebook(solutions).cells if _nbgrader(c).get("solution")
    }
    nb = read_notebook(release)
    missing = []
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if meta.get("solution"):
            if meta.get("grade_id") not in answers:
                missing.append(meta.get("grade_id"))
            else:
                cell.source = answers[meta["grade_id"]]
    assert not missing, (
        f"{release}: solution cells {missing} are not in {solutions.relative_to(ROOT)}: "
        "the release is out of date, run `make release CHAPTER=...`"
    )
    nbformat.write(nb, str(dest))
    return len(answers)


def autograder_cells(release: Path) -> int:
    """The number of autograder (test) cells of a release."""
    return sum(
        1 for c in read_notebook(release).cells if _nbgrader(c).get("grade") and not _nbgrader(c).get("solution")
    )


def session_release(config: pytest.Config, chapter: str) -> Path | None:
    """``chapter``'s release made by the session's class run (conftest.py), if that run happened and released it."""
    graded = config.stash.get(classroom.SESSION_CLASS, None)
    if graded is None or graded.release.returncode != 0:
        return None
    path = graded.course / "notebooks" / chapter / f"{chapter}.ipynb"
    return path if path.is_file() else None


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> dict[str, str]:
    """nbgrader validate's report for chapter 01's release (``NN_x``) and its filled copy (``NN_x_filled``), one run."""
    chapter = VALIDATED
    release = session_release(request.config, chapter)
    origin = "the session's class release" if release else "the committed release"
    release = release or release_path(chapter)
    assert release.is_file(), f"{chapter} has no release to validate: run `make release CHAPTER={chapter}`"
    course = tmp_path_factory.mktemp("validate")
    shutil.copy2(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    folder = course / "notebooks" / chapter
    shutil.copytree(release.parent, folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    filled = folder / f"{chapter}{FILLED}.ipynb"
    fill(release, solution_path(chapter), filled)
    paths = [folder / f"{chapter}.ipynb", filled]
    env = dict(
        os.environ,
        COURSE_SMOKE="1",
        MPLBACKEND="Agg",
        OMP_NUM_THREADS="1",
        PYTHONDONTWRITEBYTECODE="1",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    )
    nbgrader = [sys.executable, "-m", "nbgrader", "validate", *[str(p.relative_to(course)) for p in paths]]
    proc = subprocess.run(
        nbgrader, cwd=course, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900
    )
    gradetools.report(request.config, f"\n[validate] nbgrader validate on {chapter} ({origin}), filled and as released")
    # One section per notebook, opened by "Validating '<path>'".
    parts = re.split(r"^\[ValidateApp \| INFO\] Validating '([^']+)'$", proc.stdout, flags=re.M)
    return {Path(path).stem: text for path, text in zip(parts[1::2], parts[2::2])} | {
        "__all__": proc.stdout,
        "__release__": str(release),
    }


CRASH = ("Traceback", "partial credit", "fatal error", "ValueError: ")


def test_release_filled_with_the_solutions_validates(validated: dict[str, str]) -> None:
    report = validated.get(f"{VALIDATED}{FILLED}")
    assert report is not None, f"nbgrader did not validate {VALIDATED}{FILLED}:\n{validated.get('__all__', '')[-3000:]}"
    assert "Success! Your notebook passes all the tests." in report and not any(w in report for w in CRASH), report[
        -4000:
    ]


def test_release_as_handed_out_fails_cleanly(validated: dict[str, str]) -> None:
    report = validated.get(VALIDATED)
    assert report is not None, f"nbgrader did not validate {VALIDATED}:\n{validated.get('__all__', '')[-3000:]}"
    assert not any(w in report for w in CRASH), report[-4000:]
    failed = re.search(r"VALIDATION FAILED ON (\d+) CELL\(S\)", report)
    assert failed, report[-4000:]
    # Every check cell fails on a stub, each with the one-line "not written yet" sentence.
    assert int(failed.group(1)) == autograder_cells(Path(validated["__release__"])), report[-4000:]
    errors = re.findall(r"^\s*❌ \S+ is not written yet", report, flags=re.M)  # the cells' sources are shown too
    assert len(errors) == int(failed.group(1)), report
