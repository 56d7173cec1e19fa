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
from course_utils.grading import harness
from course_utils.grading.feedback import strip_hidden
from course_utils.grading.notebook import integrity_flags
from course_utils.grading.sandbox import Limits, run_child
from course_utils.grading.spec import Exercise, Raises, compare, outcome_verdict


def _job(test_id: str, source: str, name: str = "f", cases=((),), timeout: float = 20.0, **how) -> dict:
    return {
        "test_id": test_id,
        "cells": [source],
        "name": name,
        "call": True,
        "cases": [{"args": list(c), "kwargs": {}} for c in cases],
        "timeout": timeout,
        **how,
    }


_MODEL_INPUT = harness.model_arg(
    [
        ["Conv2d", {"in_channels": 2, "out_channels": 3, "kernel_size": 3}],
        ["BatchNorm2d", {"num_features": 3}],
        ["Dropout", {"p": 0.5}],
    ],
    seed=5,
    dtype=torch.float64,
    init=lambda m: m[1].running_var.fill_(4.0),
)
_X = torch.randn(1, 2, 5, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

# How the child calls answers that are modules, take modules or must raise (spec.Exercise's driver and outcome).
DRIVER_PROBES = {
    "describe": (
        "import torch.nn as nn\ndef f():\n    return nn.Sequential(nn.Conv2d(3, 4, (3, 1), stride=2, bias=False),"
        " nn.Sequential(nn.ReLU()), nn.Flatten())\n",
        [()],
        {"driver": "describe"},
    ),
    "describe_custom": (
        "import torch.nn as nn\nclass Mine(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.conv = nn.Conv2d(1, 1, 3)\n    def forward(self, x):\n        return self.conv(x) * 0\n"
        "def f():\n    return Mine()\n",
        [()],
        {"driver": "describe"},
    ),
    "module": (
        "import torch, torch.nn as nn\nclass f(nn.Module):\n    def __init__(self, scale):\n        super().__init__()\n"
        "        self.w = nn.Parameter(torch.tensor(float(scale)))\n    def forward(self, x):\n        return self.w * x * x\n",
        [(3.0, torch.arange(4.0))],
        {"driver": "module"},
    ),
    "outcome": (
        "def f(k):\n    if k < 0:\n        raise ValueError('negative')\n    return k\n",
        [(2,), (-1,)],
        {"outcome": True},
    ),
    "outcome_fake": (
        "class ValueError(Exception):\n    pass\ndef f(k):\n    raise ValueError('a learner class named ValueError')\n",
        [(-1,)],
        {"outcome": True},
    ),
    "model_input": (
        "def f(model, x):\n    return [type(model).__name__, model.training, model.eval()(x)]\n",
        [(_MODEL_INPUT, _X)],
        {},
    ),
}


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
    jobs = [_job(k, source, cases=cases, **how) for k, (source, cases, how) in DRIVER_PROBES.items()]
    jobs += [
        _job(k, v, cases=[(torch.ones(2),)] if k == "subclass" else [()], timeout=4 if k == "hang" else 20)
        for k, v in probes.items()
    ]
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


def test_describe_driver_sends_layers_the_grader_rebuilds(sandboxed: dict) -> None:
    out = _out(sandboxed, "describe")
    assert out["type"] == "Sequential" and [layer[0] for layer in out["layers"]] == ["Conv2d", "ReLU", "Flatten"]
    model = harness.build(out["layers"])
    conv = model[0]
    assert type(conv) is torch.nn.Conv2d and conv.kernel_size == (3, 1) and conv.stride == (2, 2) and conv.bias is None
    record = sandboxed["describe_custom"]
    assert record["status"] == "error" and "own forward" in record["error"], record


def test_module_driver_returns_output_parameters_and_gradients(sandboxed: dict) -> None:
    out = _out(sandboxed, "module")
    x = torch.arange(4.0)
    assert torch.equal(out["output"], 3.0 * x * x) and out["requires_grad"] is True
    assert set(out["parameters"]) == {"w"} and float(out["grads"]["w"]) == float((x * x).sum())


def test_outcome_records_returns_and_builtin_exceptions(sandboxed: dict) -> None:
    record = sandboxed["outcome"]
    assert record["status"] == "ok", record
    returned, raised = record["outputs"]
    assert returned == {"returned": 2} and "ValueError" in raised["raised"]
    assert outcome_verdict(returned, 2) is None and outcome_verdict(raised, Raises("ValueError")) is None
    assert outcome_verdict(returned, Raises("ValueError")) is not None and outcome_verdict(raised, 2) is not None
    (fake,) = sandboxed["outcome_fake"]["outputs"]
    assert "ValueError" not in fake["raised"], "a learner's own class named ValueError passed for the built-in one"
    assert outcome_verdict(fake, Raises("ValueError")) is not None


def test_model_inputs_are_the_same_model_on_both_sides(sandboxed: dict) -> None:
    name, training, output = _out(sandboxed, "model_input")
    assert name == "Sequential" and training is True, "a model input must arrive in the training mode it was given"
    expected = harness.build_arg(_MODEL_INPUT).eval()(_X)
    assert output.dtype == torch.float64 and torch.allclose(output, expected.detach())


def test_build_refuses_descriptions_it_cannot_trust() -> None:
    conv = [
        "Conv2d",
        {"in_channels": 1, "out_channels": 2, "kernel_size": [3, 3]},
        {"weight": [2, 1, 3, 3], "bias": [2]},
    ]
    assert type(harness.build([conv])[0]) is torch.nn.Conv2d
    for bad in (
        ["MyLayer", {}],
        ["Conv2d", {**conv[1], "evil": 1}, conv[2]],
        ["Conv2d", conv[1], {"weight": [9], "bias": [2]}],
        ["Linear", {"in_features": -1, "out_features": 2}],
    ):
        with pytest.raises(ValueError):
            harness.build([bad])
    with pytest.raises(TypeError):
        harness.describe(torch.nn.LazyLinear(3))


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
    # A one-element tensor stands for its number (as in the notebook's check_equal), but not a float for an int.
    assert compare(torch.tensor(7), 7) is None and compare(torch.tensor(7.0), 7) is not None
    assert compare(torch.tensor([0.5]), 0.5) is None and compare(torch.tensor([1, 2]), 1) is not None


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
        "submitted/ada/01_convolution/01_convolution.ipynb",
        "submitted/bob/01_convolution/01_convolution.ipynb",
    ]


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
    sub.metadata["kernelspec"] = {"name": "other"}  # another Python 3 kernel is the learner's choice, not tampering
    assert set(integrity_flags(sub, release)) == {"locked_cell_edited:test_f", "points_changed:test_f", "cells_added:1"}


