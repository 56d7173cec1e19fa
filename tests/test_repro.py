"""course_utils.repro: one seed for every generator, and the deterministic switch."""

import random

import numpy as np
import pytest
import torch

from course_utils import seed_everything, set_deterministic
from course_utils.errors import CourseError


def _draw():
    return random.random(), float(np.random.rand()), torch.rand(3)


def test_same_seed_same_numbers_everywhere():
    seed_everything(123)
    a = _draw()
    seed_everything(123)
    b = _draw()
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_different_seeds_differ():
    seed_everything(1)
    a = _draw()
    seed_everything(2)
    b = _draw()
    assert a[0] != b[0] and not torch.equal(a[2], b[2])


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "7", True])
def test_bad_seed_is_refused(bad):
    with pytest.raises(CourseError, match="whole number"):
        seed_everything(bad)


def test_deterministic_switch_round_trip():
    before = torch.are_deterministic_algorithms_enabled()
    try:
        set_deterministic(True)
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        set_deterministic(False)
        assert not torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(before)
