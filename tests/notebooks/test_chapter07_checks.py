"""Chapter 07 (initialisation and regularisation): the autograder cells pass the solution, reject these wrong answers.

The tests are nbtools.ChapterChecks'; VISIBLE and HIDDEN_ONLY answers replace a solution block.
Three exercises are random (kaiming_normal_, dropout, drop_path): their checks fix the seeds and
judge statistics, so the wrong answers below are caught every time and the right one always passes.
Besides wrong values, the checks refuse PyTorch's initialisers, dropout and stochastic depth,
course_utils' own hooks, answers that change their input, hooks left on a model and a changed
model mode. The chapter's own tests check that verification judges the same answers the same way,
that the prose's conclusions follow from the figures the notebook computes, and that the quiz is
encoded and reached by Run All.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools import (  # noqa: E402
    ChapterChecks,
    Ran,
    answer_with_keys,
    exec_source,
    grade,
    load_solution,
    namespace,
    run_cell,
    solution_cells,
    verified_scores,
    verified_variant_scores,
    with_answer,
)

FORBIDDEN = "which this exercise forbids"
CHAPTER = "07_initialisation_and_regularisation"

_KAIMING = """
if tensor.dim() < 2:
    raise ValueError("kaiming_normal_ needs a tensor with at least 2 dimensions")
receptive = RECEPTIVE
fan = (tensor.shape[1] if mode == "fan_in" else tensor.shape[0]) * receptive
std = GAIN / math.sqrt(fan)
with torch.no_grad():
    tensor.normal_(0.0, std)
return tensor
"""


def _kaiming(receptive: str = "math.prod(tensor.shape[2:])", gain: str = "nn.init.calculate_gain(nonlinearity)") -> str:
    return _KAIMING.replace("RECEPTIVE", receptive).replace("GAIN", gain)


_DROPOUT = """
if not training or p == 0:
    return x
if p == 1:
    return torch.zeros_like(x)
keep = KEEP
return x * keep.to(x.dtype) / (1 - p)
"""
_DROP_PATH = """
if not training or p == 0:
    return x
keep = torch.empty(SHAPE, dtype=x.dtype, device=x.device).bernoulli_(1 - p)
if p < 1:
    keep = keep / (1 - p)
return x * keep
"""
_DROP_PATH_SHAPE = "(x.shape[0],) + (1,) * (x.dim() - 1)"
_L2 = """
total = None
for module in model.modules():
    if isinstance(module, NORM_LAYERS):
        continue
    for name, weight in module.named_parameters(recurse=False):
        if name != "bias":
            square = (weight ** 2).sum()
            total = square if total is None else total + square
return total
"""
_STATS = """
rows = []

def hook_for(name):
    def hook(module, inputs, output):
        rows.append((name, output.mean().item(), output.std().item()))
    return hook

handles = [module.register_forward_hook(hook_for(name)) for name, module in MODULES
           if isinstance(module, TYPES)]
try:
    with torch.no_grad():
        model(x)
finally:
    for handle in handles:
        handle.remove()
