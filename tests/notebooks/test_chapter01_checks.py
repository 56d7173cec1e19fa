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
from nbtools import ChapterChecks, exec_source, namespace, run_cell, verified_scores  # noqa: E402

# ---------------------------------------------------------------- wrong answers

STUBS = {
    name: f"def {name}(*args, **kwargs):\n    raise NotImplementedError()\n"
    for name in ("conv2d_loops", "conv2d_unfold", "conv_param_count", "edge_kernel")
}

LOOPS_TEMPLATE = """
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
"""
LOOPS_RIGHT = dict(
    h_out="h - kh + 1",
    w_out="w - kw + 1",
    dtype=", dtype=x.dtype",
    kernel="weight",
    product="(x[b, :, i:i + kh, j:j + kw] * kernel[o]).sum()",
    use_bias="True",
)


def loops(**change: str) -> str:
    return LOOPS_TEMPLATE.format(**{**LOOPS_RIGHT, **change})


UNFOLD_TEMPLATE = """
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
"""
UNFOLD_RIGHT = dict(stride="stride", shape="n, c_out, h_out, w_out", cast="")


def unfold(**change: str) -> str:
    return UNFOLD_TEMPLATE.format(**{**UNFOLD_RIGHT, **change})


def kernel(rows: str) -> str:
    return f"def edge_kernel():\n    return torch.tensor({rows})\n"


ZEROS_LIKE_LOOPS = loops(dtype=", dtype=x.dtype").replace(
    "out = torch.zeros(n, c_out, h_out, w_out, dtype=x.dtype)",
    "out = torch.zeros_like(x[:, :c_out, :h_out, :w_out])  # keeps dtype and device, but assumes C_out <= C_in",
)
ONE_IMAGE_UNFOLD = unfold().replace(
    "out = weight.reshape(c_out, -1) @ columns", "out = weight.reshape(c_out, -1) @ columns[0]  # the first image only"
)
PAIR_WITHOUT_BIAS = (
    "def conv_param_count(c_in, c_out, k, bias=True):\n"
    "    if isinstance(k, int):\n"
    "        return c_out * c_in * k * k + (c_out if bias else 0)\n"
    "    return c_out * c_in * k[0] * k[1] + c_out  # the bias flag is forgotten for a pair\n"
)
FORBIDDEN = ["forbids", "compute the convolution yourself"]


