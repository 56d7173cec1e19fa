"""Verification spec of chapter 09 (read by `python -m course_utils.verify`, never released).

Every expected value is PyTorch's or torchvision's own, computed in the grader's
process: VGG's layers from ``torchvision.models.vgg.make_layers``, the outputs of
torchvision's ``BasicBlock``, ``Bottleneck``, ``ops.SqueezeExcitation`` and
``MBConv`` given the weights the learner's block had to load, the parameter
count of torchvision's ``Bottleneck`` built on the meta device, and the
compound-scaling formula. The block exercises use the "state" driver
(:func:`course_utils.grading.harness.run_with_state`): the child builds the
learner's block, loads torchvision's state_dict with strict=True and reports the
keys that did not match, or its eval-mode output, as data; the judging happens
here. Inputs differ from the notebook's (other shapes, seeds and configurations).
The forbidden routes are the notebook's rules, with the same sentences; the
source rule reads all the solution cells, so the learner's own class names are
theirs and only torchvision's count.
"""

import math

import torch
import torchvision
from torch import nn
from torchvision.models import efficientnet as tv_efficientnet
from torchvision.models import resnet as tv_resnet

from course_utils.checks import Forbid
from course_utils.grading import harness
from course_utils.grading.spec import Exercise

# The notebook's rules (its check cells define the same Forbid; the class names are refused only as torchvision's).
OWN_VGG = Forbid(
    calls=("torchvision", "vgg11", "vgg13", "vgg16", "vgg19", "VGG", "make_layers", "cfgs"),
    reason="the point of this exercise is to build the network from its configuration yourself",
)
OWN_BLOCKS = Forbid(
    calls=(
        "torchvision",
        "resnet",
        "efficientnet",
        "ops",
        "Conv2dNormActivation",
        "StochasticDepth",
        "conv1x1",
        "conv3x3",
        "BasicBlock",
        "Bottleneck",
        "SqueezeExcitation",
        "MBConv",
    ),
    reason="the point of this exercise is to build the block yourself from torch.nn layers",
)
BY_FORMULA = Forbid(
    calls=(
        "Conv2d",
        "BatchNorm2d",
        "Linear",
        "Bottleneck",
        "BasicBlock",
        "torchvision",
        "resnet50",
        "parameters",
        "named_parameters",
        "numel",
        "count_parameters",
        "state_dict",
        "_parameters",
        "Sequential",
        "Module",
    ),
    aten=("convolution", "native_batch_norm"),
    reason="the point of this exercise is to count the parameters with the formula, not to build the block",
)


