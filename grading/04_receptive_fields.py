"""Verification spec of chapter 04 (read by `python -m course_utils.grading verify`, never released).

Test inputs differ from the notebook's visible and hidden tests; every expected
value is computed by PyTorch in the grader's process: receptive fields are
measured with autograd (the input pixels an output unit's gradient reaches
through all-ones convolutions), never with a formula, and gradient maps by
backpropagating through real models rebuilt from the same weights. Results are
held to the kinds the statements ask for (a tuple of ints, an int, a tensor),
and `gradient_map` must leave its input as it was (no requires_grad, no .grad):
the default input rule of course_utils.grading.spec.Exercise.
"""

import functools
import math
import random

import torch
import torch.nn.functional as F

from course_utils.grading import harness
from course_utils.grading.spec import Exercise, compare

_g = torch.Generator().manual_seed(7004)
_rng = random.Random(7004)


def _middle_spans(layers, n):
    """First and last input pixel reaching the two middle output units of the 1-D stack (input length n)."""
    x = torch.ones(1, 1, n, dtype=torch.float64, requires_grad=True)
    y = x
    for k, s, p, d in layers:
        y = F.conv1d(y, torch.ones(1, 1, k, dtype=torch.float64), stride=s, padding=p, dilation=d)
    u = y.shape[-1] // 2
    spans = []
    for unit in (u, u + 1):
        (grad,) = torch.autograd.grad(y[0, 0, unit], x, retain_graph=True)
        hit = torch.nonzero(grad[0, 0]).flatten()
        spans.append((int(hit[0]), int(hit[-1])))
    return u, spans


@functools.cache
def _measured(layers):
    reach = (1 + sum((k - 1) * d + 2 * p for k, _, p, d in layers)) * math.prod(s for _, s, _, _ in layers)
    n, previous = 6 * reach + 32, None
    while True:
        u, ((a0, b0), (a1, _)) = _middle_spans(layers, n)
        jump = a1 - a0
        found = (b0 - a0 + 1, jump, (a0 + b0 + 1) / 2 - u * jump)
        if found == previous:
            return found
        n, previous = 2 * n, found


def _field(layers):
    """(size, jump, start) of the last layer of a stack of (k, s, p, d) layers, measured with autograd.

    Every layer is an all-ones convolution, so an input pixel is in a unit's field exactly when the unit's
    gradient reaches it. Two middle units, far from the padding, give the size and the jump; start is the
    centre of unit 0's field with pixel i covering [i, i + 1), extrapolated from them. The input length
    doubles until the answer no longer changes.
    """
    return _measured(tuple(tuple(layer) for layer in layers))


_STACK_A = [(5, 1, 2, 1), (3, 2, 1, 1), (2, 2, 0, 1), (3, 1, 2, 2)]  # as the exercise describes them
_STACK_B = [(3, 2, 1, 1), (3, 2, 1, 1), (3, 1, 1, 1), (1, 1, 0, 1), (3, 1, 1, 3)]


def _judge_by_hand(got, case):
    if type(got) is not dict:
        return "fields_by_hand() does not return a dict"
    for key, stack in (("A", _STACK_A), ("B", _STACK_B)):
        if key not in got:
            return f"no entry for stack {key}"
        why = compare(got[key], _field(stack)[:2])
        if why:
            return f"stack {key}: {why}"
    return None


