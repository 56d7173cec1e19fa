"""course_utils.training.features: extract_features against the model run by hand in eval mode."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils import CourseError, extract_features


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5), nn.AdaptiveAvgPool2d(2))
    with torch.no_grad():  # running statistics unlike a batch's, so train-mode outputs would differ
        model[1].running_mean.fill_(0.7)
        model[1].running_var.fill_(3.0)
    return model


def _loader(n: int = 10, batch_size: int = 4) -> DataLoader:
    g = torch.Generator().manual_seed(1)
    images = torch.randn(n, 3, 6, 5, generator=g)
    labels = torch.arange(n) % 3
    return DataLoader(TensorDataset(images, labels), batch_size=batch_size, shuffle=False)


def test_features_are_the_eval_mode_outputs_flattened_in_loader_order():
    model, loader = _model(), _loader()
    images, labels = loader.dataset.tensors
    with torch.no_grad():
        expected = model.eval()(images).reshape(len(images), -1)  # (10, 16): 4 channels x 2 x 2
    model.train()
    features, got_labels = extract_features(model, loader)
    assert features.shape == (10, 16) and not features.requires_grad
    torch.testing.assert_close(features, expected)
    assert torch.equal(got_labels, labels)


def test_the_mode_is_put_back_and_the_running_statistics_do_not_move():
    model = _model().train()
    before = model[1].running_mean.clone()
    extract_features(model, _loader())
    assert model.training and all(m.training for m in model.modules())
    assert torch.equal(model[1].running_mean, before)
    model.eval()
    extract_features(model, _loader())
    assert not model.training


def test_transform_is_applied_to_each_batch_before_the_model():
    model, loader = _model().eval(), _loader()
    images = loader.dataset.tensors[0]
    features, _ = extract_features(model, loader, transform=lambda x: 2 * x + 1)
    with torch.no_grad():
        expected = model(2 * images + 1).reshape(len(images), -1)
    torch.testing.assert_close(features, expected)


def test_the_model_dtype_is_kept():
    model = _model().double()
    loader = DataLoader(TensorDataset(torch.randn(3, 3, 4, 4, dtype=torch.float64), torch.zeros(3)), batch_size=2)
    features, _ = extract_features(model, loader)
    assert features.dtype == torch.float64


def test_a_loader_of_bare_tensors_or_nothing_is_refused_in_one_sentence():
    with pytest.raises(CourseError, match="TensorDataset"):
        extract_features(_model(), DataLoader(torch.randn(4, 3, 5, 5), batch_size=2))
    with pytest.raises(CourseError, match="empty loader"):
        extract_features(_model(), [])
