"""Run the test suite in stages and print how long each took.

`make test` calls this with the course's virtual environment. The first stage,
lint, runs `ruff check .` and `ruff format --check .` (configured in
pyproject.toml); the next, imports, checks the package's layering and import
graph (tests/test_package.py); every other stage is one pytest run. A stage
that collects no test fails (pytest's exit code 5 is an error here, never a
silent pass), and the summary at the end names every stage, its outcome and its
time, so CI logs show where the minutes went.

Extra arguments go to every pytest run (e.g. `make test PYTEST_ARGS=-x`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Commands of the lint stage, run from the course root; each must exit 0.
LINT: list[list[str]] = [["ruff", "check", "."], ["ruff", "format", "--check", "."]]

# name, pytest arguments
STAGES: list[tuple[str, list[str]]] = [
    ("imports", ["tests/test_package.py"]),
    (
        "unit",
        [
            "tests",
            "--ignore=tests/test_package.py",
            "--ignore=tests/notebooks",
            "--ignore=tests/grading",
            "--ignore=tests/site",
        ],
    ),
    ("notebooks", ["tests/notebooks"]),
    ("grading", ["tests/grading"]),
    ("site", ["tests/site"]),
]


def main(extra: list[str]) -> int:
    env = dict(os.environ)
    env.setdefault("COURSE_SMOKE", "1")  # the suite always runs chapters in smoke mode
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    results: list[tuple[str, str, float]] = []

    bootstrap = ROOT / os.environ.get("VENV", ".venv") / ".bootstrap-seconds"
    if bootstrap.exists() and time.time() - bootstrap.stat().st_mtime < 3600:
        results.append(("bootstrap", "done", float(bootstrap.read_text().strip() or 0)))
    else:
        results.append(("bootstrap", "skipped", 0.0))

    failed = False
    print("\n===== stage lint: " + "; ".join(" ".join(c) for c in LINT), flush=True)
    start = time.monotonic()
    codes = [subprocess.call([sys.executable, "-m", *command], cwd=ROOT, env=env) for command in LINT]
    for command, code in zip(LINT, codes):
        if code != 0:
            print(f"lint: `{' '.join(command)}` failed (run it, or `ruff check --fix .` / `ruff format .`, to see why)")
    results.append(("lint", "passed" if not any(codes) else "FAILED", time.monotonic() - start))
    failed |= any(codes)

    for name, args in STAGES:
        if not any((ROOT / a).exists() for a in args if not a.startswith("-")):
            results.append((name, "missing", 0.0))
            failed = True
            continue
        print(f"\n===== stage {name}: pytest {' '.join(args + extra)}", flush=True)
        start = time.monotonic()
        code = subprocess.call([sys.executable, "-m", "pytest", *args, *extra], cwd=ROOT, env=env)
        seconds = time.monotonic() - start
        if code == 0:
            outcome = "passed"
        elif code == 5:
            outcome = "NO TESTS"  # a stage that runs nothing is a failure
        else:
            outcome = f"FAILED ({code})"
        failed |= code != 0
        results.append((name, outcome, seconds))

    total = sum(s for _, _, s in results)
    print("\n===== timing summary")
    for name, outcome, seconds in results:
        print(f"  {name:<10} {outcome:<12} {seconds:7.1f} s")
    print(f"  {'total':<10} {'':<12} {total:7.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
