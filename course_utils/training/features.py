"""Feature extraction: run a (frozen) network over a data set once and keep what it outputs.

A linear probe (Alain & Bengio, 2016, "Understanding intermediate layers using linear
classifier probes") trains only a linear classifier on top of a network that does not
change, so the network's outputs for the training images are the same in every epoch.
Computing them once and training the classifier on the stored features is then many times
faster than running the network in every step. :func:`extract_features` does that pass:
evaluation mode (batch norm uses its running statistics, dropout is off), no gradients,
the model's previous mode put back afterwards, the features gathered on the CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..errors import CourseError
from .runtime import resolve_device

if TYPE_CHECKING:
    import torch
    from torch import nn


def _pair(batch: Any, number: int) -> tuple[Any, Any]:
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise CourseError(
        f"extract_features expects a loader of (inputs, labels) pairs, but batch {number} is "
        f"{type(batch).__name__}{f' of {len(batch)} items' if isinstance(batch, (tuple, list)) else ''}; "
        "wrap your tensors in a TensorDataset(images, labels) and a DataLoader."
    )


def extract_features(
    model: nn.Module,
    loader: Iterable[Any],
    *,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    device: Any = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The outputs of ``model`` on every batch of ``loader``, flattened per sample, with the labels.

    Args:
        model: maps a batch ``(B, C, H, W)`` to features, e.g. a backbone whose head is
            ``nn.Identity()``: ``(B, D)``; any other output shape is flattened to ``(B, -1)``.
        loader: yields ``(inputs, labels)`` pairs, e.g. a ``DataLoader``.
        transform: applied to each input batch on ``device`` before the model (e.g. uint8
            images to normalised floats); None uses the inputs as they come.
        device: where to run; None keeps the model where it is. The model is left there.

    Returns:
        ``(features, labels)``: ``(N, D)`` features in the model's dtype and ``(N,)`` labels, both on the CPU,
        in the loader's order. The model is run in eval mode without gradients and its
        train/eval mode is put back afterwards.

    Raises:
        CourseError: when a batch is not an ``(inputs, labels)`` pair or the loader is empty.

    Example:
        >>> backbone.fc = nn.Identity()                                  # doctest: +SKIP
        >>> feats, labels = extract_features(backbone, test_loader)      # (N, 128), (N,)
    """
    import torch

    device = resolve_device(model, device)
    model.to(device)
    was_training = model.training
    features, labels = [], []
    model.eval()
    try:
        with torch.no_grad():
            for number, batch in enumerate(loader, start=1):
                inputs, targets = _pair(batch, number)
                inputs = inputs.to(device)
                if transform is not None:
                    inputs = transform(inputs)
                out = model(inputs)
                features.append(out.reshape(out.shape[0], -1).cpu())
                labels.append(torch.as_tensor(targets).cpu())
    finally:
        model.train(was_training)
    if not features:
        raise CourseError("extract_features got an empty loader: there are no images to extract features from.")
    return torch.cat(features), torch.cat(labels)
