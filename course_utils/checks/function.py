"""Calling a learner's function and holding it to the statement: :func:`call_learner` and :func:`check_function`.

:func:`check_function` compares the learner's function with a reference
(PyTorch itself) case by case, and applies the statement's rules with the
sentences verification uses too: forbidden routes (:class:`~.forbid.Forbid`),
inputs left unchanged (:mod:`.inputs`) and the kind of the result (:mod:`.returns`).
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..errors import CheckFailed, CourseError
from .cases import Case, as_case
from .core import describe, fail, passed
from .forbid import Forbid, recording_ops
from .inputs import arg_labels, clone_value, mutation_message, mutations, snapshot
from .returns import kind_of, returns_problem
from .values import check_close, check_equal

__all__ = ["call_learner", "check_function", "learner_source"]


def _learner_line(exc: BaseException) -> str:
    """``"at line N, `code`; "`` for the last frame of the learner's own code in the traceback, else ``""``."""
    import numbers
    import os
    import traceback

    import torch

    skip = tuple(
        os.path.dirname(m.__file__) + os.sep for m in (torch, numbers, contextlib) if getattr(m, "__file__", None)
    )
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # course_utils/
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not os.path.abspath(f.filename).startswith((here, *skip)) and f.line
    ]
    return f"at line {frames[-1].lineno}, `{frames[-1].line.strip()}`; " if frames else ""


def _invoke(
    fn: Callable,
    args: Sequence[Any],
    kwargs: dict,
    case: Case,
    name: str,
    arg_names: Sequence[str] | None,
    hidden: bool,
) -> Any:
    try:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            return fn(*args, **kwargs)
    except NotImplementedError:
        fail(f"{name} is not written yet: replace `raise NotImplementedError()` with your code.")
    except CheckFailed:
        raise
    except Exception as exc:  # the learner's bug, reported in one sentence
        where = "a hidden test input" if hidden else "input"
        fail(
            f"your {name} raised {type(exc).__name__}: {exc} ({_learner_line(exc)}on {where} {case.describe(arg_names)})."
        )


def call_learner(
    fn: Callable,
    case: Case,
    name: str,
    arg_names: Sequence[str] | None = None,
    *,
    hidden: bool = False,
    forbid: Forbid | None = None,
    returns: Any = None,
    mutates: Sequence[str] | None = None,
) -> Any:
    """Call a learner's function on fresh copies of the inputs and return its result.

    An exception from the learner's code is reported as one sentence, "your
    function raised X on input ...", and warnings are recorded instead of printed.
    For custom checks, the statement's rules are opt-in here with the same sentences
    as :func:`check_function`: ``forbid`` (source and run rules), ``returns`` (the kind
    of the result) and ``mutates`` (None: inputs not checked; a tuple of argument names:
    every other tensor or model argument must come back unchanged).

    Example:
        >>> out = call_learner(gradient_map, Case((model, x)), "gradient_map", mutates=())   # x (1, C, H, W)
    """
    case = as_case(case)
    if forbid is not None:
        _source_rule(fn, name, forbid)
    return _run_case(fn, case, name, arg_names, hidden=hidden, forbid=forbid, returns=returns, mutates=mutates)


def _source_rule(fn: Any, label: str, forbid: Forbid) -> None:
    source = learner_source(fn)
    why = forbid.source_problem(label, source) if source else None
    if why:
        fail(why)


def _run_case(
    fn: Callable,
    case: Case,
    label: str,
    arg_names: Sequence[str] | None,
    *,
    hidden: bool,
    forbid: Forbid | None,
    returns: Any,
    mutates: Sequence[str] | None,
) -> Any:
    """One call on fresh copies, with the run rule, the inputs rule and the return kind applied."""
    args = [clone_value(a) for a in case.args]
    kwargs = {k: clone_value(v) for k, v in case.kwargs.items()}
    befores: dict[str, Any] = {}
    values: dict[str, Any] = {}
    if mutates is not None:
        labels = arg_labels(fn, len(args), list(kwargs), arg_names)
        values = dict(zip(labels, [*args, *kwargs.values()]))
        unknown = [m for m in mutates if m not in values]
        if unknown:
            raise CourseError(
                f"mutates={tuple(mutates)!r} names {unknown}, which are not arguments of {label} "
                f"(its arguments: {', '.join(values) or 'none'})."
            )
        befores = {k: snapshot(v) for k, v in values.items() if k not in mutates}
    recorder = recording_ops() if forbid is not None and forbid.aten else contextlib.nullcontext(set())
    with recorder as ops:
        actual = _invoke(fn, args, kwargs, case, label, arg_names, hidden)
    if forbid is not None and (why := forbid.ops_problem(label, ops)):
        fail(why)
    for arg, what, is_module in mutations(befores, values):
        fail(mutation_message(label, arg, what, module=is_module))
    if returns is not None and (why := returns_problem(label, kind_of(actual), returns)):
        fail(why)
    return actual