return rows
"""


def _stats(modules: str = "model.named_modules()", types: str = "(nn.Conv2d, nn.Linear)") -> str:
    return _STATS.replace("MODULES", modules).replace("TYPES", types)


class TestChapter07(ChapterChecks):
    CHAPTER = CHAPTER
    EXERCISES = ["kaiming_normal", "dropout", "drop_path", "l2_penalty", "layer_stats"]

    VISIBLE = [
        # ---- Exercise 1
        (
            "kaiming_normal",
            "always uses fan_out",
            _kaiming().replace('tensor.shape[1] if mode == "fan_in" else ', ""),
            ["mode='fan_in'", "gain / sqrt(fan)"],
        ),
        ("kaiming_normal", "forgets the gain", _kaiming(gain="1.0"), ["std", "calculate_gain"]),
        (
            "kaiming_normal",
            "draws from a uniform distribution",
            _kaiming().replace("tensor.normal_(0.0, std)", "tensor.uniform_(-std * math.sqrt(3), std * math.sqrt(3))"),
            "normal distribution",
        ),
        (
            "kaiming_normal",
            "fills without torch.no_grad",
            _kaiming().replace("with torch.no_grad():\n    tensor.normal_(0.0, std)", "tensor.normal_(0.0, std)"),
            "torch.no_grad()",
        ),
        (
            "kaiming_normal",
            "returns a new tensor",
            _kaiming().replace(
                "with torch.no_grad():\n    tensor.normal_(0.0, std)\nreturn tensor",
                "return torch.randn(tensor.shape, dtype=tensor.dtype) * std",
            ),
            ["returned a new tensor", "in place"],
        ),
        (
            "kaiming_normal",
            "accepts a 1-D tensor",
            _kaiming().replace(
                'if tensor.dim() < 2:\n    raise ValueError("kaiming_normal_ needs a tensor with at least 2 dimensions")\n',
                "",
            ),
            "ValueError",
        ),
        (
            "kaiming_normal",
            "calls nn.init.kaiming_normal_",
            "return nn.init.kaiming_normal_(tensor, mode=mode, nonlinearity=nonlinearity)",
            ["`nn.init.kaiming_normal_`", FORBIDDEN],
        ),
        # ---- Exercise 2
        (
            "dropout",
            "does not rescale",
            _DROPOUT.replace("keep = KEEP", "keep = torch.rand(x.shape) >= p").replace(" / (1 - p)", ""),
            ["not x / (1 - p)", "divide the kept"],
        ),
        (
            "dropout",
            "drops with the keep probability",
            _DROPOUT.replace("KEEP", "torch.rand(x.shape) >= 1 - p"),
            ["expected p = 0.3", "probability of dropping"],
        ),
        (
            "dropout",
            "rescales in eval mode",
            _DROPOUT.replace(
                "if not training or p == 0:\n    return x",
                ("if not training:\n    return x * (1 - p)\nif p == 0:\n    return x"),
            ).replace("KEEP", "torch.rand(x.shape) >= p"),
            ["training=False", "unchanged"],
        ),
        (
            "dropout",
            "gives NaN for p = 1",
            _DROPOUT.replace("if p == 1:\n    return torch.zeros_like(x)\n", "").replace(
                "KEEP", "torch.rand(x.shape) >= p"
            ),
            ["p = 1", "zeros"],
        ),
        (
            "dropout",
            "masks x in place",
            _DROPOUT.replace("KEEP", "torch.rand(x.shape) >= p").replace(
                "return x * keep.to(x.dtype) / (1 - p)", "x.mul_(keep.to(x.dtype) / (1 - p))\nreturn x"
            ),
            ["changed its argument `x` in place"],
        ),
        ("dropout", "calls F.dropout", "return F.dropout(x, p, training=training)", ["`F.dropout`", FORBIDDEN]),
        (
            "dropout",
            "runs the ATen dropout",
            "return torch.ops.aten.native_dropout(x, p, training)[0]",
            ["native_dropout", FORBIDDEN],
        ),
        # ---- Exercise 3
        ("drop_path", "drops single elements", _DROP_PATH.replace("SHAPE", "x.shape"), "zeroed parts of a sample"),
        (
            "drop_path",
            "does not rescale",
            _DROP_PATH.replace("SHAPE", _DROP_PATH_SHAPE).replace("if p < 1:\n    keep = keep / (1 - p)\n", ""),
            "not x[n] / (1 - p)",
        ),
        (
            "drop_path",
            "draws the mask with torch.rand",
            _DROP_PATH.replace(
                "torch.empty(SHAPE, dtype=x.dtype, device=x.device).bernoulli_(1 - p)",
                f"(torch.rand({_DROP_PATH_SHAPE}) >= p).to(x.dtype)",
            ),
            ["drop_path on case 1 of 5", "bernoulli_"],
        ),
        (
            "drop_path",
            "gives NaN for p = 1",
            _DROP_PATH.replace("SHAPE", _DROP_PATH_SHAPE).replace(
                "if p < 1:\n    keep = keep / (1 - p)", "keep = keep / (1 - p)"
            ),
            "case 5 of 5",
        ),
        (
            "drop_path",
            "calls torchvision's stochastic_depth",
            ("from torchvision.ops import stochastic_depth\nreturn stochastic_depth(x, p, 'row', training)"),
            ["`stochastic_depth`", FORBIDDEN],
        ),
        # ---- Exercise 4
        (
            "l2_penalty",
            "counts the biases",
            "return sum((w ** 2).sum() for w in model.parameters())",
            "l2_penalty on case 1 of 2",
        ),
        (
            "l2_penalty",
            "counts the BatchNorm weights",
            ("return sum((w ** 2).sum() for n, w in model.named_parameters() if not n.endswith('bias'))"),
            "l2_penalty on case 1 of 2",
        ),
        ("l2_penalty", "returns a float", _L2.replace("return total", "return total.item()"), ["l2_penalty", "float"]),
        (
            "l2_penalty",
            "is detached from autograd",
            _L2.replace("return total", "return total.detach()"),
            "requires a gradient",
        ),
        # ---- Exercise 5
        (
            "layer_stats",
            "leaves its hooks on the model",
            _stats().replace(
                "try:\n    with torch.no_grad():\n        model(x)\nfinally:\n    for handle in handles:\n        handle.remove()",
                "with torch.no_grad():\n    model(x)",
            ),
            ["left", "hook", "handle.remove()"],
        ),
        (
            "layer_stats",
            "removes its hooks only when the forward pass succeeds",
            _stats().replace(
                "try:\n    with torch.no_grad():\n        model(x)\nfinally:\n    for handle in handles:\n        handle.remove()",
                "with torch.no_grad():\n    model(x)\nfor handle in handles:\n    handle.remove()",
            ),
            ["raised", "finally"],
        ),
        (
            "layer_stats",
            "uses the population std",
            _stats().replace("output.std()", "output.std(unbiased=False)"),
            ["model 1", "the std of layer '0'", "unbiased"],
        ),
        ("layer_stats", "hooks every layer", _stats(types="nn.Module"), ["model 1", "one (name, mean, std) tuple"]),
        (
            "layer_stats",
            "switches the model to train mode",
            _stats().replace("rows = []", "rows = []\nmodel.train()"),
            ["changed its argument `model`", "running_mean"],
        ),
        (
            "layer_stats",
            "switches the model to eval mode",
            _stats().replace("rows = []", "rows = []\nmodel.eval()"),
            "changed the model's mode",
        ),
        (
            "layer_stats",
            "returns tensors for mean and std",
            _stats().replace("output.mean().item(), output.std().item()", "output.mean(), output.std()"),
            "Python floats",
        ),
        (
            "layer_stats",
            "uses course_utils' activation_stats",
            (
                "from course_utils import activation_stats\n"
                "with torch.no_grad(), activation_stats(model, [nn.Conv2d, nn.Linear]) as stats:\n"
                "    model(x)\n"
                "return [(n, m, s) for n, m, s, _ in stats.rows()]"
            ),
            ["`activation_stats`", FORBIDDEN],
        ),
    ]

    HIDDEN_ONLY = [
        (
            "kaiming_normal",
            "takes the receptive field of 4-D weights only",
            _kaiming(receptive="tensor.shape[2] * tensor.shape[3] if tensor.dim() == 4 else 1"),
            "hidden",
        ),
        (
            "dropout",
            "flattens x with view()",
            (
                "if not training or p == 0:\n    return x\nif p == 1:\n    return torch.zeros_like(x)\n"
                "flat = x.view(-1)\nkeep = (torch.rand(flat.numel()) >= p).to(x.dtype)\n"
                "return (flat * keep / (1 - p)).view(x.shape)"
            ),
            "hidden",
        ),
        ("drop_path", "assumes (N, C, H, W) inputs", _DROP_PATH.replace("SHAPE", "(x.shape[0], 1, 1, 1)"), "hidden"),
        (
            "l2_penalty",
            "skips parameters by their number of dimensions",
            "return sum((w ** 2).sum() for w in model.parameters() if w.dim() > 1)",
            "hidden",
        ),
        ("layer_stats", "misses layers inside nested modules", _stats(modules="model.named_children()"), "hidden"),
    ]

    def test_dropout_may_draw_its_mask_with_bernoulli(self, notebook) -> None:
        """The statement forbids PyTorch's dropout, not Tensor.bernoulli_: a mask drawn with it passes both graders."""
        answer = with_answer(
            solution_cells(notebook)["dropout"].source,
            _DROPOUT.replace("KEEP", "torch.empty_like(x).bernoulli_(1 - p)"),
        )
        for hidden in (False, True):
            assert isinstance(grade(notebook, "dropout", answer, hidden=hidden), Ran)
        assert verified_variant_scores(CHAPTER, {"bernoulli": ("dropout", answer)})["bernoulli"][0] > 0

    def test_the_chapter_computes_what_its_prose_says(self, notebook) -> None:
        """Section 1's and section 5's conclusions follow from the figures the cells compute (smoke sizes)."""
        ns = namespace(notebook, hyper=True)
        cells = {c.id: c.source for c in notebook.cells}
        for cid in ("plain-net", "decay-compare", "adamw-one-step"):
            run_cell(cells[cid], ns, cid)
        profiles = ns["profiles"]

        def ratio(values):
            return values[-1] / values[0]

        stds, grads = profiles["ReLU", "xavier"]
        assert ratio(stds) < 1e-6  # "shrink by seven orders of magnitude"
        assert max(grads) < 1e-5 * min(profiles["ReLU", "kaiming"][1])  # "tiny in every layer, about 1e-7 times"
        for values in profiles["ReLU", "kaiming"]:
            assert 0.1 <= ratio(values) <= 10  # steady activations and gradients
        assert ratio(profiles["Tanh", "default"][0]) < 0.5  # tanh, default: activations shrink
        assert ratio(profiles["Tanh", "default"][1][::-1]) < 1e-6  # and the first layer's gradient is tiny
        assert ratio(profiles["ReLU", "default"][1][::-1]) < 1e-6
        assert 0.1 <= ratio(profiles["Tanh", "kaiming"][0]) <= 10  # tanh, Kaiming: activations stay large
        assert ratio(profiles["Tanh", "kaiming"][1][::-1]) > 10  # and gradients grow on the way down
        runs = ns["runs"]

        def gap(a, b):
            return (runs[a] - runs[b]).abs().max().item()

        assert gap("SGD, weight_decay", "SGD, L2 in the loss") < 1e-6 < 1e-3 < gap("SGD, weight_decay", "SGD, no decay")
        assert gap("Adam, weight_decay", "Adam, L2 in the loss") < 1e-6
        assert gap("AdamW, weight_decay", "Adam, no decay") < gap("AdamW, weight_decay", "Adam, L2 in the loss")

    def test_quiz_is_encoded_and_reached_by_run_all(self, notebook) -> None:
        ns = namespace(notebook, hyper=True)
        index, source = next(
            (i, c.source) for i, c in enumerate(notebook.cells) if c.cell_type == "code" and "Quiz(" in c.source
        )
        assert '"answer"' not in source and '"explain"' not in source, "the quiz shows its answers in plain view"
        first_exercise = min(
            i for i, c in enumerate(notebook.cells) if c.get("metadata", {}).get("nbgrader", {}).get("solution")
        )
        assert index < first_exercise
        quiz = exec_source(source, ns, "quiz")
        assert abs(quiz.questions[0]["answer"] - (2 / 288) ** 0.5) <= quiz.questions[0]["tolerance"]
        assert answer_with_keys(quiz) == len(quiz.questions)