def test_grades_come_from_the_last_verification_without_rerunning(tmp_path: Path) -> None:
    """`make grades` (--from-report) writes the CSV from verification.json and refuses when there is none."""
    import csv as csv_mod
    import json

    from course_utils.grading.__main__ import main as grading_main

    with pytest.raises(SystemExit, match="make autograde"):
        grading_main(["grades", str(tmp_path), "--csv", str(tmp_path / "g.csv")])
    rows = [
        {
            "student": "ada",
            "chapter": "01_convolution",
            "verified": 6.0,
            "nbgrader": 8.0,
            "max_score": 8.0,
            "flags": ["nbgrader_higher"],
            "exercises": [],
        },
        {
            "student": "bob",
            "chapter": "02_padding_stride_dilation",
            "verified": 12.0,
            "nbgrader": None,
            "max_score": 12.0,
            "flags": [],
            "exercises": [],
        },
    ]
    (tmp_path / "verification.json").write_text(json.dumps(rows))
    assert grading_main(["grades", str(tmp_path), "--csv", str(tmp_path / "g.csv"), "--chapter", "01_convolution"]) == 0
    with open(tmp_path / "g.csv", newline="") as fh:
        got = list(csv_mod.reader(fh))
    assert got == [
        ["student_id", "assignment", "score", "max_score", "nbgrader_score", "flags"],
        ["ada", "01_convolution", "6", "8", "8", "nbgrader_higher"],
    ]
    assert not (tmp_path / "submitted").exists()  # nothing was verified again


# ------------------------------------------------------------ the statement's rules in verification (issue 10: 3, 6)
# Each answer is judged twice: by the notebook's check_function (in this process) and by verify_submission
# (sandboxed child + trusted grader); both must refuse or accept it, with the same sentence.
from typing import NamedTuple  # noqa: E402

import torch.nn.functional as F  # noqa: E402

