"""One training loop for every chapter: :func:`fit`.

``fit`` runs the loop a learner would write by hand (forward, loss, backward,
optimiser step) on any device, and adds, each only when asked: mixed precision
(bfloat16 autocast, or float16 with a ``GradScaler``), gradient clipping,
gradient accumulation that equals one larger batch, per-batch or per-epoch
scheduler steps, early stopping that restores the best weights, checkpoints that
resume exactly, callbacks and a tqdm progress bar. It returns a
:class:`~course_utils.History`. A non-finite loss stops the run with a
sentence that says where it happened and what to try.

This module reads the options and runs the epochs; one epoch is
:func:`course_utils.training.epoch.run_epoch`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .checkpoint import CheckpointSpec, load_checkpoint, save_checkpoint
from .epoch import FitState, Run, run_epoch
from .history import History
from .options import (
    EarlyStopping,
    GradClip,
    as_checkpoint_spec,
    as_early_stopping,
    as_grad_clip,
    check_counts,
    split_callbacks,
)
from .runtime import choose_precision, resolve_device
from .steps import OptimizerStep

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["FitState", "fit"]


def fit(
    model: nn.Module,
    train_loader: Iterable[Any],
    val_loader: Iterable[Any] | None = None,
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    scheduler: Any | None = None,
    scheduler_step: str = "epoch",
    device: Any = None,
    amp: bool | None = None,
    grad_clip: GradClip | float | Mapping[str, float] | None = None,
    accumulate: int = 1,
    early_stopping: EarlyStopping | int | None = None,
    checkpoint: CheckpointSpec | str | os.PathLike[str] | None = None,
    callbacks: Iterable[Any] = (),
    progress: bool = True,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History`.

    Args:
        model: any ``nn.Module``; it is moved to ``device``.
        train_loader, val_loader: yield ``(inputs, targets)``, e.g. ``(N, C, H, W)`` and ``(N,)``.
        epochs: total number of epochs (a resumed run continues up to it).
        optimizer, loss_fn: as in a hand-written loop; ``loss_fn`` averages over the batch.
        scheduler: an LR scheduler; ``scheduler_step="epoch"`` steps it after each
            epoch (``ReduceLROnPlateau`` gets the validation loss, or the training
            loss without a ``val_loader``), ``"batch"`` after each optimiser step.
        device: ``None`` keeps the model where it is; e.g. ``get_device()``.
        amp: ``None`` uses mixed precision on CUDA only; ``True`` everywhere
            (bfloat16 where supported, else float16 with a ``GradScaler``); ``False`` never.
        grad_clip: a max gradient norm, ``{"norm": 1.0}``, ``{"value": 0.5}`` or ``GradClip(...)``.
        accumulate: add the gradients of this many batches before each step; the
            result equals one step on a batch that many times larger (the last,
            smaller group of an epoch is averaged over its own samples), except
            for layers that use batch statistics (BatchNorm sees the small batches).
        early_stopping: a patience or ``EarlyStopping(...)``; the best weights are restored.
        checkpoint: a path or ``CheckpointSpec``: saved after every epoch and resumed from when
            present. Resuming is exact when shuffling draws from PyTorch's global generator
            or from a ``DataLoader(generator=...)``: both states are saved and restored.
        callbacks: functions ``f(state: FitState)`` called after each epoch, or objects
            with ``on_epoch_end(state)`` and/or ``on_batch_end(state)`` methods.
        progress: show a tqdm progress bar per epoch.

    Raises:
        CourseError: a non-finite loss, outputs that do not fit the loss, or bad options.

    Example:
        >>> history = fit(model, train_loader, val_loader, epochs=5, loss_fn=nn.CrossEntropyLoss(),
        ...               optimizer=torch.optim.SGD(model.parameters(), lr=0.1))   # doctest: +SKIP
        >>> history.plot()                                                           # doctest: +SKIP
    """
    import torch

    check_counts(epochs, accumulate, scheduler, scheduler_step)
    clip, stopper = as_grad_clip(grad_clip), as_early_stopping(early_stopping, validation=val_loader is not None)
    spec, (batch_callbacks, epoch_callbacks) = as_checkpoint_spec(checkpoint), split_callbacks(callbacks)

    device = resolve_device(model, device)
    model.to(device)
    if isinstance(loss_fn, torch.nn.Module):
        loss_fn.to(device)
    precision = choose_precision(amp, device)
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    generators = _generators(train_loader, val_loader)
    history, start, stop, step = History(precision=precision), 0, False, 0
    if spec is not None and spec.resume and Path(spec.path).exists():
        resumed = _resume(spec, model, optimizer, scheduler, scaler, generators, stopper, device, precision)
        history, start, stop, step = resumed
        if progress:
            print(f"Resuming from {spec.path} after epoch {start} of {epochs}.")
    elif stopper is not None:
        stopper.reset()
    batch_scheduler = scheduler if scheduler_step == "batch" else None
    stepper = OptimizerStep(optimizer, scaler, clip, accumulate=accumulate, count=step, scheduler=batch_scheduler)
    state = FitState(model, optimizer, history, step=step)
    run = Run(model, train_loader, val_loader, loss_fn, epochs, device, precision, stepper, state, progress)
    run.batch_callbacks = batch_callbacks

    for epoch in range(start + 1, epochs + 1):
        if stop:
            break
        row = run_epoch(run, epoch)
        if scheduler is not None and scheduler_step == "epoch":
            _scheduler_step(scheduler, row)
        history.append(row)
        if stopper is not None:
            stop = stopper.update(epoch, row, model)
            history.best_epoch, history.stopped_early = stopper.best_epoch, stop and epoch < epochs
        if spec is not None and (epoch % spec.every == 0 or epoch == epochs or stop):
            extra = {"history": history.state_dict(), "step": stepper.count, "stopped": stop}
            extra["early_stopping"] = stopper.state_dict() if stopper is not None else None
            save_checkpoint(spec.path, model, optimizer, scheduler, scaler, epoch=epoch, generators=generators, **extra)
        state.epoch, state.step = epoch, stepper.count
        for callback in epoch_callbacks:
            callback(state)
        stop = stop or state.stop

    if stopper is not None:
        stopper.restore(model)
    return history


