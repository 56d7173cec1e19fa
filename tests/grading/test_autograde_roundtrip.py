"""The nbgrader round trip: release, hand in, `make autograde`, read the gradebook and grades.csv.

The session's class (conftest.py's ``graded_class``, built by classroom.py) is
released by `make release` and graded by one `make autograde JOBS=2`. For each
chapter, one hand-in has every answer right (the instructor's answers in the
student release, or the solution notebook itself for a chapter without a
verification spec) and one is the untouched release: the first must get every
point from nbgrader, the second none on any graded cell, so the tests pass the
right answers and reject the stubs.
"""

from __future__ import annotations

import csv

import pytest
from classroom import GradedClass, roundtrip_students
from gradetools import chapter_params, require_chapter
from nbgrader.api import Gradebook


def gradebook(graded: GradedClass) -> Gradebook:
    db = graded.course / "gradebook.db"
    assert db.is_file(), f"make release/autograde made no {db}"
    return Gradebook(f"sqlite:///{db}")


def require_success(graded: GradedClass) -> None:
    assert graded.release.returncode == 0, graded.release.explain()
    assert graded.autograde.returncode == 0, "make autograde could not grade the class: " + graded.autograde.explain()


def grades(gb: Gradebook, chapter: str, student: str) -> list:
    submission = gb.find_submission_notebook(chapter, chapter, student)
    found = list(submission.grades)
    assert found, f"{chapter} has no graded cell in the gradebook (nbgrader metadata grade: true)"
    return found


@pytest.mark.parametrize("chapter", chapter_params())
def test_autograde_runs_and_writes_every_submission(chapter: str, graded_class: GradedClass) -> None:
    require_chapter(chapter)
    require_success(graded_class)
    for student in roundtrip_students(chapter).values():
        out = graded_class.course / "autograded" / student / chapter / f"{chapter}.ipynb"
        assert out.is_file(), f"make autograde wrote no {out.relative_to(graded_class.course)}"


@pytest.mark.parametrize("chapter", chapter_params())
def test_solution_gets_full_marks(chapter: str, graded_class: GradedClass) -> None:
    require_chapter(chapter)
    require_success(graded_class)
    right = roundtrip_students(chapter)["right"]
    gb = gradebook(graded_class)
    try:
        cells = grades(gb, chapter, right)
        lost = [
            f"{g.name}: {g.score}/{g.max_score}" for g in cells if not g.needs_manual_grade and g.score != g.max_score
        ]
        assert not lost, f"the right answers of {chapter} lose points on autograded cells: {lost}"
        manual = [g.name for g in cells if g.needs_manual_grade]
        submission = gb.find_submission(chapter, right)
        assert submission.max_score > 0, f"{chapter} has no points to grade"
        if not manual:
            assert submission.score == submission.max_score, f"{right} scored {submission.score}/{submission.max_score}"
    finally:
        gb.close()


@pytest.mark.parametrize("chapter", chapter_params())
def test_untouched_release_gets_zero_on_every_graded_cell(chapter: str, graded_class: GradedClass) -> None:
    require_chapter(chapter)
    require_success(graded_class)
    stub = roundtrip_students(chapter)["stub"]
    gb = gradebook(graded_class)
    try:
        scored = [f"{g.name}: {g.score}/{g.max_score}" for g in grades(gb, chapter, stub) if g.score != 0]
        assert not scored, f"an untouched {chapter} release earns points, so a test passes on the stub: {scored}"
        assert gb.find_submission(chapter, stub).score == 0
    finally:
        gb.close()


@pytest.mark.parametrize("chapter", chapter_params())
def test_grades_csv_lists_both_students(chapter: str, graded_class: GradedClass) -> None:
    """`make grades` wrote grades.csv from the verification: the right answers above the stub."""
    require_chapter(chapter)
    require_success(graded_class)
    assert graded_class.grades.returncode == 0, graded_class.grades.explain()
    students = roundtrip_students(chapter)
    path = graded_class.course / "grades.csv"
    with path.open(newline="") as fh:
        rows = {row["student_id"]: row for row in csv.DictReader(fh) if row["assignment"] == chapter}
    assert set(students.values()) <= set(rows), f"grades.csv has {sorted(rows)} for {chapter}"
    right, stub = rows[students["right"]], rows[students["stub"]]
    assert float(stub["score"]) == 0.0
    assert float(right["max_score"]) > 0
    assert float(right["score"]) > float(stub["score"])
