"""The code that runs inside the sandboxed child: the learner's cells, then the test calls.

Run as ``python -I -m course_utils.grading.child JOB_DIR`` in a temporary
folder. ``JOB_DIR/job.pt`` (written by the grader, read with
``weights_only=True``) holds, for each exercise, the source of the cells to run,
the test inputs and how to call the answer (``driver`` and ``outcome``, see
:class:`course_utils.grading.spec.Exercise`); for every exercise the child writes
``JOB_DIR/out/<test_id>.pt``: the outputs as plain data (tensors, numbers,
strings, lists, dicts) or the error. The grader never unpickles anything else.

Before any learner code runs, an audit hook refuses network sockets, new
processes and opening files under the paths the grader names (the course), so
reading the gradebook or the instructor's sources fails even by absolute path.
"""

from __future__ import annotations

import io
import numbers
import os
import sys
import traceback
from typing import Any

import numpy  # noqa: F401  (imported before the learner can plant or patch anything)
import torch

from course_utils.checks import forbid as _forbid_mod
from course_utils.checks import inputs as _inputs_mod
from course_utils.checks import returns as _returns_mod
from course_utils.grading import harness

_save = torch.save
_Tensor = torch.Tensor
_isinstance = isinstance
_open = open
_replace = os.replace
_describe, _run_module, _run_with_state = harness.describe, harness.run_module, harness.run_with_state
_is_model_arg, _build_arg = harness.is_model_arg, harness.build_arg
# The statement's rules are judged by the grader; the child only reports what it saw, as data.
_recording_ops, _kind_of = _forbid_mod.recording_ops, _returns_mod.kind_of
_snapshot, _mutations, _arg_labels = _inputs_mod.snapshot, _inputs_mod.mutations, _inputs_mod.arg_labels

_BLOCKED_EVENTS = {
    "socket.connect",
    "socket.bind",
    "socket.sendto",
    "socket.getaddrinfo",
    "subprocess.Popen",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.forkpty",
    "pty.spawn",
    "sys.addaudithook",
    "sqlite3.connect",
}


def _install_guard(denied: list[str]) -> None:
    denied = tuple(os.path.realpath(p).rstrip(os.sep) + os.sep for p in denied if p)
    # The environment and this package stay readable even when they live inside the course folder.
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    allowed = tuple(os.path.realpath(p).rstrip(os.sep) + os.sep for p in (sys.prefix, sys.base_prefix, here))

    def guard(event: str, args: tuple) -> None:
        if event in _BLOCKED_EVENTS:
            raise PermissionError(f"{event} is not allowed while grading")
        if event in ("open", "os.listdir", "os.scandir", "os.chdir", "os.remove", "os.rename") and args:
            path = args[0]
            if _isinstance(path, (str, bytes, os.PathLike)) and not _isinstance(path, int):
                full = os.path.realpath(os.fsdecode(path)) + os.sep
                if full.startswith(denied) and not full.startswith(allowed):
                    raise PermissionError(f"{event} of {os.fsdecode(path)!r} is not allowed while grading")

    sys.addaudithook(guard)


class _Inert:
    """Stands in for IPython's ``get_ipython()`` and ``display``: every use does nothing."""

    def __getattr__(self, name: str) -> _Inert:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> _Inert:
        return self


def _plain(value: Any, depth: int = 0) -> Any:
    """Copy a result into plain data the grader can load with ``weights_only=True``."""
    if depth > 8:
        raise TypeError("the result is nested too deeply")
    if _isinstance(value, _Tensor):
        # With subclass dispatch off, a Tensor subclass cannot intercept the copy.
        with torch._C.DisableTorchFunctionSubclass():
            return _Tensor.as_subclass(_Tensor.clone(_Tensor.cpu(_Tensor.detach(value))), _Tensor)
    if value is None or type(value) in (bool, int, float, str):
        return value
    if _isinstance(value, numbers.Number) and not _isinstance(value, complex):
        number = float(value)
        return int(number) if _isinstance(value, numbers.Integral) else number
    if _isinstance(value, (list, tuple)):  # a named tuple (or any tuple subclass) crosses as its items
        items = list.__iter__(value) if _isinstance(value, list) else tuple.__iter__(value)
        return [_plain(v, depth + 1) for v in items]
    if type(value) is dict:
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if _isinstance(value, torch.nn.Module):
        return {k: _plain(v, depth + 1) for k, v in value.state_dict().items()}
    if type(value).__module__ == "numpy" and hasattr(value, "shape"):
        return torch.as_tensor(numpy.array(value, copy=True))
    raise TypeError(f"the result is a {type(value).__name__}, not a tensor, number, list or dict")


def _arg(value: Any) -> Any:
    """A fresh copy of one test input: tensors cloned, model descriptions built into nn.Sequential."""
    if _isinstance(value, _Tensor):
        return value.clone()
    if _is_model_arg(value):
        return _build_arg(value)
    return value


