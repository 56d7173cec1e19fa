"""The course's fast CIFAR-10 network: a whitening stem, then conv-pool-BatchNorm groups.

The shape follows the small VGG/ResNet-9 family that the fast CIFAR-10 records were set
with (Page, 2018, "How to train your ResNet"; Jordan, 2024, "94% on CIFAR-10 in 3.29
seconds on a single GPU", arXiv:2404.00498):

    stem     2x2 convolution whose filters whiten image patches (fixed), GELU     (N, 24, 31, 31)
    group k  conv 3x3 -> max-pool 2 -> BatchNorm -> GELU -> conv 3x3 -> BatchNorm -> GELU
    head     global max-pool -> linear -> times a fixed scale                     (N, 10)

Choices that make it train in few steps:

- The stem's filters are the eigenvectors of the 2x2 patch covariance of the training
  images, each divided by the square root of its eigenvalue, with their negatives beside
  them (so a ReLU-like activation keeps both signs): its output is whitened, which the
  rest of the network learns from faster. Only its bias is trained, for the first epochs.
- Each group's first convolution starts as an identity on its input channels
  (``nn.init.dirac_``), so a fresh network passes its input through.
- BatchNorm layers learn a shift only (their scale stays 1) and use a small epsilon.
- The logits are multiplied by a fixed 1/9, which tempers the first steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import CourseError

WHITEN_SIZE = 2  # pixels: the stem's kernel size


def _norm(channels: int, momentum: float) -> nn.BatchNorm2d:
    norm = nn.BatchNorm2d(channels, eps=1e-12, momentum=momentum)
    norm.weight.requires_grad_(False)  # the scale stays 1: a shift is all this network needs
    return norm


def _conv(c_in: int, c_out: int) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, 3, padding="same", bias=False)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[: min(c_in, c_out)])  # the first filters pass their input channel through
    return conv


def _group(c_in: int, c_out: int, momentum: float) -> nn.Sequential:
    return nn.Sequential(
        _conv(c_in, c_out),
        nn.MaxPool2d(2),  # halves H and W
        _norm(c_out, momentum),
        nn.GELU(),
        _conv(c_out, c_out),
        _norm(c_out, momentum),
        nn.GELU(),
    )


def fast_net(
    widths: Sequence[int] = (64, 256, 256),
    *,
    num_classes: int = 10,
    bn_momentum: float = 0.4,
    logit_scale: float = 1 / 9,
) -> nn.Sequential:
    """The fast network: a 2x2 whitening stem, one conv group per entry of ``widths``, a linear head.

    Args:
        widths: output channels of each conv group (each group halves the image size, so
            32x32 inputs allow at most 4 groups).
        num_classes: outputs of the head.
        bn_momentum: BatchNorm's momentum in PyTorch's convention (the weight of the new batch).
        logit_scale: the fixed factor the logits are multiplied by.

    Returns:
        ``nn.Sequential(stem, act, group_1, ..., group_k, pool, flatten, linear, scale)``: input
        ``(N, 3, 32, 32)``, output ``(N, num_classes)``. ``model[0]`` is the stem; until
        :func:`init_whitening` sets its filters, they are random.

    Example:
        >>> model = fast_net((64, 256, 256))
        >>> model(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    widths = tuple(int(w) for w in widths)
    if not 1 <= len(widths) <= 4 or min(widths) < 1:
        raise CourseError(f"widths must hold 1 to 4 positive channel counts (one per group); got {widths}.")
    stem_width = 2 * 3 * WHITEN_SIZE**2  # 24: each whitening filter and its negative
    stem = nn.Conv2d(3, stem_width, WHITEN_SIZE, padding=0, bias=True)
    stem.weight.requires_grad_(False)
    layers: list[nn.Module] = [stem, nn.GELU()]
    c_in = stem_width
    for width in widths:
        layers.append(_group(c_in, width, bn_momentum))
        c_in = width
    layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes, bias=False), Scale(logit_scale)]
    return nn.Sequential(*layers)


class Scale(nn.Module):
    """Multiply by a fixed number: ``y = scale * x`` (the last layer of :func:`fast_net`)."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale

    def extra_repr(self) -> str:
        return f"scale={self.scale:.4g}"


def whitening_filters(images: torch.Tensor, size: int = WHITEN_SIZE, eps: float = 5e-4) -> torch.Tensor:
    """Filters that whiten the ``size x size`` patches of ``images``, and their negatives.

    The patch vectors ``p`` (length ``C * size * size``) have second-moment matrix
    ``S = mean(p p^T) = V diag(l) V^T``; filter ``i`` is ``v_i / sqrt(l_i + eps)``, so the
    filter responses are uncorrelated with unit variance. Largest eigenvalue first.

    Args:
        images: ``(N, C, H, W)`` normalised float images.
        size: the patch (kernel) size.
        eps: added to each eigenvalue, so near-constant directions are not blown up.

    Returns:
        ``(2 * C * size * size, C, size, size)`` float32 on ``images``' device: the filters, then their negatives.
    """
    c = images.shape[1]
    patches = images.float().unfold(2, size, 1).unfold(3, size, 1)  # (N, C, H', W', size, size)
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * size * size)  # (N * H' * W', C * size * size)
    moment = (patches.T @ patches / len(patches)).double().cpu()  # (D, D), small: solved on the CPU in float64
    eigenvalues, eigenvectors = torch.linalg.eigh(moment)  # ascending
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    filters = (eigenvectors.T / torch.sqrt(eigenvalues.clamp_min(0) + eps)[:, None]).reshape(-1, c, size, size)
    return torch.cat([filters, -filters]).float().to(images.device)


def init_whitening(model: nn.Sequential, images: torch.Tensor, eps: float = 5e-4) -> None:
    """Set the stem's filters (``model[0]``) from normalised training images ``(N, 3, 32, 32)``; bias to 0."""
    stem = model[0]
    filters = whitening_filters(images, stem.kernel_size[0], eps)
    if filters.shape != stem.weight.shape:
        raise CourseError(f"The stem has filters {tuple(stem.weight.shape)}, the images give {tuple(filters.shape)}.")
    with torch.no_grad():
        stem.weight.copy_(filters)
        stem.bias.zero_()
