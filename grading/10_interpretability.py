"""Verification spec of chapter 10 (read by `python -m course_utils.grading verify`, never released).

Every expected value is Captum's own, computed in the grader's process on the
same model rebuilt from plain data (``harness.model_arg``): ``Saliency``,
``LayerGradCam`` with the ReLU, ``IntegratedGradients`` with
``method="riemann_right"`` and ``Occlusion`` with the same window, stride and
fill; the top-k reference is ``torch.topk`` of the channel's spatial mean in
eval mode. Models and inputs differ from the notebook's (other layers, sizes,
seeds, int targets on batches, in-place ReLUs after Grad-CAM's layer, a model
handed over in training mode). Grad-CAM and the top-k search take a layer, so
they are called through the chapter's helper cell ``exercise-harness``
(``grad_cam_result``, ``top_activating_result``), and ``label=`` makes every
sentence name the learner's function. Every exercise forbids Captum,
with the notebook's sentence; the default input rule of
:class:`course_utils.grading.spec.Exercise` refuses a changed ``x``, a changed
model (weights, BatchNorm statistics) and a hook left registered.
"""

import torch

from course_utils.checks import Forbid
from course_utils.grading import harness
from course_utils.grading.spec import Exercise

SETUP_CELLS = ["exercise-harness"]

NO_CAPTUM = Forbid(calls=("captum",), reason="the point of this exercise is to compute the attribution yourself")

_g = torch.Generator().manual_seed(10_010)


def _conv(c_in, c_out, k, **kwargs):
    return ["Conv2d", {"in_channels": c_in, "out_channels": c_out, "kernel_size": k, **kwargs}]


def _cnn(seed, classes=3, dtype=torch.float32):
    """Conv, ReLU, max pool, conv, ReLU, global average, linear: (N, 3, H, W) -> (N, classes), eval mode."""
    layers = [
        _conv(3, 5, 3, padding=1),
        ["ReLU", {}],
        ["MaxPool2d", {"kernel_size": 2}],
        _conv(5, 7, 3, padding=1),
        ["ReLU", {}],
        ["AdaptiveAvgPool2d", {"output_size": 1}],
        ["Flatten", {}],
        ["Linear", {"in_features": 7, "out_features": classes}],
    ]
    return harness.model_arg(layers, seed=seed, dtype=dtype, training=False)


def _bn_stats(model):
    for module in model:
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.7)
            module.running_var.uniform_(0.3, 2.5)
            module.weight.uniform_(0.5, 1.5)


def _bn_cnn(seed, classes=4, dtype=torch.float32, training=False):
    """Conv, BatchNorm (with statistics), ReLU, strided conv, ReLU, global average, linear."""
    layers = [
        _conv(3, 6, 3, padding=1),
        ["BatchNorm2d", {"num_features": 6}],
        ["ReLU", {}],
        _conv(6, 5, 3, stride=2),
        ["ReLU", {}],
        ["AdaptiveAvgPool2d", {"output_size": 1}],
        ["Flatten", {}],
        ["Linear", {"in_features": 5, "out_features": classes}],
    ]
    return harness.model_arg(layers, seed=seed, dtype=dtype, training=training, init=_bn_stats)


def _x(*shape, dtype=torch.float32):
    return torch.randn(*shape, generator=_g, dtype=dtype)


def _model(arg):
    return harness.build_arg(arg).eval()


def _saliency(model, x, target):
    from captum.attr import Saliency

    return Saliency(_model(model)).attribute(x.clone().requires_grad_(), target=target, abs=True).detach()


def _grad_cam(model, layer_name, x, target, inplace=False):
    from captum.attr import LayerGradCam

    net = _model(model)  # ReLUs not in place: the same function, and the right answer for the in-place model too
    return LayerGradCam(net, net.get_submodule(layer_name)).attribute(x, target=target, relu_attributions=True).detach()


def _integrated_gradients(model, x, baseline, target, steps):
    from captum.attr import IntegratedGradients

    return (
        IntegratedGradients(_model(model))
        .attribute(x, baselines=baseline, target=target, n_steps=steps, method="riemann_right")
        .detach()
    )


def _occlusion(model, x, target, window, stride, fill=0.0):
    from captum.attr import Occlusion

    c = x.shape[1]
    return (
        Occlusion(_model(model))
        .attribute(
            x, sliding_window_shapes=(c, window, window), strides=(c, stride, stride), target=target, baselines=fill
        )
        .detach()
    )


def _top_activating(model, layer_name, images, channel, k, batch_size):
    net = _model(model)
    index = [name for name, _ in net.named_children()].index(layer_name)
    with torch.no_grad():
        out = net[: index + 1](images)
    values, indices = out[:, channel].mean(dim=(-2, -1)).topk(k)
    return (values, indices, bool(model["training"]), True)  # the mode it was handed in, batches within the limit


