"""Chapter 10 (looking inside a trained CNN): the autograder cells pass the solution, reject these wrong answers.

The tests are nbtools.ChapterChecks'. Each wrong answer is the solution cell with one or more lines
changed (``old ==> new``, parts separated by ``@@``): the mistake a learner makes is usually one line.
Beyond them: every wrong answer also scores 0 in verification (grading/10_interpretability.py), an
answer that calls Captum is refused by both graders with the same sentence, and other right routes
(``.backward()`` on a copy, a batched Integrated Gradients) get full marks in both.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools import ChapterChecks, grade, load_solution, solution_cells, verified_variant_scores  # noqa: E402

CHAPTER = "10_interpretability"
FORBIDDEN = "which this exercise forbids"


def change(*pairs: tuple[str, str]) -> str:
    return "\n@@\n".join(f"{old}\n==>\n{new}" for old, new in pairs)


def apply(source: str, answer: str) -> str:
    """The solution cell with each ``old ==> new`` change applied (each ``old`` must be there)."""
    for part in answer.split("\n@@\n"):
        old, new = part.split("\n==>\n")
        assert old in source, f"the solution cell no longer contains {old!r}"
        source = source.replace(old, new)
    return source


# The mistake of a learner who turns an int target into a one-element list: only image 0 gets its score.
ONE_TARGET = "torch.as_tensor(target, device=scores.device).view(-1)"

VISIBLE = [
    (
        "saliency",
        "forgets the absolute value",
        change(("    return grad.abs()", "    return grad")),
        ["saliency on case", "differs"],
    ),
    (
        "saliency",
        "sets requires_grad on the caller's x",
        change(("    x = x.detach().clone().requires_grad_()", "    x.requires_grad_()")),
        ["saliency", "requires_grad"],
    ),
    (
        "saliency",
        "sums every image's scores for every target",
        change(("scores.gather(1, target.view(-1, 1)).sum()", "scores[:, target].sum()")),
        ["saliency on case 2 of 4", "differs"],
    ),
    (
        "saliency",
        "asks Captum",
        change(
            (
                "    x = x.detach().clone().requires_grad_()",
                "    from captum.attr import Saliency\n    return Saliency(model).attribute(x.detach().clone()"
                ".requires_grad_(), target=target)",
            )
        ),
        ["captum", FORBIDDEN],
    ),
    (
        "grad_cam",
        "forgets the ReLU",
        change(("    return torch.relu((weights * store", "    return ((weights * store")),
        ["grad_cam on case", "differs"],
    ),
    (
        "grad_cam",
        "weights by the gradient's sum over positions, not its mean",
        change(('store["grads"].mean(dim=(2, 3), keepdim=True)', 'store["grads"].sum(dim=(2, 3), keepdim=True)')),
        ["grad_cam on case", "differs"],
    ),
    (
        "grad_cam",
        "leaves its hook on the layer",
        change(("        handle.remove()\n", "        pass\n")),
        ["grad_cam", "hook"],
    ),
    (
        "grad_cam",
        "drops the channel dimension",
        change(("sum(dim=1, keepdim=True))   # (N, 1, h, w)", "sum(dim=1))")),
        ["grad_cam", "shape"],
    ),
    (
        "integrated_gradients",
        "forgets to multiply by (x - baseline)",
        change(("    return (x - baseline) * total / steps", "    return total / steps")),
        ["integrated_gradients on case", "differs"],
    ),
    (
        "integrated_gradients",
        "takes the left Riemann sum",
        change(("for k in range(1, steps + 1):", "for k in range(steps):")),
        ["integrated_gradients on case", "differs"],
    ),
    (
        "integrated_gradients",
        "multiplies by x, as if the baseline were always zero",
        change(("    return (x - baseline) * total / steps", "    return x * total / steps")),
        ["integrated_gradients on case 2 of 4", "differs"],
    ),
    (
        "occlusion",
        "sums the drops instead of averaging them",
        change(("    return (total / count)[:, None]", "    return total[:, None]")),
        ["occlusion on case 2 of 4", "differs"],
    ),
    (
        "occlusion",
        "stops before a window that would hang over the edge",
        change(
            ("range(0, h - window + stride, stride)", "range(0, h - window + 1, stride)"),
            ("range(0, w - window + stride, stride)", "range(0, w - window + 1, stride)"),
        ),
        ["occlusion on case 3 of 4", "NaN"],
    ),
    (
        "occlusion",
        "always fills with zeros",
        change(("= fill\n", "= 0.0\n")),
        ["occlusion on case 4 of 4", "differs"],
    ),
    (
        "occlusion",
        "reports the score after occlusion rather than the drop",
        change(("drop = base - model(covered)", "drop = model(covered)")),
        ["occlusion on case", "differs"],
    ),
    (
        "top_activating",
        "forgets eval mode",
        change(("        model.eval()\n", "")),
        ["top_activating", "model"],
    ),
    (
        "top_activating",
        "leaves the model in eval mode",
        change(("        model.train(was_training)\n", "")),
        ["top_activating", "eval mode"],
    ),
    (
        "top_activating",
        "runs every image in one batch",
        change(
            (
                "            for start in range(0, len(images), batch_size):",
                "            for start in range(0, len(images), len(images)):",
            ),
            ("model(images[start:start + batch_size])", "model(images[start:])"),
        ),
        ["batch_size=8", "batch of 20"],
    ),
    (
        "top_activating",
        "ranks by the maximum over positions",
        change(("output[:, channel].mean(dim=(-2, -1))", "output[:, channel].amax(dim=(-2, -1))")),
        ["the ranking of top_activating", "differs"],
    ),
]

VISIBLE.append(
    (
        "top_activating",
        "records the layer with Captum's LayerActivation",
        change(
            (
                "                model(images[start:start + batch_size])",
                "                means.append(LayerActivation(model, layer).attribute(images[start:start + batch_size])"
                "[:, channel].mean(dim=(-2, -1)))",
            ),
            ("    means = []\n", "    from captum.attr import LayerActivation\n    means = []\n"),
            (
                "    handle = layer.register_forward_hook(keep)\n",
                "    handle = layer.register_forward_hook(lambda *args: None)\n",
            ),
        ),
        ["captum", FORBIDDEN],
    )
)

HIDDEN_ONLY = [
    (
        "saliency",
        "gives only the first image its score when the target is an int",
        change(("torch.as_tensor(target, device=scores.device).expand(scores.shape[0])", ONE_TARGET)),
        ["a hidden case", "differs"],
    ),
    (
        "grad_cam",
        "keeps the layer's output without a copy, which an in-place ReLU then overwrites",
        change(('store["acts"] = output.detach().clone()', 'store["acts"] = output.detach()')),
        ["a hidden case", "differs"],
    ),
    (
        "integrated_gradients",
        "gives only the first image its score when the target is an int",
        change(
            (
                "picked = torch.as_tensor(target, device=scores.device).expand(scores.shape[0])",
                "picked = torch.as_tensor(target, device=scores.device).view(-1)",
            )
        ),
        ["a hidden case", "differs"],
    ),
    (
        "occlusion",
        "gives every image the first image's score drop when the target is an int",
        change(
            (
                "target = torch.as_tensor(target, device=scores.device).expand(n).view(-1, 1)",
                "target = torch.as_tensor(target, device=scores.device).view(-1, 1)",
            )
        ),
        ["a hidden case", "differs"],
    ),
    (
        "top_activating",
        "drops the last, partial batch",
        change(("range(0, len(images), batch_size)", "range(0, len(images) - batch_size + 1, batch_size)")),
        ["top_activating", "hidden test input"],
    ),
]


class TestChapter10(ChapterChecks):
    CHAPTER = CHAPTER
    EXERCISES = ["saliency", "grad_cam", "integrated_gradients", "occlusion", "top_activating"]
    VISIBLE = VISIBLE
    HIDDEN_ONLY = HIDDEN_ONLY

    def wrong_cell(self, notebook, wrong) -> str:
        return apply(solution_cells(notebook)[wrong.exercise].source, wrong.answer)

    def test_chapter_content_is_present(self, notebook) -> None:
        text = "\n".join(c.source for c in notebook.cells)
        for needle in (
            "FeatureMapExplorer(",
            "capture_activations(",
            "capture_gradients(",
            "plot_kernels(",
            "return_convergence_delta=True",
            "LayerAttribution.interpolate",
            "Occlusion(",
            "register_full_backward_hook",
            "cascading_randomisation(",
            "spearman(",
            "Adebayo",
            "load_backbone()",
        ):
            assert needle in text, f"chapter 10 no longer contains {needle}"


# ---------------------------------------------------------------- verification agrees with the notebook

CORRECT = [
    (
        "saliency",
        "uses backward on its own copy of x",
        change(
            ("    (grad,) = torch.autograd.grad(picked, x)", "    picked.backward()\n    grad = x.grad"),
        ),
    ),
    (
        "integrated_gradients",
        "runs every step of the path as one batch",
        change(
            (
                "    total = torch.zeros_like(x)                               # sum of the gradients along the path\n"
                "    for k in range(1, steps + 1):\n",
                "    n = x.shape[0]\n"
                "    alphas = torch.arange(1, steps + 1, dtype=x.dtype, device=x.device).div(steps).view(-1, 1, 1, 1, 1)\n"
                "    points = (baseline + alphas * (x - baseline)).reshape(steps * n, *x.shape[1:]).requires_grad_()\n"
                "    scores = model(points)\n"
                "    picked = torch.as_tensor(target, device=scores.device).expand(n).repeat(steps)\n"
                "    (grad,) = torch.autograd.grad(scores.gather(1, picked.view(-1, 1)).sum(), points)\n"
                "    total = grad.view(steps, *x.shape).sum(dim=0)\n"
                "    for k in range(0):\n",
            ),
        ),
    ),
]


@pytest.fixture(scope="module")
def verified_variants() -> dict[str, str | None]:
    """Every CORRECT, VISIBLE and HIDDEN_ONLY answer judged by grading/10_interpretability.py, in one child.

    Maps ``"<kind>:<exercise>:<label>"`` to None (full marks) or the sentence that scores it 0.
    """
    cells = solution_cells(load_solution(CHAPTER))
    variants = {f"correct:{e}:{label}": (e, answer) for e, label, answer in CORRECT}
    variants.update({f"wrong:{e}:{label}": (e, answer) for e, label, answer, _ in [*VISIBLE, *HIDDEN_ONLY]})
    scores = verified_variant_scores(
        CHAPTER, {key: (e, apply(cells[e].source, answer)) for key, (e, answer) in variants.items()}
    )
    return {key: None if points > 0 else reason for key, (points, reason) in scores.items()}


@pytest.mark.parametrize("task,label", [(e, lbl) for e, lbl, _ in CORRECT], ids=[e for e, _, _ in CORRECT])
def test_other_correct_routes_pass_both_graders(verified_variants, task: str, label: str) -> None:
    notebook = load_solution(CHAPTER)
    answer = next(a for e, lbl, a in CORRECT if (e, lbl) == (task, label))
    ran = grade(notebook, task, apply(solution_cells(notebook)[task].source, answer))
    assert not isinstance(ran, Exception), f"the notebook's checks refuse a {task} that {label}: {ran}"
    assert verified_variants[f"correct:{task}:{label}"] is None, verified_variants[f"correct:{task}:{label}"]


WRONG_ANSWERS = [(e, lbl, words) for e, lbl, _, words in [*VISIBLE, *HIDDEN_ONLY]]


@pytest.mark.parametrize(
    "task,label,words", WRONG_ANSWERS, ids=[f"{e}-{lbl.replace(' ', '_')}" for e, lbl, _ in WRONG_ANSWERS]
)
def test_verification_scores_every_wrong_answer_zero(verified_variants, task: str, label: str, words) -> None:
    why = verified_variants[f"wrong:{task}:{label}"]
    assert why, f"verification gives full marks to a {task} that {label}"
    if FORBIDDEN in words:  # the same sentence as the notebook's check
        assert all(w in why for w in words), why
