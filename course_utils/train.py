"""One training loop for every chapter: :func:`fit`.

``fit`` runs the loop a learner would write by hand (forward, loss, backward,
optimiser step) on any device, and adds, each only when asked: mixed precision
(bfloat16 autocast, or float16 with a ``GradScaler``), gradient clipping,
gradient accumulation that equals one larger batch, per-batch or per-epoch
scheduler steps, early stopping that restores the best weights, checkpoints that
resume exactly, callbacks and a tqdm progress bar. It returns a
:class:`~course_utils.history.History`. A non-finite loss stops the run with a
sentence that says where it happened and what to try.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .checkpoint import CheckpointSpec, load_checkpoint, save_checkpoint
from .errors import CourseError
from .evaluation import (
    _POINTWISE_LOSSES,
    _autocast,
    _device_error,
    _first_line,
    _forward_error,
    _is_classification,
    _loss_error,
    _resolve_device,
    _unpack,
    evaluate,
)
from .history import History
from .train_options import EarlyStopping, GradClip, as_early_stopping, as_grad_clip, choose_precision

if TYPE_CHECKING:
    import torch
    from torch import nn


# How many batches pass between reading the losses back from the device. Each read waits for the device
# to finish; on the CPU that costs nothing, so every loss is checked before its backward pass.
LOSS_READ_EVERY = {"cpu": 1}  # other devices: 16
# The training accuracy: each batch only takes its argmax (one operation, about 1% of a tiny model's step); the
# predictions of up to ACC_GROUP batches, or fewer once they hold ACC_ELEMENTS elements (segmentation maps), are
# compared with their targets at once. The targets are kept by reference until then, which assumes that a loader
# gives new tensors for each batch rather than refilling the previous batch's in place (DataLoader does).
ACC_GROUP = 16
ACC_ELEMENTS = 1 << 22


@dataclass
class FitState:
    """What a callback sees. Set ``stop = True`` to end training after the current epoch.

    ``epoch`` counts from 1; ``batch`` is the index within the epoch; ``step`` counts
    optimiser steps; ``loss`` is the last batch's loss as a 0-d tensor.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    history: History
    epoch: int = 0
    batch: int = 0
    step: int = 0
    loss: torch.Tensor | None = None
    stop: bool = False


def _nonfinite_error(value: float, epoch: int, index: int, lr: float) -> CourseError:
    return CourseError(
        f"The loss became {value} at epoch {epoch}, batch {index + 1} (learning rate {lr:.3g}): "
        "lower the learning rate, clip gradients (grad_clip=1.0), or check the inputs for NaN values."
    )


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


