"""FeatureMapExplorer and ReceptiveFieldView on a small CNN and a torchvision ResNet-18."""

import pytest
import torch
from torch import nn

from course_utils import receptive_field
from course_utils.errors import CourseError
from course_utils.widgets import FeatureMapExplorer, ReceptiveFieldView
from course_utils.widgets.feature_maps import PAGE, mosaic


def small_cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 70, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(70, 10),
    )


def hook_count(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_feature_maps_grid_and_enlarged_channel():
    model = small_cnn()
    image = torch.rand(3, 16, 16)
    ex = FeatureMapExplorer(model, image)
    assert list(ex.activations) == ["0", "1", "2", "3", "4", "5"]  # 4-D outputs only (no Flatten/Linear)
    assert hook_count(model) == 0
    expected = model[:4](image[None])[0].detach()
    ex.layer.value = "3"
    assert "output (1, 70, 8, 8)" in ex.shapes.value
    assert ex.page.max == 1 and ex.channel.max == 69
    ex.channel.value = 66  # second page
    assert ex.page.value == 1
    torch.testing.assert_close(torch.from_numpy(ex.im_big.get_array().data), expected[66])
    assert ex.ax_big.get_title().startswith("channel 66 (8x8), min ")
    assert ex.ax_grid.get_title() == "3: channels 64-69 of 70"
    assert ex.grid_array.shape == (2 * 9 - 1, 3 * 9 - 1)  # 6 channels -> 2 rows x 3 columns of 8x8 tiles, 1-pixel gaps
    assert ex.box.get_xy() == (2 * 9 - 1, 0 * 9 - 1)  # channel 66 is tile 2 of page 1
    ex.page.value = 0
    assert ex.channel.value == 0
    ex.close()
    assert hook_count(model) == 0


def test_mosaic_scales_each_channel():
    import numpy as np

    maps = np.stack([np.arange(4.0).reshape(2, 2), np.full((2, 2), 5.0)])
    out = mosaic(maps, 2)
    assert out.shape == (2, 5) and np.isnan(out[:, 2]).all()
    np.testing.assert_allclose(out[:, :2], [[0, 1 / 3], [2 / 3, 1]], rtol=1e-6)
    assert (out[:, 3:] == 0).all()  # a constant channel shows as 0, not NaN


def test_feature_maps_on_resnet18():
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18(weights=None)
    ex = FeatureMapExplorer(model, torch.rand(3, 64, 64), layers=["layer1", "layer4"])
    ex.layer.value = "layer4"
    assert ex.channel.max == 511 and ex.page.max == 512 // PAGE - 1
    assert hook_count(model) == 0
    assert model.training  # the mode is restored


def test_feature_maps_bad_image():
    with pytest.raises(CourseError, match="one image"):
        FeatureMapExplorer(small_cnn(), torch.rand(2, 3, 8, 8))


def test_receptive_view_theoretical_and_effective_fields_agree():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1))
    with torch.no_grad():  # positive weights: every input pixel of the field has a non-zero gradient
        for m in model:
            if isinstance(m, nn.Conv2d):
                m.weight.uniform_(0.1, 1.0)
                m.bias.fill_(1.0)
    view = ReceptiveFieldView(model, 32)
    rf = receptive_field(model, 32)
    assert view.layer.value == "3" and view.rows["3"].size == (8.0, 8.0)
    assert rf.size == (8, 8)
    view.unit_row.value, view.unit_col.value = 5, 9
    top, left, h, w = view.theoretical_box()
    # by hand: unit row 5 reads pooled rows 4..6 = input rows 8..13, and the first 3x3 conv widens that to 7..14
    assert (top, left, h, w) == (7, 15, 8, 8)
    nz = (view.erf > 0).nonzero()
    # the gradient is non-zero only inside the theoretical box (pixel i spans [i, i+1))
    assert nz[:, 0].min() >= top and nz[:, 0].max() < top + h
    assert nz[:, 1].min() >= left and nz[:, 1].max() < left + w
    assert view.box.get_xy() == (left - 0.5, top - 0.5)
    assert "3[5, 9]" in view.ax_img.get_title()
    assert hook_count(model) == 0
    view.layer.value = "0"
    assert view.unit_row.max == 31 and view.theoretical_box()[2] == 3


def test_static_fallbacks_render(monkeypatch):
    import base64

    from widget_helpers import png_array

    model = small_cnn()
    for widget in (FeatureMapExplorer(model, torch.rand(3, 16, 16)), ReceptiveFieldView(model[:5], 16)):
        picture = png_array(base64.b64decode(widget._repr_mimebundle_()["image/png"]))
        assert picture.std() > 5
