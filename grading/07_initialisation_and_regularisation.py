"""Verification spec of chapter 07 (read by `python -m course_utils.verify`, never released).

Test inputs differ from the notebook's visible and hidden tests. Three answers
are random (``kaiming_normal_``, ``dropout``, ``drop_path``): the child runs them
after the chapter's setup cell has seeded every generator (``seed_everything(0)``),
so a submission's outputs are fixed, and the judges below decide on statistics of
large tensors with tolerances of six standard deviations or more, so a right answer
passes whatever the seed. The other two are compared with values computed here by
PyTorch (``l2_penalty`` over the right parameters; ``layer_stats`` with hooks on
real ``torch.nn`` layers rebuilt from the same weights). The statements' rules hold
here as in the notebook's checks, with the same sentences: no PyTorch initialiser,
dropout or stochastic depth where an exercise computes it, no course_utils hooks
in ``layer_stats``, inputs left unchanged (``kaiming_normal_`` must fill its tensor
in place), and the kinds of result the statements ask for.
"""

import math

import torch
from torch import nn

from course_utils.checks import Forbid
from course_utils.grading import harness
from course_utils.grading.spec import Exercise

_g = torch.Generator().manual_seed(7007)

# The same rules as the notebook's check cells (tests/notebooks/test_chapter07_checks.py compares them).
NO_INIT = Forbid(
    calls=(
        "kaiming_normal_",
        "kaiming_uniform_",
        "kaiming_normal",
        "kaiming_uniform",
        "xavier_normal_",
        "xavier_uniform_",
        "xavier_normal",
        "xavier_uniform",
        "_calculate_correct_fan",
        "_calculate_fan_in_and_fan_out",
        "_no_grad_normal_",
        "trunc_normal_",
        "orthogonal_",
    ),
    reason="the point of this exercise is to compute the fan and the standard deviation yourself",
)
NO_DROPOUT = Forbid(
    calls=(
        "dropout",
        "Dropout",
        "dropout1d",
        "dropout2d",
        "dropout3d",
        "Dropout1d",
        "Dropout2d",
        "Dropout3d",
        "alpha_dropout",
        "AlphaDropout",
        "feature_alpha_dropout",
        "FeatureAlphaDropout",
        "feature_dropout",
        "native_dropout",
        "_fused_dropout",
        "stochastic_depth",
        "StochasticDepth",
    ),
    aten=("dropout", "native_dropout", "feature_dropout", "alpha_dropout", "feature_alpha_dropout", "_fused_dropout"),
    reason="the point of this exercise is to draw the mask and scale the kept values yourself",
)
NO_DROP_PATH = Forbid(
    calls=(
        "stochastic_depth",
        "StochasticDepth",
        "dropout",
        "Dropout",
        "dropout1d",
        "dropout2d",
        "dropout3d",
        "Dropout1d",
        "Dropout2d",
        "Dropout3d",
        "alpha_dropout",
        "feature_alpha_dropout",
        "feature_dropout",
        "native_dropout",
    ),
    aten=("dropout", "native_dropout", "feature_dropout", "alpha_dropout", "feature_alpha_dropout", "_fused_dropout"),
    reason="the point of this exercise is to draw the per-sample mask yourself",
)
NO_COURSE_HOOKS = Forbid(
    calls=("activation_stats", "capture_activations", "capture_gradients", "ActivationStats", "resolve_layers"),
    reason="the point of this exercise is to write the hooks yourself",
)
NORM_LAYERS = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
)


# ---------------------------------------------------------------- kaiming_normal_


class _FillsInPlace(Exercise):
    """An Exercise whose answer must change its first argument in place on every case that returns."""

    def rule_violation(self, sources, record):
        why = super().rule_violation(sources, record)
        if why or record.get("status") != "ok":
            return why
        mutations = record.get("mutations")
        for changes in mutations if type(mutations) is list else ():
            if not any(
                type(c) is list and len(c) == 3 and c[0] == "tensor" for c in (changes if type(changes) is list else ())
            ):
                return (
                    f"`{self.name}` returned without filling `tensor` in place; fill the tensor it was given "
                    "(e.g. tensor.normal_(0, std) inside torch.no_grad()) and return it"
                )
        return None


