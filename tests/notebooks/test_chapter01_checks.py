"""Chapter 01's autograder cells pass the reference solution and reject wrong answers readably.

For each exercise of solutions/01_convolution/01_convolution.ipynb the
autograder cell (visible checks and hidden tests) is run in-process:

- on the instructor's solution it must pass, print ✓ lines and write nothing to stderr;
- on each deliberately wrong answer (a stub, a flipped kernel, an off-by-one, a
  lost dtype, a forgotten bias, a cheat through F.conv2d, ...) it must raise
  CheckFailed whose message names what is wrong (the shape, the dtype, the
  position that differs) and contains no traceback text;
- some wrong answers pass the visible checks and are caught only by the hidden
  tests, which shows the hidden tests try inputs the visible ones do not.

The notebook's layout is checked against the chapter conventions too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools import (  # noqa: E402
    autograder_source, cell, exec_source, load_solution, namespace, readable, run_cell, solution_cells,
    structure_problems, without_hidden,
)

from course_utils.errors import CheckFailed  # noqa: E402

CHAPTER = "01_convolution"
EXERCISES = ("conv2d_loops", "conv2d_unfold", "conv_param_count", "edge_kernel")


@pytest.fixture(scope="module")
def nb():
    return load_solution(CHAPTER)


# ---------------------------------------------------------------- wrong answers

STUB = {
    name: f"def {name}(*args, **kwargs):\n    raise NotImplementedError()\n" for name in EXERCISES
}

LOOPS_TEMPLATE = '''
def conv2d_loops(x, weight, bias=None):
    n, _, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    h_out, w_out = {h_out}, {w_out}
    out = torch.zeros(n, c_out, h_out, w_out{dtype})
    kernel = {kernel}
    for b in range(n):
        for o in range(c_out):
            for i in range(h_out):
                for j in range(w_out):
                    out[b, o, i, j] = {product}
            if bias is not None and {use_bias}:
                out[b, o] += bias[o]
    return out
'''
LOOPS_RIGHT = dict(h_out="h - kh + 1", w_out="w - kw + 1", dtype=", dtype=x.dtype", kernel="weight",
                   product="(x[b, :, i:i + kh, j:j + kw] * kernel[o]).sum()", use_bias="True")


def loops(**change: str) -> str:
    return LOOPS_TEMPLATE.format(**{**LOOPS_RIGHT, **change})


UNFOLD_TEMPLATE = '''
def conv2d_unfold(x, weight, bias=None, stride=1, padding=0):
    n, _, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    h_out = conv_output_size(h, k=kh, s={stride}, p=padding)
    w_out = conv_output_size(w, k=kw, s={stride}, p=padding)
    columns = F.unfold(x, (kh, kw), padding=padding, stride={stride})
    out = weight.reshape(c_out, -1) @ columns
    if bias is not None:
        out = out + bias.reshape(1, c_out, 1)
    return out.reshape({shape}){cast}
'''
UNFOLD_RIGHT = dict(stride="stride", shape="n, c_out, h_out, w_out", cast="")


def unfold(**change: str) -> str:
    return UNFOLD_TEMPLATE.format(**{**UNFOLD_RIGHT, **change})


def kernel(rows: str) -> str:
    return f"def edge_kernel():\n    return torch.tensor({rows})\n"


# (exercise, label, wrong source, substrings the message must contain, caught by the visible checks?)
WRONG = [
    ("conv2d_loops", "stub", STUB["conv2d_loops"], ["not written yet", "NotImplementedError"], True),
    ("conv2d_loops", "true convolution (flipped kernel)", loops(kernel="torch.flip(weight, dims=(2, 3))"),
     ["case 1 of 2", "[0, 0, 0, 0]", "got 6", "expected -6"], True),
    ("conv2d_loops", "off-by-one output size", loops(h_out="h - kh", w_out="w - kw"),
     ["shape (1, 1, 2, 2)", "expected (1, 1, 3, 3)", "dimension 2 is 2 instead of 3"], True),
    ("conv2d_loops", "only the first input channel", loops(product="(x[b, 0, i:i + kh, j:j + kw] * kernel[o, 0]).sum()"),
     ["case 2 of 2", "largest difference is at [0, "], True),
    ("conv2d_loops", "float32 output for float64 input", loops(dtype=""),
     ["hidden case", "dtype float32, expected float64"], False),
    ("conv2d_loops", "bias forgotten", loops(use_bias="False"),
     ["hidden case", "differs from the expected values", "largest difference is at ["], False),
    ("conv2d_unfold", "stub", STUB["conv2d_unfold"], ["not written yet"], True),
    ("conv2d_unfold", "stride ignored", unfold(stride="1"),
     ["case 2 of 2", "stride=2", "shape (1, 4, 7, 7)", "expected (1, 4, 4, 4)"], True),
    ("conv2d_unfold", "height and width swapped", unfold(shape="n, c_out, w_out, h_out"),
     ["hidden case", "expected (3, 5, 5, 6)", "dimension 2 is 6 instead of 5"], False),
    ("conv2d_unfold", "result cast to float32", unfold(cast=".float()"),
     ["hidden case", "dtype float32, expected float64"], False),
    ("conv2d_unfold", "calls F.conv2d",
     "def conv2d_unfold(x, weight, bias=None, stride=1, padding=0):\n"
     "    return F.conv2d(x, weight, bias, stride=stride, padding=padding)\n",
     ["conv2d_unfold called F.conv2d", "F.unfold and a matrix product"], False),
    ("conv2d_unfold", "uses nn.Conv2d",
     "def conv2d_unfold(x, weight, bias=None, stride=1, padding=0):\n"
     "    layer = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2:], stride=stride, padding=padding,\n"
     "                      bias=bias is not None, dtype=x.dtype)\n"
     "    with torch.no_grad():\n"
     "        layer.weight.copy_(weight)\n"
     "        if bias is not None:\n"
     "            layer.bias.copy_(bias)\n"
     "        return layer(x)\n",
     ["called F.conv2d (directly or through nn.Conv2d)"], False),
    ("conv_param_count", "stub", STUB["conv_param_count"], ["not written yet"], True),
    ("conv_param_count", "bias forgotten",
     "def conv_param_count(c_in, c_out, k, bias=True):\n    return c_in * c_out * k * k\n",
     ["case 1 of 2", "432", "448"], True),
    ("conv_param_count", "returns a float",
     "def conv_param_count(c_in, c_out, k, bias=True):\n    return float(c_in * c_out * k * k + (c_out if bias else 0))\n",
     ["float 448.0", "as an int"], True),
    ("conv_param_count", "square kernels only",
     "def conv_param_count(c_in, c_out, k, bias=True):\n    return c_in * c_out * k * k + (c_out if bias else 0)\n",
     ["hidden test input", "raised TypeError", "k: the tuple (1, 7)"], False),
    ("edge_kernel", "stub", STUB["edge_kernel"], ["not written yet"], True),
    ("edge_kernel", "opposite polarity (Sobel y)", kernel("[[-1., -2., -1.], [0., 0., 0.], [1., 2., 1.]]"),
     ["Along a horizontal edge", "outputs at most -4, at position [2, 0]", "at least 1", "change the sign"], True),
    ("edge_kernel", "perpendicular edge (Sobel x)", kernel("[[-1., 0., 1.], [-2., 0., 2.], [-1., 0., 1.]]"),
     ["Along a horizontal edge", "outputs at most 0, at position [2, 0]", "at least 1"], True),
    ("edge_kernel", "responds to flat regions (a blur)", kernel("[[1., 1., 1.], [1., 1., 1.], [1., 1., 1.]]"),
     ["flat image", "position [0, 0]", "add up to 0"], True),
    ("edge_kernel", "diagonal edge detector", kernel("[[1., 1., 0.], [0., 0., 0.], [0., -1., -1.]]"),
     ["vertical edge", "position [", "each column"], True),
    ("edge_kernel", "too weak", kernel("[[0.1, 0.2, 0.1], [0., 0., 0.], [-0.1, -0.2, -0.1]]"),
     ["outputs at most 0.4, at position [2, 0]", "at least 1"], True),
    ("edge_kernel", "integer tensor", kernel("[[1, 2, 1], [0, 0, 0], [-1, -2, -1]]"),
     ["whole numbers (dtype int64)", "return floats"], True),
    ("edge_kernel", "wrong shape", kernel("[[1., 1.], [-1., -1.]]"),
     ["shape (2, 2)", "expected (3, 3)"], True),
    ("edge_kernel", "a list, not a tensor", "def edge_kernel():\n    return [[1., 2., 1.], [0., 0., 0.], [-1., -2., -1.]]\n",
     ["should be a torch.Tensor", "list"], True),
]


def wrong_id(case: tuple) -> str:
    return f"{case[0]}-{case[1].replace(' ', '_')}"


# ---------------------------------------------------------------- the solution passes


@pytest.mark.parametrize("exercise", EXERCISES)
def test_autograder_passes_the_solution_quietly(nb, exercise: str) -> None:
    ns = namespace(nb)
    ran = run_cell(autograder_source(nb, exercise), ns, f"test_{exercise}")
    assert ran.stderr == "", f"test_{exercise} wrote to stderr on the solution: {ran.stderr!r}"
    lines = ran.stdout.splitlines()
    assert lines and all(line.startswith("✓ ") for line in lines), ran.stdout
    assert any("hidden" in line for line in lines), "the hidden tests did not run (no ✓ line for them)"


@pytest.mark.parametrize("exercise", EXERCISES)
def test_visible_checks_alone_pass_the_solution(nb, exercise: str) -> None:
    """What the learner's release keeps of the cell (hidden block removed) runs on its own."""
    visible = without_hidden(autograder_source(nb, exercise))
    assert "HIDDEN" not in visible and "hidden=True" not in visible
    ran = run_cell(visible, namespace(nb), f"test_{exercise}")
    assert ran.stderr == "" and ran.stdout.startswith("✓ "), (ran.stdout, ran.stderr)


