"""Reproducibility: one seed for Python, NumPy and PyTorch, and a deterministic switch.

See PyTorch's notes on reproducibility
(https://pytorch.org/docs/stable/notes/randomness.html): the same seed gives the
same numbers on the same software and hardware, and deterministic algorithms
remove the remaining run-to-run noise at some cost in speed.
"""

from __future__ import annotations

import os
import random


def seed_everything(seed: int = 0) -> int:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and every GPU).

    Returns the seed, so a setup cell can print it.

    Example:
        >>> seed_everything(42)
        42
    """
    import numpy as np
    import torch

    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        from .errors import CourseError

        raise CourseError(f"The seed must be a whole number from 0 to 2**32 - 1, not {seed!r}.")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


def set_deterministic(enabled: bool = True) -> None:
    """Ask PyTorch for deterministic algorithms (or give that up again).

    With ``enabled=True``: ``torch.use_deterministic_algorithms(True)``, cuDNN's
    benchmark mode off, and ``CUBLAS_WORKSPACE_CONFIG`` set so cuBLAS can comply.
    An operation with no deterministic version then raises instead of silently
    differing between runs.
    """
    import torch

    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.benchmark = not enabled
    torch.backends.cudnn.deterministic = enabled
