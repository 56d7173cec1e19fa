"""Tools for the saliency sanity check of Adebayo et al. (2018), "Sanity Checks for Saliency Maps" (NeurIPS).

The check asks whether an attribution map depends on what the model learned:
re-initialise the weights layer by layer from the output down (cascading
randomisation, :func:`cascading_randomisation`) and measure how much each map
changes with Spearman's rank correlation (:func:`spearman`) between the map of
the trained model and the map of the randomised one. A map that barely changes
when the weights are random cannot be explaining the trained model.

Nothing here computes an attribution: the methods come from Captum or from the
learner's own code.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from ..errors import CourseError

if TYPE_CHECKING:
    import torch
    from torch import nn


def _ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 1..n of a 1-D tensor, tied values sharing the mean of their ranks (float64)."""
    import torch

    order = torch.argsort(values, stable=True)
    # Runs of equal values in sorted order share the mean of the 1-based positions they occupy.
    _, run, counts = torch.unique_consecutive(values[order], return_inverse=True, return_counts=True)
    first = torch.cumsum(counts, 0) - counts  # 0-based position where each run starts
    mean_rank = first.to(torch.float64) + (counts.to(torch.float64) + 1) / 2
    ranks = torch.empty(values.numel(), dtype=torch.float64)
    ranks[order] = mean_rank[run]
    return ranks


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rank correlation of two tensors of the same shape, flattened (ties get mean ranks).

    It is Pearson's correlation of the ranks: 1 when ``b`` grows with ``a``
    (any increasing function), -1 when it shrinks, near 0 when unrelated.

    Args:
        a, b: tensors with the same number of elements, e.g. two ``(H, W)`` attribution maps.

    Raises:
        CourseError: when the sizes differ, there are fewer than two values, or one input is constant.

    Example:
        >>> spearman(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([10.0, 20.0, 300.0]))
        1.0
    """
    import torch

    a = torch.as_tensor(a).detach().flatten().cpu()
    b = torch.as_tensor(b).detach().flatten().cpu()
    if a.numel() != b.numel():
        raise CourseError(f"spearman needs two tensors of the same size, not {a.numel()} and {b.numel()} values.")
    if a.numel() < 2:
        raise CourseError("spearman needs at least two values in each tensor.")
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = float(ra.norm() * rb.norm())
    if denominator == 0.0:
        raise CourseError("spearman is undefined when one tensor is constant (all its values tie).")
    return float((ra * rb).sum()) / denominator


def randomise_(module: nn.Module, seed: int = 0) -> nn.Module:
    """Re-initialise, in place, every layer inside ``module`` that has ``reset_parameters`` (BatchNorm too).

    The new weights are PyTorch's default initialisation drawn from ``seed``;
    the global random state is left as it was. Returns ``module``.

    Example:
        >>> randomise_(model.fc, seed=1)   # the classifier forgets what it learned
    """
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with torch.no_grad():
            for layer in module.modules():
                reset = getattr(layer, "reset_parameters", None)
                if callable(reset):
                    reset()
    return module


def cascading_randomisation(
    model: nn.Module, layers: Sequence[str], *, seed: int = 0
) -> Iterator[tuple[str, nn.Module]]:
    """Yield ``(name, copy)``: copies of ``model`` with ``layers[0]``, then also ``layers[1]``, ... re-initialised.

    List ``layers`` from the output down (e.g. ``["fc", "layer4", "layer3"]``)
    as Adebayo et al. do: the k-th copy has the first k layers random and the
    rest trained. ``model`` itself is never changed; each copy keeps the
    model's mode (train or eval).

    Raises:
        CourseError: when a name is not a submodule of ``model`` (with the closest names).

    Example:
        >>> for name, random_model in cascading_randomisation(model, ["fc", "layer4"]):
        ...     print(name, spearman(saliency(model, x), saliency(random_model, x)))
    """
    from .hooks import resolve_layers

    modules = resolve_layers(model, list(layers))  # checks every name, with suggestions
    if len(modules) != len(layers) or len(set(layers)) != len(layers):
        raise CourseError("cascading_randomisation needs distinct layer names.")
    randomised = copy.deepcopy(model)
    for number, name in enumerate(layers):
        randomise_(randomised.get_submodule(name), seed=seed + number)
        yield name, copy.deepcopy(randomised)
