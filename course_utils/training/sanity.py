"""``sanity_check``: the checks an experienced practitioner runs before a long training run.

One call looks at a model, a loader and a loss the way Karpathy's "A Recipe for
Training Neural Networks" (2019) suggests before any long run: are the inputs
normalised and the labels in range, does the model return raw scores, is the
loss at initialisation that of a uniform guess, does every parameter get a
gradient, can one small batch be memorised, does each sample's output depend
on that sample alone, and does no BatchNorm layer see a batch of one. The
result is a :class:`SanityReport` that prints one line per check.

The caller's model, optimiser and random state are never changed: every check
works on its own deep copy of the model, and torch's (and Python's) random
generators (and NumPy's) are put back afterwards. The checks themselves live in
:mod:`~course_utils.training.sanity_checks` (data, outputs, initial loss, gradients)
and :mod:`~course_utils.training.sanity_dynamics` (batch independence, BatchNorm
batch sizes, overfitting one batch), what they share in
:mod:`~course_utils.training.sanity_probe`, the report in
:mod:`~course_utils.training.sanity_report`.
"""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from ..errors import CourseError
from .runtime import device_error, first_line, forward_error, resolve_device, unpack
from .sanity_checks import (
    check_gradient_flow,
    check_initial_loss,
    check_input_normalisation,
    check_label_range,
    check_raw_scores,
)
from .sanity_dynamics import (
    check_batch_independence,
    check_batchnorm_batch_size,
    check_overfit_one_batch,
)
from .sanity_probe import Outcome, Probe, loss_kind, working_copy
from .sanity_report import CheckResult, SanityReport

if TYPE_CHECKING:
    import torch
    from torch import nn

# In the order they run and print: the data first, then the outputs, then training.
CHECKS: dict[str, Callable[[Probe], Outcome]] = {
    "input_normalisation": check_input_normalisation,
    "label_range": check_label_range,
    "raw_scores": check_raw_scores,
    "initial_loss": check_initial_loss,
    "gradient_flow": check_gradient_flow,
    "batch_independence": check_batch_independence,
    "batchnorm_batch_size": check_batchnorm_batch_size,
    "overfit_one_batch": check_overfit_one_batch,
}
NEEDS_NO_MODEL = ("input_normalisation",)  # everything else runs the model, so waits for a working forward pass
NEEDS_LABELS = ("initial_loss", "gradient_flow", "overfit_one_batch")  # the loss cannot take out-of-range labels


@contextlib.contextmanager
def preserved_random_state(device: torch.device) -> Iterator[None]:
    """Put torch's CPU (and ``device``'s CUDA or MPS) generator, Python's and NumPy's back as they were on exit."""
    import torch

    cpu, py = torch.random.get_rng_state(), random.getstate()
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    mps = torch.mps.get_rng_state() if device.type == "mps" else None
    numpy = sys.modules.get("numpy")  # a data set's own augmentation may draw from NumPy's global generator
    np_state = numpy.random.get_state() if numpy is not None else None
    try:
        yield
    finally:
        torch.random.set_rng_state(cpu)
        random.setstate(py)
        if cuda is not None:
            torch.cuda.set_rng_state(cuda, device)
        if mps is not None:
            torch.mps.set_rng_state(mps)
        if np_state is not None:
            numpy.random.set_state(np_state)