# (shape, mode, nonlinearity, dtype), each with at least 50,000 values so that the judge's tolerances are over 6
# standard errors for any right answer; then 2 shapes with fewer than 2 dimensions, which must raise ValueError.
_INIT_CASES = [
    ((192, 96, 3, 3), "fan_in", "relu", torch.float32),
    ((192, 96, 3, 3), "fan_out", "tanh", torch.float32),
    ((640, 320), "fan_out", "relu", torch.float32),
    ((512, 200), "fan_in", "linear", torch.float64),
    ((128, 64, 7), "fan_in", "leaky_relu", torch.float32),  # a Conv1d weight
    ((48, 24, 3, 5, 3), "fan_out", "relu", torch.float32),  # a Conv3d weight, a non-cubic kernel
    ((640, 200, 1, 1), "fan_in", "sigmoid", torch.float32),  # a 1x1 convolution
]
_KAIMING_CASES = [
    ((torch.zeros(shape, dtype=dtype),), {"mode": mode, "nonlinearity": nl}) for shape, mode, nl, dtype in _INIT_CASES
] + [((torch.zeros(12),), {}), ((torch.tensor(3.0),), {})]


def _kaiming_judge(got, case):
    tensor = case["args"][0]
    if tensor.dim() < 2:
        if "raised" in got:
            return None if "ValueError" in got["raised"] else f"raised {got['raised'][0]}, expected ValueError"
        return f"a tensor of shape {tuple(tensor.shape)} was accepted; fewer than 2 dimensions must raise ValueError"
    if "returned" not in got:
        return f"raised {(got.get('raised') or ['an exception'])[0]} on a tensor of shape {tuple(tensor.shape)}"
    out = got["returned"]
    if type(out) is not torch.Tensor:
        return f"returned a {type(out).__name__}, not the tensor"
    if tuple(out.shape) != tuple(tensor.shape) or out.dtype != tensor.dtype:
        return f"shape {tuple(out.shape)} and dtype {out.dtype}, expected {tuple(tensor.shape)} and {tensor.dtype}"
    mode, nonlinearity = case["kwargs"]["mode"], case["kwargs"]["nonlinearity"]
    receptive = math.prod(tensor.shape[2:])
    fan = (tensor.shape[1] if mode == "fan_in" else tensor.shape[0]) * receptive
    target = torch.nn.init.calculate_gain(nonlinearity) / math.sqrt(fan)
    values = out.double().flatten()
    n = values.numel()  # at least 50,000 here
    std = values.std().item()
    if not math.isfinite(std) or abs(std / target - 1) > 0.02:  # 2% is over 6 standard errors
        return f"the values have std {std:.5g}, expected gain / sqrt(fan) = {target:.5g}"
    if abs(values.mean().item()) > 6 * target / math.sqrt(n):
        return f"the values have mean {values.mean().item():.5g}, expected 0"
    within = (values.abs() <= target).double().mean().item()
    if abs(within - 0.6827) > 0.015:
        return f"{within:.1%} of the values lie within one std of 0, expected 68.3% for a normal distribution"
    return None


# ---------------------------------------------------------------- dropout and drop_path


def _positive(*shape, dtype=torch.float32):
    return torch.rand(*shape, generator=_g, dtype=dtype) + 0.25


_DROPOUT_CASES = [
    ((_positive(400_000), 0.35), {"training": True}),
    ((_positive(96, 4096, dtype=torch.float64), 0.5), {"training": True}),  # float64, (N, D): independent rows
    ((-_positive(8, 16, 40, 40), 0.15), {"training": True}),
    ((_positive(250_000), 0.8), {"training": True}),
    ((_positive(6, 40, 30, 16).transpose(1, 3), 0.3), {"training": True}),  # not contiguous: view() fails
    ((_positive(20, 30), 0.5), {"training": False}),
    ((_positive(20, 30), 0.0), {"training": True}),
    ((_positive(20, 30, dtype=torch.float64), 1.0), {"training": True}),
]