def _function_of(value: Any) -> Any:
    """The plain function behind a method, static or class method, or property getter (else None)."""
    value = getattr(value, "__func__", None) or getattr(value, "fget", None) or value
    return value if inspect.isfunction(value) else None


def learner_source(fn: Any, limit: int = 20) -> str | None:
    """The source of ``fn`` and of the functions and classes of its own namespace it refers to (None when unknown).

    A lambda written in a check cell is not read itself (it names the reference), only what it calls.
    """
    import ast
    import functools
    import sys
    import textwrap

    while isinstance(fn, functools.partial) or inspect.ismethod(fn):
        fn = fn.func if isinstance(fn, functools.partial) else fn.__func__
    start = fn if inspect.isfunction(fn) or inspect.isclass(fn) else type(fn)
    module = getattr(start, "__module__", None) or ""
    if module.split(".")[0] in sys.stdlib_module_names or module.split(".")[0] in ("torch", "numpy"):
        return None  # PyTorch's or Python's own code: the run rule judges it
    stack, seen, parts = [start], set(), []
    while stack and len(parts) < limit:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        names: Iterable[str] = ()
        if inspect.isfunction(obj) and obj.__name__ == "<lambda>":
            names = obj.__code__.co_names
        else:
            try:
                source = inspect.getsource(obj)
            except (OSError, TypeError):
                if inspect.isclass(obj):  # a class typed in a notebook (no file): read its methods instead
                    stack += [_function_of(v) for v in vars(obj).values() if _function_of(v) is not None]
                continue
            source = textwrap.dedent(source)  # a method is indented; the parts are joined at column 0
            parts.append(source)
            try:
                names = {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
            except SyntaxError:
                names = ()
        space = getattr(obj, "__globals__", None) or vars(sys.modules.get(module) or sys)
        for n in names:
            value = space.get(n)
            if (inspect.isfunction(value) or inspect.isclass(value)) and getattr(value, "__module__", None) == module:
                stack.append(value)
    return "\n\n".join(parts) if parts else None


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
    forbid: Forbid | None = None,
    returns: Any = None,
    mutates: Sequence[str] = (),
) -> None:
    """Compare ``fn`` with ``reference`` (usually PyTorch itself) on every case; return nothing.

    Args:
        fn: the learner's function.
        reference: the function that is right by definition, e.g. ``F.conv2d``.
        cases: each a :class:`Case`, a tuple of positional arguments, or a dict of keyword arguments.
        name: how to call ``fn`` in messages (default: its ``__name__``).
        arg_names: names for positional arguments in messages, e.g. ``("x", "weight")``.
        hidden: describe a failing case as hidden and print nothing on success.
        forbid: a :class:`Forbid` rule: its source rule is applied to ``fn``'s source (and the functions
            of the notebook it calls), its run rule to the ATen operations ``fn`` runs on every case.
        returns: the kind of result the statement asks for (``float``, ``int``, ``tuple``,
            ``torch.Tensor``... or a tuple of them); None to skip this rule.
        mutates: names of the arguments ``fn`` may change in place; every other tensor or module
            argument must come back unchanged (values, ``requires_grad``, ``.grad``; parameters and buffers).

    Raises:
        CheckFailed: at the first rule broken or the first case that differs, naming that case.

    Example:
        >>> check_function(conv2d_loops, F.conv2d, [(x, w)], arg_names=("x", "weight"), forbid=NO_CONV)
        ✓ conv2d_loops matches the reference on 1 case
    """
    import torch

    label = name or getattr(fn, "__name__", "your function")
    if not callable(fn):
        fail(f"{label} should be a function, but it is {describe(fn)}.")
    cases = [as_case(c) for c in cases]
    if forbid is not None:
        _source_rule(fn, label, forbid)
    for number, case in enumerate(cases, start=1):
        expected = reference(
            *[clone_value(a) for a in case.args], **{k: clone_value(v) for k, v in case.kwargs.items()}
        )
        actual = _run_case(
            fn, case, label, arg_names, hidden=hidden, forbid=forbid, returns=returns, mutates=tuple(mutates)
        )
        which = "a hidden case" if hidden else f"case {number} of {len(cases)}"
        context = f"{label} on {which} ({case.describe(arg_names)})"
        try:
            if isinstance(expected, torch.Tensor):
                check_close(actual, expected, context, atol=atol, rtol=rtol, dtype=dtype)
            else:
                check_equal(actual, expected, context)
        except CheckFailed as exc:
            fail(str(exc), hint)
    if not hidden:
        passed(f"{label} matches the reference on {len(cases)} case{'s' if len(cases) != 1 else ''}")
