"""Verification spec of chapter 11 (read by `python -m course_utils.grading verify`, never released).

Every exercise takes or changes a network, so the child calls it through the notebook's
``check-wrappers`` cell (SETUP_CELLS: the instructor's copy, never the learner's), which
builds the test networks itself (torchvision's resnet18 and mobilenet_v3_small with
``weights=None``, the course's ResNet-18 at width 4, two tiny networks of the cell's own)
and reports what the learner's function did as plain data: the trainable count, the new
head's type, sizes, dtype and the model's output shape, which parameters require and get
gradients and which buffers a training step changed after ``model.train()``, the learning
rate ``torch.optim.SGD`` gives each parameter, the probe's weight and bias. The grader
judges each report against PyTorch in its own process: ``sum(p.numel() ...)`` over the
same network rebuilt here, the old head's ``in_features``, the head's own parameters and
buffers, the statement's rates, and the probe trained by autograd with ``torch.optim.SGD``.
The test inputs differ from the notebook's (other networks, head names, sizes, seeds).
Forbidden routes, with the notebook's sentences: the course's counting helpers in
Exercise 1, autograd and torch.optim in Exercise 5.
"""

import math

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from course_utils import course_resnet18
from course_utils.checks import Forbid
from course_utils.grading.spec import Exercise, compare

SETUP_CELLS = ["check-wrappers"]

# The same rules as the notebook's check cells (tests/notebooks/test_chapter11_checks.py compares them).
NO_COUNTING_HELPER = Forbid(
    calls=("count_parameters", "check_param_count"), reason="the point of this exercise is to count them yourself"
)
NO_AUTOGRAD = Forbid(
    calls=("backward", "autograd", "func", "optim", "vjp", "jacrev", "jacfwd"),
    reason="the point of this exercise is to write the gradient of the cross-entropy yourself",
)


