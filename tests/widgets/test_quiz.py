"""Quiz: immediate feedback, answers an autograder can read, one-line problems."""

import pytest

from course_utils.errors import CheckFailed, CourseError
from course_utils.widgets import Quiz

QUESTIONS = [
    {"question": "A 3x3 kernel on a 32x32 image, no padding: output width?", "answer": 30, "tolerance": 0,
     "explain": "32 - 3 + 1 = 30."},
    {"question": "Which kernel detects vertical edges?", "options": ["box_blur", "sobel_x", "identity"], "answer": 1,
     "explain": "sobel_x responds to left-right changes."},
]


def test_clicking_gives_immediate_feedback_and_score():
    q = Quiz(QUESTIONS)
    assert q.answers == [None, None] and q.score() == 0
    q._inputs[1].value = 0  # the learner clicks the wrong option
    assert "Not quite" in q._feedback[1].value and "sobel_x responds" in q._feedback[1].value
    q._inputs[1].value = 1
    assert "Correct" in q._feedback[1].value and q.answers[1] == 1 and q.score() == 1


def test_numeric_answers_with_tolerance_and_bad_text():
    q = Quiz([{"question": "pi?", "answer": 3.14159, "tolerance": 0.01, "explain": "about 3.14"}])
    assert q.answer(0, "3.14") is True
    assert q.answer(0, 3.2) is False and q.answers == [3.2]
    assert q.answer(0, "three") is None and "not a number" in q._feedback[0].value and q.answers == [None]


def test_check_raises_until_all_correct(capsys):
    q = Quiz(QUESTIONS)
    q.answer(0, 30)
    with pytest.raises(CheckFailed, match="question\\(s\\) 2"):
        q.check()
    q.answer(1, 1)
    assert q._inputs[1].value == 1  # setting in code updates the control too
    q.check()
    assert "all 2 answers correct" in capsys.readouterr().out


@pytest.mark.parametrize("bad", [[], [{"question": "x"}], [{"question": "x", "options": ["a"], "answer": 3}],
                                 [{"question": "x", "answer": "many"}]])
def test_bad_questions_raise_course_error(bad):
    with pytest.raises(CourseError):
        Quiz(bad)
