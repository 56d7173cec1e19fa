"""Verification spec of chapter 12 (read by `python -m course_utils.grading verify`, never released).

Test inputs differ from the notebook's visible and hidden tests; every expected
value is computed in the grader's process by PyTorch or torchvision: torchvision's
pad, crop and horizontal_flip image by image, F.cross_entropy with
label_smoothing (value and gradient), two LinearLR schedulers chained by
SequentialLR, torch.optim.swa_utils.get_ema_avg_fn, the model's own outputs on
the images and their mirrors, and the calls the timing statement lists.

Four exercises are called through the notebook's `check-wrappers` cell (run here
as a setup cell): `loss_and_gradient` (the loss and its gradient), `ema_after`
(the averaged tensors after a sequence of in-place updates), `tta_result` (the
logits and whether they record gradients) and `timing_trace` (the calls
time_per_call made with a fake clock, and the seconds it returned).
The statements' rules hold as in the notebook's checks, with the same
sentences: no torchvision crops and flips, no cross_entropy or label_smoothing
argument, no PyTorch schedulers, no swa_utils, no timers of its own, never
course_utils.fast; only the EMA's averaged tensors may change.
"""

import warnings

import torch
import torch.nn.functional as F
from torch.optim import lr_scheduler
from torch.optim.swa_utils import get_ema_avg_fn

from course_utils.checks import Forbid
from course_utils.grading import harness
from course_utils.grading.spec import Exercise

SETUP_CELLS = ["check-wrappers"]

_g = torch.Generator().manual_seed(1212)

# The same rules as the notebook's check cells (tests/notebooks/test_chapter12_checks.py compares them).
FAST_NAMES = (
    "fast",
    "cifar10_uint8",
    "GpuBatches",
    "fast_net",
    "FastConfig",
    "train_fast",
    "FastRun",
    "cuda_time",
    "Stopwatch",
    "triangle_schedule",
    "LookaheadAverage",
    "evaluate_fast",
    "predict_fast",
)
NO_TORCHVISION_CROP = Forbid(
    calls=(
        "crop",
        "horizontal_flip",
        "hflip",
        "RandomCrop",
        "RandomHorizontalFlip",
        "RandomResizedCrop",
        "resized_crop",
        "center_crop",
        "five_crop",
        "ten_crop",
        "RandomAffine",
        "affine",
        "translate",
        *FAST_NAMES,
    ),
    reason="the point of this exercise is to crop and flip the whole batch yourself, on the device",
)
NO_CROSS_ENTROPY = Forbid(
    calls=("cross_entropy", "CrossEntropyLoss", "label_smoothing", "cross_entropy_loss", *FAST_NAMES),
    reason="the point of this exercise is to build the smoothed targets' cross-entropy yourself",
)
NO_SCHEDULERS = Forbid(
    calls=(
        "lr_scheduler",
        "LinearLR",
        "SequentialLR",
        "LambdaLR",
        "OneCycleLR",
        "ChainedScheduler",
        "interp",
        *FAST_NAMES,
    ),
    reason="the point of this exercise is to write the schedule's formula yourself",
)
NO_SWA_UTILS = Forbid(
    calls=("swa_utils", "AveragedModel", "get_ema_avg_fn", "get_ema_multi_avg_fn", "SWALR", *FAST_NAMES),
    reason="the point of this exercise is to write the average's update yourself",
)
NO_FAST = Forbid(calls=FAST_NAMES, reason="the point of this exercise is to write the averaging yourself")
NO_TIMERS = Forbid(
    calls=(
        "perf_counter",
        "perf_counter_ns",
        "monotonic",
        "time_ns",
        "Event",
        "elapsed_time",
        "Timer",
        "timeit",
        "cuda",
        *FAST_NAMES,
    ),
    reason="the point of this exercise is to time with the functions you are given",
)


