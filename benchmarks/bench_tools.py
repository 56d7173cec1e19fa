"""Measured run times of the analysis tools: the LR range test, the analytic receptive field, the shape tracer.

Prints one table of measured wall-clock times (median of a few repeats) on this
machine, and the LR finder's time relative to the same 100 steps written as a
bare PyTorch loop (its overhead: smoothing, state copies, the restore);
nothing is estimated. Runs in well under a minute on two CPU cores.

    python benchmarks/bench_tools.py
"""

from __future__ import annotations

import copy
import platform
import statistics
import time

import torch
from torch import nn

from course_utils import lr_find, receptive_field, trace_shapes

REPEATS = 3  # timed runs per row; the median is shown
NUM_ITER = 100  # LR finder steps
BATCH = 32  # images per synthetic batch, (BATCH, 3, 32, 32)


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),  # (N, 16, 16, 16)
        nn.Conv2d(16, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),  # (N, 32, 8, 8)
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),  # (N, 10)
    )


def timed(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    import torchvision

    torch.manual_seed(0)
    torch.set_num_threads(1)  # one thread: with two, a busy shared machine makes timings swing tenfold
    loader = [(torch.randn(BATCH, 3, 32, 32), torch.randint(0, 10, (BATCH,))) for _ in range(10)]  # synthetic
    model = small_cnn()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def run_lr_find() -> None:
        # diverge_th is huge so every run does all NUM_ITER steps and the timing is comparable
        result = lr_find(model, loader, optimizer, loss_fn, num_iter=NUM_ITER, end_lr=1.0, diverge_th=1e12)
        assert len(result.lrs) == NUM_ITER

    def run_bare_loop() -> None:
        # the same NUM_ITER steps and LR ramp written by hand, on a fresh copy (no smoothing, no restore)
        net = copy.deepcopy(model)
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        for i in range(NUM_ITER):
            x, y = loader[i % len(loader)]
            for group in opt.param_groups:
                group["lr"] = 1e-7 * (1.0 / 1e-7) ** (i / (NUM_ITER - 1))
            opt.zero_grad()
            loss_fn(net(x), y).backward()
            opt.step()

    resnet18 = torchvision.models.resnet18(weights=None)
    lr_times, bare_times = [], []
    for _ in range(REPEATS):  # interleaved, so a busy moment on a shared machine hits both alike
        lr_times.append(timed(run_lr_find, 1))
        bare_times.append(timed(run_bare_loop, 1))
    lr_seconds, bare_seconds = statistics.median(lr_times), statistics.median(bare_times)
    rows = [
        (f"lr_find, small CNN, {NUM_ITER} iterations, batch {BATCH}x3x32x32", lr_seconds),
        (f"bare PyTorch loop, same {NUM_ITER} steps", bare_seconds),
        ("receptive_field, resnet18, input 224", timed(lambda: receptive_field(resnet18, 224))),
        ("trace_shapes, resnet18, input (1, 3, 224, 224)", timed(lambda: trace_shapes(resnet18, (1, 3, 224, 224)))),
    ]
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} thread{'s' if torch.get_num_threads() != 1 else ''}, median of {REPEATS}"
    )
    width = max(len(name) for name, _ in rows)
    print(f"{'task':<{width}}  seconds")
    print("-" * (width + 9))
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds:7.3f}")
    print(f"lr_find / bare loop: {lr_seconds / bare_seconds:.3f}")


if __name__ == "__main__":
    main()
