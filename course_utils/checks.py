"""Checks for exercises: compare a learner's answer with PyTorch and say exactly what differs.

Every check either prints one line starting with ✓ or raises
:class:`~course_utils.errors.CheckFailed` with a message that names what was
expected, what came back and, where it helps, a hint. Nothing is written to
stderr: warnings raised while a learner's function runs are recorded, not
printed, so a correct answer is never marked wrong by nbgrader for a warning.

Visible tests in a notebook and hidden tests use the same functions; hidden
tests pass ``hidden=True`` so the failure message does not reveal their inputs
beyond shapes and dtypes.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import CheckFailed

__all__ = [
    "Case",
    "CheckFailed",
    "check_close",
    "check_dtype",
    "check_equal",
    "check_function",
    "check_shape",
    "check_tensor",
    "describe",
    "passed",
]


def passed(message: str) -> None:
    """Print one success line (to stdout, never stderr)."""
    print(f"✓ {message}")


def _fail(message: str, hint: str | None = None) -> None:
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


def check_tensor(value: Any, name: str = "result", *, hint: str | None = None) -> None:
    """Fail unless ``value`` is a ``torch.Tensor`` (not a list, array or number)."""
    import torch

    if not isinstance(value, torch.Tensor):
        extra = " Did you forget a `return`?" if value is None else ""
        _fail(f"{name} should be a torch.Tensor, but it is {describe(value)}.{extra}", hint)
    if type(value) is not torch.Tensor and not isinstance(value, torch.nn.Parameter):
        _fail(f"{name} should be a plain torch.Tensor, but it is a {type(value).__name__}.", hint)


def check_shape(value: Any, expected: Sequence[int], name: str = "result", *, hint: str | None = None) -> None:
    """Fail unless ``value`` is a tensor of exactly the shape ``expected``."""
    check_tensor(value, name, hint=hint)
    got, want = tuple(value.shape), tuple(int(s) for s in expected)
    if got != want:
        if len(got) != len(want):
            detail = f"it has {len(got)} dimensions where {len(want)} were expected"
        else:
            dims = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
            detail = f"dimension {dims[0]} is {got[dims[0]]} instead of {want[dims[0]]}"
        _fail(f"{name} has shape {got}, expected {want}: {detail}.", hint)


def check_dtype(value: Any, expected: Any, name: str = "result", *, hint: str | None = None) -> None:
    """Fail unless ``value`` is a tensor of dtype ``expected``."""
    check_tensor(value, name, hint=hint)
    if value.dtype != expected:
        got, want = str(value.dtype).replace("torch.", ""), str(expected).replace("torch.", "")
        _fail(
            f"{name} has dtype {got}, expected {want}.",
            hint or "keep the dtype of the inputs: avoid torch.tensor(...) or .float() on results.",
        )


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
        >>> check_close(my_conv(x, w), F.conv2d(x, w), name="conv2d(x, w)")
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
            _fail(f"{name} contains NaN at {_index_str(where[0].tolist())}, where {e[tuple(where[0])].item():.6g} was expected.", hint)
        where = torch.nonzero(e_nan & ~a_nan)
        _fail(f"{name} has {a[tuple(where[0])].item():.6g} at {_index_str(where[0].tolist())}, where NaN was expected.", hint)
    a = torch.where(a_nan, torch.zeros_like(a), a)
    e = torch.where(e_nan, torch.zeros_like(e), e)
    diff = (a - e).abs()
    bad = diff > atol + rtol * e.abs()
    if a.numel() and bad.any():
        n_bad = int(bad.sum())
        excess = torch.where(bad, diff, torch.zeros_like(diff))
        flat = int(torch.argmax(excess))
        index = torch.unravel_index(torch.tensor(flat), a.shape)
        index = [int(i) for i in index]
        _fail(
            f"{name} differs from the expected values at {n_bad} of {a.numel()} positions; "
            f"the largest difference is at {_index_str(index)}: got {a[tuple(index)].item():.6g}, "
            f"expected {e[tuple(index)].item():.6g} (off by {diff[tuple(index)].item():.3g}).",
            hint,
        )


def check_equal(actual: Any, expected: Any, name: str = "result", *, hint: str | None = None) -> None:
    """Fail unless ``actual == expected`` for numbers, strings, tuples (exactly, by type family).

    Integers must be integers (``True`` is not 1); tensors are not accepted
    here, use :func:`check_close`.
    """
    import torch

    if isinstance(actual, torch.Tensor) and actual.numel() == 1 and not isinstance(expected, torch.Tensor):
        actual = actual.item()
    if isinstance(expected, bool) or isinstance(actual, bool):
        same = type(actual) is type(expected) and actual == expected
    elif isinstance(expected, numbers.Integral):
        same = isinstance(actual, numbers.Integral) and int(actual) == int(expected)
        if not same and isinstance(actual, float) and actual.is_integer() and int(actual) == expected:
            _fail(f"{name} is the float {actual!r}; return the whole number {expected} as an int.", hint)
    elif isinstance(expected, numbers.Real):
        same = isinstance(actual, numbers.Real) and math.isclose(float(actual), float(expected), rel_tol=1e-9, abs_tol=1e-12)
    elif isinstance(expected, (tuple, list)):
        same = isinstance(actual, (tuple, list)) and len(actual) == len(expected) and all(
            type(x) is type(y) or (isinstance(x, numbers.Integral) and isinstance(y, numbers.Integral))
            for x, y in zip(actual, expected)
        ) and tuple(actual) == tuple(expected)
    else:
        same = type(actual) is type(expected) and actual == expected
    if not same:
        _fail(f"{name} is {describe(actual)}, expected {describe(expected)}.", hint)


@dataclass(frozen=True)
class Case:
    """One input for :func:`check_function`: positional and keyword arguments."""

    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def describe(self, names: Sequence[str] | None = None) -> str:
        parts = []
        for i, value in enumerate(self.args):
            label = names[i] if names and i < len(names) else f"argument {i + 1}"
            parts.append(f"{label}: {describe(value)}")
        parts += [f"{key}={_short(value)}" for key, value in self.kwargs.items()]
        return "; ".join(parts) if parts else "no arguments"


def _short(value: Any) -> str:
    """``2`` for settings such as ``stride=2``; a description for tensors and other objects."""
    if value is None or isinstance(value, (bool, str, numbers.Number)):
        return repr(value)
    if isinstance(value, tuple) and len(value) <= 4 and all(isinstance(v, numbers.Number) for v in value):
        return repr(value)
    return describe(value)


def _learner_line(exc: BaseException) -> str:
    """``"at line N, `code`; "`` for the last frame of the learner's own code in the traceback, else ``""``."""
    import os
    import traceback

    import torch

    skip = tuple(os.path.dirname(m.__file__) + os.sep for m in (torch, numbers) if getattr(m, "__file__", None))
    here = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not os.path.abspath(f.filename).startswith((here, *skip)) and f.line]
    return f"at line {frames[-1].lineno}, `{frames[-1].line.strip()}`; " if frames else ""


