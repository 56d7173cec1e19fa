"""The data, output and initial-loss checks of :func:`~course_utils.training.sanity.sanity_check`.

Each check takes a :class:`Probe` (the caller's model, which it never changes, a few
batches already on the model's device, the loss) and returns an :class:`Outcome`:
``"passed"`` with what was measured, ``"failed"`` with one sentence saying what is
wrong and how to fix it, or ``"skipped"`` with why. A check that needs the model
runs a deep copy of it (:func:`working_copy`).

Thresholds: per-channel input mean within ``±MEAN_TOL`` of 0 and standard deviation
in ``STD_RANGE``; the initial loss within ``loss_tolerance * ln(C)`` of ln(C);
outputs count as (log-)probabilities when every row sums to 1 within ``ROW_SUM_TOL``;
the checks that train (gradients, overfitting) are in :mod:`.sanity_dynamics`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import CourseError

if TYPE_CHECKING:
    import torch
    from torch import nn

MEAN_TOL = 0.5  # random-crop padding alone moves normalised CIFAR means to about -0.2
STD_RANGE = (0.4, 2.5)
ROW_SUM_TOL = 1e-3


@dataclass
class Probe:
    """What the checks read: the caller's model (never modified), the first batches on its device, the loss."""

    model: nn.Module
    batches: list[tuple[torch.Tensor, torch.Tensor]]
    loss_fn: Callable[..., torch.Tensor]
    kind: str  # "cross_entropy", "nll" or "other"
    loader: Any = None
    optimizer: Any = None
    options: dict[str, Any] = field(default_factory=dict)
    output: torch.Tensor | None = None  # the eval-mode output for the first batch, set by the forward pass

    @property
    def num_classes(self) -> int:
        return int(self.output.shape[1]) if self.output is not None and self.output.ndim >= 2 else 1


@dataclass(frozen=True)
class Outcome:
    status: str  # "passed", "failed" or "skipped"
    message: str
    details: dict[str, Any] = field(default_factory=dict)


def loss_kind(loss_fn: Any) -> str:
    """``"cross_entropy"`` or ``"nll"`` for those losses (module or function), ``"other"`` for anything else."""
    import torch.nn.functional as F
    from torch import nn

    if isinstance(loss_fn, nn.CrossEntropyLoss) or loss_fn is F.cross_entropy:
        return "cross_entropy"
    if isinstance(loss_fn, nn.NLLLoss) or loss_fn is F.nll_loss:
        return "nll"
    return "other"


def loss_name(loss_fn: Any) -> str:
    return getattr(loss_fn, "__name__", type(loss_fn).__name__)


def working_copy(model: nn.Module, train: bool) -> nn.Module:
    """A deep copy of ``model`` without gradients, in train or eval mode; the original is not touched."""
    try:
        clone = copy.deepcopy(model)
    except Exception as exc:
        raise CourseError(
            f"sanity_check works on a copy of the model and copy.deepcopy(model) failed ({type(exc).__name__}: "
            f"{str(exc)[:100]}): keep only modules, tensors and plain values as the model's attributes."
        ) from None
    for p in clone.parameters():
        p.grad = None
    return clone.train(train)