class TestChapter01(ChapterChecks):
    CHAPTER = "01_convolution"
    EXERCISES = ("conv2d_loops", "conv2d_unfold", "conv_param_count", "edge_kernel")
    MIN_HIDDEN_ONLY = 4

    # (exercise, label, wrong exercise cell, substrings the message must contain)
    VISIBLE = [
        ("conv2d_loops", "stub", STUBS["conv2d_loops"], ["not written yet", "NotImplementedError"]),
        (
            "conv2d_loops",
            "true convolution (flipped kernel)",
            loops(kernel="torch.flip(weight, dims=(2, 3))"),
            ["case 1 of 3", "[0, 0, 0, 0]", "got 6", "expected -6"],
        ),
        (
            "conv2d_loops",
            "off-by-one output size",
            loops(h_out="h - kh", w_out="w - kw"),
            ["shape (1, 1, 2, 2)", "expected (1, 1, 3, 3)", "dimension 2 is 2 instead of 3"],
        ),
        (
            "conv2d_loops",
            "only the first input channel",
            loops(product="(x[b, 0, i:i + kh, j:j + kw] * kernel[o, 0]).sum()"),
            ["case 2 of 3", "largest difference is at ["],
        ),
        # Defect 2: forgetting the bias and the dtype used to pass every visible case.
        (
            "conv2d_loops",
            "bias forgotten",
            loops(use_bias="False"),
            ["case 2 of 3", "bias", "differs from the expected values"],
        ),
        (
            "conv2d_loops",
            "float32 output for float64 input",
            loops(dtype=""),
            ["case 3 of 3", "dtype float32, expected float64"],
        ),
        (
            "conv2d_loops",
            "one kernel size for both axes",
            loops(w_out="w - kh + 1").replace("j:j + kw", "j:j + kh"),
            ["raised RuntimeError", "float64 tensor of shape (1, 2, 5, 7)", "(2, 2, 2, 3)"],
        ),
        # Defect 3: PyTorch's convolution is refused, by name or by the operation it runs.
        (
            "conv2d_loops",
            "calls F.conv2d",
            "def conv2d_loops(x, weight, bias=None):\n    return F.conv2d(x, weight, bias)\n",
            ["`conv2d_loops` calls `F.conv2d`", *FORBIDDEN],
        ),
        ("conv2d_unfold", "stub", STUBS["conv2d_unfold"], ["not written yet"]),
        (
            "conv2d_unfold",
            "stride ignored",
            unfold(stride="1"),
            ["case 2 of 3", "stride=2", "shape (1, 4, 7, 7)", "expected (1, 4, 4, 4)"],
        ),
        (
            "conv2d_unfold",
            "height and width swapped",
            unfold(shape="n, c_out, w_out, h_out"),
            ["case 3 of 3", "expected (1, 3, 3, 4)"],
        ),
        (
            "conv2d_unfold",
            "result cast to float32",
            unfold(cast=".float()"),
            ["case 3 of 3", "dtype float32, expected float64"],
        ),
        (
            "conv2d_unfold",
            "bias forgotten",
            unfold().replace("if bias is not None:", "if False:"),
            ["case 2 of 3", "bias", "differs from the expected values"],
        ),
        (
            "conv2d_unfold",
            "calls F.conv2d",
            "def conv2d_unfold(x, weight, bias=None, stride=1, padding=0):\n"
            "    return F.conv2d(x, weight, bias, stride=stride, padding=padding)\n",
            ["`conv2d_unfold` calls `F.conv2d`", *FORBIDDEN],
        ),
        (
            "conv2d_unfold",
            "calls torch.convolution",
            "def conv2d_unfold(x, weight, bias=None, stride=1, padding=0):\n"
            "    return torch.convolution(x, weight, bias, (stride, stride), (padding, padding), (1, 1), False, (0, 0), 1)\n",
            ["`conv2d_unfold` calls `torch.convolution`", *FORBIDDEN],
        ),
        (
            "conv2d_unfold",
            "reaches F.conv2d through getattr",
            "def conv2d_unfold(x, weight, bias=None, stride=1, padding=0):\n"
            "    return getattr(F, 'conv' + '2d')(x, weight, bias, stride=stride, padding=padding)\n",
            ["`conv2d_unfold` uses `getattr`", "forbids"],
        ),
        (
            "conv2d_unfold",
            "uses nn.Conv2d",
            "def conv2d_unfold(x, weight, bias=None, stride=1, padding=0):\n"
            "    layer = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2:], stride=stride, padding=padding,\n"
            "                      bias=bias is not None, dtype=x.dtype)\n"
            "    with torch.no_grad():\n"
            "        layer.weight.copy_(weight)\n"
            "        if bias is not None:\n"
            "            layer.bias.copy_(bias)\n"
            "        return layer(x)\n",
            ["`conv2d_unfold` calls `nn.Conv2d`", *FORBIDDEN],
        ),
        (
            "conv2d_unfold",
            "hides the convolution in a helper it calls",
            "def _helper(x, weight, bias, stride, padding):\n"
            "    return torch.ops.aten.convolution(x, weight, bias, [stride] * 2, [padding] * 2, [1, 1], False, [0, 0], 1)\n\n"
            "def conv2d_unfold(x, weight, bias=None, stride=1, padding=0):\n"
            "    return _helper(x, weight, bias, stride, padding)\n",
            ["`conv2d_unfold`", "convolution", "forbids"],
        ),
        ("conv_param_count", "stub", STUBS["conv_param_count"], ["not written yet"]),
        (
            "conv_param_count",
            "bias forgotten",
            "def conv_param_count(c_in, c_out, k, bias=True):\n    return c_in * c_out * k * k\n",
            ["case 1 of 3", "432", "448"],
        ),
        (
            "conv_param_count",
            "returns a float",
            "def conv_param_count(c_in, c_out, k, bias=True):\n    return float(c_in * c_out * k * k + (c_out if bias else 0))\n",
            ["conv_param_count", "int"],
        ),
        (
            "conv_param_count",
            "square kernels only",
            "def conv_param_count(c_in, c_out, k, bias=True):\n    return c_in * c_out * k * k + (c_out if bias else 0)\n",
            ["raised TypeError", "k: the tuple (1, 7)"],
        ),
        (
            "conv_param_count",
            "builds the layer on the meta device",
            "def conv_param_count(c_in, c_out, k, bias=True):\n"
            "    layer = nn.Conv2d(c_in, c_out, k, bias=bias, device='meta')\n"
            "    return sum(p.numel() for p in layer.parameters())\n",
            ["`conv_param_count` calls `nn.Conv2d`", "forbids", "without building the layer"],
        ),
        ("edge_kernel", "stub", STUBS["edge_kernel"], ["not written yet"]),
        (
            "edge_kernel",
            "opposite polarity (Sobel y)",
            kernel("[[-1., -2., -1.], [0., 0., 0.], [1., 2., 1.]]"),
            ["Along a horizontal edge", "outputs at most -4, at position [2, 0]", "at least 1", "change the sign"],
        ),
        (
            "edge_kernel",
            "perpendicular edge (Sobel x)",
            kernel("[[-1., 0., 1.], [-2., 0., 2.], [-1., 0., 1.]]"),
            ["Along a horizontal edge", "outputs at most 0, at position [2, 0]", "at least 1"],
        ),
        (
            "edge_kernel",
            "responds to flat regions (a blur)",
            kernel("[[1., 1., 1.], [1., 1., 1.], [1., 1., 1.]]"),
            ["flat image", "position [0, 0]", "add up to 0"],
        ),
        (
            "edge_kernel",
            "diagonal edge detector",
            kernel("[[1., 1., 0.], [0., 0., 0.], [0., -1., -1.]]"),
            ["vertical edge", "position [", "each column"],
        ),
        (
            "edge_kernel",
            "too weak",
            kernel("[[0.1, 0.2, 0.1], [0., 0., 0.], [-0.1, -0.2, -0.1]]"),
            ["outputs at most 0.4, at position [2, 0]", "at least 1"],
        ),
        (
            "edge_kernel",
            "integer tensor",
            kernel("[[1, 2, 1], [0, 0, 0], [-1, -2, -1]]"),
            ["whole numbers (dtype int64)", "return floats"],
        ),
        ("edge_kernel", "wrong shape", kernel("[[1., 1.], [-1., -1.]]"), ["shape (2, 2)", "expected (3, 3)"]),
        (
            "edge_kernel",
            "a list, not a tensor",
            "def edge_kernel():\n    return [[1., 2., 1.], [0., 0., 0.], [-1., -2., -1.]]\n",
            ["should be a torch.Tensor", "list"],
        ),
    ]
    HIDDEN_ONLY = [
        (
            "conv2d_loops",
            "allocates the output with zeros_like(x), so C_out > C_in does not fit",
            ZEROS_LIKE_LOOPS,
            ["hidden test input", "IndexError"],
        ),
        (
            "conv2d_unfold",
            "handles the first image of the batch only",
            ONE_IMAGE_UNFOLD,
            ["hidden test input", "RuntimeError"],
        ),
        (
            "conv_param_count",
            "forgets the bias flag when k is a pair",
            PAIR_WITHOUT_BIAS,
            ["hidden case", "the number 215, expected the number 210"],
        ),
        (
            "edge_kernel",
            "a float64 kernel (built with dtype=torch.float64)",
            "def edge_kernel():\n    return torch.tensor([[1., 2., 1.], [0., 0., 0.], [-1., -2., -1.]], dtype=torch.float64)\n",
            ["float64", "float32", "section 5"],
        ),
    ]

    def wrong_cell(self, notebook, wrong) -> str:
        return wrong.answer  # a whole cell, not a solution block

    # ------------------------------------------------------------ content

    def test_chapter_content_is_present(self, notebook) -> None:
        text = "\n".join(c.source for c in notebook.cells)
        for needle in (
            "nn.Linear(n_inputs",
            "sample_image()",  # parameter explosion on a real photo
            "Local connectivity",
            "Weight sharing",
            "1 - 3 + 6 - 8 + 11 - 13 = -6",  # the multiply-and-sum written out
            "torch.flip(k4",
            "cross-correlation",
            "(C_{out}, C_{in}, k_H, k_W)",
            "get_kernel(name)",
            '"box_blur", "sharpen", "sobel_x", "sobel_y"',
            'KernelExplorer(explorer_image, kernel="sobel_x")',
            "## 8. Worked example",
            "Hubel & Wiesel",
            "1959",
            "1962",
            "Simple cells",
            "Complex cells",
            "F.max_pool2d(simple",  # section 6
            "## 9. Learn the kernel",
            "learnt -= LEARN_RATE * learnt.grad",
            "tuning(kernel_learnt)",
            "padding_mode",
            "Run All stops at the first exercise you have not answered",
        ):
            assert needle in text, f"the chapter lacks {needle!r}"

    def test_quiz_answers_agree_with_what_the_chapter_computes(self, notebook) -> None:
        """The quiz's numeric answers are the ones the chapter's own code gives."""
        ns = namespace(notebook, hyper=True)
        source = next(c.source for c in notebook.cells if c.cell_type == "code" and "Quiz(" in c.source)
        assert '"answer"' not in source and '"explain"' not in source, "the quiz shows its answers in plain view"
        quiz = exec_source(source, ns, "quiz")
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

    def test_sections_6_and_9_compute_what_their_prose_says(self, notebook) -> None:
        """Simple vs complex cells, and the kernel learnt by gradient descent: the figures the prose reads."""
        import torch

        ns = namespace(notebook, hyper=True)
        for c in notebook.cells:
            if c.cell_type == "code" and c.id in (
                "photo-kernels",
                "cells-measure",
                "learn-fit",
                "learn-why",
                "learn-orient",
            ):
                run_cell(c.source, ns, c.id)
        # Section 6: the simple cell answers while the edge crosses its window, the complex cell over its pooled patch.
        assert ns["answers"] == {"simple": 2, "complex": 5}
        # Section 9: gradient descent turns a random kernel into a vertical-edge detector that reproduces Sobel x's
        # output, and what differs from Sobel x lies along the directions the photo hardly constrains.
        assert ns["loss"].sqrt().item() < 0.1 * ns["grey_target"].abs().mean().item()
        curve = ns["tuning"](ns["kernel_learnt"])
        assert ns["angles"][curve.argmax()].item() == 0
        assert abs(curve[6].item()) < 0.05 * curve.max().item()  # 90 degrees: a horizontal edge
        start = ns["tuning"](ns["start_kernel"])
        assert ns["angles"][start.argmax()].item() != 0  # it did not start as a vertical-edge detector
        assert (
            isinstance(ns["share"], torch.Tensor) and ns["share"].item() > 0.9
        )  # the difference is in flat directions


