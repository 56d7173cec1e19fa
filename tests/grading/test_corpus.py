"""The bad-submission corpus, graded as an instructor grades a class: `make autograde JOBS=2 && make grades`.

The class is the session's (conftest.py's ``graded_class``, built by
classroom.py): every corpus case handed in for the toy chapter and chapter 01,
the right answers, the untouched release and one hand-in with every wrong answer
of corpus/wrong_answers.py for each other chapter with a spec, plus hand-ins
answered by forbidden routes, graded by one
``make autograde JOBS=2`` (nbgrader in two processes, then the verification)
and ``make grades``. The class holds honest, wrong, tampered (an edited locked
cell), dead-kernel (a planted torch.py, ``os._exit``) and duplicated-id
hand-ins: the run must go to the end, print no checksum warning for an honest
hand-in, and name every broken one with a reason. Each case's verified grade
per exercise and flags are asserted, verification is never more lenient than
nbgrader without a flag that explains it, and ``make feedback`` produces HTML
without the hidden tests.
"""

from __future__ import annotations

import csv
import html
import re

import gradetools
import nbformat
import pytest
from classroom import (
    CHAPTER_CASES,
    FORBIDDEN_CHAPTERS,
    SPEC_CHAPTERS,
    WRONG_CHAPTERS,
    GradedClass,
    cases_for,
    forbidden_student,
    handins,
    make_target,
    student,
    wrong_student,
)
from corpus import toy_chapter
from corpus.cases import CASES, FULL, Case
from corpus.forbidden_routes import FORBIDDEN
from corpus.wrong_answers import WRONG

from course_utils.grading.autograde import read_log
from course_utils.grading.spec import load_spec

CHAPTERS = SPEC_CHAPTERS

# Flags that explain a verified grade above nbgrader's: nbgrader could not grade the hand-in or
# ran something other than the learner's notebook as handed in. A forbidden route is none of these.
EXPLAINS_NBGRADER_LOWER = (
    "nbgrader_failed",
    "renamed_notebook:",
    "notebook_missing",
    "cells_added:",
    "locked_cell_edited:",
    "cell_deleted:",
    "points_changed:",
    "duplicate_grade_ids",
)


@pytest.fixture(scope="module")
def graded(graded_class: GradedClass) -> dict:
    """The session's class run (conftest.py), as this module's tests read it."""
    assert graded_class.results, graded_class.autograde.explain()
    return {
        "course": graded_class.course,
        "run": graded_class.autograde,
        "grades": graded_class.grades,
        "results": graded_class.results,
    }


@pytest.mark.parametrize(("chapter", "case"), CHAPTER_CASES, ids=lambda v: v if isinstance(v, str) else v.name)
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
            f"({ex['status']}: {ex['reason']}); flags {result['flags']}"
        )
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
    return next(
        (line for line in output.splitlines() if line.strip().startswith(f"{who} {chapter}:") and phrase in line), None
    )


def test_no_checksum_warning_for_honest_handins(graded: dict) -> None:
    """nbgrader's checksum warning names exactly the hand-ins that edited a locked cell, nothing else."""
    log = (graded["course"] / "autograde.log").read_text()
    notes = read_log(log)
    warned = {key for key, outcome in notes.items() if any(n.startswith("locked cell ") for n in outcome.notes)}
    expected = {(student(ch, c), ch) for ch in CHAPTERS for c in cases_for(ch) if c.name == "edited_locked_test_cell"}
    assert warned == expected, (
        f"checksum warnings for {sorted(warned - expected)}; missing for {sorted(expected - warned)}"
    )
    assert log.count("Attribute 'checksum'") == len(expected), (
        "a checksum warning in autograde.log is not accounted for"
    )
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
        assert _summary_line(out, student(toy, case), toy, phrase), (
            f"no summary line for {name} with {phrase!r}:\n{out[-4000:]}"
        )
    assert "Traceback" not in out and "KeyError" not in out, graded["run"].explain()
    copied = next(c for c in CASES if c.name == "copied_graded_cell")
    assert (graded["course"] / "autograded" / student(toy, copied) / toy / f"{toy}.ipynb").is_file(), (
        "nbgrader wrote no autograded notebook for a hand-in with a copied graded cell"
    )


def test_disagreements_are_reported(graded: dict) -> None:
    """Every disagreement line gives nbgrader's reason and the verification's."""
    lines = [line.strip() for line in graded["run"].output.splitlines() if ": in-kernel " in line]
    assert lines, graded["run"].explain()
    shape = re.compile(r"^\S+ \S+ \S+: in-kernel [\d.]+/[\d.]+: (.+); verified [\d.]+/[\d.]+: (.+)$")
    for line in lines:
        match = shape.match(line)
        assert match and match.group(1).strip() and match.group(2).strip(), (
            f"a disagreement without both reasons: {line}"
        )
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
                lenient.append(
                    f"{who} {chapter} {ex['test']}: verified {ex['verified']:g} > nbgrader {ex['nbgrader']:g} "
                    f"(nbgrader: {ex.get('nbgrader_reason', '')}); flags {result['flags']}"
                )
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
            f"(verification: {ex['reason']}; nbgrader: {ex.get('nbgrader_reason')})"
        )


@pytest.mark.parametrize("chapter", WRONG_CHAPTERS or ["none"])
def test_wrong_answers_score_zero_in_both_graders(chapter: str, graded: dict) -> None:
    """One hand-in holds every wrong answer of the chapter at once: each of those exercises scores 0 in both graders."""
    assert chapter in WRONG, "no chapter of corpus/wrong_answers.py has a verification spec"
    result = graded["results"].get((wrong_student(chapter), chapter))
    assert result is not None, graded["run"].explain()
    spec = load_spec(graded["course"], chapter)
    wrong_tests = {ex.test for ex in spec.exercises if set(ex.solutions) & set(WRONG[chapter])}
    assert wrong_tests, f"no exercise of {chapter} has a wrong answer in corpus/wrong_answers.py"
    got = {ex["test"]: ex for ex in result["exercises"]}
    assert wrong_tests <= set(got), f"{chapter}: no verified score for {sorted(wrong_tests - set(got))}"
    accepted = [
        f"{test}: verified {got[test]['verified']}, nbgrader {got[test]['nbgrader']} "
        f"(verification: {got[test]['reason']}; nbgrader: {got[test].get('nbgrader_reason')})"
        for test in sorted(wrong_tests)
        if (got[test]["verified"], got[test]["nbgrader"]) != (0.0, 0.0)
    ]
    assert not accepted, f"{chapter}: wrong answers earn points:\n" + "\n".join(accepted)
    for test in set(got) - wrong_tests:  # an exercise without a wrong answer keeps its marks
        assert got[test]["verified"] == got[test]["max_score"], (test, got[test]["reason"])


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
