"""The fast recipe's optimiser, learning-rate schedule, weight average and precision.

- :func:`make_optimizer`: SGD with (Nesterov) momentum; BatchNorm shifts in their own
  group with a larger step, the stem's bias in a third group so it can be frozen by
  giving it a zero rate (no recompilation under ``torch.compile``).
- :func:`triangle_schedule`: a linear warm-up to the peak rate, then a linear decay
  (Smith, 2017, "Cyclical learning rates"; the one-cycle shape).
- :class:`LookaheadAverage`: an exponential moving average of the weights into which the
  weights are reset every few steps (Zhang et al., 2019, "Lookahead optimizer"; the
  averaging of airbench94).
- :func:`autocast_dtype`: which reduced precision to use on a device.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from ..errors import CourseError
from .config import FastConfig


def triangle_schedule(total_steps: int, warmup_fraction: float, start: float, end: float) -> list[float]:
    """Factors on the peak rate for steps ``0..total_steps``: ``start`` up to 1 at the peak, then down to ``end``.

    The peak is at step ``int(warmup_fraction * total_steps)``; both sides are straight lines.

    Example:
        >>> [round(f, 2) for f in triangle_schedule(4, 0.5, 0.0, 0.5)]
        [0.0, 0.5, 1.0, 0.75, 0.5]
    """
    if total_steps < 1:
        raise CourseError(f"The schedule needs at least one step; got {total_steps}.")
    peak = int(warmup_fraction * total_steps)
    factors = []
    for step in range(total_steps + 1):
        if step < peak:
            factors.append(start + (1.0 - start) * step / peak)
        elif step == peak or peak == total_steps:
            factors.append(1.0)
        else:
            factors.append(1.0 + (end - 1.0) * (step - peak) / (total_steps - peak))
    return factors


def parameter_groups(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter], list[nn.Parameter]]:
    """The trainable parameters of a :func:`~course_utils.fast.net.fast_net` as (stem bias, BatchNorm shifts, others)."""
    stem = [p for p in model[0].parameters() if p.requires_grad]
    norms = [p for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters() if p.requires_grad]
    taken = {id(p) for p in stem + norms}
    others = [p for p in model.parameters() if p.requires_grad and id(p) not in taken]
    return stem, norms, others


def make_optimizer(model: nn.Module, cfg: FastConfig) -> torch.optim.SGD:
    """SGD over three groups, in this order: the stem's bias, the BatchNorm shifts, everything else.

    Each group carries its ``name`` (``"stem"``, ``"norm"``, ``"other"``) and its peak rate
    ``base_lr``; the training loop sets ``lr`` to ``base_lr`` times the schedule's factor each step.
    """
    stem, norms, others = parameter_groups(model)
    lr, wd = cfg.peak_lr, cfg.weight_decay
    groups = [
        {"name": "stem", "params": stem, "base_lr": lr, "weight_decay": wd},
        {"name": "norm", "params": norms, "base_lr": lr * cfg.bias_lr_scale, "weight_decay": wd / cfg.bias_lr_scale},
        {"name": "other", "params": others, "base_lr": lr, "weight_decay": wd},
    ]
    groups = [dict(g, lr=g["base_lr"]) for g in groups if g["params"]]
    return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0)


class LookaheadAverage:
    """An exponential moving average of a model's floating-point state, into which the model is reset.

    ``update(model, decay)`` does ``avg = decay * avg + (1 - decay) * w`` and then ``w = avg``
    for every parameter and floating-point buffer (BatchNorm's running statistics too).

    Example:
        >>> avg = LookaheadAverage(model)              # doctest: +SKIP
        >>> avg.update(model, decay=0.77)              # every few steps
    """

    def __init__(self, model: nn.Module) -> None:
        self.average = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float) -> None:
        state = model.state_dict()
        for name, avg in self.average.items():
            avg.lerp_(state[name], 1.0 - decay)
            state[name].copy_(avg)


def average_decay(step: int, total_steps: int, cfg: FastConfig) -> float:
    """The decay of the average at ``step``: ``ema_decay ** ema_every * (step / total) ** ema_warmup_power``."""
    return cfg.ema_decay**cfg.ema_every * (step / total_steps) ** cfg.ema_warmup_power


def has_native_bf16(device: torch.device) -> bool:
    """Whether a CUDA device computes in bfloat16 natively (compute capability 8.0 or later: A100, H100, L4...).

    ``torch.cuda.is_bf16_supported()`` also answers True where bfloat16 is only emulated (a T4, 7.5),
    which is slower than float16 there.
    """
    return torch.cuda.get_device_capability(device)[0] >= 8


def autocast_dtype(choice: str | None, device: torch.device) -> torch.dtype | None:
    """The reduced precision for ``choice`` on ``device``: bfloat16, float16 or None (float32).

    ``"auto"``: bfloat16 on a CUDA GPU that supports it, float16 on an older one (e.g. a T4,
    trained with a gradient scaler), float32 on a CPU or MPS device (autocast there is
    often slower than float32).

    Example:
        >>> autocast_dtype("auto", torch.device("cpu")) is None
        True
    """
    if choice is None:
        return None
    if choice == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if has_native_bf16(device) else torch.float16
    if choice == "fp16":
        if device.type != "cuda":
            raise CourseError("fp16 autocast needs a CUDA GPU; use autocast='bf16' or None on this device.")
        return torch.float16
    if choice == "bf16":
        if device.type == "cuda" and not has_native_bf16(device):
            raise CourseError("This GPU has no bfloat16; use autocast='fp16' (with a gradient scaler) or 'auto'.")
        return torch.bfloat16
    raise CourseError(f"autocast must be 'auto', 'bf16', 'fp16' or None; got {choice!r}.")


def autocast_context(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[object]:
    """``torch.autocast(device.type, dtype=dtype)``, or a context that does nothing when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