def _checkpoint_spec(checkpoint: CheckpointSpec | str | os.PathLike[str] | None) -> CheckpointSpec | None:
    if checkpoint is None or isinstance(checkpoint, CheckpointSpec):
        return checkpoint
    if isinstance(checkpoint, (str, os.PathLike)):
        return CheckpointSpec(checkpoint)
    raise CourseError(f"checkpoint should be a file path or CheckpointSpec(...), not {checkpoint!r}.")


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

    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
        raise CourseError(f"epochs must be a whole number >= 0, not {epochs!r}.")
    if scheduler_step not in ("epoch", "batch"):
        raise CourseError(f"scheduler_step should be 'epoch' or 'batch', not {scheduler_step!r}.")
    if not isinstance(accumulate, int) or isinstance(accumulate, bool) or accumulate < 1:
        raise CourseError(f"accumulate must be a whole number of batches >= 1, not {accumulate!r}.")
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    if plateau and scheduler_step == "batch":
        raise CourseError("ReduceLROnPlateau watches a per-epoch loss: use scheduler_step='epoch' with it.")
    clip = as_grad_clip(grad_clip)
    stopper = as_early_stopping(early_stopping)
    if stopper is not None and stopper.monitor.startswith("val_") and val_loader is None:
        raise CourseError(f"Early stopping watches {stopper.monitor} but there is no val_loader: pass one, or monitor='train_loss'.")
    spec = _checkpoint_spec(checkpoint)
    batch_callbacks, epoch_callbacks = [], []
    for callback in callbacks:
        if hasattr(callback, "on_batch_end") or hasattr(callback, "on_epoch_end"):
            batch_callbacks += [callback.on_batch_end] if hasattr(callback, "on_batch_end") else []
            epoch_callbacks += [callback.on_epoch_end] if hasattr(callback, "on_epoch_end") else []
        elif callable(callback):
            epoch_callbacks.append(callback)
        else:
            raise CourseError(f"A callback should be a function or have on_epoch_end/on_batch_end methods, not {callback!r}.")

    device = _resolve_device(model, device)
    model.to(device)
    if isinstance(loss_fn, torch.nn.Module):
        loss_fn.to(device)
    precision = choose_precision(amp, device)
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    autocast = _autocast(precision, device)
    non_blocking = device.type == "cuda"
    sync_every = LOSS_READ_EVERY.get(device.type, 16)
    params: list[torch.nn.Parameter] = []
    generators = _generators(train_loader, val_loader)
    # Optimizer.zero_grad(set_to_none=True) only sets each .grad to None, inside a profiler label that costs more
    # than the rest of it; fit does the same directly, unless the optimiser overrides zero_grad or a profiler runs.
    plain_zero_grad = type(optimizer).zero_grad is torch.optim.Optimizer.zero_grad
    profiling = getattr(torch._C._autograd, "_profiler_enabled", lambda: True)  # unknown: use zero_grad

    history, start, stop, step = History(precision=precision), 0, False, 0
    if spec is not None and spec.resume and Path(spec.path).exists():
        ckpt = load_checkpoint(spec.path, model, optimizer, scheduler, scaler, map_location=device, generators=generators)
        extra = ckpt["extra"]
        history = History.from_state_dict(extra["history"])
        history.precision, history.resumed_from = precision, ckpt["epoch"]
        start, stop, step = ckpt["epoch"], bool(extra.get("stopped", False)), int(extra.get("step", 0))
        if stopper is not None and extra.get("early_stopping") is not None:
            stopper.load_state_dict(extra["early_stopping"])
        if progress:
            print(f"Resuming from {spec.path} after epoch {start} of {epochs}.")
    elif stopper is not None:
        stopper.reset()
    state = FitState(model, optimizer, history, step=step)
    if progress:
        from tqdm.auto import tqdm

    batch_scheduler = scheduler is not None and scheduler_step == "batch"

    def refresh_params() -> None:  # at each epoch's start and after batch callbacks, which may add param groups
        params[:] = [p for group in optimizer.param_groups for p in group["params"]]

    def clear_grads() -> None:
        if plain_zero_grad and not profiling():
            for p in params:
                p.grad = None
        else:
            optimizer.zero_grad(set_to_none=True)

    def optimizer_step(group_size: int, nominal: int) -> None:
        nonlocal step
        if scaler is not None and (clip is not None or accumulate > 1):
            scaler.unscale_(optimizer)
        if accumulate > 1 and group_size != nominal:
            torch._foreach_mul_([p.grad for p in params if p.grad is not None], nominal / group_size)
        if clip is not None:
            clip.apply(params)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        clear_grads()
        step += 1
        if batch_scheduler:
            scheduler.step()

    for epoch in range(start + 1, epochs + 1):
        if stop:
            break
        started, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
        model.train()
        refresh_params()
        clear_grads()
        loss_sum, seen, is_class = 0.0, 0, None
        hits, preds, targets, compared, waiting = [], [], [], 0, 0  # accuracy: see ACC_GROUP
        pending: list[tuple[Any, int, int, float]] = []  # losses not yet read back: (loss, n, batch, lr)
        nominal, group_size, group_batches = 0, 0, 0  # samples per batch; samples and batches in this group
        n_batches = len(train_loader) if hasattr(train_loader, "__len__") else None
        bar = tqdm(total=n_batches,
                   desc=f"epoch {epoch}/{epochs}", unit="batch", dynamic_ncols=True) if progress else None
        shown = time.perf_counter()

        def read_losses() -> None:
            nonlocal loss_sum
            for value, (_, n, index, at_lr) in zip(torch.stack([p[0] for p in pending]).tolist(), pending):
                if not math.isfinite(value):
                    raise _nonfinite_error(value, epoch, index, at_lr)
                loss_sum += value * n
            pending.clear()

        def count_hits() -> None:  # compare the waiting predictions with their targets
            nonlocal compared, waiting
            if len(preds) == 1:
                hits.append((preds[0] == targets[0]).sum())
            elif preds[0].ndim == 1:
                hits.append((torch.cat(preds) == torch.cat(targets)).sum())
            else:  # per-pixel classes; the maps may differ in size from batch to batch
                flat = torch.cat([p.reshape(-1) for p in preds]), torch.cat([t.reshape(-1) for t in targets])
                hits.append((flat[0] == flat[1]).sum())
            compared, waiting = compared + waiting, 0
            preds.clear()
            targets.clear()

        try:
            for index, batch in enumerate(train_loader):
                x, y = _unpack(batch, device, non_blocking)
                n = len(y)
                with autocast:
                    try:
                        out = model(x)
                    except RuntimeError as exc:
                        error = _device_error(exc) or _forward_error(exc, x)
                        if error is None:
                            raise
                        raise error from exc
                    if is_class is None:
                        is_class = _is_classification(out, y)
                        if type(loss_fn).__name__ in _POINTWISE_LOSSES and out.shape != y.shape:
                            raise _loss_error("the shapes differ", out, y, loss_fn)
                    try:
                        loss = loss_fn(out, y)
                    except (RuntimeError, ValueError, IndexError) as exc:
                        raise (_device_error(exc) or _loss_error(_first_line(exc), out, y, loss_fn)) from exc
                if sync_every == 1:  # read at once, before backward: a non-finite loss never reaches the weights
                    value = loss.item()
                    if not math.isfinite(value):
                        raise _nonfinite_error(value, epoch, index, optimizer.param_groups[0]["lr"])
                    loss_sum += value * n
                else:  # on a GPU, read every sync_every batches so the CPU does not wait for each one
                    pending.append((loss.detach(), n, index, optimizer.param_groups[0]["lr"]))
                    if len(pending) >= sync_every:
                        read_losses()
                if accumulate == 1:
                    (scaler.scale(loss) if scaler is not None else loss).backward()
                    optimizer_step(n, n)
                else:
                    nominal = nominal or n
                    weighted = loss * (n / nominal) if n != nominal else loss
                    (scaler.scale(weighted) if scaler is not None else weighted).backward()
                    group_size, group_batches = group_size + n, group_batches + 1
                    if group_batches == accumulate or index + 1 == n_batches:  # a full group, or the epoch's last
                        optimizer_step(group_size, nominal)
                        group_size, group_batches = 0, 0
                if is_class:
                    preds.append(out.argmax(1))
                    targets.append(y)
                    waiting += y.numel()
                    if len(preds) == ACC_GROUP or waiting >= ACC_ELEMENTS:
                        count_hits()
                seen += n
                if batch_callbacks:
                    state.epoch, state.batch, state.step, state.loss = epoch, index, step, loss.detach()
                    for callback in batch_callbacks:
                        callback(state)
                    refresh_params()
                if bar is not None:
                    bar.update()
                    if seen and time.perf_counter() - shown > 0.5 and not pending:
                        bar.set_postfix(loss=f"{loss_sum / seen:.4f}", refresh=False)
                        shown = time.perf_counter()
            if group_batches:
                optimizer_step(group_size, nominal)  # the last, smaller group of a loader without len()
            if pending:
                read_losses()
            if preds:
                count_hits()
            if seen == 0:
                raise CourseError("The training loader gave no batches: check that its data set is not empty.")

            row: dict[str, float] = {"epoch": epoch, "train_loss": loss_sum / seen}
            if is_class:  # the fraction of correct class predictions (of pixels, for per-pixel targets)
                row["train_acc"] = torch.stack(hits).sum().item() / compared
            if val_loader is not None:
                row.update({f"val_{k}": v for k, v in evaluate(model, val_loader, loss_fn, device=device,
                                                                  amp=precision != "fp32").items()})
            row["lr"], row["time"] = lr, time.perf_counter() - started
            if bar is not None:
                bar.set_postfix({k: f"{v:.4f}" for k, v in row.items() if k.endswith(("loss", "acc"))}, refresh=True)
        finally:
            if bar is not None:
                bar.close()

        if scheduler is not None and scheduler_step == "epoch":
            if plateau:
                scheduler.step(row.get("val_loss", row["train_loss"]))
            else:
                scheduler.step()
        history.append(row)
        if stopper is not None:
            stop = stopper.update(epoch, row, model)
            history.best_epoch, history.stopped_early = stopper.best_epoch, stop and epoch < epochs
        if spec is not None and (epoch % spec.every == 0 or epoch == epochs or stop):
            save_checkpoint(spec.path, model, optimizer, scheduler, scaler, epoch=epoch, generators=generators,
                            history=history.state_dict(), step=step, stopped=stop,
                            early_stopping=stopper.state_dict() if stopper is not None else None)
        state.epoch, state.step = epoch, step
        for callback in epoch_callbacks:
            callback(state)
        stop = stop or state.stop

    if stopper is not None:
        stopper.restore(model)
    return history
