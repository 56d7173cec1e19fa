"""The bad-submission corpus, graded as an instructor grades a class: `make autograde JOBS=2 && make grades`.

In a temporary copy of the course, the toy chapter of ``corpus/toy_chapter.py``
(and every real chapter that has a verification spec in ``grading/``) is
released; each corpus case becomes one student who hands in that chapter, and
each chapter of ``corpus/forbidden_routes.py`` gets one more hand-in answered
by forbidden routes. One ``make autograde JOBS=2`` grades them all with
nbgrader in two processes and verifies them (``python -m course_utils.grading
autograde``); ``make grades`` then writes grades.csv. The class holds honest,
wrong, tampered (an edited locked cell), dead-kernel (a planted torch.py,
``os._exit``) and duplicated-id hand-ins: the run must go to the end, print no
checksum warning for an honest hand-in, and name every broken one with a reason.
Each case's verified grade per exercise and flags are asserted, verification is
never more lenient than nbgrader without a flag that explains it, and ``make
feedback`` produces HTML without the hidden tests.
"""

from __future__ import annotations

import csv
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
from corpus.cases import CASES, FULL, Case, Target, answered  # noqa: E402
from corpus.forbidden_routes import FORBIDDEN  # noqa: E402

from course_utils.grading.autograde import read_log  # noqa: E402
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
FORBIDDEN_CHAPTERS = [ch for ch in CHAPTERS if ch in FORBIDDEN]

# Flags that explain a verified grade above nbgrader's: nbgrader could not grade the hand-in or
# ran something other than the learner's notebook as handed in. A forbidden route is none of these.
EXPLAINS_NBGRADER_LOWER = ("nbgrader_failed", "renamed_notebook:", "notebook_missing", "cells_added:",
                           "locked_cell_edited:", "cell_deleted:", "points_changed:", "duplicate_grade_ids")


def cases_for(chapter: str) -> list[Case]:
    return CASES if chapter == toy_chapter.CHAPTER else [c for c in CASES if c.name in REAL_CHAPTER_CASES]


def student(chapter: str, case: Case) -> str:
    return f"{case.name}-{chapter[:2]}".replace("_", "-")


def forbidden_student(chapter: str) -> str:
    return f"forbidden-routes-{chapter[:2]}"


def handins() -> list[tuple[str, str]]:
    """(student, chapter) of every hand-in of the class."""
    return ([(student(ch, c), ch) for ch in CHAPTERS for c in cases_for(ch)]
            + [(forbidden_student(ch), ch) for ch in FORBIDDEN_CHAPTERS])


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
        if chapter in FORBIDDEN:
            folder = course / "submitted" / forbidden_student(chapter) / chapter
            folder.mkdir(parents=True)
            nb = answered(target, FORBIDDEN[chapter])
            (folder / f"{chapter}.ipynb").write_text(json.dumps(nb, indent=1))
    run = gradetools.run_make(course, "autograde", "JOBS=2", f"AUTOGRADE_ARGS=--Execute.timeout={NBGRADER_TIMEOUT}",
                              timeout=1200)
    grades = gradetools.run_make(course, "grades")
    gradetools.report(request.config, f"\n[corpus] make autograde JOBS=2 (nbgrader + verify), {len(handins())} hand-ins: "
                                      f"{run.seconds:.1f} s; make grades {grades.seconds:.1f} s")
    report = course / "verification.json"
    assert report.is_file(), run.explain()
    results = {(r["student"], r["chapter"]): r for r in json.loads(report.read_text())}
    return {"course": course, "run": run, "grades": grades, "results": results}


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


def test_class_run_goes_to_the_end(graded: dict) -> None:
    """Dead kernels and duplicated ids are normal in a class: `make autograde && make grades` still succeed."""
    assert graded["run"].returncode == 0, graded["run"].explain()
    assert graded["grades"].returncode == 0, graded["grades"].explain()
    with open(graded["course"] / "grades.csv", newline="") as fh:
        rows = {(r["student_id"], r["assignment"]) for r in csv.DictReader(fh)}
    assert rows == set(handins()), f"grades.csv lacks {sorted(set(handins()) - rows)[:5]}"


def _summary_line(output: str, who: str, chapter: str, phrase: str) -> str | None:
    return next((line for line in output.splitlines()
                 if line.strip().startswith(f"{who} {chapter}:") and phrase in line), None)


