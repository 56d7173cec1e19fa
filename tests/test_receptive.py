"""receptive_field against an independent oracle: the support of d(output unit)/d(input).

The oracle runs a "linear twin" of each network: same geometry (kernel, stride,
padding, dilation), positive weights, no activations or normalisation, pools
replaced by all-ones depthwise convolutions (max pooling's gradient would only
reach the arg-max), so the gradient of one output unit is non-zero exactly on
the pixels inside its receptive field.
"""

import math
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import CourseError, effective_receptive_field, receptive_field

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

C = 2  # channels in the random networks


class Pool(nn.Module):
    """Max or average pooling; in the twin an all-ones depthwise conv with the same geometry."""

    def __init__(self, kind, k, s, p, d, linear):
        super().__init__()
        self.kind, self.k, self.s, self.p, self.d, self.linear = kind, k, s, p, d, linear

    def forward(self, x):
        if self.linear:
            w = torch.ones(x.shape[1], 1, self.k, self.k, dtype=x.dtype)
            return F.conv2d(x, w, stride=self.s, padding=self.p, dilation=self.d, groups=x.shape[1])
        if self.kind == "max":
            return F.max_pool2d(x, self.k, self.s, self.p, self.d)
        return F.avg_pool2d(x, self.k, self.s, self.p)


def _conv(k, s, p, d, linear):
    conv = nn.Conv2d(C, C, k, s, p, d, bias=not linear)
    if linear:
        with torch.no_grad():
            conv.weight.uniform_(0.5, 1.0)
    return conv


class Residual(nn.Module):
    """out = conv_b(act(conv_a(x))) + shortcut(x), with the in-place add torchvision uses."""

    def __init__(self, k, s, d, linear):
        super().__init__()
        pad = d * (k - 1) // 2
        self.a, self.b = _conv(k, s, pad, d, linear), _conv(k, 1, pad, d, linear)
        self.act = nn.Identity() if linear else nn.ReLU(inplace=True)
        self.short = _conv(1, s, 0, 1, linear) if s > 1 else nn.Identity()

    def forward(self, x):
        out = self.b(self.act(self.a(x)))
        out += self.short(x)
        return self.act(out)