def mean_loss(loss_fn: Callable[..., torch.Tensor], out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The loss as a mean per sample, whatever the loss's ``reduction`` ("mean", "sum" or "none")."""
    loss = loss_fn(out, y)
    if loss.ndim:
        return loss.mean()
    if getattr(loss_fn, "reduction", "mean") == "sum":
        return loss / max(1, out.numel() // max(1, out.shape[1] if out.ndim >= 2 else 1))
    return loss


def _classification_only(probe: Probe) -> Outcome | None:
    if probe.kind == "other":
        return Outcome(
            "skipped",
            f"skipped: the loss is {loss_name(probe.loss_fn)}, not nn.CrossEntropyLoss or nn.NLLLoss, and this "
            "check is for classification (pass the loss itself, not a function around it, to run it).",
        )
    return None


def check_input_normalisation(probe: Probe) -> Outcome:
    """Per-channel mean near 0 and standard deviation near 1, measured on the first batches."""
    import torch

    x = probe.batches[0][0]
    if x.dtype == torch.uint8:
        return Outcome(
            "failed",
            "The inputs are uint8 pixel values (0 to 255): convert them to floats in [0, 1] and normalise them, "
            "e.g. transforms.ToDtype(torch.float32, scale=True) followed by transforms.Normalize(mean, std).",
        )
    if not x.is_floating_point():
        return Outcome("skipped", f"skipped: the inputs are {x.dtype} (e.g. token ids), not values to normalise.")
    values = torch.cat([b[0].detach().double() for b in probe.batches])
    per_channel = values.transpose(0, 1).reshape(values.shape[1], -1) if values.ndim >= 3 else values.reshape(1, -1)
    mean, std = per_channel.mean(1), per_channel.std(1, unbiased=False)
    details = {"mean": mean.tolist(), "std": std.tolist(), "samples": len(values)}
    want = f"want |mean| ≤ {MEAN_TOL} and std in [{STD_RANGE[0]}, {STD_RANGE[1]}]"
    bad = [c for c in range(len(mean)) if abs(mean[c]) > MEAN_TOL or not STD_RANGE[0] <= std[c] <= STD_RANGE[1]]
    if not bad:
        return Outcome(
            "passed",
            f"per-channel means {mean.min():.2f} to {mean.max():.2f} and stds {std.min():.2f} to {std.max():.2f} "
            f"over {len(values)} samples ({want})",
            details,
        )
    c = bad[0]
    low, high = float(values.min()), float(values.max())
    if low >= 0 and high > 2:
        hint = f"the values run from {low:.0f} to {high:.0f}, like raw pixels: scale them to [0, 1], then normalise"
    elif low >= 0 and high <= 1:
        hint = "the values lie in [0, 1] (ToTensor's range) but are not centred: add a normalisation"
    else:
        hint = "normalise them"
    where = f"channel {c}" if per_channel.shape[0] > 1 else "the inputs"
    return Outcome(
        "failed",
        f"The inputs are not normalised: {where} has mean {mean[c]:.2f} and std {std[c]:.2f} ({want}); {hint} "
        "with transforms.Normalize(mean, std), using the training set's per-channel statistics (channel_stats).",
        details,
    )


def _dataset_labels(loader: Any) -> torch.Tensor | None:
    """Every label of the loader's data set when they are cheap to read (TensorDataset, ``.targets``, Subset)."""
    import torch
    from torch.utils.data import Subset, TensorDataset, default_collate

    if getattr(loader, "collate_fn", default_collate) is not default_collate:
        return None  # a collate_fn of one's own may change the labels on their way out
    dataset = getattr(loader, "dataset", None)
    indices = None
    while isinstance(dataset, Subset):
        indices = torch.as_tensor(dataset.indices) if indices is None else torch.as_tensor(dataset.indices)[indices]
        dataset = dataset.dataset
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) >= 2:
        labels = dataset.tensors[1]
    elif isinstance(getattr(dataset, "targets", None), (list, torch.Tensor)) and not getattr(
        dataset, "target_transform", None
    ):  # with a target_transform, .targets are not what the loader gives
        labels = torch.as_tensor(dataset.targets)
    else:
        return None
    if labels.is_floating_point() or labels.ndim == 0:
        return None
    return labels if indices is None else labels[indices]


def check_label_range(probe: Probe) -> Outcome:
    """Integer class labels in ``[0, C)`` for the ``C`` scores the model gives (``ignore_index`` allowed)."""
    import torch

    skipped = _classification_only(probe)
    if skipped:
        return skipped
    labels = torch.cat([b[1].detach().reshape(-1).cpu() for b in probe.batches])
    if labels.is_floating_point():
        if probe.batches[0][1].shape == probe.output.shape:
            return Outcome("skipped", "skipped: the targets are class probabilities, not class indices.")
        return Outcome(
            "failed",
            f"The labels are {labels.dtype} numbers, but {loss_name(probe.loss_fn)} expects integer class indices: "
            "convert them with y.long() (or torch.tensor(labels, dtype=torch.long) in the data set).",
        )
    if labels.dtype not in (torch.int64, torch.uint8):
        return Outcome(
            "failed",
            f"The labels are {labels.dtype}, but {loss_name(probe.loss_fn)} takes class indices as torch.long "
            "(int64) only: convert them with y.long() (or build them with dtype=torch.long in the data set).",
        )
    where = f"the first {len(labels)} labels"
    everything = _dataset_labels(probe.loader)
    if everything is not None and len(everything):
        labels, where = everything.reshape(-1), f"all {len(everything)} labels of the data set"
    ignore = getattr(probe.loss_fn, "ignore_index", -100)
    labels = labels[labels != ignore]
    if not len(labels):
        return Outcome("skipped", f"skipped: every label equals ignore_index={ignore}.")
    C, low, high = probe.num_classes, int(labels.min()), int(labels.max())
    details = {"min": low, "max": high, "num_classes": C}
    if 0 <= low and high < C:
        return Outcome("passed", f"{where} lie in [0, {C}) for the model's {C} scores (from {low} to {high})", details)
    if low == 1 and high == C:
        fix = f"the labels look 1-based: subtract 1 so they run from 0 to {C - 1}"
    elif high >= C:
        fix = f"make the last layer give {high + 1} scores (one per class) or map the labels to 0..{C - 1}"
    else:
        fix = f"map the labels to 0..{C - 1} (the loss skips only ignore_index={ignore})"
    return Outcome(
        "failed",
        f"The labels run from {low} to {high} ({where}), but the model gives {C} scores per sample, so they must lie "
        f"in [0, {C - 1}]: {fix}.",
        details,
    )


def _rows_sum_to_one(values: torch.Tensor) -> bool:
    return bool(((values.sum(1) - 1).abs() <= ROW_SUM_TOL).all())


def check_raw_scores(probe: Probe) -> Outcome:
    """No softmax (nor log-softmax) before CrossEntropyLoss; log-probabilities for NLLLoss."""
    skipped = _classification_only(probe)
    if skipped:
        return skipped
    out = probe.output.detach().double()
    if out.ndim < 2 or out.shape[1] < 2:
        return Outcome("skipped", "skipped: the model gives one score per sample (see initial_loss).")
    probabilities = bool(out.min() >= -1e-6) and _rows_sum_to_one(out)
    log_probabilities = bool(out.max() <= 1e-6) and _rows_sum_to_one(out.exp())
    if probe.kind == "nll":
        if log_probabilities:
            return Outcome("passed", "the outputs are log-probabilities, as NLLLoss expects")
        what = "probabilities (a softmax)" if probabilities else "raw scores"
        return Outcome(
            "failed",
            f"NLLLoss expects log-probabilities but the outputs are {what}: end the model with "
            "F.log_softmax(x, dim=1), or return raw scores and use nn.CrossEntropyLoss.",
        )
    if probabilities:
        return Outcome(
            "failed",
            "The outputs are probabilities (non-negative, each row sums to 1), so the model applies softmax, but "
            "CrossEntropyLoss applies log-softmax itself: remove the final softmax and return the raw scores (logits).",
        )
    if log_probabilities:
        return Outcome(
            "failed",
            "The outputs are log-probabilities (the exponentials of each row sum to 1), so the model applies "
            "log_softmax, which CrossEntropyLoss applies again (same loss, wasted work and misleading outputs): "
            "remove it and return raw scores, or keep it and use nn.NLLLoss.",
        )
    return Outcome("passed", f"the outputs are raw scores (logits), as {loss_name(probe.loss_fn)} expects")


def check_initial_loss(probe: Probe) -> Outcome:
    """The loss of the untrained model (train mode) within ``loss_tolerance * ln(C)`` of ln(C), a uniform guess."""
    import torch

    skipped = _classification_only(probe)
    if skipped:
        return skipped
    C = probe.num_classes
    if C < 2:
        return Outcome(
            "failed",
            f"The model gives {C} score per sample, so CrossEntropyLoss is always 0: give one score per class "
            "(at least 2), or use nn.BCEWithLogitsLoss for a yes/no task.",
        )
    clone = working_copy(probe.model, train=True)
    with torch.no_grad():
        losses = [float(mean_loss(probe.loss_fn, clone(x), y)) for x, y in probe.batches]
    loss, expected = sum(losses) / len(losses), math.log(C)
    tolerance = probe.options.get("loss_tolerance", 0.25) * expected
    details = {"loss": loss, "expected": expected, "tolerance": tolerance}
    band = f"ln({C}) = {expected:.3f}, tolerance ±{tolerance:.2f}"
    if abs(loss - expected) <= tolerance:
        return Outcome("passed", f"initial loss {loss:.3f} is close to {band}, the loss of a uniform guess", details)
    if loss > expected:
        return Outcome(
            "failed",
            f"The initial loss is {loss:.3f}, far above {band}: the untrained model is confidently wrong because "
            "its last layer gives large scores; keep PyTorch's default initialisation of the last layer, or scale "
            "its weights down and set its bias to zero.",
            details,
        )
    return Outcome(
        "failed",
        f"The initial loss is {loss:.3f}, far below {band}: an untrained model should do no better than chance, "
        "so either it is already trained (run sanity_check before training) or the labels leak into the inputs.",
        details,
    )
