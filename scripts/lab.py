"""Start JupyterLab for the course: ``make lab`` (learners) and ``make lab-instructor``.

    python scripts/lab.py [--work my-notebooks] [JUPYTER LAB OPTIONS...]   # make lab
    python scripts/lab.py --instructor [JUPYTER LAB OPTIONS...]             # make lab-instructor

Learners (``make lab``):

1. Their own copy of the notebooks: every file of ``notebooks/`` that ``my-notebooks/``
   (ignored by git) does not have yet is copied there, so the first run copies every
   chapter and a later run adds the chapters published since. A file already in
   ``my-notebooks/`` is never overwritten: answers are saved there, never into the
   tracked ``notebooks/``, and ``git pull`` never meets a conflict. When a chapter of
   ``notebooks/`` has changed since it was copied, the learner is told how to take the
   new version (rename their copy and run ``make lab`` again).
2. JupyterLab on that folder, with
   - the kernel the notebooks ask for (``python3``) being this environment's Python:
     ``JUPYTER_PREFER_ENV_PATH=1`` puts the environment's kernels before any kernel
     of the same name registered for the user elsewhere, so a chapter opens in the
     course's Python without a kernel prompt;
   - nbgrader's instructor tools (Create Assignment, Formgrader, Course List,
     Assignments) switched off by ``lab-config/learner`` (added to
     ``JUPYTER_CONFIG_PATH`` for this server only); the Validate button stays.

Instructors (``make lab-instructor``): JupyterLab on the course root (``solutions/``,
``notebooks/``, the gradebook) with every nbgrader tool.

Every other argument goes to ``jupyter lab`` (``--no-browser``, ``--port=8890``, ...);
``--allow-root`` is added when running as root.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "notebooks"
LEARNER_CONFIG = ROOT / "lab-config" / "learner"
MANIFEST = ".course-copies.json"  # release file -> its sha256 when it was copied (hidden in JupyterLab)
SKIP = {".ipynb_checkpoints", "__pycache__"}
# nbgrader's pieces a learner does not see in `make lab` (see lab-config/learner/)
INSTRUCTOR_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.assignment_list",
    "nbgrader.server_extensions.course_list",
)
INSTRUCTOR_LAB_PLUGINS = (
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:assignment-list",
    "@jupyter/nbgrader:menu",
)


@dataclass
class CopyReport:
    """What ``sync_learner_copy`` did: files copied now, and kept copies whose release has changed since."""

    copied: list[str] = field(default_factory=list)
    outdated: list[str] = field(default_factory=list)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _release_files(release: Path) -> list[Path]:
    return sorted(p for p in release.rglob("*") if p.is_file() and not SKIP & set(p.relative_to(release).parts))


def sync_learner_copy(release: Path, work: Path) -> CopyReport:
    """Copy into ``work`` every file of ``release`` that ``work`` lacks; never overwrite a file.

    ``work/.course-copies.json`` remembers the digest of each release file when it was
    copied, so a chapter that changed in ``release`` afterwards is reported in
    ``outdated`` (the learner's file is kept as it is).
    """
    if not release.is_dir():
        raise SystemExit(f"make lab: {release} is missing; run it from the course folder (a clone of the course).")
    work.mkdir(parents=True, exist_ok=True)
    manifest_path = work / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}
    report = CopyReport()
    for source in _release_files(release):
        rel = source.relative_to(release).as_posix()
        target = work / rel
        digest = _digest(source)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            manifest[rel] = digest
            report.copied.append(rel)
        elif rel in manifest and manifest[rel] != digest:
            report.outdated.append(rel)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return report


def lab_environment(instructor: bool, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment JupyterLab runs in: this environment's kernels first, learner settings unless ``instructor``."""
    env = dict(os.environ if base is None else base)
    env["JUPYTER_PREFER_ENV_PATH"] = "1"
    bindir = str(Path(sys.executable).parent)  # nbgrader runs `alembic` from PATH (formgrader)
    env["PATH"] = os.pathsep.join([bindir, env.get("PATH", "")]) if env.get("PATH") else bindir
    paths = [p for p in env.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p and Path(p) != LEARNER_CONFIG]
    if not instructor:
        paths.insert(0, str(LEARNER_CONFIG))
    if paths:
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(paths)
    else:
        env.pop("JUPYTER_CONFIG_PATH", None)
    return env


def lab_command(root_dir: Path, extra: list[str]) -> list[str]:
    """``python -m jupyterlab`` on ``root_dir`` with the default kernel python3 and ``extra`` options."""
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={root_dir}",
        "--MappingKernelManager.default_kernel_name=python3",
        "--LabApp.news_url=None",  # no "get notified about Jupyter news?" pop-up over the chapter
        *extra,
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        command.append("--allow-root")
    return command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("my-notebooks"),
        help="the learner's own copy of notebooks/ (default: my-notebooks)",
    )
    parser.add_argument("--instructor", action="store_true", help="the course root with every nbgrader tool")
    parser.add_argument("--copy-only", action="store_true", help="make or complete the learner's copy, start nothing")
    args, extra = parser.parse_known_args(argv)
    if args.instructor:
        root_dir = ROOT
        print(
            f"==> JupyterLab for instructors on {ROOT} (nbgrader's Formgrader and Create Assignment are in the menus)"
        )
    else:
        root_dir = args.work.resolve()
        report = sync_learner_copy(RELEASE, root_dir)
        shown = args.work if not args.work.is_absolute() else root_dir
        if report.copied:
            print(f"==> copied into {shown}/: {', '.join(report.copied)}")
        print(f"==> your notebooks are in {shown}/ (yours: git ignores it, `make lab` never overwrites it)")
        for rel in report.outdated:
            print(
                f"    note: notebooks/{rel} has changed since your copy was made; your copy is kept. "
                f"To take the new version, rename {shown}/{rel} and run make lab again."
            )
        if args.copy_only:
            return 0
    command = lab_command(root_dir, extra)
    sys.stdout.flush()
    os.execve(command[0], command, lab_environment(args.instructor))
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
