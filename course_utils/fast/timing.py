"""Timing GPU work correctly: wait for the device, leave the warm-up out, repeat.

A CUDA call returns as soon as its kernels are queued, long before they have run, so
``time.perf_counter()`` around GPU code measures the queueing. A correct measurement
waits for the queue to empty (``torch.cuda.synchronize``) before starting and before
stopping the clock, or records CUDA events in the queue itself and reads the time
between them once they have run. The first calls are slower (cuDNN's kernel search,
memory pools, lazy initialisation, ``torch.compile``), so they run before the clock
starts and are reported apart.

Example:
    >>> seconds = cuda_time(lambda: model(x), warmup=3, repeats=20)   # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from ..errors import CourseError


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait until every kernel queued on ``device`` has finished (nothing to wait for on a CPU)."""
    device = torch.device(device) if device is not None else None
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device is not None and device.type == "mps":
        torch.mps.synchronize()


def _pick(device: torch.device | str | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def cuda_time(
    fn: Callable[[], Any],
    *,
    warmup: int = 3,
    repeats: int = 10,
    device: torch.device | str | None = None,
) -> float:
    """Seconds per call of ``fn()``, averaged over ``repeats`` calls after ``warmup`` untimed ones.

    On a CUDA device the time is read from two CUDA events recorded around the repeats
    (the device is synchronised first, and waited for at the end); elsewhere from
    ``time.perf_counter``.

    Args:
        fn: the work to time, called with no arguments.
        warmup: untimed calls first (0 allowed).
        repeats: timed calls.
        device: where ``fn`` runs; None picks CUDA when available, else the CPU.

    Example:
        >>> cuda_time(lambda: torch.ones(100).sum(), warmup=1, repeats=5, device="cpu") > 0
        True
    """
    if warmup < 0 or repeats < 1:
        raise CourseError(f"cuda_time needs warmup >= 0 and repeats >= 1; got {warmup} and {repeats}.")
    device = _pick(device)
    for _ in range(warmup):
        fn()
    synchronize(device)
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(repeats):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000.0 / repeats  # elapsed_time is in milliseconds
    begin = time.perf_counter()
    for _ in range(repeats):
        fn()
    synchronize(device)
    return (time.perf_counter() - begin) / repeats


class Stopwatch:
    """Adds up synchronised wall-clock time over several ``with`` blocks on one device.

    Example:
        >>> watch = Stopwatch("cpu")
        >>> with watch:
        ...     _ = torch.ones(10).sum()
        >>> watch.seconds >= 0
        True
    """

    def __init__(self, device: torch.device | str | None = None) -> None:
        self.device = _pick(device)
        self.seconds = 0.0
        self._start: float | None = None

    def __enter__(self) -> Stopwatch:
        synchronize(self.device)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        synchronize(self.device)
        assert self._start is not None
        self.seconds += time.perf_counter() - self._start
        self._start = None
