"""Verification spec of chapter 03 (read by `python -m course_utils.grading verify`, never released).

Test inputs differ from the notebook's visible and hidden tests; every expected
value is computed by PyTorch in the grader's process (F.max_pool2d,
F.avg_pool2d, F.adaptive_avg_pool2d, nn.LPPool2d, autograd through
F.max_pool2d, the predictions of real models rebuilt from the same weights).
The statements' rules hold here as in the notebook's checks, with the same
sentences: no PyTorch pooling where an exercise computes it (and no autograd
for the gradient, no max of any kind for the ReLU maximum), inputs left
unchanged, and a Python float where a float is asked.
"""

import random

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import NO_POOLING, Forbid
from course_utils.grading import harness
from course_utils.grading.spec import Exercise

_g = torch.Generator().manual_seed(7003)
_rng = random.Random(7003)

# The same rules as the notebook's check cells (tests/notebooks/test_chapter03_checks.py compares them).
NO_AUTOGRAD_OR_POOLING = Forbid(
    calls=NO_POOLING.calls
    + (
        "backward",
        "grad",
        "autograd",
        "vjp",
        "functional_call",
        "max_unpool2d",
        "MaxUnpool2d",
        "max_pool2d_with_indices_backward",
    ),
    aten=NO_POOLING.aten + ("max_pool2d_with_indices_backward", "max_unpool2d"),
    reason="the point of this exercise is to compute the gradient yourself",
)
NO_MAX = Forbid(
    calls=NO_POOLING.calls
    + (
        "max",
        "amax",
        "maximum",
        "fmax",
        "argmax",
        "min",
        "amin",
        "minimum",
        "fmin",
        "abs",
        "absolute",
        "clamp",
        "clamp_min",
        "clamp_max",
        "clip",
        "where",
        "sort",
        "topk",
        "kthvalue",
        "sign",
        "gt",
        "ge",
        "lt",
        "le",
        "greater",
        "less",
        "heaviside",
        "hardtanh",
        "relu6",
        "logsumexp",
    ),
    aten=NO_POOLING.aten
    + (
        "max",
        "amax",
        "maximum",
        "fmax",
        "argmax",
        "min",
        "amin",
        "minimum",
        "abs",
        "clamp",
        "clamp_min",
        "clamp_max",
        "where",
        "sort",
        "topk",
        "kthvalue",
        "sign",
        "gt",
        "ge",
        "lt",
        "le",
        "heaviside",
        "hardtanh",
        "logsumexp",
    ),
    reason="the point of this exercise is to build the maximum from ReLUs",
)


def _randn(*shape, dtype=torch.float32):
    return torch.randn(*shape, generator=_g, dtype=dtype)


def _batch_last(n, c, h, w, dtype=torch.float32):
    """An (n, c, h, w) tensor whose batch and channel dimensions cannot be merged by view() (not contiguous)."""
    return torch.randn(c, n, h, w, generator=_g, dtype=dtype).transpose(0, 1)


