"""One class, graded once per test session the way an instructor grades one (see conftest.py's ``graded_class``).

In a temporary copy of the course, every chapter and the corpus's toy chapter
(``corpus/toy_chapter.py``) are released by one ``make release``; then:

* the toy chapter and chapter 01 (``EVERY_CASE_CHAPTERS``) get a hand-in per corpus
  case (``corpus/cases.py``, whose opening comment says why the attacks stop there);
  every other chapter with a verification spec gets only ``PER_CHAPTER_CASES``
  (``correct`` and ``untouched_stub``), since a real chapter runs its whole notebook
  under nbgrader;
* each chapter of ``corpus/wrong_answers.py`` gets ONE hand-in with every wrong
  answer at once (each of those exercises must score 0 in both graders);
* each chapter of ``corpus/forbidden_routes.py`` gets one hand-in answered by
  all its forbidden routes;
* a chapter without a spec gets the round trip's two hand-ins: the solution
  notebook (``alice``) and the untouched release (``bob``); a chapter with a spec
  has them already as the ``correct`` and ``untouched_stub`` cases.

One ``make autograde JOBS=2`` grades them all (nbgrader in two processes, then
the verification) and ``make grades`` writes grades.csv: the grading stage runs
one release and one nbgrader run for test_corpus.py and
test_autograde_roundtrip.py together.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import gradetools
import nbformat
import pytest
from gradetools import ROOT

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import toy_chapter  # noqa: E402
from corpus.cases import CASES, EVERY_CASE_CHAPTERS, PER_CHAPTER_CASES, Case, Target, answered  # noqa: E402
from corpus.forbidden_routes import FORBIDDEN  # noqa: E402
from corpus.wrong_answers import WRONG  # noqa: E402

from course_utils.grading.spec import load_spec  # noqa: E402

NBGRADER_TIMEOUT = 15  # seconds per cell: the infinite loop costs this much once

REAL_CHAPTERS = gradetools.find_chapters()
SPEC_CHAPTERS = [toy_chapter.CHAPTER, *(ch for ch in REAL_CHAPTERS if (ROOT / "grading" / f"{ch}.py").is_file())]
FORBIDDEN_CHAPTERS = [ch for ch in SPEC_CHAPTERS if ch in FORBIDDEN]
WRONG_CHAPTERS = [ch for ch in SPEC_CHAPTERS if WRONG.get(ch)]


def cases_for(chapter: str) -> list[Case]:
    """The corpus cases handed in for ``chapter``: all of them for the toy chapter and chapter 01, else two."""
    if chapter not in SPEC_CHAPTERS:
        return []
    if chapter == toy_chapter.CHAPTER or chapter in EVERY_CASE_CHAPTERS:
        return CASES
    return [c for c in CASES if c.name in PER_CHAPTER_CASES]


CHAPTER_CASES = [(ch, c) for ch in SPEC_CHAPTERS for c in cases_for(ch)]  # (chapter, case) of every corpus hand-in


def student(chapter: str, case: Case | str) -> str:
    name = case if isinstance(case, str) else case.name
    return f"{name}-{chapter[:2]}".replace("_", "-")


def forbidden_student(chapter: str) -> str:
    return f"forbidden-routes-{chapter[:2]}"


def wrong_student(chapter: str) -> str:
    return f"wrong-answers-{chapter[:2]}"


def roundtrip_students(chapter: str) -> dict[str, str]:
    """The round trip's hand-ins of a real chapter: ``right`` (full marks expected) and ``stub`` (zero expected)."""
    if chapter in SPEC_CHAPTERS:
        return {"right": student(chapter, "correct"), "stub": student(chapter, "untouched_stub")}
    return {"right": "alice", "stub": "bob"}


def handins() -> list[tuple[str, str]]:
    """(student, chapter) of every hand-in of the class."""
    found = [(student(ch, c), ch) for ch in SPEC_CHAPTERS for c in cases_for(ch)]
    found += [(wrong_student(ch), ch) for ch in WRONG_CHAPTERS]
    found += [(forbidden_student(ch), ch) for ch in FORBIDDEN_CHAPTERS]
    found += [(who, ch) for ch in REAL_CHAPTERS if ch not in SPEC_CHAPTERS for who in ("alice", "bob")]
    return found


