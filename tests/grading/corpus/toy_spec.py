"""Verification spec of the corpus's toy chapter (copied to grading/90_verifytoy.py in a course copy).

Inputs differ from the notebook's visible and hidden tests; expected values come
from PyTorch in the grader's process.
"""

import torch
import torch.nn.functional as F

from course_utils.grading.spec import Exercise

_g = torch.Generator().manual_seed(2024)


def _conv1d(x, w):
    return F.conv1d(x[:, None], w[None, None])[:, 0]


def _params(c_in, c_out, k):
    return sum(p.numel() for p in torch.nn.Conv2d(c_in, c_out, k).parameters())


def _edge(kernel, case):
    if type(kernel) is not torch.Tensor or tuple(kernel.shape) != (3, 3):
        return "edge_kernel is not a 3x3 tensor"
    k = kernel.to(torch.float32)[None, None]
    step = torch.zeros(1, 1, 7, 7)
    step[..., 4:] = 1.0
    if not F.conv2d(step, k).max() > 0.5:
        return "no response to a vertical dark-to-bright edge"
    if F.conv2d(torch.full((1, 1, 5, 5), 3.0), k).abs().max() > 1e-4:
        return "responds to a flat area"
    if F.conv2d(step.transpose(2, 3), k).abs().max() > 1e-4:
        return "responds to a horizontal edge"
    return None


EXERCISES = [
    Exercise(
        test="test_conv1d_valid",
        solutions=["conv1d_valid"],
        name="conv1d_valid",
        reference=_conv1d,
        cases=[
            (torch.randn(2, 11, generator=_g), torch.randn(3, generator=_g)),
            (torch.randn(4, 5, generator=_g), torch.randn(5, generator=_g)),
            (torch.randn(1, 8, generator=_g, dtype=torch.float64), torch.randn(2, generator=_g, dtype=torch.float64)),
        ],
        timeout=10,
    ),
    Exercise(
        test="test_conv_params",
        solutions=["conv_params"],
        name="conv_params",
        reference=_params,
        cases=[(7, 4, 3), (1, 16, 1), (64, 128, 5)],
        timeout=10,
    ),
    Exercise(
        test="test_edge_kernel", solutions=["edge_kernel"], name="edge_kernel", call=False, judge=_edge, timeout=10
    ),
]