# ---------------------------------------------------------------- crop_flip
def _torchvision_crop_flip(x, dy, dx, flip, pad):
    from torchvision.transforms.v2 import functional as TF

    h, w = x.shape[-2:]
    out = []
    for image, top, left, mirror in zip(x, dy.tolist(), dx.tolist(), flip.tolist()):
        image = TF.crop(TF.pad(image, [pad], fill=0), top, left, h, w)
        out.append(TF.horizontal_flip(image) if mirror else image)
    return torch.stack(out)


def _augment_case(b, c, h, w, pad):
    x = torch.randint(0, 256, (b, c, h, w), generator=_g, dtype=torch.uint8)
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=_g)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=_g)
    return (x, dy, dx, torch.rand(b, generator=_g) < 0.5, pad)


_CROP_CASES = [
    _augment_case(7, 3, 10, 10, 3),
    _augment_case(2, 3, 9, 4, 2),  # not square
    _augment_case(32, 3, 32, 32, 4),
    _augment_case(3, 2, 5, 5, 0),
    _augment_case(6, 1, 12, 7, 5),  # pad larger than half the width
]


# ---------------------------------------------------------------- label_smoothing_loss (through `loss_and_gradient`)
def _loss_and_gradient(logits, targets, smoothing):
    leaf = logits.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(leaf, targets, label_smoothing=smoothing)
    return [loss.detach(), torch.autograd.grad(loss, leaf)[0]]


_LOSS_CASES = [
    (torch.randn(9, 10, generator=_g) * 3, torch.randint(0, 10, (9,), generator=_g), 0.1),
    (torch.randn(4, 5, generator=_g, dtype=torch.float64), torch.tensor([4, 4, 0, 1]), 0.25),
    (torch.randn(6, 10, generator=_g) * 80, torch.randint(0, 10, (6,), generator=_g), 0.2),  # large logits
    (torch.randn(3, 2, generator=_g), torch.tensor([0, 1, 1]), 0.0),
    (torch.randn(2, 50, generator=_g), torch.tensor([49, 0]), 0.6),
]


# ---------------------------------------------------------------- warmup_decay
def _curve(total, warmup, peak, start, end):
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=peak)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parts = []
        if warmup > 0:
            parts.append(
                lr_scheduler.LinearLR(optimizer, start_factor=start / peak, end_factor=1.0, total_iters=warmup)
            )
        if total > warmup:
            parts.append(
                lr_scheduler.LinearLR(optimizer, start_factor=1.0, end_factor=end / peak, total_iters=total - warmup)
            )
        scheduler = parts[0] if len(parts) == 1 else lr_scheduler.SequentialLR(optimizer, parts, milestones=[warmup])
        out = []
        for _ in range(total + 1):
            out.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
    return out


def _warmup_decay(step, total, warmup, peak, start, end):
    return _curve(total, warmup, peak, start, end)[step]


_SCHEDULE_CASES = [
    (s, total, warmup, peak, start, end)
    for total, warmup, peak, start, end in (
        (11, 2, 0.08, 0.008, 0.0),
        (7, 0, 1.5, 0.5, 0.3),
        (5, 5, 0.2, 0.02, 0.0),  # no decay
        (16, 12, 3.0, 0.3, 1.0),
    )
    for s in range(total + 1)
]


# ---------------------------------------------------------------- ema_update (through `ema_after`)
def _ema(ema_params, steps, decay):
    average = get_ema_avg_fn(decay)
    current = [e.detach().clone() for e in ema_params]
    for params in steps:
        current = [average(e, p, None) for e, p in zip(current, params)]
    return current


def _tensors(shapes, dtype=torch.float32):
    return [torch.randn(shape, generator=_g, dtype=dtype) for shape in shapes]


_EMA_SHAPES = [(8, 3, 3, 3), (8,), (), (5, 8)]
_EMA_CASES = [
    (_tensors(_EMA_SHAPES), [_tensors(_EMA_SHAPES) for _ in range(3)], 0.9),
    (_tensors([(6, 2)], torch.float64), [_tensors([(6, 2)], torch.float64) for _ in range(12)], 0.97),
    ([torch.randn(4, 3, generator=_g).t()], [[torch.randn(3, 4, generator=_g)]], 0.3),  # not contiguous
    (_tensors([(2, 2)]), [_tensors([(2, 2)])], 1.0),  # decay 1: nothing moves
]