# ---------------------------------------------------------------- wrong answers fail readably


@pytest.mark.parametrize("exercise, label, source, expected, visible", WRONG, ids=[wrong_id(c) for c in WRONG])
def test_autograder_rejects_a_wrong_answer(nb, exercise, label, source, expected, visible) -> None:
    import torch

    ns = namespace(nb, replace={exercise: source})
    conv2d = torch.nn.functional.conv2d
    with pytest.raises(CheckFailed) as info:
        run_cell(autograder_source(nb, exercise), ns, f"test_{exercise}")
    message = str(info.value)
    assert torch.nn.functional.conv2d is conv2d and torch.conv2d is conv2d, "the check left F.conv2d switched off"
    missing = [part for part in expected if part not in message]
    assert not missing, f"{label}: the message lacks {missing}:\n{message}"
    assert not readable(message), f"{label}: {readable(message)}:\n{message}"

    # Where the visible checks catch it, the learner sees it before grading; otherwise only the hidden tests do.
    ns = namespace(nb, replace={exercise: source})
    if visible:
        with pytest.raises(CheckFailed):
            run_cell(without_hidden(autograder_source(nb, exercise)), ns, f"test_{exercise}")
    else:
        ran = run_cell(without_hidden(autograder_source(nb, exercise)), ns, f"test_{exercise}")
        assert ran.stdout.startswith("✓ "), f"{label} was expected to pass the visible checks: {ran.stdout}"


