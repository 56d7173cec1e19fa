"""Chapter 03's autograder cells: the solution passes, the stub and wrong answers fail with readable messages.

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

CHAPTER = "03_pooling"
EXERCISES = ["max_pool2d", "avg_pool2d", "global_avg_pool", "mixed_pool", "prediction_consistency"]

# (exercise, label, solution body, words the CheckFailed message must contain)
VISIBLE = [
    ("max_pool2d", "pads with zeros", """
     stride = kernel_size if stride is None else stride
     x = F.pad(x, (padding, padding, padding, padding))
     return x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride).amax(dim=(-2, -1))
     """, "max_pool2d on case 3 of 3"),
    ("max_pool2d", "ignores the stride", """
     x = F.pad(x, (padding, padding, padding, padding), value=float("-inf"))
     return x.unfold(2, kernel_size, kernel_size).unfold(3, kernel_size, kernel_size).amax(dim=(-2, -1))
     """, "case 2 of 3"),
    ("avg_pool2d", "leaves padded cells out of the mean", """
     stride = kernel_size if stride is None else stride
     ones = F.pad(torch.ones_like(x), (padding,) * 4)
     x = F.pad(x, (padding,) * 4)
     cut = lambda t: t.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride).sum(dim=(-2, -1))
     return cut(x) / cut(ones)
     """, "avg_pool2d on case 3 of 3"),
    ("avg_pool2d", "forgets the padding", """
     stride = kernel_size if stride is None else stride
     return x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride).mean(dim=(-2, -1))
     """, "has shape"),
    ("global_avg_pool", "keeps H and W", "return x.mean(dim=(2, 3), keepdim=True)", "4 dimensions where 2"),
    ("global_avg_pool", "takes the maximum", "return x.amax(dim=(2, 3))", "differs from the expected values"),
    ("mixed_pool", "weights both poolings by a", """
     return self.a * F.max_pool2d(x, self.kernel_size, self.stride) + self.a * F.avg_pool2d(x, self.kernel_size, self.stride)
     """, "MixedPool2d(2, None, a=0.25) output"),
    ("mixed_pool", "swaps max and average", """
     return (1 - self.a) * F.max_pool2d(x, self.kernel_size, self.stride) + self.a * F.avg_pool2d(x, self.kernel_size, self.stride)
     """, "MixedPool2d(2, None, a=0.25) output"),
    ("prediction_consistency", "counts changes instead of agreements", """
     model.eval()
     with torch.no_grad():
         base = model(x).argmax(dim=1)
         same = [model(torch.roll(x, s, dims=-1)).argmax(dim=1) != base for s in range(1, max_shift + 1)]
     return torch.stack(same).float().mean().item()
     """, "prediction_consistency on case 1 of 1"),
    ("prediction_consistency", "returns a count", """
     model.eval()
     with torch.no_grad():
         base = model(x).argmax(dim=1)
         return sum(int((model(torch.roll(x, s, dims=-1)).argmax(dim=1) == base).sum()) for s in range(1, max_shift + 1))
     """, "expected the number"),
]

HIDDEN_ONLY = [
    ("max_pool2d", "assumes square inputs", """
     stride = kernel_size if stride is None else stride
     x = F.pad(x, (padding, padding, padding, padding), value=float("-inf"))
     n_out = (x.shape[2] - kernel_size) // stride + 1
     out = torch.empty(x.shape[0], x.shape[1], n_out, n_out, dtype=x.dtype)
     for i in range(n_out):
         for j in range(n_out):
             window = x[:, :, i * stride:i * stride + kernel_size, j * stride:j * stride + kernel_size]
             out[:, :, i, j] = window.amax(dim=(-2, -1))
     return out
     """, "hidden test input"),
    ("avg_pool2d", "always steps by the window size", """
     x = F.pad(x, (padding,) * 4)
     return x.unfold(2, kernel_size, kernel_size).unfold(3, kernel_size, kernel_size).mean(dim=(-2, -1))
     """, "a hidden case"),
    ("global_avg_pool", "assumes square maps", "return x.sum(dim=(2, 3)) / x.shape[2] ** 2", "a hidden case"),
    ("mixed_pool", "turns a into a number", """
     a = self.a.item()
     return a * F.max_pool2d(x, self.kernel_size, self.stride) + (1 - a) * F.avg_pool2d(x, self.kernel_size, self.stride)
     """, "self.a.item()"),
    ("prediction_consistency", "forgets eval mode", """
     with torch.no_grad():
         base = model(x).argmax(dim=1)
         same = [model(torch.roll(x, s, dims=-1)).argmax(dim=1) == base for s in range(1, max_shift + 1)]
     return torch.stack(same).float().mean().item()
     """, "model.eval()"),
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
