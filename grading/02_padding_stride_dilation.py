"""Verification spec of chapter 02 (read by `python -m course_utils.grading verify`, never released).

Test inputs differ from the notebook's visible and hidden tests; every expected
value is computed by PyTorch in the grader's process (the positions a real
F.conv2d reads, the shapes of F.conv2d on meta tensors and of F.conv_transpose2d,
the smallest padding with which a real convolution makes ceil(n / s) outputs)
or judged by the rules the exercise states, on real torch.nn layers rebuilt from
the answer's description (course_utils.grading.harness). The forbidden routes
are the notebook's own rules, with the same sentences.
"""

import random

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import Forbid
from course_utils.grading import harness
from course_utils.grading.spec import Exercise

_rng = random.Random(7002)


def _meta(*shape):
    return torch.empty(*shape, device="meta")


def _conv_length(n, k, s=1, p=0, d=1):
    """Width of a real F.conv2d output (shapes only, on the meta device)."""
    return F.conv2d(_meta(1, 1, 1, n), _meta(1, 1, 1, k), stride=s, padding=(0, p), dilation=d).shape[-1]


def _transposed_length(n, k, s=1, p=0, output_padding=0, d=1):
    """Width of a real F.conv_transpose2d output (CPU, so PyTorch checks output_padding too)."""
    return F.conv_transpose2d(
        torch.zeros(1, 1, 1, n),
        torch.zeros(1, 1, 1, k),
        stride=s,
        padding=(0, p),
        output_padding=(0, output_padding),
        dilation=d,
    ).shape[-1]


def _legal(fn, *args):
    try:
        return fn(*args) >= 1
    except RuntimeError:
        return False


# The notebook's rules (its check cells define the same Forbid).
SIZES_BY_FORMULA = Forbid(
    calls=(
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "convolution",
        "Conv1d",
        "Conv2d",
        "ConvTranspose1d",
        "ConvTranspose2d",
        "unfold",
        "Unfold",
        "conv_output_size",
        "conv_transpose_output_size",
        "pool_output_size",
        "trace_shapes",
        "receptive_field",
    ),
    aten=("convolution", "convolution_backward", "im2col"),
    reason="the point of this exercise is to work the size out with whole-number arithmetic, not to read it off PyTorch",
)
NOT_BY_RUNNING = Forbid(
    calls=("trace_shapes", "conv_output_size", "pool_output_size", "LazyLinear", "backward"),
    aten=("convolution", "max_pool2d", "max_pool2d_with_indices"),
    reason="the point of this exercise is to compute in_features with the formula, for every image size at once",
)


def _pixels_after_last_read(n, k, s=1, p=0, d=1):
    """Pixels of the row after the last padded position a real F.conv2d reads (those that get a gradient)."""
    padded = torch.zeros(1, 1, 1, n + 2 * p, requires_grad=True)
    F.conv2d(padded, torch.ones(1, 1, 1, k), stride=s, dilation=d).sum().backward()
    return max(0, (p + n - 1) - int(padded.grad.flatten().nonzero().max()))


# unread_pixels: outside the notebook's sweep (n <= 14, k <= 5, s <= 4, p <= 2, d <= 3), some with default arguments.
def _unread_cases():
    notebook_box = lambda n, k, s, p, d: n <= 14 and k <= 5 and s <= 4 and p <= 2 and d <= 3  # noqa: E731
    cases = set()
    while len(cases) < 120:
        n, k, s, p, d = (
            _rng.randint(1, 60),
            _rng.randint(1, 9),
            _rng.randint(1, 8),
            _rng.randint(0, 5),
            _rng.randint(1, 5),
        )
        if not notebook_box(n, k, s, p, d) and n + 2 * p >= d * (k - 1) + 1:
            cases.add((n, k, s, p, d))
    # Exactly one window, a 1x1 kernel with a large stride, AlexNet's first layer, larger inputs.
    cases |= {
        (13, 7, 4, 1, 2),
        (10, 4, 5, 3, 5),
        (16, 1, 7, 0, 1),
        (1, 1, 1, 0, 4),
        (227, 11, 4, 0, 1),
        (513, 3, 2, 1, 1),
    }
    return sorted(cases) + [(40, 3), (19, 4, 3), (23, 5, 2, 2)]  # defaults


