"""Verification results (one per hand-in and exercise) and the report on disk: ``verification.json`` (every verdict) and the grades CSV.

``write_outputs`` writes both after a verification run; ``csv_from_report`` rewrites the CSV from
the last ``verification.json`` without re-running anything (``make grades``).
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["ExerciseResult", "SubmissionResult", "csv_from_report", "report_rows", "write_csv", "write_outputs"]


@dataclass
class ExerciseResult:
    test: str
    max_score: float
    verified: float
    nbgrader: float | None
    status: str
    reason: str = ""
    nbgrader_reason: str = ""


@dataclass
class SubmissionResult:
    student: str
    chapter: str
    exercises: list[ExerciseResult] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    @property
    def verified(self) -> float:
        return sum(e.verified for e in self.exercises)

    @property
    def nbgrader(self) -> float | None:
        scores = [e.nbgrader for e in self.exercises]
        return None if all(s is None for s in scores) else sum(s or 0 for s in scores)

    @property
    def max_score(self) -> float:
        return sum(e.max_score for e in self.exercises)


def report_rows(results: list[SubmissionResult]) -> list[dict]:
    """The verification report (what ``verification.json`` holds): one dict per submission."""
    return [
        {
            "student": r.student,
            "chapter": r.chapter,
            "verified": r.verified,
            "nbgrader": r.nbgrader,
            "max_score": r.max_score,
            "flags": r.flags,
            "exercises": [asdict(e) for e in r.exercises],
        }
        for r in results
    ]


def write_csv(rows: list[dict], csv_path: Path) -> None:
    """One line per student and chapter: the verified score (final), the maximum, nbgrader's score and the flags."""
    with open(csv_path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student_id", "assignment", "score", "max_score", "nbgrader_score", "flags"])
        for r in rows:
            writer.writerow(
                [
                    r["student"],
                    r["chapter"],
                    f"{r['verified']:g}",
                    f"{r['max_score']:g}",
                    "" if r["nbgrader"] is None else f"{r['nbgrader']:g}",
                    " ".join(r["flags"]),
                ]
            )


def write_outputs(course: Path, results: list[SubmissionResult], csv_path: Path) -> None:
    rows = report_rows(results)
    write_csv(rows, csv_path)
    (course / "verification.json").write_text(json.dumps(rows, indent=1))


def csv_from_report(course: Path, csv_path: Path, chapters: list[str] | None = None) -> int:
    """Write the grades CSV from the last verification (``verification.json``) without re-running it."""
    report = course / "verification.json"
    if not report.is_file():
        raise SystemExit(f"verify: no {report}: run `make autograde` (or `make verify`) first.")
    rows = [r for r in json.loads(report.read_text()) if not chapters or r["chapter"] in chapters]
    write_csv(rows, csv_path)
    print(f"verify: {len(rows)} verified grade(s) from {report.name} written to {csv_path}")
    return 0
