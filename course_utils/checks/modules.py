"""Checks for exercises that build ``nn.Module``s: type, layers, parameter counts, ``requires_grad``, output shape.

Re-exported by :mod:`course_utils.checks`, so a notebook writes
``checks.check_param_count(model, 1_234)``. A module used twice (one ``nn.ReLU``
shared between convolutions) counts as a layer at each place it is used: the
checks judge what the model computes, not object identity. Each check prints nothing on
success (the caller decides what to celebrate) and raises
:class:`~course_utils.errors.CheckFailed` with one readable sentence otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .cases import Case
from .core import describe, fail
from .function import call_learner

__all__ = [
    "check_contains",
    "check_layers",
    "check_module",
    "check_output_shape",
    "check_param_count",
    "check_requires_grad",
    "count_parameters",
]

if TYPE_CHECKING:
    from torch import nn


def check_module(
    module: Any, expected_type: type | None = None, name: str = "model", *, hint: str | None = None
) -> None:
    """Fail unless ``module`` is an ``nn.Module`` (of ``expected_type`` when given).

    Example:
        >>> check_module(classifier(32, 32), nn.Sequential, "classifier(32, 32)")  # chapter 02, Exercise 4
    """
    from torch import nn

    if isinstance(module, type) and issubclass(module, nn.Module):
        fail(f"{name} is the class {module.__name__}, not a module: create one with {module.__name__}(...).", hint)
    if not isinstance(module, nn.Module):
        fail(f"{name} should be an nn.Module, but it is {describe(module)}.", hint)
    if expected_type is not None and not isinstance(module, expected_type):
        fail(f"{name} should be a {expected_type.__name__}, but it is a {type(module).__name__}.", hint)


def _leaves(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """Leaf layers in the order they are listed, a shared module once per place it is used."""
    return [
        (n or type(m).__name__, m)
        for n, m in module.named_modules(remove_duplicate=False)
        if next(m.children(), None) is None
    ]


def check_layers(module: Any, expected: Sequence[type], name: str = "model", *, hint: str | None = None) -> None:
    """Fail unless the leaf layers of ``module``, in order, are instances of the types in ``expected``.

    Only layers registered as sub-modules count (``F.relu`` inside ``forward``
    is not a layer). The message names the first layer that differs.

    Example:
        >>> check_layers(model, [nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Linear])
    """
    check_module(module, None, name, hint=hint)
    leaves = _leaves(module)
    listing = ", ".join(type(m).__name__ for _, m in leaves) or "none"
    for i, (want, (layer, m)) in enumerate(zip(expected, leaves), start=1):
        if not isinstance(m, want):
            fail(
                f"layer {i} of {name} ('{layer}') is a {type(m).__name__}, expected a {want.__name__} "
                f"(its layers: {listing}).",
                hint,
            )
    if len(leaves) != len(expected):
        extra = [type(m).__name__ for _, m in leaves[len(expected) :]] or [t.__name__ for t in expected[len(leaves) :]]
        which = "extra" if len(leaves) > len(expected) else "missing"
        fail(
            f"{name} has {len(leaves)} layers, expected {len(expected)}: {which} at the end: {', '.join(extra)}.", hint
        )


def check_contains(
    module: Any, layer_type: type, count: int | None = None, name: str = "model", *, hint: str | None = None
) -> None:
    """Fail unless ``module`` contains a ``layer_type`` (exactly ``count`` of them when given).

    Example:
        >>> check_contains(model, nn.BatchNorm2d, count=2)
    """
    check_module(module, None, name, hint=hint)
    found = [n for n, m in module.named_modules(remove_duplicate=False) if isinstance(m, layer_type)]
    if not found or (count is not None and len(found) != count):
        want = f"{count}" if count is not None else "at least one"
        where = f" (at {', '.join(repr(n) for n in found[:5])})" if found else ""
        fail(f"{name} contains {len(found)} {layer_type.__name__} layers{where}, expected {want}.", hint)


def count_parameters(module: nn.Module, *, trainable_only: bool = False) -> int:
    """The number of scalar parameters in ``module`` (shared tensors counted once)."""
    seen: set[int] = set()
    total = 0
    for p in module.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total


def check_param_count(
    module: Any, expected: int, name: str = "model", *, trainable_only: bool = False, hint: str | None = None
) -> None:
    """Fail unless ``module`` has exactly ``expected`` (trainable) parameters.

    The message lists the parameter tensors so a learner sees which layer is off.
    """
    check_module(module, None, name, hint=hint)
    got = count_parameters(module, trainable_only=trainable_only)
    if got != expected:
        kind = "trainable parameters" if trainable_only else "parameters"
        shapes = ", ".join(f"{n}: {tuple(p.shape)}" for n, p in list(module.named_parameters())[:8])
        more = "" if len(list(module.parameters())) <= 8 else ", ..."
        fail(f"{name} has {got:,} {kind}, expected {expected:,} (its tensors: {shapes or 'none'}{more}).", hint)


def check_requires_grad(value: Any, expected: bool, name: str = "result", *, hint: str | None = None) -> None:
    """Fail unless a tensor (or every parameter of a module) has ``requires_grad == expected``."""
    import torch
    from torch import nn

    if isinstance(value, nn.Module):
        wrong = [n for n, p in value.named_parameters() if p.requires_grad != expected]
        if wrong:
            state = "trainable" if not expected else "frozen"
            fail(f"{len(wrong)} parameter tensors of {name} are still {state}, e.g. {', '.join(wrong[:3])}.", hint)
        return
    if not isinstance(value, torch.Tensor):
        fail(f"{name} should be a tensor or a module, but it is {describe(value)}.", hint)
    if value.requires_grad != expected:
        detail = (
            "it does not track gradients"
            if expected
            else "it still tracks gradients (use .detach() or torch.no_grad())"
        )
        fail(f"{name} should have requires_grad={expected}, but {detail}.", hint)


def check_output_shape(
    module: Any, input_shape: Sequence[int], expected: Sequence[int], name: str = "model", *, hint: str | None = None
) -> None:
    """Run ``module`` on a zero input of ``input_shape`` and check the output shape.

    A layer that raises (a Linear with the wrong ``in_features``, say) is
    reported in one sentence. Returns nothing, like every check (a value ending
    a check cell would be read by nbgrader as partial credit).
    """
    import torch

    check_module(module, None, name, hint=hint)
    x = torch.zeros(*input_shape)
    with torch.no_grad():
        out = call_learner(module, Case(args=(x,)), name)
    if not isinstance(out, torch.Tensor):
        fail(f"{name} should return a tensor, but it returned {describe(out)}.", hint)
    if tuple(out.shape) != tuple(expected):
        fail(
            f"{name} maps an input of shape {tuple(input_shape)} to {tuple(out.shape)}, expected {tuple(expected)}.",
            hint,
        )