def _as_case(case: Any) -> Case:
    if isinstance(case, Case):
        return case
    if isinstance(case, tuple):
        return Case(args=case)
    if isinstance(case, Mapping):
        return Case(kwargs=dict(case))
    return Case(args=(case,))


def _clone(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_clone(v) for v in value)
    return value


def call_learner(fn: Callable, case: Case, name: str, arg_names: Sequence[str] | None = None, *, hidden: bool = False) -> Any:
    """Call a learner's function on fresh copies of the inputs.

    An exception from the learner's code is reported as one sentence, "your
    function raised X on input ...", and warnings are recorded instead of
    printed.
    """
    args, kwargs = _clone(case.args), {k: _clone(v) for k, v in case.kwargs.items()}
    try:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            return fn(*args, **kwargs)
    except NotImplementedError:
        _fail(f"{name} is not written yet: replace `raise NotImplementedError()` with your code.")
    except CheckFailed:
        raise
    except Exception as exc:  # the learner's bug, reported in one sentence
        where = "a hidden test input" if hidden else "input"
        _fail(f"your {name} raised {type(exc).__name__}: {exc} ({_learner_line(exc)}on {where} {case.describe(arg_names)}).")


def check_function(
    fn: Callable,
    reference: Callable,
    cases: Iterable[Any],
    *,
    name: str | None = None,
    arg_names: Sequence[str] | None = None,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    dtype: bool = True,
    hint: str | None = None,
    hidden: bool = False,
) -> int:
    """Compare ``fn`` with ``reference`` (usually PyTorch itself) on every case.

    Args:
        fn: the learner's function.
        reference: the function that is right by definition, e.g. ``F.conv2d``.
        cases: each a :class:`Case`, a tuple of positional arguments, or a dict
            of keyword arguments.
        name: how to call ``fn`` in messages (default: its ``__name__``).
        arg_names: names for positional arguments in messages, e.g. ``("x", "weight")``.
        hidden: describe a failing case as hidden and print nothing on success.

    Returns:
        The number of cases that passed (all of them; otherwise it raises).

    Raises:
        CheckFailed: at the first case that differs, naming that case.

    Example:
        >>> check_function(conv2d_loops, F.conv2d, [(x, w)], arg_names=("x", "weight"))
        ✓ conv2d_loops matches PyTorch on 1 case
    """
    import torch

    label = name or getattr(fn, "__name__", "your function")
    if not callable(fn):
        _fail(f"{label} should be a function, but it is {describe(fn)}.")
    cases = [_as_case(c) for c in cases]
    for number, case in enumerate(cases, start=1):
        expected = reference(*_clone(case.args), **{k: _clone(v) for k, v in case.kwargs.items()})
        actual = call_learner(fn, case, label, arg_names, hidden=hidden)
        which = "a hidden case" if hidden else f"case {number} of {len(cases)}"
        context = f"{label} on {which} ({case.describe(arg_names)})"
        try:
            if isinstance(expected, torch.Tensor):
                check_close(actual, expected, context, atol=atol, rtol=rtol, dtype=dtype)
            else:
                check_equal(actual, expected, context)
        except CheckFailed as exc:
            _fail(str(exc), hint)
    if not hidden:
        passed(f"{label} matches the reference on {len(cases)} case{'s' if len(cases) != 1 else ''}")
    return len(cases)


# Checks for nn.Modules live in their own room; they are part of this module's face.
from .cases import CaseMaker, random_cases  # noqa: E402
from .module_checks import (  # noqa: E402
    check_contains, check_layers, check_module, check_output_shape, check_param_count, check_requires_grad,
    count_parameters,
)

__all__ += ["CaseMaker", "random_cases", "check_contains", "check_layers", "check_module", "check_output_shape",
            "check_param_count", "check_requires_grad", "count_parameters"]