def _dropout_judge(got, case):
    (x, p), training = case["args"], case["kwargs"].get("training", True)
    if type(got) is not torch.Tensor:
        return f"returned a {type(got).__name__}, not a tensor"
    if tuple(got.shape) != tuple(x.shape) or got.dtype != x.dtype:
        return f"shape {tuple(got.shape)} and dtype {got.dtype}, expected {tuple(x.shape)} and {x.dtype}"
    if not training or p == 0:
        return None if torch.equal(got, x) else "the result differs from x where it must equal x"
    if p == 1:
        return None if torch.equal(got, torch.zeros_like(x)) else "with p = 1 the result must be all zeros"
    zero = got == 0
    expected = x / (1 - p)
    if not torch.allclose(torch.where(zero, expected, got), expected, rtol=1e-5, atol=0):
        return "the elements kept are not x / (1 - p)"
    fraction = zero.double().mean().item()
    if abs(fraction - p) > 6 * math.sqrt(p * (1 - p) / x.numel()):
        return f"zeroed {fraction:.4f} of the elements, expected p = {p}"
    if x.dim() == 2:  # the rows' masks must be independent
        differs = (zero[1:] != zero[:1]).double().mean().item()
        if abs(differs - 2 * p * (1 - p)) > 0.01:
            return "the masks of different samples are not drawn independently"
    return None


_DROP_PATH_CASES = [
    ((_positive(30_000, 3, 2, 2), 0.25), {"training": True}),
    ((_positive(30_000, 5, dtype=torch.float64), 0.6), {"training": True}),  # (N, D), float64
    ((-_positive(30_000, 2, 3), 0.1), {"training": True}),  # (N, L, D)
    ((_positive(20_000, 2, 1, 2, 2), 0.5), {"training": True}),  # 5 dimensions
    ((_positive(6, 3, 4, 4), 0.5), {"training": False}),
    ((_positive(6, 3, 4, 4), 0.0), {"training": True}),
    ((_positive(6, 3, 4, 4), 1.0), {"training": True}),
]


def _drop_path_judge(got, case):
    (x, p), training = case["args"], case["kwargs"].get("training", True)
    if type(got) is not torch.Tensor:
        return f"returned a {type(got).__name__}, not a tensor"
    if tuple(got.shape) != tuple(x.shape) or got.dtype != x.dtype:
        return f"shape {tuple(got.shape)} and dtype {got.dtype}, expected {tuple(x.shape)} and {x.dtype}"
    if not training or p == 0:
        return None if torch.equal(got, x) else "the result differs from x where it must equal x"
    if p == 1:
        return None if torch.equal(got, torch.zeros_like(x)) else "with p = 1 the result must be all zeros"
    zero = (got == 0).flatten(1)
    dropped = zero.all(dim=1)
    if bool((zero.any(dim=1) & ~dropped).any()):
        return "parts of a sample were zeroed; each sample must be dropped as a whole"
    if not torch.allclose(got[~dropped], (x / (1 - p))[~dropped], rtol=1e-5, atol=0):
        return "the samples kept are not x[n] / (1 - p)"
    fraction = dropped.double().mean().item()
    if abs(fraction - p) > 6 * math.sqrt(p * (1 - p) / x.shape[0]):
        return f"dropped {fraction:.4f} of the samples, expected p = {p}"
    return None


# ---------------------------------------------------------------- l2_penalty and layer_stats


def _far_from_default(model):
    """Biases and normalisation parameters far from their initial values, so that counting them shows."""
    for module in model.modules():
        for name, weight in module.named_parameters(recurse=False):
            if name == "bias" or isinstance(module, NORM_LAYERS):
                weight.uniform_(1.5, 2.5)


def _penalty(model):
    net = harness.build_arg(model)
    total = torch.zeros((), dtype=next(net.parameters()).dtype)
    for module in net.modules():
        if not isinstance(module, NORM_LAYERS):
            for name, weight in module.named_parameters(recurse=False):
                if name != "bias":
                    total = total + (weight.detach() ** 2).sum()
    return total


_L2_CASES = [
    (
        harness.model_arg(
            [
                ["Conv2d", {"in_channels": 3, "out_channels": 6, "kernel_size": 3}],
                ["BatchNorm2d", {"num_features": 6}],
                ["ReLU", {}],
                ["Flatten", {}],
                ["Linear", {"in_features": 6 * 4 * 4, "out_features": 4}],
            ],
            seed=71,
            init=_far_from_default,
        ),
    ),
    (
        harness.model_arg(
            [
                ["Conv2d", {"in_channels": 2, "out_channels": 4, "kernel_size": 3, "padding": 1}],
                ["LayerNorm", {"normalized_shape": [4, 5, 5]}],  # a 3-D weight: skipped
                ["PReLU", {"num_parameters": 4}],  # a 1-D weight: counted
                ["Conv2d", {"in_channels": 4, "out_channels": 3, "kernel_size": 1, "bias": False}],
            ],
            seed=72,
            init=_far_from_default,
        ),
    ),
    (
        harness.model_arg(
            [
                ["Linear", {"in_features": 7, "out_features": 8}],
                ["GroupNorm", {"num_groups": 4, "num_channels": 8}],
                ["Tanh", {}],
                ["Linear", {"in_features": 8, "out_features": 2}],
            ],
            seed=73,
            dtype=torch.float64,
            init=_far_from_default,
        ),
    ),
]


