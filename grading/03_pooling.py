"""Verification spec of chapter 03 (read by `python -m course_utils.verify`, never released).

Test inputs differ from the notebook's visible and hidden tests; every expected
value is computed by PyTorch in the grader's process (F.max_pool2d,
F.avg_pool2d, F.adaptive_avg_pool2d, autograd through the mixed pooling, the
predictions of real models rebuilt from the same weights).
"""

import random

import torch
import torch.nn.functional as F

from course_utils.grading import harness
from course_utils.grading.spec import Exercise, compare

_g = torch.Generator().manual_seed(7003)
_rng = random.Random(7003)


def _randn(*shape, dtype=torch.float32):
    return torch.randn(*shape, generator=_g, dtype=dtype)


def _pool_cases(count):
    """Random windows, strides (None = kernel_size), paddings <= k // 2 and dtypes, larger than the notebook's."""
    cases = []
    for _ in range(count):
        k = _rng.randint(1, 5)
        shape = (_rng.randint(1, 3), _rng.randint(1, 4), _rng.randint(k, 13), _rng.randint(k, 13))
        x = _randn(*shape, dtype=_rng.choice([torch.float32, torch.float64]))
        cases.append(((x, k), {"stride": _rng.choice([None, 1, 2, 3, 4]), "padding": _rng.randint(0, k // 2)}))
    return cases


_MAX_CASES = _pool_cases(14) + [
    ((-(torch.rand(2, 2, 9, 8, generator=_g) + 0.5), 5), {"stride": 2, "padding": 2}),   # all negative: pad with -inf
    ((-(torch.rand(1, 3, 6, 6, generator=_g, dtype=torch.float64) + 1.0), 4), {"stride": None, "padding": 2}),
    ((torch.full((1, 1, 5, 7), -3.0), 3), {"stride": 3, "padding": 1}),
]
_AVG_CASES = _pool_cases(14) + [
    ((torch.ones(2, 1, 7, 5), 5), {"stride": 1, "padding": 2}),                          # padded zeros counted
    ((_randn(1, 2, 8, 8, dtype=torch.float64), 4), {"stride": None, "padding": 2}),
]
_GLOBAL_CASES = [(_randn(3, 4, 7, 2),), (_randn(1, 6, 1, 10, dtype=torch.float64),), (_randn(5, 1, 4, 4),),
                 (_randn(2, 3, 13, 1),)]


def _global(x):
    return F.adaptive_avg_pool2d(x, 1).flatten(1)                         # (N, C)


def _judge_mixed(got, case):
    """Output a*max + (1-a)*avg, a the only parameter, and d(sum of output)/da = sum(max - avg) by autograd."""
    kernel_size, stride, a, x = case["args"]
    if type(got) is not dict or not {"output", "requires_grad", "parameters", "grads"} <= set(got):
        return "no module result"
    params = got["parameters"] if type(got["parameters"]) is dict else {}
    if sum(p.numel() for p in params.values() if type(p) is torch.Tensor) != 1 or len(params) != 1:
        return f"MixedPool2d has parameters {sorted(params)}, expected the single scalar a"
    leaf = torch.tensor(float(a), requires_grad=True)
    out = leaf * F.max_pool2d(x, kernel_size, stride) + (1 - leaf) * F.avg_pool2d(x, kernel_size, stride)
    out.sum().backward()
    why = compare(got["output"], out.detach(), atol=1e-5, rtol=1e-4)
    if why:
        return f"output: {why}"
    if got["requires_grad"] is not True:
        return "the output does not depend on a through autograd"
    grads = list(got["grads"].values()) if type(got["grads"]) is dict else []
    grad = grads[0] if len(grads) == 1 else None
    if type(grad) is not torch.Tensor or grad.numel() != 1:
        return "a receives no gradient"
    why = compare(grad.reshape(()), leaf.grad.to(grad.dtype), atol=1e-4, rtol=1e-4)
    return f"the gradient with respect to a: {why}" if why else None


_MIXED_CASES = [
    (3, None, 0.7, _randn(2, 3, 9, 7)),
    (2, 1, 0.1, _randn(1, 4, 5, 5)),
    (4, 2, 0.55, _randn(3, 2, 10, 12)),
    (3, 2, 1.0, _randn(1, 1, 8, 9)),
]


def _classifier(seed, *, dropout=0.0, batchnorm=False, classes=6):
    """A small random classifier as a model test input, in training mode (so forgetting eval() shows).

    A 3x3 adaptive pooling keeps enough position information that shifts change about a quarter of the
    predictions (a 1x1 or 2x2 one often changes none, and then a wrong shift loop would pass).
    """
    layers = [["Conv2d", {"in_channels": 3, "out_channels": 6, "kernel_size": 3}]]
    if batchnorm:
        layers.append(["BatchNorm2d", {"num_features": 6}])
    layers += [["ReLU", {}], ["AdaptiveAvgPool2d", {"output_size": 3}], ["Flatten", {}],
               ["Dropout", {"p": dropout}], ["Linear", {"in_features": 54, "out_features": classes}]]

    def init(model):
        for module in model:
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.5)
                module.running_var.uniform_(0.2, 3.0)
    return harness.model_arg(layers, seed=seed, init=init)


def _consistency(model, x, max_shift):
    """Exact fraction of (image, shift) pairs keeping the eval-mode prediction, one image at a time."""
    net = harness.build_arg(model).eval()
    agree = 0
    with torch.no_grad():
        for s in range(1, max_shift + 1):
            for i in range(x.shape[0]):
                agree += int(net(x[i:i + 1]).argmax() == net(torch.roll(x[i:i + 1], s, dims=-1)).argmax())
    return agree / (x.shape[0] * max_shift)


_CONSISTENCY_CASES = [
    (_classifier(31, dropout=0.6), _randn(7, 3, 12, 13), 5),
    (_classifier(33, batchnorm=True), _randn(8, 3, 14, 12), 3),
    (_classifier(32, classes=4), _randn(5, 3, 10, 11), 2),
]

EXERCISES = [
    Exercise(test="test_max_pool2d", solutions=["max_pool2d"], name="max_pool2d", cases=_MAX_CASES,
             reference=F.max_pool2d, atol=1e-6, timeout=20),
    Exercise(test="test_avg_pool2d", solutions=["avg_pool2d"], name="avg_pool2d", cases=_AVG_CASES,
             reference=F.avg_pool2d, atol=1e-5, timeout=20),
    Exercise(test="test_global_avg_pool", solutions=["global_avg_pool"], name="global_avg_pool", cases=_GLOBAL_CASES,
             reference=_global, timeout=10),
    Exercise(test="test_mixed_pool", solutions=["mixed_pool"], name="MixedPool2d", cases=_MIXED_CASES,
             driver="module", judge=_judge_mixed, timeout=15),
    Exercise(test="test_prediction_consistency", solutions=["prediction_consistency"], name="prediction_consistency",
             cases=_CONSISTENCY_CASES, reference=_consistency, atol=1e-6, rtol=0, timeout=20),
]
