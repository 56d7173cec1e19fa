"""Run-time settings: smoke mode, budgets, the data folder and the device.

Smoke mode (``COURSE_SMOKE=1``, which CI sets) makes every chapter finish in
about a minute on two CPU cores. Chapters never read ``CI`` or the environment
themselves; they call :func:`is_smoke` and :func:`budget`. Every function here
reads the environment when it is called, so setting a variable in a notebook
takes effect at once and importing this module changes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .errors import CourseError

if TYPE_CHECKING:  # torch is imported inside the functions that need it
    import torch

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def is_smoke() -> bool:
    """True when ``COURSE_SMOKE`` asks for the quick, small version of every run.

    Example:
        >>> os.environ["COURSE_SMOKE"] = "1"; is_smoke()
        True
    """
    raw = os.environ.get("COURSE_SMOKE", "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise CourseError(f"COURSE_SMOKE is set to {raw!r}; set it to 1 for smoke mode or 0 (or unset it) for full mode.")


def budget(full: T, smoke: T) -> T:
    """Return ``smoke`` in smoke mode and ``full`` otherwise.

    Use it for every size that makes a run slow: epochs, subset sizes, widths.

    Example:
        >>> EPOCHS = budget(full=20, smoke=1)  # epochs
    """
    return smoke if is_smoke() else full


def data_dir() -> Path:
    """The folder where data sets are kept (created if missing).

    ``COURSE_DATA_DIR`` wins; otherwise ``~/.cache/cnn-course``, which works the
    same in a clone, in a pip install and in Colab.
    """
    raw = os.environ.get("COURSE_DATA_DIR")
    path = Path(raw).expanduser() if raw else Path.home() / ".cache" / "cnn-course"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CourseError(
            f"The data folder {path} cannot be created ({exc.strerror}); "
            "set COURSE_DATA_DIR to a folder you can write to."
        ) from None
    return path


def _has_mps() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(prefer: str | None = None, *, verbose: bool = True) -> torch.device:
    """Pick the device to train on: CUDA, then Apple's MPS, then the CPU.

    Args:
        prefer: ``"cuda"``, ``"mps"`` or ``"cpu"`` to ask for one; ``None`` picks
            the fastest available. ``COURSE_DEVICE`` overrides ``None``.
        verbose: print one line saying which device was chosen and, on a CPU,
            how to get a GPU.

    Raises:
        CourseError: when the device asked for is not available.

    Example:
        >>> device = get_device()          # doctest: +SKIP
        Using the CPU. ...
    """
    import torch

    prefer = prefer or os.environ.get("COURSE_DEVICE") or None
    if prefer is not None:
        prefer = prefer.lower()
        if prefer.startswith("cuda") and not torch.cuda.is_available():
            raise CourseError(
                "You asked for a CUDA GPU but PyTorch sees none: in Colab choose Runtime > "
                "Change runtime type > GPU, or call get_device() without arguments to use the CPU."
            )
        if prefer == "mps" and not _has_mps():
            raise CourseError(
                "You asked for Apple's MPS device but it is not available here; "
                "call get_device() without arguments to use the CPU."
            )
        if not (prefer.startswith("cuda") or prefer in {"mps", "cpu"}):
            raise CourseError(f"Unknown device {prefer!r}: use 'cuda', 'mps' or 'cpu'.")
        device = torch.device(prefer)
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    elif _has_mps():
        device = torch.device("mps")
    else:
        device = torch.device("cpu")

    if verbose:
        if device.type == "cuda":
            print(f"Using the GPU: {torch.cuda.get_device_name(device)}.")
        elif device.type == "mps":
            print("Using Apple's MPS device.")
        elif prefer == "cpu":
            print("Using the CPU, as asked.")
        else:
            print(
                "Using the CPU: no CUDA or MPS device was found. Everything runs, only slower; "
                "in Colab, Runtime > Change runtime type > GPU gives you one."
            )
    return device


def describe() -> str:
    """One line for a setup cell: smoke or full mode, and what that means."""
    if is_smoke():
        return "Smoke mode (COURSE_SMOKE=1): small data, few epochs, a quick check that everything runs."
    return "Full mode: real sizes. Set COURSE_SMOKE=1 before starting Jupyter for a quick run."
