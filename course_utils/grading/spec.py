"""Verification specs: what to call in a learner's answer, on which inputs, and how to judge it.

A chapter's spec is ``grading/NN_topic.py`` at the course root, outside
``solutions/`` on purpose: ``nbgrader generate_assignment`` copies every file
of ``solutions/NN_topic/`` into the student release, so a spec there would be
handed to learners. The spec is instructor code, imported only by the grader
(never inside the sandbox). It defines ``EXERCISES``, a list of
:class:`Exercise`, one per autograder (test) cell, for example::

    EXERCISES = [
        Exercise(test="test_conv2d_loops", solutions=["conv2d_loops"], name="conv2d_loops",
                 cases=[(x, w), (x2, w2)], reference=F.conv2d),
    ]
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checks.forbid import Forbid
from ..checks.inputs import mutation_message
from ..checks.returns import expected_kinds, returns_problem
from ..errors import CourseError


@dataclass
class Exercise:
    """One autograder cell to verify.

    Args:
        test: grade_id of the autograder cell whose points this decides.
        solutions: grade_ids of the learner's solution cells to run, in order.
        name: the function (or, with ``call=False``, the variable) the cells define.
        cases: test inputs, each a tuple of positional arguments or ``(args, kwargs)``
            with a dict second; tensors, numbers, strings, lists only.
        reference: computes the expected output of one case (PyTorch itself), or
        judge: ``judge(output, case) -> None`` when right, else a sentence why not
            (for answers with many right values, e.g. an edge kernel).
        call: False when ``name`` is a value to read rather than a function to call.
        driver: how the child calls the answer on a case: ``"call"`` (``name(*args, **kwargs)``),
            ``"describe"`` (call it, then send the layers of the ``nn.Module`` it returns, see
            :func:`harness.describe`; the grader rebuilds them with :func:`harness.build`), or
            ``"module"`` (``name`` is a module class: construct it with all arguments but the last,
            forward the last, backward the output's sum; see :func:`harness.run_module`), or ``"state"``
            (``name`` is a module class: construct it with all arguments but the last two, load the
            second-to-last, a reference's ``state_dict``, and forward the last in eval mode; the keys that
            do not load come back as data, see :func:`harness.run_with_state`). A case
            argument made by :func:`harness.model_arg` reaches the answer as that ``nn.Sequential``.
        outcome: True when some cases must raise: each output is then ``{"returned": value}`` or
            ``{"raised": [built-in exception classes]}``, and a reference returns :class:`Raises`
            for a case that must raise.
        context: cell ids of instructor cells (besides the setup cell) the answer needs.
        atol, rtol: tolerances for tensor outputs.
        timeout: wall seconds for the exercise's cells and calls.
        forbid: a :class:`course_utils.checks.Forbid` rule: the grader scans the solution cells' source
            (no execution) and the child records the ATen operations run while the answer is called;
            a forbidden route scores 0 with the same sentence as the notebook's check.
        returns: the kind of result the statement asks for (``float``, ``int``, ``tuple``, ``torch.Tensor``,
            or a tuple of them; driver ``"call"`` only): the child reports the kind, the grader judges it.
        mutates: names of the arguments the answer may change in place; by default every tensor and
            model argument must come back unchanged (the child snapshots them and reports changes).
        arg_names: names of the positional arguments in messages (default: the answer's own parameter names).
        label: the learner's function to name in messages when ``name`` is a wrapper that calls it (a
            notebook helper cell run as a setup cell, e.g. ``name="sgd_epochs"`` around the learner's
            ``train_one_epoch``); default ``name``.

    Example:
        >>> Exercise(test="test_add", solutions=["add"], name="add", cases=[(1, 2)], reference=lambda a, b: a + b)
    """

    test: str
    solutions: Sequence[str]
    name: str
    cases: Sequence[Any] = ((),)
    reference: Callable[..., Any] | None = None
    judge: Callable[[Any, Any], str | None] | None = None
    call: bool = True
    context: Sequence[str] = ()
    atol: float = 1e-5
    rtol: float = 1e-4
    timeout: float = 20.0
    dtype: bool = True
    driver: str = "call"
    outcome: bool = False
    forbid: Forbid | None = None
    returns: Any = None
    mutates: Sequence[str] = ()
    arg_names: Sequence[str] | None = None
    label: str | None = None
    _expected: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.driver not in DRIVERS:
            raise CourseError(f"Exercise {self.test}: driver {self.driver!r} is not one of {', '.join(DRIVERS)}.")
        if self.returns is not None:
            if self.driver != "call":
                raise CourseError(f"Exercise {self.test}: returns= applies to driver 'call' only.")
            expected_kinds(self.returns)  # a wrong spec fails when it is loaded, not when a submission is judged
        if self.forbid is not None and not isinstance(self.forbid, Forbid):
            raise CourseError(f"Exercise {self.test}: forbid= takes a course_utils.checks.Forbid rule.")

    @property
    def shown_name(self) -> str:
        """The function the messages name: ``label`` when the spec calls a wrapper, else ``name``."""
        return self.label or self.name

    def job(self) -> dict[str, Any]:
        """What the child needs to run this exercise (its cells are added by the caller)."""
        return {
            "test_id": self.test,
            "name": self.name,
            "call": self.call,
            "cases": self.normalised_cases(),
            "timeout": float(self.timeout),
            "driver": self.driver,
            "outcome": self.outcome,
            "record_ops": bool(self.forbid is not None and self.forbid.aten),
            "arg_names": list(self.arg_names or ()),
        }

    def grade(self, record: dict, sources: Sequence[str] | None) -> tuple[str, str]:
        """``(status, reason)`` of one submission's record, as verification decides it.

        ``status`` is ``"passed"``, ``"rule_violation"`` (a rule of :meth:`rule_violation`), ``"wrong"``
        (the outputs differ) or the child's own status (``"error"``, ``"timeout"``, ``"crashed"``).
        """
        status, reason = record.get("status", "error"), str(record.get("error", ""))
        violation = self.rule_violation(sources, record)
        if violation:
            return "rule_violation", violation
        if status != "ok":
            return status, reason
        try:
            why = self.verdict(record.get("outputs", []))
        except Exception as exc:  # noqa: BLE001 - odd plain data must cost this exercise, not the whole run
            why = f"the output could not be judged ({type(exc).__name__}: {str(exc)[:120]})"
        return ("passed", "") if why is None else ("wrong", why)

    def rule_violation(self, sources: Sequence[str] | None, record: dict) -> str | None:
        """None when the statement's rules hold, else the sentence (the notebook's check says the same).

        ``sources`` are the solution cells (read by the grader from the notebook, never run here);
        ``record`` is what the child reported: ``ops`` (ATen operations run), ``mutations``
        (``[argument, what changed, is a module]`` per case) and ``kinds`` (the kind of each result).
        """
        if self.forbid is not None:
            why = self.forbid.source_problem(self.shown_name, list(sources or ()))
            if why is None and self.forbid.aten:
                ops = record.get("ops")
                if record.get("status") == "ok" and type(ops) is not list:
                    return "the child did not report the operations it ran"
                why = self.forbid.ops_problem(
                    self.shown_name, [o for o in (ops if type(ops) is list else ()) if type(o) is str]
                )
            if why:
                return why
        if record.get("status") != "ok":
            return None
        mutations, kinds = record.get("mutations"), record.get("kinds")
        for changes in mutations if type(mutations) is list else ():
            for change in changes if type(changes) is list else ():
                if type(change) is list and len(change) == 3 and str(change[0]) not in set(self.mutates):
                    return mutation_message(self.shown_name, str(change[0]), str(change[1]), module=bool(change[2]))
        if self.returns is not None:
            for kind in kinds if type(kinds) is list else ():
                why = returns_problem(self.shown_name, str(kind), self.returns)
                if why:
                    return why
        return None

    def normalised_cases(self) -> list[dict[str, Any]]:
        """Each case as ``{"args": [...], "kwargs": {...}}``."""
        out = []
        for case in self.cases if self.call else [()]:
            if (
                isinstance(case, tuple)
                and len(case) == 2
                and isinstance(case[1], dict)
                and isinstance(case[0], (tuple, list))
            ):
                out.append({"args": list(case[0]), "kwargs": dict(case[1])})
            elif isinstance(case, tuple):
                out.append({"args": list(case), "kwargs": {}})
            else:
                out.append({"args": [case], "kwargs": {}})
        return out

    def verdict(self, outputs: list[Any]) -> str | None:
        """None when every output is right, else one sentence about the first wrong one."""
        cases = self.normalised_cases()
        if len(outputs) != len(cases):
            return f"{len(outputs)} outputs for {len(cases)} cases"
        for number, (case, got) in enumerate(zip(cases, outputs), start=1):
            if self.judge is not None:
                why = self.judge(got, case)
            else:
                if self.reference is None:
                    raise CourseError(f"Exercise {self.test} needs a reference or a judge in its spec.")
                if number not in self._expected:  # computed once per grader, not once per submission
                    self._expected[number] = self.reference(*case["args"], **case["kwargs"])
                expected = self._expected[number]
                if self.outcome:
                    why = outcome_verdict(got, expected, atol=self.atol, rtol=self.rtol, dtype=self.dtype)
                else:
                    why = compare(got, expected, atol=self.atol, rtol=self.rtol, dtype=self.dtype)
            if why:
                return f"case {number}: {why}"
        return None


DRIVERS = ("call", "describe", "module", "state")


@dataclass(frozen=True)
class Raises:
    """What a reference returns for a case that must raise: the name of a built-in exception class."""

    exception: str = "ValueError"


def outcome_verdict(got: Any, expected: Any, **tolerances: Any) -> str | None:
    """Judge ``{"returned": value}`` / ``{"raised": [...]}`` against a value or :class:`Raises`."""
    if type(got) is not dict or len(got) != 1 or not ({"returned", "raised"} & set(got)):
        return "the output is not a returned value or an exception"
    if "raised" in got:
        names = got["raised"] if type(got["raised"]) is list else []
        if isinstance(expected, Raises):
            return (
                None
                if expected.exception in names
                else (f"raised {names[0] if names else 'an exception'}, expected {expected.exception}")
            )
        return f"raised {names[0] if names else 'an exception'} on a case with an answer"
    if isinstance(expected, Raises):
        return f"returned a value where it must raise {expected.exception}"
    return compare(got["returned"], expected, **tolerances)


def compare(got: Any, expected: Any, *, atol: float = 1e-5, rtol: float = 1e-4, dtype: bool = True) -> str | None:
    """Compare plain data (loaded with ``weights_only=True``) with the expected value; None when equal."""
    import torch

    if isinstance(expected, torch.Tensor):
        if type(got) is not torch.Tensor:
            return f"expected a tensor, got {type(got).__name__}"
        if tuple(got.shape) != tuple(expected.shape):
            return f"shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
        if dtype and got.dtype != expected.dtype:
            return f"dtype {got.dtype}, expected {expected.dtype}"
        a, b = got.detach().to(torch.float64), expected.detach().to(torch.float64)
        if not bool(torch.isfinite(a).all()) and bool(torch.isfinite(b).all()):
            return "the output holds NaN or inf"
        if not bool(torch.isclose(a, b, atol=atol, rtol=rtol).all()):
            return f"values differ by up to {float((a - b).abs().max()):.3g}"
        return None
    if (
        type(got) is torch.Tensor
        and got.numel() == 1
        and isinstance(expected, (int, float))
        and not isinstance(expected, bool)
    ):
        got = got.item()  # a one-element tensor stands for its number, as in course_utils.checks.check_equal
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        return None if type(got) is type(expected) and got == expected else f"got {got!r}, expected {expected!r}"
    if isinstance(expected, int):
        return None if type(got) is int and got == expected else f"got {got!r}, expected {expected}"
    if isinstance(expected, float):
        ok = type(got) in (int, float) and math.isclose(got, expected, rel_tol=rtol, abs_tol=atol)
        return None if ok else f"got {got!r}, expected {expected}"
    if isinstance(expected, (list, tuple)):
        if type(got) is not list or len(got) != len(expected):
            return f"expected a sequence of {len(expected)} items"
        for i, (g, e) in enumerate(zip(got, expected)):
            why = compare(g, e, atol=atol, rtol=rtol, dtype=dtype)
            if why:
                return f"item {i}: {why}"
        return None
    if isinstance(expected, dict):
        if type(got) is not dict or set(got) != {str(k) for k in expected}:
            return "the keys differ from the expected ones"
        for key, value in expected.items():
            why = compare(got[str(key)], value, atol=atol, rtol=rtol, dtype=dtype)
            if why:
                return f"{key}: {why}"
        return None
    raise CourseError(
        f"The spec's reference returned a {type(expected).__name__}; return tensors, numbers, lists or dicts."
    )


@dataclass
class ChapterSpec:
    """The loaded ``grading/NN_topic.py``: its exercises and optional extra setup cell ids."""

    chapter: str
    path: Path
    exercises: list[Exercise] = field(default_factory=list)
    setup_cells: Sequence[str] | None = None


def spec_path(course_root: Path, chapter: str) -> Path:
    return Path(course_root) / "grading" / f"{chapter}.py"


def load_spec(course_root: Path, chapter: str) -> ChapterSpec | None:
    """Import ``grading/<chapter>.py`` (instructor code, in the grader only); None when it does not exist."""
    path = spec_path(course_root, chapter)
    if not path.is_file():
        return None
    module_spec = importlib.util.spec_from_file_location(f"_course_grading_{chapter}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    exercises = list(getattr(module, "EXERCISES", []))
    if not exercises:
        raise CourseError(f"{path} defines no EXERCISES: list one Exercise per autograder cell.")
    return ChapterSpec(chapter, path, exercises, getattr(module, "SETUP_CELLS", None))