def test_every_exercise_has_wrong_answers_caught_by_visible_and_by_hidden_checks() -> None:
    for exercise in EXERCISES:
        kinds = {visible for name, *_, visible in WRONG if name == exercise}
        assert True in kinds, f"{exercise}: no wrong answer is caught by the visible checks"
    assert sum(1 for *_, visible in WRONG if not visible) >= 4


# ---------------------------------------------------------------- layout and content


def test_notebook_follows_the_chapter_conventions(nb) -> None:
    problems = structure_problems(nb, CHAPTER)
    assert not problems, "\n".join(problems)


def test_exercises_points_and_ids(nb) -> None:
    ids = [cell.metadata["nbgrader"]["grade_id"] for cell in solution_cells(nb)]
    assert ids == list(EXERCISES), ids
    points = {gid: cell(nb, f"test_{gid}").metadata["nbgrader"]["points"] for gid in ids}
    assert all(isinstance(p, int) and 1 <= p <= 3 for p in points.values()), points


def test_chapter_content_is_present(nb) -> None:
    text = "\n".join(c.source for c in nb.cells)
    for needle in (
        "nn.Linear(n_inputs", "sample_image()",                       # parameter explosion on a real photo
        "Local connectivity", "Weight sharing",
        "1 - 3 + 6 - 8 + 11 - 13 = -6",                                 # the multiply-and-sum written out
        "torch.flip(k4", "cross-correlation",
        "(C_{out}, C_{in}, k_H, k_W)",
        'get_kernel(name)', '"box_blur", "sharpen", "sobel_x", "sobel_y"',
        'KernelExplorer(explorer_image, kernel="sobel_x")',
        "## 7. Worked example",
    ):
        assert needle in text, f"the chapter lacks {needle!r}"


def test_quiz_answers_agree_with_what_the_chapter_computes(nb) -> None:
    """The quiz's numeric answers are the ones the chapter's own code gives."""
    ns = namespace(nb)
    quiz = exec_source(nb.cells[-1].source, ns, "quiz")
    assert 3 <= len(quiz.questions) <= 4
    numeric = [q for q in quiz.questions if "options" not in q]
    assert numeric[0]["answer"] == ns["conv_param_count"](3, 8, 5)
    assert numeric[1]["answer"] == ns["conv_output_size"](32, k=3)
    for i, q in enumerate(quiz.questions):
        quiz.answer(i, q["answer"])
    assert quiz.score() == len(quiz.questions)


def test_kernel_explorer_cell_runs_and_matches_pytorch(nb) -> None:
    import torch
    import torch.nn.functional as F

    ns = namespace(nb)
    source = next(c.source for c in nb.cells if "KernelExplorer(" in c.source and c.cell_type == "code")
    explorer = exec_source(source, ns, "explorer")
    try:
        image = ns["explorer_image"]
        expected = F.conv2d(image[None], ns["get_kernel"]("sobel_x")[None, None])[0]
        torch.testing.assert_close(explorer.output, expected)
    finally:
        explorer.close()
