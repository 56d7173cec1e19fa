"""The learning-rate range test (Smith, "Cyclical Learning Rates for Training Neural Networks", 2017).

:func:`lr_find` trains for a few steps while the learning rate grows
exponentially from ``start_lr`` to ``end_lr``, records an exponentially
smoothed, bias-corrected loss (as in Adam), stops early when the loss diverges,
and then puts the model and the optimiser back exactly as they were. The
returned :class:`LRFinderResult` suggests a learning rate with one of three
heuristics and plots the curve.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import CourseError

if TYPE_CHECKING:
    import torch
    from matplotlib.axes import Axes
    from torch import nn

METHODS = ("steepest", "valley", "min/10")


def _valley_index(losses: list[float]) -> int:
    """fastai's "valley" heuristic (fastai ``callback/schedule.py``, ``valley``, after ESRI's arcgis.learn).

    Find the longest strictly decreasing run of losses (a longest decreasing
    subsequence, not necessarily contiguous) and return the point about half
    way down its first two thirds: ``start + int(L/3) + int(L/3/2)``.
    """
    n = len(losses)
    length = [1] * n  # length[i]: longest decreasing subsequence that ends at i
    best_end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j]:
                length[i] = max(length[i], length[j] + 1)
        if length[i] > length[best_end]:
            best_end = i
    start = best_end - length[best_end]
    third = (best_end - start) / 3
    return max(0, min(n - 1, start + int(third) + int(third / 2)))


@dataclass
class LRFinderResult:
    """Learning rates tried and the smoothed loss after each step (``raw_losses``: unsmoothed)."""

    lrs: list[float]
    losses: list[float]
    raw_losses: list[float] = field(default_factory=list)

    def _index(self, method: str) -> int:
        if method not in METHODS:
            raise CourseError(f"method should be one of {', '.join(METHODS)}, not {method!r}.")
        if len(self.losses) < 3:
            raise CourseError("The range test stopped after fewer than 3 steps: lower start_lr or raise diverge_th.")
        if method == "valley":
            return _valley_index(self.losses)
        if method == "min/10":
            return min(range(len(self.losses)), key=self.losses.__getitem__)
        import numpy as np

        slopes = np.gradient(np.asarray(self.losses), np.log10(np.asarray(self.lrs)))
        return int(np.argmin(slopes))

    def suggest(self, method: str = "valley") -> float:
        """A learning rate from the curve.

        ``"steepest"``: where the smoothed loss falls fastest per decade of LR;
        ``"valley"``: fastai's valley heuristic; ``"min/10"``: the LR with the
        lowest loss divided by 10.

        Example:
            >>> result.suggest("min/10")
            0.0031622776601683794
        """
        i = self._index(method)
        return self.lrs[i] / 10 if method == "min/10" else self.lrs[i]

    def plot(self, ax: Axes | None = None, method: str = "valley") -> Axes:
        """Loss against learning rate on a log axis, with the suggestion marked. Returns the Axes."""
        if method not in METHODS:
            raise CourseError(f"method should be one of {', '.join(METHODS)}, not {method!r}.")
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(self.lrs, self.losses, label="smoothed loss")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        if len(self.losses) >= 3:
            lr, i = self.suggest(method), self._index(method)
            ax.plot([self.lrs[i]], [self.losses[i]], "o", color="tab:red")
            ax.axvline(lr, color="tab:red", linestyle="--", label=f"{method}: {lr:.2g}")
            ax.legend()
        return ax


def _to(batch: Any, device: torch.device) -> Any:
    import torch

    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to(b, device) for b in batch)
    return batch


def lr_find(
    model: nn.Module,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[..., torch.Tensor],
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_iter: int = 100,
    smooth: float = 0.98,
    diverge_th: float = 4.0,
) -> LRFinderResult:
    """Run the LR range test and restore ``model`` and ``optimizer`` bit for bit afterwards.

    Also put back: gradients, train/eval flags and torch's random state, also
    when the run fails with an exception, so ``lr_find`` followed by ``fit``
    trains exactly as ``fit`` alone would.

    ``loader`` yields ``(inputs, targets)`` batches, e.g. ``(N, C, H, W)`` images
    and ``(N,)`` labels; it is restarted when it runs out. Every param group's
    LR is set to ``start_lr * (end_lr / start_lr) ** (i / (num_iter - 1))`` at
    step ``i``. ``smooth`` is the weight of the past in the moving average of the
    loss (0 means no smoothing). The run stops early when the smoothed loss
    exceeds ``diverge_th`` times the best one, or is not finite.

    Example:
        >>> result = lr_find(model, train_loader, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        ...                  nn.CrossEntropyLoss(), num_iter=100)
        >>> result.suggest("valley"), result.plot()
    """
    import torch

    if not 0 < start_lr < end_lr:
        raise CourseError(f"Use 0 < start_lr < end_lr (got start_lr={start_lr}, end_lr={end_lr}).")
    if num_iter < 2:
        raise CourseError(f"num_iter={num_iter} is too small: use at least 2 (100 is typical).")
    if not 0 <= smooth < 1:
        raise CourseError(f"smooth={smooth} should be in [0, 1): the weight of the past loss, e.g. 0.98.")
    if diverge_th <= 1:
        raise CourseError(f"diverge_th={diverge_th} should be > 1, e.g. 4: stop when loss > diverge_th * best loss.")
    param = next(model.parameters(), None)
    if param is None:
        raise CourseError("The model has no parameters to train.")
    device = param.device

    model_state = copy.deepcopy(model.state_dict())
    optim_state = copy.deepcopy(optimizer.state_dict())
    grads = {id(p): (None if p.grad is None else p.grad.clone()) for p in model.parameters()}
    modes = {m: m.training for m in model.modules()}
    cpu_rng = torch.random.get_rng_state()  # dropout and shuffling draw from it; put back so lr_find leaves no trace
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None

    lrs: list[float] = []
    losses: list[float] = []
    raw: list[float] = []
    average, best = 0.0, math.inf
    ratio = end_lr / start_lr
    try:
        model.train()
        batches = iter(loader)
        for i in range(num_iter):
            try:
                batch = next(batches)
            except StopIteration:
                batches = iter(loader)
                try:
                    batch = next(batches)
                except StopIteration:
                    raise CourseError("The loader yields no batches: check the data set and batch size.") from None
            if not isinstance(batch, (list, tuple)) or len(batch) < 2:
                raise CourseError("lr_find needs a loader that yields (inputs, targets) pairs.")
            inputs, targets = _to(batch[0], device), _to(batch[1], device)
            lr = start_lr * ratio ** (i / (num_iter - 1))
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()
            value = loss.item()
            if not math.isfinite(value):
                break
            average = smooth * average + (1 - smooth) * value
            smoothed = average / (1 - smooth ** (i + 1))
            lrs.append(lr)
            losses.append(smoothed)
            raw.append(value)
            best = min(best, smoothed)
            if smoothed > diverge_th * best:
                break
    finally:
        with torch.no_grad():
            model.load_state_dict(model_state)
        optimizer.load_state_dict(optim_state)
        for p in model.parameters():
            p.grad = grads.get(id(p))
        for m, flag in modes.items():
            m.training = flag
        torch.random.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
    return LRFinderResult(lrs, losses, raw)
