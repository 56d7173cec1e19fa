"""Re-grade every submission outside the learner's kernel and compare with nbgrader.

``python -m course_utils.grading verify COURSE_ROOT [--chapter NN_topic ...]`` reads
``submitted/<student>/<chapter>/<chapter>.ipynb``, runs each exercise of the
chapter's spec (``grading/<chapter>.py``) in the sandbox, judges the outputs
here (this process never runs learner code), reads nbgrader's scores from
``gradebook.db`` when it exists, and writes:

* ``verified_grades.csv``: one row per student and chapter (verified score, nbgrader score, flags);
* ``verification.json``: every exercise's verdict, reason and flags;

and prints one line per disagreement with both graders' reasons, e.g.
``bob 01_convolution test_conv2d_unfold: in-kernel 0/3: AssertionError: ... forbids ...; verified 3/3: outputs match``
(nbgrader's reason is the first line of the error its test cell raised in the
autograded notebook). A hand-in nbgrader could not grade (``autograde.json``,
written by ``python -m course_utils.grading autograde``) is flagged ``nbgrader_failed``.
The verified score is the final grade. An autograder cell with no spec entry
keeps nbgrader's score and is flagged ``unverified``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import notebook as nbtools
from .autograde import outcomes_of
from .report import ExerciseResult, SubmissionResult, write_outputs
from .sandbox import Limits, network_isolation, run_child
from .spec import ChapterSpec, load_spec, spec_path


def _score_words(score: float | None, max_score: float) -> str:
    return "no grade" if score is None else f"{score:g}/{max_score:g}"


def disagreements(result: SubmissionResult) -> list[str]:
    """One line per exercise where nbgrader and verification differ, with each grader's reason.

    Example: ``bob 01_convolution test_x: in-kernel 0/3: NameError: name 'F' is not defined; verified 3/3: outputs match``
    """
    return [
        f"{result.student} {result.chapter} {e.test}: in-kernel {_score_words(e.nbgrader, e.max_score)}: "
        f"{e.nbgrader_reason or 'no error shown'}; verified {_score_words(e.verified, e.max_score)}: "
        f"{e.reason or ('outputs match' if e.status == 'passed' else e.status)}"
        for e in result.exercises
        if e.nbgrader is not None and e.nbgrader != e.verified and e.status != "unverified"
    ]


def first_error_line(output: dict) -> str:
    """``Name: message`` (first line) of an error output of an executed cell."""
    message = str(output.get("evalue", "")).strip().split("\n")[0][:200]
    return f"{output.get('ename', 'Error')}: {message}".rstrip(": ")


def nbgrader_reasons(course: Path, chapter: str, student: str) -> dict[str, str]:
    """Per autograder cell of the autograded notebook: the first error line it raised, or "passed"."""
    path = course / "autograded" / student / chapter / f"{chapter}.ipynb"
    if not path.is_file():
        return {}
    try:
        nb = nbtools.read(path)
    except ValueError:
        return {}
    reasons = {}
    for cell in nb.cells:
        meta = nbtools.nbgrader_meta(cell)
        if meta.get("grade") and not meta.get("solution") and meta.get("grade_id"):
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            stderr = any(o.get("name") == "stderr" for o in cell.get("outputs", []))
            reasons[meta["grade_id"]] = (
                first_error_line(errors[0])
                if errors
                else "printed to stderr (nbgrader counts that as a failure)"
                if stderr
                else "passed"
            )
    return reasons


def nbgrader_scores(course: Path, chapter: str, student: str) -> dict[str, float]:
    """nbgrader's score of every autograder cell of this submission ({} when there is no gradebook entry)."""
    db = course / "gradebook.db"
    if not db.is_file():
        return {}
    from nbgrader.api import Gradebook, MissingEntry

    gb = Gradebook(f"sqlite:///{db}")
    try:
        nb = gb.find_submission_notebook(chapter, chapter, student)
        return {g.name: float(g.score) for g in nb.grades}
    except MissingEntry:
        return {}
    finally:
        gb.close()


def find_notebook(folder: Path, chapter: str) -> tuple[Path | None, list[str]]:
    """The submitted notebook, and a flag when it was found under another name."""
    expected = folder / f"{chapter}.ipynb"
    if expected.is_file():
        return expected, []
    others = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if len(others) == 1:
        return others[0], [f"renamed_notebook:{others[0].name}"]
    return None, ["notebook_missing"]


