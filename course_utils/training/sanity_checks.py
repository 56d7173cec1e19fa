"""The data, output, initial-loss and gradient checks of :func:`~course_utils.training.sanity.sanity_check`.

Each takes a :class:`~course_utils.training.sanity_probe.Probe` and returns an
:class:`~course_utils.training.sanity_probe.Outcome`. Thresholds: per-channel input
mean within ``±MEAN_TOL`` of 0 and standard deviation in ``STD_RANGE``; the initial
loss within ``loss_tolerance * ln(C)`` of ln(C); outputs count as (log-)probabilities
when every row sums to 1 within ``ROW_SUM_TOL``; a gradient counts as zero when its
largest entry is at most ``GRAD_ZERO_RATIO`` times the largest entry of any gradient
in the model. The checks that look at batches and training are in :mod:`.sanity_dynamics`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .sanity_probe import Outcome, Probe, loss_name, mean_loss, working_copy

if TYPE_CHECKING:
    import torch

MEAN_TOL = 0.5  # random-crop padding alone moves normalised CIFAR means to about -0.2
STD_RANGE = (0.4, 2.5)
ROW_SUM_TOL = 1e-3
GRAD_ZERO_RATIO = 1e-5


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


def _output_kind(out: torch.Tensor) -> str:
    """ "probabilities" (rows ≥ 0 summing to 1), "log-probabilities" (rows whose exponentials do) or "raw scores"."""
    out = out.detach().double()
    if bool(out.min() >= -1e-6) and bool(((out.sum(1) - 1).abs() <= ROW_SUM_TOL).all()):
        return "probabilities"
    if bool(out.max() <= 1e-6) and bool(((out.exp().sum(1) - 1).abs() <= ROW_SUM_TOL).all()):
        return "log-probabilities"
    return "raw scores"


def check_raw_scores(probe: Probe) -> Outcome:
    """Raw scores, in training and in eval mode, for CrossEntropyLoss (no softmax, no log-softmax); log-probabilities
    for NLLLoss."""
    import torch

    skipped = _classification_only(probe)
    if skipped:
        return skipped
    if probe.output.ndim < 2 or probe.output.shape[1] < 2:
        return Outcome("skipped", "skipped: the model gives one score per sample (see initial_loss).")
    with torch.no_grad():
        training = working_copy(probe.model, train=True)(probe.batches[0][0])
    want = "log-probabilities" if probe.kind == "nll" else "raw scores"
    wrong = [(mode, _output_kind(out)) for mode, out in (("training", training), ("eval", probe.output))]
    wrong = [(mode, kind) for mode, kind in wrong if kind != want]
    name = loss_name(probe.loss_fn)
    if not wrong:
        return Outcome("passed", f"the outputs are {want} in training and in eval mode, as {name} expects")
    mode, kind = wrong[0]
    where = "" if len(wrong) == 2 else f" in {mode} mode"
    both = ", in both modes (apply softmax outside the model when you need probabilities)" if len(wrong) == 1 else ""
    if probe.kind == "nll":
        return Outcome(
            "failed",
            f"NLLLoss expects log-probabilities but the outputs{where} are {kind}: end the model with "
            f"F.log_softmax(x, dim=1){both}, or return raw scores and use nn.CrossEntropyLoss.",
        )
    if kind == "probabilities":
        return Outcome(
            "failed",
            f"The outputs{where} are probabilities (non-negative, each row sums to 1), so the model applies softmax, "
            f"but {name} applies log-softmax itself: remove the softmax and return the raw scores (logits){both}.",
        )
    return Outcome(
        "failed",
        f"The outputs{where} are log-probabilities (the exponentials of each row sum to 1), so the model applies "
        f"log_softmax, which {name} applies again (same loss, wasted work and misleading outputs): remove it and "
        f"return raw scores{both}, or keep it and use nn.NLLLoss.",
    )


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


def _count(names: list[str]) -> str:
    return "1 parameter tensor" if len(names) == 1 else f"{len(names)} parameter tensors"


def _names(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def check_gradient_flow(probe: Probe) -> Outcome:
    """After one backward pass (train mode), every parameter that requires grad has a finite, non-zero gradient."""
    clone = working_copy(probe.model, train=True)
    trainable = [(n, p) for n, p in clone.named_parameters() if p.requires_grad]
    frozen = sum(1 for p in clone.parameters() if not p.requires_grad)
    if not trainable:
        return Outcome(
            "failed",
            "No parameter requires a gradient, so training changes nothing: call model.requires_grad_(True) "
            "(or unfreeze the layers you mean to train).",
        )
    x, y = probe.batches[0]
    loss = mean_loss(probe.loss_fn, clone(x), y)
    if not loss.requires_grad:
        return Outcome(
            "failed",
            "The loss has no gradient at all: the forward pass cuts every path to the parameters (torch.no_grad(), "
            ".detach(), .item() or .numpy() inside forward); compute the output with tensor operations only.",
        )
    loss.backward()
    missing = [n for n, p in trainable if p.grad is None]
    sizes = {n: float(p.grad.detach().abs().max()) for n, p in trainable if p.grad is not None and p.numel()}
    nonfinite = [n for n, s in sizes.items() if not math.isfinite(s)]
    largest = max((s for s in sizes.values() if math.isfinite(s)), default=0.0)
    zero = [n for n, s in sizes.items() if s <= GRAD_ZERO_RATIO * largest]
    details = {"missing": missing, "zero": zero, "nonfinite": nonfinite, "largest": largest}
    if missing:
        return Outcome(
            "failed",
            f"{_count(missing)} receive{'s' if len(missing) == 1 else ''} no gradient ({_names(missing)}): "
            f"{'it is' if len(missing) == 1 else 'they are'} not used in "
            "forward, or the path to the loss is cut by .detach(), torch.no_grad(), .item() or .numpy(); use "
            "them, delete the unused layers, or remove what cuts the path.",
            details,
        )
    if nonfinite:
        return Outcome(
            "failed",
            f"The gradients of {_names(nonfinite)} are NaN or infinite: look for log(0), a division by zero or "
            "NaN inputs, and check that the loss is finite.",
            details,
        )
    if zero:
        tiny = max(sizes[n] for n in zero)
        return Outcome(
            "failed",
            f"{_names(zero)} get{'s' if len(zero) == 1 else ''} a zero gradient (largest entry {tiny:.1e}, against {largest:.1e} elsewhere): a "
            "bias right before BatchNorm is cancelled by it (create that layer with bias=False); otherwise look for "
            "ReLUs that are never active or a multiplication by zero.",
            details,
        )
    note = f" ({frozen} frozen with requires_grad=False not counted)" if frozen else ""
    return Outcome(
        "passed",
        f"all {len(trainable)} parameter tensors that require grad receive a finite, non-zero gradient{note}",
        details,
    )
