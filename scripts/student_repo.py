"""Export a learner-facing copy of the course: ``make student-repo DEST=path``.

The course repository holds what learners must not see: the solutions
(``solutions/``), the verification specs (``grading/``) with their test inputs,
the grading code and the tests. This script writes a copy with only what a
learner needs, so a course that grades can publish it as the repository its
learners clone:

    notebooks/            the student release (stubs, no hidden tests), as `make release` made it
    course_utils/         the helpers, without the instructors' grading package
    README.md             the learner's part of the README (up to its "instructors" marker)
    Makefile              make env, make lab, make doctor, make clean-env (taken from the course's Makefile)
    pyproject.toml, requirements/lock.txt, environment.yml
    scripts/bootstrap.sh, scripts/lab.py, lab-config/      what `make lab` runs
    .gitignore            the environment, the learner's my-notebooks/, data

Nothing else is copied: no solutions/, grading/, tests/, nbgrader_config.py,
gradebook or submissions. ``DEST`` must be empty, missing, or an earlier export
(it holds ``.course-student-repo``); an earlier export is replaced except for its
``.git``, so the learners' repository can be updated in place and committed.

    python scripts/student_repo.py DEST
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = ".course-student-repo"
# README.md is cut here: what follows is for instructors and maintainers.
README_CUT = "<!-- student-repo: the learner's README ends here -->"
FILES = (
    "pyproject.toml",
    "requirements/lock.txt",
    "environment.yml",
    "scripts/bootstrap.sh",
    "scripts/lab.py",
    "LICENSE",
)
FOLDERS = ("lab-config",)
# instructor-only parts of the package: the grading code and its `python -m course_utils.grading verify` entry point
PACKAGE_EXCLUDE = ("grading", "verify.py")
IGNORED_PARTS = {"__pycache__", ".ipynb_checkpoints"}
# what the learner's Makefile takes from the course's Makefile
MAKE_VARIABLES = ("PYTHON", "VENV", "PY", "STAMP", "LAB_ARGS", "MY_NOTEBOOKS")
MAKE_TARGETS = ("env", "$(STAMP)", "lab", "doctor", "clean-env")
GITIGNORE = """.venv/
__pycache__/
*.egg-info/
.ipynb_checkpoints/
# your own copy of notebooks/, made by make lab: your answers live here
my-notebooks/
data/
.cache/
"""


class ExportError(Exception):
    """A problem that stops the export, said in one sentence."""


def learner_readme(text: str) -> str:
    """The README up to ``README_CUT`` (the instructors' part is left out)."""
    if README_CUT not in text:
        raise ExportError(f"README.md has no line {README_CUT!r} marking where the learner's part ends.")
    return text.split(README_CUT, 1)[0].rstrip() + "\n"


_RULE_RE = re.compile(r"^(?P<target>[^\s:#=]+)\s*:(?!=)")
_VAR_RE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?::=|\?=|=)")


def learner_makefile(text: str) -> str:
    """The variables and rules of ``MAKE_VARIABLES`` / ``MAKE_TARGETS`` from the course's Makefile, in its order.

    A rule comes with the comment lines right above it and its recipe (the tab-indented lines below).
    """
    lines = text.splitlines()
    variables: list[str] = []
    rules: list[str] = []
    found: set[str] = set()
    i = 0
    while i < len(lines):
        line = lines[i]
        var, rule = _VAR_RE.match(line), _RULE_RE.match(line)
        if var and var.group("name") in MAKE_VARIABLES:
            variables.append(line)
            found.add(var.group("name"))
        elif rule and rule.group("target") in MAKE_TARGETS:
            j = i
            while j > 0 and lines[j - 1].startswith("# "):
                j -= 1
            block = [*lines[j:i], line]
            while i + 1 < len(lines) and lines[i + 1].startswith("\t"):
                i += 1
                block.append(lines[i])
            rules.extend(["", *block])
            found.add(rule.group("target"))
        i += 1
    missing = [n for n in (*MAKE_VARIABLES, *MAKE_TARGETS) if n not in found]
    if missing:
        raise ExportError(
            f"the course's Makefile has no {', '.join(missing)}; update MAKE_VARIABLES / MAKE_TARGETS in {Path(__file__).name}."
        )
    header = [
        "# The course's commands for learners (made by `make student-repo` from the course's Makefile).",
        "#   make lab        JupyterLab on your own copy of the notebooks, my-notebooks/ (first time: sets up .venv)",
        "#   make doctor     what the course finds on this machine",
        "#   make clean-env  remove .venv",
        "",
    ]
    return "\n".join([*header, *variables, "export VENV PYTHON", "", ".PHONY: env lab doctor clean-env", *rules]) + "\n"


