"""capture_activations / capture_gradients / activation_stats, with PyTorch's own results as the oracle."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import CourseError, activation_stats, capture_activations, capture_gradients

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Sequential(nn.Flatten(), nn.Linear(4 * 4 * 4, 5)),
    )


def _no_hooks(model):
    return all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks for m in model.modules())


def test_activations_are_cloned_past_an_inplace_relu_and_detached():
    model, x = _model(), torch.randn(2, 3, 8, 8, requires_grad=True)
    with capture_activations(model, ["0", nn.ReLU, model[3][1]]) as acts:
        out = model(x)
    conv = F.conv2d(x, model[0].weight, model[0].bias, padding=1)
    assert (conv < 0).any()  # the in-place ReLU would have zeroed these in an uncloned tensor
    torch.testing.assert_close(acts["0"][0], conv.detach())
    torch.testing.assert_close(acts["1"][0], conv.relu().detach())
    torch.testing.assert_close(acts["3.1"][0], out.detach())
    assert all(not t.requires_grad for ts in acts.values() for t in ts)
    assert list(acts) == ["0", "1", "3.1"] and set(acts.last()) == {"0", "1", "3.1"}
    assert _no_hooks(model)


def test_one_entry_per_forward_pass_and_types_select_every_match():
    model = _model()
    with capture_activations(model, nn.Module) as acts:  # every module, the root included
        model(torch.randn(1, 3, 8, 8))
        model(torch.randn(3, 3, 8, 8))
    assert "Sequential" in acts and "3.0" in acts
    assert [t.shape[0] for t in acts["2"]] == [1, 3]


def test_hooks_are_removed_after_an_exception():
    model = _model()
    with pytest.raises(RuntimeError):
        with capture_activations(model, nn.Module), capture_gradients(model, nn.Module), activation_stats(model):
            model(torch.randn(1, 3, 5, 5))  # wrong size: Linear fails
    assert _no_hooks(model)
    with pytest.raises(ZeroDivisionError):
        with capture_gradients(model, "0"):
            _ = 1 / 0
    assert _no_hooks(model)


def test_a_wrong_name_lists_close_valid_names():
    model = nn.Sequential()
    model.add_module("features", nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()))
    with pytest.raises(CourseError, match=r"'feature\.0'.*'features\.0'"):
        with capture_activations(model, "feature.0"):
            pass
    with pytest.raises(CourseError, match="no BatchNorm2d"):
        with capture_activations(model, nn.BatchNorm2d):
            pass
    with pytest.raises(CourseError, match="not part of this model"):
        with capture_activations(model, nn.ReLU()):
            pass
    assert _no_hooks(model)


def test_gradients_match_autograd_for_layers_with_and_without_parameters():
    model, x, y = _model(), torch.randn(2, 3, 8, 8), torch.tensor([1, 3])
    with capture_activations(model, ["0", "1", "2"]) as acts:
        model(x)
    # oracle: autograd.grad with respect to re-created intermediate tensors
    a0 = acts["0"][0].clone().requires_grad_()
    a1 = a0.relu()
    a2 = F.max_pool2d(a1, 2)
    loss_ref = F.cross_entropy(model[3](a2), y)
    g0, g1, g2 = torch.autograd.grad(loss_ref, [a0, a1, a2])
    model.zero_grad()
    with capture_gradients(model, ["0", "1", "2"]) as grads:
        F.cross_entropy(model(x), y).backward()
    torch.testing.assert_close(grads["0"][0], g0)  # conv output, seen before the in-place ReLU changed it
    torch.testing.assert_close(grads["1"][0], g1)  # in-place ReLU, no parameters
    torch.testing.assert_close(grads["2"][0], g2)  # max pool, no parameters
    assert not (g0 == g1).all()
    assert _no_hooks(model)


def test_a_backward_after_the_block_records_nothing():
    model = _model()
    with capture_gradients(model, "1") as grads:
        out = model(torch.randn(1, 3, 8, 8))
    out.sum().backward()
    assert grads["1"] == []


def test_activation_stats_per_layer_per_step():
    model = _model()
    xs = [torch.randn(4, 3, 8, 8) * s for s in (1.0, 3.0)]
    with activation_stats(model, [nn.Conv2d, nn.ReLU]) as stats:
        for x in xs:
            model(x)
    assert stats.layers == ["0", "1"] and stats.steps == 2
    for step, x in enumerate(xs):
        conv = model[0](x)
        assert stats.mean["0"][step] == pytest.approx(conv.mean().item(), rel=1e-5, abs=1e-6)
        assert stats.std["1"][step] == pytest.approx(conv.relu().std().item(), rel=1e-5)
        assert stats.zeros["1"][step] == pytest.approx((conv <= 0).float().mean().item())
        assert stats.zeros["0"][step] == 0.0
    assert "zeros" in str(stats) and _no_hooks(model)


def test_activation_stats_plot_returns_axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = _model()
    with activation_stats(model, nn.ReLU) as stats:
        model(torch.randn(2, 3, 8, 8))
    fig, ax = plt.subplots()
    assert stats.plot("zeros", ax=ax) is ax and len(ax.lines) == 1
    with pytest.raises(CourseError):
        stats.plot("median", ax=ax)
    plt.close(fig)