def _random_stack():
    layers = []
    for _ in range(_rng.randint(1, 6)):
        k, d = _rng.randint(1, 6), _rng.randint(1, 3)
        layers.append((k, _rng.randint(1, 3), _rng.randint(0, (k - 1) * d // 2 + 2), d))
    return layers


def _span_length(layers):
    """An input length so long that the middle output units never reach padding at any layer."""
    return 8 * (1 + sum((k - 1) * d + 2 * p for k, _, p, d in layers)) * math.prod(s for _, s, _, _ in layers) + 16


def _middle(layers, width):
    """(layers, first, last): width + 1 units in the middle of the last layer's output for _span_length's input."""
    n = _span_length(layers)
    for k, s, p, d in layers:
        n = (n + 2 * p - d * (k - 1) - 1) // s + 1
    return (layers, n // 2, n // 2 + width)


def _span(layers, first, last):
    """First and last input pixel whose gradient reaches output units first..last (all-ones layers, autograd)."""
    x = torch.ones(1, 1, _span_length(layers), dtype=torch.float64, requires_grad=True)
    y = x
    for k, s, p, d in layers:
        y = F.conv1d(y, torch.ones(1, 1, k, dtype=torch.float64), stride=s, padding=p, dilation=d)
    (grad,) = torch.autograd.grad(y[0, 0, first : last + 1].sum(), x)
    hit = torch.nonzero(grad[0, 0]).flatten()
    return (int(hit[0]), int(hit[-1]))


_SPAN_CASES = [_middle(_random_stack(), _rng.randint(0, 5)) for _ in range(18)] + [
    _middle([(7, 2, 3, 1), (3, 2, 1, 1), (3, 1, 1, 1), (3, 1, 1, 1)], 2),  # a ResNet-like stem
    _middle([(3, 1, 1, 1), (3, 1, 2, 2), (3, 1, 4, 4), (3, 1, 8, 8)], 5),  # dilations doubling
    _middle([(1, 3, 0, 1), (4, 1, 0, 1), (2, 2, 1, 1)], 1),  # stride wider than the kernel
]


def _fewest(target, strides):
    """Grow a stack of 3x3 layers (padding 1) until its measured field covers ``target`` pixels."""
    layers = []
    while not layers or _field(layers)[0] < target:
        layers.append((3, strides[len(layers)] if len(layers) < len(strides) else 1, 1, 1))
    return len(layers)


_COVER_CASES = [
    (90, [2, 1, 2]),
    (33, []),
    (2, []),
    (31, [3]),
    (128, [2, 2, 2, 2]),
    (61, [1, 1, 2, 3]),
    (500, [2, 2, 2, 2, 2, 2]),
    (17, [4, 1]),
    (40, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
]


def _bn_stats(model):
    for module in model:
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.5)
            module.running_var.uniform_(0.3, 2.5)


def _conv(c_in, c_out, k, **kwargs):
    return ["Conv2d", {"in_channels": c_in, "out_channels": c_out, "kernel_size": k, **kwargs}]


_GRADIENT_CASES = [
    (
        harness.model_arg(
            [_conv(2, 3, 3, padding=1), ["ReLU", {}], ["MaxPool2d", {"kernel_size": 2}], _conv(3, 2, 3)], seed=41
        ),
        torch.randn(1, 2, 14, 11, generator=_g),
    ),
    (
        harness.model_arg(
            [
                _conv(1, 4, 3, padding=1),
                ["BatchNorm2d", {"num_features": 4}],
                ["ReLU", {}],
                _conv(4, 3, 3, stride=2, padding=2, dilation=2),
            ],
            seed=42,
            dtype=torch.float64,
            init=_bn_stats,
        ),
        torch.randn(1, 1, 17, 20, generator=_g, dtype=torch.float64),
    ),
    (
        harness.model_arg(
            [
                _conv(3, 5, 5, stride=2),
                ["Dropout", {"p": 0.5}],
                ["ReLU", {}],
                ["AvgPool2d", {"kernel_size": 2}],
                _conv(5, 2, 1),
            ],
            seed=43,
        ),
        torch.randn(1, 3, 19, 16, generator=_g),
    ),
]


def _gradient_map(model, x):
    """|d(sum over channels of the centre unit)/d input| summed over input channels, the model in eval mode."""
    net = harness.build_arg(model).eval()
    leaf = x.detach().clone().requires_grad_()
    out = net(leaf)  # (1, C', h, w)
    out[0, :, out.shape[-2] // 2, out.shape[-1] // 2].sum().backward()
    return leaf.grad[0].abs().sum(dim=0)  # (H, W)


EXERCISES = [
    Exercise(
        test="test_fields_by_hand",
        solutions=["fields_by_hand"],
        name="fields_by_hand",
        cases=[()],
        judge=_judge_by_hand,
        timeout=10,
    ),
    Exercise(
        test="test_input_span",
        solutions=["input_span"],
        name="input_span",
        cases=_SPAN_CASES,
        reference=_span,
        returns=tuple,
        arg_names=("layers", "first", "last"),
        timeout=15,
    ),
    Exercise(
        test="test_layers_to_cover",
        solutions=["layers_to_cover"],
        name="layers_to_cover",
        cases=_COVER_CASES,
        reference=_fewest,
        returns=int,
        arg_names=("target", "strides"),
        timeout=10,
    ),
    Exercise(
        test="test_gradient_map",
        solutions=["gradient_map"],
        name="gradient_map",
        cases=_GRADIENT_CASES,
        reference=_gradient_map,
        atol=1e-6,
        rtol=1e-4,
        returns=torch.Tensor,
        arg_names=("model", "x"),
        timeout=20,
    ),
]
