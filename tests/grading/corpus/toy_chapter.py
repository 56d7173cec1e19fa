"""A three-exercise chapter written the way every course chapter is, for the grading corpus.

It mirrors chapter 01's exercise kinds (a from-scratch function checked against
PyTorch, a count, a hand-designed kernel) but runs in a couple of seconds, so
the corpus can autograde dozens of submissions. ``write_chapter`` writes the
instructor source into ``<course>/solutions/90_verifytoy/`` and its
verification spec into ``<course>/grading/90_verifytoy.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

CHAPTER = "90_verifytoy"
HERE = Path(__file__).resolve().parent

SETUP = """# Setup: in Colab this installs the course helpers; elsewhere it does nothing but import.
import sys
if "google.colab" in sys.modules:
    %pip install --quiet "course_utils @ git+https://github.com/cnn-course/cnn-course"
import torch
import torch.nn.functional as F
from course_utils import seed_everything
seed_everything(0)"""

CONV1D = '''def conv1d_valid(x, w):
    """Cross-correlate each row of x (N, L) with w (K,); return (N, L - K + 1)."""
    ### BEGIN SOLUTION
    k = w.shape[0]
    return torch.stack([(x[:, i:i + k] * w).sum(dim=1) for i in range(x.shape[1] - k + 1)], dim=1)
    ### END SOLUTION'''

TEST_CONV1D = '''"""Check that conv1d_valid matches F.conv1d."""
from course_utils.checks import check_function
reference = lambda x, w: F.conv1d(x[:, None], w[None, None])[:, 0]
check_function(conv1d_valid, reference, [(torch.arange(6.0).reshape(1, 6), torch.tensor([1.0, 0.0, -1.0]))],
               arg_names=("x", "w"))
### BEGIN HIDDEN TESTS
g = torch.Generator().manual_seed(11)
# check_function returns how many cases passed; nbgrader would read a number left as the
# cell's last value as partial credit, so it is assigned, never left as the cell's value.
_ = check_function(conv1d_valid, reference, [(torch.randn(3, 9, generator=g), torch.randn(4, generator=g))],
                   arg_names=("x", "w"), hidden=True)
### END HIDDEN TESTS'''

COUNT = '''def conv_params(c_in, c_out, k):
    """Parameters of nn.Conv2d(c_in, c_out, k) with a bias."""
    ### BEGIN SOLUTION
    return c_in * c_out * k * k + c_out
    ### END SOLUTION'''

TEST_COUNT = '''"""Check that conv_params counts weights and biases."""
from course_utils.checks import check_equal
check_equal(conv_params(3, 8, 3), sum(p.numel() for p in torch.nn.Conv2d(3, 8, 3).parameters()), "conv_params(3, 8, 3)")
### BEGIN HIDDEN TESTS
check_equal(conv_params(5, 2, 5), sum(p.numel() for p in torch.nn.Conv2d(5, 2, 5).parameters()), "a hidden count")
### END HIDDEN TESTS'''

EDGE = """# A 3x3 kernel that responds to dark-to-bright vertical edges (left dark, right bright).
### BEGIN SOLUTION
edge_kernel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
### END SOLUTION"""

TEST_EDGE = '''"""Check that edge_kernel finds vertical dark-to-bright edges only."""
from course_utils.checks import check_shape
check_shape(edge_kernel, (3, 3), "edge_kernel")
step = torch.zeros(1, 1, 6, 6); step[..., 3:] = 1.0
assert F.conv2d(step, edge_kernel[None, None]).max() > 0.5, "edge_kernel should respond to a left-dark, right-bright edge."
### BEGIN HIDDEN TESTS
assert F.conv2d(torch.ones(1, 1, 5, 5), edge_kernel[None, None]).abs().max() < 1e-5, "edge_kernel should ignore flat areas."
assert F.conv2d(step.transpose(2, 3), edge_kernel[None, None]).abs().max() < 1e-5, "edge_kernel should ignore horizontal edges."
### END HIDDEN TESTS'''


def _meta(grade_id: str, *, solution: bool, points: float | None = None) -> dict:
    meta = {
        "grade": points is not None,
        "grade_id": grade_id,
        "locked": not solution,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def build_notebook() -> nbformat.NotebookNode:
    """The instructor source of the toy chapter (nbformat 4.5, no outputs)."""
    v4 = nbformat.v4
    cells = [
        v4.new_markdown_cell("# 90 · Verification toy\nA tiny chapter used to test grading."),
        v4.new_code_cell(SETUP),
        v4.new_markdown_cell("## Exercise 1: a 1-D cross-correlation"),
        v4.new_code_cell(CONV1D, metadata=_meta("conv1d_valid", solution=True)),
        v4.new_code_cell(TEST_CONV1D, metadata=_meta("test_conv1d_valid", solution=False, points=2)),
        v4.new_markdown_cell("## Exercise 2: counting parameters"),
        v4.new_code_cell(COUNT, metadata=_meta("conv_params", solution=True)),
        v4.new_code_cell(TEST_COUNT, metadata=_meta("test_conv_params", solution=False, points=1)),
        v4.new_markdown_cell("## Exercise 3: an edge kernel"),
        v4.new_code_cell(EDGE, metadata=_meta("edge_kernel", solution=True)),
        v4.new_code_cell(TEST_EDGE, metadata=_meta("test_edge_kernel", solution=False, points=2)),
    ]
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def write_chapter(course: Path) -> None:
    """Write the toy chapter's source and verification spec into a course copy."""
    folder = course / "solutions" / CHAPTER
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(build_notebook(), str(folder / f"{CHAPTER}.ipynb"))
    (course / "grading").mkdir(exist_ok=True)
    shutil.copy2(HERE / "toy_spec.py", course / "grading" / f"{CHAPTER}.py")
