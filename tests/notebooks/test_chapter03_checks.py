"""Chapter 03 (pooling): the autograder cells pass the solution, reject these wrong answers.

The tests are nbtools.ChapterChecks'; VISIBLE and HIDDEN_ONLY answers replace a solution block.
Besides wrong values, the visible checks refuse PyTorch's own pooling (any route), answers that
change their input in place and a tensor where a float is asked. The chapter's own tests below
check that section 8's conclusion follows from the figures the notebook computes (the quiz's place,
before the first check cell where Run All reaches it, is the shared test_structure's rule).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools import (  # noqa: E402
    ROOT,
    ChapterChecks,
    autograder_cells,
    exec_source,
    hyper_cell,
    load_solution,
    namespace,
    run_cell,
    verified_scores,
)

FORBIDDEN = "which this exercise forbids"

# The reference solutions' shared pieces, reused by the wrong answers below.
_MAX_BODY = """
stride = kernel_size if stride is None else stride
x = F.pad(x, (padding,) * 4, value=float("-inf"))
return x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride).amax(dim=(-2, -1))
"""
_BACKWARD_HEAD = """
stride = kernel_size if stride is None else stride
n, c, h, w = x.shape
windows = x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride)
h_out, w_out = windows.shape[2], windows.shape[3]
winner = windows.reshape(n, c, h_out, w_out, -1).argmax(dim=-1)
rows = torch.arange(h_out).view(-1, 1) * stride + winner // kernel_size
cols = torch.arange(w_out).view(1, -1) * stride + winner % kernel_size
"""
_CONSISTENCY = """
model.eval()
with torch.no_grad():
    base = model(x).argmax(dim=1)
    same = [model(torch.roll(x, s, dims=DIMS)).argmax(dim=1) == base for s in SHIFTS]
