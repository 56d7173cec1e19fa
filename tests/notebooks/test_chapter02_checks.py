"""Chapter 02's autograder cells: the solution passes, the stub and wrong answers fail with readable messages.

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

CHAPTER = "02_padding_stride_dilation"
EXERCISES = ["output_size", "transposed_output_size", "same_padding", "fix_in_features", "downsampling_stack"]

# (exercise, label, solution body, words the CheckFailed message must contain)
VISIBLE = [
    ("output_size", "rounds up", "return -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1", "output_size on case"),
    ("output_size", "ignores dilation", "return (n + 2 * p - k) // s + 1", "expected the number"),
    ("transposed_output_size", "forgets output_padding",
     "return (n - 1) * s - 2 * p + d * (k - 1) + 1", "transposed_output_size on case"),
    ("transposed_output_size", "uses the conv formula", "return (n + 2 * p - d * (k - 1) - 1) // s + 1", "expected"),
    ("same_padding", "ignores dilation", "return (k - 1) // 2", "same_padding on case 4 of 4"),
    ("same_padding", "never refuses", "return d * (k - 1) // 2", "raise ValueError instead"),
    ("fix_in_features", "keeps the wrong in_features", "in_features = 48 * 7 * 7", "raised RuntimeError"),
    ("fix_in_features", "forgets the channels", "in_features = 3 * 3", "raised RuntimeError"),
    ("downsampling_stack", "pads nothing", """
     layers, n, c_in = [], n_in, 3
     while n > n_out:
         layers += [nn.Conv2d(c_in, channels, 3, stride=2), nn.ReLU()]
         n, c_in = (n - 3) // 2 + 1, channels
     return nn.Sequential(*layers)
     """, "use only Conv2d(..., 3, stride=2, padding=1)"),
    ("downsampling_stack", "halves once too often", """
     layers, n, c_in = [], n_in, 3
     while n >= n_out:
         layers += [nn.Conv2d(c_in, channels, 3, stride=2, padding=1), nn.ReLU()]
         n, c_in = (n - 1) // 2 + 1, channels
     return nn.Sequential(*layers)
    """, "maps an input of shape (2, 3, 224, 224)"),
]

HIDDEN_ONLY = [
    ("output_size", "believes a 1x1 kernel always keeps the size", """
     if k == 1:
         return n
     return (n + 2 * p - d * (k - 1) - 1) // s + 1
     """, "a hidden case"),
    ("same_padding", "refuses every even kernel, even with even dilation", """
     if k % 2 == 0:
         raise ValueError("even kernel")
     return d * (k - 1) // 2
     """, "a hidden test input"),
    ("fix_in_features", "pools to 7x7 instead of fixing in_features", """
     in_features = 48 * 7 * 7
     return nn.Sequential(features(), nn.AdaptiveAvgPool2d(7), nn.Flatten(), nn.Linear(in_features, 10))
     """, "AdaptiveAvgPool2d"),
    ("downsampling_stack", "hard-codes the 224 -> 7 answer", """
     layers = [nn.Conv2d(3, channels, 3, stride=2, padding=1), nn.ReLU()]
     for _ in range(4):
         layers += [nn.Conv2d(channels, channels, 3, stride=2, padding=1), nn.ReLU()]
     return nn.Sequential(*layers)
     """, "hidden case"),
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