def _check_destination(dest: Path) -> None:
    if dest.resolve() == ROOT or ROOT in dest.resolve().parents:
        raise ExportError(f"DEST={dest} lies inside the course repository; export to a folder outside it.")
    if dest.exists() and (
        not dest.is_dir() or (any(p.name != ".git" for p in dest.iterdir()) and not (dest / MARKER).is_file())
    ):
        raise ExportError(
            f"DEST={dest} is not empty and is not an earlier export (no {MARKER}); choose an empty folder."
        )


def _course_files(root: Path) -> set[str] | None:
    """The files git tracks or would track in ``root`` (ignored ones left out), or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return {name for name in out.stdout.split("\0") if name}


def _copy_tree(src: Path, dst: Path, root: Path, allowed: set[str] | None, exclude: tuple[str, ...] = ()) -> None:
    """Copy the files under ``src`` that git knows (all of them when ``allowed`` is None), minus ``exclude`` names."""
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if not path.is_file() or rel.parts[0] in exclude or IGNORED_PARTS & set(rel.parts) or path.suffix == ".pyc":
            continue
        if allowed is not None and path.relative_to(root).as_posix() not in allowed:
            continue  # an ignored or stray local file (a scratch notebook, a gradebook): never exported
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dst / rel)


def export(dest: Path, root: Path = ROOT) -> list[str]:
    """Write the learner's copy of the course at ``root`` into ``dest``; return the paths written (relative)."""
    _check_destination(dest)
    chapters = sorted(
        p.parent.name for p in root.glob("notebooks/[0-9][0-9]_*/[0-9][0-9]_*.ipynb") if p.stem == p.parent.name
    )
    if not chapters:
        raise ExportError("notebooks/ holds no chapter; run make release first.")
    if dest.exists():  # an earlier export: start again, keeping its git history
        for entry in dest.iterdir():
            if entry.name != ".git":
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    dest.mkdir(parents=True, exist_ok=True)

    allowed = _course_files(root)
    for chapter in chapters:
        _copy_tree(root / "notebooks" / chapter, dest / "notebooks" / chapter, root, allowed)
    _copy_tree(root / "course_utils", dest / "course_utils", root, allowed, PACKAGE_EXCLUDE)
    for name in FILES:
        if (root / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, dest / name)
    for name in FOLDERS:
        _copy_tree(root / name, dest / name, root, allowed)
    (dest / "README.md").write_text(learner_readme((root / "README.md").read_text()))
    (dest / "Makefile").write_text(learner_makefile((root / "Makefile").read_text()))
    (dest / ".gitignore").write_text(GITIGNORE)
    (dest / MARKER).write_text(
        "Made by `make student-repo` from the course repository; the next export replaces everything here but .git.\n"
    )
    return sorted(
        str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file() and ".git" not in p.relative_to(dest).parts
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, help="the folder to write (empty, missing, or an earlier export)")
    args = parser.parse_args(argv)
    try:
        written = export(args.dest)
    except ExportError as exc:
        print(f"make student-repo: {exc}", file=sys.stderr)
        return 1
    print(
        f"==> learner's copy of the course in {args.dest}: {len(written)} files "
        f"(notebooks/, course_utils/ without grading, README, Makefile, environment); no solutions, specs or hidden tests"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
