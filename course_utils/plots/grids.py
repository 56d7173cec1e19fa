"""Grids of pictures: images, convolution filters and feature maps, one Axes per tile.

Each function takes ``fig=None``, makes a new figure only when none is given,
returns it, and checks its input before drawing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import CourseError

if TYPE_CHECKING:
    import torch
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["as_tensor", "denormalize", "plot_feature_maps", "plot_images", "plot_kernels"]


def as_tensor(value: Any, what: str) -> torch.Tensor:
    """``value`` (a tensor, an array, a list of numbers or of same-shaped tensors) as a CPU tensor; ``what`` names it in errors."""
    import numpy as np
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, np.ndarray) or (isinstance(value, (list, tuple)) and value and not hasattr(value[0], "shape")):
        return torch.as_tensor(np.asarray(value))
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, torch.Tensor) for v in value):
        if len({tuple(v.shape) for v in value}) != 1:
            raise CourseError(f"The {what} in the list have different shapes; resize them to one size first.")
        return torch.stack([v.detach().cpu() for v in value])
    raise CourseError(f"{what} should be a tensor or an array, not {type(value).__name__}.")


def denormalize(images: Any, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Undo ``transforms.Normalize(mean, std)``: ``x * std[c] + mean[c]`` per channel, as float.

    ``images`` is ``(N, C, H, W)`` or ``(C, H, W)``; ``mean`` and ``std`` have one
    value per channel (or one value for all).

    Example:
        >>> denormalize(torch.zeros(1, 3, 2, 2), (0.5, 0.4, 0.3), (0.2, 0.2, 0.2))[0, :, 0, 0]
        tensor([0.5000, 0.4000, 0.3000])
    """
    import torch

    x = as_tensor(images, "images").float()
    if x.dim() not in (3, 4):
        raise CourseError(f"images should have shape (N, C, H, W) or (C, H, W), not {tuple(x.shape)}.")
    channels = x.shape[-3]
    m = torch.as_tensor(mean, dtype=torch.float32).flatten()
    s = torch.as_tensor(std, dtype=torch.float32).flatten()
    for name, v in (("mean", m), ("std", s)):
        if v.numel() not in (1, channels):
            raise CourseError(
                f"{name} has {v.numel()} values but the images have {channels} channels: give one per channel."
            )
    return x * s.reshape(-1, 1, 1) + m.reshape(-1, 1, 1)


def _grid(fig: Figure | None, n: int, ncols: int, tile: float) -> tuple[Figure, list[Axes]]:
    import matplotlib.pyplot as plt

    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    if fig is None:
        fig = plt.figure(figsize=(tile * ncols, tile * nrows + 0.3))
    else:
        fig.clear()
    axes = list(fig.subplots(nrows, ncols, squeeze=False).flat)
    for ax in axes:
        ax.set_axis_off()
    return fig, axes[:n]


def _label_text(label: Any, class_names: Sequence[str] | None) -> str:
    if hasattr(label, "item"):
        label = label.item()
    if class_names is not None and isinstance(label, int):
        if not 0 <= label < len(class_names):
            raise CourseError(f"Label {label} has no name: class_names has {len(class_names)} entries.")
        return str(class_names[label])
    return str(label)


def plot_images(
    images: Any,
    labels: Sequence[Any] | None = None,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    class_names: Sequence[str] | None = None,
    ncols: int = 8,
    fig: Figure | None = None,
) -> Figure:
    """A grid of images ``(N, C, H, W)`` (C = 1 or 3, values in [0, 1] after denormalising), one Axes each.

    Give ``mean``/``std`` of the ``Normalize`` transform to undo it; values are
    then clipped to [0, 1]. ``labels`` (ints with ``class_names``, or strings)
    become titles. Returns the Figure.

    Example:
        >>> x, y = next(iter(train_loader))                          # (N, 3, 32, 32), (N,)
        >>> plot_images(x[:16], y[:16], mean=MEAN, std=STD, class_names=CLASSES);
    """
    import torch

    x = as_tensor(images, "images")
    x = x.float() / 255 if x.dtype == torch.uint8 else x.float()  # uint8 images are 0 .. 255
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[1] not in (1, 3) or x.shape[0] == 0:
        raise CourseError(f"images should have shape (N, C, H, W) with C = 1 or 3, not {tuple(x.shape)}.")
    if (mean is None) != (std is None):
        raise CourseError("Give both mean and std (those of your Normalize transform), or neither.")
    if mean is not None:
        x = denormalize(x, mean, std)
    x = x.clamp(0, 1)
    if labels is not None and len(labels) != len(x):
        raise CourseError(f"There are {len(x)} images but {len(labels)} labels: give one label per image.")
    titles = [_label_text(label, class_names) for label in labels] if labels is not None else None
    fig, axes = _grid(fig, len(x), ncols, 1.4)
    for i, ax in enumerate(axes):
        if x.shape[1] == 1:
            ax.imshow(x[i, 0].numpy(), cmap="gray", vmin=0, vmax=1)
        else:
            ax.imshow(x[i].permute(1, 2, 0).numpy())  # (H, W, 3)
        if titles:
            ax.set_title(titles[i], fontsize="small")
    return fig


