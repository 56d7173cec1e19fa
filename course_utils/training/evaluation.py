"""Evaluation: :func:`evaluate` averages a loss and metrics over a loader without gradients.

It shares the batch handling of :func:`~course_utils.fit` (device, precision,
error sentences) through :mod:`course_utils.training.runtime`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import CourseError
from .runtime import autocast, choose_precision, device_error, is_classification, resolve_device, unpack

if TYPE_CHECKING:
    import torch
    from torch import nn


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

    device = resolve_device(model, device)
    model.to(device)
    if isinstance(loss_fn, torch.nn.Module):
        loss_fn.to(device)
    context = autocast(choose_precision(amp, device), device)
    sums: dict[str, Any] = {}
    seen, compared = 0, 0  # samples; target elements compared for "acc" (pixels, for per-pixel targets)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in loader:
                x, y = unpack(batch, device, device.type == "cuda")
                n = len(y)
                with context:
                    out = model(x)
                    if loss_fn is not None:
                        sums["loss"] = sums.get("loss", 0.0) + loss_fn(out, y).detach().float() * n
                if is_classification(out, y):
                    sums["acc"] = sums.get("acc", 0) + (out.argmax(1) == y).sum()
                    compared += y.numel()
                for name, fn in (metrics or {}).items():
                    sums[name] = sums.get(name, 0.0) + torch.as_tensor(fn(out, y)).float() * n
                seen += n
    except RuntimeError as exc:
        error = device_error(exc)
        if error is None:
            raise
        raise error from exc
    finally:
        model.train(was_training)
    if seen == 0:
        raise CourseError("The loader gave no batches to evaluate: check that its data set is not empty.")
    return {name: float(total) / (compared if name == "acc" else seen) for name, total in sums.items()}
