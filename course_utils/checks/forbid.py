"""Forbidden routes: what an exercise's statement says not to call, enforced on the source and on the run.

A :class:`Forbid` rule has two halves:

* the *source rule* (no execution): the learner's source is parsed with
  :mod:`ast`; a name or attribute in ``calls`` (``F.conv2d``, ``torch.convolution``,
  ``from torch.nn.functional import conv2d``), an imported module path holding one
  (``from course_utils.fast.data import x`` when ``fast`` is refused), a string equal to one of them,
  and the indirections that could hide one (``getattr``, ``__import__``,
  ``importlib``, ``eval``, ``exec``, ``compile``, ``globals``, ``vars``,
  ``__dict__``, ``__builtins__``, ``sys.modules``, switching dispatch off) are
  refused. A bare name the source itself defines (the learner's own
  ``def max_pool2d``) is not a call to PyTorch's;
* the *run rule*: the ATen operations dispatched while the answer runs are
  recorded (:func:`recording_ops`, a ``TorchDispatchMode``); one in ``aten`` is refused.

The notebook's visible check applies both in the learner's kernel; verification
scans the solution cells in the trusted grader and has the sandboxed child
record the operations as data. Both print the same sentence.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["Forbid", "op_name", "recording_ops"]

# Names that reach an object by a string or switch the recorder off: refused wherever a rule applies.
INDIRECT_NAMES = frozenset(
    {
        "getattr",
        "__import__",
        "importlib",
        "eval",
        "exec",
        "compile",
        "globals",
        "vars",
        "locals",
        "__builtins__",
        "builtins",
        "attrgetter",
        "methodcaller",
        "breakpoint",
    }
)
INDIRECT_ATTRS = frozenset(
    {
        "__dict__",
        "__builtins__",
        "__globals__",
        "__getattribute__",
        "__getattr__",
        "import_module",
        "_C",
        "_python_dispatch",
        "_pop_mode",
        "_set_dispatch_mode",
        "_DisableTorchDispatch",
        "_disabled_torch_dispatch_impl",
    }
)
INDIRECT_MODULES = frozenset({"importlib", "builtins", "operator", "ctypes", "inspect"})

# What each ATen operation is usually reached by, for the run rule's message.
ROUTES = {
    "convolution": "F.conv2d and nn.Conv2d",
    "_convolution": "F.conv2d and nn.Conv2d",
    "max_pool2d_with_indices": "F.max_pool2d and nn.MaxPool2d",
    "max_pool2d": "F.max_pool2d and nn.MaxPool2d",
    "avg_pool2d": "F.avg_pool2d and nn.AvgPool2d",
    "_adaptive_avg_pool2d": "F.adaptive_avg_pool2d",
    "adaptive_max_pool2d": "F.adaptive_max_pool2d",
    "native_batch_norm": "F.batch_norm and nn.BatchNorm2d",
}


def op_name(func: Any) -> str:
    """``aten.convolution.default`` -> ``'convolution'``; operations outside ATen keep their namespace."""
    packet = getattr(func, "overloadpacket", func)
    name = getattr(packet, "__name__", str(packet))
    namespace = getattr(func, "namespace", "aten")
    return name if namespace == "aten" else f"{namespace}.{name}"


@contextmanager
def recording_ops() -> Iterator[set[str]]:
    """Record the names of the ATen operations dispatched inside the block.

    Example:
        >>> with recording_ops() as ops:
        ...     F.conv2d(torch.zeros(1, 1, 3, 3), torch.zeros(1, 1, 2, 2))   # (N, C, H, W), (C', C, kH, kW)
        >>> sorted(ops)
        ['convolution']
    """
    from torch.utils._python_dispatch import TorchDispatchMode

    ops: set[str] = set()

    class _Recorder(TorchDispatchMode):
        @classmethod
        def _should_skip_dynamo(cls) -> bool:
            return False  # else PyTorch wraps __torch_dispatch__ in a decorator that imports torch._dynamo (3 s)

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
            ops.add(op_name(func))
            return func(*args, **(kwargs or {}))

    with _Recorder():
        yield ops


def _bound_names(tree: ast.AST) -> set[str]:
    """Names the source defines itself: functions, classes, parameters, assignment and loop targets."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
    return bound


def _parse(source: str) -> ast.AST | None:
    """The syntax tree of ``source``; IPython syntax (``%time``, ``!ls``) is turned into Python first."""
    source = textwrap.dedent(source)
    try:
        return ast.parse(source)
    except SyntaxError:
        pass
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return ast.parse(TransformerManager().transform_cell(source))
    except Exception:  # noqa: BLE001 - no IPython, or not Python even so: nothing can be read
        return None


_MAGICS = ("run_line_magic", "run_cell_magic")


