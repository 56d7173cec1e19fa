"""Chapter 04's autograder cells: the solution passes, the stub and wrong answers fail with readable messages.

Each wrong answer replaces one exercise's solution block. ``VISIBLE`` answers
must already fail the checks a learner sees; ``HIDDEN_ONLY`` answers pass the
visible checks and must be caught by the hidden tests (which is why hidden
tests exist).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import chapter_harness as h  # noqa: E402

CHAPTER = "04_receptive_fields"
EXERCISES = ["fields_by_hand", "field_recursion", "layers_to_cover", "gradient_map"]

# (exercise, label, solution body, words the CheckFailed message must contain)
VISIBLE = [
    ("fields_by_hand", "forgets the dilation", 'return {"A": (17, 4), "B": (23, 4)}', "fields_by_hand()['A']"),
    ("fields_by_hand", "swaps size and jump", 'return {"A": (4, 25), "B": (4, 39)}', "expected the tuple (25, 4)"),
    ("fields_by_hand", "returns a tuple", "return (25, 4), (39, 4)", "should return a dict"),
    ("field_recursion", "multiplies the jump too early", """
     size, jump, start, out = 1, 1, 0.5, []
     for k, s, p, d in layers:
         jump *= s
         size, start = size + (k - 1) * d * jump, start + ((k - 1) / 2 * d - p) * jump
         out.append((size, jump, start))
     return out
     """, "field_recursion on case 2 of 3"),
    ("field_recursion", "ignores padding in start", """
     size, jump, start, out = 1, 1, 0.5, []
     for k, s, p, d in layers:
         size, start = size + (k - 1) * d * jump, start + (k - 1) / 2 * d * jump
         jump *= s
         out.append((size, jump, start))
     return out
     """, "field_recursion on case 1 of 3"),
    ("layers_to_cover", "stops one layer late at an exact fit", """
     size, jump, layers = 1, 1, 0
     while size <= target:
         size += 2 * jump
         jump *= strides[layers] if layers < len(strides) else 1
         layers += 1
     return layers
     """, "layers_to_cover on case 3 of 3"),
    ("layers_to_cover", "applies a layer's stride to its own growth", """
     size, jump, layers = 1, 1, 0
     while size < target:
         jump *= strides[layers] if layers < len(strides) else 1
         size += 2 * jump
         layers += 1
     return layers
     """, "layers_to_cover on case 2 of 3"),
    ("gradient_map", "keeps the sign of the gradient", """
     model.eval()
     x = x.detach().clone().requires_grad_()
     out = model(x)
     (grad,) = torch.autograd.grad(out[0, :, out.shape[-2] // 2, out.shape[-1] // 2].sum(), x)
     return grad[0].sum(dim=0)
     """, "gradient_map on case 1 of 1"),
    ("gradient_map", "backpropagates from the corner unit", """
     model.eval()
     x = x.detach().clone().requires_grad_()
     (grad,) = torch.autograd.grad(model(x)[0, :, 0, 0].sum(), x)
     return grad[0].abs().sum(dim=0)
     """, "gradient_map on case 1 of 1"),
]

HIDDEN_ONLY = [
    ("fields_by_hand", "gets stack B wrong", 'return {"A": (25, 4), "B": (23, 4)}', "fields_by_hand()['B']"),
    ("field_recursion", "forgets the dilation", """
     size, jump, start, out = 1, 1, 0.5, []
     for k, s, p, d in layers:
         size, start = size + (k - 1) * jump, start + ((k - 1) / 2 - p) * jump
         jump *= s
         out.append((size, jump, start))
     return out
     """, "a hidden case"),
    ("gradient_map", "assumes square feature maps", """
     model.eval()
     x = x.detach().clone().requires_grad_()
     out = model(x)
     centre = out.shape[-1] // 2
     (grad,) = torch.autograd.grad(out[0, :, centre, centre].sum(), x)
     return grad[0].abs().sum(dim=0)
     """, "hidden test input"),
    ("gradient_map", "forgets eval mode", """
     x = x.detach().clone().requires_grad_()
     out = model(x)
     (grad,) = torch.autograd.grad(out[0, :, out.shape[-2] // 2, out.shape[-1] // 2].sum(), x)
     return grad[0].abs().sum(dim=0)
     """, "a hidden case"),
]


@pytest.fixture(scope="module")
def notebook():
    return h.load(CHAPTER)


@pytest.fixture(scope="module")
def namespace(notebook):
    """The setup cell and the reference answers, run as when a submission is verified (no concept cells)."""
    return h.run_notebook(notebook)


def test_structure(notebook) -> None:
    assert h.structure_problems(notebook) == []
    assert sorted(h.solution_cells(notebook)) == sorted(EXERCISES)
    assert len(EXERCISES) >= 4


@pytest.mark.parametrize("exercise", EXERCISES)
def test_solution_passes_visible_and_hidden_checks(namespace, notebook, exercise: str) -> None:
    solution = h.solution_cells(notebook)[exercise].source
    test = h.test_cells(notebook)[f"test_{exercise}"].source
    assert h.outcome(namespace, solution, test) == "pass"


@pytest.mark.parametrize("exercise", EXERCISES)
def test_stub_fails_with_not_written_yet(namespace, notebook, exercise: str) -> None:
    stub = h.with_answer(h.solution_cells(notebook)[exercise].source, h.STUB)
    message = h.outcome(namespace, stub, h.visible(h.test_cells(notebook)[f"test_{exercise}"].source))
    assert "not written yet" in message


@pytest.mark.parametrize(("exercise", "label", "body", "words"), VISIBLE, ids=[f"{e}-{l}" for e, l, *_ in VISIBLE])
def test_visible_checks_catch_a_wrong_answer(namespace, notebook, exercise, label, body, words) -> None:
    wrong = h.with_answer(h.solution_cells(notebook)[exercise].source, body)
    message = h.outcome(namespace, wrong, h.visible(h.test_cells(notebook)[f"test_{exercise}"].source))
    assert message != "pass", f"the visible checks of {exercise} accept an answer that {label}"
    assert words in message, message
    assert "Traceback" not in message and len(message) < 800, message


@pytest.mark.parametrize(("exercise", "label", "body", "words"), HIDDEN_ONLY, ids=[f"{e}-{l}" for e, l, *_ in HIDDEN_ONLY])
def test_only_hidden_tests_catch_a_subtle_wrong_answer(namespace, notebook, exercise, label, body, words) -> None:
    wrong = h.with_answer(h.solution_cells(notebook)[exercise].source, body)
    test = h.test_cells(notebook)[f"test_{exercise}"].source
    assert h.outcome(namespace, wrong, h.visible(test)) == "pass", f"expected the visible checks to miss: {label}"
    message = h.outcome(namespace, wrong, test)
    assert message != "pass", f"the hidden tests of {exercise} accept an answer that {label}"
    assert words in message, message
