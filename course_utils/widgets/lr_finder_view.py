"""LRFinderView: the LR range test's loss curve with a smoothing slider, every heuristic's suggestion, and the schedule it leads to.

Smoothing re-runs the same debiased exponential moving average ``lr_find``
uses on the raw losses; the suggestions come from ``LRFinderResult.suggest``
on the re-smoothed curve, and the schedule panel from
:func:`~course_utils.widgets.schedule_explorer.schedule_curve` (PyTorch's
OneCycleLR or LinearLR+CosineAnnealingLR) with the chosen LR as its peak.
"""

from __future__ import annotations

from typing import Any

from ..errors import CourseError
from ._frontend import FigureWidget, message_html, new_figure

COLORS = {"steepest": "tab:green", "valley": "tab:red", "min/10": "tab:purple"}


def smooth_losses(raw: list[float], beta: float) -> list[float]:
    """Debiased exponential moving average (``beta`` = weight of the past), as in ``lr_find``."""
    out, average = [], 0.0
    for i, value in enumerate(raw):
        average = beta * average + (1 - beta) * value
        out.append(average / (1 - beta ** (i + 1)))
    return out


class LRFinderView(FigureWidget):
    """Interactive view of an :class:`~course_utils.LRFinderResult`.

    Example:
        >>> result = lr_find(model, loader, optimizer, loss_fn)
        >>> LRFinderView(result)
    """

    def __init__(self, result: Any, *, smooth: float = 0.98, steps: int = 1000) -> None:
        import ipywidgets as widgets

        from ..training import METHODS, LRFinderResult

        if not isinstance(result, LRFinderResult):
            raise CourseError(
                "LRFinderView needs the result of course_utils.lr_find(...), e.g. LRFinderView(lr_find(model, loader, opt, loss_fn))."
            )
        if len(result.lrs) < 3:
            raise CourseError(
                "The range test stopped after fewer than 3 steps: lower start_lr or raise diverge_th, then run lr_find again."
            )
        self.result = result
        self.raw = list(result.raw_losses) if len(result.raw_losses) == len(result.lrs) else list(result.losses)
        self.smooth = widgets.FloatSlider(value=smooth, min=0.0, max=0.99, step=0.01, description="smoothing")
        self.method = widgets.ToggleButtons(options=list(METHODS), value="valley", description="use")
        self.schedule = widgets.ToggleButtons(
            options=["onecycle", "warmup_cosine"], value="onecycle", description="schedule"
        )
        self.steps = widgets.IntSlider(value=steps, min=50, max=max(5000, steps), step=50, description="steps")
        self.msg = widgets.HTML()
        self.fig = new_figure(10.0, 3.4, dpi=72)
        self.ax_loss, self.ax_sched = self.fig.subplots(1, 2)
        self.fig.subplots_adjust(left=0.07, right=0.98, top=0.88, bottom=0.16, wspace=0.25)
        self.ax_loss.plot(result.lrs, self.raw, color="0.75", linewidth=1, label="raw loss")
        (self.line,) = self.ax_loss.plot(result.lrs, result.losses, color="tab:blue", linewidth=2, label="smoothed")
        self.ax_loss.set_xscale("log")
        self.ax_loss.set_xlabel("learning rate")
        self.ax_loss.set_ylabel("loss")
        self.marks = {m: self.ax_loss.axvline(result.lrs[0], color=COLORS[m], linestyle="--", label=m) for m in METHODS}
        (self.sched_line,) = self.ax_sched.plot([0], [0], color="tab:orange", linewidth=2)
        self.ax_sched.set_xlabel("optimizer step")
        self.ax_sched.set_ylabel("learning rate")
        self.ax_sched.grid(alpha=0.3)
        lo, hi = min(self.raw), max(self.raw)
        self.ax_loss.set_ylim(lo - 0.05 * (hi - lo), min(hi, lo + 4 * (self.raw[0] - lo + 1e-12)) + 0.05 * (hi - lo))
        self.view = widgets.VBox(
            [
                self._make_image_widget(),
                widgets.HBox([widgets.VBox([self.smooth, self.method]), widgets.VBox([self.schedule, self.steps])]),
                self.msg,
            ]
        )
        for w in (self.smooth, self.method, self.schedule, self.steps):
            w.observe(lambda change: self._update(), "value")
        self._update()

    def _update(self) -> None:
        from ..training import METHODS, LRFinderResult
        from .schedule_explorer import schedule_curve

        self.losses = smooth_losses(self.raw, self.smooth.value)
        curve = LRFinderResult(list(self.result.lrs), self.losses, self.raw)
        self.suggestions = {m: curve.suggest(m) for m in METHODS}
        self.line.set_ydata(self.losses)
        for m, line in self.marks.items():
            line.set_xdata([self.suggestions[m]] * 2)
            line.set_label(f"{m}: {self.suggestions[m]:.2g}")
            line.set_linewidth(2.5 if m == self.method.value else 1)
        self.ax_loss.legend(loc="upper left", fontsize=8)
        self.ax_loss.set_title(f"LR range test (smoothing {self.smooth.value:.2f})", fontsize=11)
        self.lr = self.suggestions[self.method.value]
        try:
            self.curve = schedule_curve(self.schedule.value, self.steps.value, self.lr)
            self.message = ""
        except CourseError as exc:
            self.curve, self.message = [self.lr], str(exc)
        self.msg.value = message_html(self.message)
        self.sched_line.set_data(range(len(self.curve)), self.curve)
        self.ax_sched.set_xlim(0, max(1, len(self.curve) - 1))
        self.ax_sched.set_ylim(0, max(self.curve) * 1.08)
        self.ax_sched.set_title(f"{self.schedule.value} peaking at {self.method.value} lr = {self.lr:.2g}", fontsize=11)
        self._refresh()

    def _summary(self) -> str:
        return f"LRFinderView({len(self.result.lrs)} points; suggestions { ({m: float(f'{v:.3g}') for m, v in self.suggestions.items()}) })"
