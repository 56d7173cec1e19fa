"""The moving parts of one training epoch of :func:`~course_utils.fit`, each small enough to read on its own.

* :class:`OptimizerStep`: backward, gradient accumulation that equals one larger
  batch, unscaling, clipping, the (scaled) optimiser step, clearing gradients and
  per-batch scheduler steps.
* :class:`LossTally`: the running training loss; on a GPU it reads losses back
  every few batches so that the CPU does not wait for each one, and it names the
  batch where a loss stopped being finite.
* :class:`TrainAccuracy`: the running training accuracy, counted in groups of batches.

Internal to :mod:`course_utils.training`; the module constants are read at run time,
so tests can change them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .runtime import nonfinite_error

if TYPE_CHECKING:
    import torch

    from .options import GradClip

# How many batches pass between reading the losses back from the device. Each read waits for the device
# to finish; on the CPU that costs nothing, so every loss is checked before its backward pass.
LOSS_READ_EVERY = {"cpu": 1}  # other devices: 16
# The training accuracy: each batch only takes its argmax (one operation, about 1% of a tiny model's step); the
# predictions of up to ACC_GROUP batches, or fewer once they hold ACC_ELEMENTS elements (segmentation maps), are
# compared with their targets at once. The targets are kept by reference until then, which assumes that a loader
# gives new tensors for each batch rather than refilling the previous batch's in place (DataLoader does).
ACC_GROUP = 16
ACC_ELEMENTS = 1 << 22


class OptimizerStep:
    """Backward passes and optimiser steps, with a scaler, clipping and accumulation when asked.

    With ``accumulate = k`` the gradients of ``k`` batches are added before a step, each
    batch's loss weighted by its size over the first batch's, so the step equals one on a
    batch ``k`` times larger; a last, smaller group is rescaled to its own size.

    Example:
        >>> stepper = OptimizerStep(optimizer, None, None, accumulate=1, scheduler=None, count=0)  # doctest: +SKIP
        >>> stepper.start_epoch(); stepper.backward(loss, n=len(y), last=False)                   # doctest: +SKIP
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        scaler: Any,
        clip: GradClip | None,
        *,
        accumulate: int,
        scheduler: Any,
        count: int,
    ) -> None:
        import torch

        self.optimizer, self.scaler, self.clip, self.accumulate = optimizer, scaler, clip, accumulate
        self.scheduler = scheduler  # stepped after each optimiser step (scheduler_step="batch"), else None
        self.count = count  # optimiser steps so far
        self.params: list[torch.nn.Parameter] = []
        # Optimizer.zero_grad(set_to_none=True) only sets each .grad to None, inside a profiler label that costs more
        # than the rest of it; this does the same directly, unless the optimiser overrides zero_grad or a profiler runs.
        self.plain_zero_grad = type(optimizer).zero_grad is torch.optim.Optimizer.zero_grad
        self.profiling = getattr(torch._C._autograd, "_profiler_enabled", lambda: True)  # unknown: use zero_grad
        self.nominal, self.group_size, self.group_batches = 0, 0, 0  # samples per batch; samples and batches so far

    def refresh_params(self) -> None:
        """Follow the optimiser's param groups (a callback may add one)."""
        self.params[:] = [p for group in self.optimizer.param_groups for p in group["params"]]

    def clear_grads(self) -> None:
        if self.plain_zero_grad and not self.profiling():
            for p in self.params:
                p.grad = None
        else:
            self.optimizer.zero_grad(set_to_none=True)

    def start_epoch(self) -> None:
        self.refresh_params()
        self.clear_grads()
        self.nominal, self.group_size, self.group_batches = 0, 0, 0

    def backward(self, loss: torch.Tensor, n: int, *, last: bool) -> None:
        """Backward for a batch of ``n`` samples; step when its group is full or it is the epoch's ``last``."""
        scaler = self.scaler
        if self.accumulate == 1:
            (scaler.scale(loss) if scaler is not None else loss).backward()
            self.step(n, n)
            return
        self.nominal = self.nominal or n
        weighted = loss * (n / self.nominal) if n != self.nominal else loss
        (scaler.scale(weighted) if scaler is not None else weighted).backward()
        self.group_size, self.group_batches = self.group_size + n, self.group_batches + 1
        if self.group_batches == self.accumulate or last:
            self.finish_group()

    def finish_group(self) -> None:
        """Step on the gradients gathered so far, if any (the last group of a loader without ``len()``)."""
        if self.group_batches:
            self.step(self.group_size, self.nominal)
            self.group_size, self.group_batches = 0, 0

    def step(self, group_size: int, nominal: int) -> None:
        optimizer, scaler, clip = self.optimizer, self.scaler, self.clip
        if scaler is not None and (clip is not None or self.accumulate > 1):
            scaler.unscale_(optimizer)
        if self.accumulate > 1 and group_size != nominal:
            import torch

            torch._foreach_mul_([p.grad for p in self.params if p.grad is not None], nominal / group_size)
        if clip is not None:
            clip.apply(self.params)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        self.clear_grads()
        self.count += 1
        if self.scheduler is not None:
            self.scheduler.step()


