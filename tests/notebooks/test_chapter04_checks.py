"""Chapter 04 (receptive fields): the autograder cells pass the solution, reject these wrong answers.

The tests are nbtools.ChapterChecks'; VISIBLE and HIDDEN_ONLY answers replace a solution block.
Beyond them: right answers in another form (a named tuple) pass; Exercise 1's check never shows the
answer; the chapter computes what its prose says (trinomial path counts); and verification refuses
a gradient_map that leaves the caller's tensor changed and results of the wrong kind.
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
    with_answer,
)

SPAN = """
for k, s, p, d in reversed(layers):
    first, last = first * s - p, last * s - p + d * (k - 1)
return first, last
"""
GRADIENT = """
model.eval()
x = x.detach().clone().requires_grad_()
out = model(x)
(grad,) = torch.autograd.grad(out[0, :, out.shape[-2] // 2, out.shape[-1] // 2].sum(), x)
return grad[0].abs().sum(dim=0)
"""
# Defect 6: the caller's tensor left with requires_grad / .grad set (this passed both graders before).
GRADIENT_ON_CALLERS_X = """
model.eval()
x.requires_grad_()
out = model(x)
out[0, :, out.shape[-2] // 2, out.shape[-1] // 2].sum().backward()
return x.grad[0].abs().sum(dim=0)
"""
GRADIENT_LEAVES_GRAD = """
model.eval()
x.requires_grad_(True)
out = model(x)
out[0, :, out.shape[-2] // 2, out.shape[-1] // 2].sum().backward()
result = x.grad[0].abs().sum(dim=0).clone()
x.requires_grad_(False)
return result
"""


class TestChapter04(ChapterChecks):
    CHAPTER = "04_receptive_fields"
    EXERCISES = ["fields_by_hand", "input_span", "layers_to_cover", "gradient_map"]

    VISIBLE = [
        (
            "fields_by_hand",
            "forgets the dilation",
            'return {"A": (17, 4), "B": (23, 4)}',
            ["fields_by_hand()['A'] = (17, 4)", "the size is not right (the jump is right)"],
        ),
        (
            "fields_by_hand",
            "swaps size and jump",
            'return {"A": (4, 25), "B": (4, 39)}',
            "the size and the jump are not right",
        ),
        ("fields_by_hand", "returns a tuple", "return (25, 4), (39, 4)", "should return a dict"),
        (
            "fields_by_hand",
            "floats instead of ints",
            'return {"A": (25.0, 4.0), "B": (39.0, 4.0)}',
            "should be a tuple of two ints",
        ),
        (
            "input_span",
            "walks the layers from the first up",
            """
         for k, s, p, d in layers:
             first, last = first * s - p, last * s - p + d * (k - 1)
         return first, last
         """,
            "input_span on case 2 of 4",
        ),
        (
            "input_span",
            "forgets the padding",
            """
         for k, s, p, d in reversed(layers):
             first, last = first * s, last * s + d * (k - 1)
         return first, last
         """,
            "input_span on case 1 of 4",
        ),
        (
            "input_span",
            "assumes 'same' padding instead of the given one",
            """
         for k, s, p, d in reversed(layers):
             p = d * (k - 1) // 2
             first, last = first * s - p, last * s - p + d * (k - 1)
         return first, last
         """,
            "input_span on case 2 of 4",
        ),
        (
            "input_span",
            "forgets the dilation",
            """
         for k, s, p, d in reversed(layers):
             first, last = first * s - p, last * s - p + (k - 1)
         return first, last
         """,
            "input_span on case 4 of 4",
        ),
        ("input_span", "returns a list", "return list(" + "(0, 0))", "input_span"),
        (
            "layers_to_cover",
            "stops one layer late at an exact fit",
            """
         size, jump, layers = 1, 1, 0
         while size <= target:
             size += 2 * jump
             jump *= strides[layers] if layers < len(strides) else 1
             layers += 1
         return layers
         """,
            "layers_to_cover on case 3 of 3",
        ),
        (
            "layers_to_cover",
            "applies a layer's stride to its own growth",
            """
         size, jump, layers = 1, 1, 0
         while size < target:
             jump *= strides[layers] if layers < len(strides) else 1
             size += 2 * jump
             layers += 1
         return layers
         """,
            "layers_to_cover on case 2 of 3",
        ),
        (
            "layers_to_cover",
            "returns a tensor",
            """
         size, jump, layers = 1, 1, 0
         while size < target:
             size += 2 * jump
             jump *= strides[layers] if layers < len(strides) else 1
             layers += 1
         return torch.tensor(layers)
         """,
            ["layers_to_cover", "tensor", "int"],
        ),
        (
            "gradient_map",
            "keeps the sign of the gradient",
            GRADIENT.replace("grad[0].abs().sum", "grad[0].sum"),
            "gradient_map on case 1 of 2",
        ),
        (
            "gradient_map",
            "backpropagates from the corner unit",
            GRADIENT.replace("out[0, :, out.shape[-2] // 2, out.shape[-1] // 2]", "out[0, :, 0, 0]"),
            "gradient_map on case 1 of 2",
        ),
        (
            "gradient_map",
            "forgets eval mode",
            GRADIENT.replace("model.eval()\n", ""),
            ["gradient_map on case 2 of 2", "model.eval()"],
        ),
        ("gradient_map", "sets requires_grad on the caller's x", GRADIENT_ON_CALLERS_X, ["gradient_map", "`x`"]),
        ("gradient_map", "leaves a .grad on the caller's x", GRADIENT_LEAVES_GRAD, ["gradient_map", "`x`"]),
    ]

    HIDDEN_ONLY = [
        (
            "input_span",
            "skips 1x1 layers, as if they could not matter",
            """
         for k, s, p, d in reversed(layers):
             if k == 1:
                 continue
             first, last = first * s - p, last * s - p + d * (k - 1)
         return first, last
         """,
            ["a hidden case", "1x1"],
        ),
        (
            "fields_by_hand",
            "gets stack B wrong",
            'return {"A": (25, 4), "B": (23, 4)}',
            "fields_by_hand()['B'] = (23, 4): the size is not right",
        ),
        (
            "layers_to_cover",
            "ignores the strides after the third",
            """
         size, jump, layers = 1, 1, 0
         while size < target:
             size += 2 * jump
             jump *= strides[layers] if layers < min(len(strides), 3) else 1
             layers += 1
         return layers
         """,
            "a hidden case",
        ),
        (
            "gradient_map",
            "assumes square feature maps",
            GRADIENT.replace(
                "out[0, :, out.shape[-2] // 2, out.shape[-1] // 2]", "out[0, :, out.shape[-1] // 2, out.shape[-1] // 2]"
            ),
            "hidden",
        ),
    ]

    def test_exercise_1_never_shows_the_answer(self, notebook) -> None:
        """Defect 7: the visible check used to print 'expected the tuple (25, 4)'."""
        for wrong in (
            'return {"A": (17, 4), "B": (23, 4)}',
            'return {"A": (25, 3), "B": (23, 4)}',
            'return {"A": (4, 25), "B": (4, 39)}',
        ):
            for hidden in (False, True):
                message = str(
                    grade(
                        notebook,
                        "fields_by_hand",
                        with_answer(solution_cells(notebook)["fields_by_hand"].source, wrong),
                        hidden=hidden,
                    )
                )
                assert "not right" in message and "(25, 4)" not in message and "(39, 4)" not in message, message
                assert "25 " not in message.replace("(4, 25)", "") and "39" not in message.replace("(4, 39)", ""), (
                    message
                )

    def test_a_named_tuple_is_a_right_answer(self, notebook) -> None:
        """Defect 6: a correct answer returning named tuples scored 0; a tuple subclass is a tuple."""
        answer = with_answer(
            solution_cells(notebook)["input_span"].source,
            SPAN.replace(
                "return first, last",
                "from collections import namedtuple\nreturn namedtuple('Span', 'first last')(first, last)",
            ),
        )
        for hidden in (False, True):
            ran = grade(notebook, "input_span", answer, hidden=hidden)
            assert isinstance(ran, Ran), f"a named tuple is refused: {ran}"

    def test_the_chapter_computes_what_its_prose_says(self, notebook) -> None:
        """Trinomial, not binomial: paths through L 3-wide layers are the coefficients of (1 + x + x^2)^L."""
        text = "\n".join(c.source for c in notebook.cells)
        assert "binomial" not in text.replace("trinomial", ""), "the chapter still says binomial"
        assert "(1 + x + x^2)^L" in text and "**Think.**" in text
        ns = namespace(notebook, hyper=True)
        run_cell(next(c.source for c in notebook.cells if c.id == "erf-paths"), ns, "erf-paths")
        assert ns["paths"][0, 0].tolist() == [1, 4, 10, 16, 19, 16, 10, 4, 1]
        assert ns["coefficients"].tolist() == [1, 4, 10, 16, 19, 16, 10, 4, 1]

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
        assert quiz.questions[0]["answer"] == 1 + 6 * 2  # 6 stacked 3x3 layers
        assert answer_with_keys(quiz) == len(quiz.questions)


def test_verification_refuses_a_changed_input_and_a_result_of_the_wrong_kind() -> None:
    """Defect 6: gradient_map leaving requires_grad/.grad on the caller's x passed verification; so did a tensor
    where an int is asked. A named tuple, a right answer, must keep its points."""
    chapter = TestChapter04.CHAPTER
    nb = load_solution(chapter)
    cells = solution_cells(nb)
    as_tensor = next(
        answer
        for exercise, label, answer, _ in TestChapter04.VISIBLE
        if (exercise, label) == ("layers_to_cover", "returns a tensor")
    )
    answers = {
        "gradient_map": with_answer(cells["gradient_map"].source, GRADIENT_ON_CALLERS_X),
        "layers_to_cover": with_answer(cells["layers_to_cover"].source, as_tensor),
        "input_span": with_answer(
            cells["input_span"].source,
            SPAN.replace(
                "return first, last",
                "from collections import namedtuple\nreturn namedtuple('Span', 'first last')(first, last)",
            ),
        ),
    }
    scores = verified_scores(chapter, answers)
    points, reason = scores["test_gradient_map"]
    assert points == 0 and "`x`" in reason, reason
    points, reason = scores["test_layers_to_cover"]
    assert points == 0 and "tensor" in reason, reason
    assert scores["test_input_span"][0] > 0, scores["test_input_span"]
    assert scores["test_fields_by_hand"][0] > 0
