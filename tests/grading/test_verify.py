"""Unit tests of the verification tools: the sandbox's limits, the comparison, collect, feedback.

The sandbox tests run real child processes (each imports torch once, a few
seconds); the corpus (test_corpus.py) runs whole submissions through
`make autograde`.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
import torch

from course_utils.grading import collect as collect_mod
from course_utils.grading.feedback import strip_hidden
from course_utils.grading.notebook import integrity_flags
from course_utils.grading.sandbox import Limits, run_child
from course_utils.grading.spec import Exercise, compare


def _job(test_id: str, source: str, name: str = "f", cases=((),), timeout: float = 20.0) -> dict:
    return {"test_id": test_id, "cells": [source], "name": name, "call": True,
            "cases": [{"args": list(c), "kwargs": {}} for c in cases], "timeout": timeout}


@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One child running several probes of what learner code may do, then a crash, a hang and an allocation."""
    secret = tmp_path_factory.mktemp("course")
    (secret / "gradebook.db").write_text("grades")
    os.environ["COURSE_VERIFY_TEST_SECRET"] = "do not pass me on"
    probes = {
        "network": "def f():\n    import socket\n    try:\n        socket.create_connection(('127.0.0.1', 9), timeout=2)\n"
                   "    except Exception as exc:\n        return type(exc).__name__\n    return 'connected'\n",
        "read_gradebook": f"def f():\n    try:\n        return open({str(secret / 'gradebook.db')!r}).read()\n"
                          "    except Exception as exc:\n        return type(exc).__name__\n",
        "list_course": f"def f():\n    import os\n    try:\n        return os.listdir({str(secret)!r})\n"
                       "    except Exception as exc:\n        return type(exc).__name__\n",
        "cwd_on_path": "def f():\n    import os, sys\n    return [p for p in sys.path if p in ('', '.', os.getcwd())]\n",
        "environment": "def f():\n    import os\n    return os.environ.get('COURSE_VERIFY_TEST_SECRET', 'absent')\n",
        "subprocess": "def f():\n    import subprocess\n    try:\n        subprocess.run(['true'])\n"
                      "    except Exception as exc:\n        return type(exc).__name__\n    return 'ran'\n",
        "subclass": "import torch\nclass T(torch.Tensor):\n    pass\ndef f(x):\n    return (x * 2).as_subclass(T)\n",
        "eq_lies": "class A:\n    def __eq__(self, o):\n        return True\ndef f():\n    return A()\n",
        "allocation": "def f():\n    return len(bytearray(16 * 2 ** 30))\n",
        "exit_then_next": "import os\nos._exit(3)\n",
        "after_crash": "def f():\n    return 42\n",
        "hang": "def f():\n    while True:\n        pass\n",
        "after_hang": "def f():\n    return 'still graded'\n",
    }
    jobs = [_job(k, v, cases=[(torch.ones(2),)] if k == "subclass" else [()], timeout=4 if k == "hang" else 20)
            for k, v in probes.items()]
    try:
        return run_child(["import torch"], jobs, denied=[str(secret)], limits=Limits())
    finally:
        del os.environ["COURSE_VERIFY_TEST_SECRET"]


def _out(results: dict, key: str):
    record = results[key]
    assert record["status"] == "ok", record
    return record["outputs"][0]


def test_sandbox_has_no_network(sandboxed: dict) -> None:
    assert _out(sandboxed, "network") != "connected"


def test_sandbox_cannot_read_or_list_the_course(sandboxed: dict) -> None:
    assert _out(sandboxed, "read_gradebook") == "PermissionError"
    assert _out(sandboxed, "list_course") == "PermissionError"


def test_sandbox_path_env_and_processes(sandboxed: dict) -> None:
    assert _out(sandboxed, "cwd_on_path") == [], "the working folder is on sys.path: a planted torch.py would load"
    assert _out(sandboxed, "environment") == "absent"
    assert _out(sandboxed, "subprocess") == "PermissionError"


def test_outputs_are_plain_data(sandboxed: dict) -> None:
    out = _out(sandboxed, "subclass")
    assert type(out) is torch.Tensor and torch.equal(out, torch.full((2,), 2.0))
    assert sandboxed["eq_lies"]["status"] == "error" and "not a tensor" in sandboxed["eq_lies"]["error"]


def test_memory_limit(sandboxed: dict) -> None:
    record = sandboxed["allocation"]
    assert record["status"] == "error" and "MemoryError" in record["error"], record


