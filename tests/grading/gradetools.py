"""Helpers shared by the notebook and grading tests: chapters, course copies, make, notebooks.

The tests never run nbgrader in the repository itself (it would leave
gradebook.db, submitted/, autograded/ there): they copy the course's
nbgrader_config.py, solutions/ and notebooks/ into a temporary folder and run the
real `make release` / `make autograde` targets there, with this Python's
environment as VENV and a stand-in stamp so make never tries to bootstrap.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]

# What nbgrader makes at a course root; none of it may appear in the repository.
NBGRADER_LITTER = ("gradebook.db", "submitted", "autograded", "feedback", "release", "source", "grades.csv")

# Sentinel chapter used when solutions/ holds none, so the tests fail instead of skipping.
NO_CHAPTER = "NO_CHAPTER_FOUND"

_COPY_IGNORE = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc")


def find_chapters(root: Path = ROOT) -> list[str]:
    """Names of the chapters in ``root/solutions``: every ``NN_topic`` with ``NN_topic/NN_topic.ipynb``."""
    return sorted(
        nb.parent.name for nb in root.glob("solutions/[0-9][0-9]_*/[0-9][0-9]_*.ipynb") if nb.stem == nb.parent.name
    )


def chapter_params(root: Path = ROOT) -> list[str]:
    """Values for ``pytest.mark.parametrize``: the chapters, or the sentinel when there are none."""
    return find_chapters(root) or [NO_CHAPTER]


def require_chapter(chapter: str) -> None:
    """Fail (never skip) when the parametrisation found no chapter at all."""
    if chapter == NO_CHAPTER:
        pytest.fail(
            f"No chapter found in {ROOT / 'solutions'}: every chapter is "
            "solutions/NN_topic/NN_topic.ipynb (for example solutions/01_convolution/01_convolution.ipynb)."
        )


def solution_path(chapter: str, root: Path = ROOT) -> Path:
    return root / "solutions" / chapter / f"{chapter}.ipynb"


def release_path(chapter: str, root: Path = ROOT) -> Path:
    return root / "notebooks" / chapter / f"{chapter}.ipynb"


def read_notebook(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def litter(root: Path = ROOT) -> set[str]:
    """The nbgrader working files and folders present at ``root``."""
    return {name for name in NBGRADER_LITTER if (root / name).exists()}


def make_course_copy(dest: Path, chapters: list[str], *, with_release: bool = True) -> Path:
    """Copy the nbgrader parts of the course (config, the chapters' solutions and releases) to ``dest``.

    Also writes what the Makefile's bootstrap rule looks at (empty, dated 1970) and a
    fresh stamp, so ``run_make`` never rebuilds an environment.
    """
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    for chapter in chapters:
        shutil.copytree(ROOT / "solutions" / chapter, dest / "solutions" / chapter, ignore=_COPY_IGNORE)
        if with_release and (ROOT / "notebooks" / chapter).is_dir():
            shutil.copytree(ROOT / "notebooks" / chapter, dest / "notebooks" / chapter, ignore=_COPY_IGNORE)
    for name in ("requirements/lock.txt", "pyproject.toml", "scripts/bootstrap.sh"):
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        os.utime(path, (0, 0))
    (dest / ".make-stamp").touch()
    return dest


@dataclass
class MakeRun:
    """One ``make`` run: the command, its exit code, its output and how long it took."""

    args: list[str]
    returncode: int
    output: str = field(repr=False)
    seconds: float = 0.0

    def explain(self) -> str:
        tail = self.output[-6000:]
        return f"`{' '.join(self.args)}` exited with {self.returncode} after {self.seconds:.1f} s:\n{tail}"


def run_make(course: Path, target: str, *variables: str, timeout: float = 900) -> MakeRun:
    """Run the repository's Makefile target in ``course`` (a copy made by ``make_course_copy``)."""
    make = shutil.which("make")
    if make is None:
        pytest.fail("GNU make is not installed; the course's release and autograde run through make.")
    args = [
        make,
        "--no-print-directory",
        "-f",
        str(ROOT / "Makefile"),
        target,
        f"VENV={sys.prefix}",  # the environment running the tests (the course's .venv under make test)
        f"STAMP={course / '.make-stamp'}",
        *variables,
    ]
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    env.update(COURSE_SMOKE="1", MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    start = time.monotonic()
    try:
        proc = subprocess.run(
            args, cwd=course, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout if isinstance(exc.stdout, str) else (exc.stdout or b"").decode(errors="replace")
        return MakeRun(args, -1, f"timed out after {timeout} s\n{out}", time.monotonic() - start)
    return MakeRun(args, proc.returncode, proc.stdout, time.monotonic() - start)


def report(config: pytest.Config, line: str) -> None:
    """Write a line to the terminal even while pytest captures output (used for timings)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:  # pragma: no cover - only without pytest's own plugins
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


@dataclass
class NbvalRun:
    """One notebook executed top to bottom by nbval in its own pytest process."""

    code: int
    output: str
    seconds: float
    left: list[Path]  # files the run wrote into the notebook's folder (already removed)


def run_nbval(notebook: Path, *, ignore: set[str], cell_timeout: float, timeout: float) -> NbvalRun:
    """Execute ``notebook`` with ``--nbval-lax`` in smoke mode (COURSE_SMOKE=1, Agg) and clean up after it.

    Files the run leaves in the notebook's folder (paths under a part named in
    ``ignore`` do not count) are removed again and reported in ``left``.
    """
    import re

    folder = notebook.parent

    def snapshot() -> set[Path]:
        return {p for p in folder.rglob("*") if not ignore & set(p.relative_to(folder).parts)}

    before = snapshot()
    env = dict(os.environ, COURSE_SMOKE="1", MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    args = [
        sys.executable, "-m", "pytest",
        "--nbval-lax", "--nbval-current-env", f"--nbval-cell-timeout={cell_timeout}",
        "-p", "no:cacheprovider", "-q", "--color=no", "--rootdir", str(ROOT),
        str(notebook.relative_to(ROOT)),
    ]  # fmt: skip
    start = time.monotonic()
    try:
        proc = subprocess.run(
            args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
        )
        code, output = proc.returncode, proc.stdout
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        code, output = -1, f"killed after {exc.timeout:.0f} s\n{out}"
    seconds = time.monotonic() - start
    output = re.sub(r"\x1b\[[0-9;]*m", "", output)  # IPython colours its tracebacks
    left = sorted(snapshot() - before)
    for path in sorted(left, reverse=True):  # leave the folder as it was
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return NbvalRun(code, output, seconds, left)