# ---------------------------------------------------------------- verification refuses the forbidden routes

FORBIDDEN_ROUTES = {
    "conv2d_loops": "def conv2d_loops(x, weight, bias=None):\n    return F.conv2d(x, weight, bias)\n",
    "conv2d_unfold": (
        "def conv2d_unfold(x, weight, bias=None, stride=1, padding=0):\n"
        "    return torch.convolution(x, weight, bias, (stride, stride), (padding, padding), (1, 1), False, (0, 0), 1)\n"
    ),
    "conv_param_count": (
        "def conv_param_count(c_in, c_out, k, bias=True):\n"
        "    return sum(p.numel() for p in nn.Conv2d(c_in, c_out, k, bias=bias, device='meta').parameters())\n"
    ),
}


def test_verification_gives_zero_to_the_forbidden_routes() -> None:
    """Defect 3: answers that return PyTorch's own convolution (or count a built layer) scored full marks verified."""
    right = verified_scores("01_convolution", {})
    assert all(points > 0 for points, _ in right.values()), right
    scores = verified_scores("01_convolution", FORBIDDEN_ROUTES)
    for exercise in FORBIDDEN_ROUTES:
        points, reason = scores[f"test_{exercise}"]
        assert points == 0 and f"`{exercise}`" in reason and "forbids" in reason, (exercise, reason)
    assert scores["test_edge_kernel"][0] > 0  # the untouched exercise keeps its points
