"""Quiz: a self-check (not graded); answers stored as keys, feedback only after an attempt, Enter submits."""

import ast
import base64
import importlib.util
import json
from pathlib import Path

import pytest
from widget_helpers import png_array

from course_utils.errors import CourseError
from course_utils.widgets import Quiz
from course_utils.widgets.quiz import decode_answer, encode_answer

ROOT = Path(__file__).resolve().parents[2]
EXPLAIN_WIDTH = "32 - 3 + 1 = 30."
EXPLAIN_SOBEL = "sobel_x responds to left-right changes."
QUESTIONS = [
    {"question": "A 3x3 kernel on a 32x32 image, no padding: output width?", "key": encode_answer(30, EXPLAIN_WIDTH)},
    {
        "question": "Which kernel detects vertical edges?",
        "options": ["box_blur", "sobel_x", "identity"],
        "key": encode_answer(1, EXPLAIN_SOBEL),
    },
]


def widget_state_text(widget) -> str:
    """Everything the front end receives about a widget tree (its synced state), as one string."""
    parts = [json.dumps(widget.get_state(), default=str)]
    for child in getattr(widget, "children", ()) or ():
        parts.append(widget_state_text(child))
    return "\n".join(parts)


def test_key_round_trip_and_hides_the_answer_from_a_glance():
    key = encode_answer(608, "8 filters of shape (3, 5, 5) give 600 weights, plus 8 biases.", tolerance=0)
    assert key.startswith("cq1.") and "608" not in key and "weights" not in key and "answer" not in key
    assert decode_answer(key) == {
        "answer": 608,
        "explain": "8 filters of shape (3, 5, 5) give 600 weights, plus 8 biases.",
        "tolerance": 0.0,
    }
    assert decode_answer(encode_answer(["stride", "the stride"], "s"))["answer"] == ["stride", "the stride"]
    for bad in ["608", "cq1.!!!not-base64", "cq1." + base64.urlsafe_b64encode(b"zzz").decode(), key[:20]]:
        with pytest.raises(CourseError):
            decode_answer(bad)


def test_feedback_and_explanation_only_after_an_attempt():
    q = Quiz(QUESTIONS)
    assert q.answers == [None, None] and q.score() == 0
    before = widget_state_text(q.view)
    assert EXPLAIN_SOBEL not in before and EXPLAIN_WIDTH not in before and "right so far" not in before
    q._inputs[1].value = 0  # the learner clicks the wrong option
    assert "Not quite" in q._feedback[1].value and EXPLAIN_SOBEL in q._feedback[1].value
    assert "1 right" not in q.tally.value and "0 of 2 right so far" in q.tally.value
    q._inputs[1].value = 1
    assert "Right" in q._feedback[1].value and q.answers[1] == 1 and q.score() == 1
    assert "1 of 2 right so far" in q.tally.value


def test_enter_submits_a_typed_answer():
    """The text box sends its value on Enter (continuous_update=False); the value arriving is the attempt."""
    q = Quiz(QUESTIONS)
    box = q._inputs[0]
    assert box.continuous_update is False  # typing alone sends nothing: a half-typed "3" is not judged
    box.value = "30"  # what the front end syncs when the learner presses Enter
    assert q.answers[0] == 30.0 and "Right" in q._feedback[0].value and EXPLAIN_WIDTH in q._feedback[0].value
    box.value = "31"
    assert "Not quite" in q._feedback[0].value and q.score() == 0


def test_numeric_answers_with_tolerance_and_bad_text():
    q = Quiz([{"question": "pi?", "key": encode_answer(3.14159, "about 3.14", tolerance=0.01)}])
    assert q.answer(0, "3.14") is True and q._inputs[0].value == "3.14"
    assert q.answer(0, 3.2) is False and q.answers == [3.2] and q._inputs[0].value == "3.2"  # shown in the box too
    assert q.answer(0, "three") is None and "not a number" in q._feedback[0].value and q.answers == [None]
    assert q.answer(0, "") is None and q._feedback[0].value == ""


def test_text_answers_ignore_case_and_spaces():
    q = Quiz([{"question": "What sets how far the window jumps?", "key": encode_answer(["stride", "the stride"], "s")}])
    assert q._inputs[0].placeholder == "type your answer"
    assert q.answer(0, "  The   Stride ") is True
    assert q.answer(0, "padding") is False


