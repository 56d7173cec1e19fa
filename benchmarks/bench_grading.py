"""Grading throughput: nbgrader autograde alone, then the verification, on N synthetic submissions.

A temporary course holds the corpus's toy chapter (three exercises like chapter
01's) and, when ``grading/01_convolution.py`` exists, chapter 01 itself. N
submissions per chapter, a third correct, a third wrong, a third adversarial
(input transformer, patched checks, os._exit, planted course_utils), are graded
by one `nbgrader autograde` run (serial, as `make autograde` runs it), then by
`python -m course_utils.verify` (2 submissions at a time). Prints the measured
wall time, seconds per submission and submissions per minute of each stage,
and the verification's cost relative to nbgrader (target: under 50%; one
chapter-01 submission graded and verified in under 15 s).

    python benchmarks/bench_grading.py            # N = 9 per chapter
    BENCH_GRADING_N=30 python benchmarks/bench_grading.py
"""

from __future__ import annotations

import json
import os
import platform
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

from course_utils.grading.spec import load_spec  # noqa: E402

N = int(os.environ.get("BENCH_GRADING_N", "9"))
MIX = ["correct", "edited_locked_test_cell", "input_transformer", "correct", "patched_checks_in_solution",
       "os_exit", "correct", "planted_course_utils", "one_stub_left"]


def main() -> None:
    by_name = {c.name: c for c in CASES}
    chapters = [toy_chapter.CHAPTER]
    if (ROOT / "grading" / "01_convolution.py").is_file() and "01_convolution" in gradetools.find_chapters():
        chapters.append("01_convolution")
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        course = gradetools.make_course_copy(Path(tmp) / "course", chapters[1:], with_release=False)
        toy_chapter.write_chapter(course)
        for ch in chapters[1:]:
            shutil.copy2(ROOT / "grading" / f"{ch}.py", course / "grading" / f"{ch}.py")
        env = dict(os.environ, COURSE_SMOKE="1", MPLBACKEND="Agg", PYTHONWARNINGS="ignore",
                   PATH=f"{Path(sys.prefix) / 'bin'}:{os.environ.get('PATH', '')}")
        nbgrader = [str(Path(sys.prefix) / "bin" / "nbgrader")]
        subprocess.run(nbgrader + ["generate_assignment", "[0-9][0-9]_*", "--force", "--log-level=ERROR"],
                       cwd=course, env=env, check=True)
        for ch in chapters:
            spec = load_spec(course, ch)
            ex = next(e for e in spec.exercises if e.call)
            read = lambda p: nbformat.read(str(p), as_version=4)  # noqa: E731
            target = Target(course, ch, read(course / "solutions" / ch / f"{ch}.ipynb"),
                            read(course / "notebooks" / ch / f"{ch}.ipynb"), ex.solutions[-1], ex.test, ex.name)
            for i in range(N):
                case = by_name[MIX[i % len(MIX)]]
                nb, files = case.build(target)
                folder = course / "submitted" / f"s{i:03d}" / ch
                folder.mkdir(parents=True)
                (folder / f"{ch}.ipynb").write_text(json.dumps(nb))
                for name, text in files.items():
                    (folder / name).parent.mkdir(parents=True, exist_ok=True)
                    (folder / name).write_text(text)
        rows = []
        for ch in chapters:
            start = time.perf_counter()
            subprocess.run(nbgrader + ["autograde", ch, "--create", "--force", "--log-level=ERROR",
                                       "--Execute.timeout=30"], cwd=course, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            t_nbgrader = time.perf_counter() - start
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "course_utils.verify", ".", "--chapter", ch, "--jobs", "2"],
                           cwd=course, env=env, check=True, stdout=subprocess.DEVNULL)
            rows.append((ch, t_nbgrader, time.perf_counter() - start))
    print(f"grading throughput: {N} submissions per chapter (correct, wrong, adversarial mixed), "
          f"{os.cpu_count()} CPU(s), {platform.machine()}, one torch thread per verification child")
    print(f"  {'chapter':<16} {'stage':<28} {'total s':>8} {'s/submission':>13} {'submissions/min':>16}")
    for ch, t_nbgrader, t_verify in rows:
        for name, seconds in (("nbgrader autograde (serial)", t_nbgrader), ("verify (2 at a time)", t_verify),
                              ("both", t_nbgrader + t_verify)):
            print(f"  {ch:<16} {name:<28} {seconds:8.1f} {seconds / N:13.2f} {60 * N / seconds:16.1f}")
        print(f"  {ch:<16} verification adds {100 * t_verify / t_nbgrader:.0f}% to nbgrader's time (target < 50%); "
              f"{(t_nbgrader + t_verify) / N:.1f} s per submission graded and verified (target < 15 s)")

if __name__ == "__main__":
    main()
