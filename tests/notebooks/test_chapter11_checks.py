"""Chapter 11 (transfer learning): the autograder cells pass the solution, reject these wrong answers.

The tests are nbtools.ChapterChecks'; VISIBLE and HIDDEN_ONLY answers replace a solution block.
Every check calls the learner's function through the notebook's ``check-wrappers`` cell (the
verifier runs it too, as the spec's SETUP_CELLS), so the namespace these tests build runs it as
well. Beyond the shared tests: verification scores the solutions full marks and every wrong answer
and forbidden route 0; the check cells use the spec's rules and the wrapper cell's networks are the
spec's; the concept cells' helpers do what the prose says.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nbtools  # noqa: E402
from nbtools import (  # noqa: E402
    ChapterChecks,
    autograder_source,
    exec_source,
    solution_cells,
    spec_module,
    verified_variant_scores,
    with_answer,
)

ROOT = Path(__file__).resolve().parents[2]
CHAPTER = "11_transfer_learning"
WRAPPERS = "check-wrappers"  # the cell id the spec names in SETUP_CELLS
FORBIDDEN = "which this exercise forbids"

# ---------------------------------------------------------------- wrong answers (solution blocks)
COUNT_ALL = "return sum(p.numel() for p in model.parameters())"
COUNT_TENSORS = "return sum(1 for p in model.parameters() if p.requires_grad)"
COUNT_TENSOR = "return torch.stack([torch.tensor(p.numel()) for p in model.parameters() if p.requires_grad]).sum()"
COUNT_HELPER = """
from course_utils.checks import count_parameters
return count_parameters(model, trainable_only=True)
"""
COUNT_PER_MODULE = """
return sum(p.numel() for m in model.modules() for p in m.parameters(recurse=False) if p.requires_grad)
"""

HEAD_SETATTR_PATH = """
old = model.get_submodule(head_name)
setattr(model, head_name, nn.Linear(old.in_features, num_classes, dtype=old.weight.dtype))
return model
"""
HEAD_NO_DTYPE = """
parent_name, _, attribute = head_name.rpartition(".")
parent = model.get_submodule(parent_name)
setattr(parent, attribute, nn.Linear(getattr(parent, attribute).in_features, num_classes))
return model
"""
HEAD_512 = """
parent_name, _, attribute = head_name.rpartition(".")
parent = model.get_submodule(parent_name)
setattr(parent, attribute, nn.Linear(512, num_classes, dtype=getattr(parent, attribute).weight.dtype))
return model
"""
HEAD_RETURNS_HEAD = """
parent_name, _, attribute = head_name.rpartition(".")
parent = model.get_submodule(parent_name)
old = getattr(parent, attribute)
new = nn.Linear(old.in_features, num_classes, dtype=old.weight.dtype)
setattr(parent, attribute, new)
return new
"""
HEAD_FROM_LAST_PARAMETER = """
parent_name, _, attribute = head_name.rpartition(".")
weight = list(model.parameters())[-2]            # the head's weight, when the head comes last
setattr(model.get_submodule(parent_name), attribute, nn.Linear(weight.shape[1], num_classes, dtype=weight.dtype))
return model
"""

FREEZE_GRADIENTS_ONLY = """
for name, p in model.named_parameters():
    p.requires_grad_(name.startswith(head_name + "."))
return model
"""
FREEZE_EVAL_ONCE = """
for name, p in model.named_parameters():
    p.requires_grad_(name.startswith(head_name + "."))
for name, module in model.named_modules():
    if name and not name.startswith(head_name) and not head_name.startswith(name + "."):
        module.eval()                              # undone by the next model.train()
return model
"""
FREEZE_HEAD_TOO = """
for p in model.parameters():
    p.requires_grad_(False)
for name, module in model.named_modules():
    if name and not name.startswith(head_name) and not head_name.startswith(name + "."):
        module.register_forward_pre_hook(lambda m, args: setattr(m, "training", False))
return model
"""
FREEZE_WHOLE_MODEL_EVAL = """
for name, p in model.named_parameters():
    p.requires_grad_(name.startswith(head_name + "."))
def everything_in_eval(module, args):
    module.eval()                                  # the head too
model.register_forward_pre_hook(everything_in_eval)
return model
"""
FREEZE_BATCH_NORM_ONLY = """
for name, p in model.named_parameters():
    p.requires_grad_(name.startswith(head_name + "."))
for name, module in model.named_modules():
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not name.startswith(head_name):
        module.register_forward_pre_hook(lambda m, args: setattr(m, "training", False))
return model
"""
FREEZE_SUBSTRING = """
for name, p in model.named_parameters():
    p.requires_grad_(head_name in name)            # 'fc' is also in 'se.fc1.weight'
