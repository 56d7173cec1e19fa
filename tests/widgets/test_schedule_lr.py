"""ScheduleExplorer and LRFinderView: the drawn curves are PyTorch's schedulers, suggestions follow the smoothing."""

import math

import pytest
import torch
from torch.optim import lr_scheduler as S

from course_utils import LRFinderResult
from course_utils.errors import CourseError
from course_utils.widgets import LRFinderView, ScheduleExplorer
from course_utils.widgets.lr_finder_view import smooth_losses
from course_utils.widgets.schedule_explorer import SCHEDULES, schedule_curve


def torch_curve(make, steps, lr):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = make(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_known_values():
    assert schedule_curve("step", 6, 1.0, step_size=2, gamma=0.5) == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    exp = schedule_curve("exponential", 5, 2.0, gamma=0.5)
    assert exp == pytest.approx([2.0, 1.0, 0.5, 0.25, 0.125])
    cos = schedule_curve("cosine", 11, 1.0)
    assert cos[0] == 1.0 and cos[5] == pytest.approx(0.5) and cos[-1] == pytest.approx(0.0, abs=1e-12)
    one = schedule_curve("onecycle", 100, 0.1, pct_start=0.3, div_factor=25, final_div_factor=1e4)
    assert (
        one[0] == pytest.approx(0.1 / 25)
        and max(one) == pytest.approx(0.1)
        and one[-1] == pytest.approx(0.1 / 25 / 1e4)
    )


def test_widget_draws_the_scheduler_values():
    ex = ScheduleExplorer("step", steps=60, lr=0.5)
    ex.sliders["step"]["step_size"].value = 7
    ex.sliders["step"]["gamma"].value = 0.5
    x, y = ex.line.get_data()
    assert list(y) == pytest.approx(torch_curve(lambda o: S.StepLR(o, 7, 0.5), 60, 0.5))
    assert list(x) == list(range(60))
    ex.schedule.value = "cosine_restarts"
    assert [s.description for s in ex.param_box.children] == ["T_0", "T_mult", "eta_min_fraction"]
    ex.sliders["cosine_restarts"]["T_0"].value = 10
    y = ex.line.get_data()[1]
    assert list(y) == pytest.approx(torch_curve(lambda o: S.CosineAnnealingWarmRestarts(o, 10, 2), 60, 0.5))
    ex.schedule.value = "warmup_cosine"
    ex.steps.value = 100
    y = list(ex.line.get_data()[1])
    assert y[0] == pytest.approx(0.5 * 0.01) and max(y) == pytest.approx(0.5) and y.index(max(y)) == 10
    assert ex.ax.get_title().startswith("warmup_cosine: lr from 0.005")


@pytest.mark.parametrize("name", SCHEDULES)
def test_every_schedule_draws(name):
    ex = ScheduleExplorer(name, steps=50, lr=0.1)
    assert ex.message == "" and len(ex.curve) == 50 and all(v >= 0 for v in ex.curve)


def test_bad_schedule_name():
    with pytest.raises(CourseError, match="no schedule"):
        schedule_curve("linear_warmup_forever")


def make_result():
    lrs = [1e-6 * 10 ** (i / 20) for i in range(120)]
    raw = [
        2.3 - 1.5 / (1 + math.exp(-(math.log10(lr) + 3) * 3)) + max(0.0, lr - 1) * 3 + 0.05 * math.sin(3 * i)
        for i, lr in enumerate(lrs)
    ]
    return LRFinderResult(lrs, smooth_losses(raw, 0.98), raw)


def test_lr_finder_view_marks_and_schedule():
    result = make_result()
    view = LRFinderView(result, steps=500)
    for m in ("steepest", "valley", "min/10"):
        assert view.marks[m].get_xdata()[0] == pytest.approx(result.suggest(m))
    assert list(view.line.get_ydata()) == pytest.approx(result.losses)
    view.smooth.value = 0.5
    again = LRFinderResult(result.lrs, smooth_losses(result.raw_losses, 0.5), result.raw_losses)
    assert view.suggestions["valley"] == pytest.approx(again.suggest("valley"))
    view.method.value = "steepest"
    view.schedule.value = "warmup_cosine"
    y = view.sched_line.get_data()[1]
    assert max(y) == pytest.approx(again.suggest("steepest")) and len(y) == 500
    assert "warmup_cosine peaking at steepest" in view.ax_sched.get_title()


def test_smoothing_matches_lr_find_definition():
    # average_1 = 0.5, average_2 = 0.25 + 1.5 = 1.75; debiased: 0.5/0.5 = 1, 1.75/0.75 = 7/3
    assert smooth_losses([1.0, 3.0], 0.5) == pytest.approx([1.0, 7 / 3])


def test_lr_finder_view_rejects_other_objects():
    with pytest.raises(CourseError, match="lr_find"):
        LRFinderView([0.1, 0.2])
