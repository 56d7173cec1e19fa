"""`make student-repo DEST=...`: a learner-facing copy of the course with no solution, spec or hidden test.

The course is exported into a temporary folder, and every file of the export is
searched for the solutions' code (the lines between BEGIN/END SOLUTION that the
release does not show), the hidden tests' lines, nbgrader's delimiters and the
verification specs' lines. The export's README must not link to a file the
export lacks, its package must import without the grading code, and its
`make lab` must serve the chapters.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import student_repo  # noqa: E402  (scripts/student_repo.py)

sys.path.insert(0, str(ROOT / "tests" / "notebooks"))
from nbtools import secret_lines  # noqa: E402  (tests/notebooks/nbtools.py)

MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
CHAPTERS = sorted(
    p.parent.name for p in ROOT.glob("solutions/[0-9][0-9]_*/[0-9][0-9]_*.ipynb") if p.stem == p.parent.name
)


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("student") / "cnn-course-student"
    run = subprocess.run(
        ["make", "--no-print-directory", "student-repo", f"DEST={dest}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return dest


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def secrets(root: Path = ROOT) -> list[tuple[str, set[str]]]:
    """What a learner must not see, as (where it comes from, its distinctive lines).

    One entry per solution block and per hidden-test block of every chapter: its lines minus
    those the same cell shows outside the block, those the student release shows anyway
    (a stub's signature) and one-word lines such as ``return out``. One entry per line of the
    verification specs that appears nowhere a learner may look (the package, the release).
    """
    public = set()
    for path in root.glob("notebooks/[0-9][0-9]_*/[0-9][0-9]_*.ipynb"):
        for cell in _cells(path):
            public |= {line.strip() for line in _source(cell).splitlines()}
    found: list[tuple[str, set[str]]] = []
    for chapter in CHAPTERS:
        for cell in _cells(root / "solutions" / chapter / f"{chapter}.ipynb"):
            name = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "?")
            for begin, end, what in (
                ("BEGIN SOLUTION", "END SOLUTION", "the solution"),
                ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "the hidden tests"),
            ):
                lines = {line for line in secret_lines(_source(cell), begin, end) - public if len(line) >= 12}
                if lines:
                    found.append((f"{what} of {chapter} {name}", lines))
    package = "\n".join(p.read_text() for p in (root / "course_utils").rglob("*.py") if "grading" not in p.parts)
    for spec in sorted(root.glob("grading/*.py")):
        for raw in spec.read_text().splitlines():
            line = raw.strip()
            if (
                len(line) >= 30
                and not line.startswith(("#", "import ", "from ", '"""'))
                and line not in package
                and line not in public
            ):
                found.append((f"{spec.relative_to(root)}", {line}))
    return found


def leaks(tree: Path, secret: list[tuple[str, set[str]]]) -> list[str]:
    """Every file of ``tree`` that shows nbgrader's delimiters, or half or more of a secret block's lines."""
    problems = []
    for path in sorted(p for p in tree.rglob("*") if p.is_file() and ".git" not in p.relative_to(tree).parts):
        text = path.read_text(errors="replace")
        if path.suffix == ".ipynb":  # search the cells' code as a learner reads it, not JSON-escaped
            try:
                text = "\n".join(_source(c) for c in json.loads(text).get("cells", []))
            except ValueError:
                pass
        lines = {line.strip() for line in text.splitlines()}
        for marker in MARKERS:
            if marker in text:
                problems.append(f"{path.relative_to(tree)} contains the delimiter {marker!r}")
        for where, block in secret:
            shown = block & lines
            if shown and 2 * len(shown) >= len(block):
                problems.append(
                    f"{path.relative_to(tree)} shows {len(shown)} of {len(block)} lines of {where}: {sorted(shown)[:3]}"
                )
    return problems


# ---------------------------------------------------------------- what is in the export


def test_export_has_what_a_learner_needs_and_nothing_for_instructors(export):
    for name in (
        "README.md",
        "Makefile",
        "pyproject.toml",
        "requirements/lock.txt",
        "environment.yml",
        "scripts/bootstrap.sh",
        "scripts/lab.py",
        "lab-config/learner/jupyter_server_config.json",
        "course_utils/__init__.py",
        ".gitignore",
    ):
        assert (export / name).is_file(), f"the export lacks {name}"
    for chapter in CHAPTERS:
        assert (export / "notebooks" / chapter / f"{chapter}.ipynb").is_file(), f"the export lacks chapter {chapter}"
    for name in (
        "solutions",
        "grading",
        "tests",
        "nbgrader_config.py",
        "gradebook.db",
        "course_utils/grading",
        "course_utils/verify.py",
        "submitted",
        "autograded",
        "feedback",
        "jupyter-book",
        "benchmarks",
        ".ci",
    ):
        assert not (export / name).exists(), f"the export contains {name}"
    assert "my-notebooks/" in (export / ".gitignore").read_text()


def test_no_solution_hidden_test_or_spec_appears_anywhere_in_the_export(export):
    secret = secrets()
    assert sum(where.startswith("the solution") for where, _ in secret) >= len(CHAPTERS), (
        "too few solution blocks found"
    )
    assert any(where.startswith("the hidden tests") for where, _ in secret), "no hidden-test block found"
    problems = leaks(export, secret)
    assert not problems, "\n  ".join(["the learner's copy gives away:", *problems[:20]])