for name, module in model.named_modules():
    if name and head_name not in name and not head_name.startswith(name + "."):
        module.register_forward_pre_hook(lambda m, args: setattr(m, "training", False))
return model
"""
FREEZE_2D_AND_DROPOUT = """
for name, p in model.named_parameters():
    p.requires_grad_(name.startswith(head_name + "."))
for name, module in model.named_modules():
    if isinstance(module, (nn.BatchNorm2d, nn.Dropout)) and not name.startswith(head_name):
        module.register_forward_pre_hook(lambda m, args: setattr(m, "training", False))
return model
"""

GROUPS_BODY = """
groups = [{{"params": [], "lr": {rate}}} for i in range(len(stages))]
for name, p in model.named_parameters():
    if {keep}:
        inside = [i for i, stage in enumerate(stages) if name.startswith(stage + ".")]
        {place}
return {result}
"""
RIGHT_RATE = "lr * factor ** (len(stages) - 1 - i)"
RIGHT_PLACE = 'groups[inside[0] if inside else 0]["params"].append(p)'


def groups_answer(rate=RIGHT_RATE, keep="p.requires_grad", place=RIGHT_PLACE, result="groups"):
    return GROUPS_BODY.format(rate=rate, keep=keep, place=place, result=result)


GROUPS_NO_LR = """
groups = [{"params": []} for _ in stages]
for name, p in model.named_parameters():
    if p.requires_grad:
        inside = [i for i, stage in enumerate(stages) if name.startswith(stage + ".")]
        groups[inside[0] if inside else 0]["params"].append(p)
return groups
"""
GROUPS_GETATTR = """
groups, taken = [], set()
for i, stage in enumerate(stages):
    params = [p for p in getattr(model, stage).parameters() if p.requires_grad]
    taken |= {id(p) for p in params}
    groups.append({"params": params, "lr": lr * factor ** (len(stages) - 1 - i)})
groups[0]["params"] += [p for p in model.parameters() if p.requires_grad and id(p) not in taken]
return groups
"""

PROBE_START = """
n, d = features.shape
weight = torch.zeros(num_classes, d, dtype=features.dtype)
bias = torch.zeros(num_classes, dtype=features.dtype)
"""
PROBE_LOOP = """
for _ in range(steps):
    probs = torch.softmax(features @ weight.T + bias, dim=1)
    error = (probs - targets) / n
    weight = weight - lr * error.T @ features
    bias = bias - lr * error.sum(dim=0)
"""
PROBE_END = """
probe = nn.Linear(d, num_classes, dtype=features.dtype)
with torch.no_grad():
    probe.weight.copy_(weight)
    probe.bias.copy_(bias)
return probe
"""
TARGETS = "targets = F.one_hot(labels, num_classes).to(features.dtype)\n"
PROBE_AUTOGRAD = """
probe = nn.Linear(features.shape[1], num_classes, dtype=features.dtype)
nn.init.zeros_(probe.weight)
nn.init.zeros_(probe.bias)
optimizer = torch.optim.SGD(probe.parameters(), lr=lr)
for _ in range(steps):
    optimizer.zero_grad()
    F.cross_entropy(probe(features), labels).backward()
    optimizer.step()
return probe
"""
PROBE_SUM = PROBE_START + TARGETS + PROBE_LOOP.replace("/ n", "") + PROBE_END
PROBE_FLOAT32 = PROBE_START + TARGETS + PROBE_LOOP + PROBE_END.replace(", dtype=features.dtype)", ")")
PROBE_NO_BIAS = (
    PROBE_START
    + TARGETS
    + PROBE_LOOP
    + """
probe = nn.Linear(d, num_classes, bias=False, dtype=features.dtype)
with torch.no_grad():
    probe.weight.copy_(weight)
return probe
"""
)
PROBE_RANDOM_START = (
    PROBE_START
    + """probe = nn.Linear(d, num_classes, dtype=features.dtype)