from course_utils.checks import NO_CONV, NO_POOLING, Forbid, check_function  # noqa: E402
from course_utils.errors import CheckFailed  # noqa: E402
from course_utils.grading.spec import ChapterSpec  # noqa: E402
from course_utils.grading.verify import verify_submission  # noqa: E402

_RX = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(3))
_RW = torch.randn(4, 3, 3, 3, generator=torch.Generator().manual_seed(4))
_SETUP = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"


class _Field(NamedTuple):
    size: int
    jump: int
    start: float


def _fields(layers):
    out, size, jump, start = [], 1, 1, 0.5
    for k, s, p, d in layers:
        size, start, jump = size + d * (k - 1) * jump, start + (d * (k - 1) / 2 - p) * jump, jump * s
        out.append((size, jump, start))
    return out


def _stack_judge(got, case) -> str | None:
    """Like grading/02's downsampling_stack judge: one ReLU per convolution, built from the description."""
    layers = harness.build(got["layers"])
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in layers)
    return (
        None
        if convs == 2 and sum(isinstance(m, torch.nn.ReLU) for m in layers) == convs
        else "the stack does not have one ReLU per convolution"
    )


# name: (Exercise keywords, wrong answer or None, right answer, notebook reference or None)
RULES = {
    "conv": (
        dict(name="conv2d_unfold", cases=[(_RX, _RW)], reference=F.conv2d, forbid=NO_CONV),
        "def conv2d_unfold(x, w):\n    return F.conv2d(x, w)\n",
        "def conv2d_unfold(x, w):\n    n, _, h, wd = x.shape\n    o, _, kh, kw = w.shape\n"
        "    cols = F.unfold(x, (kh, kw))\n    return (w.reshape(o, -1) @ cols).reshape(n, o, h - kh + 1, wd - kw + 1)\n",
        F.conv2d,
    ),
    "conv_run": (
        dict(
            name="conv2d_unfold",
            cases=[(_RX, _RW)],
            reference=F.conv2d,
            forbid=Forbid(aten=("convolution",), reason="compute it yourself"),
        ),
        "def conv2d_unfold(x, w):\n    return torch.convolution(x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)\n",
        "def conv2d_unfold(x, w):\n    p = x.unfold(2, 3, 1).unfold(3, 3, 1)\n"
        "    return torch.einsum('nchwij,ocij->nohw', p, w)\n",
        F.conv2d,
    ),
    "pool": (
        dict(name="avg_pool2d", cases=[(_RX, 2)], reference=F.avg_pool2d, forbid=NO_POOLING),
        "def avg_pool2d(x, k):\n    return torch.nn.functional.avg_pool2d(x, k)\n",
        "def avg_pool2d(x, k):\n    return x.unfold(2, k, k).unfold(3, k, k).mean(dim=(-2, -1))\n",
        F.avg_pool2d,
    ),
    "in_place": (
        dict(name="avg_pool2d", cases=[(_RX, 2)], reference=F.avg_pool2d),
        "def avg_pool2d(x, k):\n    x.div_(k * k)\n    return x.unfold(2, k, k).unfold(3, k, k).sum(dim=(-2, -1))\n",
        "def avg_pool2d(x, k):\n    x = x / (k * k)\n    return x.unfold(2, k, k).unfold(3, k, k).sum(dim=(-2, -1))\n",
        F.avg_pool2d,
    ),
    "requires_grad": (
        dict(name="gradient_map", cases=[(_RX[0, 0],)], reference=lambda x: 2 * x),
        "def gradient_map(x):\n    x.requires_grad_()\n    (x ** 2).sum().backward()\n    return x.grad.detach()\n",
        "def gradient_map(x):\n    x = x.detach().clone().requires_grad_()\n    (x ** 2).sum().backward()\n"
        "    return x.grad\n",
        lambda x: 2 * x,
    ),
    "allowed_in_place": (
        dict(name="step", cases=[(_RX[0, 0].clone(),)], reference=lambda x: 0.0, mutates=("x",)),
        None,
        "def step(x):\n    x.mul_(0.5)\n    return 0.0\n",
        lambda x: 0.0,
    ),
    "returns": (
        dict(name="field_size", cases=[(3,)], reference=lambda n: n / 2, returns=float),
        "def field_size(n):\n    return torch.tensor(n / 2)\n",
        "def field_size(n):\n    return n / 2\n",
        lambda n: n / 2,
    ),
    "named_tuples": (
        dict(
            name="field_recursion",
            cases=[([(3, 1, 1, 1), (3, 2, 1, 1), (3, 1, 0, 2)],)],
            reference=_fields,
            returns=list,
        ),
        None,
        "from typing import NamedTuple\nclass Field(NamedTuple):\n    size: int\n    jump: int\n"
        "    start: float\ndef field_recursion(layers):\n    out, size, jump, start = [], 1, 1, 0.5\n"
        "    for k, s, p, d in layers:\n        size, start, jump = size + d * (k - 1) * jump, "
        "start + (d * (k - 1) / 2 - p) * jump, jump * s\n        out.append(Field(size, jump, start))\n"
        "    return out\n",
        _fields,
    ),
    "value": (
        dict(name="n_params", call=False, reference=lambda: 5, returns=int),
        "n_params = torch.tensor(5)\n",
        "n_params = 5\n",
        None,
    ),
    "shared_relu": (
        dict(name="stack", cases=[()], judge=_stack_judge, driver="describe"),
        "def stack():\n    conv = nn.Conv2d(3, 3, 3, stride=2, padding=1)\n"
        "    return nn.Sequential(conv, nn.ReLU(), conv, nn.ReLU())\n",
        "def stack():\n    relu = nn.ReLU()\n    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), relu,"
        " nn.Conv2d(8, 8, 3, stride=2, padding=1), relu)\n",
        None,
    ),
}


