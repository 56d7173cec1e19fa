"""The report of :func:`~course_utils.training.sanity.sanity_check`: one line per check.

:class:`CheckResult` is one check's verdict (passed, failed with the sentence saying
what is wrong and how to fix it, or skipped with why) and :class:`SanityReport`
the whole list, with ``ok``, ``failed`` and one printed line per check.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import CheckFailed

ICONS = {"passed": "✅", "failed": "❌", "skipped": "➖"}


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict: ``status`` is ``"passed"``, ``"failed"`` or ``"skipped"``; ``details`` holds its measurements."""

    name: str
    status: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{ICONS[self.status]} {self.name}: {self.message}"


@dataclass(frozen=True)
class SanityReport:
    """What :func:`sanity_check` found, one :class:`CheckResult` per check, in the order they ran.

    ``ok`` is True when no check failed (a skipped check, e.g. the ln(C) check of a
    regression model, does not count against it); ``failed`` names the failed checks.

    Example:
        >>> report = sanity_check(model, train_loader, nn.CrossEntropyLoss())   # doctest: +SKIP
        >>> report.ok, report.failed
        (False, ['raw_scores'])
        >>> print(report)          # one line per check: passed, or what is wrong and how to fix it
        >>> report["initial_loss"].details
        {'loss': 2.31, 'expected': 2.302585092994046, 'tolerance': 0.5756462732485115}
    """

    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def failed(self) -> list[str]:
        return [r.name for r in self.results if r.status == "failed"]

    @property
    def passed(self) -> list[str]:
        return [r.name for r in self.results if r.status == "passed"]

    @property
    def skipped(self) -> list[str]:
        return [r.name for r in self.results if r.status == "skipped"]

    def __getitem__(self, name: str) -> CheckResult:
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(f"No check is called {name!r}; the checks are {', '.join(r.name for r in self.results)}.")

    def __iter__(self) -> Iterator[CheckResult]:
        return iter(self.results)

    def __str__(self) -> str:
        return "\n".join(str(r) for r in self.results)

    def __repr__(self) -> str:
        return f"SanityReport(ok={self.ok}, failed={self.failed})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython shows the lines, not the repr
        printer.text(str(self))

    def raise_if_failed(self) -> None:
        """Raise :class:`CheckFailed` with the failed lines (for a check cell); do nothing when ``ok``."""
        if not self.ok:
            raise CheckFailed("\n".join(str(r) for r in self.results if r.status == "failed"))
