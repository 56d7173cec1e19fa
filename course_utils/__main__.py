"""Command line of the course helpers: ``python -m course_utils doctor``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command and run it; the return value is the exit code."""
    parser = argparse.ArgumentParser(prog="python -m course_utils", description="Helpers of the hands-on CNN course.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "doctor",
        help="report versions, device, smoke mode, widgets and CIFAR-10 sources; exit 0 when the course can run",
    )
    args = parser.parse_args(argv)
    if args.command == "doctor":
        from .doctor import main as doctor

        return doctor()
    parser.error(f"unknown command {args.command!r}")  # argparse exits before this line
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