def test_the_leak_search_finds_a_solution_a_hidden_test_and_a_spec(export, tmp_path):
    """The search can fail: a copy with a solution notebook and a spec in it is reported."""
    tree = tmp_path / "leaky"
    shutil.copytree(export, tree)
    chapter = CHAPTERS[0]
    source = ROOT / "solutions" / chapter / f"{chapter}.ipynb"
    cells = [c for c in _cells(source) if "BEGIN SOLUTION" in _source(c)]
    body = "\n".join(line for line in _source(cells[0]).splitlines() if "SOLUTION" not in line)
    (tree / "course_utils" / "answers.py").write_text(body + "\n")  # solution code without its delimiters
    shutil.copy2(sorted(ROOT.glob("grading/*.py"))[0], tree / "notes.txt")
    problems = leaks(tree, secrets())
    assert any("answers.py shows" in p and "the solution of" in p for p in problems), problems[:5]
    assert any("notes.txt shows 1 of 1 lines of grading/" in p for p in problems), problems[:5]
    shutil.copy2(source, tree / "notebooks" / "copy.ipynb")
    assert any("copy.ipynb contains the delimiter 'BEGIN SOLUTION'" in p for p in leaks(tree, secrets()))


def test_readme_is_the_learners_part_and_links_only_to_files_in_the_export(export):
    readme = (export / "README.md").read_text()
    assert "make lab" in readme and "my-notebooks/" in readme
    assert student_repo.README_CUT not in readme and "make lab-instructor" not in readme
    targets = re.findall(r"\]\(([^)\s]+)\)", readme) + re.findall(r'(?:href|src)="([^"]+)"', readme)
    for target in targets:
        if re.match(r"^(https?:|mailto:|#)", target):
            continue
        assert (export / target.split("#")[0]).exists(), (
            f"the export's README links to {target}, which the export lacks"
        )
    full = (ROOT / "README.md").read_text()
    assert "instructors.md" in full and "instructors.md" not in readme


def test_a_second_export_replaces_the_first_and_keeps_git(tmp_path):
    dest = tmp_path / "student"
    student_repo.export(dest)
    (dest / ".git").mkdir()
    (dest / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (dest / "notebooks" / "stale.ipynb").write_text("{}")
    student_repo.export(dest)
    assert (dest / ".git" / "HEAD").is_file() and not (dest / "notebooks" / "stale.ipynb").exists()
    other = tmp_path / "other"
    (other / "x").mkdir(parents=True)
    with pytest.raises(student_repo.ExportError, match="not empty"):
        student_repo.export(other)


# ---------------------------------------------------------------- the export works


def test_exported_package_imports_without_the_grading_code(export):
    code = (
        "import importlib, pkgutil, sys, course_utils\n"
        f"assert course_utils.__file__.startswith({str(export)!r}), course_utils.__file__\n"
        "names = [m.name for m in pkgutil.walk_packages(course_utils.__path__, 'course_utils.')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(n for n in sys.modules if n.startswith('course_utils.grading'))\n"
        "assert not bad, bad\n"
        "print(len(names))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=export,
        env=dict(env, MPLBACKEND="Agg"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, f"the exported course_utils does not import on its own:\n{run.stderr[-3000:]}"
    assert int(run.stdout.split()[-1]) > 10


def test_exported_package_builds_without_the_grading_code(export, tmp_path):
    """The export's pyproject.toml builds course_utils (what bootstrap installs), with no grading module in it."""
    import zipfile

    tree = tmp_path / "tree"
    shutil.copytree(export, tree)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "wheels"),
            str(tree),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    names = zipfile.ZipFile(next((tmp_path / "wheels").glob("course_utils-*.whl"))).namelist()
    assert "course_utils/__init__.py" in names and "course_utils/checks/__init__.py" in names, names[:10]
    assert not [n for n in names if n.startswith("course_utils/grading")], "the export's wheel holds the grading code"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_make_lab_works_in_the_export(export, tmp_path):
    """The export's own Makefile serves the learner's copy of every chapter, without nbgrader's instructor tools."""
    stamp = tmp_path / ".stamp"
    for name in ("requirements/lock.txt", "pyproject.toml", "scripts/bootstrap.sh"):
        os.utime(export / name, (0, 0))  # older than the stamp: make uses this environment, never bootstraps
    stamp.touch()
    port, token = _free_port(), "student-repo-test"
    work = tmp_path / "my-notebooks"
    args = f"--no-browser --port={port} --ServerApp.ip=127.0.0.1 --IdentityProvider.token={token} --ServerApp.port_retries=0"
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
    log = tmp_path / "lab.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                "make",
                "--no-print-directory",
                "lab",
                f"VENV={sys.prefix}",
                f"STAMP={stamp}",
                f"MY_NOTEBOOKS={work}",
                f"LAB_ARGS={args}",
            ],
            cwd=export,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, listed = time.monotonic() + 120, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/api/contents?token={token}", timeout=5) as response:
                    listed = {item["name"] for item in json.loads(response.read())["content"]}
                break
            except OSError:
                time.sleep(0.5)
        assert listed is not None, f"make lab did not start in the export:\n{log.read_text()[-3000:]}"
        assert set(CHAPTERS) <= listed, sorted(listed)
        try:
            urllib.request.urlopen(f"{base}/formgrader?token={token}", timeout=10)
            status = 200
        except urllib.error.HTTPError as exc:
            status = exc.code
        assert status == 404, "the export's make lab serves nbgrader's formgrader"
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=20)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
