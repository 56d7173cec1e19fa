"""Every solution notebook runs top to bottom in smoke mode and passes its own tests.

Each chapter is executed by nbval (`--nbval-lax`: any cell that raises fails the
run; outputs are not compared) in a separate pytest process, with the kernel
started in the notebook's own folder, COURSE_SMOKE=1 and MPLBACKEND=Agg. The
solution notebook contains the solutions and the hidden tests, so a pass means
the reference answers satisfy every check. Each chapter must also finish within
the smoke budget (COURSE_NOTEBOOK_BUDGET_S seconds, 60 by default) and must
not leave files in solutions/<chapter>/ (generate_assignment would copy them
into the student release).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "grading"))
from gradetools import ROOT, chapter_params, report, require_chapter, solution_path  # noqa: E402

BUDGET_S = float(os.environ.get("COURSE_NOTEBOOK_BUDGET_S", "60"))
CELL_TIMEOUT_S = 120  # same per-cell limit as autograding (nbgrader_config.py)
IGNORED = {".ipynb_checkpoints", "__pycache__"}


def snapshot(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if not IGNORED & set(p.relative_to(folder).parts)}


@pytest.mark.parametrize("chapter", chapter_params())
def test_solution_notebook_runs_in_smoke_mode(chapter: str, request: pytest.FixtureRequest) -> None:
    require_chapter(chapter)
    notebook = solution_path(chapter)
    folder = notebook.parent
    before = snapshot(folder)
    env = dict(os.environ, COURSE_SMOKE="1", MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    args = [
        sys.executable, "-m", "pytest",
        "--nbval-lax", "--nbval-current-env", f"--nbval-cell-timeout={CELL_TIMEOUT_S}",
        "-p", "no:cacheprovider", "-q", "--color=no", "--rootdir", str(ROOT),
        str(notebook.relative_to(ROOT)),
    ]  # fmt: skip
    start = time.monotonic()
    try:
        proc = subprocess.run(
            args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=max(300.0, 5 * BUDGET_S),
        )  # fmt: skip
        code, output = proc.returncode, proc.stdout
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        code, output = -1, f"killed after {exc.timeout:.0f} s\n{out}"
    seconds = time.monotonic() - start
    output = re.sub(r"\x1b\[[0-9;]*m", "", output)  # IPython colours its tracebacks
    report(request.config, f"\n[solutions] {chapter}: executed with nbval in {seconds:.1f} s (budget {BUDGET_S:.0f} s)")

    left = sorted(snapshot(folder) - before)
    for path in sorted(left, reverse=True):  # leave solutions/ as it was
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    assert code == 0, f"solutions/{chapter}/{chapter}.ipynb failed under nbval (exit {code}):\n{output[-8000:]}"
    assert not left, (
        f"running solutions/{chapter}/{chapter}.ipynb wrote {[str(p.relative_to(folder)) for p in left]} "
        "into its own folder (removed again); generate_assignment would copy such files into the release. "
        "Write data under course_utils.config.data_dir() or a temporary folder."
    )
    assert seconds < BUDGET_S, (
        f"solutions/{chapter}/{chapter}.ipynb took {seconds:.1f} s in smoke mode, over the {BUDGET_S:.0f} s "
        "budget (COURSE_NOTEBOOK_BUDGET_S); shrink its smoke budgets (course_utils.config.budget)."
    )