# ---------------------------------------------------------------- tta_logits (through `tta_result`)
def _net(channels, h, w, classes, seed):
    layers = [
        ["Conv2d", {"in_channels": channels, "out_channels": 3, "kernel_size": 3, "padding": 1}],
        ["BatchNorm2d", {"num_features": 3}],
        ["ReLU", {}],
        ["Flatten", {}],
        ["Linear", {"in_features": 3 * h * w, "out_features": classes}],
    ]

    def statistics(model):
        model[1].running_mean.uniform_(-0.5, 0.5)
        model[1].running_var.uniform_(0.5, 2.0)

    return harness.model_arg(layers, seed=seed, training=False, init=statistics)


def _tta(model, x):
    net = harness.build_arg(model)
    with torch.no_grad():
        return [(net(x) + net(torch.flip(x, dims=[3]))) / 2, False]


_TTA_CASES = [
    (_net(3, 7, 7, 5, 121), torch.randn(6, 3, 7, 7, generator=_g)),
    (_net(2, 4, 6, 3, 122), torch.randn(3, 2, 4, 6, generator=_g)),  # not square
    (_net(3, 8, 8, 10, 123), torch.randn(1, 3, 8, 8, generator=_g)),
]


# ---------------------------------------------------------------- time_per_call (through `timing_trace`)
def _trace(warmup, repeats, ticks):
    events = ["fn"] * warmup + ["synchronize", "clock"] + ["fn"] * repeats + ["synchronize", "clock"]
    return [events, (ticks[1] - ticks[0]) / repeats]


_TIMING_CASES = [(2, 3, [1.5, 4.5, 10.0]), (0, 2, [7.0, 8.0, 9.0]), (4, 1, [0.25, 0.5, 0.75]), (1, 6, [3.0, 6.0, 6.5])]


EXERCISES = [
    Exercise(
        test="test_crop_flip",
        solutions=["crop_flip"],
        name="crop_flip",
        cases=_CROP_CASES,
        reference=_torchvision_crop_flip,
        forbid=NO_TORCHVISION_CROP,
        returns=torch.Tensor,
        arg_names=("x", "dy", "dx", "flip", "pad"),
        timeout=20,
    ),
    Exercise(
        test="test_label_smoothing_loss",
        solutions=["label_smoothing_loss"],
        name="loss_and_gradient",
        label="label_smoothing_loss",
        cases=_LOSS_CASES,
        reference=_loss_and_gradient,
        forbid=NO_CROSS_ENTROPY,
        arg_names=("logits", "targets", "smoothing"),
        timeout=15,
    ),
    Exercise(
        test="test_warmup_decay",
        solutions=["warmup_decay"],
        name="warmup_decay",
        cases=_SCHEDULE_CASES,
        reference=_warmup_decay,
        forbid=NO_SCHEDULERS,
        returns=float,
        arg_names=("step", "total", "warmup", "peak", "start", "end"),
        timeout=15,
    ),
    Exercise(
        test="test_ema_update",
        solutions=["ema_update"],
        name="ema_after",
        label="ema_update",
        cases=_EMA_CASES,
        reference=_ema,
        forbid=NO_SWA_UTILS,
        mutates=("ema_params",),
        arg_names=("ema_params", "steps", "decay"),
        timeout=15,
    ),
    Exercise(
        test="test_tta_logits",
        solutions=["tta_logits"],
        name="tta_result",
        label="tta_logits",
        cases=_TTA_CASES,
        reference=_tta,
        forbid=NO_FAST,
        arg_names=("model", "x"),
        timeout=15,
    ),
    Exercise(
        test="test_time_per_call",
        solutions=["time_per_call"],
        name="timing_trace",
        label="time_per_call",
        cases=_TIMING_CASES,
        reference=_trace,
        forbid=NO_TIMERS,
        arg_names=("warmup", "repeats", "ticks"),
        timeout=10,
    ),
]
