"""ScheduleExplorer: learning-rate schedules as PyTorch's own schedulers produce them, with sliders for their parameters.

Every curve comes from stepping a real ``torch.optim.lr_scheduler`` on a dummy
SGD optimizer (:func:`schedule_curve`); nothing re-implements the formulas.
"warmup+cosine" is ``SequentialLR([LinearLR, CosineAnnealingLR])``.
"""

from __future__ import annotations

from typing import Any

from ..errors import CourseError
from ._frontend import FigureWidget, message_html, new_figure

SCHEDULES = ("step", "multistep", "exponential", "cosine", "cosine_restarts", "warmup_cosine", "onecycle")

# name -> parameter -> (default, min, max, step, kind)   kind: "int" | "float" | "frac"
PARAMS: dict[str, dict[str, tuple[float, float, float, float, str]]] = {
    "step": {"step_size": (30, 1, 200, 1, "int"), "gamma": (0.1, 0.05, 0.95, 0.05, "float")},
    "multistep": {
        "first_milestone": (50, 1, 300, 1, "int"),
        "second_milestone": (75, 1, 300, 1, "int"),
        "gamma": (0.1, 0.05, 0.95, 0.05, "float"),
    },
    "exponential": {"gamma": (0.97, 0.8, 0.999, 0.001, "float")},
    "cosine": {"eta_min_fraction": (0.0, 0.0, 0.5, 0.01, "frac")},
    "cosine_restarts": {
        "T_0": (20, 1, 100, 1, "int"),
        "T_mult": (2, 1, 3, 1, "int"),
        "eta_min_fraction": (0.0, 0.0, 0.5, 0.01, "frac"),
    },
    "warmup_cosine": {"warmup_steps": (10, 1, 100, 1, "int"), "start_factor": (0.01, 0.001, 1.0, 0.001, "float")},
    "onecycle": {
        "pct_start": (0.3, 0.05, 0.95, 0.05, "float"),
        "div_factor": (25, 1, 100, 1, "float"),
        "final_div_factor": (1e4, 1, 1e5, 1, "float"),
    },
}


def schedule_curve(name: str, steps: int = 100, lr: float = 0.1, **params: Any) -> list[float]:
    """The learning rate at each of ``steps`` optimizer steps for schedule ``name``, from PyTorch's scheduler.

    Parameters default to :data:`PARAMS`; ``eta_min_fraction`` is ``eta_min / lr``.

    Example:
        >>> schedule_curve("step", 4, 1.0, step_size=2, gamma=0.5)
        [1.0, 1.0, 0.5, 0.5]
    """
    import torch
    from torch.optim import lr_scheduler as S

    if name not in PARAMS:
        raise CourseError(f"There is no schedule called {name!r}; choose one of: {', '.join(SCHEDULES)}.")
    unknown = set(params) - set(PARAMS[name])
    if unknown:
        raise CourseError(f"The {name} schedule takes {', '.join(PARAMS[name])}, not {', '.join(sorted(unknown))}.")
    if steps < 2:
        raise CourseError("Use at least 2 steps.")
    p = {k: v[0] for k, v in PARAMS[name].items()} | params
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    if name == "step":
        sched = S.StepLR(opt, step_size=int(p["step_size"]), gamma=p["gamma"])
    elif name == "multistep":
        sched = S.MultiStepLR(
            opt, milestones=sorted({int(p["first_milestone"]), int(p["second_milestone"])}), gamma=p["gamma"]
        )
    elif name == "exponential":
        sched = S.ExponentialLR(opt, gamma=p["gamma"])
    elif name == "cosine":
        sched = S.CosineAnnealingLR(opt, T_max=steps - 1, eta_min=lr * p["eta_min_fraction"])
    elif name == "cosine_restarts":
        sched = S.CosineAnnealingWarmRestarts(
            opt, T_0=int(p["T_0"]), T_mult=int(p["T_mult"]), eta_min=lr * p["eta_min_fraction"]
        )
    elif name == "warmup_cosine":
        warm = min(int(p["warmup_steps"]), steps - 1)
        sched = S.SequentialLR(
            opt,
            [
                S.LinearLR(opt, start_factor=p["start_factor"], total_iters=warm),
                S.CosineAnnealingLR(opt, T_max=max(1, steps - 1 - warm)),
            ],
            milestones=[warm],
        )
    else:
        sched = S.OneCycleLR(
            opt,
            max_lr=lr,
            total_steps=steps,
            pct_start=p["pct_start"],
            div_factor=p["div_factor"],
            final_div_factor=p["final_div_factor"],
        )
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


