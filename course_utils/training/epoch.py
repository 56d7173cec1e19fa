"""One epoch of :func:`~course_utils.fit`: the loop over the training batches, then validation.

:class:`Run` holds what ``fit`` resolved once (device, precision, options);
:func:`run_epoch` trains for one epoch and returns its History row. The batch loop
is the one a learner writes by hand (forward, loss, backward, step); the pieces
around it live in :mod:`course_utils.training.steps`. Internal to
:mod:`course_utils.training`, except :class:`FitState`, which callbacks receive.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import CourseError
from .evaluation import evaluate
from .runtime import (
    POINTWISE_LOSSES,
    autocast,
    device_error,
    first_line,
    forward_error,
    is_classification,
    loss_error,
    unpack,
)
from .steps import LOSS_READ_EVERY, LossTally, OptimizerStep, TrainAccuracy

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .history import History


@dataclass
class FitState:
    """What a callback sees. Set ``stop = True`` to end training after the current epoch.

    ``epoch`` counts from 1; ``batch`` is the index within the epoch; ``step`` counts
    optimiser steps; ``loss`` is the last batch's loss as a 0-d tensor.

    Example:
        >>> def stop_when_good(state: FitState) -> None:
        ...     state.stop = state.history["train_acc"][-1] > 0.99
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    history: History
    epoch: int = 0
    batch: int = 0
    step: int = 0
    loss: torch.Tensor | None = None
    stop: bool = False


@dataclass
class Run:
    """The settings of one ``fit`` call, resolved once before the first epoch."""

    model: nn.Module
    train_loader: Iterable[Any]
    val_loader: Iterable[Any] | None
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    epochs: int
    device: torch.device
    precision: str
    stepper: OptimizerStep
    state: FitState
    progress: bool
    batch_callbacks: list[Callable[[FitState], Any]] = field(default_factory=list)
    autocast: Any = field(init=False)  # the context every forward pass runs in

    def __post_init__(self) -> None:
        self.autocast = autocast(self.precision, self.device)

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.stepper.optimizer


def _forward(run: Run, x: torch.Tensor, y: torch.Tensor, check: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's output and the loss, with errors a learner causes explained; ``check`` the shapes once."""
    with run.autocast:
        try:
            out = run.model(x)
        except RuntimeError as exc:
            error = device_error(exc) or forward_error(exc, x)
            if error is None:
                raise
            raise error from exc
        if check and type(run.loss_fn).__name__ in POINTWISE_LOSSES and out.shape != y.shape:
            raise loss_error("the shapes differ", out, y, run.loss_fn)
        try:
            loss = run.loss_fn(out, y)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise (device_error(exc) or loss_error(first_line(exc), out, y, run.loss_fn)) from exc
    return out, loss


def _progress_bar(run: Run, epoch: int) -> Any:
    if not run.progress:
        return None
    from tqdm.auto import tqdm

    total = len(run.train_loader) if hasattr(run.train_loader, "__len__") else None
    return tqdm(total=total, desc=f"epoch {epoch}/{run.epochs}", unit="batch", dynamic_ncols=True)


def run_epoch(run: Run, epoch: int) -> dict[str, float]:
    """Train for one epoch (``epoch`` counts from 1), validate, and return the History row.

    The row holds ``epoch``, ``train_loss``, ``train_acc`` for class scores, ``val_*`` from
    :func:`~course_utils.evaluate` when there is a validation loader, ``lr`` (at the epoch's
    start) and ``time`` in seconds.
    """
    started, lr = time.perf_counter(), run.optimizer.param_groups[0]["lr"]
    model, stepper, state, device = run.model, run.stepper, run.state, run.device
    param_groups = run.optimizer.param_groups
    model.train()
    stepper.start_epoch()
    losses, accuracy = LossTally(epoch, LOSS_READ_EVERY.get(device.type, 16)), TrainAccuracy()
    non_blocking, is_class = device.type == "cuda", None
    n_batches = len(run.train_loader) if hasattr(run.train_loader, "__len__") else None
    bar = _progress_bar(run, epoch)
    shown = time.perf_counter()
    try:
        for index, batch in enumerate(run.train_loader):
            x, y = unpack(batch, device, non_blocking)
            n = len(y)
            out, loss = _forward(run, x, y, check=is_class is None)
            if is_class is None:
                is_class = is_classification(out, y)
            losses.add(loss, n, index, param_groups[0]["lr"])
            stepper.backward(loss, n, last=index + 1 == n_batches)
            if is_class:
                accuracy.add(out, y)
            if run.batch_callbacks:
                state.epoch, state.batch, state.step, state.loss = epoch, index, stepper.count, loss.detach()
                for callback in run.batch_callbacks:
                    callback(state)
                stepper.refresh_params()
            if bar is not None:
                bar.update()
                if time.perf_counter() - shown > 0.5 and not losses.pending:
                    bar.set_postfix(loss=f"{losses.total / losses.seen:.4f}", refresh=False)
                    shown = time.perf_counter()
        stepper.finish_group()  # the last, smaller group of a loader without len()
        losses.read()
        if losses.seen == 0:
            raise CourseError("The training loader gave no batches: check that its data set is not empty.")

        row: dict[str, float] = {"epoch": epoch, "train_loss": losses.total / losses.seen}
        if is_class:  # the fraction of correct class predictions (of pixels, for per-pixel targets)
            row["train_acc"] = accuracy.value()
        if run.val_loader is not None:
            scores = evaluate(model, run.val_loader, run.loss_fn, device=device, amp=run.precision != "fp32")
            row.update({f"val_{k}": v for k, v in scores.items()})
        row["lr"], row["time"] = lr, time.perf_counter() - started
        if bar is not None:
            bar.set_postfix({k: f"{v:.4f}" for k, v in row.items() if k.endswith(("loss", "acc"))}, refresh=True)
    finally:
        if bar is not None:
            bar.close()
    return row
