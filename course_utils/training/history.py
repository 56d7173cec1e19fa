"""What :func:`course_utils.fit` returns: one row of numbers per epoch, as a table and a plot.

Each row holds ``epoch`` (counting from 1), ``train_loss``, ``lr`` (the learning
rate the epoch started with), ``time`` (seconds) and, when they apply,
``train_acc``, ``val_loss`` and ``val_acc`` (accuracies are fractions of correct
class predictions, of pixels for per-pixel targets). ``history["val_loss"]`` gives one
column as a list; ``history.plot()`` draws the curves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import CourseError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_ORDER = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "time")


@dataclass
class History:
    """Per-epoch records of a training run.

    Attributes:
        rows: one dict per finished epoch.
        precision: ``"bf16"``, ``"fp16"`` or ``"fp32"``: the precision the run used.
        best_epoch: the epoch whose weights early stopping restored (``None`` without early stopping).
        stopped_early: whether early stopping ended the run before ``epochs``.
        resumed_from: the epoch a checkpoint resumed from (``None`` for a fresh run).

    Example:
        >>> history = fit(model, train_loader, val_loader, epochs=5, optimizer=opt, loss_fn=loss_fn)  # doctest: +SKIP
        >>> history["val_acc"][-1]                                                                      # doctest: +SKIP
        0.62
        >>> history.plot()                                                                              # doctest: +SKIP
    """

    rows: list[dict[str, float]] = field(default_factory=list)
    precision: str = "fp32"
    best_epoch: int | None = None
    stopped_early: bool = False
    resumed_from: int | None = None

    def append(self, row: dict[str, float]) -> None:
        """Add the record of one epoch."""
        self.rows.append(dict(row))

    @property
    def columns(self) -> list[str]:
        """The names recorded, in a fixed reading order."""
        seen = {key for row in self.rows for key in row}
        return [key for key in _ORDER if key in seen] + sorted(seen - set(_ORDER))

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: str) -> list[float]:
        """One column, e.g. ``history["val_loss"]``; ``nan`` where an epoch did not record it."""
        if not isinstance(key, str) or key not in self.columns:
            raise CourseError(f"This history has no column {key!r}; it has {', '.join(self.columns) or 'nothing yet'}.")
        return [row.get(key, math.nan) for row in self.rows]

    def best(self, monitor: str = "val_loss", mode: str = "min") -> dict[str, float]:
        """The row with the lowest (``mode="min"``) or highest (``"max"``) ``monitor`` value."""
        if mode not in ("min", "max"):
            raise CourseError(f"mode should be 'min' or 'max', not {mode!r}.")
        values = self[monitor]
        sign = 1.0 if mode == "min" else -1.0
        index = min(range(len(values)), key=lambda i: sign * values[i] if math.isfinite(values[i]) else math.inf)
        return dict(self.rows[index])

    # -- tables ------------------------------------------------------------------
    def _cells(self) -> tuple[list[str], list[list[str]]]:
        columns = self.columns

        def cell(key: str, value: float | None) -> str:
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return "-"
            if key == "epoch":
                return str(int(value))
            if key == "lr":
                return f"{value:.3g}"
            if key == "time":
                return f"{value:.2f}s"
            if key.endswith("acc"):
                return f"{value:.2%}"
            return f"{value:.4f}"

        return columns, [[cell(key, row.get(key)) for key in columns] for row in self.rows]

    def table(self) -> str:
        """A plain-text table with one line per epoch."""
        columns, body = self._cells()
        if not body:
            return "History (no epochs yet)"
        widths = [max(len(c), *(len(r[i]) for r in body)) for i, c in enumerate(columns)]
        lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
        lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in body]
        notes = [f"precision {self.precision}"]
        if self.resumed_from is not None:
            notes.append(f"resumed after epoch {self.resumed_from}")
        if self.best_epoch is not None:
            notes.append(
                f"best weights from epoch {self.best_epoch}" + (", stopped early" if self.stopped_early else "")
            )
        return "\n".join(lines + ["(" + "; ".join(notes) + ")"])

    def __repr__(self) -> str:
        return self.table()

    def _repr_html_(self) -> str:
        columns, body = self._cells()
        head = "".join(f"<th>{c}</th>" for c in columns)
        rows = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in r) + "</tr>" for r in body)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"

    # -- saving ------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain values (for a checkpoint's ``extra``)."""
        return {
            "rows": [dict(r) for r in self.rows],
            "precision": self.precision,
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "resumed_from": self.resumed_from,
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> History:
        """The inverse of :meth:`state_dict`."""
        return cls(**{key: state[key] for key in ("rows", "precision", "best_epoch", "stopped_early", "resumed_from")})

    # -- drawing -----------------------------------------------------------------
    def plot(self, ax: Axes | None = None, *, metric: str = "loss") -> Axes:
        """Draw the training (and validation) curve of ``metric`` per epoch.

        Args:
            ax: the Axes to draw on; a new figure is made when ``None``.
            metric: ``"loss"``, ``"acc"`` (plots ``train_<metric>``/``val_<metric>``),
                or any column such as ``"lr"``.

        Returns:
            The Axes drawn on (the function never calls ``plt.show()``).

        Example:
            >>> ax = history.plot(metric="acc")   # doctest: +SKIP
        """
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(5, 3.2))
        keys = [k for k in (f"train_{metric}", f"val_{metric}", metric) if k in self.columns]
        if not keys:
            raise CourseError(
                f"This history has no {metric!r} curve; try one of: loss, acc, {', '.join(self.columns)}."
            )
        epochs = self["epoch"]
        for key in keys:
            ax.plot(epochs, self[key], marker="o", label=key.replace("_", " "))
        if self.best_epoch is not None:
            ax.axvline(self.best_epoch, color="grey", linestyle=":", label=f"best epoch {self.best_epoch}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        if metric == "lr":
            ax.set_yscale("log")
        ax.legend()
        return ax