return torch.stack(same).float().mean().item()
"""


def _consistency(dims: str = "-1", shifts: str = "range(1, max_shift + 1)") -> str:
    return _CONSISTENCY.replace("DIMS", dims).replace("SHIFTS", shifts)


class TestChapter03(ChapterChecks):
    CHAPTER = "03_pooling"
    EXERCISES = [
        "max_pool2d",
        "avg_pool2d",
        "global_avg_pool",
        "max_pool2d_backward",
        "lp_pool2d",
        "max_pool_relu",
        "prediction_consistency",
    ]

    VISIBLE = [
        # ---- Exercise 1
        (
            "max_pool2d",
            "pads with zeros",
            """
         stride = kernel_size if stride is None else stride
         x = F.pad(x, (padding, padding, padding, padding))
         return x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride).amax(dim=(-2, -1))
         """,
            "max_pool2d on case 3 of 4",
        ),
        (
            "max_pool2d",
            "ignores the stride",
            """
         x = F.pad(x, (padding, padding, padding, padding), value=float("-inf"))
         return x.unfold(2, kernel_size, kernel_size).unfold(3, kernel_size, kernel_size).amax(dim=(-2, -1))
         """,
            "case 2 of 4",
        ),
        ("max_pool2d", "ignores ceil_mode", _MAX_BODY, ["case 4 of 4", "ceil_mode=True"]),
        (
            "max_pool2d",
            "returns float32 for float64 input",
            """
         stride = kernel_size if stride is None else stride
         sizes = [-(-(n + 2 * padding - kernel_size) // stride) + 1 if ceil_mode else (n + 2 * padding - kernel_size) // stride + 1
                  for n in x.shape[-2:]]
         extra = [max(0, (o - 1) * stride + kernel_size - (n + 2 * padding)) for o, n in zip(sizes, x.shape[-2:])]
         x = F.pad(x.float(), (padding, padding + extra[1], padding, padding + extra[0]), value=float("-inf"))
         return x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride).amax(dim=(-2, -1))
         """,
            ["case 4 of 4", "dtype float32, expected float64"],
        ),
        (
            "max_pool2d",
            "calls F.max_pool2d",
            "return F.max_pool2d(x, kernel_size, stride, padding, ceil_mode=ceil_mode)",
            ["`max_pool2d` calls `F.max_pool2d`", FORBIDDEN, "compute the pooling yourself"],
        ),
        (
            "max_pool2d",
            "calls torch.max_pool2d",
            "return torch.max_pool2d(x, kernel_size, stride or kernel_size, padding, 1, ceil_mode)",
            ["`torch.max_pool2d`", FORBIDDEN],
        ),
        (
            "max_pool2d",
            "builds nn.MaxPool2d",
            "return nn.MaxPool2d(kernel_size, stride, padding, ceil_mode=ceil_mode)(x)",
            ["`nn.MaxPool2d`", FORBIDDEN],
        ),
        (
            "max_pool2d",
            "reaches max pooling through torch.ops.aten",
            """
         stride = kernel_size if stride is None else stride
         return torch.ops.aten.max_pool2d_with_indices(x, [kernel_size] * 2, [stride] * 2, [padding] * 2, [1, 1], ceil_mode)[0]
         """,
            ["max_pool2d_with_indices", FORBIDDEN],
        ),
        # ---- Exercise 2
        (
            "avg_pool2d",
            "leaves padded cells out of the mean",
            """
         stride = kernel_size if stride is None else stride
         ones = F.pad(torch.ones_like(x), (padding,) * 4)
         x = F.pad(x, (padding,) * 4)
         cut = lambda t: t.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride).sum(dim=(-2, -1))
         return cut(x) / cut(ones)
         """,
            "avg_pool2d on case 3 of 4",
        ),
        (
            "avg_pool2d",
            "forgets the padding",
            """
         stride = kernel_size if stride is None else stride
         return x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride).mean(dim=(-2, -1))
         """,
            "has shape",
        ),
        (
            "avg_pool2d",
            "scales x in place",
            """
         stride = kernel_size if stride is None else stride
         x.mul_(1 / kernel_size ** 2)
         x = F.pad(x, (padding,) * 4)
         return x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride).sum(dim=(-2, -1))
         """,
            ["`avg_pool2d` changed its argument `x` in place"],
        ),
        (
            "avg_pool2d",
            "calls F.avg_pool2d",
            "return F.avg_pool2d(x, kernel_size, stride, padding)",
            ["`avg_pool2d` calls `F.avg_pool2d`", FORBIDDEN],
        ),
        (
            "avg_pool2d",
            "hides F.avg_pool2d behind getattr",
            "return getattr(F, 'avg_' + 'pool2d')(x, kernel_size, stride, padding)",
            ["`getattr`", FORBIDDEN],
        ),
        # ---- Exercise 3
        ("global_avg_pool", "keeps H and W", "return x.mean(dim=(2, 3), keepdim=True)", "4 dimensions where 2"),
        ("global_avg_pool", "takes the maximum", "return x.amax(dim=(2, 3))", "differs from the expected values"),
        ("global_avg_pool", "assumes square maps", "return x.sum(dim=(2, 3)) / x.shape[2] ** 2", "case 2 of 2"),
        # ---- Exercise 4
        (
            "max_pool2d_backward",
            "overwrites where windows overlap",
            _BACKWARD_HEAD
            + textwrap.dedent("""
         grad_x = torch.zeros(n, c, h * w, dtype=x.dtype)
         grad_x.scatter_(2, (rows * w + cols).reshape(n, c, -1), grad_out.reshape(n, c, -1))
         return grad_x.reshape(n, c, h, w)
         """),
            "max_pool2d_backward on case 2 of 4",
        ),
        (
            "max_pool2d_backward",
            "spreads the gradient like average pooling",
            """
         stride = kernel_size if stride is None else stride
         n, c, h, w = x.shape
         cols = grad_out.reshape(n, c, 1, -1).expand(n, c, kernel_size * kernel_size, -1) / kernel_size ** 2
         return F.fold(cols.reshape(n, -1, cols.shape[-1]), (h, w), kernel_size, stride=stride)
         """,
            "max_pool2d_backward on case 1 of 4",
        ),
        (
            "max_pool2d_backward",
            "asks autograd",
            """
         leaf = x.detach().requires_grad_()
         windows = leaf.unfold(2, kernel_size, stride or kernel_size).unfold(3, kernel_size, stride or kernel_size)
         return torch.autograd.grad(windows.amax(dim=(-2, -1)), leaf, grad_out)[0]
         """,
            ["`torch.autograd.grad`", FORBIDDEN, "compute the gradient yourself"],
        ),
        (
            "max_pool2d_backward",
            "unpools PyTorch's indices",
            """
         out, idx = F.max_pool2d(x, kernel_size, stride, return_indices=True)
         return F.max_unpool2d(grad_out, idx, kernel_size, stride, output_size=x.shape[-2:])
         """,
            ["`F.max_pool2d`", FORBIDDEN],
        ),
        # ---- Exercise 5
        (
            "lp_pool2d",
            "takes the mean instead of the sum",
            """
         kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
         sh, sw = (kh, kw) if stride is None else ((stride, stride) if isinstance(stride, int) else stride)
         return x.unfold(2, kh, sh).unfold(3, kw, sw).pow(p).mean(dim=(-2, -1)).pow(1 / p)
         """,
            "lp_pool2d on case 1 of 5",
        ),
        (
            "lp_pool2d",
            "clips negative inputs to zero",
            """
         kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
         sh, sw = (kh, kw) if stride is None else ((stride, stride) if isinstance(stride, int) else stride)
         return x.relu().unfold(2, kh, sh).unfold(3, kw, sw).pow(p).sum(dim=(-2, -1)).pow(1 / p)
         """,
            "lp_pool2d on case 3 of 5",
        ),
        (
            "lp_pool2d",
            "handles square windows only",
            """
         s = kernel_size if stride is None else stride
         return x.unfold(2, kernel_size, s).unfold(3, kernel_size, s).pow(p).sum(dim=(-2, -1)).pow(1 / p)
         """,
            "kernel_size: the tuple (3, 2)",
        ),
        (
            "lp_pool2d",
            "calls nn.LPPool2d",
            "return nn.LPPool2d(p, kernel_size, stride)(x)",
            ["`nn.LPPool2d`", FORBIDDEN],
        ),
        (
            "lp_pool2d",
            "goes through F.avg_pool2d",
            """
         kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
         return (F.avg_pool2d(x.pow(p), kernel_size, stride) * kh * kw).pow(1 / p)
         """,
            ["`F.avg_pool2d`", FORBIDDEN],
        ),
        # ---- Exercise 6
        (
            "max_pool_relu",
            "adds the two ReLUs",
            """
         pair = lambda a, b: torch.relu(a) + torch.relu(b - a)
         return pair(pair(x[..., 0::2, 0::2], x[..., 0::2, 1::2]), pair(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))
         """,
            "max_pool_relu on case 1 of 3",
        ),
        (
            "max_pool_relu",
            "calls amax",
            "return x.unfold(2, 2, 2).unfold(3, 2, 2).amax(dim=(-2, -1))",
            ["`x.unfold(2, 2, 2).unfold(3, 2, 2).amax`", FORBIDDEN, "build the maximum from ReLUs"],
        ),
        (
            "max_pool_relu",
            "calls torch.maximum",
            """
         top = torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2])
         return torch.maximum(top, torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))
         """,
            ["`torch.maximum`", FORBIDDEN],
        ),
        (
            "max_pool_relu",
            "compares with >",
            """
         def larger(a, b):
             return a * (a > b) + b * (a <= b)
         return larger(larger(x[..., 0::2, 0::2], x[..., 0::2, 1::2]), larger(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))
         """,
            ["runs the ATen operation `gt`", FORBIDDEN],
        ),
        # ---- Exercise 7
        (
            "prediction_consistency",
            "counts changes instead of agreements",
            _consistency().replace("== base", "!= base"),
            "prediction_consistency on case 1 of 1",
        ),
        (
            "prediction_consistency",
            "returns a count",
            """
         model.eval()
         with torch.no_grad():
             base = model(x).argmax(dim=1)
             return sum(int((model(torch.roll(x, s, dims=-1)).argmax(dim=1) == base).sum()) for s in range(1, max_shift + 1))
         """,
            "expected the number",
        ),
        (
            "prediction_consistency",
            "returns a tensor",
            _consistency().replace(".mean().item()", ".mean()"),
            ["`prediction_consistency` returned a tensor", "float"],
        ),
        (
            "prediction_consistency",
            "uses shifts 0 .. max_shift - 1",
            _consistency(shifts="range(max_shift)"),
            ["case 1 of 1", "s = 1 .. max_shift"],
        ),
        ("prediction_consistency", "rolls along the height", _consistency(dims="-2"), ["case 1 of 1", "dims=-1"]),
        (
            "prediction_consistency",
            "forgets eval mode",
            _consistency().replace("model.eval()", "pass"),
            "call model.eval() first",
        ),
    ]

    HIDDEN_ONLY = [
        (
            "max_pool2d",
            "keeps a last window that starts in the padding",
            """
         stride = kernel_size if stride is None else stride
         sizes = [-(-(n + 2 * padding - kernel_size) // stride) + 1 if ceil_mode else (n + 2 * padding - kernel_size) // stride + 1
                  for n in x.shape[-2:]]
         extra = [max(0, (o - 1) * stride + kernel_size - (n + 2 * padding)) for o, n in zip(sizes, x.shape[-2:])]
         x = F.pad(x, (padding, padding + extra[1], padding, padding + extra[0]), value=float("-inf"))
         return x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride).amax(dim=(-2, -1))
         """,
            "hidden",
        ),
        (
            "avg_pool2d",
            "filters with a box kernel after view()",
            """
         stride = kernel_size if stride is None else stride
         n, c, h, w = x.shape
         box = torch.full((1, 1, kernel_size, kernel_size), 1 / kernel_size ** 2, dtype=x.dtype)
         out = F.conv2d(x.view(n * c, 1, h, w), box, stride=stride, padding=padding)
         return out.view(n, c, out.shape[-2], out.shape[-1])
         """,
            "a hidden test input",
        ),
        (
            "global_avg_pool",
            "flattens with view()",
            "return x.view(x.shape[0], x.shape[1], -1).mean(dim=-1)",
            "a hidden test input",
        ),
        (
            "max_pool2d_backward",
            "forgets the batch in its flat index",
            _BACKWARD_HEAD
            + textwrap.dedent("""
         index = torch.arange(c).view(1, c, 1, 1) * h * w + rows * w + cols
         grad = torch.zeros(x.numel(), dtype=x.dtype)
         grad.index_add_(0, index.flatten(), grad_out.flatten().to(x.dtype))
         return grad.reshape(x.shape)
         """),
            "a hidden case",
        ),
        (
            "lp_pool2d",
            "sums with a ones kernel after view()",
            """
         kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
         sh, sw = (kh, kw) if stride is None else ((stride, stride) if isinstance(stride, int) else stride)
         n, c, h, w = x.shape
         sums = F.conv2d(x.pow(p).view(n * c, 1, h, w), torch.ones(1, 1, kh, kw, dtype=x.dtype), stride=(sh, sw))
         return sums.pow(1 / p).view(n, c, sums.shape[-2], sums.shape[-1])
         """,
            "a hidden test input",
        ),
        (
            "prediction_consistency",
            "squeezes the batch dimension away",
            """
         model.eval()
         with torch.no_grad():
             base = model(x).squeeze().argmax(dim=1)
             same = [model(torch.roll(x, s, dims=-1)).squeeze().argmax(dim=1) == base for s in range(1, max_shift + 1)]
         return torch.stack(same).float().mean().item()
         """,
            "a hidden test input",
        ),
    ]

    # ------------------------------------------------------------ chapter 03's own layout and content

    def test_sections_6_and_8_conclusions_follow_from_the_figures(self, notebook) -> None:
        """Every ordering the prose of sections 6 and 8 states holds on the figures the notebook computes (smoke mode)."""
        ns = namespace(notebook, hyper=True)
        concept = [
            c
            for c in notebook.cells
            if c.cell_type == "code"
            and not c.metadata.get("nbgrader")
            and "Quiz(" not in c.source
            and "google.colab" not in c.source
            and "budget(" not in c.source
        ]
        for c in concept:
            run_cell(c.source, ns, c.get("id", "cell"))
        inv = ns["invariance"]  # section 6: a larger window absorbs more of a shift; only global pooling is invariant
        windows = ["no pooling", "max pool 2", "max pool 4", "max pool 8"]
        for i in range(len(ns["shifts"])):
            assert all(inv[a][i] < inv[b][i] for a, b in zip(windows, windows[1:])), inv
        assert min(inv["global max"]) > 0.9999 and max(inv["no pooling"]) < 0.99, inv
        assert ns["same"], "a strided convolution is not the stride-1 convolution subsampled"
        eq = {rule: sum(v) / len(v) for rule, v in ns["equivariance"].items()}
        cons = ns["consistency"]
        plain, blurred = ["strided conv", "max pool", "avg pool"], ["MaxBlurPool", "ConvBlurPool"]
        assert eq["strided conv"] < eq["max pool"] < eq["avg pool"] < min(eq[r] for r in blurred), eq
        assert min(cons[r] for r in blurred) > max(cons[r] for r in plain), cons
        assert cons["strided conv"] == min(cons.values()), cons
        for measure in (eq, cons):
            assert measure["ConvBlurPool"] - measure["strided conv"] > measure["MaxBlurPool"] - measure["max pool"] > 0
        # the measurement is informative: consistency well below 1 without a blur, and a head that predicts many classes
        assert cons["strided conv"] < 0.8

    def test_exercise_7_models_are_far_from_consistent(self, notebook) -> None:
        """The visible and hidden models of exercise 7 change many predictions, so `return 1.0` cannot pass."""
        for answer in ("return 1.0", "return 0.5"):
            ns = namespace(
                notebook,
                replace={"prediction_consistency": f"def prediction_consistency(model, x, max_shift):\n    {answer}\n"},
            )
            source = autograder_cells(notebook)["test_prediction_consistency"].source
            try:
                run_cell(source, ns, "test_prediction_consistency")
            except Exception as exc:  # noqa: BLE001 - CheckFailed expected
                assert "differs" in str(exc) or "expected" in str(exc), str(exc)
            else:
                raise AssertionError(f"test_prediction_consistency accepts `{answer}`")

    def test_exercise_7_hint_fits_the_mistake(self, notebook) -> None:
        """Defect 4: a roll along the wrong axis was told to call model.eval(); now each mistake gets its own hint."""
        from nbtools import grade, solution_cells, with_answer

        cell = solution_cells(notebook)["prediction_consistency"].source
        wrong_axis = grade(notebook, "prediction_consistency", with_answer(cell, _consistency(dims="-2")), hidden=False)
        no_eval = grade(
            notebook,
            "prediction_consistency",
            with_answer(cell, _consistency().replace("model.eval()", "pass")),
            hidden=False,
        )
        assert "dims=-1" in str(wrong_axis) and "eval" not in str(wrong_axis), str(wrong_axis)
        assert "call model.eval() first" in str(no_eval) and "dims=-1" not in str(no_eval), str(no_eval)

    def test_quiz_answers_agree_with_pytorch(self, notebook) -> None:
        import torch
        import torch.nn as nn

        from course_utils.widgets.quiz import decode_answer

        quiz = exec_source(next(c.source for c in notebook.cells if "Quiz(" in c.source), {}, "quiz")
        answers = [decode_answer(q["key"])[0] if "key" in q else q["answer"] for q in quiz.questions]
        assert answers[1] == nn.MaxPool2d(2, stride=2, ceil_mode=True)(torch.zeros(1, 1, 1, 9)).shape[-1]
        assert answers[2] == nn.LPPool2d(2, 2)(torch.tensor([[[[3.0, 0.0], [0.0, -4.0]]]])).item()
        assert hyper_cell(notebook) is not None


# ---------------------------------------------------------------- the same answers, judged by verification


def _cell(signature: str, body: str) -> str:
    return f"{signature}\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n"


_SIGNATURES = {
    "max_pool2d": "def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):",
    "avg_pool2d": "def avg_pool2d(x, kernel_size, stride=None, padding=0):",
    "global_avg_pool": "def global_avg_pool(x):",
    "max_pool2d_backward": "def max_pool2d_backward(x, grad_out, kernel_size, stride=None):",
    "lp_pool2d": "def lp_pool2d(x, p, kernel_size, stride=None):",
    "max_pool_relu": "def max_pool_relu(x):",
    "prediction_consistency": "def prediction_consistency(model, x, max_shift):",
}


def _answers(cases: list[tuple], labels: dict[str, str]) -> dict[str, str]:
    """Whole solution cells for the wrong answers of ``cases`` named in ``labels`` (exercise -> label)."""
    found = {exercise: answer for exercise, label, answer, _ in cases if labels.get(exercise) == label}
    assert set(found) == set(labels), f"no wrong answer {labels} among the cases"
    return {exercise: _cell(_SIGNATURES[exercise], body) for exercise, body in found.items()}


# Routes and forms the statements forbid (defects 3 and 6), then answers only hidden inputs expose.
RULE_BREAKERS = _answers(
    TestChapter03.VISIBLE,
    {
        "max_pool2d": "calls F.max_pool2d",
        "avg_pool2d": "scales x in place",
        "max_pool2d_backward": "asks autograd",
        "lp_pool2d": "calls nn.LPPool2d",
        "max_pool_relu": "compares with >",
        "prediction_consistency": "returns a tensor",
    },
)
SUBTLE = _answers(
    TestChapter03.HIDDEN_ONLY,
    {
        "max_pool2d": "keeps a last window that starts in the padding",
        "avg_pool2d": "filters with a box kernel after view()",
        "global_avg_pool": "flattens with view()",
        "max_pool2d_backward": "forgets the batch in its flat index",
        "lp_pool2d": "sums with a ones kernel after view()",
    },
)
SUBTLE["prediction_consistency"] = _cell(_SIGNATURES["prediction_consistency"], "return 1.0")  # defect 4


def test_verification_scores_the_rule_breakers_zero_with_the_notebooks_sentence() -> None:
    """Defects 3 and 6: PyTorch's pooling, autograd, a max, an input scaled in place, a tensor for a float."""
    scores = verified_scores(TestChapter03.CHAPTER, RULE_BREAKERS)
    expected = {
        "max_pool2d": "`max_pool2d` calls `F.max_pool2d`, which this exercise forbids",
        "avg_pool2d": "`avg_pool2d` changed its argument `x` in place",
        "max_pool2d_backward": "`torch.autograd.grad`, which this exercise forbids",
        "lp_pool2d": "`lp_pool2d` calls `nn.LPPool2d`, which this exercise forbids",
        "max_pool_relu": "runs the ATen operation `gt`",
        "prediction_consistency": "`prediction_consistency` returned a tensor",
    }
    for exercise, words in expected.items():
        points, reason = scores[f"test_{exercise}"]
        assert points == 0 and words in reason, (exercise, reason)
    assert scores["test_global_avg_pool"][0] == 1, scores  # answered correctly: keeps its point


