"""course_utils.models: the course's ResNet-18, its training recipe, its cache and load_backbone.

torchvision's own resnet18 is the oracle for the architecture's names and shapes. The
backbone tests train in smoke mode on a tiny CIFAR-10 look-alike in a temporary data
folder (a second or two each) and never touch the network: the probes are replaced.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torchvision
from cifar_fixtures import make_batches_dir
from PIL import Image
from torch import nn
from torchvision.models.resnet import BasicBlock

from course_utils import Backbone, course_backbone, course_resnet18, load_backbone
from course_utils.data import cifar_sources
from course_utils.errors import CourseError
from course_utils.models import Recipe, backbone, cache, cache_path, course_transforms, recipe

pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------ the architecture
def test_the_network_is_torchvisions_resnet18_with_a_cifar_stem():
    model = course_resnet18(num_classes=8, width=8)
    oracle = torchvision.models.resnet18()
    assert isinstance(model, torchvision.models.ResNet)
    assert [name for name, _ in model.named_children()] == [name for name, _ in oracle.named_children()]
    assert list(model.state_dict()) == list(oracle.state_dict())  # same parameter and buffer names
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 8 and all(block.relu.inplace for block in blocks)
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, nn.Identity)
    assert model.training


def test_layer4_keeps_a_4x4_map_and_the_head_can_be_replaced():
    model = course_resnet18(num_classes=8, width=8).eval()
    shapes = {}
    hooks = [
        getattr(model, name).register_forward_hook(lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape)))
        for name in ("layer1", "layer2", "layer3", "layer4")
    ]
    logits = model(torch.randn(2, 3, 32, 32))
    for hook in hooks:
        hook.remove()
    assert shapes == {
        "layer1": (2, 8, 32, 32),
        "layer2": (2, 16, 16, 16),
        "layer3": (2, 32, 8, 8),
        "layer4": (2, 64, 4, 4),
    }
    assert logits.shape == (2, 8) and model.fc.in_features == 64
    model.fc = nn.Linear(model.fc.in_features, 2)  # chapter 11's new head
    assert model(torch.randn(3, 3, 32, 32)).shape == (3, 2)


def test_at_width_64_the_stages_have_torchvisions_shapes():
    ours, oracle = course_resnet18(num_classes=1000, width=64).state_dict(), torchvision.models.resnet18().state_dict()
    differ = [name for name in oracle if ours[name].shape != oracle[name].shape]
    assert differ == ["conv1.weight"]  # 3x3 instead of 7x7; everything else has the same shape


@pytest.mark.parametrize("bad", [0, -4, 2.5, True])
def test_bad_sizes_are_one_sentence(bad):
    with pytest.raises(CourseError, match="positive whole number for width"):
        course_resnet18(width=bad)


# ------------------------------------------------------------------ transforms
def test_course_transforms_scale_and_normalise_32x32_images():
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    expected = (image.float() / 255 - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    transform = course_transforms(mean, std)
    out = transform(image)
    assert type(out) is torch.Tensor and out.dtype == torch.float32 and out.shape == (3, 32, 32)
    torch.testing.assert_close(out, expected)
    pil = Image.fromarray(image.permute(1, 2, 0).numpy())
    torch.testing.assert_close(transform(pil), expected)
    assert transform(torch.randint(0, 256, (3, 64, 48), dtype=torch.uint8)).shape == (3, 32, 32)


# ------------------------------------------------------------------ the course's backbone (smoke, tiny data)
@pytest.fixture
def data(monkeypatch, tmp_path):
    """Smoke mode, a tiny cifar-10-batches-py in an empty data folder, no network anywhere."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    monkeypatch.setenv("COURSE_SMOKE", "1")
    monkeypatch.delenv(cifar_sources.ARCHIVE_ENV, raising=False)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: os.path.isfile(path))
    monkeypatch.setattr(cifar_sources, "network_reachable", _no_network)
    monkeypatch.setattr(backbone, "network_reachable", _no_network)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    make_batches_dir(folder, per_batch=40, n_test=40)
    return folder


def _no_network(url: str, timeout: float = 2.0) -> bool:
    return False


@pytest.fixture
def trainings(monkeypatch):
    """Counts the training runs."""
    runs = []
    real = recipe.train

    def counted(*args, **kwargs):
        runs.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(recipe, "train", counted)
    return runs


def _one_line(capsys) -> str:
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, f"expected one line, got {lines}"
    return lines[0]


