"""What :func:`~course_utils.fit` and :func:`~course_utils.evaluate` share for one batch.

Choosing the device and the precision (Micikevicius et al., "Mixed Precision
Training", 2018: bfloat16 where the device supports it, float16 with a gradient
scaler otherwise), moving an ``(inputs, targets)`` batch there, spotting class
scores, and turning the errors a learner causes (a batch on the wrong device, an
output that does not fit the loss, a loss that is not finite) into one sentence
that says what to do. Internal to :mod:`course_utils.training`.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from ..errors import CourseError

if TYPE_CHECKING:
    import torch
    from torch import nn

# Losses that compare outputs and targets element by element, so their shapes must match.
POINTWISE_LOSSES = ("MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss")


def resolve_device(model: nn.Module, device: Any) -> torch.device:
    """``device`` as a ``torch.device``; ``None`` means where the model's first parameter or buffer is (else the CPU).

    Example:
        >>> resolve_device(nn.Linear(2, 2), None)   # doctest: +SKIP
        device(type='cpu')
    """
    import torch

    if device is not None:
        device = torch.device(device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise CourseError(
                "You asked for device='cuda' but PyTorch sees no CUDA GPU: in Colab choose Runtime > Change runtime "
                "type > GPU, or pass device=get_device() to use what this machine has."
            )
        return device
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def choose_precision(amp: bool | None, device: torch.device) -> str:
    """The precision a run uses: ``"bf16"``, ``"fp16"`` (with a GradScaler) or ``"fp32"``.

    ``amp=None`` turns mixed precision on for CUDA GPUs only (where it pays off);
    ``amp=True`` turns it on everywhere: bfloat16 on CPUs and on GPUs that
    support it, float16 with a gradient scaler on older GPUs; ``amp=False`` is
    plain float32.

    Example:
        >>> choose_precision(None, torch.device("cpu"))   # doctest: +SKIP
        'fp32'
    """
    import torch

    if amp is None:
        amp = device.type == "cuda"
    if not isinstance(amp, bool):
        raise CourseError(f"amp should be True, False or None (automatic), not {amp!r}.")
    if not amp:
        return "fp32"
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "cpu":
        return "bf16"
    return "fp16"


def autocast(precision: str, device: torch.device) -> Any:
    """The autocast context for ``precision`` (a reusable no-op context for ``"fp32"``)."""
    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def unpack(batch: Any, device: torch.device, non_blocking: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``(inputs, targets)`` pair of a batch, moved to ``device``; anything else is explained."""
    import torch

    if not (isinstance(batch, (tuple, list)) and len(batch) == 2 and isinstance(batch[0], torch.Tensor)):
        raise CourseError(
            f"Each batch should be a pair (inputs, targets) of tensors, as a DataLoader over a labelled data set "
            f"gives, not {type(batch).__name__}: wrap your data in a TensorDataset or return (x, y) from __getitem__."
        )
    return batch[0].to(device, non_blocking=non_blocking), batch[1].to(device, non_blocking=non_blocking)


def is_classification(out: torch.Tensor, y: torch.Tensor) -> bool:
    """Class scores ``(N, C, ...)`` with ``C > 1`` and integer targets ``(N, ...)``: accuracy makes sense."""
    return out.ndim >= 2 and out.shape[1] > 1 and not y.is_floating_point() and y.ndim == out.ndim - 1


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (at most 200 characters), or its type's name."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def device_error(exc: BaseException) -> CourseError | None:
    """A sentence for "tensors on different devices", or None when ``exc`` is about something else."""
    msg = first_line(exc)
    if "same device" in msg or ("device" in msg and "expected" in msg.lower()):
        return CourseError(
            f"Tensors on different devices met inside the model or the loss ({msg}): pass device= to fit/evaluate "
            "and keep every tensor the model uses in a parameter or buffer, so that model.to(device) moves it."
        )
    return None


def forward_error(exc: RuntimeError, x: torch.Tensor) -> CourseError | None:
    """A sentence for a batch the model cannot process (a shape mismatch), or None."""
    msg = first_line(exc)
    if any(word in msg for word in ("shape", "size", "mat1", "channels", "dimension")):
        return CourseError(
            f"The model could not process a batch of shape {tuple(x.shape)} ({msg}): run "
            "course_utils.trace_shapes(model, x) to find the first layer that does not fit."
        )
    return None


def loss_error(msg: str, out: torch.Tensor, y: torch.Tensor, loss_fn: Any) -> CourseError:
    """A sentence for outputs the loss cannot compare with the targets."""
    name = getattr(loss_fn, "__name__", type(loss_fn).__name__)
    return CourseError(
        f"{name} could not compare the model's output of shape {tuple(out.shape)} ({out.dtype}) with targets of "
        f"shape {tuple(y.shape)} ({y.dtype}) ({msg}): make the last layer give what the loss expects, e.g. "
        "(N, num_classes) scores and (N,) class indices for CrossEntropyLoss."
    )


def nonfinite_error(value: float, epoch: int, index: int, lr: float) -> CourseError:
    """A sentence for a loss that became NaN or infinite at ``epoch`` (from 1), batch ``index`` (from 0)."""
    return CourseError(
        f"The loss became {value} at epoch {epoch}, batch {index + 1} (learning rate {lr:.3g}): "
        "lower the learning rate, clip gradients (grad_clip=1.0), or check the inputs for NaN values."
    )