def _random_spec(rng):
    spec = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["conv", "conv", "conv", "max", "avg", "res"])
        if kind == "conv":
            k = rng.choice([(1, 1), (2, 2), (3, 3), (5, 5), (3, 1), (1, 3), (2, 4)])
            spec.append(("conv", k, rng.choice([1, 1, 2, 3]), rng.randint(0, 2), rng.choice([1, 1, 2, 3])))
        elif kind in ("max", "avg"):
            k = rng.randint(2, 3)
            spec.append(
                (kind, k, rng.randint(1, 2), rng.randint(0, k // 2), rng.choice([1, 2]) if kind == "max" else 1)
            )
        else:
            spec.append(("res", rng.choice([1, 3, 5]), rng.randint(1, 2), rng.randint(1, 2)))
    return spec


def _build(spec, linear):
    layers = []
    for item in spec:
        if item[0] == "conv":
            layers.append(_conv(*item[1:], linear))
            if not linear:
                layers += [nn.BatchNorm2d(C), nn.ReLU(inplace=True)]
        elif item[0] in ("max", "avg"):
            layers.append(Pool(*item, linear))
        else:
            layers.append(Residual(*item[1:], linear))
    return nn.Sequential(*layers)


def _gradient_extent(twin, x, axis_sizes=None):
    """Pixel rows/cols where d out[centre] / d input != 0, and the centre unit's index."""
    x = x.clone().requires_grad_()
    out = twin(x)
    i, j = out.shape[-2] // 2, out.shape[-1] // 2
    (grad,) = torch.autograd.grad(out[0, :, i, j].sum(), x)
    mask = grad[0].abs().sum(0) > 0
    rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
    return (int(rows.min()), int(rows.max())), (int(cols.min()), int(cols.max())), (i, j), out.shape[-2:]


def _analytic_extent(rf, unit, hw):
    """Rows/cols covered by unit (i, j)'s field, clipped to the image; and whether it fits unclipped."""
    extents, fits = [], True
    for a in range(2):
        centre = rf.start[a] + unit[a] * rf.jump[a]
        lo, hi = centre - rf.size[a] / 2, centre + rf.size[a] / 2 - 1
        assert lo == int(lo)
        fits = fits and lo >= 0 and hi <= hw[a] - 1
        extents.append((max(0, int(lo)), min(hw[a] - 1, int(hi))))
    return extents[0], extents[1], fits


def test_receptive_field_matches_gradients_on_random_architectures():
    rng = random.Random(1234)
    checked = unclipped = 0
    kinds, kernels, strides, paddings, dilations = set(), set(), set(), set(), set()
    while checked < 60:
        spec = _random_spec(rng)
        h, w = rng.randint(24, 64), rng.randint(24, 64)
        torch.manual_seed(checked)
        real, twin = _build(spec, linear=False), _build(spec, linear=True).double()
        try:
            with torch.no_grad():
                twin(torch.zeros(1, C, h, w, dtype=torch.float64))
        except RuntimeError:  # output smaller than one pixel: draw another network
            continue
        rf = receptive_field(real, (C, h, w))
        assert receptive_field(twin.float(), (C, h, w)).size == rf.size
        twin.double()
        rows, cols, unit, out_hw = _gradient_extent(twin, torch.ones(1, C, h, w, dtype=torch.float64))
        exp_rows, exp_cols, fits = _analytic_extent(rf, unit, (h, w))
        if fits:  # the whole field lies in the image: the gradient reaches exactly its first and last pixel
            assert (rows, cols) == (exp_rows, exp_cols), (spec, (h, w), rf.size, rf.jump, rf.start)
        else:  # clipped by the border: the gradient stays inside the clipped field
            assert exp_rows[0] <= rows[0] <= rows[1] <= exp_rows[1], (spec, (h, w), rf.size, rf.start)
            assert exp_cols[0] <= cols[0] <= cols[1] <= exp_cols[1], (spec, (h, w), rf.size, rf.start)
        assert rf.layers[-1].output_shape[-2:] == tuple(out_hw)
        checked += 1
        unclipped += fits
        kinds.update(item[0] for item in spec)
        for item in spec:
            if item[0] != "res":
                kernels.add(item[1] if isinstance(item[1], tuple) else (item[1], item[1]))
                strides.add(item[2]), paddings.add(item[3]), dilations.add(item[4])
    assert kinds == {"conv", "max", "avg", "res"}
    # the geometry really varies: every kernel shape, stride, padding and dilation the generator offers was used
    assert len(kernels) == 7 and strides == {1, 2, 3} and paddings == {0, 1, 2} and dilations == {1, 2, 3}
    assert unclipped >= 40, unclipped


def test_a_single_layer_by_hand():
    rf = receptive_field(nn.Conv2d(1, 1, 3, stride=2, padding=1, dilation=2), (1, 9, 9))
    assert rf.size == (5, 5) and rf.jump == (2, 2) and rf.start == (1.5, 1.5)  # 0.5 + (1 * 2 - 1) * 1
    rf = receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3)), (1, 16, 16))
    assert rf.size == (3 + 1 + 2 * 2,) * 2 and rf.jump == (2, 2)
    assert [r.size[0] for r in rf.layers] == [3, 4, 8]


def test_wrong_input_size_and_unsupported_layers_give_course_errors():
    with pytest.raises(CourseError, match="input_size"):
        receptive_field(nn.Conv2d(1, 1, 3), (1, 2, 3, 4))
    up = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Upsample(scale_factor=2))
    with pytest.raises(CourseError, match="cannot follow"):
        receptive_field(up, (1, 16, 16))


# --- torchvision models: analytic values, checked by the gradient oracle on a one-channel linear twin -----------


class _AvgPoolLike(nn.Module):
    def __init__(self, pool):
        super().__init__()
        self.k, self.s, self.p = pool.kernel_size, pool.stride, pool.padding

    def forward(self, x):
        return F.avg_pool2d(x, self.k, self.s, self.p)


