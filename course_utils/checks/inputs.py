"""Inputs left unchanged: snapshot the arguments before a learner's call and say what changed after it.

Tensors are compared by values, dtype, shape, ``requires_grad`` and ``.grad``;
``nn.Module`` arguments by the values and ``requires_grad`` of their
parameters and the values of their buffers (a function may still switch a
model to eval mode, or leave gradients on its parameters after a backward
pass). The same functions serve the notebook's visible checks and the
verification child, so both say the same sentence.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["arg_labels", "changed", "clone_value", "mutation_message", "mutations", "snapshot"]


def clone_value(value: Any) -> Any:
    """A fresh copy of a test input: tensors cloned (keeping ``requires_grad`` and ``.grad``), lists and tuples copied."""
    import torch

    if isinstance(value, torch.Tensor):
        copy = value.detach().clone().requires_grad_(value.requires_grad)
        if value.is_leaf and value.grad is not None:
            copy.grad = value.grad.detach().clone()
        return copy
    if type(value) in (list, tuple):
        return type(value)(clone_value(v) for v in value)
    return value


def _tensor_state(t: Any) -> dict:
    grad = t.grad if t.is_leaf else None
    return {
        "data": t.detach().clone(),
        "requires_grad": bool(t.requires_grad),
        "grad": None if grad is None else grad.detach().clone(),
    }


def _hook_count(module: Any) -> int:
    """Hooks registered on ``module`` and its submodules (forward, forward-pre, backward)."""
    names = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    return sum(len(getattr(m, n, None) or {}) for m in module.modules() for n in names)


def snapshot(value: Any) -> Any:
    """What :func:`changed` compares later: a copy of a tensor's state or a module's parameters and buffers.

    Returns None for values that are not tensors or modules (numbers, strings: nothing to change).

    Example:
        >>> before = snapshot(x)            # x: a tensor of any shape
        >>> x.mul_(2); changed(before, x)
        'its values'
    """
    import torch
    from torch import nn

    if isinstance(value, torch.Tensor):
        return ("tensor", _tensor_state(value))
    if isinstance(value, nn.Module):
        params = {n: (p.detach().clone(), bool(p.requires_grad)) for n, p in value.named_parameters()}
        buffers = {n: b.detach().clone() for n, b in value.named_buffers() if b is not None}
        return ("module", params, buffers, _hook_count(value))
    if type(value) in (list, tuple) and any(isinstance(v, (torch.Tensor, nn.Module)) for v in value):
        return ("sequence", [snapshot(v) for v in value], len(value))
    return None


def _same(a: Any, b: Any) -> bool:
    import torch

    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.is_floating_point() or a.is_complex():
        return bool(((a == b) | (torch.isnan(a) & torch.isnan(b))).all())
    return torch.equal(a, b)


def changed(before: Any, value: Any) -> str | None:
    """None when ``value`` still matches its :func:`snapshot`, else what changed (e.g. ``'its requires_grad'``)."""
    if before is None:
        return None
    kind = before[0]
    if kind == "tensor":
        old, t = before[1], value
        if tuple(t.shape) != tuple(old["data"].shape) or t.dtype != old["data"].dtype:
            return "its shape or dtype"
        if not _same(t.detach(), old["data"]):
            return "its values"
        if bool(t.requires_grad) != old["requires_grad"]:
            return f"its requires_grad, now {bool(t.requires_grad)}"
        grad = t.grad if t.is_leaf else None
        if (grad is None) != (old["grad"] is None) or (grad is not None and not _same(grad, old["grad"])):
            return "its .grad"
        return None
    if kind == "module":
        params = dict(value.named_parameters())
        for name, (data, requires_grad) in before[1].items():
            p = params.get(name)
            if p is None or not _same(p.detach(), data):
                return f"its parameter {name}"
            if bool(p.requires_grad) != requires_grad:
                return f"the requires_grad of its parameter {name}"
        buffers = dict(value.named_buffers())
        for name, data in before[2].items():
            b = buffers.get(name)
            if b is None or not _same(b.detach(), data):
                return f"its buffer {name}"
        extra = _hook_count(value) - before[3]
        if extra > 0:
            return f"{extra} hook(s) left registered on its modules"
        return None
    if kind == "sequence":
        if len(value) != before[2]:
            return "its length"
        for i, (old, v) in enumerate(zip(before[1], value)):
            why = changed(old, v)
            if why:
                return f"item {i} ({why})"
    return None


def arg_labels(fn: Callable, n_args: int, keys: Sequence[str], arg_names: Sequence[str] | None = None) -> list[str]:
    """Names for the positional arguments (from ``arg_names``, else ``fn``'s signature, else "argument N"), then ``keys``."""
    names: list[str] = list(arg_names or ())
    if len(names) < n_args:
        try:
            params = [
                p.name
                for p in inspect.signature(fn).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
        except Exception:  # noqa: BLE001 - any odd callable: fall back on "argument N"
            params = []
        names += params[len(names) : n_args]
    names += [f"argument {i + 1}" for i in range(len(names), n_args)]
    return names[:n_args] + list(keys)


def mutation_message(name: str, arg: str, what: str, *, module: bool = False) -> str:
    """The one sentence both graders print when ``name`` changed its argument ``arg`` in place.

    Example:
        >>> mutation_message("avg_pool2d", "x", "its values")
        '`avg_pool2d` changed its argument `x` in place (its values); work on a copy (e.g. `x * 2`, not `x.mul_(2)`).'
    """
    if module and "hook" in what:
        advice = "remove every hook you register (keep its handle and call `handle.remove()` in a `finally:` block)"
    elif module:
        advice = "leave its parameters and buffers as they are (e.g. run it in eval mode, or on a copy.deepcopy of it)"
    elif "requires_grad" in what or "grad" in what:
        advice = f"work on a copy that requires gradients (e.g. `{arg}.detach().clone().requires_grad_()`)"
    else:
        advice = f"work on a copy (e.g. `{arg} * 2`, not `{arg}.mul_(2)`)"
    return f"`{name}` changed its argument `{arg}` in place ({what}); {advice}."


def mutations(befores: Mapping[str, Any], values: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    """``(label, what changed, is a module)`` for every argument that no longer matches its snapshot."""
    out = []
    for label, before in befores.items():
        why = changed(before, values[label])
        if why:
            out.append((label, why, before is not None and before[0] == "module"))
    return out