# ---------------------------------------------------------------- the test networks, as the wrapper cell builds them
class _SmallNet(nn.Module):
    def __init__(self, num_classes=3, head_bn=False):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.se = torchvision.ops.SqueezeExcitation(8, 4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.neck = nn.Sequential(nn.Flatten(), nn.Linear(8, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.3))
        self.fc = nn.Sequential(nn.BatchNorm1d(6), nn.Linear(6, num_classes)) if head_bn else nn.Linear(6, num_classes)
        self.aux = nn.Linear(8, num_classes)


class _TiedNet(nn.Module):
    def __init__(self, vocabulary=20, dim=6):
        super().__init__()
        self.embed = nn.Embedding(vocabulary, dim)
        self.mix = nn.Linear(dim, dim)
        self.fc = nn.Linear(dim, vocabulary)
        self.fc.weight = self.embed.weight


def network(kind, num_classes=3, frozen=()):
    """The wrapper cell's ``frozen_network(kind, frozen)`` (same seed, same weights), built in the grader."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        if kind == "course":
            net = course_resnet18(num_classes, width=4)
        elif kind == "course_bn_head":
            net = course_resnet18(num_classes, width=4)
            net.fc = nn.Sequential(nn.BatchNorm1d(32), nn.Linear(32, num_classes))
        elif kind == "resnet18":
            net = torchvision.models.resnet18(weights=None, num_classes=num_classes)
        elif kind == "mobilenet":
            net = torchvision.models.mobilenet_v3_small(weights=None, num_classes=num_classes)
        elif kind in ("small", "small_bn_head"):
            net = _SmallNet(num_classes, head_bn=kind == "small_bn_head")
        elif kind == "tied":
            net = _TiedNet()
        else:
            raise ValueError(f"unknown test network {kind!r}")
    for name, p in net.named_parameters():
        if name.startswith(tuple(frozen)):
            p.requires_grad_(False)
    return net


def _dtype_name(dtype):
    return str(dtype).removeprefix("torch.")


_g = torch.Generator().manual_seed(1111)


def _rand(*shape, dtype=torch.float32):
    return torch.rand(*shape, generator=_g, dtype=dtype)


# ---------------------------------------------------------------- Exercise 1: count_trainable
_COUNT_CASES = [
    (("course", ["layer1.", "layer2."]), {}),
    (("mobilenet", ["features.0.", "features.1.", "classifier.0."]), {}),
    (("tied", ["embed."]), {}),
    (("tied", []), {}),
    (("small_bn_head", ["se.", "neck."]), {}),
]


def _count(kind, frozen):
    return sum(p.numel() for p in network(kind, frozen=frozen).parameters() if p.requires_grad)


# ---------------------------------------------------------------- Exercise 2: replace_head
_HEAD_CASES = [
    (("resnet18", 6, "fc", _rand(2, 3, 40, 40)), {"frozen": ["conv1.", "bn1.", "layer1."]}),
    (("mobilenet", 3, "classifier.3", _rand(2, 3, 48, 32, dtype=torch.float64)), {"frozen": []}),
    (("course", 9, "fc", _rand(3, 3, 32, 32, dtype=torch.float64)), {"frozen": ["layer"]}),
    (("small", 4, "fc", _rand(4, 3, 12, 7)), {"frozen": []}),
    (("small_bn_head", 2, "fc.1", _rand(3, 3, 6, 6)), {"frozen": ["fc.0."]}),
]


def _judge_head(got, case):
    kind, num_classes, head_name, x = case["args"]
    old = network(kind).get_submodule(head_name)
    if type(got) is not dict:
        return "no report"
    if got.get("returned_model") is not True:
        return "replace_head does not return the model it was given"
    if got.get("new_object") is not True:
        return f"model.{head_name} is still the old head"
    if got.get("head") != "Linear":
        return f"the new head is a {got.get('head')}, not an nn.Linear"
    if got.get("in_features") != old.in_features:
        return f"the new head has in_features={got.get('in_features')}, expected {old.in_features}"
    if got.get("out_features") != num_classes:
        return f"the new head has {got.get('out_features')} outputs, expected {num_classes}"
    if got.get("bias") is not True:
        return "the new head has no bias"
    if got.get("dtype") != _dtype_name(x.dtype):
        return f"the new head is {got.get('dtype')}, the model {_dtype_name(x.dtype)}"
    if got.get("trainable") is not True:
        return "the new head's parameters do not require gradients"
    if got.get("rest_unchanged") is not True:
        return "parameters or buffers outside the head changed"
    if got.get("output") != [len(x), num_classes]:
        return f"model(x) gives {got.get('output')}, expected shape {(len(x), num_classes)}"
    return None


# ---------------------------------------------------------------- Exercise 3: freeze_backbone
_FREEZE_CASES = [
    ("small", "fc", torch.randn(5, 3, 9, 9, generator=_g)),
    ("small_bn_head", "fc", torch.randn(4, 3, 8, 10, generator=_g)),
    ("mobilenet", "classifier.3", torch.randn(3, 3, 40, 40, generator=_g)),
    ("course_bn_head", "fc", torch.randn(3, 3, 32, 32, generator=_g)),
    ("resnet18", "fc", torch.randn(2, 3, 48, 48, generator=_g)),
]


def _judge_freeze(got, case):
    kind, head_name, _ = case["args"]
    head = network(kind).get_submodule(head_name)
    head_params = sorted(f"{head_name}.{n}" for n, _ in head.named_parameters())
    head_buffers = sorted(f"{head_name}.{n}" for n, _ in head.named_buffers())
    if type(got) is not dict:
        return "no report"
    if got.get("returned_model") is not True:
        return "freeze_backbone does not return the model it was given"
    if got.get("requires_grad") != head_params:
        still = [n for n in got.get("requires_grad") or [] if n not in head_params]
        return (
            f"`{still[0]}` outside the head still requires gradients"
            if still
            else "a parameter of the head no longer requires gradients"
        )
    if got.get("gradients") != head_params:
        return "after a backward pass other parameters than the head's have gradients"
    moved = [n for n in got.get("buffers_changed") or [] if n not in head_buffers]
    if moved:
        return f"a training step after model.train() changed the backbone's buffer `{moved[0]}`"
    gap = got.get("feature_gap")
    if not isinstance(gap, float) or not math.isfinite(gap) or gap > 1e-5:
        return f"after model.train() the features reaching the head differ from eval mode by {gap} of their size"
    if got.get("head_training") is not True:
        return "after model.train() the head is in eval mode"
    if got.get("buffers_changed") != head_buffers:
        return "the head's batch norm did not update its running statistics in training mode"
    return None


# ---------------------------------------------------------------- Exercise 4: param_groups
_GROUP_CASES = [
    (("mobilenet", ["features.2", "features.6", "features.11", "classifier"], 0.08, 0.5), {"frozen": ["features.0."]}),
    (("resnet18", ["layer2", "layer3", "layer4", "fc"], 0.01, 0.25), {"frozen": []}),
    (("course", ["layer1", "layer2", "layer3", "layer4", "fc"], 0.4, 0.6), {"frozen": ["layer1."]}),
    (("small", ["neck", "fc"], 0.02, 0.1), {"frozen": ["aux."]}),
]


def _judge_groups(got, case):
    kind, stages, lr, factor = case["args"]
    net = network(kind, frozen=case["kwargs"].get("frozen", ()))
    expected = {}
    for name, p in net.named_parameters():
        if p.requires_grad:
            inside = [i for i, stage in enumerate(stages) if name.startswith(stage + ".")]
            expected[name] = lr * factor ** (len(stages) - 1 - (inside[0] if inside else 0))
    if type(got) is not dict or got.get("groups") != "list":
        return "param_groups does not return a list of dicts"
    rates = got.get("rates")
    if type(rates) is not dict:
        return "no learning rates"
    extra = [n for n in rates if n not in expected]
    if extra:
        return f"`{extra[0]}` is in a group but is frozen or not a parameter of the model"
    missing = [n for n in expected if n not in rates]
    if missing:
        return f"the trainable parameter `{missing[0]}` is in no group"
    for name, rate in expected.items():
        if not isinstance(rates[name], (int, float)) or not math.isclose(rates[name], rate, rel_tol=1e-9):
            return f"`{name}` gets learning rate {rates[name]}, expected {rate:.6g}"
    return None


# ---------------------------------------------------------------- Exercise 5: fit_linear_probe
def _blobs(n, d, k, dtype=torch.float32, present=None):
    present = torch.arange(k) if present is None else torch.tensor(present)
    labels = present[torch.randint(0, len(present), (n,), generator=_g)]
    centres = torch.randn(k, d, generator=_g, dtype=dtype) * 2
    return centres[labels] + torch.randn(n, d, generator=_g, dtype=dtype), labels


_PROBE_CASES = [
    (*_blobs(36, 6, 3), 3, 18, 0.4),
    (*_blobs(45, 5, 5, present=[0, 2, 3]), 5, 30, 0.6),
    (*_blobs(28, 9, 2, dtype=torch.float64), 2, 12, 1.5),
    (*_blobs(20, 4, 3, dtype=torch.float64, present=[1, 2]), 3, 7, 0.2),
]


def _probe_reference(features, labels, num_classes, steps, lr):
    probe = nn.Linear(features.shape[1], num_classes, dtype=features.dtype)
    nn.init.zeros_(probe.weight)
    nn.init.zeros_(probe.bias)
    optimizer = torch.optim.SGD(probe.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(probe(features), labels).backward()
        optimizer.step()
    return probe.weight.detach(), probe.bias.detach()


def _judge_probe(got, case):
    if type(got) is not dict or got.get("linear") is not True:
        return "fit_linear_probe does not return an nn.Linear"
    if got.get("bias") is None:
        return "the returned nn.Linear has no bias"
    weight, bias = _probe_reference(*case["args"])
    why = compare(got.get("weight"), weight, atol=1e-5, rtol=1e-4)
    if why:
        return f"the weight differs from autograd + SGD's: {why}"
    why = compare(got.get("bias"), bias, atol=1e-5, rtol=1e-4)
    return f"the bias differs from autograd + SGD's: {why}" if why else None


EXERCISES = [
    Exercise(
        test="test_count_trainable",
        solutions=["count_trainable"],
        name="trainable_count",
        label="count_trainable",
        cases=_COUNT_CASES,
        reference=_count,
        forbid=NO_COUNTING_HELPER,
        returns=int,
        timeout=30,
    ),
    Exercise(
        test="test_replace_head",
        solutions=["replace_head"],
        name="new_head_report",
        label="replace_head",
        cases=_HEAD_CASES,
        judge=_judge_head,
        timeout=30,
    ),
    Exercise(
        test="test_freeze_backbone",
        solutions=["freeze_backbone"],
        name="freeze_report",
        label="freeze_backbone",
        cases=_FREEZE_CASES,
        judge=_judge_freeze,
        timeout=30,
    ),
    Exercise(
        test="test_param_groups",
        solutions=["param_groups"],
        name="group_rates",
        label="param_groups",
        cases=_GROUP_CASES,
        judge=_judge_groups,
        timeout=30,
    ),
    Exercise(
        test="test_fit_linear_probe",
        solutions=["fit_linear_probe"],
        name="probe_weights",
        label="fit_linear_probe",
        cases=_PROBE_CASES,
        judge=_judge_probe,
        forbid=NO_AUTOGRAD,
        timeout=20,
    ),
]
