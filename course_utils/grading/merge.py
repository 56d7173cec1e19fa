"""Merge grading results: one gradebook into another, or a whole course folder graded elsewhere.

``make autograde JOBS=N`` grades each group of students in its own copy of the
gradebook and merges the copies back with :func:`merge_gradebook`. The same
merge splits a class across machines: copy the course to each machine, put a
share of the students in each copy's ``submitted/`` (by student), run
``make autograde`` on each, bring the course folders back and run::

    python -m course_utils.grading merge machine2/ machine3/ --into .

which merges each folder's ``gradebook.db`` (every submission, grade and
comment), ``autograded/``, ``verification.json`` and ``autograde.json`` into
this course; ``make grades`` then writes one ``grades.csv`` for the class. A
hand-in present on both sides takes the merged-in side's results.

Every gradebook must come from the same ``make release`` (the same chapters,
test cells and points); a gradebook from another release is refused.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

_STUDENT = ("first_name", "last_name", "email", "lms_user_id")


def merge_gradebook(source: Path, dest: Path, handins: set[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    """Copy the submissions of ``source`` (gradebook.db files) into ``dest``; return (student, chapter) merged.

    ``handins``: only these (student, chapter) pairs (default: all). Raises SystemExit when ``dest``
    lacks a chapter or a cell of ``source`` (gradebooks of different releases).
    """
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SAWarning

    merged = []
    with (
        warnings.catch_warnings(),
        Gradebook(f"sqlite:///{Path(source).resolve()}") as src,
        Gradebook(f"sqlite:///{Path(dest).resolve()}") as dst,
    ):
        # nbgrader's add_submission builds rows before adding them to the session (a harmless SAWarning).
        warnings.simplefilter("ignore", SAWarning)
        for assignment in src.assignments:
            subs = [s for s in assignment.submissions if handins is None or (s.student.id, assignment.name) in handins]
            if not subs:
                continue
            try:
                dst.find_assignment(assignment.name)
            except MissingEntry:
                raise SystemExit(
                    f"merge: {dest} has no chapter {assignment.name}: run `make release` there first."
                ) from None
            for sub in subs:
                student = sub.student
                dst.update_or_create_student(student.id, **{k: getattr(student, k) for k in _STUDENT})
                dst.update_or_create_submission(
                    assignment.name, student.id, timestamp=sub.timestamp, extension=sub.extension
                )
                for nb in sub.notebooks:
                    try:
                        into = dst.find_submission_notebook(nb.name, assignment.name, student.id)
                        into.flagged, into.late_submission_penalty = nb.flagged, nb.late_submission_penalty
                        for grade in nb.grades:
                            g = dst.find_grade(grade.name, nb.name, assignment.name, student.id)
                            g.auto_score, g.manual_score = grade.auto_score, grade.manual_score
                            g.extra_credit, g.needs_manual_grade = grade.extra_credit, grade.needs_manual_grade
                        for comment in nb.comments:
                            c = dst.find_comment(comment.name, nb.name, assignment.name, student.id)
                            c.auto_comment, c.manual_comment = comment.auto_comment, comment.manual_comment
                    except MissingEntry as exc:
                        dst.db.rollback()
                        raise SystemExit(
                            f"merge: {source} and {dest} come from different releases of "
                            f"{assignment.name} ({exc}); run `make release` once and copy its gradebook."
                        ) from None
                dst.db.commit()
                merged.append((student.id, assignment.name))
    return merged


def _merge_rows(name: str, source: Path, dest: Path) -> int:
    """Merge a list-of-dicts report (keyed by student and chapter) of ``source`` into ``dest``."""
    src = source / name
    if not src.is_file():
        return 0
    rows = json.loads(src.read_text())
    old = json.loads((dest / name).read_text()) if (dest / name).is_file() else []
    keys = {(r["student"], r["chapter"]) for r in rows}
    kept = [r for r in old if (r["student"], r["chapter"]) not in keys]
    (dest / name).write_text(json.dumps(kept + rows, indent=1))
    return len(rows)


def merge_course(source: Path, dest: Path) -> str:
    """Merge a course folder graded on another machine into ``dest``; return a one-line account."""
    source, dest = Path(source).resolve(), Path(dest).resolve()
    if not (source / "gradebook.db").is_file():
        raise SystemExit(f"merge: {source} has no gradebook.db: point at a course folder where `make autograde` ran.")
    if not (dest / "gradebook.db").is_file():
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / "gradebook.db", dest / "gradebook.db")
        merged = sorted({(s, a) for s, a in _all_submissions(source / "gradebook.db")})
    else:
        merged = merge_gradebook(source / "gradebook.db", dest / "gradebook.db")
    copied = 0
    for folder in sorted((source / "autograded").glob("*/*")):
        if folder.is_dir():
            target = dest / "autograded" / folder.parent.name / folder.name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(folder, target)
            copied += 1
    verified = _merge_rows("verification.json", source, dest)
    _merge_rows("autograde.json", source, dest)
    return (
        f"merge: {source.name}: {len(merged)} submission(s) into gradebook.db, {copied} autograded folder(s), "
        f"{verified} verified grade(s) into verification.json"
    )


def _all_submissions(db: Path) -> list[tuple[str, str]]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db.resolve()}") as gb:
        return [(s.student.id, a.name) for a in gb.assignments for s in a.submissions]