def test_the_course_backbone_trains_caches_and_then_loads(data, trainings, capsys):
    first = course_backbone()
    line = _one_line(capsys)
    path = cache_path(("cat", "dog"))
    assert path == data / "models" / "course_resnet18_smoke_without-cat-dog.pt" and path.is_file()
    assert len(trainings) == 1 and "trained in" in line and str(path) in line and "cat and dog held out" in line
    assert first.description == line and first.source == "course" and first.path == path
    assert first.classes == ("airplane", "automobile", "bird", "deer", "frog", "horse", "ship", "truck")
    assert first.held_out == ("cat", "dog") and first.image_size == 32 and 0.0 <= first.accuracy <= 1.0
    assert not first.model.training and next(first.model.parameters()).device.type == "cpu"
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file left

    second = course_backbone()
    line = _one_line(capsys)
    assert len(trainings) == 1, "the second call trained again instead of loading the cache"
    assert "loaded from" in line and f"test accuracy {first.accuracy:.1%}" in line
    assert second.mean == first.mean and second.std == first.std and second.accuracy == first.accuracy
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(second.model.state_dict()[name], tensor), name
    x = second.transforms(torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8))
    assert second.model(x.unsqueeze(0)).shape == (1, 8)


def test_normalisation_is_measured_on_the_training_images(data):
    bb = course_backbone(verbose=False)
    from course_utils import cifar10

    kept = cifar10(True, classes=bb.classes).data / 255.0  # the fixture's 8-class training images (all, < subset)
    assert bb.mean == pytest.approx(tuple(kept.mean(axis=(0, 1, 2))), abs=1e-6)
    assert bb.std == pytest.approx(tuple(kept.std(axis=(0, 1, 2))), abs=1e-6)


def test_training_is_deterministic_and_leaves_the_global_generator_alone(data):
    state = torch.random.get_rng_state()
    one = course_backbone(verbose=False).model.state_dict()
    assert torch.equal(state, torch.random.get_rng_state())
    two = course_backbone(retrain=True, verbose=False).model.state_dict()
    assert all(torch.equal(one[name], two[name]) for name in one)


def test_a_corrupt_cache_is_trained_again_with_one_line(data, trainings, capsys):
    path = cache_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    bb = course_backbone()
    line = _one_line(capsys)
    assert len(trainings) == 1 and f"trained again because the cached file {path} could not be read" in line
    assert bb.source == "course" and torch.load(path, weights_only=True)["format"] == cache.FORMAT


def test_an_incomplete_checkpoint_is_trained_again(data, trainings, capsys):
    path = cache_path()
    path.parent.mkdir(parents=True)
    torch.save({"format": cache.FORMAT, "recipe": recipe.default_recipe().as_dict()}, path)
    course_backbone()
    assert len(trainings) == 1 and "is not a complete course checkpoint" in _one_line(capsys)


def test_a_cache_made_by_another_recipe_is_trained_again(data, trainings, capsys, monkeypatch):
    course_backbone(verbose=False)
    monkeypatch.setattr(recipe, "default_recipe", lambda: Recipe(epochs=1, train_subset=64, test_subset=32, max_lr=0.1))
    course_backbone()
    assert len(trainings) == 2 and "was made by another recipe" in _one_line(capsys)
    course_backbone()
    assert len(trainings) == 2 and "loaded from" in _one_line(capsys)


