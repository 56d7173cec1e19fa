"""Verification spec of chapter 06 (read by `python -m course_utils.grading verify`, never released).

Test inputs differ from the notebook's visible and hidden tests; every expected
value is computed by PyTorch in the grader's process: nn.BatchNorm2d in training
mode over a sequence of batches (outputs and running buffers), nn.BatchNorm2d in
eval mode, nn.LayerNorm, nn.GroupNorm, and conv + batch norm rebuilt from the same
weights in eval mode. Two exercises are stateful or return a module, so the child
calls them through the notebook's helper cell ``check-helpers`` (SETUP_CELLS: the
instructor's copy, never the learner's): ``batch_norm_steps`` calls the learner's
``batch_norm_train`` on each batch in turn with the same buffers and returns the
outputs and the buffers; ``fused_conv_output`` calls ``fuse_conv_bn`` and returns
whether it built an ``nn.Conv2d``, its output and the modules' training flags.
The statements' rules hold here with the notebook's sentences: no PyTorch
normalisation (NORM_ROUTES) and no ready-made fusion (NO_FUSION); only the running
buffers may change in place; every other input must come back unchanged.
"""

import torch
from torch import nn

from course_utils.checks import NO_NORM, Forbid
from course_utils.grading import harness
from course_utils.grading.spec import Exercise

SETUP_CELLS = ["check-helpers"]

# The same rules as the notebook's check cells.
NORM_ROUTES = NO_NORM | Forbid(
    calls=(
        "native_batch_norm",
        "native_layer_norm",
        "native_group_norm",
        "batch_norm_update_stats",
        "batch_norm_stats",
        "batch_norm_elemt",
        "_batch_norm_impl_index",
    ),
    aten=(
        "batch_norm_update_stats",
        "batch_norm_stats",
        "batch_norm_elemt",
        "_batch_norm_impl_index",
        "_batch_norm_with_update",
        "_batch_norm_no_update",
    ),
)
NO_FUSION = Forbid(
    calls=(
        "fusion",
        "fuse_conv_bn_eval",
        "fuse_conv_bn_weights",
        "fuse_linear_bn_eval",
        "fuse_linear_bn_weights",
        "fuse_modules",
        "fuse_modules_qat",
        "fuse_fx",
    ),
    reason="the point of this exercise is to fold the batch norm into the weights yourself",
)

_g = torch.Generator().manual_seed(7006)


def _randn(*shape, dtype=torch.float32, scale=1.0, shift=0.0):
    return torch.randn(*shape, generator=_g, dtype=dtype) * scale + shift


def _positive(*shape, dtype=torch.float32):
    return torch.rand(*shape, generator=_g, dtype=dtype) + 0.1


def _bn_steps(batches, weight, bias, running_mean, running_var, momentum=0.1, eps=1e-5):
    """nn.BatchNorm2d in training mode on batches[0], batches[1], ...: [outputs, running_mean, running_var]."""
    layer = nn.BatchNorm2d(weight.numel(), eps=eps, momentum=momentum).to(weight.dtype)
    with torch.no_grad():
        for name, value in (
            ("weight", weight),
            ("bias", bias),
            ("running_mean", running_mean),
            ("running_var", running_var),
        ):
            getattr(layer, name).copy_(value)
        outputs = [layer(x) for x in batches]
    return [outputs, layer.running_mean.clone(), layer.running_var.clone()]


def _steps_case(count, shape, dtype, shift=0.0, **kwargs):
    """A stack of `count` batches (count, N, C, H, W), then weight, bias and starting buffers of shape (C,)."""
    c = shape[1]
    batches = _randn(count, *shape, dtype=dtype, scale=2.0, shift=shift)
    args = (
        batches,
        _positive(c, dtype=dtype),
        _randn(c, dtype=dtype),
        _randn(c, dtype=dtype),
        _positive(c, dtype=dtype),
    )
    return (args, kwargs) if kwargs else args


_STEPS_CASES = [
    _steps_case(1, (3, 2, 4, 5), torch.float32),
    _steps_case(4, (2, 3, 3, 2), torch.float64, momentum=0.2, eps=1e-3),
    _steps_case(3, (1, 4, 2, 7), torch.float32, momentum=0.5),
    _steps_case(2, (6, 1, 1, 2), torch.float64, eps=0.3),
    _steps_case(5, (4, 5, 3, 3), torch.float64, momentum=0.01),
    _steps_case(2, (8, 3, 5, 5), torch.float32, shift=250.0),  # a large mean: the one-pass variance fails here
]


def _bn_eval(x, weight, bias, running_mean, running_var, eps=1e-5):
    layer = nn.BatchNorm2d(weight.numel(), eps=eps).to(weight.dtype).eval()
    with torch.no_grad():
        for name, value in (
            ("weight", weight),
            ("bias", bias),
            ("running_mean", running_mean),
            ("running_var", running_var),
        ):
            getattr(layer, name).copy_(value)
        return layer(x)


def _eval_case(shape, dtype, transposed=False, **kwargs):
    c = shape[1]
    x = _randn(*shape, dtype=dtype, scale=3.0, shift=1.0)
    if transposed:  # the same values, stored (N, C, W, H): not contiguous
        x = x.transpose(2, 3).contiguous().transpose(2, 3)
    args = (x, _randn(c, dtype=dtype), _randn(c, dtype=dtype), _randn(c, dtype=dtype), _positive(c, dtype=dtype))
    return (args, kwargs) if kwargs else args


