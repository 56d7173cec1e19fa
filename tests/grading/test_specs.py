"""Every chapter's verification spec (grading/NN_topic.py), checked directly, without nbgrader.

* Coverage: every autograder cell (``grade: true``) of every chapter in
  solutions/ has an entry in its chapter's spec, and every entry names cells
  that exist; a chapter without a spec fails with what to write.
* Verdicts: three submissions per chapter with a spec go through the
  verification machinery (the sandboxed child of course_utils.grading.sandbox,
  then each Exercise's verdict in this process): the release answered with
  the instructor's solutions must score full marks with no integrity flag,
  the untouched release zero, and one plausible wrong answer per exercise
  (corpus/wrong_answers.py) zero. tests/grading/test_corpus.py runs whole
  submissions through `make autograde` and `python -m course_utils.grading verify`.
"""

from __future__ import annotations

import copy
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import gradetools
import nbformat
import pytest
from gradetools import ROOT, chapter_params, require_chapter

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "notebooks"))
from corpus.wrong_answers import WRONG  # noqa: E402
from nbtools import verify_handins  # noqa: E402 - tests/notebooks/nbtools.py, the judging the chapter tests use

from course_utils.grading import notebook as nbtools  # noqa: E402
from course_utils.grading.spec import load_spec, spec_path  # noqa: E402

SPEC_CHAPTERS = [ch for ch in gradetools.find_chapters() if spec_path(ROOT, ch).is_file()]
STUDENTS = ("solution", "stubs", "wrong")


def _solution_ids(nb: nbformat.NotebookNode) -> list[str]:
    return [
        m["grade_id"] for c in nb.cells if c.cell_type == "code" and (m := nbtools.nbgrader_meta(c)).get("solution")
    ]


@pytest.mark.parametrize("chapter", chapter_params())
def test_every_autograder_cell_has_a_spec_entry(chapter: str) -> None:
    require_chapter(chapter)
    path = spec_path(ROOT, chapter)
    assert path.is_file(), (
        f"{chapter} has no verification spec: write grading/{chapter}.py with one Exercise per autograder cell "
        f"(see grading/01_convolution.py and course_utils/grading/spec.py), or its grades cannot be verified."
    )
    spec = load_spec(ROOT, chapter)
    source = gradetools.read_notebook(gradetools.solution_path(chapter))
    release = gradetools.read_notebook(gradetools.release_path(chapter))
    tests = list(nbtools.test_points(source))
    entries = [ex.test for ex in spec.exercises]
    missing = [t for t in tests if t not in entries]
    assert not missing, f"grading/{chapter}.py has no Exercise for the autograder cell(s) {missing}: add one for each."
    unknown = [t for t in entries if t not in tests]
    assert not unknown, f"grading/{chapter}.py names {unknown}, which are not autograder cells of {chapter}."
    assert len(entries) == len(set(entries)), f"grading/{chapter}.py lists an autograder cell twice."
    for ex in spec.exercises:
        for ids, where in ((_solution_ids(source), "solutions/"), (_solution_ids(release), "notebooks/")):
            absent = [gid for gid in ex.solutions if gid not in ids]
            assert not absent, (
                f"grading/{chapter}.py: {ex.test} runs solution cell(s) {absent}, absent from {where}{chapter}."
            )