class ScheduleExplorer(FigureWidget):
    """Pick a schedule, move its sliders, see the learning rate at every step (PyTorch's schedulers).

    Example:
        >>> ScheduleExplorer("onecycle", steps=200, lr=0.1)
    """

    def __init__(self, schedule: str = "warmup_cosine", *, steps: int = 100, lr: float = 0.1) -> None:
        import ipywidgets as widgets

        if schedule not in PARAMS:
            raise CourseError(f"There is no schedule called {schedule!r}; choose one of: {', '.join(SCHEDULES)}.")
        self.schedule = widgets.Dropdown(options=list(SCHEDULES), value=schedule, description="schedule")
        self.steps = widgets.IntSlider(value=steps, min=10, max=max(1000, steps), step=10, description="steps")
        self.lr = widgets.FloatLogSlider(value=lr, base=10, min=-5, max=1, step=0.1, description="base lr")
        self.sliders: dict[str, dict[str, Any]] = {}
        for name, spec in PARAMS.items():
            self.sliders[name] = {}
            for key, (default, lo, hi, step, kind) in spec.items():
                cls = widgets.IntSlider if kind == "int" else widgets.FloatSlider
                s = cls(
                    value=default,
                    min=lo,
                    max=hi,
                    step=step,
                    description=key,
                    style={"description_width": "120px"},
                    layout=widgets.Layout(width="360px"),
                )
                if key == "final_div_factor":
                    s = widgets.FloatLogSlider(
                        value=default,
                        base=10,
                        min=0,
                        max=5,
                        step=0.1,
                        description=key,
                        style={"description_width": "120px"},
                        layout=widgets.Layout(width="360px"),
                    )
                s.observe(lambda change: self._update(), "value")
                self.sliders[name][key] = s
        self.param_box = widgets.VBox()
        self.msg = widgets.HTML()
        self.fig = new_figure(7.0, 3.2, dpi=72)
        self.ax = self.fig.add_subplot(1, 1, 1)
        self.fig.subplots_adjust(left=0.12, right=0.97, top=0.88, bottom=0.16)
        (self.line,) = self.ax.plot([0], [lr], color="tab:blue", linewidth=2)
        self.ax.set_xlabel("optimizer step")
        self.ax.set_ylabel("learning rate")
        self.ax.grid(alpha=0.3)
        self.view = widgets.HBox(
            [self._make_image_widget(), widgets.VBox([self.schedule, self.steps, self.lr, self.param_box, self.msg])]
        )
        for w in (self.steps, self.lr):
            w.observe(lambda change: self._update(), "value")
        self.schedule.observe(lambda change: self._update(), "value")
        self._update()

    def params(self) -> dict[str, Any]:
        """Current parameters of the selected schedule."""
        return {k: s.value for k, s in self.sliders[self.schedule.value].items()}

    def _update(self) -> None:
        name = self.schedule.value
        self.param_box.children = tuple(self.sliders[name].values())
        try:
            self.curve = schedule_curve(name, self.steps.value, self.lr.value, **self.params())
            self.message = ""
        except (CourseError, ValueError) as exc:
            self.curve, self.message = [], str(exc).split("\n")[0]
        self.msg.value = message_html(self.message)
        if self.curve:
            self.line.set_data(range(len(self.curve)), self.curve)
            self.ax.set_xlim(0, len(self.curve) - 1)
            top = max(self.curve)
            self.ax.set_ylim(0, top * 1.08 if top > 0 else 1)
        self.ax.set_title(
            f"{name}: lr from {self.curve[0]:.3g} to {self.curve[-1]:.3g}" if self.curve else name, fontsize=11
        )
        self._refresh()

    def _summary(self) -> str:
        return f"ScheduleExplorer({self.schedule.value!r}, steps={self.steps.value}, lr={self.lr.value:g}, {self.params()})"
