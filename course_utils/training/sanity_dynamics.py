"""The checks of :func:`~course_utils.training.sanity.sanity_check` that look at batches and training.

:func:`check_batch_independence` (the gradient of one sample's output with respect
to the whole batch of inputs is zero outside that sample; eval mode, so that
BatchNorm's batch statistics do not count), :func:`check_batchnorm_batch_size`
(no BatchNorm layer sees a batch of one: the loader's last batch, and forward
hooks during a training-mode pass) and :func:`check_overfit_one_batch` (a copy of
the model memorises a few samples). Each works on a deep copy of the model and
returns an :class:`~course_utils.training.sanity_probe.Outcome`.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from ..errors import CourseError
from .sanity_probe import Outcome, Probe, loss_kind, mean_loss, working_copy

if TYPE_CHECKING:
    import torch
    from torch import nn

MIX_SAMPLES = 4  # how many samples of the first batch the batch-independence check differentiates


def check_batch_independence(probe: Probe) -> Outcome:
    """Sample ``i``'s output reaches no other sample's input (gradients in eval mode, on up to 4 samples)."""
    import torch

    x = probe.batches[0][0]
    n = min(MIX_SAMPLES, len(x))
    if n < 2:
        return Outcome("skipped", "skipped: the first batch has one sample, and this check needs two.")
    if not x.is_floating_point():
        return Outcome("skipped", f"skipped: the inputs are {x.dtype}, so no gradient with respect to them exists.")
    clone = working_copy(probe.model, train=False)
    inputs = x[:n].detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = clone(inputs)
        weights = torch.randn(out.shape[1:], generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        weights = weights.to(out.device, out.dtype)  # a fixed direction: a plain sum of softmax outputs has no gradient
        for i in range(n):
            (grad,) = torch.autograd.grad((out[i] * weights).sum(), inputs, retain_graph=True, allow_unused=True)
            if grad is None:
                break  # the output does not depend on the inputs at all (overfit_one_batch will say so)
            leaks = grad.detach().abs().reshape(n, -1).amax(1)
            leaks[i] = 0
            if bool(leaks.max() > 0):
                j = int(leaks.argmax())
                return Outcome(
                    "failed",
                    f"The output for sample {i} depends on the input of sample {j} (gradient {float(leaks[j]):.1e}, "
                    "measured in eval mode, where BatchNorm does not mix samples): something mixes the batch "
                    "dimension, e.g. a mean or sum over dim 0, or a view that moves values across samples "
                    "(flatten with x.flatten(1) or x.view(x.size(0), -1))" + _batch_statistics_note(clone) + ".",
                    {"sample": i, "other": j},
                )
    return Outcome(
        "passed",
        f"each of {n} samples' outputs depends on its own input only (gradients taken in eval mode, so that "
        "BatchNorm's batch statistics do not count as mixing)",
    )


def _batch_statistics_note(model: nn.Module) -> str:
    """A note naming the BatchNorm layers that use batch statistics even in eval mode, if any."""
    live = [name for name, m in _batchnorm_layers(model) if not m.track_running_stats]
    return (
        f", or BatchNorm layer {live[0]!r}, which keeps no running statistics (track_running_stats=False)"
        if live
        else ""
    )


def _batchnorm_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    from torch.nn.modules.batchnorm import _BatchNorm

    return [(name, m) for name, m in model.named_modules() if isinstance(m, _BatchNorm)]


def _last_batch_of_one(loader: Any) -> str | None:
    """A sentence when the loader's batch size, drop_last and length leave batches of one sample, else None."""
    size, drop_last = getattr(loader, "batch_size", None), getattr(loader, "drop_last", False)
    if size is None:
        return None
    if size == 1:
        return "The loader's batch_size is 1"
    try:
        count = len(loader.sampler)
    except (AttributeError, TypeError):
        return None
    if count % size == 1 and not drop_last:
        return f"The loader's last batch has one sample ({count} = {count // size} × {size} + 1, drop_last=False)"
    return None


def check_batchnorm_batch_size(probe: Probe) -> Outcome:
    """No BatchNorm layer sees a batch of one in training (the loader's last batch, and hooks in train mode)."""
    import torch

    layers = _batchnorm_layers(probe.model)
    if not layers:
        return Outcome("passed", "the model has no BatchNorm layer")
    fix = (
        "BatchNorm cannot compute statistics from one sample (training stops with 'Expected more than 1 value "
        "per channel' or gets very noisy statistics): pass drop_last=True to the training DataLoader, or choose a "
        "batch size of at least 2 that does not leave 1."
    )
    problem = _last_batch_of_one(probe.loader)
    if problem:
        return Outcome("failed", f"{problem}, and {fix}")
    clone = working_copy(probe.model, train=True)
    seen: dict[str, int] = {}

    def record(name: str) -> Any:
        def hook(module: nn.Module, args: tuple) -> None:
            if args and isinstance(args[0], torch.Tensor):
                seen[name] = min(seen.get(name, len(args[0])), len(args[0]))

        return hook

    handles = [m.register_forward_pre_hook(record(name)) for name, m in _batchnorm_layers(clone)]
    try:
        with torch.no_grad():
            for x, _ in probe.batches:
                try:
                    clone(x)
                except (ValueError, RuntimeError):
                    if 1 not in seen.values():
                        raise
    finally:
        for handle in handles:
            handle.remove()
    ones = [name for name, size in seen.items() if size == 1]
    if ones and min(len(x) for x, _ in probe.batches) == 1:
        return Outcome("failed", f"The loader gives a batch of one sample, and {fix}")
    if ones:
        return Outcome(
            "failed",
            f"BatchNorm layer {ones[0]!r} receives one sample at a time in training although the batches are larger, "
            "so the model must call it inside a loop over the batch, where its statistics are those of a single "
            "sample: call it on the whole batch, or use nn.GroupNorm, which normalises each sample on its own.",
        )
    smallest = min(seen.values(), default=0)
    return Outcome(
        "passed",
        f"the {len(layers)} BatchNorm layer(s) see at least {smallest} samples per batch in training, and the "
        "loader leaves no last batch of one",
    )


