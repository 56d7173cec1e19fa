"""``make autograde``: nbgrader on every hand-in in N parallel processes, then one summary.

Students are split into ``jobs`` groups (a student's hand-ins stay together).
Each group is graded by its own ``nbgrader autograde`` process in a private
copy of the course folder (``.autograde-work/wK/``: the config, links to
``solutions/`` and to the group's hand-ins, and a copy of ``gradebook.db``), so
no two processes ever write the same database. When all are done, each copy's
grades are merged into the course's ``gradebook.db`` (:mod:`.merge`) and its
autograded notebooks are moved into ``autograded/``.

nbgrader's log (``autograde.log``) is read hand-in by hand-in: a hand-in
nbgrader could not grade (a dead kernel, a crash) is one line with the reason,
and what nbgrader repaired (an edited locked cell, a deleted test cell, a cell
copied twice) is one line too; ``autograde.json`` keeps both for the
verification's flags. The run fails (exit 1) only when grading itself could not
be done: no gradebook, no hand-in, or an nbgrader process that stopped before
reaching its hand-ins.

Example:
    >>> outcomes = autograde(Path("."), jobs=2)  # doctest: +SKIP
    >>> [o.reason for o in outcomes if o.status == "failed"]  # doctest: +SKIP
    ['the kernel died (DeadKernelError: Kernel died)']
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .merge import merge_gradebook

WORK = ".autograde-work"
CHAPTER_GLOB = "[0-9][0-9]_*"


@dataclass
class Outcome:
    """What nbgrader made of one hand-in: ``graded`` or ``failed`` (with why), and what it repaired."""

    student: str
    chapter: str
    status: str = "failed"
    reason: str = ""
    notes: list[str] = field(default_factory=list)


def find_handins(course: Path, chapters: list[str] | None = None) -> list[tuple[str, str]]:
    """(student, chapter) of every folder ``submitted/<student>/<chapter>/`` (of ``chapters`` if given)."""
    found = sorted((p.parent.name, p.name) for p in (course / "submitted").glob(f"*/{CHAPTER_GLOB}") if p.is_dir())
    return [h for h in found if not chapters or h[1] in chapters]


def split_by_student(handins: list[tuple[str, str]], jobs: int) -> list[list[tuple[str, str]]]:
    """At most ``jobs`` groups of hand-ins, each student's in one group, sizes as even as possible."""
    by_student: dict[str, list[tuple[str, str]]] = {}
    for h in handins:
        by_student.setdefault(h[0], []).append(h)
    groups: list[list[tuple[str, str]]] = [[] for _ in range(max(1, min(jobs, len(by_student))))]
    for student in sorted(by_student, key=lambda s: (-len(by_student[s]), s)):
        min(groups, key=len).extend(by_student[student])
    return [g for g in groups if g]


