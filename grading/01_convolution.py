"""Verification spec of chapter 01 (read by `python -m course_utils.grading verify`, never released).

Test inputs differ from the notebook's visible and hidden tests; every expected
value is computed by PyTorch in the grader's process (F.conv2d, nn.Conv2d on
the meta device) or judged by the edge rules the exercise states. The routes the
statements forbid (a PyTorch convolution in Exercises 1-2, building the layer in
Exercise 3) score 0 with the notebook's sentence (course_utils.checks.NO_CONV,
NO_CONV_LAYER).
"""

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import NO_CONV, NO_CONV_LAYER
from course_utils.grading.spec import Exercise

_g = torch.Generator().manual_seed(7001)


def _randn(*shape, dtype=torch.float32):
    return torch.randn(*shape, generator=_g, dtype=dtype)


def _conv(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, weight, bias, stride=stride, padding=padding)


def _params(c_in, c_out, k, bias=True):
    return sum(p.numel() for p in nn.Conv2d(c_in, c_out, k, bias=bias, device="meta").parameters())


def _edge(kernel, case):
    """The exercise's rules: >= 1 on a bright-above-dark unit step, 0 on flat images and vertical edges, < 0 reversed."""
    if type(kernel) is not torch.Tensor or tuple(kernel.shape) != (3, 3) or not kernel.is_floating_point():
        return "edge_kernel() does not return a float (3, 3) tensor"
    if kernel.dtype != torch.float32:
        return (
            f"edge_kernel() returns a {str(kernel.dtype).replace('torch.', '')} tensor, which F.conv2d cannot apply "
            "to the chapter's float32 photos (section 5)"
        )
    k = kernel.to(torch.float64)[None, None]

    def respond(image):
        return F.conv2d(image[None, None], k)[0, 0]

    step = torch.zeros(9, 9, dtype=torch.float64)
    step[:5] = 1.0  # bright above row 5, dark below
    if respond(step).max() < 1 - 1e-6:
        return "the response to a bright-above-dark unit step is below 1"
    if respond(1.0 - step).min() >= 0:
        return "the reversed edge does not give a negative response"
    for level in (0.0, 0.3, 2.0):
        if respond(torch.full((7, 7), level, dtype=torch.float64)).abs().max() > 1e-6 * max(1.0, level):
            return "a flat image does not give 0"
    if respond(step.T.contiguous()).abs().max() > 1e-6:
        return "a vertical edge does not give 0"
    return None


_LOOP_CASES = [
    (_randn(1, 1, 4, 5), _randn(1, 1, 2, 2)),
    (
        (_randn(2, 2, 4, 4, dtype=torch.float64), _randn(3, 2, 3, 1, dtype=torch.float64)),
        {"bias": _randn(3, dtype=torch.float64)},
    ),
    (_randn(1, 3, 3, 6), _randn(2, 3, 3, 4)),
]

_UNFOLD_CASES = [
    (_randn(2, 3, 8, 7), _randn(5, 3, 3, 2)),
    (
        (_randn(1, 2, 9, 9, dtype=torch.float64), _randn(4, 2, 4, 4, dtype=torch.float64)),
        {"bias": _randn(4, dtype=torch.float64), "stride": 3, "padding": 2},
    ),
    ((_randn(3, 1, 5, 6), _randn(2, 1, 1, 3)), {"stride": 2, "padding": 1}),
]

EXERCISES = [
    Exercise(
        test="test_conv2d_loops",
        solutions=["conv2d_loops"],
        name="conv2d_loops",
        cases=_LOOP_CASES,
        reference=_conv,
        atol=1e-5,
        timeout=30,
        forbid=NO_CONV,
        returns=torch.Tensor,
        arg_names=("x", "weight"),
    ),
    Exercise(
        test="test_conv2d_unfold",
        solutions=["conv2d_unfold"],
        name="conv2d_unfold",
        cases=_UNFOLD_CASES,
        reference=_conv,
        atol=1e-4,
        timeout=20,
        forbid=NO_CONV,
        returns=torch.Tensor,
        arg_names=("x", "weight"),
    ),
    Exercise(
        test="test_conv_param_count",
        solutions=["conv_param_count"],
        name="conv_param_count",
        cases=[(9, 33, 3), ((2, 6, (5, 1)), {"bias": False}), (256, 1, (3, 3)), ((4, 4, 7), {"bias": True})],
        reference=_params,
        timeout=10,
        forbid=NO_CONV_LAYER,
        returns=int,
        arg_names=("c_in", "c_out", "k"),
    ),
    Exercise(
        test="test_edge_kernel", solutions=["edge_kernel"], name="edge_kernel", cases=[()], judge=_edge, timeout=10
    ),
]