def _layer_stats(model, x):
    net = harness.build_arg(model)
    rows = []
    handles = [
        m.register_forward_hook(lambda m, i, o, name=name: rows.append((name, o.mean().item(), o.std().item())))
        for name, m in net.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for handle in handles:
            handle.remove()
    return rows


def _eval_bn(model):
    for module in model:
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-1.0, 1.0)
            module.running_var.uniform_(0.3, 2.5)


_STATS_CASES = [
    (
        harness.model_arg(
            [
                ["Conv2d", {"in_channels": 3, "out_channels": 5, "kernel_size": 3}],
                ["ReLU", {}],
                ["Conv2d", {"in_channels": 5, "out_channels": 4, "kernel_size": 3, "stride": 2}],
                ["ReLU", {}],
                ["Flatten", {}],
                ["Linear", {"in_features": 4 * 4 * 4, "out_features": 6}],
                ["Tanh", {}],
                ["Linear", {"in_features": 6, "out_features": 3}],
            ],
            seed=74,
        ),
        torch.randn(5, 3, 11, 11, generator=_g),
    ),
    (
        harness.model_arg(
            [
                ["Conv2d", {"in_channels": 3, "out_channels": 4, "kernel_size": 3, "padding": 1}],
                ["BatchNorm2d", {"num_features": 4}],
                ["ReLU", {}],
                ["Conv2d", {"in_channels": 4, "out_channels": 2, "kernel_size": 1}],
            ],
            seed=75,
            training=False,
            init=_eval_bn,
        ),  # eval mode: running statistics
        torch.randn(3, 3, 7, 7, generator=_g),
    ),
    (
        harness.model_arg(
            [
                ["Linear", {"in_features": 9, "out_features": 12}],
                ["ReLU", {}],
                ["Dropout", {"p": 0.0}],
                ["Linear", {"in_features": 12, "out_features": 12}],
            ],
            seed=76,
            dtype=torch.float64,
        ),
        torch.randn(4, 9, generator=_g, dtype=torch.float64),
    ),
]

EXERCISES = [
    _FillsInPlace(
        test="test_kaiming_normal",
        solutions=["kaiming_normal"],
        name="kaiming_normal_",
        cases=_KAIMING_CASES,
        judge=_kaiming_judge,
        outcome=True,
        mutates=("tensor",),
        arg_names=("tensor",),
        timeout=20,
        forbid=NO_INIT,
    ),
    Exercise(
        test="test_dropout",
        solutions=["dropout"],
        name="dropout",
        cases=_DROPOUT_CASES,
        judge=_dropout_judge,
        timeout=20,
        forbid=NO_DROPOUT,
        returns=torch.Tensor,
        arg_names=("x", "p"),
    ),
    Exercise(
        test="test_drop_path",
        solutions=["drop_path"],
        name="drop_path",
        cases=_DROP_PATH_CASES,
        judge=_drop_path_judge,
        timeout=20,
        forbid=NO_DROP_PATH,
        returns=torch.Tensor,
        arg_names=("x", "p"),
    ),
    Exercise(
        test="test_l2_penalty",
        solutions=["l2_penalty"],
        name="l2_penalty",
        cases=_L2_CASES,
        reference=_penalty,
        atol=1e-5,
        rtol=1e-5,
        timeout=15,
        returns=torch.Tensor,
        arg_names=("model",),
    ),
    Exercise(
        test="test_layer_stats",
        solutions=["layer_stats"],
        name="layer_stats",
        cases=_STATS_CASES,
        reference=_layer_stats,
        atol=1e-6,
        rtol=1e-5,
        timeout=15,
        returns=list,
        forbid=NO_COURSE_HOOKS,
        arg_names=("model", "x"),
    ),
]