def _randomised(module, seed):
    """BatchNorm with random weights and statistics (eval mode uses them), every tensor in float64."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return module.double().eval()


def _downsample(c_in, c_out, stride):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))


def _basic(in_planes, planes, stride=1):
    down = _downsample(in_planes, planes, stride) if stride != 1 or in_planes != planes else None
    return tv_resnet.BasicBlock(in_planes, planes, stride, down)


def _bottleneck(in_planes, planes, stride=1):
    down = _downsample(in_planes, 4 * planes, stride) if stride != 1 or in_planes != 4 * planes else None
    return tv_resnet.Bottleneck(in_planes, planes, stride, down)


def _se(channels, squeeze):
    return torchvision.ops.SqueezeExcitation(channels, squeeze, activation=nn.SiLU)


def _mbconv(c_in, c_out, expand_ratio, kernel_size, stride):
    config = tv_efficientnet.MBConvConfig(expand_ratio, kernel_size, stride, c_in, c_out, 1)
    return tv_efficientnet.MBConv(config, 0.0, nn.BatchNorm2d)


def _state_cases(build, configs, seed):
    """(*config, torchvision's state_dict, a float64 input) per configuration; the input shape is the config's last."""
    cases = []
    for number, (config, shape) in enumerate(configs):
        torch.manual_seed(seed + number)
        reference = _randomised(build(*config), seed + number)
        state = {k: v.detach().clone() for k, v in reference.state_dict().items()}
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed + 100 + number), dtype=torch.float64)
        cases.append((*config, state, x))
    return cases


def _judge_state(build, label):
    """The learner's block loaded torchvision's state strictly and gives torchvision's eval-mode output."""

    def judge(got, case):
        *config, state, x = case["args"]
        words = f"{label}{tuple(config)}"
        why = harness.state_problem(got, words)
        if why:
            return why
        reference = build(*config).double()
        reference.load_state_dict(state, strict=True)
        with torch.no_grad():
            expected = reference.eval()(x)
        out = got["output"]
        if tuple(out.shape) != tuple(expected.shape):
            return f"{words} maps {tuple(x.shape)} to {tuple(out.shape)}, expected {tuple(expected.shape)}"
        if out.dtype != torch.float64:
            return f"{words} returned {out.dtype} for a float64 input"
        if not bool(torch.isclose(out, expected, atol=1e-5, rtol=1e-6).all()):
            return f"{words} differs from torchvision's block by up to {float((out - expected).abs().max()):.3g}"
        return None

    return judge


# make_vgg: configurations and sizes other than the notebook's (D, [64, M, 128, M, 256, 256, M], [16, M, 32, 32]; hidden A, ...).
_VGG_CASES = [
    ([64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"], 1000, 32),
    ([64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"], 100, 64),  # configuration B
    ([32, "M", 48, 48, "M", 96], 4, 20),
    ([24], 2, 8),
    (["M", 16, "M", 16, 8], 10, 12),
    ([40, 40, 40, "M", 80], 6, 18),
    ([24, "M", 16, "M", "M"], 3, 10),
]


def _vgg_reference(cfg, num_classes, hidden):
    with torch.device("meta"):
        c = [v for v in cfg if v != "M"][-1]
        return harness.describe(
            nn.Sequential(
                *torchvision.models.vgg.make_layers(cfg),
                nn.AdaptiveAvgPool2d((7, 7)),
                nn.Flatten(),
                nn.Linear(c * 49, hidden),
                nn.ReLU(True),
                nn.Dropout(0.5),
                nn.Linear(hidden, hidden),
                nn.ReLU(True),
                nn.Dropout(0.5),
                nn.Linear(hidden, num_classes),
            )
        )["layers"]


def _judge_vgg(got, case):
    cfg, num_classes, hidden = case["args"]
    if type(got) is not dict or got.get("type") != "Sequential":
        return "make_vgg does not return an nn.Sequential"
    layers, expected = got.get("layers"), _vgg_reference(cfg, num_classes, hidden)
    if not isinstance(layers, list):
        return "make_vgg's model has no list of layers"
    for number, (mine, want) in enumerate(zip(layers, expected), start=1):
        if mine != want:
            return (
                f"for {cfg} layer {number} is {mine[0] if mine else mine}({mine[1] if len(mine) > 1 else ''}), "
                f"expected {want[0]}({want[1]})"
            )
    if len(layers) != len(expected):
        return f"for {cfg} the model has {len(layers)} layers, expected {len(expected)}"
    with torch.device("meta"):
        shape = tuple(harness.build(layers)(torch.empty(2, 3, 64, 40)).shape)
    return None if shape == (2, num_classes) else f"maps (2, 3, 64, 40) to {shape}, expected (2, {num_classes})"


def _bottleneck_count(in_planes, planes, stride=1):
    with torch.device("meta"):
        return sum(p.numel() for p in _bottleneck(in_planes, planes, stride).parameters())


def _scaled(phi, alpha=1.2, beta=1.1, gamma=1.15):
    return [math.exp(phi * math.log(base)) for base in (alpha, beta, gamma)]


EXERCISES = [
    Exercise(
        test="test_make_vgg",
        solutions=["make_vgg"],
        name="make_vgg",
        cases=_VGG_CASES,
        driver="describe",
        judge=_judge_vgg,
        forbid=OWN_VGG,
        timeout=60,
    ),
    Exercise(
        test="test_basic_block",
        solutions=["basic_block"],
        name="BasicBlock",
        cases=_state_cases(
            _basic,
            [
                ((64, 64, 2), (2, 64, 9, 6)),
                ((8, 8, 1), (3, 8, 5, 7)),
                ((16, 24, 1), (2, 16, 6, 6)),
                ((32, 16, 2), (1, 32, 7, 7)),
                ((128, 256, 2), (1, 128, 4, 5)),
            ],
            seed=9100,
        ),
        driver="state",
        judge=_judge_state(_basic, "BasicBlock"),
        forbid=OWN_BLOCKS,
        timeout=30,
    ),
    Exercise(
        test="test_bottleneck",
        solutions=["bottleneck"],
        name="Bottleneck",
        cases=_state_cases(
            _bottleneck,
            [
                ((256, 64, 2), (2, 256, 5, 8)),
                ((32, 8, 1), (3, 32, 6, 5)),
                ((16, 16, 1), (2, 16, 4, 4)),
                ((64, 32, 2), (1, 64, 9, 9)),
                ((512, 256, 2), (1, 512, 4, 4)),
            ],
            seed=9200,
        ),
        driver="state",
        judge=_judge_state(_bottleneck, "Bottleneck"),
        forbid=OWN_BLOCKS,
        timeout=30,
    ),
    Exercise(
        test="test_bottleneck_params",
        solutions=["bottleneck_params"],
        name="bottleneck_params",
        cases=[(256, 64, 2), (1024, 256), (512, 256, 2), (3, 5), (100, 25), (100, 25, 2), (64, 16, 4), (2048, 512, 1)],
        reference=_bottleneck_count,
        returns=int,
        forbid=BY_FORMULA,
        timeout=10,
    ),
    Exercise(
        test="test_squeeze_excitation",
        solutions=["squeeze_excitation"],
        name="SqueezeExcitation",
        cases=_state_cases(
            _se,
            [((32, 8), (2, 32, 3, 5)), ((12, 3), (3, 12, 7, 2)), ((5, 2), (1, 5, 1, 1)), ((144, 36), (2, 144, 4, 4))],
            seed=9300,
        ),
        driver="state",
        judge=_judge_state(_se, "SqueezeExcitation"),
        forbid=OWN_BLOCKS,
        timeout=20,
    ),
    Exercise(
        test="test_mbconv",
        solutions=["squeeze_excitation", "mbconv"],
        name="MBConv",
        cases=_state_cases(
            _mbconv,
            [
                ((24, 24, 6, 3, 1), (2, 24, 6, 7)),
                ((32, 32, 6, 5, 2), (1, 32, 9, 9)),
                ((8, 16, 1, 3, 1), (3, 8, 5, 5)),
                ((16, 16, 1, 5, 1), (2, 16, 4, 6)),
                ((40, 80, 6, 3, 2), (1, 40, 7, 8)),
                ((24, 40, 2, 7, 2), (2, 24, 10, 10)),
            ],
            seed=9400,
        ),
        driver="state",
        judge=_judge_state(_mbconv, "MBConv"),
        forbid=OWN_BLOCKS,
        timeout=30,
    ),
    Exercise(
        test="test_compound_scaling",
        solutions=["compound_scaling"],
        name="compound_scaling",
        cases=[
            (2,),
            (5,),
            (0.25,),
            (3.5,),
            (6, 1.25, 1.05, 1.1),
            ((1.5,), {"gamma": 1.3}),
            ((4,), {"alpha": 1.1, "beta": 1.3}),
        ],
        reference=_scaled,
        returns=tuple,
        timeout=10,
    ),
]
