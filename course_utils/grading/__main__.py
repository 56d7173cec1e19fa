"""``python -m course_utils.grading COMMAND``: the instructor's grading commands (the Makefile calls these).

    autograde [COURSE] [--jobs N] [--chapter NN_x] [--nbgrader=ARGS]
                nbgrader on every hand-in (N processes), nbgrader's grades.csv, then verify;
                exit 1 only when grading could not be done (no gradebook, no hand-in, nbgrader stopped)
    verify    [COURSE] [--jobs N] [--chapter NN_x]   re-grade outside the learner's kernel
    grades    [COURSE] [--csv grades.csv]            the grades CSV from the last verification
    collect   HANDINS [COURSE] [--chapter NN_x]      hand-ins into submitted/<student>/<chapter>/
    merge     OTHER_COURSE ... [--into COURSE]       course folders graded on other machines into this one

Example:
    python -m course_utils.grading autograde . --jobs 4
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path


def _autograde(args: argparse.Namespace) -> int:
    from .autograde import run
    from .sandbox import Limits
    from .verify import run as verify

    course = args.course.resolve()
    run(course, args.chapter, args.jobs, shlex.split(args.nbgrader or ""))
    print("==> nbgrader export -> grades.csv (nbgrader's grades; `make grades` replaces it with the verified ones)")
    nbgrader = Path(sys.executable).parent / "nbgrader"
    export = subprocess.run([str(nbgrader), "export", "--to", "grades.csv", "--log-level=WARN"], cwd=course)
    if export.returncode != 0:
        print("autograde: nbgrader export failed (see above); grades.csv was not written.")
        return 1
    verify(course, args.chapter, jobs=args.jobs, limits=Limits(memory_mb=args.memory_mb or Limits.memory_mb))
    return 0


def main(argv: list[str] | None = None) -> int:
    # nbgrader runs the `alembic` command (from PATH) when it opens a gradebook: this Python's bin/ goes first,
    # so the commands work from a virtual environment that is not activated.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

    parser = argparse.ArgumentParser(prog="python -m course_utils.grading", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def course_command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("course", nargs="?", default=Path("."), type=Path, help="course root (default .)")
        p.add_argument("--chapter", action="append", help="only this chapter (repeatable)")
        return p

    p = course_command("autograde", "nbgrader in N processes, nbgrader's grades.csv, then verify")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="processes at once: nbgrader processes (students split between them), then verification children",
    )
    p.add_argument("--nbgrader", default="", help="extra nbgrader arguments, e.g. --nbgrader=--Execute.timeout=60")
    p.add_argument("--memory-mb", type=int, default=None, help="address-space limit of a verification child (MiB)")
    p = course_command("verify", "re-grade outside the learner's kernel (verified_grades.csv, verification.json)")
    p.add_argument("--jobs", type=int, default=2, help="hand-ins verified at once (default 2)")
    p.add_argument("--csv", type=Path, default=None, help="where to write the grades (default verified_grades.csv)")
    p.add_argument("--memory-mb", type=int, default=None, help="address-space limit of a child (MiB)")
    p = course_command("grades", "write the grades CSV from the last verification.json (nothing is re-run)")
    p.add_argument("--csv", type=Path, default=Path("grades.csv"), help="where to write it (default grades.csv)")
    p = sub.add_parser("collect", help="hand-ins as received into submitted/<student>/<chapter>/")
    p.add_argument("source", type=Path, help="folder of hand-ins as received")
    p.add_argument("course", type=Path, nargs="?", default=Path("."), help="course root (default .)")
    p.add_argument("--chapter", action="append", help="only this chapter (repeatable)")
    p = sub.add_parser("merge", help="merge course folders graded on other machines into this one")
    p.add_argument("sources", nargs="+", type=Path, help="course folders where `make autograde` ran")
    p.add_argument("--into", type=Path, default=Path("."), help="the course that receives them (default .)")
    args = parser.parse_args(argv)

    if args.command == "autograde":
        return _autograde(args)
    if args.command == "verify":
        from .sandbox import Limits
        from .verify import run

        run(
            args.course,
            args.chapter,
            jobs=args.jobs,
            limits=Limits(memory_mb=args.memory_mb or Limits.memory_mb),
            csv_path=args.csv.resolve() if args.csv else None,
        )
        return 0
    if args.command == "grades":
        from .report import csv_from_report

        return csv_from_report(args.course.resolve(), args.csv.resolve(), args.chapter)
    if args.command == "collect":
        from .collect import main as collect

        return collect([str(args.source), str(args.course)] + [f"--chapter={c}" for c in args.chapter or ()])
    from .merge import merge_course

    for source in args.sources:
        print(merge_course(source, args.into))
    return 0


if __name__ == "__main__":
    sys.exit(main())
