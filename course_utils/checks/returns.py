"""Return types held to the statement: the kind of a result, and the sentence when it is the wrong kind.

Kinds are plain words (``"tensor"``, ``"float"``, ``"tuple"``...), so the
verification child can report the kind of an answer's result as data and the
grader judges it with the same :func:`returns_problem` as the notebook. A
subclass counts as its base (a named tuple is a tuple, a NumPy float64 is a
float); ``bool`` is not a number here; an int is accepted where a float is asked.
"""

from __future__ import annotations

import numbers
from typing import Any

__all__ = ["expected_kinds", "kind_of", "returns_problem"]

_WORDS = {
    "None": "None",
    "bool": "a bool",
    "int": "an int",
    "float": "a float",
    "complex": "a complex number",
    "str": "a string",
    "tensor": "a tensor",
    "ndarray": "a NumPy array",
    "tuple": "a tuple",
    "list": "a list",
    "dict": "a dict",
    "module": "an nn.Module",
}


def kind_of(value: Any) -> str:
    """The kind of ``value`` as one word.

    Example:
        >>> kind_of(torch.tensor(1.0)), kind_of(2.5), kind_of(Field(3, 1, 0.5))
        ('tensor', 'float', 'tuple')
    """
    import torch

    if value is None:
        return "None"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, torch.Tensor):
        return "tensor"
    if isinstance(value, torch.nn.Module):
        return "module"
    if isinstance(value, numbers.Integral):
        return "int"
    if isinstance(value, numbers.Real):
        return "float"
    if isinstance(value, numbers.Complex):
        return "complex"
    for kind in (str, tuple, list, dict):
        if isinstance(value, kind):
            return kind.__name__
    if type(value).__module__ == "numpy" and hasattr(value, "shape"):
        return "ndarray"
    return type(value).__name__


def expected_kinds(returns: Any) -> tuple[str, ...]:
    """The kinds a ``returns=`` spec accepts: ``float`` accepts ints too; a tuple of types accepts each."""
    import torch

    types = returns if isinstance(returns, tuple) else (returns,)
    kinds: list[str] = []
    for t in types:
        if t is None or t is type(None):
            kinds.append("None")
        elif isinstance(t, str):
            kinds.append(t)
        elif isinstance(t, type) and issubclass(t, torch.Tensor):
            kinds.append("tensor")
        elif isinstance(t, type) and issubclass(t, torch.nn.Module):
            kinds.append("module")
        elif t is float:
            kinds += ["float", "int"]
        elif isinstance(t, type) and t.__name__ in _WORDS:
            kinds.append(t.__name__)
        else:
            raise TypeError(
                f"returns={returns!r}: use float, int, bool, str, tuple, list, dict, torch.Tensor, "
                "nn.Module or None (or a tuple of them)"
            )
    return tuple(dict.fromkeys(kinds))


def returns_problem(name: str, kind: str, returns: Any) -> str | None:
    """None when a result of ``kind`` is what ``returns`` asks for, else the sentence for the learner.

    Example:
        >>> returns_problem("field_size", "tensor", float)
        '`field_size` returned a tensor; the exercise asks for a float (use `.item()`).'
    """
    if returns is None:
        return None
    kinds = expected_kinds(returns)
    if kind in kinds:
        return None
    asked = [k for k in kinds if not (k == "int" and "float" in kinds)]
    wanted = " or ".join(_WORDS.get(k, f"a {k}") for k in asked)
    got = _WORDS.get(kind, f"a {kind}")
    if kind == "tensor" and set(asked) & {"float", "int", "bool"}:
        tip = " (use `.item()`)"
    elif kind == "None":
        tip = " (did you forget a `return`?)"
    elif kind in ("tuple", "list") and set(asked) & {"tuple", "list"}:
        tip = f" (use `{asked[0]}(...)`)"
    elif kind == "float" and asked == ["int"]:
        tip = " (use `int(...)` or `//`)"
    else:
        tip = ""
    return f"`{name}` returned {got}; the exercise asks for {wanted}{tip}."
