"""trace_shapes and the output-size arithmetic, with PyTorch as the oracle."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import (
    CourseError,
    conv_output_size,
    conv_transpose_output_size,
    pool_output_size,
    trace_shapes,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _torch_len(fn, n):
    """Output length PyTorch produces, or None when it refuses the input."""
    try:
        return fn(torch.zeros(1, 1, n)).shape[-1]
    except RuntimeError:
        return None


def _ours(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except CourseError:
        return None


def test_conv_output_size_matches_pytorch_on_every_small_case():
    checked = refused = 0
    for n, k, s, p, d in itertools.product(range(1, 9), range(1, 5), range(1, 4), range(0, 4), range(1, 4)):
        w = torch.zeros(1, 1, k)
        expected = _torch_len(lambda x, w=w, s=s, p=p, d=d: F.conv1d(x, w, stride=s, padding=p, dilation=d), n)
        assert _ours(conv_output_size, n, k, s, p, d) == expected, (n, k, s, p, d)
        checked += 1
        refused += expected is None
    assert refused > 0 and checked - refused > 500


def test_pool_output_size_matches_pytorch_on_every_small_case():
    refused = 0
    for n, k, s, p, d, ceil in itertools.product(
        range(1, 9), range(1, 5), [None, 1, 2, 3], range(0, 3), range(1, 3), [False, True]
    ):
        stride = k if s is None else s
        expected = _torch_len(lambda x, k=k, st=stride, p=p, d=d, c=ceil: F.max_pool1d(x, k, st, p, d, ceil_mode=c), n)
        assert _ours(pool_output_size, n, k, s, p, d, ceil) == expected, (n, k, s, p, d, ceil)
        if d == 1:
            avg = _torch_len(lambda x, k=k, st=stride, p=p, c=ceil: F.avg_pool1d(x, k, st, p, ceil_mode=c), n)
            assert _ours(pool_output_size, n, k, s, p, 1, ceil) == avg, ("avg", n, k, s, p, ceil)
        refused += expected is None
    assert refused > 0


def test_conv_transpose_output_size_matches_pytorch_on_every_small_case():
    refused = 0
    for n, k, s, p, op, d in itertools.product(
        range(1, 7), range(1, 5), range(1, 4), range(0, 4), range(0, 3), range(1, 3)
    ):
        w = torch.zeros(1, 1, k)
        expected = _torch_len(
            lambda x, w=w, s=s, p=p, op=op, d=d: F.conv_transpose1d(
                x, w, stride=s, padding=p, output_padding=op, dilation=d
            ),
            n,
        )
        assert _ours(conv_transpose_output_size, n, k, s, p, op, d) == expected, (n, k, s, p, op, d)
        refused += expected is None
    assert refused > 0


@pytest.mark.parametrize(
    "bad", [dict(n=0, k=1), dict(n=4, k=0), dict(n=4, k=2, s=0), dict(n=4, k=2, p=-1), dict(n=4.0, k=2)]
)
def test_illegal_arguments_give_a_course_error(bad):
    with pytest.raises(CourseError):
        conv_output_size(**bad)


def test_pool_padding_more_than_half_the_kernel_is_refused():
    assert pool_output_size(8, 3, 1, 1) == 8
    with pytest.raises(CourseError, match="half the kernel"):
        pool_output_size(8, 3, 1, 2)


def _net(in_features=512):
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Sequential(nn.Flatten(), nn.Linear(in_features, 10)),
    )


def test_trace_shapes_lists_every_leaf_with_shapes_and_params():
    model = _net(8 * 4 * 4)
    table = trace_shapes(model, torch.randn(2, 3, 8, 8))
    assert [r.name for r in table.rows] == ["0", "1", "2", "3.0", "3.1"]
    assert [r.output_shape for r in table.rows] == [(2, 8, 8, 8), (2, 8, 8, 8), (2, 8, 4, 4), (2, 128), (2, 10)]
    assert table.rows[0].params == 3 * 8 * 9 + 8 and table.rows[1].params == 0
    assert table.total_params == sum(p.numel() for p in model.parameters())
    text = str(table)
    assert "3.1" in text and "Linear" in text and "(2, 10)" in text and "1,290" in text
    assert "<table>" in table._repr_html_()
    # a shape tuple works too, and the model's flags and hooks are restored
    model.train()
    trace_shapes(model, (1, 3, 8, 8))
    assert model.training and all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_trace_shapes_names_the_linear_with_wrong_in_features():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Sequential(nn.Flatten(), nn.Linear(512, 10)))
    with pytest.raises(CourseError) as info:
        trace_shapes(model, torch.randn(2, 3, 16, 16))
    msg = str(info.value)
    assert "Layer '1.1'" in msg and "(2, 2048)" in msg and "set in_features=2048" in msg
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_trace_shapes_names_the_conv_with_wrong_in_channels_and_missing_flatten():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(16, 4, 3))
    with pytest.raises(CourseError, match=r"Layer '2'.*set in_channels=8"):
        trace_shapes(model, (1, 3, 10, 10))
    model = nn.Sequential(nn.Conv2d(3, 8, 1), nn.AdaptiveAvgPool2d(1), nn.Linear(8, 2))
    with pytest.raises(CourseError, match=r"Layer '2'.*flatten"):
        trace_shapes(model, (1, 3, 10, 10))


def test_trace_shapes_names_a_layer_whose_kernel_no_longer_fits():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2), nn.Conv2d(4, 4, 5))
    with pytest.raises(CourseError, match=r"Layer '2'.*too small"):
        trace_shapes(model, (1, 3, 8, 8))


def test_trace_shapes_wraps_other_failures_with_the_layer_name():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(5))
    with pytest.raises(CourseError, match=r"Layer '1'.*BatchNorm2d"):
        trace_shapes(model, (2, 3, 4, 4))


class _ViewNet(nn.Module):
    """The classic LeNet bug: a hard-coded view that does not match the feature map."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 5 * 5, 10)

    def forward(self, x):
        x = self.conv(x)
        return self.fc(x.view(-1, 4 * 5 * 5))


def test_trace_shapes_names_the_container_and_last_layer_when_functional_code_fails():
    model = _ViewNet()
    assert trace_shapes(model, (2, 3, 7, 7)).rows[-1].output_shape == (2, 10)
    with pytest.raises(CourseError) as info:
        trace_shapes(model, (2, 3, 8, 8))  # conv gives (2, 4, 6, 6): 288 values do not make rows of 100
    message = str(info.value)
    assert "The forward of '_ViewNet' (_ViewNet) failed after layer 'conv' returned (2, 4, 6, 6)" in message
    assert "reshaping" in message and all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