def _pool_cases(count, *, ceil_mode=False):
    """Random windows, strides (None = kernel_size), paddings <= k // 2 and dtypes, larger than the notebook's."""
    cases = []
    for _ in range(count):
        k = _rng.randint(1, 5)
        shape = (_rng.randint(1, 3), _rng.randint(1, 4), _rng.randint(k, 13), _rng.randint(k, 13))
        x = _randn(*shape, dtype=_rng.choice([torch.float32, torch.float64]))
        kwargs = {"stride": _rng.choice([None, 1, 2, 3, 4]), "padding": _rng.randint(0, k // 2)}
        if ceil_mode:
            kwargs["ceil_mode"] = _rng.choice([False, True])
        cases.append(((x, k), kwargs))
    return cases


_MAX_CASES = _pool_cases(16, ceil_mode=True) + [
    ((-(torch.rand(2, 2, 9, 8, generator=_g) + 0.5), 5), {"stride": 2, "padding": 2}),  # all negative: pad with -inf
    ((-(torch.rand(1, 3, 6, 6, generator=_g, dtype=torch.float64) + 1.0), 4), {"stride": None, "padding": 2}),
    ((torch.full((1, 1, 5, 7), -3.0), 3), {"stride": 3, "padding": 1}),
    ((_randn(2, 2, 7, 9), 2), {"stride": 2, "padding": 1, "ceil_mode": True}),  # a window in the padding: dropped
    ((_randn(1, 2, 9, 6, dtype=torch.float64), 3), {"stride": 2, "padding": 0, "ceil_mode": True}),
]
_AVG_CASES = _pool_cases(14) + [
    ((torch.ones(2, 1, 7, 5), 5), {"stride": 1, "padding": 2}),  # padded zeros counted
    ((_randn(1, 2, 8, 8, dtype=torch.float64), 4), {"stride": None, "padding": 2}),
    ((_batch_last(2, 3, 7, 6), 3), {"stride": 2, "padding": 1}),  # not contiguous
]
_GLOBAL_CASES = [
    (_randn(3, 4, 7, 2),),
    (_randn(1, 6, 1, 10, dtype=torch.float64),),
    (_randn(5, 1, 4, 4),),
    (_randn(2, 3, 13, 1),),
    (_randn(2, 3, 5, 8).transpose(-1, -2),),
]


def _global(x):
    return F.adaptive_avg_pool2d(x, 1).flatten(1)  # (N, C)


def _distinct(*shape, dtype=torch.float64):
    """Values without ties, in random order (the gradient of max pooling is then unique)."""
    n = torch.Size(shape).numel()
    return (torch.randperm(n, generator=_g).to(dtype) / n).reshape(shape)


def _backward_case(shape, kernel_size, stride, dtype=torch.float64):
    x = _distinct(*shape, dtype=dtype)
    grad_out = _randn(*F.max_pool2d(x, kernel_size, stride).shape, dtype=dtype)
    return ((x, grad_out, kernel_size), {"stride": stride})


def _max_pool_gradient(x, grad_out, kernel_size, stride=None):
    """Autograd's gradient through PyTorch's own max pooling."""
    leaf = x.detach().clone().requires_grad_()
    return torch.autograd.grad(F.max_pool2d(leaf, kernel_size, stride), leaf, grad_out)[0]


_BACKWARD_CASES = [
    _backward_case((2, 3, 8, 7), 2, None),
    _backward_case((3, 1, 9, 9), 3, 1),  # every input in up to 9 windows
    _backward_case((2, 2, 11, 6), 3, 2),
    _backward_case((1, 4, 10, 10), 2, 3),  # gaps between windows
    _backward_case((2, 2, 6, 8), 4, 2, dtype=torch.float32),
    _backward_case((3, 2, 5, 5), 5, None),
]


def _lp(x, p, kernel_size, stride=None):
    return nn.LPPool2d(p, kernel_size, stride)(x)


def _lp_cases():
    cases = []
    for _ in range(12):
        kh, kw = _rng.randint(1, 4), _rng.randint(1, 4)
        kernel = kh if kh == kw else (kh, kw)
        x = torch.rand(
            _rng.randint(1, 3),
            _rng.randint(1, 3),
            _rng.randint(kh, 11),
            _rng.randint(kw, 11),
            generator=_g,
            dtype=_rng.choice([torch.float32, torch.float64]),
        )
        cases.append(
            ((x, _rng.choice([1, 2, 3, 5, 0.75, 1.5, 2.5]), kernel), {"stride": _rng.choice([None, 1, 2, 3, (2, 1)])})
        )
    cases += [
        ((_randn(2, 3, 8, 7), 2, 3), {"stride": 2}),  # p = 2: inputs of any sign
        ((_randn(1, 2, 6, 9, dtype=torch.float64), 2, (2, 3)), {"stride": (1, 3)}),
        ((_batch_last(2, 2, 6, 6).abs(), 3, 2), {}),
    ]  # not contiguous
    return cases


_LP_CASES = _lp_cases()
_RELU_CASES = [
    (_randn(2, 3, 6, 8),),
    (_randn(1, 2, 10, 4, dtype=torch.float64),),
    (-(torch.rand(3, 1, 4, 4, generator=_g) + 1),),
    (_randn(2, 2, 8, 6).transpose(-1, -2),),
    (_randn(1, 1, 2, 2) * 1000,),
]


def _relu_reference(x):
    return F.max_pool2d(x, 2)


def _classifier(seed, *, dropout=0.0, batchnorm=False, classes=6):
    """A small random classifier as a model test input, in training mode (so forgetting eval() shows).

    A 3x3 adaptive pooling keeps enough position information that shifts change many of the
    predictions (a 1x1 or 2x2 one often changes none, and then `return 1.0` would pass).
    """
    layers = [["Conv2d", {"in_channels": 3, "out_channels": 6, "kernel_size": 3}]]
    if batchnorm:
        layers.append(["BatchNorm2d", {"num_features": 6}])
    layers += [
        ["ReLU", {}],
        ["AdaptiveAvgPool2d", {"output_size": 3}],
        ["Flatten", {}],
        ["Dropout", {"p": dropout}],
        ["Linear", {"in_features": 54, "out_features": classes}],
    ]

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
                agree += int(net(x[i : i + 1]).argmax() == net(torch.roll(x[i : i + 1], s, dims=-1)).argmax())
    return agree / (x.shape[0] * max_shift)


_CONSISTENCY_CASES = [
    (_classifier(31, dropout=0.6), _randn(7, 3, 12, 13), 5),
    (_classifier(34), _randn(9, 3, 11, 14), 3),
    (_classifier(32, classes=4), _randn(5, 3, 10, 11), 2),
    (_classifier(37, dropout=0.3), _randn(1, 3, 12, 12), 4),  # a single image
]
# Every model above changes many predictions: a constant answer such as `return 1.0` cannot pass
# (tests/notebooks/test_chapter03_checks.py asserts it).

EXERCISES = [
    Exercise(
        test="test_max_pool2d",
        solutions=["max_pool2d"],
        name="max_pool2d",
        cases=_MAX_CASES,
        reference=F.max_pool2d,
        atol=1e-6,
        timeout=20,
        forbid=NO_POOLING,
    ),
    Exercise(
        test="test_avg_pool2d",
        solutions=["avg_pool2d"],
        name="avg_pool2d",
        cases=_AVG_CASES,
        reference=F.avg_pool2d,
        atol=1e-5,
        timeout=20,
        forbid=NO_POOLING,
    ),
    Exercise(
        test="test_global_avg_pool",
        solutions=["global_avg_pool"],
        name="global_avg_pool",
        cases=_GLOBAL_CASES,
        reference=_global,
        timeout=10,
    ),
    Exercise(
        test="test_max_pool2d_backward",
        solutions=["max_pool2d_backward"],
        name="max_pool2d_backward",
        cases=_BACKWARD_CASES,
        reference=_max_pool_gradient,
        atol=1e-6,
        timeout=20,
        forbid=NO_AUTOGRAD_OR_POOLING,
    ),
    Exercise(
        test="test_lp_pool2d",
        solutions=["lp_pool2d"],
        name="lp_pool2d",
        cases=_LP_CASES,
        reference=_lp,
        atol=1e-5,
        rtol=1e-4,
        timeout=20,
        forbid=NO_POOLING,
    ),
    Exercise(
        test="test_max_pool_relu",
        solutions=["max_pool_relu"],
        name="max_pool_relu",
        cases=_RELU_CASES,
        reference=_relu_reference,
        atol=1e-5,
        timeout=15,
        forbid=NO_MAX,
    ),
    Exercise(
        test="test_prediction_consistency",
        solutions=["prediction_consistency"],
        name="prediction_consistency",
        cases=_CONSISTENCY_CASES,
        reference=_consistency,
        atol=1e-6,
        rtol=0,
        timeout=20,
        returns=float,
    ),
]
