"""Evaluation, and the pieces of one batch that fit shares with it.

:func:`evaluate` averages a loss and metrics over a loader without gradients.
The helpers below move an ``(inputs, targets)`` batch to the device, choose the
autocast context, spot class scores, and turn the errors a learner causes (a
batch on the wrong device, an output that does not fit the loss) into one
sentence that says what to do.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import CourseError
from .train_options import choose_precision

if TYPE_CHECKING:
    import torch
    from torch import nn

_POINTWISE_LOSSES = ("MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _device_error(exc: BaseException) -> CourseError | None:
    msg = _first_line(exc)
    if "same device" in msg or ("device" in msg and "expected" in msg.lower()):
        return CourseError(
            f"Tensors on different devices met inside the model or the loss ({msg}): pass device= to fit/evaluate "
            "and keep every tensor the model uses in a parameter or buffer, so that model.to(device) moves it."
        )
    return None


def _forward_error(exc: RuntimeError, x: torch.Tensor) -> CourseError | None:
    msg = _first_line(exc)
    if any(word in msg for word in ("shape", "size", "mat1", "channels", "dimension")):
        return CourseError(
            f"The model could not process a batch of shape {tuple(x.shape)} ({msg}): run "
            "course_utils.trace_shapes(model, x) to find the first layer that does not fit."
        )
    return None


def _loss_error(msg: str, out: torch.Tensor, y: torch.Tensor, loss_fn: Any) -> CourseError:
    name = getattr(loss_fn, "__name__", type(loss_fn).__name__)
    return CourseError(
        f"{name} could not compare the model's output of shape {tuple(out.shape)} ({out.dtype}) with targets of "
        f"shape {tuple(y.shape)} ({y.dtype}) ({msg}): make the last layer give what the loss expects, e.g. "
        "(N, num_classes) scores and (N,) class indices for CrossEntropyLoss."
    )


def _unpack(batch: Any, device: torch.device, non_blocking: bool) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    if not (isinstance(batch, (tuple, list)) and len(batch) == 2 and isinstance(batch[0], torch.Tensor)):
        raise CourseError(
            f"Each batch should be a pair (inputs, targets) of tensors, as a DataLoader over a labelled data set "
            f"gives, not {type(batch).__name__}: wrap your data in a TensorDataset or return (x, y) from __getitem__."
        )
    return batch[0].to(device, non_blocking=non_blocking), batch[1].to(device, non_blocking=non_blocking)


def _resolve_device(model: nn.Module, device: Any) -> torch.device:
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


def _autocast(precision: str, device: torch.device) -> Any:
    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def _is_classification(out: torch.Tensor, y: torch.Tensor) -> bool:
    return out.ndim >= 2 and out.shape[1] > 1 and not y.is_floating_point() and y.ndim == out.ndim - 1


def evaluate(
    model: nn.Module,
    loader: Iterable[Any],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    *,
    device: Any = None,
    amp: bool | None = None,
    metrics: Mapping[str, Callable[[torch.Tensor, torch.Tensor], Any]] | None = None,
) -> dict[str, float]:
    """Average loss and metrics of ``model`` over ``loader``, without gradients, in eval mode.

    Args:
        model: maps inputs ``(N, ...)`` to outputs, e.g. scores ``(N, num_classes)``.
        loader: yields ``(inputs, targets)`` pairs.
        loss_fn: when given, ``"loss"`` is the sample-weighted mean loss.
        device: where to run; ``None`` keeps the model where it is.
        amp: mixed precision, as in :func:`fit`.
        metrics: extra ``name -> fn(outputs, targets)`` giving a batch mean, averaged
            over samples. ``"acc"`` is added for class scores with integer targets: the fraction
            of correct predictions (of pixels, for ``(N, C, H, W)`` scores and ``(N, H, W)`` targets).

    Returns:
        A dict such as ``{"loss": 0.41, "acc": 0.87}``. The model's train/eval mode is put back.

    Example:
        >>> evaluate(model, test_loader, nn.CrossEntropyLoss())   # doctest: +SKIP
        {'loss': 0.41, 'acc': 0.87}
    """
    import torch

    device = _resolve_device(model, device)
    model.to(device)
    if isinstance(loss_fn, torch.nn.Module):
        loss_fn.to(device)
    autocast = _autocast(choose_precision(amp, device), device)
    sums: dict[str, Any] = {}
    seen, compared = 0, 0  # samples; target elements compared for "acc" (pixels, for per-pixel targets)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in loader:
                x, y = _unpack(batch, device, device.type == "cuda")
                n = len(y)
                with autocast:
                    out = model(x)
                    if loss_fn is not None:
                        sums["loss"] = sums.get("loss", 0.0) + loss_fn(out, y).detach().float() * n
                if _is_classification(out, y):
                    sums["acc"] = sums.get("acc", 0) + (out.argmax(1) == y).sum()
                    compared += y.numel()
                for name, fn in (metrics or {}).items():
                    sums[name] = sums.get(name, 0.0) + torch.as_tensor(fn(out, y)).float() * n
                seen += n
    except RuntimeError as exc:
        error = _device_error(exc)
        if error is None:
            raise
        raise error from exc
    finally:
        model.train(was_training)
    if seen == 0:
        raise CourseError("The loader gave no batches to evaluate: check that its data set is not empty.")
    return {name: float(total) / (compared if name == "acc" else seen) for name, total in sums.items()}
