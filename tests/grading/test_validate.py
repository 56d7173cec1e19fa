"""nbgrader's Validate button works on every chapter: it passes the release filled with the solutions'
answers and fails cleanly (one readable failure per check cell) on the release as handed out.

Before check functions returned None, ``check_function(...)`` ending a check cell left its number
of cases as the cell's output, which nbgrader reads as partial credit: ``nbgrader validate`` on
chapter 01 filled with the solutions stopped with "ValueError: partial credit cannot be greater
than maximum points for cell". All chapters are validated in one nbgrader run (about 30 s on 2 cores).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from gradetools import ROOT, chapter_params, read_notebook, release_path, require_chapter, solution_path

CHAPTERS = chapter_params()
FILLED = "_filled"


def _nbgrader(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def fill(release: Path, solutions: Path, dest: Path) -> int:
    """Write ``release`` with each solution cell's source replaced by the solutions' cell of the same grade_id."""
    import nbformat

    answers = {_nbgrader(c)["grade_id"]: c.source for c in read_notebook(solutions).cells if _nbgrader(c).get("solution")}
    nb = read_notebook(release)
    missing = []
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if meta.get("solution"):
            if meta.get("grade_id") not in answers:
                missing.append(meta.get("grade_id"))
            else:
                cell.source = answers[meta["grade_id"]]
    assert not missing, (f"{release.relative_to(ROOT)}: solution cells {missing} are not in {solutions.relative_to(ROOT)}: "
                         "the release is out of date, run `make release CHAPTER=...`")
    nbformat.write(nb, str(dest))
    return len(answers)


def autograder_cells(release: Path) -> int:
    """The number of autograder (test) cells of a release."""
    return sum(1 for c in read_notebook(release).cells
               if _nbgrader(c).get("grade") and not _nbgrader(c).get("solution"))


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """nbgrader validate's report for every release (``NN_x``) and its filled copy (``NN_x_filled``), one run."""
    course = tmp_path_factory.mktemp("validate")
    shutil.copy2(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    paths, out_of_sync = [], {}
    for chapter in CHAPTERS:
        if not release_path(chapter).is_file():
            continue
        folder = course / "notebooks" / chapter
        shutil.copytree(release_path(chapter).parent, folder,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        filled = folder / f"{chapter}{FILLED}.ipynb"
        try:
            fill(release_path(chapter), solution_path(chapter), filled)
        except AssertionError as exc:  # this chapter's tests fail with the reason; the others still run
            out_of_sync[chapter] = str(exc).splitlines()[0]
            continue
        paths += [folder / f"{chapter}.ipynb", filled]
    if not paths:
        return {f"{ch}{suffix}": f"not validated: {why}" for ch, why in out_of_sync.items() for suffix in ("", FILLED)}
    env = dict(os.environ, COURSE_SMOKE="1", MPLBACKEND="Agg", OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    nbgrader = [sys.executable, "-m", "nbgrader", "validate", *[str(p.relative_to(course)) for p in paths]]
    proc = subprocess.run(nbgrader, cwd=course, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=900)
    # One section per notebook, opened by "Validating '<path>'".
    parts = re.split(r"^\[ValidateApp \| INFO\] Validating '([^']+)'$", proc.stdout, flags=re.M)
    reports = {Path(path).stem: text for path, text in zip(parts[1::2], parts[2::2])} | {"__all__": proc.stdout}
    return reports | {f"{ch}{suffix}": f"not validated: {why}" for ch, why in out_of_sync.items() for suffix in ("", FILLED)}


CRASH = ("Traceback", "partial credit", "fatal error", "ValueError: ")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_release_filled_with_the_solutions_validates(chapter: str, validated: dict[str, str]) -> None:
    require_chapter(chapter)
    report = validated.get(f"{chapter}{FILLED}")
    assert report is not None, f"nbgrader did not validate {chapter}{FILLED}:\n{validated.get('__all__', '')[-3000:]}"
    assert "Success! Your notebook passes all the tests." in report and not any(w in report for w in CRASH), report[-4000:]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_release_as_handed_out_fails_cleanly(chapter: str, validated: dict[str, str]) -> None:
    require_chapter(chapter)
    report = validated.get(chapter)
    assert report is not None, f"nbgrader did not validate {chapter}:\n{validated.get('__all__', '')[-3000:]}"
    assert not any(w in report for w in CRASH), report[-4000:]
    failed = re.search(r"VALIDATION FAILED ON (\d+) CELL\(S\)", report)
    assert failed, report[-4000:]
    # Every check cell fails on a stub, each with the one-line "not written yet" sentence.
    assert int(failed.group(1)) == autograder_cells(release_path(chapter)), report[-4000:]
    errors = re.findall(r"^\s*❌ \S+ is not written yet", report, flags=re.M)  # the cells' sources are shown too
    assert len(errors) == int(failed.group(1)), report