def verify_submission(
    course: Path,
    spec: ChapterSpec,
    student: str,
    limits: Limits | None = None,
    autograde_outcomes: dict[tuple[str, str], dict] | None = None,
) -> SubmissionResult:
    """Verify one hand-in; ``autograde_outcomes``: nbgrader's outcomes by (student, chapter) (``autograde.json``)."""
    chapter = spec.chapter
    result = SubmissionResult(student, chapter)
    instructor = nbtools.read(course / "solutions" / chapter / f"{chapter}.ipynb")
    release_path = course / "notebooks" / chapter / f"{chapter}.ipynb"
    release = nbtools.read(release_path) if release_path.is_file() else None
    points = nbtools.test_points(instructor)
    scored = nbgrader_scores(course, chapter, student)
    nb_reasons = nbgrader_reasons(course, chapter, student)
    outcome = (autograde_outcomes or {}).get((student, chapter))
    if outcome is not None and outcome.get("status") != "graded":
        result.flags.append("nbgrader_failed")
        nb_reasons = {test: f"not graded: {outcome.get('reason', '')}" for test in points}
    by_test = {ex.test: ex for ex in spec.exercises}
    path, flags = find_notebook(course / "submitted" / student / chapter, chapter)
    result.flags += flags
    submission = None
    if path is not None:
        try:
            submission = nbtools.read(path)
        except ValueError as exc:
            result.flags.append("unreadable_notebook")
            result.flags.append(str(exc))
    records: dict[str, dict] = {}
    sources_by_test: dict[str, list[str]] = {}  # the solution cells, for the spec's source rules (checks helper)
    if submission is not None:
        result.flags += nbtools.integrity_flags(submission, release, nbtools.raw_cell_ids(path))
        jobs, missing_cells = [], {}
        for ex in spec.exercises:
            sources, missing = nbtools.solution_sources(submission, list(ex.solutions))
            if missing:
                missing_cells[ex.test] = missing
                continue
            sources_by_test[ex.test] = sources
            jobs.append({**ex.job(), "cells": sources})
        for test, missing in missing_cells.items():
            records[test] = {"status": "error", "error": f"solution cell(s) {', '.join(missing)} not found"}
        if jobs:
            setup = nbtools.setup_sources(instructor, list(spec.setup_cells or ()))
            denied = [str(course.resolve())]
            records.update(run_child(setup, jobs, denied=denied, limits=limits))
    for test, max_score in points.items():
        nb_score = scored.get(test)
        ex = by_test.get(test)
        if ex is None:
            result.exercises.append(
                ExerciseResult(
                    test, max_score, nb_score or 0.0, nb_score, "unverified", nbgrader_reason=nb_reasons.get(test, "")
                )
            )
            result.flags.append(f"unverified:{test}")
            continue
        record = records.get(test, {"status": "error", "error": "no submission to run"})
        status, reason = record.get("status", "error"), str(record.get("error", ""))
        # The statement's rules (forbidden routes, inputs changed in place, return kinds): Exercise.rule_violation.
        violation = ex.rule_violation(sources_by_test.get(test), record)
        if violation:
            status, reason = "rule_violation", violation
        elif status == "ok":
            try:
                why = ex.verdict(record.get("outputs", []))
            except Exception as exc:  # noqa: BLE001 - odd plain data must cost this exercise, not the whole run
                why = f"the output could not be judged ({type(exc).__name__}: {str(exc)[:120]})"
            status, reason = ("passed", "") if why is None else ("wrong", why)
        if status in ("timeout", "crashed"):
            result.flags.append(f"{status}:{test}")
        verified = max_score if status == "passed" else 0.0
        result.exercises.append(
            ExerciseResult(test, max_score, verified, nb_score, status, reason[:300], nb_reasons.get(test, ""))
        )
    if any(e.nbgrader is not None and e.nbgrader > e.verified for e in result.exercises if e.status != "unverified"):
        result.flags.append("nbgrader_higher")
    if any(e.nbgrader is not None and e.nbgrader < e.verified for e in result.exercises):
        result.flags.append("nbgrader_lower")
    return result


def verify_course(
    course: Path, chapters: list[str] | None = None, *, jobs: int = 2, limits: Limits | None = None
) -> list[SubmissionResult]:
    """Verify every submission in ``course/submitted`` (of ``chapters``, or every chapter with a spec)."""
    course = Path(course).resolve()
    submitted = course / "submitted"
    if not submitted.is_dir():
        raise SystemExit(f"verify: no {submitted}: run `make collect` (or put submissions there) first.")
    names = chapters or sorted({p.name for p in submitted.glob("*/*") if p.is_dir()})
    tasks = []
    for chapter in names:
        spec = load_spec(course, chapter)
        if spec is None:  # every test cell keeps nbgrader's score, flagged unverified, so the grades CSV lists it
            print(f"verify: no grading/{chapter}.py: {chapter} is not verified (nbgrader's grades stand).")
            spec = ChapterSpec(chapter, spec_path(course, chapter))
        for folder in sorted(submitted.glob(f"*/{chapter}")):
            tasks.append((spec, folder.parent.name))
    outcomes = outcomes_of(course)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(lambda t: verify_submission(course, t[0], t[1], limits, outcomes), tasks))


def run(
    course: Path,
    chapters: list[str] | None = None,
    *,
    jobs: int = 2,
    limits: Limits | None = None,
    csv_path: Path | None = None,
) -> list[SubmissionResult]:
    """Verify, write the outputs and print what needs a look (``python -m course_utils.grading verify``).

    Quiet when all is well: one line per hand-in with a flag, one per disagreement, and counts.
    """
    course = Path(course).resolve()
    limits = limits or Limits()
    csv_path = csv_path or course / "verified_grades.csv"
    net = "no network (unshare -rn)" if network_isolation() else "network blocked by an audit hook only"
    print(f"==> verify: sandbox: python -I, empty temp folder, {limits.memory_mb} MiB, {net}", flush=True)
    start = time.monotonic()
    results = verify_course(course, chapters, jobs=jobs, limits=limits)
    write_outputs(course, results, csv_path)
    flagged = [r for r in results if r.flags]
    print(
        f"verify: {len(results)} hand-in(s) verified in {time.monotonic() - start:.0f} s; "
        f"{len(flagged)} flagged" + (":" if flagged else "")
    )
    for r in flagged:
        print(
            f"  {r.student} {r.chapter}: verified {r.verified:g}/{r.max_score:g}, "
            f"nbgrader {'-' if r.nbgrader is None else f'{r.nbgrader:g}'}; flags: {' '.join(r.flags)}"
        )
    lines = [line for r in results for line in disagreements(r)]
    if lines:
        print(f"verify: {len(lines)} disagreement(s) with nbgrader:")
        for line in lines:
            print(f"  {line}")
    print(f"verify: verified grades in {csv_path.name} and verification.json (`make grades` writes grades.csv)")
    return results
