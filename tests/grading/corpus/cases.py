"""The bad-submission cases: how each hand-in is made and the verified grade and flags it must get.

Every case is built from the chapter's student release with the instructor's
answers filled in (``answered``), then changed the way a learner might. The
target is the chapter's first function exercise with test inputs in its verification spec;
``FULL`` / ``ZERO`` say what its autograder cell must score after
verification, and every other exercise must keep full marks unless the case
says ``others=ZERO``. ``flags`` must all be raised; a case with no flags
must raise none at all.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

# Which chapters get which hand-ins (classroom.py builds the class from this split):
#
# * Every case below (the tampering and attack cases: sys_exit, os_exit, segfault, an
#   input transformer, a pre_run_cell hook, a planted course_utils/ or torch.py, patched
#   checks, lying tensors, edited/deleted/duplicated cells...) is handed in for the toy
#   chapter (corpus/toy_chapter.py, a few seconds under nbgrader) and for chapter 01 only
#   (EVERY_CASE_CHAPTERS: the fastest real chapter, and the one corpus/forbidden_routes.py
#   first targets). The mechanisms these cases attack are chapter-independent: nbgrader's
#   kernel and its checksums, the IPython hooks, the import path beside the notebook, the
#   verifier's sandboxed child and its integrity checks. A second real chapter would only
#   show the same mechanism again, while every extra hand-in re-executes a whole chapter
#   under nbgrader (tens of seconds in smoke mode, minutes for a training chapter on 2 cores).
# * Every other real chapter with a verification spec gets PER_CHAPTER_CASES (``correct``:
#   full marks in both graders; ``untouched_stub``: zero) plus ONE hand-in holding every
#   wrong answer of corpus/wrong_answers.py for the chapter at once (each of those exercises
#   must score 0 in both graders), plus one hand-in with all its forbidden routes
#   (corpus/forbidden_routes.py) where it has some. What differs from chapter to chapter is
#   the chapter's own answers and checks, and those hand-ins test exactly that.
EVERY_CASE_CHAPTERS = ("01_convolution",)
PER_CHAPTER_CASES = ("correct", "untouched_stub")

FULL, ZERO = "full", "zero"


@dataclass
class Target:
    """What the cases need to know about the course copy and its chapter."""

    course: Path
    chapter: str
    solution: nbformat.NotebookNode
    release: nbformat.NotebookNode
    cell: str  # grade_id of the target solution cell
    test: str  # grade_id of its autograder cell
    name: str  # the function it defines


@dataclass
class Case:
    name: str
    build: Callable[[Target], tuple[nbformat.NotebookNode, dict[str, str]]]
    target: str = FULL
    others: str = FULL
    flags: tuple[str, ...] = ()
    filename: str | None = None  # save under another name (renamed notebook)
    note: str = ""


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def answered(
    t: Target, overrides: dict[str, str] | None = None, *, keep_stub: tuple[str, ...] = ()
) -> nbformat.NotebookNode:
    """The release with every solution cell answered by the instructor (or ``overrides``)."""
    nb = copy.deepcopy(t.release)
    answers = {_meta(c).get("grade_id"): c.source for c in t.solution.cells if _meta(c).get("solution")}
    answers.update(overrides or {})
    for cell in nb.cells:
        gid = _meta(cell).get("grade_id")
        if _meta(cell).get("solution") and gid in answers and gid not in keep_stub:
            cell.source = answers[gid]
    return nb


def correct_source(t: Target) -> str:
    return next(c.source for c in t.solution.cells if _meta(c).get("grade_id") == t.cell)


def wrong(t: Target, before: str = "", after: str = "") -> nbformat.NotebookNode:
    body = f"import torch\ndef {t.name}(*args, **kwargs):\n    return torch.zeros(1)\n"
    return answered(t, {t.cell: before + body + after})


def find(nb: nbformat.NotebookNode, grade_id: str):
    return next(c for c in nb.cells if _meta(c).get("grade_id") == grade_id)


def _with(nb, files=None):
    return nb, dict(files or {})


def _deleted_test(t: Target):
    nb = answered(t)
    nb.cells = [c for c in nb.cells if _meta(c).get("grade_id") != t.test]
    return _with(nb)


def _edited_test(t: Target):
    nb = wrong(t)
    find(nb, t.test).source = '"""Check nothing."""\npass'
    return _with(nb)


def _points(t: Target):
    nb = answered(t)
    find(nb, t.test).metadata["nbgrader"]["points"] = 100
    return _with(nb)


def _dup_ids(t: Target):
    nb = answered(t)
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    markdown[1]["id"] = markdown[0]["id"]
    return _with(nb)


def _copied_cell(t: Target):
    """The target's solution cell copied (JupyterLab's copy keeps the nbgrader metadata): one grade_id twice."""
    nb = answered(t)
    cell = find(nb, t.cell)
    twin = copy.deepcopy(cell)
    twin["id"] = "copied-" + str(cell.get("id", "cell"))[:20]
    nb.cells.insert(nb.cells.index(cell) + 1, twin)
    return _with(nb)


def _kernelspec(t: Target):
    nb = answered(t)
    nb.metadata["kernelspec"] = {
        "name": "conda-env-myenv-py",
        "display_name": "Python [conda env:myenv]",
        "language": "python",
    }
    return _with(nb)


def _added_cell(t: Target):
    nb = wrong(t)
    index = nb.cells.index(find(nb, t.cell))
    nb.cells.insert(
        index + 1,
        nbformat.v4.new_code_cell(
            "import course_utils.checks as _c, torch\n_c.check_function = lambda *a, **k: 1\n"
            "_c.check_close = _c.check_equal = lambda *a, **k: None\ntorch.allclose = lambda *a, **k: True"
        ),
    )
    return _with(nb)


def _reads_course(t: Target, path: Path) -> str:
    return (
        correct_source(t) + f"\n_answer = {t.name}\ndef {t.name}(*args, **kwargs):\n"
        f"    open({str(path)!r}, 'rb').close()\n    return _answer(*args, **kwargs)\n"
    )


def _steals_solution(t: Target) -> str:
    src = t.course / "solutions" / t.chapter / f"{t.chapter}.ipynb"
    return (
        "import json\n"
        f"_cells = json.load(open({str(src)!r}))['cells']\n"
        f"_code = [''.join(c['source']) for c in _cells if c.get('metadata', {{}}).get('nbgrader', {{}}).get('grade_id') == {t.cell!r}]\n"
        "exec(_code[0])\n"
    )


# A course_utils/ folder beside the notebook: it loads the real package, then patches its checks.
# A torch.py beside the notebook that kills whichever process imports it: nbgrader's
# kernel starts in the notebook's folder and imports it (every cell then fails);
# the verifier's child runs with `python -I` in an empty folder and never sees it.
PLANTED_TORCH = """import os
os._exit(0)
"""

PLANTED_INIT = """import importlib, os, sys
_here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
del sys.modules[__name__]
_saved = list(sys.path)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
_real = importlib.import_module("course_utils")
sys.path[:] = _saved
import course_utils.checks as _checks
_checks.check_function = lambda *args, **kwargs: 1
_checks.check_close = _checks.check_equal = _checks.check_shape = lambda *args, **kwargs: None
sys.modules[__name__] = _real
"""

LYING_SUBCLASS = """import torch
class _Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("allclose", "equal"):
            return True
        if name in ("isclose", "eq", "__eq__"):
            return torch.ones(args[0].shape, dtype=torch.bool)
        return super().__torch_function__(func, types, args, kwargs or {})
