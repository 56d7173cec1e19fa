"""Comparing a result with the expected one: tensors position by position, plain values by value.

Tuples, named tuples and lists are compared element by element, by value, not
by type identity: a ``Field(size=3, jump=1, start=0.5)`` named tuple equals the
tuple ``(3, 1, 0.5)``. Whole numbers must stay whole numbers (``True`` is not 1,
``3.0`` is not ``3``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from .core import check_dtype, check_shape, describe, fail

__all__ = ["check_close", "check_equal", "equal_problem"]


def _index_str(index: Sequence[int]) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def check_close(
    actual: Any,
    expected: Any,
    name: str = "result",
    *,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    dtype: bool = True,
    hint: str | None = None,
) -> None:
    """Fail unless ``actual`` matches the tensor ``expected`` in shape, dtype and values.

    The message names the position that differs most, both values and the
    difference, so a learner can find an off-by-one at a glance.

    Example:
        >>> check_close(my_conv(x, w), F.conv2d(x, w), name="conv2d(x, w)")   # x (N, C, H, W), w (C', C, k, k)
    """
    import torch

    check_shape(actual, expected.shape, name, hint=hint)
    if dtype:
        check_dtype(actual, expected.dtype, name, hint=hint)
    a = actual.detach().to("cpu", torch.float64)
    e = expected.detach().to("cpu", torch.float64)
    a_nan, e_nan = torch.isnan(a), torch.isnan(e)
    if not torch.equal(a_nan, e_nan):
        where = torch.nonzero(a_nan & ~e_nan)
        if len(where):
            fail(
                f"{name} contains NaN at {_index_str(where[0].tolist())}, where "
                f"{e[tuple(where[0])].item():.6g} was expected.",
                hint,
            )
        where = torch.nonzero(e_nan & ~a_nan)
        fail(
            f"{name} has {a[tuple(where[0])].item():.6g} at {_index_str(where[0].tolist())}, where NaN was expected.",
            hint,
        )
    a = torch.where(a_nan, torch.zeros_like(a), a)
    e = torch.where(e_nan, torch.zeros_like(e), e)
    diff = (a - e).abs()
    bad = diff > atol + rtol * e.abs()
    if a.numel() and bad.any():
        n_bad = int(bad.sum())
        excess = torch.where(bad, diff, torch.zeros_like(diff))
        flat = int(torch.argmax(excess))
        index = [int(i) for i in torch.unravel_index(torch.tensor(flat), a.shape)]
        fail(
            f"{name} differs from the expected values at {n_bad} of {a.numel()} positions; "
            f"the largest difference is at {_index_str(index)}: got {a[tuple(index)].item():.6g}, "
            f"expected {e[tuple(index)].item():.6g} (off by {diff[tuple(index)].item():.3g}).",
            hint,
        )


def equal_problem(actual: Any, expected: Any) -> str | None:
    """None when ``actual`` equals ``expected`` by value (recursively), else what differs.

    Example:
        >>> equal_problem((3, 1, 0.5), (3, 1, 0.5)) is None
        True
        >>> equal_problem([1, 2.0], [1, 2])
        'item 1 is the float 2.0 where the whole number 2 is expected'
    """
    import torch

    if isinstance(actual, torch.Tensor) and actual.numel() == 1 and not isinstance(expected, torch.Tensor):
        actual = actual.item()
    if isinstance(expected, bool) or isinstance(actual, bool):
        return None if type(actual) is type(expected) and actual == expected else "differs"
    if isinstance(expected, numbers.Integral):
        if isinstance(actual, numbers.Integral) and int(actual) == int(expected):
            return None
        if isinstance(actual, float) and actual.is_integer() and int(actual) == expected:
            return f"is the float {actual!r} where the whole number {expected} is expected"
        return "differs"
    if isinstance(expected, numbers.Real):
        ok = isinstance(actual, numbers.Real) and math.isclose(
            float(actual), float(expected), rel_tol=1e-9, abs_tol=1e-12
        )
        return None if ok else "differs"
    if isinstance(expected, (tuple, list)):
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            return "differs"
        for i, (a, e) in enumerate(zip(actual, expected)):
            why = equal_problem(a, e)
            if why:
                return why if why.startswith("item ") or why == "differs" else f"item {i} {why}"
        return None
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping) or set(actual) != set(expected):
            return "differs"
        return next(("differs" for k in expected if equal_problem(actual[k], expected[k])), None)
    return None if type(actual) is type(expected) and actual == expected else "differs"


def check_equal(actual: Any, expected: Any, name: str = "result", *, hint: str | None = None) -> None:
    """Fail unless ``actual`` equals ``expected``: numbers, strings, tuples, lists, dicts, by value.

    Integers must be integers (``True`` is not 1); sequences are compared
    element by element (a named tuple equals the plain tuple of its fields);
    tensors are not accepted here, use :func:`check_close`.

    Example:
        >>> check_equal(conv_param_count(3, 8, 3), 224, "conv_param_count(3, 8, 3)")
    """
    why = equal_problem(actual, expected)
    if why is None:
        return
    if why.startswith("is the float") and not isinstance(actual, (tuple, list)):
        fail(f"{name} is the float {actual!r}; return the whole number {expected} as an int.", hint)
    detail = f" ({why})" if why.startswith("item ") else ""
    fail(f"{name} is {describe(actual)}, expected {describe(expected)}{detail}.", hint)
