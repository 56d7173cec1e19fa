"""One training run of the fast recipe: :func:`train_fast` and what it returns, :class:`FastRun`.

What the clock counts (``FastRun.seconds``): the whitening of the stem and every training
step, with the device synchronised at both ends. What it leaves out: loading the data
onto the device, building the network, the warm-up (a few untimed steps whose effects
are undone: cuDNN's kernel search, and ``torch.compile`` when asked, timed apart as
``compile_seconds``) and the evaluation. Nothing inside the timed loop waits for the
device: the per-epoch loss and accuracy are summed on the device and read at the end.

Example:
    >>> cfg = FastConfig.for_device(device)                                        # doctest: +SKIP
    >>> x, y = cifar10_uint8(train=True, subset=cfg.train_subset, device=device)    # doctest: +SKIP
    >>> xt, yt = cifar10_uint8(train=False, subset=cfg.test_subset, device=device)  # doctest: +SKIP
    >>> run = train_fast(cfg, train=(x, y), test=(xt, yt), seed=0, device=device)   # doctest: +SKIP
    >>> run.tta_accuracy, run.seconds
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data.cifar import CIFAR10_MEAN, CIFAR10_STD
from ..errors import CourseError
from ..training.history import History
from .config import FastConfig
from .data import GpuBatches, normalize
from .evaluate import evaluate_fast
from .net import fast_net, init_whitening
from .optim import LookaheadAverage, autocast_context, autocast_dtype, average_decay, make_optimizer, triangle_schedule
from .timing import Stopwatch


@dataclass
class FastRun:
    """The result of :func:`train_fast`.

    Attributes:
        model: the trained network (in eval mode, on the device).
        accuracy: test accuracy without TTA (None when no test set was given).
        tta_accuracy: test accuracy with the configuration's TTA level (equal to ``accuracy`` at level 0).
        seconds: training time, synchronised, warm-up and compilation excluded.
        compile_seconds: the untimed warm-up's duration (compilation included when ``cfg.compile``).
        epochs: passes over the training set (fractional when the run ends mid-epoch).
        steps: optimiser steps taken.
        history: per-epoch ``train_loss``, ``train_acc``, ``lr`` (and ``val_acc`` when ``verbose``).
        precision: ``"bf16"``, ``"fp16"`` or ``"fp32"``: the autocast precision used.
        device: the device trained on, e.g. ``"cuda:0"`` or ``"cpu"``.
        compiled: whether the training steps ran through ``torch.compile``.
        config: the configuration that was run.
    """

    model: nn.Module
    accuracy: float | None
    tta_accuracy: float | None
    seconds: float
    compile_seconds: float
    epochs: float
    steps: int
    history: History
    precision: str
    device: str
    compiled: bool
    config: FastConfig


def _check_data(name: str, data: object, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data)):
        raise CourseError(f"{name} must be a pair (images, labels) of tensors, as cifar10_uint8 returns.")
    images, labels = data
    if images.dtype != torch.uint8 or images.dim() != 4 or len(images) != len(labels):
        raise CourseError(
            f"{name} images must be uint8 (N, 3, 32, 32) with one label each; "
            f"got {images.dtype} {tuple(images.shape)} and {len(labels)} labels."
        )
    return images.to(device), labels.to(device)


def _warm_up(
    model: nn.Module, step_model: nn.Module, x: torch.Tensor, y: torch.Tensor, amp: torch.dtype | None, steps: int
) -> None:
    """A few forward and backward passes whose effects are undone: the weights, buffers and gradients."""
    saved = copy.deepcopy(model.state_dict())
    for _ in range(steps):
        with autocast_context(x.device, amp):
            loss = F.cross_entropy(step_model(x).float(), y)
        loss.backward()
    model.load_state_dict(saved)
    for p in model.parameters():
        p.grad = None


def train_fast(
    cfg: FastConfig,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    seed: int = 0,
    device: torch.device | str | None = None,
    verbose: bool = False,
) -> FastRun:
    """Train :func:`~course_utils.fast.net.fast_net` with the recipe ``cfg`` and measure it.

    Args:
        cfg: the recipe (:class:`FastConfig`).
        train: uint8 images ``(N, 3, 32, 32)`` and int64 labels ``(N,)`` (moved to ``device`` if elsewhere).
        test: the same for the test set, or None to skip the evaluation.
        seed: seeds the network's initialisation and the device generator of the batches
            (the caller's random state is left as it was).
        device: where to train; None uses the device the training images are on.
        verbose: print one line per epoch, with the test accuracy (measured outside the clock).

    Returns:
        a :class:`FastRun`.

    Raises:
        CourseError: for data of the wrong kind, or a precision the device lacks.

    Example:
        >>> cfg = FastConfig.for_device("cpu", smoke=True)
        >>> run = train_fast(cfg, train=(x, y), test=(xt, yt), seed=0)   # doctest: +SKIP
        >>> no_ema = train_fast(dataclasses.replace(cfg, ema=False), train=(x, y), test=(xt, yt))  # doctest: +SKIP
    """
    device = torch.device(device) if device is not None else train[0].device
    x, y = _check_data("train", train, device)
    amp = autocast_dtype(cfg.autocast, device)
    precision = {torch.bfloat16: "bf16", torch.float16: "fp16", None: "fp32"}[amp]
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    xt, yt = _check_data("test", test, device) if test is not None else (None, None)

    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        model = fast_net(cfg.widths, bn_momentum=cfg.bn_momentum, logit_scale=cfg.logit_scale).to(
            device, memory_format=fmt
        )
        whiten_pick = torch.randperm(len(x), device=device)[: cfg.whiten_images]
    if not cfg.whiten:
        model[0].weight.requires_grad_(True)
    batches = GpuBatches(
        x,
        y,
        batch_size=cfg.batch_size,
        crop_pad=cfg.crop_pad,
        pad_mode=cfg.pad_mode,
        flip=cfg.flip,
        alternate_flip=cfg.alternate_flip,
        channels_last=cfg.channels_last,
        dtype=amp,
        drop_last=True,
        seed=seed,
    )
    per_epoch = len(batches)
    total = math.ceil(per_epoch * cfg.epochs)
    factors = triangle_schedule(total, cfg.warmup_fraction, cfg.lr_start, cfg.lr_end)
    stem_steps = math.ceil(cfg.whiten_bias_epochs * per_epoch) if cfg.whiten else total
    optimizer = make_optimizer(model, cfg)
    scaler = torch.amp.GradScaler("cuda") if amp is torch.float16 else None
    step_model = torch.compile(model) if cfg.compile else model
    mean = torch.tensor(CIFAR10_MEAN, device=device)
    std = torch.tensor(CIFAR10_STD, device=device)

    previous_benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = cfg.cudnn_benchmark if device.type == "cuda" else previous_benchmark
    try:
        warm = Stopwatch(device)
        if cfg.warmup_steps and (device.type == "cuda" or cfg.compile):
            with warm:
                sample = normalize(x[: cfg.batch_size], mean, std, amp or torch.float32).contiguous(memory_format=fmt)
                _warm_up(model, step_model, sample, y[: cfg.batch_size], amp, cfg.warmup_steps)
        clock = Stopwatch(device)
        history = History(precision=precision)
        step = 0
        model.train()
        with clock:
            if cfg.whiten:
                init_whitening(model, normalize(x[whiten_pick], mean, std, torch.float32))
            average = LookaheadAverage(model) if cfg.ema else None  # starts from the whitened stem
        while step < total:
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.int64)
            seen, first_lr = 0, cfg.peak_lr * factors[step]
            with clock:
                for xb, yb in batches:
                    for group in optimizer.param_groups:
                        frozen = group["name"] == "stem" and step >= stem_steps
                        group["lr"] = 0.0 if frozen else group["base_lr"] * factors[step]
                    with autocast_context(device, amp):
                        logits = step_model(xb)
                        loss = F.cross_entropy(logits.float(), yb, label_smoothing=cfg.label_smoothing)
                    optimizer.zero_grad(set_to_none=True)
                    if scaler is not None:
                        scaler.scale(loss).backward()
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        loss.backward()
                        optimizer.step()
                    step += 1
                    loss_sum += loss.detach() * len(yb)
                    correct += (logits.detach().argmax(1) == yb).sum()
                    seen += len(yb)
                    if average is not None and step % cfg.ema_every == 0:
                        average.update(model, average_decay(step, total, cfg))
                    if step >= total:
                        break
                if step >= total and average is not None:
                    average.update(model, 1.0)  # the weights take the average's values for good
            row = {"epoch": len(history) + 1, "train_loss": loss_sum.item() / seen, "train_acc": correct.item() / seen}
            row["lr"] = first_lr
            if verbose and xt is not None:
                row["val_acc"] = evaluate_fast(
                    model, xt, yt, batch_size=cfg.eval_batch_size, autocast=amp, channels_last=cfg.channels_last
                )
                model.train()
                print(", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
            history.append(row)
    finally:
        torch.backends.cudnn.benchmark = previous_benchmark

    model.eval()
    accuracy = tta_accuracy = None
    if xt is not None:
        kwargs = dict(batch_size=cfg.eval_batch_size, autocast=amp, channels_last=cfg.channels_last)
        accuracy = evaluate_fast(model, xt, yt, tta=0, **kwargs)
        tta_accuracy = accuracy if cfg.tta == 0 else evaluate_fast(model, xt, yt, tta=cfg.tta, **kwargs)
        model.eval()
    if verbose:
        shown = "no test set" if accuracy is None else f"test accuracy {accuracy:.4f}, with TTA {tta_accuracy:.4f}"
        print(f"{total} steps in {clock.seconds:.2f} s ({precision}, {device}); {shown}")
    return FastRun(
        model=model,
        accuracy=accuracy,
        tta_accuracy=tta_accuracy,
        seconds=clock.seconds,
        compile_seconds=warm.seconds,
        epochs=total / per_epoch,
        steps=total,
        history=history,
        precision=precision,
        device=str(device),
        compiled=cfg.compile,
        config=cfg,
    )
