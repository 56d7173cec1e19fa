"""Verification spec of chapter 02 (read by `python -m course_utils.verify`, never released).

Test inputs differ from the notebook's visible and hidden tests; every expected
value is computed by PyTorch in the grader's process (the shapes of F.conv2d on
meta tensors and of F.conv_transpose2d, the padding that keeps a real
convolution's size) or judged by the rules the exercise states, on real
torch.nn layers rebuilt from the answer's description (course_utils.grading.harness).
"""

import random

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.grading import harness
from course_utils.grading.spec import Exercise, Raises

_rng = random.Random(7002)


def _meta(*shape):
    return torch.empty(*shape, device="meta")


def _conv_length(n, k, s=1, p=0, d=1):
    """Width of a real F.conv2d output (shapes only, on the meta device)."""
    return F.conv2d(_meta(1, 1, 1, n), _meta(1, 1, 1, k), stride=s, padding=(0, p), dilation=d).shape[-1]


def _transposed_length(n, k, s=1, p=0, output_padding=0, d=1):
    """Width of a real F.conv_transpose2d output (CPU, so PyTorch checks output_padding too)."""
    return F.conv_transpose2d(torch.zeros(1, 1, 1, n), torch.zeros(1, 1, 1, k), stride=s, padding=(0, p),
                              output_padding=(0, output_padding), dilation=d).shape[-1]


def _legal(fn, *args):
    try:
        return fn(*args) >= 1
    except RuntimeError:
        return False


# output_size: outside the notebook's sweep (n <= 12, k <= 5, s <= 3, p <= 2, d <= 3), some with default arguments.
def _output_cases():
    notebook_box = lambda n, k, s, p, d: n <= 12 and k <= 5 and s <= 3 and p <= 2 and d <= 3  # noqa: E731
    cases = set()
    while len(cases) < 120:
        n, k, s, p, d = _rng.randint(1, 60), _rng.randint(1, 9), _rng.randint(1, 6), _rng.randint(0, 5), _rng.randint(1, 5)
        if not notebook_box(n, k, s, p, d) and n + 2 * p >= d * (k - 1) + 1:
            cases.add((n, k, s, p, d))
    # Exactly one window (n + 2p == d(k-1) + 1) and larger inputs.
    cases |= {(13, 7, 4, 1, 2), (10, 4, 5, 3, 5), (16, 1, 7, 0, 1), (1, 1, 1, 0, 4), (227, 11, 4, 0, 1), (513, 3, 2, 1, 1)}
    return sorted(c for c in cases if _legal(_conv_length, *c)) + [(40, 3), (19, 4, 3), (23, 5, 2, 2)]  # defaults


# transposed_output_size: outside the notebook's sweep (n <= 8, k <= 5, s <= 3, p <= 2, output_padding <= 2, d <= 2).
def _transposed_cases():
    notebook_box = lambda n, k, s, p, op, d: n <= 8 and k <= 5 and s <= 3 and p <= 2 and op <= 2 and d <= 2  # noqa: E731
    cases = set()
    while len(cases) < 100:
        n, k, s, p, d = _rng.randint(1, 30), _rng.randint(1, 7), _rng.randint(1, 5), _rng.randint(0, 4), _rng.randint(1, 4)
        op = _rng.randint(0, max(s, d) - 1)
        if not notebook_box(n, k, s, p, op, d) and _legal(_transposed_length, n, k, s, p, op, d):
            cases.add((n, k, s, p, op, d))
    return sorted(cases) + [(10, 4), (9, 2, 3), (12, 5, 2, 2)]  # defaults output_padding=0, d=1


def _keeping_padding(k, d=1):
    """The padding with which a stride-1 F.conv2d keeps 160 pixels, or Raises when none does."""
    if d * (k - 1) % 2:
        return Raises("ValueError")
    return next(p for p in range(160) if _conv_length(160, k, 1, p, d) == 160)


