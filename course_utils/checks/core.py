"""The basic checks: one success line, one failure sentence, and descriptions of values.

Every check either prints one line starting with ✓ or raises
:class:`~course_utils.errors.CheckFailed` with a message that names what was
expected, what came back and, where it helps, a hint.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, NoReturn

from ..errors import CheckFailed

__all__ = ["CheckFailed", "check_dtype", "check_shape", "check_tensor", "describe", "fail", "passed", "short"]


def passed(message: str) -> None:
    """Print one success line (to stdout, never stderr).

    Example:
        >>> passed("conv2d_loops matches the reference on 2 cases")
        ✓ conv2d_loops matches the reference on 2 cases
    """
    print(f"✓ {message}")


def fail(message: str, hint: str | None = None) -> NoReturn:
    """Raise :class:`CheckFailed` with ``message`` and, when given, a ``Hint:`` line."""
    if hint:
        message = f"{message}\n   Hint: {hint}"
    raise CheckFailed(message)


def describe(value: Any) -> str:
    """A short, plain description of a value: shapes and dtypes for tensors.

    Example:
        >>> describe(torch.zeros(2, 3))
        'a float32 tensor of shape (2, 3)'
    """
    import numpy as np
    import torch

    if isinstance(value, torch.Tensor):
        dtype = str(value.dtype).replace("torch.", "")
        return f"a {dtype} tensor of shape {tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        return f"a NumPy {value.dtype} array of shape {value.shape}"
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, numbers.Number):
        return f"the number {value!r}"
    if isinstance(value, (list, tuple)) and len(value) <= 6:
        return f"the {type(value).__name__} {value!r}"
    return f"a {type(value).__name__}"


def short(value: Any) -> str:
    """``2`` for settings such as ``stride=2``; a description for tensors and other objects."""
    if value is None or isinstance(value, (bool, str, numbers.Number)):
        return repr(value)
    if isinstance(value, tuple) and len(value) <= 4 and all(isinstance(v, numbers.Number) for v in value):
        return repr(value)
    return describe(value)


def check_tensor(value: Any, name: str = "result", *, hint: str | None = None) -> None:
    """Fail unless ``value`` is a ``torch.Tensor`` (not a list, array or number).

    Example:
        >>> check_tensor(torch.zeros(3), "edge_kernel()")
    """
    import torch

    if not isinstance(value, torch.Tensor):
        extra = " Did you forget a `return`?" if value is None else ""
        fail(f"{name} should be a torch.Tensor, but it is {describe(value)}.{extra}", hint)
    if type(value) is not torch.Tensor and not isinstance(value, torch.nn.Parameter):
        fail(f"{name} should be a plain torch.Tensor, but it is a {type(value).__name__}.", hint)


def check_shape(value: Any, expected: Sequence[int], name: str = "result", *, hint: str | None = None) -> None:
    """Fail unless ``value`` is a tensor of exactly the shape ``expected``.

    Example:
        >>> check_shape(torch.zeros(1, 3, 8, 8), (1, 3, 8, 8))   # (N, C, H, W)
    """
    check_tensor(value, name, hint=hint)
    got, want = tuple(value.shape), tuple(int(s) for s in expected)
    if got != want:
        if len(got) != len(want):
            detail = f"it has {len(got)} dimensions where {len(want)} were expected"
        else:
            dims = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
            detail = f"dimension {dims[0]} is {got[dims[0]]} instead of {want[dims[0]]}"
        fail(f"{name} has shape {got}, expected {want}: {detail}.", hint)


def check_dtype(value: Any, expected: Any, name: str = "result", *, hint: str | None = None) -> None:
    """Fail unless ``value`` is a tensor of dtype ``expected``.

    Example:
        >>> check_dtype(torch.zeros(2, dtype=torch.float64), torch.float64)
    """
    check_tensor(value, name, hint=hint)
    if value.dtype != expected:
        got, want = str(value.dtype).replace("torch.", ""), str(expected).replace("torch.", "")
        fail(
            f"{name} has dtype {got}, expected {want}.",
            hint or "keep the dtype of the inputs: avoid torch.tensor(...) or .float() on results.",
        )