def _call(exercise: dict, target: Any, case: dict, seen: dict) -> Any:
    """One case: call the answer as the exercise's driver says; with ``outcome``, an exception is a result too.

    ``seen`` collects what the grader judges the statement's rules on: the ATen operations run
    (``ops``), the arguments changed in place (``mutations``) and the kind of each result (``kinds``).
    """
    args = [_arg(a) for a in case["args"]]
    kwargs = {k: _arg(v) for k, v in case.get("kwargs", {}).items()}
    labels = _arg_labels(target, len(args), list(kwargs), exercise.get("arg_names") or None)
    values = dict(zip(labels, [*args, *kwargs.values()]))
    befores = {k: _snapshot(v) for k, v in values.items()}
    driver = exercise.get("driver", "call")
    kind = None
    try:
        with _recording_ops() if exercise.get("record_ops") else _no_recording() as ops:
            if driver == "describe":  # the answer returns a model: send its layers, not the object
                value = _describe(target(*args, **kwargs))
            elif driver == "module":  # the answer is a module class: construct, forward, backward
                value = _run_module(target, args, kwargs)
            elif driver == "state":  # a module class loading a reference's state_dict: keys or eval output
                value = _run_with_state(target, args, kwargs)
            else:
                value = target(*args, **kwargs)
                kind = _kind_of(value)
    except BaseException as exc:  # noqa: BLE001 - SystemExit included; re-raised unless it is a result
        if exercise.get("record_ops"):
            seen["ops"].update(ops if _isinstance(ops, set) else ())
        if not exercise.get("outcome"):
            raise
        # The built-in classes it derives from: a learner's class cannot pass for another built-in.
        return {"raised": [c.__name__ for c in type(exc).__mro__ if c.__module__ == "builtins"]}
    seen["ops"].update(ops)
    seen["mutations"].append([[label, what, is_module] for label, what, is_module in _mutations(befores, values)])
    if kind is not None:
        seen["kinds"].append(kind)
    return {"returned": value} if exercise.get("outcome") else value


class _no_recording:
    def __enter__(self) -> set:
        return set()

    def __exit__(self, *exc: Any) -> None:
        return None


def _write(out_dir: str, test_id: str, record: dict) -> None:
    buffer = io.BytesIO()
    _save(record, buffer)
    tmp = os.path.join(out_dir, f".{test_id}.tmp")
    with _open(tmp, "wb") as fh:
        fh.write(buffer.getvalue())
    _replace(tmp, os.path.join(out_dir, f"{test_id}.pt"))


def _error(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    return "".join(lines).strip()[-400:]


def _restore_helpers(sources: list[str], namespace: dict[str, Any]) -> str | None:
    """Run the instructor's helper cells again in ``namespace``; a sentence when one fails, else None."""
    for source in sources:
        try:
            exec(compile(source, "<setup cell>", "exec"), namespace)
        except BaseException as exc:  # noqa: BLE001 - the learner's cells broke what the helpers need
            return f"the chapter's helper cell failed after your solution cells ran: {_error(exc)}"
    return None


def run(job_dir: str) -> None:
    job = torch.load(os.path.join(job_dir, "job.pt"), weights_only=True)
    out_dir = os.path.join(job_dir, "out")
    _install_guard(job.get("denied", []))
    namespace: dict[str, Any] = {"__name__": "__main__", "get_ipython": _Inert(), "display": _Inert()}
    for source in job["setup"]:
        try:
            exec(compile(source, "<setup cell>", "exec"), namespace)
        except BaseException as exc:  # noqa: BLE001 - an instructor cell failing is reported, not fatal
            job_setup_error = _error(exc)
            for exercise in job["exercises"]:
                _write(
                    out_dir, exercise["test_id"], {"status": "error", "error": f"setup cell failed: {job_setup_error}"}
                )
            return
    for exercise in job["exercises"]:
        test_id = exercise["test_id"]
        _write(out_dir, f"{test_id}.started", {"status": "started"})
        notes: list[str] = []
        for source in exercise["cells"]:
            try:
                exec(compile(source, "<solution cell>", "exec"), namespace)
            except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt included
                notes.append(f"solution cell raised {_error(exc)}")
        # The instructor's helper cells (SETUP_CELLS) run again after the learner's cells, so a solution
        # cell that redefines a helper the checks call (a wrapper, a reference) cannot change the verdict.
        restored = _restore_helpers(job["setup"][1:], namespace)
        if restored is not None:
            _write(out_dir, test_id, {"status": "error", "notes": notes, "error": restored})
            continue
        record: dict[str, Any] = {"status": "ok", "notes": notes, "outputs": []}
        seen: dict[str, Any] = {"ops": set(), "mutations": [], "kinds": []}
        try:
            target = namespace[exercise["name"]]
        except KeyError:
            _write(out_dir, test_id, {"status": "error", "notes": notes, "error": f"{exercise['name']} is not defined"})
            continue
        try:
            for case in exercise["cases"]:
                if exercise["call"]:
                    result = _call(exercise, target, case, seen)
                else:  # a value to read: its kind is judged like a returned result's
                    result = target
                    seen["kinds"].append(_kind_of(target))
                record["outputs"].append(_plain(result))
            record.update(ops=sorted(seen["ops"]), mutations=seen["mutations"], kinds=seen["kinds"])
        except BaseException as exc:  # noqa: BLE001
            record = {"status": "error", "notes": notes, "error": _error(exc), "ops": sorted(seen["ops"])}
        _write(out_dir, test_id, record)


if __name__ == "__main__":
    run(sys.argv[1])
    sys.stdout.flush()
    os._exit(0)  # skip atexit handlers the learner may have registered