def _same_padding_cases():
    notebook = {(3, 1), (5, 1), (7, 1), (3, 2), (4, 1), (2, 1), (6, 1), (2, 3), (4, 5)}
    notebook |= {(k, d) for k in range(1, 10) for d in range(1, 5) if d * (k - 1) % 2 == 0}
    pool = [(k, d) for k in range(1, 16) for d in range(1, 8) if (k, d) not in notebook]
    cases = _rng.sample(pool, 36)
    return sorted(cases) + [(11,), (12,), (1, 7)]


def _features():
    """The feature extractor exactly as the exercise gives it."""
    return nn.Sequential(
        nn.Conv2d(3, 12, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(12, 24, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(24, 48, 3, dilation=2), nn.ReLU(),
    )


def _reference_classifier():
    with torch.device("meta"):
        features = _features()
        flat = features(_meta(1, 3, 32, 32)).numel()
        return nn.Sequential(features, nn.Flatten(), nn.Linear(flat, 10))


_CLASSIFIER = harness.describe(_reference_classifier())


def _layer_words(entry):
    return f"{entry[0]}({', '.join(f'{k}={v}' for k, v in entry[1].items())})" if isinstance(entry, list) and entry else repr(entry)


def _judge_classifier(got, case):
    """features() unchanged, then Flatten and a Linear whose in_features PyTorch's own layers produce."""
    if type(got) is not dict or got.get("type") != "Sequential":
        return "classifier() does not return an nn.Sequential"
    layers, expected = got.get("layers"), _CLASSIFIER["layers"]
    if not isinstance(layers, list) or len(layers) != len(expected):
        return f"classifier() has {len(layers) if isinstance(layers, list) else 'no'} layers, expected {len(expected)}"
    for number, (mine, want) in enumerate(zip(layers, expected), start=1):
        if mine != want:
            return f"layer {number} is {_layer_words(mine)}, expected {_layer_words(want)}"
    with torch.device("meta"):
        shape = tuple(harness.build(layers)(_meta(2, 3, 32, 32)).shape)
    return None if shape == (2, 10) else f"maps (2, 3, 32, 32) to {shape}, expected (2, 10)"


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
    fewest = _fewest(n_in, n_out)
    if fewest is None:
        return None if "ValueError" in (got.get("raised") or []) else (
            f"downsampling_stack({n_in}, {n_out}) must raise ValueError: {n_out} cannot be reached")
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
    if sum(isinstance(m, nn.ReLU) for m in stack) != len(convs):
        return "the stack does not have one ReLU per convolution"
    if shape != (2, channels, n_out, n_out):
        return f"maps (2, 3, {n_in}, {n_in}) to {shape}, expected {(2, channels, n_out, n_out)}"
    if len(convs) != fewest:
        return f"uses {len(convs)} convolutions, where {fewest} reach the size"
    return None


EXERCISES = [
    Exercise(test="test_output_size", solutions=["output_size"], name="output_size", cases=_output_cases(),
             reference=_conv_length, timeout=10),
    Exercise(test="test_transposed_output_size", solutions=["transposed_output_size"], name="transposed_output_size",
             cases=_transposed_cases(), reference=_transposed_length, timeout=10),
    Exercise(test="test_same_padding", solutions=["same_padding"], name="same_padding", cases=_same_padding_cases(),
             reference=_keeping_padding, outcome=True, timeout=10),
    Exercise(test="test_fix_in_features", solutions=["fix_in_features"], name="classifier", cases=[()],
             driver="describe", judge=_judge_classifier, timeout=10),
    Exercise(test="test_downsampling_stack", solutions=["downsampling_stack"], name="downsampling_stack",
             cases=[(128, 4, 5), (57, 8, 3), (200, 25, 7), (17, 9, 2), (12, 3, 4), (300, 1, 3), (65, 2, 6),
                    (100, 12, 4), (40, 7, 3), (31, 3, 2)],
             driver="describe", outcome=True, judge=_judge_stack, timeout=15),
]
