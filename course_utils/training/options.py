"""The options of :func:`course_utils.fit`, each checked and explained in one place.

* :class:`EarlyStopping`: stop when a monitored number stops improving and put
  the best weights back (Prechelt, "Early Stopping - But When?", 1998).
* :class:`GradClip`: clip gradients by their global norm (Pascanu et al., "On the
  difficulty of training recurrent neural networks", 2013) or by value.
* ``as_*`` and :func:`check_counts`: what ``fit`` accepts for each option, turned
  into one form, or one sentence saying what is wrong.

The precision (mixed or not) is chosen in :mod:`course_utils.training.runtime`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import CourseError
from .checkpoint import CheckpointSpec

if TYPE_CHECKING:
    import torch
    from torch import nn

MONITORS = ("val_loss", "val_acc", "train_loss", "train_acc")


@dataclass
class EarlyStopping:
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    Args:
        patience: epochs without improvement to wait before stopping.
        monitor: a History column: ``"val_loss"`` (default), ``"val_acc"``,
            ``"train_loss"`` or ``"train_acc"``.
        mode: ``"min"`` when lower is better (losses), ``"max"`` when higher is (accuracy).
        min_delta: how much better a value must be to count as an improvement.
        restore_best: put the best epoch's weights back into the model at the end.

    Example:
        >>> fit(..., early_stopping=EarlyStopping(patience=3, monitor="val_acc", mode="max"))  # doctest: +SKIP
    """

    patience: int = 3
    monitor: str = "val_loss"
    mode: str = "min"
    min_delta: float = 0.0
    restore_best: bool = True
    best: float = field(default=math.nan, init=False)
    best_epoch: int | None = field(default=None, init=False)
    wait: int = field(default=0, init=False)
    best_state: dict[str, torch.Tensor] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.patience, int) or isinstance(self.patience, bool) or self.patience < 0:
            raise CourseError(
                f"EarlyStopping(patience=...) must be a whole number of epochs >= 0, not {self.patience!r}."
            )
        if self.monitor not in MONITORS:
            raise CourseError(f"EarlyStopping can watch {', '.join(MONITORS)}, not {self.monitor!r}.")
        if self.mode not in ("min", "max"):
            raise CourseError(f"EarlyStopping(mode=...) should be 'min' or 'max', not {self.mode!r}.")

    def reset(self) -> None:
        """Forget earlier runs (``fit`` calls this at the start of a fresh run)."""
        self.best, self.best_epoch, self.wait, self.best_state = math.nan, None, 0, None

    def update(self, epoch: int, row: Mapping[str, float], model: nn.Module) -> bool:
        """Record one epoch; copy the weights when it is the best so far. Returns True to stop."""
        value = row[self.monitor]
        better = (value < self.best - self.min_delta) if self.mode == "min" else (value > self.best + self.min_delta)
        if self.best_epoch is None or better:
            self.best, self.best_epoch, self.wait = float(value), epoch, 0
            if self.restore_best:
                self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return False
        self.wait += 1
        return self.wait >= self.patience

    def restore(self, model: nn.Module) -> None:
        """Put the best weights back (when ``restore_best`` and an epoch was recorded)."""
        if self.restore_best and self.best_state is not None:
            model.load_state_dict(self.best_state)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait, "best_state": self.best_state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.best_state = state["best_state"]


def as_early_stopping(spec: EarlyStopping | int | None, *, validation: bool = True) -> EarlyStopping | None:
    """``None``, an :class:`EarlyStopping`, or an int patience (watching ``val_loss``).

    ``validation`` says whether there is a validation loader to give the ``val_*`` numbers.
    """
    if isinstance(spec, int) and not isinstance(spec, bool):
        spec = EarlyStopping(patience=spec)
    elif spec is not None and not isinstance(spec, EarlyStopping):
        raise CourseError(f"early_stopping should be a patience (an int) or EarlyStopping(...), not {spec!r}.")
    if spec is not None and spec.monitor.startswith("val_") and not validation:
        raise CourseError(
            f"Early stopping watches {spec.monitor} but there is no val_loader: pass one, or monitor='train_loss'."
        )
    return spec


