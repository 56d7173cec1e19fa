"""Run a learner's solution cells in a limited child process and collect plain outputs.

The child (:mod:`course_utils.grading.child`) starts as ``python -I`` (no
current folder or PYTHONPATH on ``sys.path``, so a planted ``torch.py`` is never
imported) in an empty temporary folder, with a minimal environment, limits on
address space, CPU time and file size, a wall-time limit per exercise, and, when
``unshare -rn`` works on this machine, in a network namespace with no network
at all. It receives only the code and the test inputs, and returns outputs as
plain data read with ``torch.load(weights_only=True)``.

All exercises of one submission run in one child (torch is imported once);
when it dies or overruns, the exercise that was running is charged and the
exercises not yet run get a fresh child without it.
"""

from __future__ import annotations

import functools
import io
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

STARTUP_SECONDS = 90.0  # importing torch and the setup cell on a busy two-core machine


@dataclass
class Limits:
    """Per-child limits: address space (MiB), file size (MiB), per-exercise wall seconds come from the spec."""

    memory_mb: int = 6144  # address space: importing torch alone maps about 3.5 GiB
    file_mb: int = 64
    startup_s: float = STARTUP_SECONDS


@functools.lru_cache(maxsize=1)
def network_isolation() -> list[str]:
    """``["unshare", "-rn"]`` when an unprivileged network namespace works here, else ``[]``."""
    exe = shutil.which("unshare")
    if not exe:
        return []
    try:
        ok = subprocess.run([exe, "-rn", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return [exe, "-rn"] if ok else []


def _limit(limits: Limits, cpu_s: int) -> None:  # runs in the child before exec
    mb = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb, limits.file_mb * mb))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _env(home: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "COURSE_SMOKE": "1",
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "NBGRADER_EXECUTION": "autograde",
        "http_proxy": "http://0.0.0.0:9",
        "https_proxy": "http://0.0.0.0:9",
    }


def _load(path: Path) -> dict | None:
    try:
        data = torch.load(io.BytesIO(path.read_bytes()), weights_only=True)
    except Exception as exc:  # noqa: BLE001 - anything unloadable is the learner's output being unusable
        return {"status": "error", "error": f"the outputs could not be read as plain data ({type(exc).__name__})"}
    return data if isinstance(data, dict) else {"status": "error", "error": "the outputs are not a record"}


def run_child(
    setup: list[str], exercises: list[dict[str, Any]], *, denied: list[str], limits: Limits | None = None
) -> dict[str, dict]:
    """Run the exercises in one child (or several after a crash); return a record per test id.

    Each record has ``status`` (``ok``, ``error``, ``timeout``, ``crashed``), and
    ``outputs`` (plain data) when ok or ``error`` (one line) otherwise.
    """
    limits = limits or Limits()
    results: dict[str, dict] = {}
    pending = list(exercises)
    while pending:
        ran, why = _one_child(setup, pending, denied, limits)
        results.update(ran)
        if not ran:  # the child died before the first exercise: nothing can be verified
            for ex in pending:
                results[ex["test_id"]] = {
                    "status": "crashed",
                    "error": f"the child died before any exercise ran: {why}",
                }
            break
        pending = [ex for ex in pending if ex["test_id"] not in results]
    return results


def _one_child(
    setup: list[str], exercises: list[dict], denied: list[str], limits: Limits
) -> tuple[dict[str, dict], str]:
    with tempfile.TemporaryDirectory(prefix="verify-") as tmp:
        job_dir = Path(tmp)
        (job_dir / "out").mkdir()
        work = job_dir / "work"
        work.mkdir()
        buffer = io.BytesIO()
        torch.save({"setup": setup, "exercises": exercises, "denied": denied}, buffer)
        (job_dir / "job.pt").write_bytes(buffer.getvalue())
        budget = limits.startup_s + sum(ex["timeout"] for ex in exercises)
        cmd = [*network_isolation(), sys.executable, "-I", "-m", "course_utils.grading.child", str(job_dir)]
        stderr_path = job_dir / "stderr.txt"
        with open(stderr_path, "wb") as err:
            proc = subprocess.Popen(
                cmd,
                cwd=work,
                env=_env(str(work)),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
                preexec_fn=functools.partial(_limit, limits, int(budget) + 1),
            )
            started = time.monotonic()
            timed_out: str | None = None
            while proc.poll() is None:
                time.sleep(0.1)
                now = time.monotonic()
                current = _current(job_dir / "out", exercises)
                if current is not None:
                    test_id, since = current
                    spec = next(ex for ex in exercises if ex["test_id"] == test_id)
                    if time.time() - since > spec["timeout"]:
                        timed_out = test_id
                elif now - started > limits.startup_s and not any((job_dir / "out").iterdir()):
                    timed_out = "<startup>"
                if now - started > budget:
                    timed_out = timed_out or (current[0] if current else "<startup>")
                if timed_out:
                    _kill(proc)
                    break
            proc.wait()
        results: dict[str, dict] = {}
        for ex in exercises:
            path = job_dir / "out" / f"{ex['test_id']}.pt"
            if path.is_file():
                results[ex["test_id"]] = _load(path)
        current = _current(job_dir / "out", exercises)
        tail = stderr_path.read_text(errors="replace")[-300:].strip()
        why = (
            f"exit code {proc.returncode}"
            + (", startup timed out" if timed_out == "<startup>" else "")
            + (f": {tail}" if tail else "")
        )
        if current is not None and current[0] not in results:
            test_id = current[0]
            if timed_out == test_id:
                results[test_id] = {
                    "status": "timeout",
                    "error": f"ran longer than {_timeout(exercises, test_id):.0f} s",
                }
            else:
                results[test_id] = {"status": "crashed", "error": f"the process died ({why})"}
        return results, why


def _timeout(exercises: list[dict], test_id: str) -> float:
    return next(ex["timeout"] for ex in exercises if ex["test_id"] == test_id)


def _current(out: Path, exercises: list[dict]) -> tuple[str, float] | None:
    """The exercise that has started and not finished, with the time it started."""
    for ex in exercises:
        marker = out / f"{ex['test_id']}.started.pt"
        if marker.exists() and not (out / f"{ex['test_id']}.pt").exists():
            return ex["test_id"], marker.stat().st_mtime
    return None


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
