"""The bad-submission corpus: every case's verified grade and flags, after one real `make autograde`.

In a temporary copy of the course, the toy chapter of ``corpus/toy_chapter.py``
(and every real chapter that has a verification spec in ``grading/``) is
released; each corpus case becomes one student who hands in that chapter; one
``make autograde`` grades them all with nbgrader and then verifies them
(``python -m course_utils.verify``). Each test asserts one case's verified
grade per exercise and the flags it must raise. ``make feedback`` must then
produce HTML without the hidden tests.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

import gradetools
from gradetools import ROOT

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import toy_chapter  # noqa: E402
from corpus.cases import CASES, FULL, Case, Target  # noqa: E402

from course_utils.grading.spec import load_spec  # noqa: E402

NBGRADER_TIMEOUT = 15  # seconds per cell: the infinite loop costs this much once

# A real chapter runs its whole notebook under nbgrader (tens of seconds each in smoke
# mode), so real chapters get these cases; the toy chapter gets every case.
REAL_CHAPTER_CASES = ("correct", "untouched_stub", "os_exit", "input_transformer", "planted_course_utils")


def spec_chapters() -> list[str]:
    """The toy chapter and every real chapter with both a solution notebook and a grading spec."""
    real = [ch for ch in gradetools.find_chapters() if (ROOT / "grading" / f"{ch}.py").is_file()]
    return [toy_chapter.CHAPTER, *real]


CHAPTERS = spec_chapters()


def cases_for(chapter: str) -> list[Case]:
    return CASES if chapter == toy_chapter.CHAPTER else [c for c in CASES if c.name in REAL_CHAPTER_CASES]


def student(chapter: str, case: Case) -> str:
    return f"{case.name}-{chapter[:2]}".replace("_", "-")


def make_target(course: Path, chapter: str) -> Target:
    spec = load_spec(course, chapter)
    assert spec is not None, f"grading/{chapter}.py is missing from the course copy"
    # The first function exercise that takes test inputs (not, say, fields_by_hand()): its autograder cell
    # compares through the course's checks, which the planted course_utils and the hooks tamper with.
    ex = next(e for e in spec.exercises
              if e.call and e.driver == "call" and any(c["args"] or c["kwargs"] for c in e.normalised_cases()))
    read = lambda p: nbformat.read(str(p), as_version=4)  # noqa: E731
    return Target(course, chapter, read(course / "solutions" / chapter / f"{chapter}.ipynb"),
                  read(course / "notebooks" / chapter / f"{chapter}.ipynb"), ex.solutions[-1], ex.test, ex.name)


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> dict:
    real = CHAPTERS[1:]
    course = gradetools.make_course_copy(tmp_path_factory.mktemp("corpus"), real, with_release=False)
    toy_chapter.write_chapter(course)
    for chapter in real:
        shutil.copy2(ROOT / "grading" / f"{chapter}.py", course / "grading" / f"{chapter}.py")
    release = gradetools.run_make(course, "release")
    assert release.returncode == 0, release.explain()
    for chapter in CHAPTERS:
        target = make_target(course, chapter)
        for case in cases_for(chapter):
            nb, files = case.build(target)
            folder = course / "submitted" / student(chapter, case) / chapter
            folder.mkdir(parents=True)
            # json, not nbformat.write: nbformat would repair the duplicated cell ids of that case.
            (folder / (case.filename or f"{chapter}.ipynb")).write_text(json.dumps(nb, indent=1))
            for name, text in files.items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_text(text)
    run = gradetools.run_make(course, "autograde", f"AUTOGRADE_ARGS=--Execute.timeout={NBGRADER_TIMEOUT}", timeout=1200)
    gradetools.report(request.config, f"\n[corpus] make autograde + verify, {sum(len(cases_for(ch)) for ch in CHAPTERS)} submissions: "
                                      f"{run.seconds:.1f} s")
    report = course / "verification.json"
    assert report.is_file(), run.explain()
    results = {(r["student"], r["chapter"]): r for r in json.loads(report.read_text())}
    return {"course": course, "run": run, "results": results}


@pytest.mark.parametrize(("chapter", "case"), [(ch, c) for ch in CHAPTERS for c in cases_for(ch)],
                         ids=lambda v: v if isinstance(v, str) else v.name)
def test_case_verified_grade_and_flags(case: Case, chapter: str, graded: dict) -> None:
    result = graded["results"].get((student(chapter, case), chapter))
    assert result is not None, f"{case.name}: no verification result\n" + graded["run"].explain()
    target = make_target(graded["course"], chapter)
    got = {e["test"]: e for e in result["exercises"]}
    for test, ex in got.items():
        want = case.target if test == target.test else case.others
        expected = ex["max_score"] if want == FULL else 0.0
        assert ex["verified"] == expected, (
            f"{case.name}: {test} verified {ex['verified']}/{ex['max_score']}, expected {want} "
            f"({ex['status']}: {ex['reason']}); flags {result['flags']}")
    flags = result["flags"]
    for flag in case.flags:
        flag = flag.format(test=target.test)
        assert any(f.startswith(flag) for f in flags), f"{case.name}: flag {flag!r} not raised; got {flags}"
    if not case.flags:
        assert flags == [], f"{case.name}: expected no flag, got {flags}"
    assert not any(f.startswith("unverified") for f in flags)


def test_disagreements_are_reported(graded: dict) -> None:
    out = graded["run"].output
    assert "in-kernel full marks, verified 0" in out, graded["run"].explain()


def test_feedback_has_no_hidden_tests(graded: dict) -> None:
    course = graded["course"]
    run = gradetools.run_make(course, "feedback")
    assert run.returncode == 0, run.explain()
    pages = list((course / "feedback").rglob("*.html"))
    assert pages, "make feedback wrote no HTML"
    hidden = set()
    for chapter in CHAPTERS:
        source = nbformat.read(str(course / "solutions" / chapter / f"{chapter}.ipynb"), as_version=4)
        for cell in source.cells:
            inside = False
            for line in cell.source.split("\n"):
                if "BEGIN HIDDEN TESTS" in line:
                    inside = True
                elif "END HIDDEN TESTS" in line:
                    inside = False
                elif inside and len(line.strip()) > 25:
                    hidden.add(line.strip())
        release_nb = nbformat.read(str(course / "notebooks" / chapter / f"{chapter}.ipynb"), as_version=4)
        release = "\n".join(cell.source for cell in release_nb.cells)
        hidden = {line for line in hidden if line not in release}  # also used by a visible test
    assert hidden, "the chapters have no hidden tests to look for"
    for page in pages:
        # The HTML highlights code token by token: compare the text without tags.
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(errors="replace")))
        shown = [line for line in hidden if line in text]
        assert "BEGIN HIDDEN TESTS" not in text and not shown, f"{page} shows hidden tests: {shown[:3]}"
