"""Median time per update of each course widget on CPU, as a live front end would see it.

An "update" is one control change (a slider move, a new choice) up to and
including the new PNG pushed to the widget's Image view, i.e. re-compute,
re-draw of the changed artists (``set_data``, patch positions), Agg render and
PNG encode. ``COURSE_WIDGETS=live`` is set so the rendering really happens
outside a kernel. Targets (issue 4): KernelExplorer < 30 ms for a 128x128 RGB
image; FeatureMapExplorer < 100 ms for a ResNet-18 layer. Nothing is estimated. The CPU column is the
update's own cost: on a busy shared machine the wall time also counts the wait for a core (the load average
is printed with the table).

    python benchmarks/bench_widgets.py
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time

os.environ["COURSE_WIDGETS"] = "live"

import torch  # noqa: E402
from torch import nn  # noqa: E402

UPDATES = 15  # timed updates per row; the median is shown


def per_update(values, setter) -> tuple[float, float, float]:
    """Median and max wall seconds, and median CPU seconds of this process, of ``setter(v)`` over ``values``
    (the first, warm-up call is not counted). On a shared machine the wall time includes waiting for a core;
    the CPU time (one thread) is what the update itself costs, and what the wall time is on an idle machine."""
    setter(values[0])
    times, cpu = [], []
    for v in values[1 : UPDATES + 1]:
        start, start_cpu = time.perf_counter(), time.process_time()
        setter(v)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times), max(times), statistics.median(cpu)


def main() -> None:
    import torchvision

    from course_utils import LRFinderResult, sample_image
    from course_utils.widgets import (
        FeatureMapExplorer,
        KernelExplorer,
        LRFinderView,
        ReceptiveFieldView,
        ScheduleExplorer,
    )
    from course_utils.widgets.lr_finder_view import smooth_losses

    torch.manual_seed(0)
    torch.set_num_threads(1)  # one thread: a shared 2-core machine makes multi-thread timings swing
    rows: list[tuple[str, str, float, float, float, str]] = []

    def add(widget: str, update: str, result: tuple[float, float, float], target: float | None = None) -> None:
        med, worst, cpu = result
        verdict = "" if target is None else ("meets" if med * 1000 < target else "MISSES") + f" < {target:g} ms"
        rows.append((widget, update, med * 1000, worst * 1000, cpu * 1000, verdict))

    rgb = sample_image(size=(128, 128))  # (3, 128, 128)
    ke = KernelExplorer(rgb, "sobel_x")
    n = ke.position.max
    add(
        "KernelExplorer 128x128 RGB",
        "position slider",
        per_update([i * n // 20 for i in range(UPDATES + 1)], lambda v: setattr(ke.position, "value", v)),
        30,
    )
    presets = ["gaussian", "sharpen", "laplacian", "emboss"] * 4
    add(
        "KernelExplorer 128x128 RGB", "preset kernel", per_update(presets, lambda v: setattr(ke.preset, "value", v)), 30
    )
    add("KernelExplorer 128x128 RGB", "stride", per_update([1, 2, 3] * 6, lambda v: setattr(ke.stride, "value", v)), 30)
    add(
        "KernelExplorer 128x128 RGB",
        "padding",
        per_update([0, 1, 2, 3] * 5, lambda v: setattr(ke.padding, "value", v)),
        30,
    )
    add(
        "KernelExplorer 128x128 RGB",
        "channel",
        per_update(["R", "G", "B"] * 6, lambda v: setattr(ke.channel, "value", v)),
        30,
    )
    add(
        "KernelExplorer 128x128 RGB",
        "correlation/convolution",
        per_update(["correlation", "convolution"] * 9, lambda v: setattr(ke.mode, "value", v)),
        30,
    )
    ke.preset.value = "sobel_x"
    add(
        "KernelExplorer 128x128 RGB",
        "typed grid entry",
        per_update([f"{i}/8" for i in range(-8, 9)], lambda v: setattr(ke.grid_texts[0][0], "value", v)),
        30,
    )
    add(
        "KernelExplorer 128x128 RGB",
        "grid 3x3 <-> 5x5",
        per_update(["5x5", "3x3"] * 9, lambda v: setattr(ke.size, "value", v)),
        30,
    )
    grey = KernelExplorer(sample_image(size=(128, 128), grey=True), "sobel_x")
    add(
        "KernelExplorer 128x128 grey",
        "position slider",
        per_update(list(range(0, 16 * 200, 200)), lambda v: setattr(grey.position, "value", v)),
        30,
    )

    resnet = torchvision.models.resnet18(weights=None)
    fm = FeatureMapExplorer(resnet, torch.rand(3, 224, 224), layers=["conv1", "layer1", "layer2", "layer3", "layer4"])
    add(
        "FeatureMapExplorer ResNet-18 224",
        "layer choice",
        per_update(["layer1", "layer2", "layer3", "layer4"] * 4, lambda v: setattr(fm.layer, "value", v)),
        100,
    )
    fm.layer.value = "layer1"
    add(
        "FeatureMapExplorer ResNet-18 224",
        "channel slider",
        per_update(list(range(0, 64, 4)), lambda v: setattr(fm.channel, "value", v)),
        100,
    )

    se = ScheduleExplorer("onecycle", steps=1000)
    add(
        "ScheduleExplorer 1000 steps",
        "pct_start slider",
        per_update(
            [0.1 + 0.05 * i for i in range(16)], lambda v: setattr(se.sliders["onecycle"]["pct_start"], "value", v)
        ),
    )

    lrs = [1e-6 * 10 ** (i / 20) for i in range(120)]
    raw = [2.3 - 1.5 / (1 + math.exp(-(math.log10(lr) + 3) * 3)) + 0.05 * math.sin(3 * i) for i, lr in enumerate(lrs)]
    lv = LRFinderView(LRFinderResult(lrs, smooth_losses(raw, 0.98), raw))
    add(
        "LRFinderView 120 points",
        "smoothing slider",
        per_update([0.5 + 0.03 * i for i in range(16)], lambda v: setattr(lv.smooth, "value", v)),
    )

    cnn = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
    )
    rv = ReceptiveFieldView(cnn, 64)
    add(
        "ReceptiveFieldView 3-conv CNN, 64x64",
        "unit slider",
        per_update(list(range(16)), lambda v: setattr(rv.unit_col, "value", v)),
    )

    print(
        f"Per-update latency of the course widgets (median and worst of {UPDATES} updates after one warm-up; "
        f"includes the PNG sent to the front end)"
    )
    load = f", load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores" if hasattr(os, "getloadavg") else ""
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, 1 thread{load}\n")
    header = ("widget", "update", "median ms", "worst ms", "CPU ms", "target (median wall)")
    widths = [
        max(len(header[0]), *(len(r[0]) for r in rows)),
        max(len(header[1]), *(len(r[1]) for r in rows)),
        9,
        8,
        6,
        14,
    ]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for widget, update, med, worst, cpu, verdict in rows:
        print(f"{widget.ljust(widths[0])}  {update.ljust(widths[1])}  {med:9.1f}  {worst:8.1f}  {cpu:6.1f}  {verdict}")


if __name__ == "__main__":
    main()