def plot_kernels(
    weight: Any,
    *,
    ncols: int | None = None,
    rgb: bool | None = None,
    max_out: int = 64,
    max_in: int = 8,
    fig: Figure | None = None,
) -> Figure:
    """Show convolution filters: ``weight`` is ``(C_out, C_in, k, k)``, a ``(k, k)`` kernel or an ``nn.Conv2d``.

    With ``C_in == 3`` (a first layer) each filter is one RGB tile, rescaled to
    [0, 1] per filter. Otherwise there is one tile per (output, input) channel
    pair, one row per output channel (one tile per filter when ``C_in == 1``),
    in a red-blue colour map centred on 0 and shared by all tiles, so signs and
    sizes compare across tiles. Only the first ``max_out`` output and
    ``max_in`` input channels are drawn. Returns the Figure.

    Example:
        >>> plot_kernels(model.conv1);               # (64, 3, 7, 7): 64 RGB tiles
        >>> plot_kernels(get_kernel("sobel_x"));     # one (3, 3) tile
    """
    w = getattr(weight, "weight", weight)
    w = as_tensor(w, "weight").float()
    if w.dim() == 2:
        w = w[None, None]
    if w.dim() != 4:
        raise CourseError(f"weight should have shape (C_out, C_in, k, k) or (k, k), not {tuple(w.shape)}.")
    w = w[:max_out]
    rgb = w.shape[1] == 3 if rgb is None else rgb
    if rgb and w.shape[1] != 3:
        raise CourseError(f"rgb=True needs 3 input channels, but the weight has {w.shape[1]}.")
    if rgb:
        low = w.amin(dim=(1, 2, 3), keepdim=True)
        span = (w.amax(dim=(1, 2, 3), keepdim=True) - low).clamp_min(1e-12)
        tiles = ((w - low) / span).permute(0, 2, 3, 1)  # (C_out, k, k, 3)
        fig, axes = _grid(fig, len(tiles), ncols or 8, 1.0)
        for ax, tile in zip(axes, tiles):
            ax.imshow(tile.numpy(), interpolation="nearest")
        return fig
    w = w[:, :max_in]
    tiles = w.reshape(-1, *w.shape[-2:])  # (C_out * C_in, k, k)
    vmax = float(w.abs().max()) or 1.0
    fig, axes = _grid(fig, len(tiles), ncols or (w.shape[1] if w.shape[1] > 1 else 8), 0.9 if len(tiles) > 1 else 2.5)
    for ax, tile in zip(axes, tiles):
        ax.imshow(tile.numpy(), cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    return fig


def plot_feature_maps(
    maps: Any,
    *,
    index: int = 0,
    max_maps: int = 32,
    ncols: int = 8,
    cmap: str = "viridis",
    fig: Figure | None = None,
) -> Figure:
    """One tile per channel of a feature map ``(C, H, W)``, or of image ``index`` of ``(N, C, H, W)``.

    Each tile has its own colour scale (titled with the channel number); at most
    ``max_maps`` channels are shown. Returns the Figure.

    Example:
        >>> with capture_activations(model, "features.0") as acts:
        ...     model(x)
        >>> plot_feature_maps(acts["features.0"][0]);   # (N, 64, 32, 32): image 0, 32 channels
    """
    m = as_tensor(maps, "maps").float()
    if m.dim() == 4:
        if not -len(m) <= index < len(m):
            raise CourseError(f"index={index} is outside the batch of {len(m)} feature maps.")
        m = m[index]
    if m.dim() != 3 or m.shape[0] == 0:
        raise CourseError(f"maps should have shape (N, C, H, W) or (C, H, W), not {tuple(m.shape)}.")
    m = m[:max_maps]
    fig, axes = _grid(fig, len(m), ncols, 1.2)
    for c, ax in enumerate(axes):
        ax.imshow(m[c].numpy(), cmap=cmap)
        ax.set_title(str(c), fontsize="x-small")
    return fig