def test_answer_in_code_out_of_range_is_one_clear_sentence():
    q = Quiz(QUESTIONS)
    with pytest.raises(CourseError, match="options 0 to 2"):
        q.answer(1, 3)
    with pytest.raises(CourseError, match="questions 0 to 1"):
        q.answer(2, 1)
    assert q.answers == [None, None]


def test_plain_answers_still_work_for_a_quiz_built_in_code():
    q = Quiz([{"question": "Which?", "options": ["a", "b"], "answer": 1, "explain": "b."}])
    assert q.answer(0, 1) is True and q._inputs[0].value == 1


def test_the_static_picture_does_not_reveal_the_answer():
    """Same questions, different right answers: the picture shown without a front end is pixel-identical."""
    pictures = []
    for right in (0, 2):
        q = Quiz(
            [
                {
                    "question": "Which kernel detects vertical edges?",
                    "options": ["box_blur", "sobel_x", "identity"],
                    "key": encode_answer(right, f"because {right}"),
                }
            ]
        )
        pictures.append(png_array(base64.b64decode(q._repr_mimebundle_()["image/png"])))
        assert "because" not in q._repr_mimebundle_()["text/plain"]
    assert pictures[0].std() > 5 and (pictures[0] == pictures[1]).all()


def test_not_graded_no_check_that_stops_run_all():
    assert not hasattr(Quiz, "check")  # a quiz never raises in a notebook's Run All
    assert "not graded" in Quiz.__doc__ and "autograder" not in (Quiz.__doc__ + Quiz.score.__doc__)
    assert "not graded" in Quiz(QUESTIONS)._summary()


@pytest.mark.parametrize(
    "bad",
    [
        [],
        [{"question": "x"}],
        [{"question": "x", "options": ["a"], "answer": 3}],
        [{"question": "x", "answer": None}],
        [{"question": "x", "key": "cq1.AAAA"}],
        [{"question": "x", "answer": 1, "key": encode_answer(1)}],
        [{"question": "x", "options": ["a", "b"], "key": encode_answer(True)}],
    ],
)
def test_bad_questions_raise_course_error(bad):
    with pytest.raises(CourseError):
        Quiz(bad)


def load_script():
    spec = importlib.util.spec_from_file_location("encode_quiz", ROOT / "scripts" / "encode_quiz.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_encode_quiz_script_rewrites_a_plain_cell_to_keys():
    script = load_script()
    plain = [
        {"question": "Output width?", "answer": 30, "tolerance": 0, "explain": EXPLAIN_WIDTH},
        {
            "question": "Which kernel?",
            "options": ["box_blur", "sobel_x", "identity"],
            "answer": 1,
            "explain": EXPLAIN_SOBEL,
        },
    ]
    source = "from course_utils.widgets import Quiz\n\nQuiz(" + repr(plain) + ")\n"
    new = script.rewrite(source)
    assert new.startswith("from course_utils.widgets import Quiz\n\nQuiz([") and new.endswith("])\n")
    assert EXPLAIN_WIDTH not in new and EXPLAIN_SOBEL not in new and '"answer"' not in new and '"explain"' not in new
    rewritten = ast.literal_eval(script.quiz_calls(new)[0].args[0])
    assert [q["question"] for q in rewritten] == ["Output width?", "Which kernel?"]
    assert rewritten[1]["options"] == ["box_blur", "sobel_x", "identity"]
    assert Quiz(rewritten).questions == Quiz(plain).questions  # the same quiz
    assert script.rewrite(new) == new  # already encoded: left alone


def quiz_cells(folder: str):
    nbformat = pytest.importorskip("nbformat")
    script = load_script()
    for path in sorted((ROOT / folder).glob("*/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                for call in script.quiz_calls(cell.source):
                    yield path, ast.literal_eval(call.args[0])


@pytest.mark.parametrize("folder", ["solutions", "notebooks"])
def test_chapter_quizzes_keep_answers_out_of_view(folder):
    """Issue 10: the cell above a quiz does not show its answers or explanations; every key decodes to a valid quiz."""
    found = 0
    for path, questions in quiz_cells(folder):
        found += 1
        plain = [q["question"] for q in questions if "answer" in q or "explain" in q]
        assert not plain, (
            f"{path.relative_to(ROOT)}: plain answers in {plain}; run python scripts/encode_quiz.py {path.relative_to(ROOT)}"
        )
        Quiz(questions)
    assert found, f"no Quiz cell found under {folder}/"
