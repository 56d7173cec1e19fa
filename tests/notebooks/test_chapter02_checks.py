"""Chapter 02 (padding, stride, dilation): the autograder cells pass the solution, reject these wrong answers.

The tests are nbtools.ChapterChecks'; VISIBLE and HIDDEN_ONLY answers replace a solution block.
CORRECT answers are right by another route than the solution's (a shared ReLU, a named tuple,
sizes read from the layers' attributes): both the visible checks and the hidden tests must pass them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools import (  # noqa: E402
    ChapterChecks,
    Ran,
    autograder_source,
    grade,
    load_solution,
    solution_cells,
    verified_variant_scores,
    with_answer,
    without_hidden,
)

# What the statements forbid (running a convolution to read a size) and hold (an int, a tuple), with the words
# of course_utils.checks' sentences.
FORBIDDEN = "which this exercise forbids"


class TestChapter02(ChapterChecks):
    CHAPTER = "02_padding_stride_dilation"
    EXERCISES = ["unread_pixels", "same_padding", "transposed_output_size", "classifier", "downsampling_stack"]

    VISIBLE = [
        (
            "unread_pixels",
            "ignores the padding",
            """
         windows = (n - d * (k - 1) - 1) // s + 1
         last_read = (windows - 1) * s + d * (k - 1)
         return max(0, n - 1 - last_read)
         """,
            "unread_pixels on case 3 of 6",
        ),
        (
            "unread_pixels",
            "ignores the dilation",
            """
         windows = (n + 2 * p - k) // s + 1
         return max(0, n - 1 - ((windows - 1) * s + k - 1 - p))
         """,
            "unread_pixels on case 5 of 6",
        ),
        (
            "unread_pixels",
            "reads the answer off a real convolution",
            """
         x = torch.zeros(1, 1, 1, n + 2 * p, requires_grad=True)
         F.conv2d(x, torch.ones(1, 1, 1, k), stride=s, dilation=d).sum().backward()
         return max(0, p + n - 1 - int(x.grad.flatten().nonzero().max()))
         """,
            ["calls `F.conv2d`", FORBIDDEN],
        ),
        (
            "unread_pixels",
            "returns a float",
            """
         windows = (n + 2 * p - d * (k - 1) - 1) / s // 1 + 1
         return max(0, n - 1 - ((windows - 1) * s + d * (k - 1) - p))
         """,
            "the exercise asks for an int",
        ),
        (
            "same_padding",
            "puts the odd pixel on the left",
            """
         total = max(0, (-(-n // s) - 1) * s + d * (k - 1) + 1 - n)
         return total - total // 2, total // 2
         """,
            "same_padding on case 2 of 7",
        ),
        (
            "same_padding",
            "pads as for stride 1 whatever the stride",
            """
         total = d * (k - 1)
         return total // 2, total - total // 2
         """,
            "same_padding on case 5 of 7",
        ),
        (
            "same_padding",
            "lets the padding go negative",
            """
         total = (-(-n // s) - 1) * s + d * (k - 1) + 1 - n
         return total // 2, total - total // 2
         """,
            "same_padding on case 7 of 7",
        ),
        (
            "same_padding",
            "returns a list",
            """
         total = max(0, (-(-n // s) - 1) * s + d * (k - 1) + 1 - n)
         return [total // 2, total - total // 2]
         """,
            "the exercise asks for a tuple",
        ),
        (
            "transposed_output_size",
            "forgets output_padding",
            "return (n - 1) * s - 2 * p + d * (k - 1) + 1",
            "transposed_output_size on case 3 of 6",
        ),
        (
            "transposed_output_size",
            "uses the convolution's formula",
            "return (n + 2 * p - d * (k - 1) - 1) // s + 1",
            "transposed_output_size on case 1 of 6",
        ),
        (
            "transposed_output_size",
            "builds the layer to read the size",
            """
         layer = nn.ConvTranspose2d(1, 1, k, stride=s, padding=p, output_padding=output_padding, dilation=d)
         return layer(torch.zeros(1, 1, n, n)).shape[-1]
         """,
            ["calls `nn.ConvTranspose2d`", FORBIDDEN],
        ),
        (
            "transposed_output_size",
            "imports the course's helper",
            """
         from course_utils import conv_transpose_output_size
         return conv_transpose_output_size(n, k, s, p, output_padding, d)
         """,
            ["conv_transpose_output_size", FORBIDDEN],
        ),
        (
            "classifier",
            "treats the 5x3 kernel as 5x5",
            """
         def length(n, k, s=1, p=0, d=1):
             return (n + 2 * p - d * (k - 1) - 1) // s + 1
         h = length(length(length(length(height, 5), 2, 2), 3, 2, 1), 3, d=2)
         w = length(length(length(length(width, 5), 2, 2), 3, 2, 1), 3, d=2)
         in_features = 48 * h * w
         """,
            ["the Linear layer expects", "produces more for a 32x32 image"],
        ),
        (
            "classifier",
            "assumes square images",
            """
         def length(n, k, s=1, p=0, d=1):
             return (n + 2 * p - d * (k - 1) - 1) // s + 1
         h = length(length(length(length(height, 5), 2, 2), 3, 2, 1), 3, d=2)
         w = length(length(length(length(height, 3), 2, 2), 3, 2, 1), 3, d=2)
         in_features = 48 * h * w
         """,
            "classifier(41, 64): the Linear layer expects",
        ),
        (
            "classifier",
            "runs the features on a blank image",
            """
         in_features = features()(torch.zeros(1, 3, height, width)).numel()
         """,
            ["runs the ATen operation `convolution`", FORBIDDEN],
        ),
        (
            "classifier",
            "drops the dilation from features()",
            """
         def features():
             return nn.Sequential(
                 nn.Conv2d(3, 12, kernel_size=(5, 3)), nn.ReLU(), nn.MaxPool2d(2),
                 nn.Conv2d(12, 24, 3, stride=2, padding=1), nn.ReLU(),
                 nn.Conv2d(24, 48, 3), nn.ReLU(),
             )
         h = ((height - 4) // 2 + 1) // 2 - 2
         w = ((width - 2) // 2 + 1) // 2 - 2
         in_features = 48 * h * w
         """,
            ["layer 6 is Conv2d(24, 48, kernel_size=(3, 3), stride=(1, 1))", "keep the feature layers"],
        ),
        (
            "classifier",
            "asks trace_shapes",
            """
         table = trace_shapes(features(), (1, 3, height, width))
         in_features = 48
         """,
            ["calls `trace_shapes`", FORBIDDEN],
        ),
        (
            "downsampling_stack",
            "pads nothing",
            """
         if n_out >= n_in:
             raise ValueError("n_out must be smaller")
         layers, n, c_in, c_out = [], n_in, 3, channels
         while n > n_out:
             layers += [nn.Conv2d(c_in, c_out, 3, stride=2), nn.ReLU()]
             n, c_in, c_out = (n - 3) // 2 + 1, c_out, 2 * c_out
         return nn.Sequential(*layers)
         """,
            "use only Conv2d(..., 3, stride=2, padding=1)",
        ),
        (
            "downsampling_stack",
            "keeps the channels constant",
            """
         if n_out >= n_in:
             raise ValueError("n_out must be smaller")
         layers, n, c_in = [], n_in, 3
         while n > n_out:
             layers += [nn.Conv2d(c_in, channels, 3, stride=2, padding=1), nn.ReLU()]
             n, c_in = (n - 1) // 2 + 1, channels
         if n != n_out:
             raise ValueError("unreachable")
         return nn.Sequential(*layers)
         """,
            "every later one doubles them",
        ),
        (
            "downsampling_stack",
            "halves once too often",
            """
         layers, n, c_in, c_out = [], n_in, 3, channels
         while n >= n_out:
             layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.ReLU()]
             n, c_in, c_out = (n - 1) // 2 + 1, c_out, 2 * c_out
         return nn.Sequential(*layers)
         """,
            "maps an input of shape (2, 3, 224, 224)",
        ),
        (
            "downsampling_stack",
            "returns an empty stack when n_out equals n_in",
            """
         layers, n, c_in, c_out = [], n_in, 3, channels
         while n > n_out:
             layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.ReLU()]
             n, c_in, c_out = (n - 1) // 2 + 1, c_out, 2 * c_out
         if n != n_out:
             raise ValueError("unreachable")
         return nn.Sequential(*layers)
         """,
            "downsampling_stack(32, 32) returned a stack, but n_out is not smaller than n_in",
        ),
    ]

    HIDDEN_ONLY = [
        (
            "unread_pixels",
            "believes a 1x1 kernel reads every pixel",
            """
         if k == 1:
             return 0
         windows = (n + 2 * p - d * (k - 1) - 1) // s + 1
         return max(0, n - 1 - ((windows - 1) * s + d * (k - 1) - p))
         """,
            "unread_pixels on a hidden case",
        ),
        (
            "same_padding",
            "forgets the dilation when the stride is above 1",
            """
         span = d * (k - 1) + 1 if s == 1 else k
         total = max(0, (-(-n // s) - 1) * s + span - n)
         return total // 2, total - total // 2
         """,
            "same_padding on a hidden case",
        ),
        (
            "transposed_output_size",
            "believes a 1x1 transposed convolution keeps the size",
            """
         if k == 1:
             return n
         return (n - 1) * s - 2 * p + d * (k - 1) + 1 + output_padding
         """,
            "transposed_output_size on a hidden case",
        ),
        (
            "downsampling_stack",
            "halves sizes rounding down",
            """
         if n_out >= n_in:
             raise ValueError("n_out must be smaller")
         layers, n, c_in, c_out = [], n_in, 3, channels
         while n > n_out:
             layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.ReLU()]
             n, c_in, c_out = n // 2, c_out, 2 * c_out
         if n != n_out:
             raise ValueError("unreachable")
         return nn.Sequential(*layers)
         """,
            "downsampling_stack on a hidden case maps an input",
        ),
    ]

    # Right answers by other routes than the solution's: (exercise, label, answer).
    CORRECT = [
        (
            "downsampling_stack",
            "reuses one nn.ReLU between the convolutions",
            """
         if n_out >= n_in:
             raise ValueError("n_out must be smaller than n_in")
         relu = nn.ReLU()
         layers, n, c_in, c_out = [], n_in, 3, channels
         while n > n_out:
             layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), relu]
             n, c_in, c_out = (n + 1) // 2, c_out, 2 * c_out
         if n != n_out:
             raise ValueError("n_out cannot be reached")
         return nn.Sequential(*layers)
         """,
        ),
        (
            "same_padding",
            "returns a named tuple",
            """
         from collections import namedtuple
         import math
         Padding = namedtuple("Padding", "left right")
         total = max(0, (math.ceil(n / s) - 1) * s + d * (k - 1) + 1 - n)
         return Padding(total // 2, total - total // 2)
         """,
        ),
        (
            "classifier",
            "reads each layer's settings instead of writing them out",
            """
         def pair(v):
             return v if isinstance(v, tuple) else (v, v)
         size = [height, width]
         for layer in features():
             if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
                 k, s, p, d = pair(layer.kernel_size), pair(layer.stride), pair(layer.padding), pair(layer.dilation)
                 size = [(n + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i, n in enumerate(size)]
             if isinstance(layer, nn.Conv2d):
                 channels = layer.out_channels
         in_features = channels * size[0] * size[1]
         """,
        ),
        (
            "unread_pixels",
            "computes the remainder of the floor division",
            """
         remainder = (n + 2 * p - d * (k - 1) - 1) % s
         return max(0, remainder - p)
         """,
        ),
    ]

    @pytest.mark.parametrize(
        "task,label,answer", CORRECT, ids=[f"{e}-{lbl.replace(' ', '_')}" for e, lbl, _ in CORRECT]
    )
    def test_other_correct_routes_pass(self, notebook, task: str, label: str, answer: str) -> None:
        cell = with_answer(solution_cells(notebook)[task].source, answer)
        for hidden in (False, True):
            ran = grade(notebook, task, cell, hidden=hidden)
            assert isinstance(ran, Ran), f"a correct {task} that {label} is rejected: {ran}"
            assert ran.stdout.startswith("✓ ") and ran.stderr == "", (ran.stdout, ran.stderr)

    def test_visible_checks_do_not_give_the_classifier_size_away(self, notebook) -> None:
        """A wrong in_features is told "fewer"/"more", never the number features() produces (issue 10, 02 Exercise 4)."""
        wrong = with_answer(solution_cells(notebook)["classifier"].source, "in_features = 48 * 7 * 7")
        failed = grade(notebook, "classifier", wrong, hidden=False)
        message = str(failed)
        assert "2352" in message and "fewer" in message, message
        for right in ("576", "48 * 3 * 4", "(1, 48, 3, 4)"):  # 48 x 3 x 4 values for 32x32: never shown
            assert right not in message, message
        visible = without_hidden(autograder_source(notebook, "classifier"))
        assert "in_features = " not in visible and "576" not in visible

    def test_exercise_5_states_what_happens_when_n_out_equals_n_in(self, notebook) -> None:
        """The statement names n_out >= n_in (issue 10: it was unspecified and the solution raised)."""
        statement = next(c.source for c in notebook.cells if c.cell_type == "markdown" and "Exercise 5" in c.source)
        assert "not smaller than `n_in`" in statement and "ValueError" in statement


# ---------------------------------------------------------------- verification agrees with the notebook


@pytest.fixture(scope="module")
def verified_variants() -> dict[str, str | None]:
    """Every CORRECT, VISIBLE and HIDDEN_ONLY answer judged by grading/02_padding_stride_dilation.py.

    As `python -m course_utils.grading verify` does (nbtools.verified_variant_scores): the answer's cell
    runs in the sandboxed child, the spec's rules (forbidden routes, return kinds) and verdict are applied
    here. One child for all. Maps ``"<kind>:<exercise>:<label>"`` to None (full marks) or the sentence
    that scores it 0.
    """
    cells = solution_cells(load_solution(TestChapter02.CHAPTER))
    variants = {f"correct:{e}:{label}": (e, answer) for e, label, answer in TestChapter02.CORRECT}
    variants.update(
        {
            f"wrong:{e}:{label}": (e, answer)
            for e, label, answer, _ in [*TestChapter02.VISIBLE, *TestChapter02.HIDDEN_ONLY]
        }
    )
    scores = verified_variant_scores(
        TestChapter02.CHAPTER, {key: (e, with_answer(cells[e].source, answer)) for key, (e, answer) in variants.items()}
    )
    return {key: None if points > 0 else reason for key, (points, reason) in scores.items()}


@pytest.mark.parametrize(
    "task,label",
    [(e, lbl) for e, lbl, _ in TestChapter02.CORRECT],
    ids=[f"{e}-{lbl.replace(' ', '_')}" for e, lbl, _ in TestChapter02.CORRECT],
)
def test_verification_gives_other_correct_routes_full_marks(verified_variants, task: str, label: str) -> None:
    """Issue 10, defect 6: a downsampling_stack sharing one nn.ReLU, a named tuple... are right in verification too."""
    assert verified_variants[f"correct:{task}:{label}"] is None, verified_variants[f"correct:{task}:{label}"]


WRONG_ANSWERS = [(e, lbl, words) for e, lbl, _, words in [*TestChapter02.VISIBLE, *TestChapter02.HIDDEN_ONLY]]


@pytest.mark.parametrize(
    "task,label,words", WRONG_ANSWERS, ids=[f"{e}-{lbl.replace(' ', '_')}" for e, lbl, _ in WRONG_ANSWERS]
)
def test_verification_scores_every_wrong_answer_zero(verified_variants, task: str, label: str, words) -> None:
    why = verified_variants[f"wrong:{task}:{label}"]
    assert why, f"verification gives full marks to a {task} that {label}"
    if FORBIDDEN in (words if isinstance(words, list) else [words]):  # the same sentence as the notebook's check
        assert FORBIDDEN in why and all(w in why for w in words), why


def test_the_release_does_not_state_the_answers_it_asks_for() -> None:
    """Issue 10: 02 Exercises 1-3 gave their answer in the prose or the hint; the learner now derives it.

    Each pattern finds the answer's formula in the instructor's solution (so the test can fail)
    and must find it nowhere in the student release: not in the prose, a hint or a visible check.
    """
    import re

    import nbformat
    from nbtools import ROOT

    chapter = TestChapter02.CHAPTER
    read = lambda folder: "\n".join(  # noqa: E731
        c.source for c in nbformat.read(str(ROOT / folder / chapter / f"{chapter}.ipynb"), as_version=4).cells
    )
    solution, release = read("solutions"), read("notebooks")
    answers = {
        "the transposed size": r"\(n\s*-\s*1\)\s*\*?\s*s",  # (n - 1) s - 2p + d(k - 1) + 1 + output_padding
        "the padding for ceil(n / s) outputs": r"\(\s*(ceil|wanted|⌈)[^)]*-\s*1\s*\)\s*\*?\s*s",
        "the last position read": r"-\s*1\)\s*\*\s*s\s*\+\s*d\s*\*\s*\(k\s*-\s*1\)\s*-\s*p",
    }
    for what, pattern in answers.items():
        assert re.search(pattern, solution), f"the pattern for {what} does not find it in the solution"
        found = re.search(pattern, release)
        assert not found, f"the release states {what}: {found.group(0)!r}"
