"""Figures the chapters draw again and again: image, filter and feature-map grids, curves, confusion matrices.

Every function takes ``ax=None`` (single plots) or ``fig=None`` (grids), makes a
new figure only when none is given, returns what it drew on, and never calls
``plt.show()``: the notebook decides when a figure appears (end the line with
``;`` to hide the returned object's text). Inputs are checked before a figure is
made, so a wrong input raises a :class:`~course_utils.errors.CourseError` and
leaves no empty figure behind. ``matplotlib`` is imported inside the functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .errors import CourseError

if TYPE_CHECKING:
    import torch
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "confusion_counts", "denormalize", "plot_confusion_matrix", "plot_feature_maps", "plot_images",
    "plot_kernels", "plot_lr_finder", "plot_training_curves",
]


def _tensor(value: Any, what: str) -> "torch.Tensor":
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


def denormalize(images: Any, mean: Sequence[float], std: Sequence[float]) -> "torch.Tensor":
    """Undo ``transforms.Normalize(mean, std)``: ``x * std[c] + mean[c]`` per channel, as float.

    ``images`` is ``(N, C, H, W)`` or ``(C, H, W)``; ``mean`` and ``std`` have one
    value per channel (or one value for all).

    Example:
        >>> denormalize(torch.zeros(1, 3, 2, 2), (0.5, 0.4, 0.3), (0.2, 0.2, 0.2))[0, :, 0, 0]
        tensor([0.5000, 0.4000, 0.3000])
    """
    import torch

    x = _tensor(images, "images").float()
    if x.dim() not in (3, 4):
        raise CourseError(f"images should have shape (N, C, H, W) or (C, H, W), not {tuple(x.shape)}.")
    channels = x.shape[-3]
    m = torch.as_tensor(mean, dtype=torch.float32).flatten()
    s = torch.as_tensor(std, dtype=torch.float32).flatten()
    for name, v in (("mean", m), ("std", s)):
        if v.numel() not in (1, channels):
            raise CourseError(f"{name} has {v.numel()} values but the images have {channels} channels: give one per channel.")
    return x * s.reshape(-1, 1, 1) + m.reshape(-1, 1, 1)


def _grid(fig: "Figure | None", n: int, ncols: int, tile: float) -> tuple["Figure", list["Axes"]]:
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
    images: Any, labels: Sequence[Any] | None = None, *, mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None, class_names: Sequence[str] | None = None, ncols: int = 8,
    fig: "Figure | None" = None,
) -> "Figure":
    """A grid of images ``(N, C, H, W)`` (C = 1 or 3, values in [0, 1] after denormalising), one Axes each.

    Give ``mean``/``std`` of the ``Normalize`` transform to undo it; values are
    then clipped to [0, 1]. ``labels`` (ints with ``class_names``, or strings)
    become titles. Returns the Figure.

    Example:
        >>> x, y = next(iter(train_loader))                          # (N, 3, 32, 32), (N,)
        >>> plot_images(x[:16], y[:16], mean=MEAN, std=STD, class_names=CLASSES);
    """
    import torch

    x = _tensor(images, "images")
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
    weight: Any, *, ncols: int | None = None, rgb: bool | None = None, max_out: int = 64, max_in: int = 8,
    fig: "Figure | None" = None,
) -> "Figure":
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
    w = _tensor(w, "weight").float()
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
    maps: Any, *, index: int = 0, max_maps: int = 32, ncols: int = 8, cmap: str = "viridis",
    fig: "Figure | None" = None,
) -> "Figure":
    """One tile per channel of a feature map ``(C, H, W)``, or of image ``index`` of ``(N, C, H, W)``.

    Each tile has its own colour scale (titled with the channel number); at most
    ``max_maps`` channels are shown. Returns the Figure.

    Example:
        >>> with capture_activations(model, "features.0") as acts:
        ...     model(x)
        >>> plot_feature_maps(acts["features.0"][0]);   # (N, 64, 32, 32): image 0, 32 channels
    """
    m = _tensor(maps, "maps").float()
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


def _columns(history: Any) -> Mapping[str, Sequence[float]]:
    if isinstance(history, Mapping):
        return history
    if isinstance(getattr(history, "history", None), Mapping):  # e.g. a Keras-style object
        return history.history
    if hasattr(history, "columns") and hasattr(history, "__getitem__"):  # course_utils.History
        return {key: history[key] for key in history.columns}
    raise CourseError(f"history should be a dict of lists or a History, not {type(history).__name__}.")


def plot_training_curves(history: Any, keys: Sequence[str] | None = None, *, ax: "Axes | None" = None) -> "Axes":
    """Curves per epoch from a dict of lists (``{"train_loss": [...], ...}``) or a ``History``.

    ``keys`` defaults to every column whose name contains ``"loss"``. The x axis
    is the ``"epoch"`` column when there is one, else 1, 2, 3, ... Returns the Axes.

    Example:
        >>> plot_training_curves({"train_loss": [2.1, 1.4, 1.1], "val_loss": [1.9, 1.5, 1.3]});
        >>> plot_training_curves(history, ["train_acc", "val_acc"]);
    """
    columns = _columns(history)
    if keys is None:
        keys = [k for k in columns if "loss" in k] or [k for k in columns if k not in ("epoch", "time", "lr")]
    keys = [keys] if isinstance(keys, str) else list(keys)
    missing = [k for k in keys if k not in columns]
    if missing or not keys:
        raise CourseError(f"The history has no column {missing[0] if missing else 'to plot'!r}; it has {', '.join(columns)}.")
    lengths = {len(columns[k]) for k in keys}
    if len(lengths) != 1:
        raise CourseError(f"The curves {', '.join(keys)} have different lengths {sorted(lengths)}: record one value per epoch.")
    n = lengths.pop()
    epochs = list(columns["epoch"]) if "epoch" in columns and len(columns["epoch"]) == n else list(range(1, n + 1))
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 3.2))
    for key in keys:
        ax.plot(epochs, [float(v) for v in columns[key]], marker="o" if n < 30 else None, label=key.replace("_", " "))
    ax.set_xlabel("epoch")
    ax.set_ylabel(keys[0].split("_")[-1] if len({k.split("_")[-1] for k in keys}) == 1 else "value")
    ax.legend()
    return ax


def _labels(value: Any, what: str) -> "torch.Tensor":
    t = _tensor(value, what)
    if t.dim() == 2:  # logits or probabilities (N, K): the predicted class
        t = t.argmax(dim=1)
    if t.dim() != 1 or t.is_floating_point() and not bool((t == t.round()).all()):
        raise CourseError(f"{what} should be class indices of shape (N,) or scores of shape (N, K), not {tuple(t.shape)}.")
    return t.long()


def confusion_counts(y_true: Any, y_pred: Any, num_classes: int | None = None) -> "torch.Tensor":
    """``(K, K)`` counts: row = true class, column = predicted class. ``y_pred`` may be ``(N, K)`` scores.

    Example:
        >>> confusion_counts([0, 1, 1], [0, 0, 1])
        tensor([[1, 0],
                [1, 1]])
    """
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if len(t) != len(p):
        raise CourseError(f"y_true has {len(t)} labels but y_pred has {len(p)}: they should describe the same examples.")
    k = num_classes if num_classes is not None else int(max(t.max(), p.max())) + 1 if len(t) else 0
    if len(t) and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= k):
        raise CourseError(f"Labels should lie in 0 .. {k - 1} for {k} classes.")
    return (t * k + p).bincount(minlength=k * k).reshape(k, k)


def plot_confusion_matrix(
    y_true: Any, y_pred: Any, *, class_names: Sequence[str] | None = None, normalize: bool = False,
    ax: "Axes | None" = None,
) -> "Axes":
    """Draw the confusion matrix (rows: true class, columns: predicted), each cell annotated.

    ``normalize=True`` shows each row as fractions of that class's examples
    (empty rows stay 0). Returns the Axes; ``ax.images[0].get_array()`` holds the matrix.

    Example:
        >>> plot_confusion_matrix(labels, logits, class_names=CLASSES, normalize=True);
    """
    counts = confusion_counts(y_true, y_pred, len(class_names) if class_names is not None else None)
    k = counts.shape[0]
    shown = counts.double()
    if normalize:
        shown = shown / shown.sum(dim=1, keepdim=True).clamp_min(1)
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(1.0 + 0.45 * max(k, 4), 0.8 + 0.45 * max(k, 4)))
    image = ax.imshow(shown.numpy(), cmap="Blues", vmin=0)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    top = float(shown.max()) if k else 0.0
    for i in range(k):
        for j in range(k):
            value = float(shown[i, j])
            text = f"{value:.2f}" if normalize else str(int(counts[i, j]))
            ax.text(j, i, text, ha="center", va="center", fontsize="x-small",
                    color="white" if value > top / 2 else "black")
    return ax


def plot_lr_finder(result: Any, *, method: str = "valley", ax: "Axes | None" = None) -> "Axes":
    """The LR range test curve, loss against LR on a log axis, with ``method``'s suggestion marked.

    ``result`` is what :func:`~course_utils.lr_find` returns (or any object with
    ``lrs`` and ``losses``). Returns the Axes.

    Example:
        >>> plot_lr_finder(lr_find(model, loader, opt, loss_fn), method="steepest");
    """
    from .training import METHODS, LRFinderResult

    if method not in METHODS:
        raise CourseError(f"method should be one of {', '.join(METHODS)}, not {method!r}.")
    if not isinstance(result, LRFinderResult):
        if not (hasattr(result, "lrs") and hasattr(result, "losses")):
            raise CourseError(f"plot_lr_finder needs the result of lr_find, not {type(result).__name__}.")
        result = LRFinderResult(list(result.lrs), list(result.losses))
    return result.plot(ax=ax, method=method)