def _smallest_same_padding(n, k, s=1, d=1):
    """(left, right): the smallest total padding with which a real F.conv2d makes ceil(n / s) outputs, odd pixel right."""
    wanted = -(-n // s)
    for total in range(n + 2 * d * k + 2 * s):
        if n + total >= d * (k - 1) + 1 and _conv_length(n + total, k, s, 0, d) == wanted:
            return total // 2, total - total // 2
    raise AssertionError(f"no padding found for {(n, k, s, d)}")


# same_padding: outside the notebook's sweep (n <= 29, k <= 6, s <= 4, d <= 3).
def _same_padding_cases():
    cases = set()
    while len(cases) < 80:
        n, k, s, d = _rng.randint(1, 80), _rng.randint(1, 11), _rng.randint(1, 6), _rng.randint(1, 5)
        if not (n <= 29 and k <= 6 and s <= 4 and d <= 3):
            cases.add((n, k, s, d))
    cases |= {(224, 7, 2, 1), (225, 7, 2, 1), (300, 2, 1, 7), (5, 1, 9, 1), (64, 11, 4, 1)}
    return sorted(cases) + [(50, 4), (51, 6, 3)]  # defaults


# transposed_output_size: outside the notebook's sweep (n <= 8, k <= 5, s <= 3, p <= 2, output_padding <= 2, d <= 2).
def _transposed_cases():
    notebook_box = lambda n, k, s, p, op, d: n <= 8 and k <= 5 and s <= 3 and p <= 2 and op <= 2 and d <= 2  # noqa: E731
    cases = set()
    while len(cases) < 100:
        n, k, s, p, d = (
            _rng.randint(1, 30),
            _rng.randint(1, 7),
            _rng.randint(1, 5),
            _rng.randint(0, 4),
            _rng.randint(1, 4),
        )
        op = _rng.randint(0, max(s, d) - 1)
        if not notebook_box(n, k, s, p, op, d) and _legal(_transposed_length, n, k, s, p, op, d):
            cases.add((n, k, s, p, op, d))
    return sorted(cases) + [(10, 4), (9, 2, 3), (12, 5, 2, 2)]  # defaults output_padding=0, d=1


def _features():
    """The feature extractor exactly as the exercise gives it."""
    return nn.Sequential(
        nn.Conv2d(3, 12, kernel_size=(5, 3)),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(12, 24, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(24, 48, 3, dilation=2),
        nn.ReLU(),
    )


def _reference_classifier(height, width):
    """features(), Flatten and the Linear layer whose in_features PyTorch's own layers produce (on the meta device)."""
    with torch.device("meta"):
        features = _features()
        flat = features(_meta(1, 3, height, width)).numel()
        return harness.describe(nn.Sequential(features, nn.Flatten(), nn.Linear(flat, 10)))


# classifier: sizes other than the notebook's (32x32, 41x64; hidden 24x24, 64x37, 100x29, 57x57, 33x90).
_CLASSIFIER_SIZES = [(24, 30), (35, 24), (48, 48), (61, 44), (128, 96), (77, 131), (29, 29), (50, 75)]
_CLASSIFIERS = {size: _reference_classifier(*size) for size in _CLASSIFIER_SIZES}


def _layer_words(entry):
    return (
        f"{entry[0]}({', '.join(f'{k}={v}' for k, v in entry[1].items())})"
        if isinstance(entry, list) and entry
        else repr(entry)
    )


def _judge_classifier(got, case):
    """features() unchanged, then Flatten and a Linear whose in_features PyTorch's own layers produce."""
    height, width = case["args"]
    if type(got) is not dict or got.get("type") != "Sequential":
        return "classifier() does not return an nn.Sequential"
    layers, expected = got.get("layers"), _CLASSIFIERS[(height, width)]["layers"]
    if not isinstance(layers, list) or len(layers) != len(expected):
        return f"classifier() has {len(layers) if isinstance(layers, list) else 'no'} layers, expected {len(expected)}"
    for number, (mine, want) in enumerate(zip(layers, expected), start=1):
        if mine != want:
            return f"for {height}x{width} images layer {number} is {_layer_words(mine)}, expected {_layer_words(want)}"
    with torch.device("meta"):
        shape = tuple(harness.build(layers)(_meta(2, 3, height, width)).shape)
    return None if shape == (2, 10) else f"maps (2, 3, {height}, {width}) to {shape}, expected (2, 10)"


def _fewest(n_in, n_out):
    """Stride-2 3x3 convolutions (padding 1) PyTorch needs from n_in to n_out, or None when n_out is skipped."""
    n, count = n_in, 0
    while n > n_out:
        n, count = _conv_length(n, 3, 2, 1), count + 1
    return count if n == n_out and count else None


def _judge_stack(got, case):
    n_in, n_out, channels = case["args"]
    if type(got) is not dict:
        return "no result"
    fewest = _fewest(n_in, n_out) if n_out < n_in else None
    if fewest is None:
        why = "it is not smaller than n_in" if n_out >= n_in else "stride-2 layers never give that size"
        return (
            None
            if "ValueError" in (got.get("raised") or [])
            else (f"downsampling_stack({n_in}, {n_out}) must raise ValueError: {why}")
        )
    if "raised" in got:
        return f"raised {(got['raised'] or ['an exception'])[0]} for a reachable size"
    desc = got.get("returned")
    if type(desc) is not dict or desc.get("type") != "Sequential":
        return "the stack is not an nn.Sequential"
    try:
        with torch.device("meta"):
            stack = harness.build(desc.get("layers"))
            shape = tuple(stack(_meta(2, 3, n_in, n_in)).shape)
    except (ValueError, RuntimeError) as exc:
        return f"the stack cannot run on (2, 3, {n_in}, {n_in}): {str(exc)[:150]}"
    convs = [m for m in stack if isinstance(m, nn.Conv2d)]
    if any(c.kernel_size != (3, 3) or c.stride != (2, 2) or c.padding != (1, 1) for c in convs):
        return "the stack holds a convolution that is not 3x3 with stride 2 and padding 1"
    if [type(m).__name__ for m in stack] != ["Conv2d", "ReLU"] * len(convs):
        return "the stack is not a convolution followed by a ReLU, again and again"
    wanted = [(3, channels)] + [(channels * 2**i, channels * 2 ** (i + 1)) for i in range(len(convs) - 1)]
    if [(c.in_channels, c.out_channels) for c in convs] != wanted:
        return f"its convolutions do not go from 3 to {channels} channels and then double them"
    final = channels * 2 ** (len(convs) - 1)
    if shape != (2, final, n_out, n_out):
        return f"maps (2, 3, {n_in}, {n_in}) to {shape}, expected {(2, final, n_out, n_out)}"
    if len(convs) != fewest:
        return f"uses {len(convs)} convolutions, where {fewest} reach the size"
    return None


EXERCISES = [
    Exercise(
        test="test_unread_pixels",
        solutions=["unread_pixels"],
        name="unread_pixels",
        cases=_unread_cases(),
        reference=_pixels_after_last_read,
        returns=int,
        forbid=SIZES_BY_FORMULA,
        timeout=10,
    ),
    Exercise(
        test="test_same_padding",
        solutions=["same_padding"],
        name="same_padding",
        cases=_same_padding_cases(),
        reference=_smallest_same_padding,
        returns=tuple,
        forbid=SIZES_BY_FORMULA,
        timeout=10,
    ),
    Exercise(
        test="test_transposed_output_size",
        solutions=["transposed_output_size"],
        name="transposed_output_size",
        cases=_transposed_cases(),
        reference=_transposed_length,
        returns=int,
        forbid=SIZES_BY_FORMULA,
        timeout=10,
    ),
    Exercise(
        test="test_classifier",
        solutions=["classifier"],
        name="classifier",
        cases=_CLASSIFIER_SIZES,
        driver="describe",
        judge=_judge_classifier,
        forbid=NOT_BY_RUNNING,
        timeout=20,
    ),
    Exercise(
        test="test_downsampling_stack",
        solutions=["downsampling_stack"],
        name="downsampling_stack",
        cases=[
            (128, 4, 5),
            (57, 8, 3),
            (200, 25, 7),
            (17, 9, 2),
            (12, 3, 4),
            (300, 1, 3),
            (65, 2, 6),
            (100, 12, 4),
            (40, 7, 3),
            (31, 3, 2),
            (20, 20, 3),
            (5, 8, 2),
            (3, 2, 1),
        ],
        driver="describe",
        outcome=True,
        judge=_judge_stack,
        timeout=15,
    ),
]