@dataclass(frozen=True)
class GradClip:
    """Gradient clipping: by global norm (``norm``) or elementwise by value (``value``), not both.

    ``fit(grad_clip=1.0)`` means ``GradClip(norm=1.0)``; a dict such as
    ``{"norm": 1.0}`` or ``{"value": 0.5}`` works too. Clipping is done with
    ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_`` after the gradients
    are unscaled and averaged, just before the optimiser step.
    """

    norm: float | None = None
    value: float | None = None
    norm_type: float = 2.0

    def __post_init__(self) -> None:
        if (self.norm is None) == (self.value is None):
            raise CourseError("grad_clip needs exactly one of norm or value, e.g. grad_clip={'norm': 1.0}.")
        limit = self.norm if self.norm is not None else self.value
        if not isinstance(limit, (int, float)) or isinstance(limit, bool) or not limit > 0 or not math.isfinite(limit):
            raise CourseError(f"The gradient clipping limit must be a positive number, not {limit!r}.")

    def apply(self, params: list[torch.nn.Parameter]) -> None:
        import torch

        if self.norm is not None:
            torch.nn.utils.clip_grad_norm_(params, self.norm, norm_type=self.norm_type)
        else:
            torch.nn.utils.clip_grad_value_(params, self.value)


def as_grad_clip(spec: GradClip | float | Mapping[str, float] | None) -> GradClip | None:
    """``None``, a :class:`GradClip`, a number (max norm) or a dict ``{"norm": ...}`` / ``{"value": ...}``."""
    if spec is None or isinstance(spec, GradClip):
        return spec
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return GradClip(norm=float(spec))
    if isinstance(spec, Mapping):
        unknown = set(spec) - {"norm", "value", "norm_type"}
        if unknown:
            raise CourseError(f"grad_clip knows the keys norm, value and norm_type, not {', '.join(sorted(unknown))}.")
        return GradClip(**spec)
    raise CourseError(f"grad_clip should be a number (max norm) or a dict like {{'norm': 1.0}}, not {spec!r}.")


def check_counts(epochs: int, accumulate: int, scheduler: Any, scheduler_step: str) -> None:
    """Check ``fit``'s counts and scheduler options; raise one :class:`CourseError` for the first bad one."""
    import torch

    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
        raise CourseError(f"epochs must be a whole number >= 0, not {epochs!r}.")
    if scheduler_step not in ("epoch", "batch"):
        raise CourseError(f"scheduler_step should be 'epoch' or 'batch', not {scheduler_step!r}.")
    if not isinstance(accumulate, int) or isinstance(accumulate, bool) or accumulate < 1:
        raise CourseError(f"accumulate must be a whole number of batches >= 1, not {accumulate!r}.")
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) and scheduler_step == "batch":
        raise CourseError("ReduceLROnPlateau watches a per-epoch loss: use scheduler_step='epoch' with it.")


def as_checkpoint_spec(checkpoint: CheckpointSpec | str | os.PathLike[str] | None) -> CheckpointSpec | None:
    """``None``, a :class:`~course_utils.CheckpointSpec`, or a file path (saved every epoch, resumed from)."""
    if checkpoint is None or isinstance(checkpoint, CheckpointSpec):
        return checkpoint
    if isinstance(checkpoint, (str, os.PathLike)):
        return CheckpointSpec(checkpoint)
    raise CourseError(f"checkpoint should be a file path or CheckpointSpec(...), not {checkpoint!r}.")


def split_callbacks(callbacks: Iterable[Any]) -> tuple[list[Callable[..., Any]], list[Callable[..., Any]]]:
    """The per-batch and per-epoch functions of ``fit(callbacks=...)``.

    A plain function runs after each epoch; an object may have ``on_batch_end`` and/or
    ``on_epoch_end`` methods.

    Example:
        >>> batch, epoch = split_callbacks([print])   # ([], [print])
    """
    per_batch: list[Callable[..., Any]] = []
    per_epoch: list[Callable[..., Any]] = []
    for callback in callbacks:
        if hasattr(callback, "on_batch_end") or hasattr(callback, "on_epoch_end"):
            per_batch += [callback.on_batch_end] if hasattr(callback, "on_batch_end") else []
            per_epoch += [callback.on_epoch_end] if hasattr(callback, "on_epoch_end") else []
        elif callable(callback):
            per_epoch.append(callback)
        else:
            raise CourseError(
                f"A callback should be a function or have on_epoch_end/on_batch_end methods, not {callback!r}."
            )
    return per_batch, per_epoch
