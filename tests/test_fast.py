"""course_utils.fast: the device-side data, the network, the recipe's pieces, a tiny run, the timing.

Tiny fixtures only (synthetic tensors, a small image-folder archive); PyTorch is the
oracle wherever it has the same operation (``F.pad`` + slicing for the translation,
``Tensor.flip``, ``nn.init.dirac_``, ``np.interp`` for the schedule).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from cifar_fixtures import make_archive
from torch import nn

from course_utils.data import cifar_sources
from course_utils.errors import CourseError
from course_utils.fast import (
    FastConfig,
    GpuBatches,
    LookaheadAverage,
    Stopwatch,
    autocast_dtype,
    cifar10_uint8,
    cuda_time,
    fast_net,
    flip,
    predict_fast,
    train_fast,
    translate,
    triangle_schedule,
    whitening_filters,
)
from course_utils.fast.evaluate import tta_logits
from course_utils.fast.optim import make_optimizer

pytestmark = pytest.mark.usefixtures("one_thread")
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def _images(n: int, seed: int = 0, size: int = 32) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


# -- data on the device ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("mode", "torch_mode"), [("reflect", "reflect"), ("zeros", "constant")])
def test_translate_equals_padding_then_cropping(mode, torch_mode):
    x = _images(16, size=9)
    pad = 3
    shifts = torch.randint(-pad, pad + 1, (16, 2), generator=torch.Generator().manual_seed(1))
    padded = F.pad(x.float(), (pad,) * 4, mode=torch_mode)  # PyTorch's own padding is the reference
    expected = torch.stack(
        [padded[b, :, pad + dy : pad + dy + 9, pad + dx : pad + dx + 9] for b, (dy, dx) in enumerate(shifts.tolist())]
    )
    out = translate(x, shifts, mode)
    assert out.dtype == torch.uint8 and out.shape == x.shape
    assert torch.equal(out.float(), expected)


def test_translate_by_zero_is_the_identity_and_a_bad_mode_is_refused():
    x = _images(4)
    assert torch.equal(translate(x, torch.zeros(4, 2, dtype=torch.int64)), x)
    with pytest.raises(CourseError, match="pad_mode"):
        translate(x, torch.zeros(4, 2, dtype=torch.int64), "wrap")


def test_flip_mirrors_exactly_the_masked_images():
    x = _images(6)
    mask = torch.tensor([True, False, True, False, False, True])
    out = flip(x, mask)
    for b in range(6):
        assert torch.equal(out[b], x[b].flip(-1) if mask[b] else x[b])


def test_batches_without_augmentation_are_the_normalised_images_in_order():
    x, y = _images(10), torch.arange(10)
    batches = GpuBatches(x, y, batch_size=4, crop_pad=0, flip=False, shuffle=False, drop_last=False, channels_last=True)
    got = list(batches)
    assert len(batches) == 3 and [len(b[1]) for b in got] == [4, 4, 2]
    xb = torch.cat([b[0] for b in got])
    expected = (x.float() / 255 - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]
    torch.testing.assert_close(xb, expected)
    assert got[0][0].is_contiguous(memory_format=torch.channels_last) and got[0][0].dtype == torch.float32
    assert torch.equal(torch.cat([b[1] for b in got]), y)


def test_batches_visit_every_image_once_per_epoch_and_repeat_with_the_seed():
    x, y = _images(12), torch.arange(12)
    one = GpuBatches(x, y, batch_size=5, drop_last=False, seed=3)
    two = GpuBatches(x, y, batch_size=5, drop_last=False, seed=3)
    first, again = list(one), list(two)
    assert sorted(torch.cat([b[1] for b in first]).tolist()) == list(range(12))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, again))
    second_epoch = torch.cat([b[1] for b in one])
    assert not torch.equal(second_epoch, torch.cat([b[1] for b in first]))  # a new order each epoch
    assert len(GpuBatches(x, y, batch_size=5, drop_last=True)) == 2


def test_batches_shift_by_at_most_the_padding_and_alternate_flips_alternate():
    x, y = _images(8), torch.arange(8)
    batches = GpuBatches(x, y, batch_size=8, crop_pad=0, flip=True, alternate_flip=True, shuffle=False, seed=0)
    (a, _), (b, _), (c, _) = (next(iter(batches)) for _ in range(3))
    torch.testing.assert_close(b, a.flip(-1))  # every image mirrored relative to the previous epoch
    torch.testing.assert_close(c, a)
    shifted = GpuBatches(x, y, batch_size=8, crop_pad=2, flip=False, shuffle=False, pad_mode="zeros", seed=1)
    xb, _ = next(iter(shifted))
    plain = next(iter(GpuBatches(x, y, batch_size=8, crop_pad=0, flip=False, shuffle=False)))[0]
    assert not torch.equal(xb, plain)  # some image moved
    for i in range(8):  # inside the border, each image is the original moved by one (dy, dx) within +-2
        moves = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)]
        assert any(
            torch.equal(xb[i, :, 2:30, 2:30], plain[i, :, 2 + dy : 30 + dy, 2 + dx : 30 + dx]) for dy, dx in moves
        )


def test_batches_refuse_float_images_and_a_batch_larger_than_the_data():
    with pytest.raises(CourseError, match="uint8"):
        GpuBatches(torch.rand(4, 3, 32, 32), torch.arange(4))
    with pytest.raises(CourseError, match="batch_size"):
        GpuBatches(_images(4), torch.arange(4), batch_size=8, drop_last=True)


def test_cifar10_uint8_reads_the_course_source_and_draws_a_random_subset(tmp_path, monkeypatch):
    archive, _ = make_archive(tmp_path, train_per_class=4, test_per_class=2, prefix="cifar10/")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(cifar_sources.ARCHIVE_ENV, str(archive))
    x, y = cifar10_uint8(train=True)
    assert x.shape == (40, 3, 32, 32) and x.dtype == torch.uint8 and y.dtype == torch.int64
    assert sorted(set(y.tolist())) == list(range(10))
    xs, ys = cifar10_uint8(train=True, subset=10, seed=0)
    assert xs.shape == (10, 3, 32, 32) and len(set(ys.tolist())) > 2  # random, not the first class's images
    assert torch.equal(cifar10_uint8(train=True, subset=10, seed=0)[0], xs)
    xt, _ = cifar10_uint8(train=False)
    assert len(xt) == 20
    with pytest.raises(CourseError, match="subset"):
        cifar10_uint8(subset=0)


# -- the network ---------------------------------------------------------------------------------------------------
def test_fast_net_shapes_and_frozen_pieces():
    model = fast_net((8, 16, 16))
    assert model(torch.randn(3, 3, 32, 32)).shape == (3, 10)
    assert not model[0].weight.requires_grad and model[0].bias.requires_grad
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 6 and all(not m.weight.requires_grad and m.bias.requires_grad for m in norms)
    assert fast_net((8,) * 4)(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(CourseError, match="widths"):
        fast_net((8,) * 5)


def test_each_group_starts_as_an_identity_on_its_input_channels():
    model = fast_net((32, 16))
    first = model[2][0]  # group 1's first convolution: 24 -> 32 channels
    reference = torch.empty(24, 24, 3, 3)
    nn.init.dirac_(reference)
    assert torch.equal(first.weight[:24], reference)
    x = torch.randn(2, 24, 8, 8)
    torch.testing.assert_close(first(x)[:, :24], x)


def test_whitening_filters_decorrelate_the_patches():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(64, 3, 16, 16, generator=g)
    images = base + 0.8 * base.roll(1, dims=1) + 0.5 * base.roll(1, dims=3)  # correlated channels and pixels
    filters = whitening_filters(images, size=2, eps=0.0)
    assert filters.shape == (24, 3, 2, 2)
    torch.testing.assert_close(filters[12:], -filters[:12])
    responses = F.conv2d(images, filters[:12]).permute(1, 0, 2, 3).reshape(12, -1)  # (12, patches)
    moment = responses @ responses.T / responses.shape[1]
    torch.testing.assert_close(moment, torch.eye(12), atol=1e-3, rtol=0)


# -- optimiser, schedule, average, precision ------------------------------------------------------------------------
def test_triangle_schedule_is_the_piecewise_linear_interpolation():
    total = 50
    got = triangle_schedule(total, 0.23, 0.2, 0.07)
    expected = np.interp(np.arange(total + 1), [0, int(0.23 * total), total], [0.2, 1.0, 0.07])
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert max(got) == 1.0 and got[0] == 0.2


def test_lookahead_average_moves_the_weights_to_the_average():
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    avg = LookaheadAverage(model)
    before = {k: v.clone() for k, v in avg.average.items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    trained = {k: v.clone() for k, v in model.state_dict().items()}
    avg.update(model, decay=0.75)
    for name, value in model.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.75 * before[name] + 0.25 * trained[name])
    assert "1.num_batches_tracked" not in avg.average


def test_optimizer_groups_cover_every_trainable_parameter_once():
    cfg = FastConfig(batch_size=512)
    model = fast_net((8, 16, 16))
    optimizer = make_optimizer(model, cfg)
    groups = {g["name"]: g for g in optimizer.param_groups}
    assert groups["stem"]["params"] == [model[0].bias]
    assert groups["norm"]["base_lr"] == pytest.approx(cfg.peak_lr * 64) and cfg.peak_lr == pytest.approx(0.75)
    assert groups["norm"]["lr"] * groups["norm"]["weight_decay"] == pytest.approx(cfg.peak_lr * cfg.weight_decay)
    ids = [id(p) for g in optimizer.param_groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters() if p.requires_grad)
    assert optimizer.defaults["nesterov"]


def test_autocast_choice_follows_the_device():
    cpu = torch.device("cpu")
    assert autocast_dtype("auto", cpu) is None and autocast_dtype(None, cpu) is None
    assert autocast_dtype("bf16", cpu) is torch.bfloat16
    with pytest.raises(CourseError, match="CUDA"):
        autocast_dtype("fp16", cpu)
    with pytest.raises(CourseError, match="autocast"):
        FastConfig(autocast="fp8")


@pytest.mark.parametrize(("capability", "expected"), [((7, 5), torch.float16), ((8, 0), torch.bfloat16)])
def test_auto_precision_on_a_gpu_needs_native_bfloat16(monkeypatch, capability, expected):
    # a T4 (7.5) emulates bfloat16, and torch.cuda.is_bf16_supported() says True there: float16 is the choice
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert autocast_dtype("auto", torch.device("cuda")) is expected
    if expected is torch.float16:
        with pytest.raises(CourseError, match="bfloat16"):
            autocast_dtype("bf16", torch.device("cuda"))


def test_configs_for_the_cpu_and_smoke_are_smaller_than_the_gpu_recipe():
    gpu, cpu = FastConfig(), FastConfig.for_device("cpu", smoke=False)
    smoke = FastConfig.for_device("cpu", smoke=True)
    assert gpu.train_subset is None and gpu.widths == (64, 256, 256) and gpu.autocast == "auto"
    assert cpu.train_subset < 50_000 and cpu.autocast is None
    assert smoke.train_subset < cpu.train_subset and smoke.epochs <= cpu.epochs
    assert dataclasses.replace(gpu, label_smoothing=0.0).label_smoothing == 0.0


# -- evaluation ----------------------------------------------------------------------------------------------------
def test_tta_levels_average_mirrors_and_one_pixel_shifts():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))
    x = torch.randn(5, 3, 8, 8)
    torch.testing.assert_close(tta_logits(model, x, 1), 0.5 * model(x) + 0.5 * model(x.flip(-1)))
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")  # the shifts as padding and cropping
    crops = [padded[:, :, 0:8, 0:8], padded[:, :, 2:10, 2:10]]
    mirror = lambda v: 0.5 * model(v) + 0.5 * model(v.flip(-1))  # noqa: E731
    expected = 0.5 * mirror(x) + 0.25 * (mirror(crops[0]) + mirror(crops[1]))
    torch.testing.assert_close(tta_logits(model, x, 2), expected)


def test_predict_fast_restores_the_mode_and_normalises():
    model = fast_net((8, 8, 8)).train()
    x = _images(6)
    logits = predict_fast(model, x, tta=0, batch_size=4)
    assert logits.shape == (6, 10) and model.training
    normalised = (x.float() / 255 - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]
    torch.testing.assert_close(logits, model.eval()(normalised))


# -- a tiny run ----------------------------------------------------------------------------------------------------
def _separable(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose class (0-3) is their colour (red, green, blue or dark): unchanged by shifts and flips."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    x = torch.randint(0, 90, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    for k in range(3):
        x[y == k, k] += 120
    return x, y


TINY = FastConfig(batch_size=32, widths=(8, 16, 16), epochs=4, whiten_images=128, eval_batch_size=100, autocast=None)


def test_train_fast_learns_a_tiny_problem_and_reports_its_run():
    state = torch.random.get_rng_state()
    run = train_fast(TINY, train=_separable(256, 0), test=_separable(100, 1), seed=0)
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's random state is untouched
    assert run.tta_accuracy > 0.6 and run.accuracy > 0.6  # chance is 0.25
    assert run.steps == 32 and run.epochs == 4 and len(run.history) == 4 and run.precision == "fp32"
    assert run.seconds > 0 and run.compile_seconds == 0 and not run.model.training
    assert run.history["train_loss"][-1] < run.history["train_loss"][0]
    stem = run.model[0].weight
    assert torch.equal(stem[12:], -stem[:12])  # the average kept the whitening filters (no random init mixed in)


def test_train_fast_repeats_with_a_seed_and_each_trick_can_be_removed():
    data = _separable(128, 0)
    cfg = dataclasses.replace(TINY, epochs=1)
    a, b = train_fast(cfg, train=data, seed=3), train_fast(cfg, train=data, seed=3)
    assert a.accuracy is None and a.tta_accuracy is None
    for (name, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(p, q), name
    c = train_fast(cfg, train=data, seed=4)
    assert not torch.equal(a.model[-2].weight, c.model[-2].weight)
    bare = dataclasses.replace(
        cfg, whiten=False, ema=False, label_smoothing=0.0, flip=False, crop_pad=0, tta=0, nesterov=False
    )
    run = train_fast(bare, train=data, test=_separable(50, 1), seed=0)
    assert run.tta_accuracy == run.accuracy and run.model[0].weight.requires_grad  # a trained stem


def test_train_fast_refuses_float_images():
    with pytest.raises(CourseError, match="uint8"):
        train_fast(TINY, train=(torch.rand(8, 3, 32, 32), torch.zeros(8, dtype=torch.int64)))


# -- timing --------------------------------------------------------------------------------------------------------
def test_cuda_time_on_the_cpu_averages_the_repeats_after_the_warmup():
    calls = []

    def work():
        calls.append(1)
        time.sleep(0.01)

    seconds = cuda_time(work, warmup=2, repeats=3, device="cpu")
    assert len(calls) == 5
    assert 0.009 < seconds < 0.05
    with pytest.raises(CourseError, match="repeats"):
        cuda_time(work, repeats=0)


def test_stopwatch_adds_up_its_blocks():
    watch = Stopwatch("cpu")
    for _ in range(2):
        with watch:
            time.sleep(0.01)
    time.sleep(0.02)  # outside the blocks: not counted
    assert 0.019 < watch.seconds < 0.035


def test_compile_runs_an_untimed_warm_up_whose_effects_are_undone(monkeypatch):
    import course_utils.fast.train as train_module

    real_compile, compiled = torch.compile, []

    def eager_compile(model, **kwargs):  # dynamo without a C++ toolchain: the same tracing, eager kernels
        compiled.append(model)
        return real_compile(model, backend="eager")

    monkeypatch.setattr(torch, "compile", eager_compile)
    cfg = dataclasses.replace(TINY, epochs=1, compile=True, warmup_steps=2)
    data = _separable(128, 0)
    run = train_fast(cfg, train=data, seed=3)
    plain = train_fast(dataclasses.replace(cfg, compile=False), train=data, seed=3)
    assert len(compiled) == 1 and run.compiled and not plain.compiled
    assert run.compile_seconds > 0 and plain.compile_seconds == 0  # no warm-up on a CPU without compile
    for (name, p), q in zip(run.model.state_dict().items(), plain.model.state_dict().values()):
        torch.testing.assert_close(p, q, msg=name)  # the warm-up steps left no trace in the trained weights

    model = fast_net((8, 8, 8))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    train_module._warm_up(model, model, x, y, None, steps=2)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BN statistics included
    assert all(p.grad is None for p in model.parameters())


def test_bf16_autocast_path_runs_end_to_end():
    # the GPU's precision path, on the CPU: bf16 batches, autocast forward, float32 loss and weights, bf16 evaluation
    cfg = dataclasses.replace(TINY, epochs=1, autocast="bf16")
    run = train_fast(cfg, train=_separable(128, 0), test=_separable(50, 1), seed=0)
    assert run.precision == "bf16" and 0.0 <= run.tta_accuracy <= 1.0
    assert all(p.dtype == torch.float32 for p in run.model.parameters())
    batches = GpuBatches(*_separable(8, 0), batch_size=4, dtype=torch.bfloat16)
    assert next(iter(batches))[0].dtype == torch.bfloat16