def released_chapters(db: Path) -> set[str]:
    """The chapters (nbgrader assignments) a gradebook knows."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{Path(db).resolve()}") as gb:
        return {a.name for a in gb.assignments}


def _workdir(course: Path, name: str, group: list[tuple[str, str]]) -> Path:
    work = course / WORK / name
    shutil.rmtree(work, ignore_errors=True)
    (work / "submitted").mkdir(parents=True)
    shutil.copy2(course / "nbgrader_config.py", work / "nbgrader_config.py")  # its root is its own folder
    shutil.copy2(course / "gradebook.db", work / "gradebook.db")
    for folder in ("solutions", "notebooks"):
        if (course / folder).is_dir():
            (work / folder).symlink_to(course / folder)
    for student, chapter in group:
        (work / "submitted" / student).mkdir(exist_ok=True)
        (work / "submitted" / student / chapter).symlink_to(course / "submitted" / student / chapter)
    return work


def _env(jobs: int) -> dict[str, str]:
    env = dict(os.environ, COURSE_SMOKE="1", MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"  # nbgrader runs `alembic` from PATH
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // max(1, jobs))))
    return env


_PATH = re.compile(r"/(?:submitted|autograded)/([^/\s]+)/([^/\s]+)(?:/|$)")
_FAILED = re.compile(r"There was an error processing assignment '([^']+)' for student '([^']+)'")
_FAILING = "[AutogradeApp | ERROR] There was an error processing assignment: "
_EXCEPTION = re.compile(r"^\s*(?:[\w.]+\.)?(\w*(?:Error|Exception|Exit|Interrupt|Timeout)):?\s?(.*)$")
_NOTES = [
    (
        re.compile(r"Attribute 'checksum' for cell (\S+) has changed"),
        "locked cell {0} edited (nbgrader ran the original)",
    ),
    (
        re.compile(r"Attribute 'points' for cell (\S+) has changed"),
        "points of {0} changed (nbgrader used the original)",
    ),
    (
        re.compile(r"Attribute '(?:locked|cell_type)' for cell (\S+) has changed"),
        "nbgrader metadata of {0} changed (restored)",
    ),
    (
        re.compile(r"Cell with id '([^']+)' exists multiple times"),
        "cell {0} appears more than once (graded: its last copy)",
    ),
    (re.compile(r"Missing grade cell (\S+) encountered"), "test cell {0} deleted (nbgrader put it back)"),
    (re.compile(r"Skipping unknown notebook: .*/([^/]+\.ipynb)$"), "a notebook named {0!r}, not the chapter's name"),
]
_QUIET = ("Removing failed assignment", "is late", "Please see the the above traceback")


def _reason(exc: tuple[str, str] | None, chapter: str) -> str:
    if exc is None:
        return "nbgrader stopped on it (see autograde.log)"
    name, message = exc
    text = f"{name}: {message}".strip().rstrip(":")[:200]
    if name == "DeadKernelError":
        return f"the kernel died ({text})"
    if name in ("CellTimeoutError", "TimeoutError") or "didn't respond" in message:
        return f"the kernel did not answer ({text})"
    if message.startswith("No notebooks found"):
        return f"no {chapter}.ipynb in the hand-in"
    return f"nbgrader crashed on it ({text})"


def read_log(text: str) -> dict[tuple[str, str], Outcome]:
    """Per hand-in failures and repairs from an ``nbgrader autograde --log-level=INFO`` log.

    nbgrader logs what it is working on (a path ``submitted/<student>/<chapter>``), a failure as
    "There was an error processing assignment: <path>" followed by the traceback, and repairs as warnings.
    """
    found: dict[tuple[str, str], Outcome] = {}
    current: tuple[str, str] | None = None  # the hand-in nbgrader is working on
    failing: tuple[str, str] | None = None  # the hand-in whose traceback is being logged
    for line in text.splitlines():
        failed = _FAILED.search(line)  # nbgrader's closing list of failures
        if failed:
            outcome = found.setdefault((failed.group(2), failed.group(1)), Outcome(failed.group(2), failed.group(1)))
            outcome.reason = outcome.reason or _reason(None, outcome.chapter)
            continue
        path = _PATH.search(line)
        key = (path.group(1), path.group(2)) if path else None
        if line.startswith(_FAILING) and key:
            failing = key
            found.setdefault(key, Outcome(*key))
            continue
        if line.startswith("[AutogradeApp | INFO]") and key:
            current = key
            failing = failing if key == failing else None
            continue
        exc = _EXCEPTION.match(line)
        if exc and failing and not line.startswith("["):
            found[failing].reason = _reason((exc.group(1), exc.group(2)), failing[1])
            continue
        if line.startswith("[AutogradeApp | WARNING]") and (key or current):
            message = line.split("]", 1)[1].strip()
            if any(q in message for q in _QUIET):
                continue
            note = next((text.format(*m.groups()) for rx, text in _NOTES if (m := rx.search(message))), message[:200])
            outcome = found.setdefault(key or current, Outcome(*(key or current)))
            if note not in outcome.notes:
                outcome.notes.append(note)
    return found


def _nbgrader(work: Path, extra: list[str], jobs: int, log: Path) -> subprocess.Popen:
    cmd = [
        str(Path(sys.executable).parent / "nbgrader"),
        "autograde",
        "*",
        "--create",
        "--force",
        "--log-level=INFO",
        *extra,
    ]
    with open(log, "wb") as out:
        return subprocess.Popen(
            cmd, cwd=work, env=_env(jobs), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


def autograde(
    course: Path, chapters: list[str] | None = None, *, jobs: int = 1, nbgrader_args: list[str] | None = None
) -> list[Outcome]:
    """Grade every hand-in in ``course/submitted`` with nbgrader, ``jobs`` processes at once.

    Writes ``autograded/``, the grades into ``gradebook.db``, ``autograde.log`` (nbgrader's log) and
    ``autograde.json`` (one :class:`Outcome` per hand-in). Raises SystemExit when grading cannot be done.
    """
    course = Path(course).resolve()
    if not (course / "gradebook.db").is_file():
        raise SystemExit(
            "autograde: no gradebook.db: run `make release` first (it records each chapter's tests and points)."
        )
    handins = find_handins(course, chapters)
    if not handins:
        raise SystemExit(
            "autograde: no hand-ins: put them in submitted/<student>/<chapter>/<chapter>.ipynb "
            "(`make collect SUBMISSIONS=folder`)."
        )
    missing = sorted({ch for _, ch in handins} - released_chapters(course / "gradebook.db"))
    if missing:
        raise SystemExit(
            f"autograde: {', '.join(missing)} not in gradebook.db: run `make release` first "
            "(it records each chapter's tests and points)."
        )
    groups = split_by_student(handins, jobs)
    workers = []
    for k, group in enumerate(groups):
        work = _workdir(course, f"w{k}", group)
        workers.append((group, work, _nbgrader(work, list(nbgrader_args or []), len(groups), work / "nbgrader.log")))
    outcomes: list[Outcome] = []
    stopped: list[str] = []
    logs = []
    for group, work, proc in workers:
        code = proc.wait()
        text = (work / "nbgrader.log").read_text(errors="replace")
        logs.append(text)
        seen = read_log(text)
        for student, chapter in group:
            outcome = seen.get((student, chapter), Outcome(student, chapter))
            built = work / "autograded" / student / chapter
            dest = course / "autograded" / student / chapter
            if dest.exists():
                shutil.rmtree(dest)
            if (built / f"{chapter}.ipynb").is_file() and not outcome.reason:
                outcome.status = "graded"
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(built), str(dest))
            elif not outcome.reason:
                outcome.reason = "nbgrader stopped before grading it (see autograde.log)"
                if code != 0:
                    stopped.append(f"{student}/{chapter}")
            outcomes.append(outcome)
        merge_gradebook(work / "gradebook.db", course / "gradebook.db", set(group))
    (course / "autograde.log").write_text("\n".join(logs))
    (course / "autograde.json").write_text(json.dumps([asdict(o) for o in outcomes], indent=1))
    shutil.rmtree(course / WORK, ignore_errors=True)
    if stopped:
        raise SystemExit(
            f"autograde: nbgrader stopped before grading {len(stopped)} hand-in(s) "
            f"({', '.join(stopped[:5])}{', ...' if len(stopped) > 5 else ''}); see autograde.log."
        )
    return outcomes


def summary(outcomes: list[Outcome], seconds: float, jobs: int) -> list[str]:
    """The lines ``make autograde`` prints: a count, then one line per hand-in nbgrader failed or repaired."""
    failed = [o for o in outcomes if o.status != "graded"]
    lines = [
        f"autograde: {len(outcomes) - len(failed)} of {len(outcomes)} hand-in(s) graded by nbgrader in "
        f"{seconds:.0f} s with {jobs} process(es) ({60 * len(outcomes) / max(seconds, 1e-9):.1f} hand-ins/min)"
    ]
    for o in outcomes:
        if o.status != "graded":
            lines.append(f"  {o.student} {o.chapter}: not graded by nbgrader: {o.reason}; verification still grades it")
        for note in o.notes:
            lines.append(f"  {o.student} {o.chapter}: {note}")
    return lines


def outcomes_of(course: Path) -> dict[tuple[str, str], dict]:
    """The last run's outcomes (``autograde.json``) by (student, chapter); {} when there is none."""
    path = Path(course) / "autograde.json"
    try:
        return {(o["student"], o["chapter"]): o for o in json.loads(path.read_text())}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def run(course: Path, chapters: list[str] | None, jobs: int, nbgrader_args: list[str]) -> list[Outcome]:
    """Autograde and print the summary (what ``python -m course_utils.grading autograde`` does first)."""
    print(f"==> nbgrader autograde, {jobs} process(es), smoke mode (nbgrader's log: autograde.log)", flush=True)
    start = time.monotonic()
    outcomes = autograde(course, chapters, jobs=jobs, nbgrader_args=nbgrader_args)
    for line in summary(outcomes, time.monotonic() - start, jobs):
        print(line)
    return outcomes
