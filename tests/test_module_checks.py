"""course_utils.checks for modules: type, parameter counts, requires_grad, output shapes."""

import pytest
import torch
from torch import nn

from course_utils import checks
from course_utils.errors import CheckFailed


def test_check_module_accepts_instances_and_names_classes():
    checks.check_module(nn.Conv2d(1, 1, 3), nn.Conv2d)
    with pytest.raises(CheckFailed, match="is the class Conv2d, not a module"):
        checks.check_module(nn.Conv2d)
    with pytest.raises(CheckFailed, match="should be a Conv2d, but it is a Linear"):
        checks.check_module(nn.Linear(2, 2), nn.Conv2d)
    with pytest.raises(CheckFailed, match="should be an nn.Module"):
        checks.check_module(lambda x: x)


def test_param_count_matches_pytorch_and_reports_tensors():
    conv = nn.Conv2d(3, 8, 3)
    expected = sum(p.numel() for p in conv.parameters())
    assert checks.count_parameters(conv) == expected == 3 * 8 * 9 + 8
    checks.check_param_count(conv, expected)
    with pytest.raises(CheckFailed, match=r"has 224 parameters, expected 216 .*weight: \(8, 3, 3, 3\)"):
        checks.check_param_count(conv, 216)


def test_shared_parameters_are_counted_once():
    layer = nn.Linear(4, 4)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    assert checks.count_parameters(model) == 20


def test_trainable_only_counts_unfrozen_parameters():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    for p in model[0].parameters():
        p.requires_grad_(False)
    checks.check_param_count(model, 10, trainable_only=True)
    with pytest.raises(CheckFailed, match="trainable parameters"):
        checks.check_param_count(model, 30, trainable_only=True)


def test_requires_grad_on_tensors_and_modules():
    checks.check_requires_grad(torch.ones(2, requires_grad=True), True)
    with pytest.raises(CheckFailed, match="still tracks gradients"):
        checks.check_requires_grad(torch.ones(2, requires_grad=True), False)
    model = nn.Linear(2, 2)
    with pytest.raises(CheckFailed, match="2 parameter tensors of model are still trainable"):
        checks.check_requires_grad(model, False, "model")
    model.requires_grad_(False)
    checks.check_requires_grad(model, False, "model")


def test_output_shape_and_broken_layers():
    good = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
    assert checks.check_output_shape(good, (2, 3, 8, 8), (2, 10)) is None  # no check returns a value
    with pytest.raises(CheckFailed, match=r"maps an input of shape \(2, 3, 8, 8\) to \(2, 10\), expected \(2, 5\)"):
        checks.check_output_shape(good, (2, 3, 8, 8), (2, 5))
    broken = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(100, 10))
    with pytest.raises(CheckFailed, match="your model raised RuntimeError"):
        checks.check_output_shape(broken, (2, 3, 8, 8), (2, 10))


def test_check_layers_names_the_first_layer_that_differs():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Sequential(nn.Flatten(), nn.Linear(36, 2)))
    checks.check_layers(model, [nn.Conv2d, nn.ReLU, nn.Flatten, nn.Linear])
    checks.check_layers(model, [nn.Module, nn.Module, nn.Module, nn.Module])  # base classes match
    with pytest.raises(
        CheckFailed,
        match=r"layer 2 of model \('1'\) is a ReLU, expected a MaxPool2d \(its layers: Conv2d, ReLU, Flatten, Linear\)",
    ):
        checks.check_layers(model, [nn.Conv2d, nn.MaxPool2d, nn.Flatten, nn.Linear])
    with pytest.raises(CheckFailed, match="has 4 layers, expected 5: missing at the end: Softmax"):
        checks.check_layers(model, [nn.Conv2d, nn.ReLU, nn.Flatten, nn.Linear, nn.Softmax])
    with pytest.raises(CheckFailed, match="has 4 layers, expected 3: extra at the end: Linear"):
        checks.check_layers(model, [nn.Conv2d, nn.ReLU, nn.Flatten])


def test_check_contains_counts_layers():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4))
    checks.check_contains(model, nn.BatchNorm2d)
    checks.check_contains(model, nn.BatchNorm2d, count=2)
    with pytest.raises(CheckFailed, match=r"contains 2 BatchNorm2d layers \(at '1', '3'\), expected 3"):
        checks.check_contains(model, nn.BatchNorm2d, count=3)
    with pytest.raises(CheckFailed, match="contains 0 Dropout layers, expected at least one"):
        checks.check_contains(model, nn.Dropout)


def test_one_relu_shared_between_convolutions_counts_at_each_place():
    relu = nn.ReLU()
    shared = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), relu, nn.Conv2d(8, 8, 3, stride=2, padding=1), relu)
    checks.check_layers(shared, [nn.Conv2d, nn.ReLU, nn.Conv2d, nn.ReLU])
    checks.check_contains(shared, nn.ReLU, count=2)
    with pytest.raises(CheckFailed, match="contains 2 ReLU layers"):
        checks.check_contains(shared, nn.ReLU, count=1)


def test_no_check_returns_a_value():
    """A value ending a check cell is read by nbgrader as partial credit (issue 10, defect 1)."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
    t = torch.zeros(2, 3)
    calls = [
        lambda: checks.check_tensor(t),
        lambda: checks.check_shape(t, (2, 3)),
        lambda: checks.check_dtype(t, torch.float32),
        lambda: checks.check_close(t, t),
        lambda: checks.check_equal((1, 2.0), (1, 2.0)),
        lambda: checks.check_function(torch.neg, torch.neg, [(t,)], hidden=True),
        lambda: checks.check_module(model, nn.Sequential),
        lambda: checks.check_layers(model, [nn.Conv2d, nn.Flatten, nn.Linear]),
        lambda: checks.check_contains(model, nn.Linear, 1),
        lambda: checks.check_param_count(model, checks.count_parameters(model)),
        lambda: checks.check_requires_grad(model, True),
        lambda: checks.check_output_shape(model, (2, 3, 8, 8), (2, 10)),
    ]
    assert [call() for call in calls] == [None] * len(calls)