weight, bias = probe.weight.detach().clone(), probe.bias.detach().clone()   # PyTorch's random start
"""
    + TARGETS
    + PROBE_LOOP
    + PROBE_END
)
PROBE_ONE_HOT_FROM_LABELS = PROBE_START + "targets = F.one_hot(labels).to(features.dtype)\n" + PROBE_LOOP + PROBE_END

VISIBLE = [
    ("count_trainable", "counts frozen parameters too", COUNT_ALL, ["count_trainable on a resnet18", "frozen"]),
    ("count_trainable", "counts parameter tensors, not their elements", COUNT_TENSORS, "p.numel()"),
    ("count_trainable", "returns a tensor", COUNT_TENSOR, ["count_trainable", "tensor"]),
    ("count_trainable", "calls the course's count_parameters", COUNT_HELPER, FORBIDDEN),
    ("replace_head", "sets an attribute named 'classifier.3'", HEAD_SETATTR_PATH, "still the old head"),
    ("replace_head", "forgets the model's dtype", HEAD_NO_DTYPE, ["float32", "float64", "dtype"]),
    ("replace_head", "hard-codes 512 input features", HEAD_512, ["in_features=512", "1024 features"]),
    ("replace_head", "returns the new head", HEAD_RETURNS_HEAD, "return the model"),
    (
        "freeze_backbone",
        "only turns off gradients",
        FREEZE_GRADIENTS_ONLY,
        ["backbone's buffer", "after model.train()"],
    ),
    ("freeze_backbone", "puts the backbone in eval mode once", FREEZE_EVAL_ONCE, "must stay in eval mode"),
    ("freeze_backbone", "freezes the head too", FREEZE_HEAD_TOO, "no longer requires gradients"),
    ("freeze_backbone", "keeps the whole model in eval mode", FREEZE_WHOLE_MODEL_EVAL, "head's batch norm"),
    ("freeze_backbone", "leaves dropout in training mode", FREEZE_BATCH_NORM_ONLY, ["mobilenet", "dropout"]),
    ("param_groups", "reverses the rates", groups_answer(rate="lr * factor ** i"), "gets learning rate"),
    (
        "param_groups",
        "leaves the stem out",
        groups_answer(place='if inside:\n            groups[inside[0]]["params"].append(p)'),
        ["`conv1.weight` is in no group", "first stage"],
    ),
    ("param_groups", "keeps frozen parameters", groups_answer(keep="True"), "leave frozen parameters out"),
    ("param_groups", "returns a generator", groups_answer(result="(g for g in groups)"), "return a list"),
    ("param_groups", "gives the groups no rate", GROUPS_NO_LR, "its own 'lr'"),
    ("fit_linear_probe", "uses autograd and SGD", PROBE_AUTOGRAD, FORBIDDEN),
    ("fit_linear_probe", "sums the gradient instead of averaging", PROBE_SUM, ["the weight after", "Hint"]),
    ("fit_linear_probe", "returns float32 for float64 features", PROBE_FLOAT32, ["float64", "the weight after"]),
    ("fit_linear_probe", "trains no bias", PROBE_NO_BIAS, "has no bias"),
    ("fit_linear_probe", "starts from PyTorch's random weights", PROBE_RANDOM_START, "the weight after"),
]

HIDDEN_ONLY = [
    ("count_trainable", "counts a shared (tied) parameter twice", COUNT_PER_MODULE, "hidden network"),
    ("replace_head", "reads in_features off the model's last parameter", HEAD_FROM_LAST_PARAMETER, "in_features"),
    ("freeze_backbone", "finds the head by substring ('fc' in 'se.fc1')", FREEZE_SUBSTRING, "still require gradients"),
    ("freeze_backbone", "keeps only BatchNorm2d and Dropout in eval mode", FREEZE_2D_AND_DROPOUT, "buffer"),
    ("param_groups", "looks stages up with getattr (no dotted paths)", GROUPS_GETATTR, "AttributeError"),
    ("fit_linear_probe", "sizes the one-hot by the labels present", PROBE_ONE_HOT_FROM_LABELS, "hidden"),
]

# Routes the statements forbid: refused by the notebook's checks (VISIBLE above) and by verification.
RULE_BREAKERS = {
    "count helper": ("count_trainable", COUNT_HELPER),
    "autograd": ("fit_linear_probe", PROBE_AUTOGRAD),
    "torch.func": (
        "fit_linear_probe",
        PROBE_START
        + TARGETS
        + """
loss = lambda w, b: -(torch.log_softmax(features @ w.T + b, dim=1) * targets).sum(dim=1).mean()
for _ in range(steps):
    gw, gb = torch.func.grad(loss, argnums=(0, 1))(weight, bias)
    weight, bias = weight - lr * gw, bias - lr * gb