_SALIENCY_CASES = [
    (_cnn(1, classes=4), _x(3, 3, 9, 14), 2),  # an int target on a batch
    (_bn_cnn(2), _x(2, 3, 11, 10), torch.tensor([3, 0])),
    (_cnn(3, dtype=torch.float64), _x(1, 3, 16, 6, dtype=torch.float64), torch.tensor([1])),
    (_bn_cnn(4, classes=6, dtype=torch.float64), _x(4, 3, 8, 8, dtype=torch.float64), 5),
]
_GRAD_CAM_CASES = [
    (_bn_cnn(5), "1", _x(3, 3, 12, 9), torch.tensor([0, 3, 2]), True),  # BatchNorm's output, then an in-place ReLU
    (_cnn(6, classes=5), "3", _x(2, 3, 14, 10), 4, False),  # an int target on a batch
    (_bn_cnn(7, dtype=torch.float64), "3", _x(2, 3, 15, 11, dtype=torch.float64), torch.tensor([1, 1]), True),
    (_cnn(8), "0", _x(1, 3, 7, 12), torch.tensor([2]), False),
]
_IG_CASES = [
    (_cnn(9, classes=4), _x(3, 3, 10, 7), torch.zeros(3, 3, 10, 7), 1, 6),  # an int target on a batch
    (_bn_cnn(10), _x(2, 3, 9, 12), _x(2, 3, 9, 12), torch.tensor([2, 3]), 4),
    (
        _cnn(11, dtype=torch.float64),
        _x(2, 3, 8, 8, dtype=torch.float64),
        torch.full((2, 3, 8, 8), 0.3, dtype=torch.float64),
        torch.tensor([0, 2]),
        9,
    ),
]
_OCCLUSION_CASES = [
    (_cnn(12, classes=4), _x(3, 3, 12, 9), 1, 4, 3),  # an int target on a batch; the last window is cut
    ((_bn_cnn(13), _x(2, 3, 10, 13), torch.tensor([3, 1]), 5, 5), {"fill": -0.5}),
    (_cnn(14), _x(1, 3, 8, 8), torch.tensor([2]), 8, 8),
    ((_bn_cnn(15, classes=3), _x(2, 3, 9, 6), torch.tensor([0, 2]), 3, 2), {"fill": 1.0}),
]
_faint = _x(22, 3, 9, 10)
_faint[5] *= 3.0
_TOP_CASES = [
    (_bn_cnn(16, training=True), "2", _faint, 4, 3, 5),  # handed over in training mode, a partial last batch
    (_bn_cnn(17, training=False), "3", _x(13, 3, 8, 11), 1, 13, 4),
    (_bn_cnn(18, training=True), "1", _x(6, 3, 7, 7), 0, 2, 32),
]

EXERCISES = [
    Exercise(
        test="test_saliency",
        solutions=["saliency"],
        name="saliency",
        cases=_SALIENCY_CASES,
        reference=_saliency,
        forbid=NO_CAPTUM,
        returns=torch.Tensor,
        arg_names=("model", "x", "target"),
        timeout=20,
    ),
    Exercise(
        test="test_grad_cam",
        solutions=["grad_cam"],
        name="grad_cam_result",
        label="grad_cam",
        cases=_GRAD_CAM_CASES,
        reference=_grad_cam,
        forbid=NO_CAPTUM,
        returns=torch.Tensor,
        arg_names=("model", "layer_name", "x", "target", "inplace"),
        timeout=20,
    ),
    Exercise(
        test="test_integrated_gradients",
        solutions=["integrated_gradients"],
        name="integrated_gradients",
        cases=_IG_CASES,
        reference=_integrated_gradients,
        forbid=NO_CAPTUM,
        returns=torch.Tensor,
        arg_names=("model", "x", "baseline", "target", "steps"),
        timeout=20,
    ),
    Exercise(
        test="test_occlusion",
        solutions=["occlusion"],
        name="occlusion",
        cases=_OCCLUSION_CASES,
        reference=_occlusion,
        forbid=NO_CAPTUM,
        returns=torch.Tensor,
        arg_names=("model", "x", "target", "window", "stride"),
        timeout=20,
    ),
    Exercise(
        test="test_top_activating",
        solutions=["top_activating"],
        name="top_activating_result",
        label="top_activating",
        cases=_TOP_CASES,
        reference=_top_activating,
        forbid=NO_CAPTUM,
        returns=tuple,
        arg_names=("model", "layer_name", "images", "channel", "k", "batch_size"),
        timeout=20,
    ),
]
