"""What the checks of :func:`~course_utils.training.sanity.sanity_check` share.

:class:`Probe` (what every check reads: the caller's model, which no check changes,
the first batches already on the model's device, the loss and the options),
:class:`Outcome` (``"passed"`` with what was measured, ``"failed"`` with one
sentence saying what is wrong and how to fix it, or ``"skipped"`` with why),
:func:`working_copy` (the deep copy each check runs instead of the model),
:func:`loss_kind` and :func:`mean_loss`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import CourseError

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass
class Probe:
    """What the checks read: the caller's model (never modified), the first batches on its device, the loss."""

    model: nn.Module
    batches: list[tuple[torch.Tensor, torch.Tensor]]
    loss_fn: Callable[..., torch.Tensor]
    kind: str  # "cross_entropy", "nll" or "other"
    loader: Any = None
    optimizer: Any = None
    options: dict[str, Any] = field(default_factory=dict)
    output: torch.Tensor | None = None  # the eval-mode output for the first batch, set by the forward pass

    @property
    def num_classes(self) -> int:
        return int(self.output.shape[1]) if self.output is not None and self.output.ndim >= 2 else 1


@dataclass(frozen=True)
class Outcome:
    status: str  # "passed", "failed" or "skipped"
    message: str
    details: dict[str, Any] = field(default_factory=dict)


def loss_kind(loss_fn: Any) -> str:
    """``"cross_entropy"`` or ``"nll"`` for those losses (module or function), ``"other"`` for anything else."""
    import torch.nn.functional as F
    from torch import nn

    if isinstance(loss_fn, nn.CrossEntropyLoss) or loss_fn is F.cross_entropy:
        return "cross_entropy"
    if isinstance(loss_fn, nn.NLLLoss) or loss_fn is F.nll_loss:
        return "nll"
    return "other"


def loss_name(loss_fn: Any) -> str:
    return getattr(loss_fn, "__name__", type(loss_fn).__name__)


def working_copy(model: nn.Module, train: bool) -> nn.Module:
    """A deep copy of ``model`` without gradients, in train or eval mode; the original is not touched."""
    try:
        clone = copy.deepcopy(model)
    except Exception as exc:
        raise CourseError(
            f"sanity_check works on a copy of the model and copy.deepcopy(model) failed ({type(exc).__name__}: "
            f"{str(exc)[:100]}): keep only modules, tensors and plain values as the model's attributes."
        ) from None
    for p in clone.parameters():
        p.grad = None
    return clone.train(train)


def mean_loss(loss_fn: Callable[..., torch.Tensor], out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The loss as a mean per sample, whatever the loss's ``reduction`` ("mean", "sum" or "none")."""
    loss = loss_fn(out, y)
    if loss.ndim:
        return loss.mean()
    if getattr(loss_fn, "reduction", "mean") == "sum":
        return loss / max(1, out.numel() // max(1, out.shape[1] if out.ndim >= 2 else 1))
    return loss
