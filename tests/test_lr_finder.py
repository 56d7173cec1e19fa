"""lr_find: exact state restore, the LR sweep, smoothing, early stop, and the suggestion heuristics."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import CourseError, LRFinderResult, lr_find

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _setup(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )
    xs, ys = torch.randn(32, 3, 8, 8), torch.randint(0, 3, (32,))
    loader = [(xs[i : i + 8], ys[i : i + 8]) for i in range(0, 32, 8)]
    return model, loader


def _equal_states(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], dict):
            _equal_states(a[k], b[k])
        elif isinstance(a[k], torch.Tensor):
            assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k
        elif isinstance(a[k], list):
            assert len(a[k]) == len(b[k])
            for x, y in zip(a[k], b[k]):
                _equal_states(x, y) if isinstance(x, dict) else None
                assert isinstance(x, dict) or x == y
        else:
            assert a[k] == b[k], k


def _snapshot(model, opt):
    import copy

    return copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict())


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-4),
        lambda p: torch.optim.AdamW(p, lr=3e-3),
    ],
)
def test_model_and_optimizer_are_restored_bit_for_bit(make_opt):
    model, loader = _setup()
    opt = make_opt(model.parameters())
    # a real training step first, so the optimiser has momentum buffers / Adam moments and a step count
    F.cross_entropy(model(loader[0][0]), loader[0][1]).backward()
    opt.step()
    model.eval()
    before_model, before_opt = _snapshot(model, opt)
    grad_before = model[0].weight.grad.clone()
    result = lr_find(model, loader, opt, nn.CrossEntropyLoss(), start_lr=1e-4, end_lr=1.0, num_iter=12)
    assert len(result.lrs) == 12
    after_model, after_opt = _snapshot(model, opt)
    _equal_states(before_model, after_model)  # weights and BatchNorm running stats
    _equal_states(before_opt, after_opt)  # momentum buffers, step counts and the LR
    assert opt.param_groups[0]["lr"] in (0.05, 3e-3)
    assert torch.equal(model[0].weight.grad, grad_before) and not model.training


def test_restore_fails_to_hold_without_restoring():
    """The comparison above can fail: a plain training loop changes the same states."""
    model, loader = _setup()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    before_model, before_opt = _snapshot(model, opt)
    F.cross_entropy(model(loader[0][0]), loader[0][1]).backward()
    opt.step()
    with pytest.raises(AssertionError):
        _equal_states(before_model, model.state_dict())
    with pytest.raises(AssertionError):
        _equal_states(before_opt, opt.state_dict())


def test_exponential_sweep_smoothing_and_loader_restart():
    model, loader = _setup()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    result = lr_find(
        model, loader, opt, nn.CrossEntropyLoss(), start_lr=1e-5, end_lr=1e-1, num_iter=9, smooth=0.7, diverge_th=1e9
    )
    expected = [1e-5 * 10 ** (i / 2) for i in range(9)]  # 4 decades over 8 steps; the loader (4 batches) restarts
    assert result.lrs == pytest.approx(expected, rel=1e-9)
    avg = 0.0
    for i, (raw, smoothed) in enumerate(zip(result.raw_losses, result.losses)):
        avg = 0.7 * avg + 0.3 * raw
        assert smoothed == pytest.approx(avg / (1 - 0.7 ** (i + 1)))
    assert result.losses[0] == pytest.approx(result.raw_losses[0])  # bias correction: no pull towards 0


def test_a_diverging_run_stops_early():
    model, loader = _setup()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    result = lr_find(model, loader, opt, nn.CrossEntropyLoss(), start_lr=1e-3, end_lr=1e6, num_iter=100)
    assert 3 <= len(result.lrs) < 100
    assert result.losses[-1] > 4.0 * min(result.losses) or not math.isfinite(result.raw_losses[-1])


def test_wrong_arguments_give_course_errors():
    model, loader = _setup()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for kwargs in [dict(start_lr=1.0, end_lr=0.1), dict(num_iter=1), dict(smooth=1.0), dict(diverge_th=0.5)]:
        with pytest.raises(CourseError):
            lr_find(model, loader, opt, nn.CrossEntropyLoss(), **kwargs)
    with pytest.raises(CourseError, match="no batches"):
        lr_find(model, [], opt, nn.CrossEntropyLoss(), num_iter=3)


def _curve():
    lrs = [10 ** (-6 + i * 0.1) for i in range(61)]  # 1e-6 .. 1
    x = [math.log10(lr) for lr in lrs]
    losses = [2.0 - 1.5 / (1 + math.exp(-3 * (v + 3))) + (max(0.0, v + 1) ** 2) * 3 for v in x]
    return LRFinderResult(lrs, losses)


def test_suggestions_on_a_known_curve():
    result = _curve()
    # steepest: the logistic drop is steepest at log10(lr) = -3
    assert math.log10(result.suggest("steepest")) == pytest.approx(-3, abs=0.051)
    # min/10: the minimum is at 1e-1 .. 1e-1 region before the quadratic rise (around log10 = -1.x)
    i_min = min(range(61), key=result.losses.__getitem__)
    assert result.suggest("min/10") == pytest.approx(result.lrs[i_min] / 10)
    # valley: the decreasing run spans indices 0..i_min, pick start + int(L/3) + int(L/6)
    third = i_min / 3
    assert result.suggest("valley") == pytest.approx(result.lrs[int(third) + int(third / 2)])
    with pytest.raises(CourseError):
        result.suggest("median")


def test_valley_ignores_noise_before_the_long_descent():
    lrs = [10 ** (-5 + i * 0.25) for i in range(21)]
    losses = [
        3.0,
        3.2,
        2.9,
        3.3,
        3.4,
        3.35,
        3.3,
        3.2,
        3.0,
        2.7,
        2.3,
        1.9,
        1.6,
        1.4,
        1.3,
        1.25,
        2.0,
        5.0,
        9.0,
        20.0,
        50.0,
    ]
    result = LRFinderResult(lrs, losses)
    # longest decreasing subsequence ends at index 15 and has length 12 (3.4 .. 1.25 from index 4), start = 3
    assert result.suggest("valley") == pytest.approx(lrs[3 + 4 + 2])


def test_plot_returns_axes_and_marks_the_suggestion():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    result = _curve()
    fig, ax = plt.subplots()
    assert result.plot(ax=ax, method="steepest") is ax
    assert ax.get_xscale() == "log"
    xs = [line.get_xdata()[0] for line in ax.lines if len(line.get_xdata()) <= 2]
    assert any(x == pytest.approx(result.suggest("steepest")) for x in xs)
    plt.close(fig)
    ax2 = result.plot()
    assert ax2 is not None
    plt.close(ax2.figure)


def test_state_is_restored_when_the_run_fails_and_random_state_is_untouched():
    model, loader = _setup()
    model.add_module("drop", nn.Dropout(0.5))  # draws from torch's random generator
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    before_model, before_opt = _snapshot(model, opt)
    calls = []

    def failing_loss(out, y):
        calls.append(1)
        if len(calls) == 4:
            raise ValueError("boom")
        return F.cross_entropy(out, y)

    torch.manual_seed(7)
    with pytest.raises(ValueError, match="boom"):
        lr_find(model, loader, opt, failing_loss, num_iter=10)
    _equal_states(before_model, model.state_dict())  # three optimiser steps were taken, and undone
    _equal_states(before_opt, opt.state_dict())
    assert all(p.grad is None for p in model.parameters()) and model.training
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    lr_find(model, loader, opt, nn.CrossEntropyLoss(), num_iter=5)
    assert torch.equal(torch.rand(3), expected)  # as if lr_find had not run
