"""``make collect``: copy hand-ins into nbgrader's ``submitted/<student>/<chapter>/<chapter>.ipynb``.

Accepted layouts of the folder the instructor received (mixable):

* ``<student>_<chapter>.ipynb``, e.g. ``ada_01_convolution.ipynb``;
* ``<student>/<chapter>.ipynb``, e.g. ``ada/01_convolution.ipynb`` (other files
  in ``<student>/`` are ignored: only notebooks are collected).

``<chapter>`` must be a chapter of ``solutions/``. Every misnamed file is
listed with what was expected, and then nothing is copied, so a run either
collects everything or changes nothing.

Example:
    python -m course_utils.grading.collect ~/Downloads/handins . --chapter 01_convolution
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

STUDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")


def chapters_of(course: Path) -> list[str]:
    return sorted(
        p.parent.name for p in course.glob("solutions/[0-9][0-9]_*/[0-9][0-9]_*.ipynb") if p.stem == p.parent.name
    )


def plan(source: Path, chapters: list[str]) -> tuple[list[tuple[Path, str, str]], list[str]]:
    """(file, student, chapter) for every hand-in, and one error line per misnamed file."""
    moves, errors = [], []
    expected = f"<student>_<chapter>.ipynb or <student>/<chapter>.ipynb with <chapter> one of {', '.join(chapters)}"
    for path in sorted(source.rglob("*.ipynb")):
        rel = path.relative_to(source)
        if any(part.startswith(".") for part in rel.parts):
            continue  # .ipynb_checkpoints and other hidden copies
        if len(rel.parts) == 1:
            match = next((ch for ch in chapters if path.stem.endswith("_" + ch)), None)
            student = path.stem[: -len(match) - 1] if match else ""
        elif len(rel.parts) == 2:
            match = path.stem if path.stem in chapters else None
            student = rel.parts[0]
        else:
            match, student = None, ""
        if match is None or not STUDENT.match(student):
            errors.append(
                f"{rel}: not a hand-in name this course knows; expected {expected} "
                "(student ids: letters, digits, dots, dashes and underscores)."
            )
            continue
        moves.append((path, student, match))
    seen: dict[tuple[str, str], Path] = {}
    for path, student, chapter in moves:
        if (student, chapter) in seen:
            errors.append(
                f"{path.relative_to(source)}: a second hand-in of {chapter} by {student} "
                f"(first: {seen[(student, chapter)].relative_to(source)}); keep one."
            )
        seen[(student, chapter)] = path
    return moves, errors


def collect(source: Path, course: Path, chapters: list[str] | None = None) -> list[Path]:
    """Copy every hand-in into ``course/submitted``; raise SystemExit listing misnamed files."""
    if not source.is_dir():
        raise SystemExit(f"collect: {source} is not a folder: point SUBMISSIONS at the folder of hand-ins.")
    known = chapters_of(course)
    moves, errors = plan(source, known)
    if chapters:
        moves = [m for m in moves if m[2] in chapters]
    if errors:
        raise SystemExit("collect: nothing copied; fix these names first:\n  " + "\n  ".join(errors))
    if not moves:
        raise SystemExit(f"collect: no .ipynb hand-ins found in {source}.")
    written = []
    for path, student, chapter in moves:
        dest = course / "submitted" / student / chapter / f"{chapter}.ipynb"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        written.append(dest)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.grading.collect", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("source", type=Path, help="folder of hand-ins as received")
    parser.add_argument("course", type=Path, nargs="?", default=Path("."), help="course root (default .)")
    parser.add_argument("--chapter", action="append", help="only this chapter (repeatable)")
    args = parser.parse_args(argv)
    written = collect(args.source, args.course.resolve(), args.chapter)
    students = {p.parts[-3] for p in written}
    print(f"collect: {len(written)} notebook(s) from {len(students)} student(s) into submitted/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
