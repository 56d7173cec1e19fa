"""Test inputs for :func:`~course_utils.checks.check_function`: one :class:`Case`, or many drawn at random.

A check that tries one hand-picked input misses the off-by-one that only shows
with stride 2, an odd width or a batch of one. :func:`random_cases` draws many
inputs from a seeded generator, so a visible test and a hidden test can use the
same recipe with different seeds, and a failure names the first case that
differs (its shapes and settings), not the whole list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import CourseError
from .core import describe, short

if TYPE_CHECKING:
    import torch

__all__ = ["Case", "CaseMaker", "as_case", "random_cases"]


@dataclass(frozen=True)
class Case:
    """One input for :func:`check_function`: positional and keyword arguments.

    Example:
        >>> Case((x, w), {"stride": 2}).describe(("x", "weight"))
        'x: a float32 tensor of shape (1, 3, 8, 8); weight: a float32 tensor of shape (4, 3, 3, 3); stride=2'
    """

    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def describe(self, names: Sequence[str] | None = None) -> str:
        parts = []
        for i, value in enumerate(self.args):
            label = names[i] if names and i < len(names) else f"argument {i + 1}"
            parts.append(f"{label}: {describe(value)}")
        parts += [f"{key}={short(value)}" for key, value in self.kwargs.items()]
        return "; ".join(parts) if parts else "no arguments"


def as_case(case: Any) -> Case:
    """A :class:`Case` from a Case, a tuple of positional arguments, a dict of keyword arguments or one argument."""
    if isinstance(case, Case):
        return case
    if isinstance(case, tuple):
        return Case(args=case)
    if isinstance(case, Mapping):
        return Case(kwargs=dict(case))
    return Case(args=(case,))


class CaseMaker:
    """Seeded random draws for building one case: whole numbers, choices and tensors.

    Example:
        >>> r = CaseMaker(seed=0)
        >>> x = r.randn(r.int(1, 3), 3, 8, 8)   # (N, 3, 8, 8) with N in 1..3
    """

    def __init__(self, seed: int = 0) -> None:
        import random

        import torch

        self.random = random.Random(seed)
        self.generator = torch.Generator().manual_seed(seed)

    def int(self, low: int, high: int) -> int:
        """A whole number in ``low .. high``, both included."""
        if high < low:
            raise CourseError(f"CaseMaker.int needs low <= high, got {low} and {high}.")
        return self.random.randint(low, high)

    def choice(self, options: Sequence[Any]) -> Any:
        """One of ``options``."""
        return self.random.choice(list(options))

    def randn(self, *shape: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        """A standard normal tensor of ``shape`` (float32 unless ``dtype`` says otherwise)."""
        import torch

        return torch.randn(*shape, generator=self.generator, dtype=dtype or torch.float32)

    def rand(self, *shape: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        """A tensor of ``shape`` uniform in [0, 1)."""
        import torch

        return torch.rand(*shape, generator=self.generator, dtype=dtype or torch.float32)

    def randint(self, low: int, high: int, shape: Sequence[int]) -> torch.Tensor:
        """An int64 tensor of ``shape`` with values in ``low .. high - 1`` (as ``torch.randint``)."""
        import torch

        return torch.randint(low, high, tuple(shape), generator=self.generator)


def random_cases(make: Callable[[CaseMaker], Any], n: int = 20, *, seed: int = 0) -> list[Case]:
    """``n`` cases from ``make(r)``, which draws with ``r`` (a :class:`CaseMaker`) and returns one case.

    ``make`` returns what :func:`~course_utils.checks.check_function` accepts: a
    tuple of positional arguments, a dict of keyword arguments or a
    :class:`Case`. The same ``seed`` gives the same cases.

    Example:
        >>> def make(r):
        ...     c, h, k = r.int(1, 3), r.int(3, 9), r.int(1, 3)
        ...     x, w = r.randn(r.int(1, 2), c, h, h), r.randn(r.int(1, 4), c, k, k)   # (N, C, H, W), (C', C, k, k)
        ...     return Case((x, w), {"stride": r.int(1, 2), "padding": r.int(0, k - 1)})
        >>> check_function(conv2d_loops, F.conv2d, random_cases(make, 25), arg_names=("x", "weight"))
        ✓ conv2d_loops matches the reference on 25 cases
    """
    if not callable(make):
        raise CourseError(f"make should be a function that draws one case, not {type(make).__name__}.")
    if not isinstance(n, int) or n < 1:
        raise CourseError(f"n={n!r} should be a whole number >= 1: the number of cases to draw.")
    maker = CaseMaker(seed)
    return [as_case(make(maker)) for _ in range(n)]
