"""Chapter 01's autograder cells pass the reference solution and reject wrong answers readably.

The shared tests (nbtools.ChapterChecks) run each exercise's autograder cell of
solutions/01_convolution/01_convolution.ipynb in-process, visible checks and
hidden tests:

- on the instructor's solution it must pass, print ✓ lines and write nothing to stderr;
- on each deliberately wrong answer below (a stub, a flipped kernel, an off-by-one,
  a lost dtype, a forgotten bias, a cheat through F.conv2d, ...) it must raise
  CheckFailed whose message names what is wrong (the shape, the dtype, the
  position that differs) and contains no traceback text;
- the ``HIDDEN_ONLY`` wrong answers pass the visible checks and are caught only by
  the hidden tests, which shows the hidden tests try inputs the visible ones do not.

Here chapter 01's wrong answers are whole exercise cells, not solution blocks.
The notebook's layout, content, quiz and kernel explorer are checked too.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools import ChapterChecks, exec_source, namespace  # noqa: E402

# ---------------------------------------------------------------- wrong answers

STUBS = {
    name: f"def {name}(*args, **kwargs):\n    raise NotImplementedError()\n"
    for name in ("conv2d_loops", "conv2d_unfold", "conv_param_count", "edge_kernel")
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


class TestChapter01(ChapterChecks):
    CHAPTER = "01_convolution"
    EXERCISES = ("conv2d_loops", "conv2d_unfold", "conv_param_count", "edge_kernel")
    MIN_HIDDEN_ONLY = 4

    # (exercise, label, wrong exercise cell, substrings the message must contain)
    VISIBLE = [
        ("conv2d_loops", "stub", STUBS["conv2d_loops"], ["not written yet", "NotImplementedError"]),
        ("conv2d_loops", "true convolution (flipped kernel)", loops(kernel="torch.flip(weight, dims=(2, 3))"),
         ["case 1 of 2", "[0, 0, 0, 0]", "got 6", "expected -6"]),
        ("conv2d_loops", "off-by-one output size", loops(h_out="h - kh", w_out="w - kw"),
         ["shape (1, 1, 2, 2)", "expected (1, 1, 3, 3)", "dimension 2 is 2 instead of 3"]),
        ("conv2d_loops", "only the first input channel", loops(product="(x[b, 0, i:i + kh, j:j + kw] * kernel[o, 0]).sum()"),
         ["case 2 of 2", "largest difference is at [0, "]),
        ("conv2d_unfold", "stub", STUBS["conv2d_unfold"], ["not written yet"]),
        ("conv2d_unfold", "stride ignored", unfold(stride="1"),
         ["case 2 of 2", "stride=2", "shape (1, 4, 7, 7)", "expected (1, 4, 4, 4)"]),
        ("conv_param_count", "stub", STUBS["conv_param_count"], ["not written yet"]),
        ("conv_param_count", "bias forgotten",
         "def conv_param_count(c_in, c_out, k, bias=True):\n    return c_in * c_out * k * k\n",
         ["case 1 of 2", "432", "448"]),
        ("conv_param_count", "returns a float",
         "def conv_param_count(c_in, c_out, k, bias=True):\n    return float(c_in * c_out * k * k + (c_out if bias else 0))\n",
         ["float 448.0", "as an int"]),
        ("edge_kernel", "stub", STUBS["edge_kernel"], ["not written yet"]),
        ("edge_kernel", "opposite polarity (Sobel y)", kernel("[[-1., -2., -1.], [0., 0., 0.], [1., 2., 1.]]"),
         ["Along a horizontal edge", "outputs at most -4, at position [2, 0]", "at least 1", "change the sign"]),
        ("edge_kernel", "perpendicular edge (Sobel x)", kernel("[[-1., 0., 1.], [-2., 0., 2.], [-1., 0., 1.]]"),
         ["Along a horizontal edge", "outputs at most 0, at position [2, 0]", "at least 1"]),
        ("edge_kernel", "responds to flat regions (a blur)", kernel("[[1., 1., 1.], [1., 1., 1.], [1., 1., 1.]]"),
         ["flat image", "position [0, 0]", "add up to 0"]),
        ("edge_kernel", "diagonal edge detector", kernel("[[1., 1., 0.], [0., 0., 0.], [0., -1., -1.]]"),
         ["vertical edge", "position [", "each column"]),
        ("edge_kernel", "too weak", kernel("[[0.1, 0.2, 0.1], [0., 0., 0.], [-0.1, -0.2, -0.1]]"),
         ["outputs at most 0.4, at position [2, 0]", "at least 1"]),
        ("edge_kernel", "integer tensor", kernel("[[1, 2, 1], [0, 0, 0], [-1, -2, -1]]"),
         ["whole numbers (dtype int64)", "return floats"]),
        ("edge_kernel", "wrong shape", kernel("[[1., 1.], [-1., -1.]]"),
         ["shape (2, 2)", "expected (3, 3)"]),
        ("edge_kernel", "a list, not a tensor", "def edge_kernel():\n    return [[1., 2., 1.], [0., 0., 0.], [-1., -2., -1.]]\n",
         ["should be a torch.Tensor", "list"]),
    ]
    HIDDEN_ONLY = [
        ("conv2d_loops", "float32 output for float64 input", loops(dtype=""),
         ["hidden case", "dtype float32, expected float64"]),
        ("conv2d_loops", "bias forgotten", loops(use_bias="False"),
         ["hidden case", "differs from the expected values", "largest difference is at ["]),
        ("conv2d_unfold", "height and width swapped", unfold(shape="n, c_out, w_out, h_out"),
         ["hidden case", "expected (3, 5, 5, 6)", "dimension 2 is 6 instead of 5"]),
        ("conv2d_unfold", "result cast to float32", unfold(cast=".float()"),
         ["hidden case", "dtype float32, expected float64"]),
        ("conv2d_unfold", "calls F.conv2d",
         "def conv2d_unfold(x, weight, bias=None, stride=1, padding=0):\n"
         "    return F.conv2d(x, weight, bias, stride=stride, padding=padding)\n",
         ["conv2d_unfold called F.conv2d", "F.unfold and a matrix product"]),
        ("conv2d_unfold", "uses nn.Conv2d",
         "def conv2d_unfold(x, weight, bias=None, stride=1, padding=0):\n"
         "    layer = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2:], stride=stride, padding=padding,\n"
         "                      bias=bias is not None, dtype=x.dtype)\n"
         "    with torch.no_grad():\n"
         "        layer.weight.copy_(weight)\n"
         "        if bias is not None:\n"
         "            layer.bias.copy_(bias)\n"
         "        return layer(x)\n",
         ["called F.conv2d (directly or through nn.Conv2d)"]),
        ("conv_param_count", "square kernels only",
         "def conv_param_count(c_in, c_out, k, bias=True):\n    return c_in * c_out * k * k + (c_out if bias else 0)\n",
         ["hidden test input", "raised TypeError", "k: the tuple (1, 7)"]),
    ]

    def wrong_cell(self, notebook, wrong) -> str:
        return wrong.answer  # a whole cell, not a solution block

    # ------------------------------------------------------------ content

    def test_chapter_content_is_present(self, notebook) -> None:
        text = "\n".join(c.source for c in notebook.cells)
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

    def test_quiz_answers_agree_with_what_the_chapter_computes(self, notebook) -> None:
        """The quiz's numeric answers are the ones the chapter's own code gives."""
        ns = namespace(notebook, hyper=True)
        quiz = exec_source(notebook.cells[-1].source, ns, "quiz")
        assert 3 <= len(quiz.questions) <= 4
        numeric = [q for q in quiz.questions if "options" not in q]
        assert numeric[0]["answer"] == ns["conv_param_count"](3, 8, 5)
        assert numeric[1]["answer"] == ns["conv_output_size"](32, k=3)
        for i, q in enumerate(quiz.questions):
            quiz.answer(i, q["answer"])
        assert quiz.score() == len(quiz.questions)

    def test_kernel_explorer_cell_runs_and_matches_pytorch(self, notebook) -> None:
        import torch
        import torch.nn.functional as F

        ns = namespace(notebook, hyper=True)
        source = next(c.source for c in notebook.cells if "KernelExplorer(" in c.source and c.cell_type == "code")
        explorer = exec_source(source, ns, "explorer")
        try:
            image = ns["explorer_image"]
            expected = F.conv2d(image[None], ns["get_kernel"]("sobel_x")[None, None])[0]
            torch.testing.assert_close(explorer.output, expected)
        finally:
            explorer.close()