def _scheduler_step(scheduler: Any, row: Mapping[str, float]) -> None:
    """Step an epoch scheduler; ``ReduceLROnPlateau`` gets the validation loss (else the training loss)."""
    import torch

    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(row.get("val_loss", row["train_loss"]))
    else:
        scheduler.step()


def _resume(
    spec: CheckpointSpec,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any,
    generators: list[torch.Generator],
    stopper: EarlyStopping | None,
    device: torch.device,
    precision: str,
) -> tuple[History, int, bool, int]:
    """Load ``spec.path`` into the model, optimiser, scheduler, scaler and generators.

    Returns the History so far, the last finished epoch, whether the run had stopped, and the step count.
    """
    ckpt = load_checkpoint(spec.path, model, optimizer, scheduler, scaler, map_location=device, generators=generators)
    extra = ckpt["extra"]
    history = History.from_state_dict(extra["history"])
    history.precision, history.resumed_from = precision, ckpt["epoch"]
    if stopper is not None and extra.get("early_stopping") is not None:
        stopper.load_state_dict(extra["early_stopping"])
    return history, ckpt["epoch"], bool(extra.get("stopped", False)), int(extra.get("step", 0))


def _generators(*loaders: Any) -> list[torch.Generator]:
    """The torch.Generator objects that drive the loaders' shuffling, each once."""
    import torch

    found: dict[int, torch.Generator] = {}
    for loader in loaders:
        sampler = getattr(loader, "sampler", None)
        inner = getattr(getattr(loader, "batch_sampler", None), "sampler", None)
        for owner in (loader, sampler, inner):
            generator = getattr(owner, "generator", None)
            if isinstance(generator, torch.Generator):
                found.setdefault(id(generator), generator)
    return list(found.values())