def _cell(source: str, **meta) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"schema_version": 3, "locked": False, "solution": False, "grade": False, **meta}
    return cell


def _notebook(answers: dict[str, str]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(_cell(_SETUP, grade_id="setup", locked=True))
    for key, source in answers.items():
        nb.cells.append(_cell(source, grade_id=f"sol_{key}", solution=True))
        nb.cells.append(_cell("pass", grade_id=f"test_{key}", grade=True, locked=True, points=1))
    return nb


@pytest.fixture(scope="module")
def rules_verified(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """verify_submission on a wrong and a right hand-in of every RULES exercise (one child each)."""
    course = tmp_path_factory.mktemp("rules")
    chapter = "99_rules"
    instructor = _notebook({key: right for key, (_, _, right, _) in RULES.items()})
    (course / "solutions" / chapter).mkdir(parents=True)
    nbformat.write(instructor, str(course / "solutions" / chapter / f"{chapter}.ipynb"))
    hand_ins = {
        "wrong": {key: wrong or right for key, (_, wrong, right, _) in RULES.items()},
        "right": {key: right for key, (_, _, right, _) in RULES.items()},
    }
    for student, answers in hand_ins.items():
        (course / "submitted" / student / chapter).mkdir(parents=True)
        nbformat.write(_notebook(answers), str(course / "submitted" / student / chapter / f"{chapter}.ipynb"))
    exercises = [Exercise(test=f"test_{key}", solutions=[f"sol_{key}"], **kw) for key, (kw, _, _, _) in RULES.items()]
    spec = ChapterSpec(chapter, course / "grading" / f"{chapter}.py", exercises)
    return {
        student: {e.test.removeprefix("test_"): e for e in verify_submission(course, spec, student).exercises}
        for student in hand_ins
    }


def _notebook_check(key: str, source: str) -> str | None:
    """What the notebook's visible check says about ``source`` (None when it passes)."""
    kw, _, _, reference = RULES[key]
    import linecache

    space: dict = {}
    filename = f"<answer {key}>"  # registered as IPython registers a cell, so inspect.getsource reads it
    linecache.cache[filename] = (len(_SETUP + source), None, (_SETUP + source).splitlines(True), filename)
    exec(compile(_SETUP + source, filename, "exec"), space)  # noqa: S102 - test answers written above
    options = {k: kw[k] for k in ("forbid", "returns", "mutates") if k in kw}
    try:
        check_function(space[kw["name"]], reference, kw["cases"], name=kw["name"], **options)
    except CheckFailed as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("key", [k for k, v in RULES.items() if v[1] is not None])
def test_verification_refuses_what_the_statement_forbids_with_the_notebooks_sentence(key: str, rules_verified) -> None:
    result = rules_verified["wrong"][key]
    assert result.verified == 0 and result.status in ("rule_violation", "wrong", "error"), result
    if RULES[key][3] is not None:  # the same answer, checked in the notebook, gets the same sentence
        assert result.status == "rule_violation" and result.reason == _notebook_check(key, RULES[key][1]), result


@pytest.mark.parametrize("key", list(RULES))
def test_verification_accepts_what_the_statement_allows(key: str, rules_verified) -> None:
    result = rules_verified["right"][key]
    assert result.status == "passed" and result.verified == 1, result
    if RULES[key][3] is not None:
        assert _notebook_check(key, RULES[key][2]) is None


def test_shared_layers_with_weights_are_refused_and_stateless_ones_described_at_each_place(rules_verified) -> None:
    assert "uses one Conv2d in several places" in rules_verified["wrong"]["shared_relu"].reason
    relu = torch.nn.ReLU()
    described = harness.describe(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), relu, torch.nn.Conv2d(4, 4, 3), relu))
    assert [layer[0] for layer in described["layers"]] == ["Conv2d", "ReLU", "Conv2d", "ReLU"]


