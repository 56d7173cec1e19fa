"""The nbgrader round trip: release, submit, `make autograde`, read the gradebook and grades.csv.

In a temporary copy of the course, `make release` generates every chapter, then
two students hand in each chapter: alice the instructor's solution notebook,
bob the untouched student release. One `make autograde` grades all of them (in
smoke mode) and exports grades.csv. alice must get every point, bob none on any
graded cell: the tests pass the right answers and reject the stubs.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

import gradetools
from gradetools import chapter_params, release_path, require_chapter, solution_path

STUDENTS = {"alice": "the solution notebook", "bob": "the untouched release"}


@dataclass
class Graded:
    course: Path
    release: gradetools.MakeRun
    autograde: gradetools.MakeRun | None

    def __repr__(self) -> str:  # keeps failure reports short
        return f"Graded(course={self.course})"

    def require_success(self) -> None:
        assert self.release.returncode == 0, self.release.explain()
        assert self.autograde is not None and self.autograde.returncode == 0, (
            "make autograde crashed or could not grade a submission: " + self.autograde.explain()
        )

    def gradebook(self) -> Gradebook:
        db = self.course / "gradebook.db"
        assert db.is_file(), f"make release/autograde made no {db}"
        return Gradebook(f"sqlite:///{db}")


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Graded:
    """A temporary course with every chapter released, submitted by alice and bob, and autograded."""
    chapters = gradetools.find_chapters()
    before = gradetools.litter()
    course = gradetools.make_course_copy(tmp_path_factory.mktemp("course"), chapters)
    release = gradetools.run_make(course, "release")
    autograde = None
    if chapters and release.returncode == 0:
        for chapter in chapters:
            for student, source in (
                ("alice", solution_path(chapter, course)),
                ("bob", release_path(chapter, course)),
            ):
                folder = course / "submitted" / student / chapter
                shutil.copytree(source.parent, folder)  # the notebook and any file beside it
        autograde = gradetools.run_make(course, "autograde")
        gradetools.report(
            request.config,
            f"\n[grading] make release {release.seconds:.1f} s, make autograde "
            f"({len(chapters)} chapter(s) x {len(STUDENTS)} students) {autograde.seconds:.1f} s",
        )
    assert gradetools.litter() == before, "grading in a temporary copy left nbgrader files in the repository"
    return Graded(course, release, autograde)


def grades(gb: Gradebook, chapter: str, student: str) -> list:
    submission = gb.find_submission_notebook(chapter, chapter, student)
    found = list(submission.grades)
    assert found, f"{chapter} has no graded cell in the gradebook (nbgrader metadata grade: true)"
    return found


@pytest.mark.parametrize("chapter", chapter_params())
def test_autograde_runs_and_writes_every_submission(chapter: str, graded: Graded) -> None:
    require_chapter(chapter)
    graded.require_success()
    for student in STUDENTS:
        out = graded.course / "autograded" / student / chapter / f"{chapter}.ipynb"
        assert out.is_file(), f"make autograde wrote no {out.relative_to(graded.course)}"


@pytest.mark.parametrize("chapter", chapter_params())
def test_solution_gets_full_marks(chapter: str, graded: Graded) -> None:
    require_chapter(chapter)
    graded.require_success()
    gb = graded.gradebook()
    try:
        cells = grades(gb, chapter, "alice")
        lost = [f"{g.name}: {g.score}/{g.max_score}" for g in cells if not g.needs_manual_grade and g.score != g.max_score]
        assert not lost, f"the solution of {chapter} loses points on autograded cells: {lost}"
        manual = [g.name for g in cells if g.needs_manual_grade]
        submission = gb.find_submission(chapter, "alice")
        assert submission.max_score > 0, f"{chapter} has no points to grade"
        if not manual:
            assert submission.score == submission.max_score, f"alice scored {submission.score}/{submission.max_score}"
    finally:
        gb.close()


@pytest.mark.parametrize("chapter", chapter_params())
def test_untouched_release_gets_zero_on_every_graded_cell(chapter: str, graded: Graded) -> None:
    require_chapter(chapter)
    graded.require_success()
    gb = graded.gradebook()
    try:
        scored = [f"{g.name}: {g.score}/{g.max_score}" for g in grades(gb, chapter, "bob") if g.score != 0]
        assert not scored, f"an untouched {chapter} release earns points, so a test passes on the stub: {scored}"
        assert gb.find_submission(chapter, "bob").score == 0
    finally:
        gb.close()


@pytest.mark.parametrize("chapter", chapter_params())
def test_grades_csv_lists_both_students(chapter: str, graded: Graded) -> None:
    require_chapter(chapter)
    graded.require_success()
    path = graded.course / "grades.csv"
    assert path.is_file(), "make autograde wrote no grades.csv"
    with path.open(newline="") as fh:
        rows = {row["student_id"]: row for row in csv.DictReader(fh) if row["assignment"] == chapter}
    assert set(STUDENTS) <= set(rows), f"grades.csv has {sorted(rows)} for {chapter}, expected {sorted(STUDENTS)}"
    assert float(rows["bob"]["score"]) == 0.0
    assert float(rows["alice"]["max_score"]) > 0
    assert float(rows["alice"]["score"]) > float(rows["bob"]["score"])