def test_a_failed_write_leaves_no_file_and_still_gives_the_network(data, capsys, monkeypatch):
    def full_disk(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    bb = course_backbone()
    assert "not cached (No space left on device)" in _one_line(capsys)
    assert list((data / "models").iterdir()) == [] and bb.model(torch.zeros(1, 3, 32, 32)).shape == (1, 8)
    assert bb.path is None


def test_a_last_batch_of_one_image_is_left_out_for_batchnorm(data, monkeypatch):
    monkeypatch.setattr(recipe, "default_recipe", lambda: Recipe(epochs=2, batch_size=4, train_subset=9, test_subset=8))
    bb = course_backbone(verbose=False)  # 9 = 4 + 4 + 1: BatchNorm refuses a batch of one in training mode
    assert bb.source == "course" and bb.model.bn1.num_batches_tracked.item() == 2 * 2


@pytest.mark.parametrize("epochs, subset", [(1, 64), (1, 16), (3, 48)])  # 4 steps, as smoke mode's 1,024 / 256
def test_short_runs_train_and_follow_the_warmup_cosine_schedule(data, monkeypatch, epochs, subset):
    monkeypatch.setattr(recipe, "default_recipe", lambda: Recipe(epochs=epochs, batch_size=16, train_subset=subset))
    rates = []
    real_step = torch.optim.SGD.step

    def step(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"])
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", step)
    course_backbone(verbose=False)
    peak = rates.index(max(rates))
    assert len(rates) == epochs * (subset // 16) and max(rates) == pytest.approx(0.2)
    assert rates[: peak + 1] == sorted(rates[: peak + 1]) and rates[peak:] == sorted(rates[peak:], reverse=True)
    assert all(rate > 0 for rate in rates)


def test_held_out_classes_choose_the_head_and_the_file(data):
    bb = course_backbone(held_out=("truck", "airplane", "ship"), verbose=False)  # any order
    assert bb.held_out == ("airplane", "ship", "truck") and len(bb.classes) == 7 and bb.model.fc.out_features == 7
    assert bb.path.name == "course_resnet18_smoke_without-airplane-ship-truck.pt"
    assert "(smoke mode: " in bb.description and "; airplane, ship and truck held out;" in bb.description


@pytest.mark.parametrize("held_out", [("cat", "lion"), (), ("cat", "cat"), tuple(recipe.CIFAR10_CLASSES[:9])])
def test_bad_held_out_classes_are_one_sentence(data, held_out):
    with pytest.raises(CourseError, match="held_out must name between 1 and 8 distinct CIFAR-10 classes"):
        load_backbone(held_out=held_out)


def test_without_data_the_loaders_sentence_comes_through(data, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(CourseError, match="CIFAR-10 could not be loaded from any source"):
        course_backbone()


# ------------------------------------------------------------------ load_backbone: ImageNet or the course's
def test_without_imagenet_weights_load_backbone_falls_back_in_one_line(data, capsys, monkeypatch):
    def no_download(**kwargs):
        raise AssertionError("resnet18 was called although the probe failed")

    monkeypatch.setattr(torchvision.models, "resnet18", no_download)
    bb = load_backbone()
    line = _one_line(capsys)
    assert bb.source == "course" and line.startswith("Using the course's ResNet-18 trained on 8 CIFAR-10 classes")
    assert line.endswith("ImageNet weights could not be fetched (download.pytorch.org did not answer within 2 s).")
    assert load_backbone(prefer="course", verbose=False).description.endswith("test accuracy " + f"{bb.accuracy:.1%}).")


def _hub_file(tmp_path: Path) -> Path:
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    return tmp_path / "hub" / "checkpoints" / url.rsplit("/", 1)[1]


def test_imagenet_weights_in_the_hub_cache_are_used_without_the_network(data, capsys, tmp_path):
    weights = _hub_file(tmp_path)
    weights.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18().state_dict(), weights)  # stands in for the real file
    bb = load_backbone()
    line = _one_line(capsys)
    assert bb.source == "imagenet" and line.startswith("Using torchvision's ResNet-18 with ImageNet weights")
    assert "hub cache" in line and bb.path == weights and bb.accuracy is None and bb.held_out == ()
    assert len(bb.classes) == 1000 and bb.classes[0] == "tench" and bb.image_size == 224
    assert bb.mean == pytest.approx((0.485, 0.456, 0.406)) and bb.std == pytest.approx((0.229, 0.224, 0.225))
    x = bb.transforms(torch.randint(0, 256, (3, 300, 260), dtype=torch.uint8))
    assert x.shape == (3, 224, 224) and not bb.model.training
    for name, tensor in torch.load(weights, weights_only=True).items():
        assert torch.equal(bb.model.state_dict()[name], tensor), name


def test_a_corrupt_imagenet_file_falls_back_and_says_what_to_delete(data, capsys, tmp_path):
    weights = _hub_file(tmp_path)
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"\x00" * 100)
    bb = load_backbone()
    line = _one_line(capsys)
    assert bb.source == "course" and "ImageNet weights could not be loaded" in line and f"delete {weights}" in line


def test_prefer_must_be_imagenet_or_course():
    with pytest.raises(CourseError, match="prefer must be 'imagenet' or 'course'; got 'resnet'"):
        load_backbone(prefer="resnet")


def test_the_backbone_repr_is_short(data):
    text = repr(course_backbone(verbose=False))
    assert text.startswith("Backbone(source='course'") and "Conv2d" not in text and isinstance(Backbone, type)