class LossTally:
    """The sample-weighted sum of training losses in one epoch; a non-finite loss stops the run.

    ``every = 1`` reads each loss at once, before its backward pass, so a non-finite loss
    never reaches the weights; a larger ``every`` reads them back in groups.
    """

    def __init__(self, epoch: int, every: int) -> None:
        self.epoch, self.every = epoch, every
        self.total, self.seen = 0.0, 0
        self.pending: list[tuple[Any, int, int, float]] = []  # losses not yet read back: (loss, n, batch, lr)

    def add(self, loss: torch.Tensor, n: int, index: int, lr: float) -> None:
        if self.every == 1:
            value = loss.item()
            if not math.isfinite(value):
                raise nonfinite_error(value, self.epoch, index, lr)
            self.total += value * n
        else:
            self.pending.append((loss.detach(), n, index, lr))
            if len(self.pending) >= self.every:
                self.read()
        self.seen += n

    def read(self) -> None:
        """Read the pending losses back from the device."""
        import torch

        if not self.pending:
            return
        for value, (_, n, index, lr) in zip(torch.stack([p[0] for p in self.pending]).tolist(), self.pending):
            if not math.isfinite(value):
                raise nonfinite_error(value, self.epoch, index, lr)
            self.total += value * n
        self.pending.clear()


class TrainAccuracy:
    """The fraction of correct class predictions (of pixels, for ``(N, C, H, W)`` scores), in groups of batches."""

    def __init__(self) -> None:
        self.hits: list[Any] = []
        self.preds: list[Any] = []
        self.targets: list[Any] = []
        self.compared, self.waiting = 0, 0

    def add(self, out: torch.Tensor, y: torch.Tensor) -> None:
        self.preds.append(out.argmax(1))
        self.targets.append(y)
        self.waiting += y.numel()
        if len(self.preds) == ACC_GROUP or self.waiting >= ACC_ELEMENTS:
            self.count()

    def count(self) -> None:
        """Compare the waiting predictions with their targets."""
        import torch

        preds, targets = self.preds, self.targets
        if not preds:
            return
        if len(preds) == 1:
            self.hits.append((preds[0] == targets[0]).sum())
        elif preds[0].ndim == 1:
            self.hits.append((torch.cat(preds) == torch.cat(targets)).sum())
        else:  # per-pixel classes; the maps may differ in size from batch to batch
            flat = torch.cat([p.reshape(-1) for p in preds]), torch.cat([t.reshape(-1) for t in targets])
            self.hits.append((flat[0] == flat[1]).sum())
        self.compared, self.waiting = self.compared + self.waiting, 0
        preds.clear()
        targets.clear()

    def value(self) -> float:
        import torch

        self.count()
        return torch.stack(self.hits).sum().item() / self.compared