def _linear_twin(module):
    """Replace, in place, every layer by its one-channel, positive, linear counterpart."""
    from torchvision.ops import SqueezeExcitation

    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d):
            conv = nn.Conv2d(1, 1, child.kernel_size, child.stride, child.padding, child.dilation, bias=False)
            nn.init.constant_(conv.weight, 1.0 / math.prod(child.kernel_size))
            setattr(module, name, conv)
        elif isinstance(child, (nn.BatchNorm2d, nn.ReLU, nn.SiLU, nn.Sigmoid, SqueezeExcitation)):
            setattr(module, name, nn.Identity())
        elif isinstance(child, nn.MaxPool2d):
            assert child.dilation == 1 and not child.ceil_mode
            setattr(module, name, _AvgPoolLike(child))
        else:
            _linear_twin(child)
    return module


@pytest.mark.parametrize(
    "name, body, size, jump, twin_input",
    [
        # VGG-16 conv5_3 (before pool5): 196, after pool5: 212 (Araujo et al., Distill 2019).
        ("vgg16", lambda m: m.features, 212, 32, 240),
        ("vgg16_conv5_3", lambda m: m.features[:30], 196, 16, 240),
        ("resnet18", lambda m: nn.Sequential(*list(m.children())[:-2]), 435, 32, 448),
        # torchvision's ResNet-50 (v1.5, stride in the 3x3 conv of the *first* block of a stage) gives 427;
        # the 483 in Araujo et al.'s table is TF-slim's resnet_v1_50, which strides in the *last* block.
        ("resnet50", lambda m: nn.Sequential(*list(m.children())[:-2]), 427, 32, 448),
        ("efficientnet_b0", lambda m: m.features, 851, 32, 900),
    ],
)
def test_torchvision_models_against_gradients(name, body, size, jump, twin_input):
    import torchvision

    arch = name.split("_conv")[0]
    model = getattr(torchvision.models, arch)(weights=None)
    target = body(model)
    # whole classifiers: the values are those of the feature map the head pools globally
    rf = receptive_field(target if name == "vgg16_conv5_3" else model, 64)
    assert rf.size == (size, size) and rf.jump == (jump, jump), (name, rf.size, rf.jump)
    if arch == "efficientnet_b0":
        assert len(rf.gates) == 16 and all(g.endswith("avgpool") for g in rf.gates)  # SE gates, not fields
    twin = _linear_twin(target).double().eval()  # eval: StochasticDepth must keep every block
    with torch.no_grad():
        x = torch.ones(1, 1, twin_input, twin_input, dtype=torch.float64)
    rows, cols, unit, out_hw = _gradient_extent(twin, x)
    exp_rows, exp_cols, fits = _analytic_extent(rf, unit, (twin_input, twin_input))
    assert fits and (rows, cols) == (exp_rows, exp_cols)
    assert rows[1] - rows[0] + 1 == size


def test_residual_merge_takes_the_largest_field():
    block = Residual(5, 1, 1, linear=False)
    rf = receptive_field(block, (C, 32, 32))
    assert rf.size == (9, 9)  # two 5x5 convs; the identity branch (field 1) does not shrink it


def test_effective_receptive_field():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1, dilation=2),
        nn.ReLU(),
        nn.Conv2d(4, 2, 3, padding=1),
    )
    before = {k: v.clone() for k, v in net.state_dict().items()}
    erf = effective_receptive_field(net, (1, 21, 21), n_inputs=3, reinit=True)
    assert erf.shape == (21, 21) and (erf >= 0).all() and erf[10, 10] > 0
    support = (erf > 0).nonzero()
    rf = receptive_field(net, (1, 21, 21))
    half = rf.size[0] // 2  # field 3 + 2*2 + 2 = 9: the ERF stays within 4 pixels of the centre
    assert rf.size == (9, 9) and (support - 10).abs().max() <= half
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert not torch.equal(erf, effective_receptive_field(net, (1, 21, 21), n_inputs=3))  # given weights differ
    with pytest.raises(CourseError, match="feature map"):
        effective_receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Flatten()), (1, 8, 8))
