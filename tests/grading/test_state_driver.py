"""The "state" driver: a module class loads a reference's state_dict strictly, the keys that differ come back as data."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.grading import harness
from course_utils.grading.spec import DRIVERS, Exercise


class Named(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn1(self.conv1(x)))


class Renamed(Named):
    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        self.norm = self.bn1
        del self.bn1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.norm(self.conv1(x)))


def _reference(channels: int = 4) -> Named:
    torch.manual_seed(0)
    ref = Named(channels)
    with torch.no_grad():
        ref.bn1.running_mean.uniform_(-1, 1)
        ref.bn1.running_var.uniform_(0.5, 2)
    return ref.eval()


def test_same_names_load_and_give_the_reference_output_in_eval_mode():
    ref, x = _reference(), torch.randn(2, 4, 5, 5)
    result = harness.run_with_state(Named, [4, ref.state_dict(), x], {})
    assert harness.state_problem(result, "Named(4)") is None
    torch.testing.assert_close(result["output"], ref(x))  # eval mode: the running statistics are used


def test_a_float64_input_runs_the_loaded_module_in_float64():
    ref, x = _reference().double(), torch.randn(2, 4, 5, 5, dtype=torch.float64)
    result = harness.run_with_state(Named, [4, ref.state_dict(), x], {})
    assert result["output"].dtype == torch.float64
    torch.testing.assert_close(result["output"], ref(x), atol=1e-12, rtol=1e-12)


def test_other_names_come_back_as_data_and_the_sentence_names_them():
    result = harness.run_with_state(Renamed, [4, _reference().state_dict(), torch.randn(1, 4, 5, 5)], {})
    assert "output" not in result and "bn1.weight" in result["unexpected"] and "norm.weight" in result["missing"]
    why = harness.state_problem(result, "Renamed(4)")
    assert "strict=True" in why and "lacks bn1" in why and "has norm" in why


def test_a_tensor_of_another_shape_is_a_load_error_not_an_exception():
    result = harness.run_with_state(Named, [3, _reference(4).state_dict(), torch.randn(1, 3, 5, 5)], {})
    assert set(result) == {"load_error"}
    assert "another shape" in harness.state_problem(result, "Named(3)")


def test_a_constructor_that_is_not_a_module_raises():
    with pytest.raises(TypeError, match="not an nn.Module"):
        harness.run_with_state(lambda c: c, [4, {}, torch.zeros(1)], {})


def test_the_spec_accepts_the_driver():
    assert "state" in DRIVERS
    Exercise(test="t", solutions=["s"], name="Named", driver="state", judge=lambda got, case: None)