def _answered(release: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        gid = nbtools.nbgrader_meta(cell).get("grade_id")
        if nbtools.nbgrader_meta(cell).get("solution") and gid in answers:
            cell.source = answers[gid]
    return nb


@dataclass
class Verdict:
    """One exercise of one submission, judged as `python -m course_utils.grading verify` judges it."""

    test: str
    max_score: float
    verified: float
    status: str
    reason: str = ""


def _verify_chapter(chapter: str) -> dict[str, list[Verdict]]:
    """Run the three submissions of ``chapter`` in one sandboxed child and judge them here.

    The child runs the instructor's setup cell once, then for each submission in turn every exercise's
    solution cells followed by its calls (each exercise's own cells define what it calls, as in a real
    verification); one child per chapter instead of one per submission keeps this test fast.
    """
    spec = load_spec(ROOT, chapter)
    source = gradetools.read_notebook(gradetools.solution_path(chapter))
    release = gradetools.read_notebook(gradetools.release_path(chapter))
    instructor = {
        nbtools.nbgrader_meta(c)["grade_id"]: c.source for c in source.cells if nbtools.nbgrader_meta(c).get("solution")
    }
    submissions = {
        "solution": _answered(release, instructor),
        "stubs": release,
        "wrong": _answered(release, {**instructor, **WRONG.get(chapter, {})}),
    }
    handins = {}
    for student, nb in submissions.items():
        for ex in spec.exercises:
            cells, missing = nbtools.solution_sources(nb, list(ex.solutions))
            assert not missing, f"{student}'s {chapter} lacks the solution cell(s) {missing}"
            handins[f"{student}.{ex.test}"] = (ex, cells)
    # As verification decides (Exercise.grade): the statement's rules (forbidden routes, inputs, return kinds), then
    # the outputs; tests/notebooks/nbtools.verify_handins runs them all in one child.
    judged = verify_handins(chapter, handins)
    points = nbtools.test_points(source)
    verdicts: dict[str, list[Verdict]] = {}
    for student in submissions:
        for ex in spec.exercises:
            verdicts.setdefault(student, []).append(Verdict(ex.test, points[ex.test], *judged[f"{student}.{ex.test}"]))
    return verdicts


@pytest.fixture(scope="module")
def verified(request: pytest.FixtureRequest) -> dict:
    """Every spec chapter's three submissions, verified two chapters at a time."""
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        by_chapter = dict(zip(SPEC_CHAPTERS, pool.map(_verify_chapter, SPEC_CHAPTERS)))
    seconds = time.monotonic() - start
    gradetools.report(
        request.config,
        f"\n[specs] verified {len(STUDENTS)} submissions x {len(SPEC_CHAPTERS)} chapters "
        f"in {seconds:.1f} s (one child per chapter, 2 at a time)",
    )
    return {(student, chapter): found for chapter, by in by_chapter.items() for student, found in by.items()}


def _result(verified: dict, student: str, chapter: str) -> list[Verdict]:
    require_chapter(chapter)
    if chapter not in SPEC_CHAPTERS:
        pytest.fail(
            f"{chapter} has no verification spec: write grading/{chapter}.py with one Exercise per "
            "autograder cell (see grading/01_convolution.py)."
        )
    result = verified.get((student, chapter))
    assert result is not None, f"{student}'s {chapter} was not verified"
    return result


def _table(verdicts: list[Verdict]) -> str:
    return "; ".join(f"{v.test} {v.verified:g}/{v.max_score:g} {v.status} {v.reason}" for v in verdicts)


@pytest.mark.parametrize("chapter", chapter_params())
def test_instructor_solutions_score_full_marks(chapter: str, verified: dict) -> None:
    verdicts = _result(verified, "solution", chapter)
    assert all(v.status == "passed" for v in verdicts), f"{chapter}: {_table(verdicts)}"
    release = gradetools.read_notebook(gradetools.release_path(chapter))
    source = gradetools.read_notebook(gradetools.solution_path(chapter))
    instructor = {
        nbtools.nbgrader_meta(c)["grade_id"]: c.source for c in source.cells if nbtools.nbgrader_meta(c).get("solution")
    }
    assert nbtools.integrity_flags(_answered(release, instructor), release) == []


@pytest.mark.parametrize("chapter", chapter_params())
def test_untouched_stubs_score_zero(chapter: str, verified: dict) -> None:
    verdicts = _result(verified, "stubs", chapter)
    assert not any(v.verified for v in verdicts), f"{chapter}: {_table(verdicts)}"
    assert all(v.status in ("wrong", "error") for v in verdicts), f"{chapter}: {_table(verdicts)}"


@pytest.mark.parametrize("chapter", chapter_params())
def test_wrong_answers_score_zero(chapter: str, verified: dict) -> None:
    verdicts = _result(verified, "wrong", chapter)
    solution_ids = {gid for ex in load_spec(ROOT, chapter).exercises for gid in ex.solutions}
    missing = sorted(solution_ids - set(WRONG.get(chapter, {})))
    assert not missing, (
        f"tests/grading/corpus/wrong_answers.py has no wrong answer for {chapter}'s solution cell(s) "
        f"{missing}: add one a learner might write, so the spec is shown to reject it."
    )
    accepted = [v for v in verdicts if v.verified or v.status not in ("wrong", "error", "rule_violation")]
    assert not accepted, f"{chapter}: verification did not reject these wrong answers: {_table(verdicts)}"