"""
        + PROBE_END,
    ),
}


@pytest.fixture(autouse=True)
def _with_check_wrappers(monkeypatch):
    """The namespace of a graded notebook also holds the wrapper cell every check calls."""
    nbtools.run_setup_cells_too(monkeypatch, WRAPPERS)


def _spec():
    return spec_module(CHAPTER)


class TestChapter11(ChapterChecks):
    CHAPTER = CHAPTER
    EXERCISES = ["count_trainable", "replace_head", "freeze_backbone", "param_groups", "fit_linear_probe"]
    VISIBLE = VISIBLE
    HIDDEN_ONLY = HIDDEN_ONLY

    def test_verification_gives_the_solutions_full_marks_and_every_wrong_answer_zero(self, notebook) -> None:
        cells = solution_cells(notebook)
        variants = {f"right {gid}": (gid, cell.source) for gid, cell in cells.items()}
        for number, (exercise, label, answer, _) in enumerate([*VISIBLE, *HIDDEN_ONLY]):
            variants[f"{number} {exercise}: {label}"] = (exercise, with_answer(cells[exercise].source, answer))
        for label, (exercise, answer) in RULE_BREAKERS.items():
            variants[f"rule {label}"] = (exercise, with_answer(cells[exercise].source, answer))
        scores = verified_variant_scores(CHAPTER, variants)
        for key, (points, reason) in scores.items():
            if key.startswith("right "):
                assert points > 0, f"verification refuses the solution of {key}: {reason}"
            else:
                assert points == 0, f"verification accepts the wrong answer {key}"
                if key.startswith("rule "):
                    exercise = RULE_BREAKERS[key.removeprefix("rule ")][0]
                    assert FORBIDDEN in reason and reason.startswith(f"`{exercise}` "), reason  # not the wrapper

    def test_the_check_cells_use_the_spec_rules_and_the_wrapper_cells_networks(self, notebook) -> None:
        spec = _spec()
        assert spec.SETUP_CELLS == [WRAPPERS]
        ns: dict = {}
        exec_source(autograder_source(notebook, "count_trainable").split("HINT =")[0].split('"""', 2)[2], ns)
        assert ns["NO_COUNTING_HELPER"] == spec.NO_COUNTING_HELPER
        source = autograder_source(notebook, "fit_linear_probe")
        rule = source[source.index("NO_AUTOGRAD = ") : source.index("\n\n\ndef probe_by_autograd")]
        exec_source("from course_utils.checks import Forbid\n" + rule, ns)
        assert ns["NO_AUTOGRAD"] == spec.NO_AUTOGRAD
        names = {e.name for e in spec.EXERCISES}
        assert names == {"trainable_count", "new_head_report", "freeze_report", "group_rates", "probe_weights"}
        wrappers = next(c.source for c in notebook.cells if c.get("id") == WRAPPERS)
        cell_ns = nbtools.namespace(notebook)
        for name in names:
            assert f"def {name}(" in wrappers
        for kind in ("course", "course_bn_head", "resnet18", "mobilenet", "small", "small_bn_head", "tied"):
            mine, theirs = cell_ns["test_network"](kind), spec.network(kind)
            a, b = mine.state_dict(), theirs.state_dict()
            assert list(a) == list(b), kind
            assert all(torch.equal(a[k], b[k]) for k in a), f"the spec's {kind} network has other weights"
        frozen = cell_ns["frozen_network"]("resnet18", ("layer1.",))
        assert [p.requires_grad for p in frozen.parameters()] == [
            p.requires_grad for p in spec.network("resnet18", frozen=("layer1.",)).parameters()
        ]

    def test_the_wrappers_leave_the_learners_random_state_alone(self, notebook) -> None:
        ns = nbtools.namespace(notebook)
        torch.manual_seed(5)
        expected = torch.rand(3)
        torch.manual_seed(5)
        ns["test_network"]("resnet18")
        assert torch.equal(torch.rand(3), expected)

    def test_a_frozen_backbone_stays_frozen_through_training_and_deepcopy(self, notebook) -> None:
        """The solution's hooks survive copy.deepcopy and several train()/eval() switches (what a learner does)."""
        import copy

        ns = nbtools.namespace(notebook)
        net = ns["freeze_backbone"](ns["test_network"]("course"), "fc")
        net = copy.deepcopy(net)
        before = net.bn1.running_mean.clone()
        for _ in range(3):
            net.train()
            net(torch.randn(4, 3, 32, 32)).sum().backward()
            net.eval()
        assert torch.equal(net.bn1.running_mean, before)
        assert all(p.grad is None for n, p in net.named_parameters() if not n.startswith("fc."))
        assert net.fc.weight.grad is not None

    def test_chapter_content_is_present(self, notebook) -> None:
        text = "\n".join(c.source for c in notebook.cells)
        for needle in (
            "ResNet18_Weights.IMAGENET1K_V1",
            "weights.transforms()",
            "load_backbone(prefer=PREFER)",
            "extract_features(",
            "requires_grad_(False)",
            "param_groups",
            "Yosinski",
            "Howard & Ruder",
            "Kornblith",
            "## 7. Common mistakes",
        ):
            assert needle in text, f"chapter 11 no longer mentions {needle}"
        assert "pretrained=True" not in text.replace("`pretrained=True`", ""), "use the weights enums"