def test_verification_scores_the_subtle_answers_zero() -> None:
    """What only hidden inputs expose scores 0 verified too, and so does `return 1.0` (defect 4)."""
    scores = verified_scores(TestChapter03.CHAPTER, SUBTLE)
    for exercise in SUBTLE:
        assert scores[f"test_{exercise}"][0] == 0, (exercise, scores[f"test_{exercise}"])
    assert scores["test_max_pool_relu"][0] == 2, scores
    right = verified_scores(TestChapter03.CHAPTER, {})
    assert all(points > 0 for points, _ in right.values()), right


def test_notebook_and_spec_forbid_the_same_routes() -> None:
    """The check cells' Forbid rules are the spec's (same calls, operations and sentence)."""
    from course_utils.checks import NO_POOLING
    from course_utils.grading.spec import load_spec

    spec = {ex.test: ex for ex in load_spec(ROOT, "03_pooling").exercises}
    nb = load_solution("03_pooling")
    for test, variable in (("test_max_pool2d_backward", "NO_AUTOGRAD_OR_POOLING"), ("test_max_pool_relu", "NO_MAX")):
        source = autograder_cells(nb)[test].source
        definition = source[source.index(f"{variable} = ") : source.index(")\n\n", source.index(f"{variable} = ")) + 1]
        ns: dict = {}
        exec(f"from course_utils.checks import NO_POOLING, Forbid\n{definition}", ns)  # noqa: S102 - the course's own cell
        assert ns[variable] == spec[test].forbid, test
    for test in ("test_max_pool2d", "test_avg_pool2d", "test_lp_pool2d"):
        assert spec[test].forbid == NO_POOLING and "forbid=NO_POOLING" in autograder_cells(nb)[test].source
    assert spec["test_prediction_consistency"].returns is float