_EVAL_CASES = [
    _eval_case((2, 4, 3, 5), torch.float32),
    _eval_case((1, 2, 6, 1), torch.float64, eps=0.2),
    _eval_case((3, 3, 4, 6), torch.float32, transposed=True),
    _eval_case((5, 1, 2, 2), torch.float64),
]


def _layer_norm(x, weight, bias, eps=1e-5):
    layer = nn.LayerNorm(list(x.shape[1:]), eps=eps).to(x.dtype)
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
        return layer(x)


def _layer_case(shape, dtype, shift=0.0, **kwargs):
    args = (
        _randn(*shape, dtype=dtype, scale=2.0, shift=shift),
        _randn(*shape[1:], dtype=dtype),
        _randn(*shape[1:], dtype=dtype),
    )
    return (args, kwargs) if kwargs else args


_LAYER_CASES = [
    _layer_case((2, 3, 4, 6), torch.float32),
    _layer_case((1, 5, 2, 3), torch.float64, eps=0.5),
    _layer_case((4, 1, 3, 1), torch.float64),
    _layer_case((3, 4, 8, 8), torch.float32, shift=300.0),
]


def _group_norm(x, num_groups, weight, bias, eps=1e-5):
    layer = nn.GroupNorm(num_groups, x.shape[1], eps=eps).to(x.dtype)
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
        return layer(x)


def _group_case(shape, groups, dtype, transposed=False, **kwargs):
    x = _randn(*shape, dtype=dtype, scale=2.0, shift=-1.0)
    if transposed:
        x = x.transpose(2, 3).contiguous().transpose(2, 3)
    args = (x, groups, _randn(shape[1], dtype=dtype), _randn(shape[1], dtype=dtype))
    return (args, kwargs) if kwargs else args


_GROUP_CASES = [
    _group_case((2, 6, 3, 4), 2, torch.float32),
    _group_case((1, 8, 5, 2), 4, torch.float64, eps=0.2),
    _group_case((3, 9, 2, 2), 3, torch.float64),
    _group_case((2, 4, 3, 5), 1, torch.float32),
    _group_case((2, 12, 4, 3), 6, torch.float32, transposed=True),
]


def _bn_stats(model):
    bn = model[1]
    bn.running_mean.normal_(0.0, 0.7)
    bn.running_var.uniform_(0.2, 3.0)
    bn.weight.uniform_(-1.5, 1.5)
    bn.bias.normal_(0.0, 0.5)


def _pair(conv, channels, seed, dtype=torch.float32, eps=1e-5):
    c_in, c_out = channels
    layers = [
        ["Conv2d", {"in_channels": c_in, "out_channels": c_out, **conv}],
        ["BatchNorm2d", {"num_features": c_out, "eps": eps}],
    ]
    return harness.model_arg(layers, seed=seed, dtype=dtype, init=_bn_stats)


_FUSE_CASES = [
    (_pair({"kernel_size": 3, "padding": 1, "bias": False}, (3, 4), 61), _randn(2, 3, 7, 5)),
    (
        _pair(
            {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 0), "dilation": (1, 2)},
            (2, 3),
            62,
            torch.float64,
            eps=0.1,
        ),
        _randn(1, 2, 9, 8, dtype=torch.float64),
    ),
    (_pair({"kernel_size": 1, "stride": 2}, (4, 2), 63), _randn(3, 4, 5, 6)),
    (
        _pair({"kernel_size": (1, 5), "padding": (0, 2), "bias": False}, (1, 6), 64, torch.float64),
        _randn(2, 1, 3, 10, dtype=torch.float64),
    ),
]


def _fused(pair, x):
    model = harness.build_arg(pair)
    training = [model[0].training, model[1].training]
    with torch.no_grad():
        output = model.eval()(x)
    return {"is_conv2d": True, "output": output, "training": training}


EXERCISES = [
    Exercise(
        test="test_batch_norm_train",
        solutions=["batch_norm_train"],
        name="batch_norm_steps",
        label="batch_norm_train",
        cases=_STEPS_CASES,
        reference=_bn_steps,
        atol=1e-4,
        forbid=NORM_ROUTES,
        mutates=("running_mean", "running_var"),
        timeout=20,
    ),
    Exercise(
        test="test_batch_norm_eval",
        solutions=["batch_norm_eval"],
        name="batch_norm_eval",
        cases=_EVAL_CASES,
        reference=_bn_eval,
        forbid=NORM_ROUTES,
        returns=torch.Tensor,
        timeout=10,
    ),
    Exercise(
        test="test_layer_norm",
        solutions=["layer_norm"],
        name="layer_norm",
        cases=_LAYER_CASES,
        reference=_layer_norm,
        atol=1e-4,
        forbid=NORM_ROUTES,
        returns=torch.Tensor,
        timeout=10,
    ),
    Exercise(
        test="test_group_norm",
        solutions=["group_norm"],
        name="group_norm",
        cases=_GROUP_CASES,
        reference=_group_norm,
        forbid=NORM_ROUTES,
        returns=torch.Tensor,
        timeout=10,
    ),
    Exercise(
        test="test_fuse_conv_bn",
        solutions=["fuse_conv_bn"],
        name="fused_conv_output",
        label="fuse_conv_bn",
        cases=_FUSE_CASES,
        reference=_fused,
        atol=1e-4,
        forbid=NO_FUSION,
        arg_names=("pair", "x"),
        timeout=15,
    ),
]