def test_a_crash_or_hang_costs_only_its_exercise(sandboxed: dict) -> None:
    assert sandboxed["exit_then_next"]["status"] == "crashed"
    assert _out(sandboxed, "after_crash") == 42
    assert sandboxed["hang"]["status"] == "timeout"
    assert _out(sandboxed, "after_hang") == "still graded"


def test_compare_plain_data() -> None:
    x = torch.arange(6.0).reshape(2, 3)
    assert compare(x.clone(), x) is None
    assert "shape" in compare(x.T, x)
    assert "dtype" in compare(x.double(), x)
    assert "differ" in compare(x + 1e-2, x)
    assert compare(torch.full((2, 3), float("nan")), x) is not None
    assert compare(7, 7) is None and compare(7.0, 7) is not None and compare(True, 1) is not None
    assert compare([x, 3], [x, 3]) is None and compare([x], [x, 3]) is not None
    assert compare({"w": x}, {"w": x}) is None and compare({"w": x + 1}, {"w": x}) is not None


def test_exercise_verdict_uses_reference_and_judge() -> None:
    ex = Exercise(test="t", solutions=["s"], name="f", cases=[(torch.ones(2), 2.0)], reference=lambda a, b: a * b)
    assert ex.verdict([torch.full((2,), 2.0)]) is None
    assert "case 1" in ex.verdict([torch.ones(2)])
    judged = Exercise(test="t", solutions=["s"], name="k", call=False, judge=lambda k, c: None if k == 3 else "no")
    assert judged.verdict([3]) is None and judged.verdict([4]) == "case 1: no"


def _course_with_chapter(tmp_path: Path) -> Path:
    (tmp_path / "solutions" / "01_convolution").mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), str(tmp_path / "solutions" / "01_convolution" / "01_convolution.ipynb"))
    return tmp_path


def test_collect_maps_both_layouts(tmp_path: Path) -> None:
    course = _course_with_chapter(tmp_path / "course")
    handins = tmp_path / "handins"
    (handins / "bob").mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nbformat.write(nb, str(handins / "ada_01_convolution.ipynb"))
    nbformat.write(nb, str(handins / "bob" / "01_convolution.ipynb"))
    written = collect_mod.collect(handins, course)
    assert sorted(p.relative_to(course).as_posix() for p in written) == [
        "submitted/ada/01_convolution/01_convolution.ipynb", "submitted/bob/01_convolution/01_convolution.ipynb"]


def test_collect_refuses_misnamed_files_and_copies_nothing(tmp_path: Path) -> None:
    course = _course_with_chapter(tmp_path / "course")
    handins = tmp_path / "handins"
    handins.mkdir()
    nb = nbformat.v4.new_notebook()
    nbformat.write(nb, str(handins / "ada_01_convolution.ipynb"))
    nbformat.write(nb, str(handins / "Untitled.ipynb"))
    with pytest.raises(SystemExit) as info:
        collect_mod.collect(handins, course)
    assert "Untitled.ipynb" in str(info.value) and "<student>_<chapter>.ipynb" in str(info.value)
    assert not (course / "submitted").exists()


def test_strip_hidden_removes_the_region() -> None:
    src = "check(a)\n### BEGIN HIDDEN TESTS\ncheck(secret)\n### END HIDDEN TESTS\ndone()"
    assert strip_hidden(src) == "check(a)\ndone()"


def test_integrity_flags() -> None:
    v4 = nbformat.v4
    meta = {"nbgrader": {"grade": True, "grade_id": "test_f", "locked": True, "points": 2, "solution": False}}
    release = v4.new_notebook(cells=[v4.new_markdown_cell("a"), v4.new_code_cell("check(f)", metadata=meta)])
    release.metadata["kernelspec"] = {"name": "python3"}
    sub = nbformat.from_dict(release)
    assert integrity_flags(sub, release) == []
    sub = nbformat.from_dict(release)
    sub.cells[1].source = "pass"
    sub.cells[1].metadata["nbgrader"]["points"] = 9
    sub.cells.append(v4.new_code_cell("import torch; torch.allclose = None"))
    sub.metadata["kernelspec"] = {"name": "other"}
    assert set(integrity_flags(sub, release)) == {"locked_cell_edited:test_f", "points_changed:test_f",
                                                 "cells_added:1", "kernelspec_changed"}