def handin_counts() -> dict[str, int]:
    """How many hand-ins each chapter has in the class run."""
    return dict(sorted(Counter(chapter for _, chapter in handins()).items()))


def make_target(course: Path, chapter: str) -> Target:
    spec = load_spec(course, chapter)
    assert spec is not None, f"grading/{chapter}.py is missing from the course copy"
    # The first function exercise that takes test inputs (not, say, fields_by_hand()): its autograder cell
    # compares through the course's checks, which the planted course_utils and the hooks tamper with.
    ex = next(
        e
        for e in spec.exercises
        if e.call and e.driver == "call" and any(c["args"] or c["kwargs"] for c in e.normalised_cases())
    )
    read = lambda p: nbformat.read(str(p), as_version=4)  # noqa: E731
    return Target(
        course,
        chapter,
        read(course / "solutions" / chapter / f"{chapter}.ipynb"),
        read(course / "notebooks" / chapter / f"{chapter}.ipynb"),
        ex.solutions[-1],
        ex.test,
        ex.name,
    )


@dataclass
class GradedClass:
    course: Path
    release: gradetools.MakeRun
    autograde: gradetools.MakeRun
    grades: gradetools.MakeRun
    results: dict[tuple[str, str], dict]  # verification.json by (student, chapter)

    def __repr__(self) -> str:  # keeps failure reports short
        return f"GradedClass(course={self.course})"


# Where conftest.py's ``graded_class`` leaves the session's class once it is graded, so a later
# test (test_validate.py) can reuse its release instead of making one, without forcing the class run.
SESSION_CLASS = pytest.StashKey[GradedClass]()


def _write(folder: Path, nb: dict, files: dict[str, str], filename: str) -> None:
    folder.mkdir(parents=True)
    # json, not nbformat.write: nbformat would repair the duplicated cell ids of that case.
    (folder / filename).write_text(json.dumps(nb, indent=1))
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def grade_class(dest: Path) -> GradedClass:
    """Release, hand in and grade the whole class in ``dest`` (a temporary folder)."""
    course = gradetools.make_course_copy(dest, REAL_CHAPTERS, with_release=False)
    toy_chapter.write_chapter(course)
    for chapter in SPEC_CHAPTERS[1:]:
        shutil.copy2(ROOT / "grading" / f"{chapter}.py", course / "grading" / f"{chapter}.py")
    release = gradetools.run_make(course, "release")
    assert release.returncode == 0, release.explain()
    for chapter in SPEC_CHAPTERS:
        target = make_target(course, chapter)
        for case in cases_for(chapter):
            nb, files = case.build(target)
            _write(
                course / "submitted" / student(chapter, case) / chapter, nb, files, case.filename or f"{chapter}.ipynb"
            )
        if chapter in WRONG_CHAPTERS:
            _write(
                course / "submitted" / wrong_student(chapter) / chapter,
                answered(target, WRONG[chapter]),
                {},
                f"{chapter}.ipynb",
            )
        if chapter in FORBIDDEN:
            _write(
                course / "submitted" / forbidden_student(chapter) / chapter,
                answered(target, FORBIDDEN[chapter]),
                {},
                f"{chapter}.ipynb",
            )
    for chapter in REAL_CHAPTERS:
        if chapter not in SPEC_CHAPTERS:
            shutil.copytree(course / "solutions" / chapter, course / "submitted" / "alice" / chapter)
            shutil.copytree(course / "notebooks" / chapter, course / "submitted" / "bob" / chapter)
    autograde = gradetools.run_make(
        course, "autograde", "JOBS=2", f"AUTOGRADE_ARGS=--Execute.timeout={NBGRADER_TIMEOUT}", timeout=1800
    )
    grades = gradetools.run_make(course, "grades")
    report = course / "verification.json"
    results = {(r["student"], r["chapter"]): r for r in json.loads(report.read_text())} if report.is_file() else {}
    return GradedClass(course, release, autograde, grades, results)
