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
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "grading"))
from gradetools import chapter_params, report, require_chapter, run_nbval, solution_path  # noqa: E402

BUDGET_S = float(os.environ.get("COURSE_NOTEBOOK_BUDGET_S", "60"))
CELL_TIMEOUT_S = 120  # same per-cell limit as autograding (nbgrader_config.py)
IGNORED = {".ipynb_checkpoints", "__pycache__"}


@pytest.mark.parametrize("chapter", chapter_params())
def test_solution_notebook_runs_in_smoke_mode(chapter: str, request: pytest.FixtureRequest) -> None:
    require_chapter(chapter)
    folder = solution_path(chapter).parent
    run = run_nbval(
        solution_path(chapter), ignore=IGNORED, cell_timeout=CELL_TIMEOUT_S, timeout=max(300.0, 5 * BUDGET_S)
    )
    code, output, seconds, left = run.code, run.output, run.seconds, run.left
    report(request.config, f"\n[solutions] {chapter}: executed with nbval in {seconds:.1f} s (budget {BUDGET_S:.0f} s)")

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