def _optimizer_for(probe: Probe, clone: nn.Module) -> tuple[torch.optim.Optimizer, str]:
    """A fresh optimiser over the clone's parameters: a copy of the caller's (same class and settings) or Adam."""
    import torch

    original = probe.optimizer
    if original is None:
        lr = probe.options.get("overfit_lr", 1e-2)
        params = [p for p in clone.parameters() if p.requires_grad]
        return torch.optim.Adam(params, lr=lr), f"Adam (lr {lr:g})"
    twin = {id(p): q for p, q in zip(probe.model.parameters(), clone.parameters())}
    groups = [
        {**{k: v for k, v in g.items() if k != "params"}, "params": [twin[id(p)] for p in g["params"] if id(p) in twin]}
        for g in original.param_groups
    ]
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise CourseError("The optimizer holds none of the model's parameters: build it from model.parameters().")
    lr = original.param_groups[0].get("lr", float("nan"))
    return type(original)(groups, **original.defaults), f"your {type(original).__name__} (lr {lr:g})"


def _loss_floor(probe: Probe, num_classes: int) -> float:
    """The smallest loss reachable: 0, or the entropy of the smoothed targets with label smoothing."""
    eps = getattr(probe.loss_fn, "label_smoothing", 0.0) if loss_kind(probe.loss_fn) == "cross_entropy" else 0.0
    if not eps or num_classes < 2:
        return 0.0
    high, low = 1 - eps + eps / num_classes, eps / num_classes
    return -(high * math.log(high) + (num_classes - 1) * low * math.log(low))


def check_overfit_one_batch(probe: Probe) -> Outcome:
    """A copy of the model (dropout off) memorises the first few samples: the loss falls below ``overfit_loss``."""
    from torch.nn.modules.dropout import _DropoutNd

    opts = probe.options
    x, y = probe.batches[0]
    samples, steps, limit = opts.get("overfit_samples", 8), opts.get("overfit_steps", 300), opts.get("time_limit", 30)
    x, y = x[:samples], y[:samples]
    clone = working_copy(probe.model, train=True)
    for m in clone.modules():
        if isinstance(m, _DropoutNd):
            m.eval()  # regularisation is meant to stop memorising; switched off for this check, as is usual
    optimizer, which = _optimizer_for(probe, clone)
    fraction = opts.get("overfit_loss", 0.05)
    target = _loss_floor(probe, probe.num_classes) + fraction  # classification: near the smallest possible loss
    start, first, value = time.perf_counter(), None, math.nan
    for step in range(1, steps + 1):
        optimizer.zero_grad(set_to_none=True)
        loss = mean_loss(probe.loss_fn, clone(x), y)
        value = float(loss.detach())
        if first is None:
            first = value
            if probe.kind == "other":  # a regression loss has its own units: ask it to fall to a fraction of its start
                target = fraction * abs(first)
        details = {"first": first, "last": value, "steps": step, "target": target}
        if not math.isfinite(value):
            return Outcome(
                "failed",
                f"The loss became {value} at step {step} of training on {len(x)} samples with {which}: lower the "
                "learning rate, or look for log(0) or a division by zero in the model.",
                details,
            )
        if value <= target:
            return Outcome(
                "passed",
                f"{which} memorised {len(x)} samples: loss {first:.3f} → {value:.4f} (below {target:.3f}) in {step} "
                "steps (dropout off)",
                details,
            )
        if time.perf_counter() - start > limit:
            return Outcome(
                "failed",
                f"Training on {len(x)} samples took longer than {limit:g} s ({step} steps, loss {first:.3f} → "
                f"{value:.3f}): run the check on a GPU, or give it time_limit= or fewer overfit_samples=.",
                details,
            )
        loss.backward()
        optimizer.step()
    return Outcome(
        "failed",
        f"After {steps} steps with {which}, the loss on the same {len(x)} samples is still {value:.3f} (from "
        f"{first:.3f}, want below {target:.3f}): the model cannot memorise one small batch, so check that its "
        "output depends on its input (nothing detached, no constant output), that it is large enough, and that "
        "the learning rate is not too small.",
        details,
    )
