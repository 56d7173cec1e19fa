"""Test accuracy of the fast network, with test-time augmentation (TTA).

TTA averages the logits of a few transformed copies of each test image. Level 1 averages
the image and its mirror image; level 2 also averages, with equal total weight, the
mirrored pairs of the image shifted by one pixel up-left and down-right (borders
reflected), six forward passes per image in all.

Example:
    >>> accuracy = evaluate_fast(model, xt, yt, tta=2)   # doctest: +SKIP
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.cifar import CIFAR10_MEAN, CIFAR10_STD
from ..errors import CourseError
from .data import normalize, translate
from .optim import autocast_context


def _mirror_mean(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return 0.5 * model(x).float() + 0.5 * model(x.flip(-1)).float()


def tta_logits(model: nn.Module, x: torch.Tensor, level: int) -> torch.Tensor:
    """Logits ``(B, classes)`` float32 of a normalised batch ``(B, C, H, W)`` with TTA ``level`` 0, 1 or 2."""
    if level == 0:
        return model(x).float()
    if level == 1:
        return _mirror_mean(model, x)
    if level == 2:
        b = len(x)
        shifted = [translate(x, torch.full((b, 2), s, device=x.device), "reflect") for s in (-1, 1)]
        shifted = [s.contiguous(memory_format=torch.channels_last) for s in shifted]
        moved = 0.5 * (_mirror_mean(model, shifted[0]) + _mirror_mean(model, shifted[1]))
        return 0.5 * _mirror_mean(model, x) + 0.5 * moved
    raise CourseError(f"tta must be 0 (none), 1 (mirror) or 2 (mirror and shifts); got {level!r}.")


@torch.no_grad()
def predict_fast(
    model: nn.Module,
    images: torch.Tensor,
    *,
    tta: int = 0,
    batch_size: int = 2000,
    autocast: torch.dtype | None = None,
    channels_last: bool = True,
) -> torch.Tensor:
    """Logits ``(N, classes)`` float32 for uint8 images ``(N, 3, 32, 32)`` on the model's device, in eval mode.

    The model's train/eval mode is restored afterwards.

    Args:
        model: the network; images are normalised with CIFAR-10's statistics first.
        images: uint8 ``(N, 3, 32, 32)``.
        tta: 0 (none), 1 (mirror) or 2 (mirror and one-pixel shifts).
        batch_size: images per forward pass.
        autocast: ``torch.bfloat16`` or ``torch.float16`` to run under autocast, None for float32.
        channels_last: feed channels-last batches.
    """
    device = images.device
    mean = torch.tensor(CIFAR10_MEAN, device=device)
    std = torch.tensor(CIFAR10_STD, device=device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    was_training = model.training
    model.eval()
    try:
        outputs = []
        for start in range(0, len(images), batch_size):
            x = normalize(images[start : start + batch_size], mean, std, autocast or torch.float32)
            with autocast_context(device, autocast):
                outputs.append(tta_logits(model, x.contiguous(memory_format=fmt), tta))
        return torch.cat(outputs)
    finally:
        model.train(was_training)


def evaluate_fast(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    tta: int = 0,
    batch_size: int = 2000,
    autocast: torch.dtype | None = None,
    channels_last: bool = True,
) -> float:
    """The fraction of uint8 test images ``(N, 3, 32, 32)`` whose label ``(N,)`` is the arg-max logit.

    Example:
        >>> evaluate_fast(model, xt, yt, tta=1)   # doctest: +SKIP
        0.9312
    """
    if len(images) != len(labels) or len(images) == 0:
        raise CourseError(f"evaluate_fast needs as many labels as images (> 0); got {len(images)} and {len(labels)}.")
    logits = predict_fast(model, images, tta=tta, batch_size=batch_size, autocast=autocast, channels_last=channels_last)
    return (logits.argmax(1) == labels.to(logits.device)).float().mean().item()