def NAME(*args, **kwargs):
    return torch.zeros(1).as_subclass(_Liar)
"""

EQ_LIES = """class _Always:
    shape = property(lambda self: ())
    def __eq__(self, other):
        return True
    def __getattr__(self, name):
        return self
    def __call__(self, *a, **k):
        return self
    def __bool__(self):
        return True
def NAME(*args, **kwargs):
    return _Always()
"""

CASES: list[Case] = [
    Case("correct", lambda t: _with(answered(t))),
    Case("untouched_stub", lambda t: _with(t.release), target=ZERO, others=ZERO),
    Case("one_stub_left", lambda t: _with(answered(t, keep_stub=(t.cell,))), target=ZERO),
    Case(
        "infinite_loop",
        lambda t: _with(answered(t, {t.cell: f"def {t.name}(*args, **kwargs):\n    while True:\n        pass\n"})),
        target=ZERO,
        flags=("timeout:{test}",),
    ),
    Case(
        "sys_exit", lambda t: _with(answered(t, {t.cell: "import sys\nsys.exit(0)\n" + correct_source(t)})), target=ZERO
    ),
    Case(
        "os_exit",
        lambda t: _with(answered(t, {t.cell: "import os\nos._exit(0)\n" + correct_source(t)})),
        target=ZERO,
        flags=("crashed:{test}",),
    ),
    Case(
        "segfault",
        lambda t: _with(answered(t, {t.cell: "import faulthandler\nfaulthandler._sigsegv()\n" + correct_source(t)})),
        target=ZERO,
        flags=("crashed:{test}",),
        note="SIGSEGV through faulthandler: ctypes.string_at(0) would be refused unrun where an exercise forbids ctypes",
    ),
    Case(
        "huge_allocation",
        lambda t: _with(answered(t, {t.cell: f"def {t.name}(*args, **kwargs):\n    return [0] * (10 ** 11)\n"})),
        target=ZERO,
    ),
    Case(
        "huge_output",
        lambda t: _with(answered(t, {t.cell: correct_source(t) + "\nfor _ in range(20000):\n    print('#' * 500)\n"})),
    ),
    Case("deleted_test_cell", _deleted_test, flags=("cell_deleted:{test}",)),
    Case("edited_locked_test_cell", _edited_test, target=ZERO, flags=("locked_cell_edited:{test}",)),
    Case("points_changed", _points, flags=("points_changed:{test}",)),
    Case("duplicate_cell_ids", _dup_ids, flags=("duplicate_cell_ids",)),
    Case(
        "renamed_notebook",
        lambda t: _with(answered(t)),
        filename="Copy of my notebook.ipynb",
        flags=("renamed_notebook:",),
    ),
    Case(
        "copied_graded_cell",
        _copied_cell,
        flags=("duplicate_grade_ids",),
        note="nbgrader crashed on it (KeyError: 'grade_id') and wrote no autograded notebook",
    ),
    Case(
        "changed_kernelspec", _kernelspec, note="another Python 3 kernel is the learner's choice: no flag, no penalty"
    ),
    Case(
        "traceback_disabled",
        lambda t: _with(wrong(t, "get_ipython().showtraceback = lambda *a, **k: None\n")),
        target=ZERO,
    ),
    Case(
        "input_transformer",
        lambda t: _with(wrong(t, after="get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])\n")),
        target=ZERO,
        flags=("nbgrader_higher",),
        note="blanks every later cell in the kernel",
    ),
    Case(
        "pre_run_cell_hook",
        lambda t: _with(
            wrong(
                t,
                after=(
                    "import course_utils.checks as _c\n"
                    "get_ipython().events.register('pre_run_cell', lambda info: setattr(_c, 'check_function', lambda *a, **k: 1))\n"
                ),
            )
        ),
        target=ZERO,
        flags=("nbgrader_higher",),
    ),
    Case(
        "patched_torch_allclose",
        lambda t: _with(
            wrong(
                t,
                after=(
                    "torch.allclose = lambda *a, **k: True\n"
                    "torch.isclose = lambda a, b, **k: torch.ones(torch.broadcast_shapes(a.shape, b.shape), dtype=torch.bool)\n"
                ),
            )
        ),
        target=ZERO,
    ),
    Case(
        "patched_numpy_allclose",
        lambda t: _with(wrong(t, after="import numpy\nnumpy.allclose = lambda *a, **k: True\n")),
        target=ZERO,
    ),
    Case(
        "patched_checks_in_solution",
        lambda t: _with(wrong(t, after=("import course_utils.checks as _c\n_c.check_function = lambda *a, **k: 1\n"))),
        target=ZERO,
        flags=("nbgrader_higher",),
    ),
    Case("patched_checks_in_added_cell", _added_cell, target=ZERO, flags=("nbgrader_higher", "cells_added:1")),
    Case("eq_always_true", lambda t: _with(answered(t, {t.cell: EQ_LIES.replace("NAME", t.name)})), target=ZERO),
    Case(
        "lying_tensor_subclass",
        lambda t: _with(answered(t, {t.cell: LYING_SUBCLASS.replace("NAME", t.name)})),
        target=ZERO,
    ),
    Case(
        "branches_on_NBGRADER_EXECUTION",
        lambda t: _with(
            wrong(
                t,
                after=(
                    "import os\nif os.environ.get('NBGRADER_EXECUTION'):\n"
                    "    import course_utils.checks as _c\n    _c.check_function = lambda *a, **k: 1\n"
                ),
            )
        ),
        target=ZERO,
        flags=("nbgrader_higher",),
    ),
    Case(
        "reads_gradebook",
        lambda t: _with(answered(t, {t.cell: _reads_course(t, t.course / "gradebook.db")})),
        target=ZERO,
        flags=("nbgrader_higher",),
        note="a correct answer that opens the gradebook: zero, flagged",
    ),
    Case(
        "copies_hidden_solution",
        lambda t: _with(answered(t, {t.cell: _steals_solution(t)})),
        target=ZERO,
        flags=("nbgrader_higher",),
        note="execs the instructor's solution cell read from solutions/",
    ),
    Case(
        "planted_course_utils",
        lambda t: _with(wrong(t), {"course_utils/__init__.py": PLANTED_INIT}),
        target=ZERO,
        flags=("nbgrader_higher",),
    ),
    Case(
        "planted_torch_py",
        lambda t: _with(answered(t), {"torch.py": PLANTED_TORCH}),
        flags=("nbgrader_lower",),
        note="correct answers; the planted torch.py sinks nbgrader's kernel but never reaches verification",
    ),
    Case(
        "correct_with_warning",
        lambda t: _with(
            answered(
                t,
                {
                    t.cell: (
                        "import warnings\nwarnings.warn('a learner warning at definition time')\n"
                        + correct_source(t)
                        + f"\n_answer = {t.name}\ndef {t.name}(*args, **kwargs):\n"
                        "    warnings.warn('a warning on every call', UserWarning)\n    return _answer(*args, **kwargs)\n"
                    )
                },
            )
        ),
    ),
]