def test_no_checksum_warning_for_honest_handins(graded: dict) -> None:
    """nbgrader's checksum warning names exactly the hand-ins that edited a locked cell, nothing else."""
    log = (graded["course"] / "autograde.log").read_text()
    notes = read_log(log)
    warned = {key for key, outcome in notes.items() if any(n.startswith("locked cell ") for n in outcome.notes)}
    expected = {(student(ch, c), ch) for ch in CHAPTERS for c in cases_for(ch) if c.name == "edited_locked_test_cell"}
    assert warned == expected, f"checksum warnings for {sorted(warned - expected)}; missing for {sorted(expected - warned)}"
    assert log.count("Attribute 'checksum'") == len(expected), "a checksum warning in autograde.log is not accounted for"
    for key in expected:
        assert _summary_line(graded["run"].output, *key, "locked cell "), graded["run"].explain()
    assert "Kernel is running over TCP" not in log + graded["run"].output


def test_summary_names_every_broken_handin(graded: dict) -> None:
    """One line per broken hand-in, with a reason; no raw nbgrader traceback in the output."""
    out = graded["run"].output
    toy = toy_chapter.CHAPTER
    expected = {
        "planted_torch_py": "not graded by nbgrader: the kernel died",
        "copied_graded_cell": "appears more than once",
        "edited_locked_test_cell": "locked cell test_",
        "duplicate_cell_ids": "duplicate_cell_ids",
        "os_exit": "not graded by nbgrader: the kernel died",
    }
    for name, phrase in expected.items():
        case = next(c for c in CASES if c.name == name)
        assert _summary_line(out, student(toy, case), toy, phrase), f"no summary line for {name} with {phrase!r}:\n{out[-4000:]}"
    assert "Traceback" not in out and "KeyError" not in out, graded["run"].explain()
    copied = next(c for c in CASES if c.name == "copied_graded_cell")
    assert (graded["course"] / "autograded" / student(toy, copied) / toy / f"{toy}.ipynb").is_file(), \
        "nbgrader wrote no autograded notebook for a hand-in with a copied graded cell"


def test_disagreements_are_reported(graded: dict) -> None:
    """Every disagreement line gives nbgrader's reason and the verification's."""
    lines = [line.strip() for line in graded["run"].output.splitlines() if ": in-kernel " in line]
    assert lines, graded["run"].explain()
    shape = re.compile(r"^\S+ \S+ \S+: in-kernel [\d.]+/[\d.]+: (.+); verified [\d.]+/[\d.]+: (.+)$")
    for line in lines:
        match = shape.match(line)
        assert match and match.group(1).strip() and match.group(2).strip(), f"a disagreement without both reasons: {line}"
    toy = toy_chapter.CHAPTER
    case = next(c for c in CASES if c.name == "input_transformer")
    mine = [line for line in lines if line.startswith(f"{student(toy, case)} {toy} ")]
    assert any(": in-kernel 2/2: passed; verified 0/2: " in line for line in mine), mine
    case = next(c for c in CASES if c.name == "planted_torch_py")
    mine = [line for line in lines if line.startswith(f"{student(toy, case)} {toy} ")]
    assert mine and all("not graded: the kernel died" in line and line.endswith("outputs match") for line in mine), mine


def test_verification_never_more_lenient_than_nbgrader(graded: dict) -> None:
    """Wherever verification scores above nbgrader, a flag says why nbgrader's grade cannot stand."""
    lenient = []
    for (who, chapter), result in sorted(graded["results"].items()):
        for ex in result["exercises"]:
            if ex["status"] == "unverified" or ex["nbgrader"] is None or ex["verified"] <= ex["nbgrader"]:
                continue
            if not any(f.startswith(EXPLAINS_NBGRADER_LOWER) for f in result["flags"]):
                lenient.append(f"{who} {chapter} {ex['test']}: verified {ex['verified']:g} > nbgrader {ex['nbgrader']:g} "
                               f"(nbgrader: {ex.get('nbgrader_reason', '')}); flags {result['flags']}")
    assert not lenient, "verification is more lenient than nbgrader:\n" + "\n".join(lenient)


@pytest.mark.parametrize("chapter", FORBIDDEN_CHAPTERS or ["none"])
def test_forbidden_routes_score_zero_in_both_graders(chapter: str, graded: dict) -> None:
    assert chapter in FORBIDDEN, "no real chapter of corpus/forbidden_routes.py has a verification spec"
    result = graded["results"].get((forbidden_student(chapter), chapter))
    assert result is not None, graded["run"].explain()
    spec = load_spec(graded["course"], chapter)
    forbidden_tests = {ex.test for ex in spec.exercises if set(ex.solutions) & set(FORBIDDEN[chapter])}
    for ex in result["exercises"]:
        want = 0.0 if ex["test"] in forbidden_tests else ex["max_score"]
        assert (ex["verified"], ex["nbgrader"]) == (want, want), (
            f"{ex['test']}: verified {ex['verified']}, nbgrader {ex['nbgrader']}, expected {want} in both "
            f"(verification: {ex['reason']}; nbgrader: {ex.get('nbgrader_reason')})")


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
