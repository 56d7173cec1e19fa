"""Grading throughput: `make autograde` with JOBS=1 and JOBS=2, and what a whole class would take.

A temporary course holds chapter 01 (when ``grading/01_convolution.py`` exists;
otherwise the corpus's toy chapter, three small exercises) with N hand-ins (a
mix of correct, wrong and adversarial ones: input transformer, patched checks,
``os._exit``, planted course_utils). The same class is graded twice from the same
freshly released gradebook, by what ``make autograde`` runs
(``course_utils.grading.autograde`` with ``jobs`` nbgrader processes, then
the verification with ``jobs`` children at once). Prints hand-ins per minute of
each stage and of both, the JOBS=2 speed-up (target: at least 1.7x on two
cores) and the projected time for 500 students x 13 chapters on a 16-core
machine, assuming every chapter costs what this one costs: once from the JOBS=2
rate per process measured here, once from the CPU seconds a hand-in needs (which
other work on the machine does not change; the wall-clock rates it does, so
the load average is printed).

    python benchmarks/bench_grading.py            # N = 8 hand-ins, one round
    BENCH_GRADING_N=16 BENCH_GRADING_ROUNDS=2 python benchmarks/bench_grading.py
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "grading"))
import gradetools  # noqa: E402
from corpus import toy_chapter  # noqa: E402
from corpus.cases import CASES, Target  # noqa: E402

from course_utils.grading.autograde import autograde  # noqa: E402
from course_utils.grading.sandbox import Limits  # noqa: E402
from course_utils.grading.spec import load_spec  # noqa: E402
from course_utils.grading.verify import verify_course  # noqa: E402

N = int(os.environ.get("BENCH_GRADING_N", "8"))
ROUNDS = int(os.environ.get("BENCH_GRADING_ROUNDS", "1"))  # JOBS=1 and JOBS=2 interleaved; the fastest round counts
MIX = [
    "correct",
    "edited_locked_test_cell",
    "input_transformer",
    "correct",
    "patched_checks_in_solution",
    "os_exit",
    "correct",
    "planted_course_utils",
    "one_stub_left",
]
CLASS = (500, 13, 16)  # students, chapters, cores of the projection


def build_course(folder: Path) -> str:
    """Release one chapter into ``folder`` and hand in N submissions; return the chapter."""
    real = (ROOT / "grading" / "01_convolution.py").is_file() and "01_convolution" in gradetools.find_chapters()
    chapter = "01_convolution" if real else toy_chapter.CHAPTER
    course = gradetools.make_course_copy(folder, [chapter] if real else [], with_release=False)
    if real:
        (course / "grading").mkdir(exist_ok=True)
        shutil.copy2(ROOT / "grading" / f"{chapter}.py", course / "grading" / f"{chapter}.py")
    else:
        toy_chapter.write_chapter(course)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    subprocess.run(
        [str(Path(sys.executable).parent / "nbgrader"), "generate_assignment", chapter, "--force", "--log-level=ERROR"],
        cwd=course,
        env=env,
        check=True,
    )
    spec = load_spec(course, chapter)
    ex = next(e for e in spec.exercises if e.call)
    read = lambda p: nbformat.read(str(p), as_version=4)  # noqa: E731
    target = Target(
        course,
        chapter,
        read(course / "solutions" / chapter / f"{chapter}.ipynb"),
        read(course / "notebooks" / chapter / f"{chapter}.ipynb"),
        ex.solutions[-1],
        ex.test,
        ex.name,
    )
    by_name = {c.name: c for c in CASES}
    for i in range(N):
        nb, files = by_name[MIX[i % len(MIX)]].build(target)
        sub = course / "submitted" / f"s{i:03d}" / chapter
        sub.mkdir(parents=True)
        (sub / f"{chapter}.ipynb").write_text(json.dumps(nb))
        for name, text in files.items():
            (sub / name).parent.mkdir(parents=True, exist_ok=True)
            (sub / name).write_text(text)
    return chapter


def _cpu() -> float:
    """CPU seconds used so far by this process and the processes it waited for (nbgrader, kernels, children)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def grade(course: Path, jobs: int) -> tuple[float, float, float]:
    """Wall seconds of the nbgrader stage and of the verification, and CPU seconds of both, as
    `make autograde JOBS=jobs` runs them."""
    shutil.copy2(course / "gradebook.release.db", course / "gradebook.db")
    shutil.rmtree(course / "autograded", ignore_errors=True)
    cpu = _cpu()
    start = time.perf_counter()
    autograde(course, jobs=jobs, nbgrader_args=["--Execute.timeout=60"])
    t_nbgrader = time.perf_counter() - start
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        verify_course(course, jobs=jobs, limits=Limits())
    return t_nbgrader, time.perf_counter() - start, _cpu() - cpu


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        course = Path(tmp) / "course"
        chapter = build_course(course)
        shutil.copy2(course / "gradebook.db", course / "gradebook.release.db")
        load = os.getloadavg()[0]
        runs: dict[int, list[tuple[float, float, float]]] = {1: [], 2: []}
        for _ in range(ROUNDS):  # interleaved, so a burst of other work on the machine hits both settings
            for jobs in runs:
                runs[jobs].append(grade(course, jobs))
                load = max(load, os.getloadavg()[0])
        rows = {jobs: min(times, key=lambda t: t[0] + t[1]) for jobs, times in runs.items()}
        load = max(load, os.getloadavg()[0])
    print(
        f"grading throughput: {N} hand-ins of {chapter} (correct, wrong, adversarial mixed), "
        f"{os.cpu_count()} CPU(s), load average up to {load:.1f} while measuring, best of {ROUNDS} round(s)"
    )
    print(
        f"  {'JOBS':>4} {'nbgrader s':>11} {'verify s':>9} {'hand-ins/min nbgrader':>22} "
        f"{'verify':>7} {'both':>7} {'CPU s/hand-in':>14}"
    )
    rate = {}
    for jobs, (t_nb, t_ver, cpu) in rows.items():
        rate[jobs] = 60 * N / (t_nb + t_ver)
        print(
            f"  {jobs:>4} {t_nb:11.1f} {t_ver:9.1f} {60 * N / t_nb:22.1f} {60 * N / t_ver:7.1f} {rate[jobs]:7.1f} "
            f"{cpu / N:14.1f}"
        )
    speedup = rate[2] / rate[1]
    students, chapters, cores = CLASS
    per_core = rate[2] / 2  # hand-ins per minute per process, as two processes scale here
    hours = students * chapters / (per_core * cores) / 60
    print(f"  JOBS=2 grades {speedup:.2f}x as many hand-ins per minute as JOBS=1 (target >= 1.7x on 2 cores)")
    cpu_hours = students * chapters * rows[1][2] / N / cores / 3600
    print(
        f"  projection: {students} students x {chapters} chapters = {students * chapters} hand-ins on a {cores}-core "
        f"machine with JOBS={cores}: {hours:.1f} h at this machine's JOBS=2 rate per process, {cpu_hours:.1f} h "
        f"if the {cores} cores are busy all the time (CPU s per hand-in; each chapter costing what {chapter} costs here)"
    )


if __name__ == "__main__":
    main()