def _magic_code(tree: ast.AST) -> tuple[set[int], list[tuple[int, str]]]:
    """The ``get_ipython`` names that only run a magic, and the code each magic runs (``%time F.conv2d(x)``)."""
    allowed: set[int] = set()
    code: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _MAGICS
            and isinstance(node.func.value, ast.Call)
            and isinstance(node.func.value.func, ast.Name)
            and node.func.value.func.id == "get_ipython"
        ):
            allowed.add(id(node.func.value.func))
            code += [
                (node.lineno, a.value)
                for a in node.args[1:]
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
    return allowed, code


@dataclass(frozen=True)
class Forbid:
    """A statement's "do not call ...", enforced by both graders and the visible check.

    Args:
        calls: identifiers refused in the source (as a name, an attribute, an imported name or a string).
        aten: ATen operation names refused while the answer runs (``"convolution"``, ``"avg_pool2d"``).
        reason: why, completing "which this exercise forbids: ...".
        indirections: also refuse ``getattr``, ``eval``, ``__import__`` and the like (default True).

    Example:
        >>> NO_CONV.source_problem("conv2d_unfold", "def conv2d_unfold(x, w):\\n    return F.conv2d(x, w)")
        '`conv2d_unfold` calls `F.conv2d`, which this exercise forbids: the point of this exercise is to compute the convolution yourself.'
    """

    calls: tuple[str, ...] = ()
    aten: tuple[str, ...] = ()
    reason: str = "the point of this exercise is to compute it yourself"
    indirections: bool = True

    def __or__(self, other: Forbid) -> Forbid:
        """Both rules at once (the first one's reason)."""
        return Forbid(
            tuple(dict.fromkeys(self.calls + other.calls)),
            tuple(dict.fromkeys(self.aten + other.aten)),
            self.reason,
            self.indirections or other.indirections,
        )

    def _message(self, name: str, what: str, extra: str = "") -> str:
        return f"`{name}` {what}{extra}, which this exercise forbids: {self.reason}."

    def source_findings(self, source: str) -> list[tuple[int, int, str, str]]:
        """Every forbidden use in ``source`` as ``(line, column, what, extra)``, in reading order."""
        return self._findings(source, frozenset())

    def _findings(self, source: str, outer: frozenset[str]) -> list[tuple[int, int, str, str]]:
        tree = _parse(source)
        if tree is None:
            return []
        calls, bound = set(self.calls), _bound_names(tree) | outer
        called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
        magic_runners, magic_code = _magic_code(tree)
        found: list[tuple[int, int, str, str]] = []
        for line, code in magic_code:  # what `%time ...` or `%%time` runs is read as code too
            found += [(line, col, what, extra) for _, col, what, extra in self._findings(code, frozenset(bound))]
        hides = " (it can hide a forbidden call)"

        def add(node: ast.AST, what: str, extra: str = "") -> None:
            found.append((getattr(node, "lineno", 0), getattr(node, "col_offset", 0), what, extra))

        for node in ast.walk(tree):
            verb = "calls" if id(node) in called else "uses"
            if isinstance(node, ast.Name):
                if node.id in calls and node.id not in bound:
                    add(node, f"{verb} `{node.id}`")
                elif self.indirections and (
                    node.id in INDIRECT_NAMES or (node.id == "get_ipython" and id(node) not in magic_runners)
                ):
                    add(node, f"uses `{node.id}`", hides)
            elif isinstance(node, ast.Attribute):
                if node.attr in calls:
                    add(node, f"{verb} `{ast.unparse(node)}`")
                elif self.indirections and (
                    node.attr in INDIRECT_ATTRS or (node.attr == "modules" and ast.unparse(node.value) == "sys")
                ):
                    add(node, f"uses `{ast.unparse(node)}`", hides)
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if calls & set(module.split(".")):  # `from course_utils.fast.data import x` when `fast` is refused
                    add(node, f"imports from `{module}`")
                for alias in node.names:
                    if alias.name in calls:
                        add(node, f"imports `{alias.name}` from `{module}`")
                    elif self.indirections and (alias.name == "*" or alias.name in INDIRECT_NAMES):
                        add(node, f"uses `from {module} import {alias.name}`", hides)
                if self.indirections and module.split(".")[0] in INDIRECT_MODULES:
                    add(node, f"imports from `{module}`", hides)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if calls & set(alias.name.split(".")):  # `import course_utils.fast.data as d`
                        add(node, f"imports `{alias.name}`")
                    elif self.indirections and alias.name.split(".")[0] in INDIRECT_MODULES:
                        add(node, f"imports `{alias.name}`", hides)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in calls:
                add(node, f"uses the string `{node.value!r}`")
        return sorted(found)

    def source_problem(self, name: str, source: str | Sequence[str]) -> str | None:
        """None when ``source`` uses nothing this rule forbids, else the sentence for the first use.

        ``source`` may be several cells: each is read on its own (one that cannot be parsed hides
        nothing in the others), with the names every cell defines counted as the learner's own.
        """
        cells = [source] if isinstance(source, str) else list(source)
        trees = [_parse(cell) for cell in cells]
        bound = frozenset().union(*(_bound_names(t) for t in trees if t is not None))
        for cell in cells:
            found = self._findings(cell, bound)
            if found:
                return self._message(name, found[0][2], found[0][3])
        return None

    def ops_problem(self, name: str, ops: Iterable[str]) -> str | None:
        """None when none of the recorded operation names ``ops`` is forbidden, else the sentence."""
        bad = sorted(set(ops) & set(self.aten))
        if not bad:
            return None
        route = f" (what {ROUTES[bad[0]]} run)" if bad[0] in ROUTES else ""
        return self._message(name, f"runs the ATen operation `{bad[0]}`{route}")