def _collect(loader: Iterable, device: torch.device, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    batches = []
    for batch in loader:
        batches.append(unpack(batch, device, False))
        if len(batches) == count:
            break
    if not batches:
        raise CourseError(
            "The loader gave no batch: check that its data set is not empty and, with drop_last=True, "
            "that batch_size is not larger than the data set."
        )
    return batches


def _forward(probe: Probe) -> Outcome:
    """Run the model (a copy, in eval mode) on the first batch; its output tells the number of classes."""
    import torch

    x, _ = probe.batches[0]
    clone = working_copy(probe.model, train=False)  # a model deepcopy cannot copy: _guarded gives its sentence
    try:
        with torch.no_grad():
            out = clone(x)
    except Exception as exc:
        reason = device_error(exc) or (forward_error(exc, x) if isinstance(exc, RuntimeError) else None)
        sentence = (
            str(reason) if reason else f"The model failed on a batch of shape {tuple(x.shape)} ({first_line(exc)})."
        )
        return Outcome("failed", sentence)
    if not isinstance(out, torch.Tensor):
        return Outcome("failed", f"The model returned a {type(out).__name__}, not a tensor: return the scores only.")
    if out.ndim == 0 or len(out) != len(x):
        return Outcome(
            "failed",
            f"A batch of {len(x)} samples gives {len(out) if out.ndim else 'a single'} output(s) of shape "
            f"{tuple(out.shape)}: something reshapes across the batch dimension (e.g. x.view(-1, k) with the wrong k); "
            "flatten with x.flatten(1) or x.view(x.size(0), -1).",
        )
    probe.output = out
    return Outcome("passed", f"a batch of shape {tuple(x.shape)} gives outputs of shape {tuple(out.shape)}")


def _guarded(check: Callable[[Probe], Outcome], probe: Probe) -> Outcome:
    """A check's outcome; a check that crashes becomes a failed line that says why, not a traceback."""
    try:
        return check(probe)
    except CourseError as exc:
        return Outcome("failed", str(exc))
    except Exception as exc:
        reason = device_error(exc)
        if reason is not None:
            return Outcome("failed", str(reason))
        return Outcome("failed", f"The check could not run: {type(exc).__name__}: {first_line(exc)}.")


def sanity_check(
    model: nn.Module,
    loader: Iterable,
    loss_fn: Callable[..., torch.Tensor],
    *,
    optimizer: torch.optim.Optimizer | None = None,
    num_batches: int = 4,
    loss_tolerance: float = 0.25,
    overfit_samples: int = 8,
    overfit_steps: int = 300,
    overfit_lr: float = 1e-2,
    overfit_loss: float = 0.05,
    time_limit: float = 30.0,
    skip: Iterable[str] = (),
) -> SanityReport:
    """Check a model, its data and its loss before a long training run, without changing any of them.

    The checks, in the order they print (each on its own deep copy of the model):

    - ``forward``: the model takes the first batch and returns a tensor (else the rest is skipped);
    - ``input_normalisation``: per-channel mean within ±0.5 of 0 and std in [0.4, 2.5] on the first
      ``num_batches`` batches (uint8 inputs fail);
    - ``label_range``: int64 labels in [0, C) for the C scores the model gives (every label of a
      TensorDataset or a data set with ``.targets``, else those of the first batches);
    - ``raw_scores``: no softmax (rows ≥ 0 summing to 1 within 1e-3) nor log-softmax (rows whose
      exponentials sum to 1) before CrossEntropyLoss; log-probabilities for NLLLoss;
    - ``initial_loss``: the loss in train mode within ``loss_tolerance * ln(C)`` of ln(C);
    - ``gradient_flow``: one backward pass gives every parameter that requires grad a finite gradient
      whose largest entry is above 1e-5 times the model's largest;
    - ``batch_independence``: in eval mode (so BatchNorm does not mix), the gradient of one sample's
      output reaches no other sample's input (4 samples);
    - ``batchnorm_batch_size``: no BatchNorm layer sees a batch of one (the loader's batch_size,
      drop_last and length; forward hooks in train mode);
    - ``overfit_one_batch``: the first ``overfit_samples`` samples are memorised (see below).

    Args:
        model: the network, on the device it will train on (the checks run there).
        loader: yields ``(inputs, targets)`` batches, e.g. images ``(N, C, H, W)`` and labels ``(N,)``;
            a ``DataLoader`` lets the BatchNorm check see its ``batch_size`` and ``drop_last`` too.
        loss_fn: e.g. ``nn.CrossEntropyLoss()``. The classification checks (labels, raw scores,
            ln(C)) run for ``CrossEntropyLoss``/``NLLLoss`` (modules or functions) and are
            skipped with a line saying so for any other loss.
        optimizer: if given, the overfitting check uses a fresh copy of it (same class and settings,
            e.g. its learning rate) instead of Adam; the optimiser itself is not touched.
        num_batches: how many batches the input and label checks measure (the first ones).
        loss_tolerance: the initial loss passes within ``loss_tolerance * ln(C)`` of ln(C).
        overfit_samples, overfit_steps, overfit_lr, overfit_loss, time_limit: the overfitting check
            trains on the first ``overfit_samples`` samples for at most ``overfit_steps`` steps
            (Adam at ``overfit_lr`` unless ``optimizer`` is given) and at most ``time_limit``
            seconds, and passes when the loss falls below ``overfit_loss`` (plus the smallest loss that
            label smoothing allows); for another loss (e.g. MSELoss, in its own units), below
            ``overfit_loss`` times its first value. Dropout is switched off for this check.
        skip: names of checks not to run (they print as skipped), e.g. ``("overfit_one_batch",)``.

    Returns:
        A :class:`SanityReport`: ``report.ok``, ``report.failed`` (names), ``print(report)``.

    Example:
        >>> report = sanity_check(model, train_loader, nn.CrossEntropyLoss())   # doctest: +SKIP
        >>> print(report)
        ✅ forward: a batch of shape (32, 3, 32, 32) gives outputs of shape (32, 10)
        ✅ input_normalisation: per-channel means -0.05 to 0.04 and stds 0.97 to 1.02 over 128 samples ...
        ❌ raw_scores: The outputs are probabilities (...), so the model applies softmax, ...: remove ...
    """
    from torch import nn

    if not isinstance(model, nn.Module):
        raise CourseError(f"sanity_check needs an nn.Module as its model, not {type(model).__name__}.")
    if isinstance(loss_fn, type):
        raise CourseError(
            f"loss_fn is the class {loss_fn.__name__}, not a loss: create one with parentheses, "
            f"e.g. loss_fn={loss_fn.__name__}()."
        )
    if not callable(loss_fn):
        raise CourseError(f"loss_fn should be a loss such as nn.CrossEntropyLoss(), not {type(loss_fn).__name__}.")
    skip = (skip,) if isinstance(skip, str) else tuple(skip)
    unknown = sorted(set(skip) - set(CHECKS))
    if unknown:
        raise CourseError(f"skip names unknown checks {unknown}: choose among {', '.join(CHECKS)}.")
    if num_batches < 1 or overfit_samples < 1 or overfit_steps < 1 or time_limit <= 0 or loss_tolerance <= 0:
        raise CourseError(
            "num_batches, overfit_samples, overfit_steps, time_limit and loss_tolerance must be positive."
        )
    device = resolve_device(model, None)
    with preserved_random_state(device):
        probe = Probe(
            model=model,
            batches=_collect(loader, device, num_batches),
            loss_fn=loss_fn,
            kind=loss_kind(loss_fn),
            loader=loader,
            optimizer=optimizer,
            options={
                "loss_tolerance": loss_tolerance,
                "overfit_samples": overfit_samples,
                "overfit_steps": overfit_steps,
                "overfit_lr": overfit_lr,
                "overfit_loss": overfit_loss,
                "time_limit": time_limit,
            },
        )
        forward = _guarded(_forward, probe)
        results = [CheckResult("forward", forward.status, forward.message)]
        for name, check in CHECKS.items():
            if name in skip:
                outcome = Outcome("skipped", "skipped, as skip= asks.")
            elif forward.status == "failed" and name not in NEEDS_NO_MODEL:
                outcome = Outcome("skipped", "skipped: the model could not process a batch (see forward).")
            elif name in NEEDS_LABELS and "label_range" in [r.name for r in results if r.status == "failed"]:
                outcome = Outcome("skipped", "skipped: the loss cannot use these labels (see label_range).")
            else:
                outcome = _guarded(check, probe)
            results.append(CheckResult(name, outcome.status, outcome.message, outcome.details))
    return SanityReport(tuple(results))