def test_verification_judges_the_wrong_answers_as_the_notebook_does() -> None:
    """Verification (the spec's judges in a sandboxed child) gives 0 to wrong answers of every exercise, including
    ones only nbgrader's hidden tests catch, and full marks to the solutions."""
    nb = load_solution(CHAPTER)
    cells = solution_cells(nb)
    wrong = {(e, label): answer for e, label, answer, _ in TestChapter07.VISIBLE + TestChapter07.HIDDEN_ONLY}
    chosen = [
        ("kaiming_normal", "returns a new tensor"),
        ("kaiming_normal", "draws from a uniform distribution"),
        ("kaiming_normal", "accepts a 1-D tensor"),
        ("kaiming_normal", "takes the receptive field of 4-D weights only"),
        ("kaiming_normal", "calls nn.init.kaiming_normal_"),
        ("dropout", "does not rescale"),
        ("dropout", "drops with the keep probability"),
        ("dropout", "gives NaN for p = 1"),
        ("dropout", "masks x in place"),
        ("dropout", "flattens x with view()"),
        ("dropout", "runs the ATen dropout"),
        ("drop_path", "drops single elements"),
        ("drop_path", "assumes (N, C, H, W) inputs"),
        ("drop_path", "calls torchvision's stochastic_depth"),
        ("l2_penalty", "counts the biases"),
        ("l2_penalty", "counts the BatchNorm weights"),
        ("l2_penalty", "returns a float"),
        ("l2_penalty", "skips parameters by their number of dimensions"),
        ("layer_stats", "uses the population std"),
        ("layer_stats", "leaves its hooks on the model"),
        ("layer_stats", "hooks every layer"),
        ("layer_stats", "switches the model to train mode"),
        ("layer_stats", "uses course_utils' activation_stats"),
    ]
    variants = {f"{e}: {label}": (e, with_answer(cells[e].source, wrong[e, label])) for e, label in chosen}
    scores = verified_variant_scores(CHAPTER, variants)
    accepted = {key: reason for key, (points, reason) in scores.items() if points > 0}
    assert not accepted, f"verification accepts {sorted(accepted)}"
    right = verified_scores(CHAPTER)
    assert all(points > 0 for points, _ in right.values()), right


def test_random_exercises_are_judged_on_enough_values() -> None:
    """The statistical judges allow 2% on the std, 0.015 on the fraction within one std and 6 standard errors on
    fractions dropped: with 50,000 values or more each bound is over 6 standard errors, so a right answer drawing
    its own way fails with a probability below 1e-8. A 64x100 case (6,400 values, 2.3 standard errors) was in the spec."""
    from nbtools import ROOT

    from course_utils.grading.spec import load_spec

    spec = {ex.test: ex for ex in load_spec(ROOT, CHAPTER).exercises}
    for case in spec["test_kaiming_normal"].normalised_cases():
        tensor = case["args"][0]
        assert tensor.dim() < 2 or tensor.numel() >= 50_000, tuple(tensor.shape)
    for test in ("test_dropout", "test_drop_path"):
        for case in spec[test].normalised_cases():
            x, p = case["args"]
            random = case["kwargs"].get("training", True) and 0 < p < 1
            assert not random or (x.numel() if test == "test_dropout" else x.shape[0]) >= 20_000, (test, tuple(x.shape))