def test_rule_violation_judges_only_what_the_child_reports() -> None:
    ex = Exercise(test="t", solutions=["s"], name="f", reference=lambda x: x, forbid=NO_CONV, returns=float)
    ok = {"status": "ok", "outputs": [1.0], "ops": ["mul"], "mutations": [[]], "kinds": ["float"]}
    assert ex.rule_violation(["def f(x):\n    return x * 1.0\n"], ok) is None
    assert "runs the ATen operation `convolution`" in ex.rule_violation([], {**ok, "ops": ["convolution"]})
    assert ex.rule_violation([], {**ok, "ops": None}) == "the child did not report the operations it ran"
    assert ex.rule_violation([], {**ok, "kinds": ["tensor"]}).startswith("`f` returned a tensor")
    assert ex.rule_violation([], {**ok, "mutations": [[["x", "its values", False]]]}).startswith(
        "`f` changed its argument `x` in place"
    )
    assert ex.rule_violation([], {**ok, "mutations": "junk", "kinds": 3}) is None  # odd data costs nothing here
    with pytest.raises(Exception, match="returns= applies to driver 'call' only"):
        Exercise(test="t", solutions=["s"], name="f", driver="describe", returns=float)


def test_grade_decides_status_and_reason_as_verification_does() -> None:
    ex = Exercise(
        test="t",
        solutions=["s"],
        name="f",
        cases=[(2,)],
        reference=lambda n: n / 2,
        returns=float,
        forbid=Forbid(calls=("conv2d",), reason="compute it yourself"),
    )
    ok = {"status": "ok", "outputs": [1.0], "mutations": [[]], "kinds": ["float"]}
    assert ex.grade(ok, ["def f(n):\n    return n / 2\n"]) == ("passed", "")
    assert ex.grade({**ok, "outputs": [2.0]}, []) == ("wrong", "case 1: got 2.0, expected 1.0")
    assert ex.grade({**ok, "kinds": ["tensor"]}, [])[0] == "rule_violation"
    assert ex.grade({"status": "error", "error": "boom"}, ["y = F.conv2d(x, w)"]) == (
        "rule_violation",
        "`f` calls `F.conv2d`, which this exercise forbids: compute it yourself.",
    )
    assert ex.grade({"status": "timeout", "error": "ran longer than 4 s"}, []) == ("timeout", "ran longer than 4 s")
    assert ex.grade({**ok, "outputs": [object()]}, [])[0] == "wrong"


def test_helper_cells_run_again_after_the_learners_cells() -> None:
    """A solution cell that redefines an instructor helper (SETUP_CELLS) does not change what verification calls."""
    helper = "def wrapper(x):\n    return ('instructor', answer(x))\n"
    cheat = "def answer(x):\n    return x + 1\ndef wrapper(x):\n    return ('instructor', 2)\n"
    honest = "def answer(x):\n    return x + 1\n"
    jobs = [
        {**_job("cheat", cheat, name="wrapper", cases=[(5,)])},
        {**_job("honest", honest, name="wrapper", cases=[(5,)])},
    ]
    results = run_child(["import torch", helper], jobs, denied=[], limits=Limits())
    assert _out(results, "cheat") == ["instructor", 6]
    assert _out(results, "honest") == ["instructor", 6]
