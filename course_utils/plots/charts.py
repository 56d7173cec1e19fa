"""Charts: training curves, the confusion matrix and the learning-rate finder's curve.

Each function takes ``ax=None``, makes a new figure only when none is given, returns
the Axes, and checks its input before drawing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import CourseError
from .grids import as_tensor

if TYPE_CHECKING:
    import torch
    from matplotlib.axes import Axes

__all__ = ["confusion_counts", "plot_confusion_matrix", "plot_lr_finder", "plot_training_curves"]


def _columns(history: Any) -> Mapping[str, Sequence[float]]:
    if isinstance(history, Mapping):
        return history
    if isinstance(getattr(history, "history", None), Mapping):  # e.g. a Keras-style object
        return history.history
    if hasattr(history, "columns") and hasattr(history, "__getitem__"):  # course_utils.History
        return {key: history[key] for key in history.columns}
    raise CourseError(f"history should be a dict of lists or a History, not {type(history).__name__}.")


def plot_training_curves(history: Any, keys: Sequence[str] | None = None, *, ax: Axes | None = None) -> Axes:
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
        raise CourseError(
            f"The history has no column {missing[0] if missing else 'to plot'!r}; it has {', '.join(columns)}."
        )
    lengths = {len(columns[k]) for k in keys}
    if len(lengths) != 1:
        raise CourseError(
            f"The curves {', '.join(keys)} have different lengths {sorted(lengths)}: record one value per epoch."
        )
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


def _labels(value: Any, what: str) -> torch.Tensor:
    t = as_tensor(value, what)
    if t.dim() == 2:  # logits or probabilities (N, K): the predicted class
        t = t.argmax(dim=1)
    if t.dim() != 1 or t.is_floating_point() and not bool((t == t.round()).all()):
        raise CourseError(
            f"{what} should be class indices of shape (N,) or scores of shape (N, K), not {tuple(t.shape)}."
        )
    return t.long()


def confusion_counts(y_true: Any, y_pred: Any, num_classes: int | None = None) -> torch.Tensor:
    """``(K, K)`` counts: row = true class, column = predicted class. ``y_pred`` may be ``(N, K)`` scores.

    Example:
        >>> confusion_counts([0, 1, 1], [0, 0, 1])
        tensor([[1, 0],
                [1, 1]])
    """
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if len(t) != len(p):
        raise CourseError(
            f"y_true has {len(t)} labels but y_pred has {len(p)}: they should describe the same examples."
        )
    k = num_classes if num_classes is not None else int(max(t.max(), p.max())) + 1 if len(t) else 0
    if len(t) and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= k):
        raise CourseError(f"Labels should lie in 0 .. {k - 1} for {k} classes.")
    return (t * k + p).bincount(minlength=k * k).reshape(k, k)


def plot_confusion_matrix(
    y_true: Any,
    y_pred: Any,
    *,
    class_names: Sequence[str] | None = None,
    normalize: bool = False,
    ax: Axes | None = None,
) -> Axes:
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
            ax.text(
                j, i, text, ha="center", va="center", fontsize="x-small", color="white" if value > top / 2 else "black"
            )
    return ax


def plot_lr_finder(result: Any, *, method: str = "valley", ax: Axes | None = None) -> Axes:
    """The LR range test curve, loss against LR on a log axis, with ``method``'s suggestion marked.

    ``result`` is what :func:`~course_utils.lr_find` returns (or any object with
    ``lrs`` and ``losses``). Returns the Axes.

    Example:
        >>> plot_lr_finder(lr_find(model, loader, opt, loss_fn), method="steepest");
    """
    from ..training import METHODS, LRFinderResult

    if method not in METHODS:
        raise CourseError(f"method should be one of {', '.join(METHODS)}, not {method!r}.")
    if not isinstance(result, LRFinderResult):
        if not (hasattr(result, "lrs") and hasattr(result, "losses")):
            raise CourseError(f"plot_lr_finder needs the result of lr_find, not {type(result).__name__}.")
        result = LRFinderResult(list(result.lrs), list(result.losses))
    return result.plot(ax=ax, method=method)
