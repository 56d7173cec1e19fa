"""The course's fast CIFAR-10 recipe against airbench94, in one run on one device.

Both recipes train on the same images, over the same seeds, timed the same way: the
device is synchronised, then the call that builds and trains one network from scratch
runs (``train_fast`` for the course, ``airbench.train94`` for airbench), then the device
is synchronised again; the evaluation is not timed. One untimed run of each recipe comes
first (cuDNN's kernel search, lazy initialisation), and the timed runs alternate between
the recipes seed by seed, so a change in the machine's load hits both alike. The table
gives each recipe's mean test accuracy (with flip-and-shift test-time augmentation, the
setting of both recipes), its spread, the seconds per run and the ratio to airbench94.
Target on a GPU: a mean of at least 94.0% and at most twice airbench94's time.

airbench (Jordan, 2024, arXiv:2404.00498) is not a dependency of the course: when
``import airbench`` fails, this script installs the pinned version into the current
environment with pip. It is fed the course's own images (``COURSE_CIFAR10_ARCHIVE`` or a
torchvision copy, through ``course_utils``) by writing the ``cifar10/train.pt`` and
``cifar10/test.pt`` files its loader reads, so it downloads nothing.

Without a GPU (or with ``COURSE_SMOKE=1``) the benchmark runs a small version on a
subset with narrower networks, so that it finishes in a few minutes on two CPU cores.
airbench's own training function assumes CUDA (``.cuda()``, CUDA events, fp16 weights),
so on the CPU this script builds airbench's network from airbench's own modules at the
small widths, in float32, and trains it with airbench's loader, whitening initialisation
and lookahead state and with airbench94's hyper-parameters, in a loop that follows
airbench's ``train`` step for step. Its accuracies there say that both pipelines run,
nothing about 94%. On a CPU PyTorch runs one thread by default here (``--threads``): on a
small shared machine two threads mostly wait for each other and make every run several
times slower and noisier.

    python benchmarks/bench_cifar_gpu.py                   # a GPU: the full recipes, 5 seeds
    COURSE_SMOKE=1 python benchmarks/bench_cifar_gpu.py    # the small version (the CPU's default)
    python benchmarks/bench_cifar_gpu.py --tiny            # a few hundred images (the test's mode)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import importlib.metadata
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from course_utils import is_smoke
from course_utils.fast import (
    FastConfig,
    Stopwatch,
    autocast_dtype,
    cifar10_uint8,
    evaluate_fast,
    train_fast,
    triangle_schedule,
)

AIRBENCH_VERSION = "0.1.8"
TARGET_ACCURACY = 0.94
TARGET_RATIO = 2.0
# sizes: (training images, test images, widths of the 3 conv groups, batch size, epochs, seeds); the full run
# uses each recipe's own settings (the course's FastConfig(), airbench94's hyp), the smaller ones these for both
SIZES = {
    "full": (None, None, (64, 256, 256), 1024, None, 5),
    "small": (2048, 1000, (16, 32, 32), 256, 2, 2),
    "tiny": (300, 200, (8, 16, 16), 64, 1, 2),
}


def ensure_airbench():
    """``import airbench``, installing the pinned version with pip first if needed (never a course dependency)."""
    try:
        if importlib.metadata.version("airbench") != AIRBENCH_VERSION:
            raise ImportError
        return importlib.import_module("airbench")
    except (ImportError, importlib.metadata.PackageNotFoundError):
        print(f"installing airbench=={AIRBENCH_VERSION} into {sys.prefix} (for this benchmark only)", flush=True)
        command = [sys.executable, "-m", "pip", "install", "--quiet", f"airbench=={AIRBENCH_VERSION}"]
        subprocess.run(command, check=True)
        importlib.invalidate_caches()
        return importlib.import_module("airbench")


def write_airbench_data(folder: Path, train: tuple, test: tuple) -> None:
    """The files airbench's ``CifarLoader`` reads: images ``(N, 32, 32, 3)`` uint8, labels ``(N,)`` int64."""
    from course_utils.data import CIFAR10_CLASSES

    folder.mkdir(parents=True, exist_ok=True)
    for name, (x, y) in (("train.pt", train), ("test.pt", test)):
        images = x.permute(0, 2, 3, 1).contiguous().cpu()  # (N, 3, 32, 32) -> (N, 32, 32, 3), as torchvision stores it
        torch.save({"images": images, "labels": y.cpu(), "classes": list(CIFAR10_CLASSES)}, folder / name)


# -- airbench on a CPU: its own modules and hyper-parameters, driven in float32 ---------------------------------------
def airbench_cpu_net(ab94, widths: tuple[int, int, int]) -> nn.Sequential:
    """airbench94's network (``make_net94``) built from its own modules, without ``.half().cuda()``."""
    momentum, scale = ab94.hyp["net"]["batchnorm_momentum"], ab94.hyp["net"]["scaling_factor"]
    net = nn.Sequential(
        ab94.Conv(3, 24, 2, padding=0, bias=True),
        nn.GELU(),
        ab94.ConvGroup(24, widths[0], momentum),
        ab94.ConvGroup(widths[0], widths[1], momentum),
        ab94.ConvGroup(widths[1], widths[2], momentum),
        nn.MaxPool2d(3),
        ab94.Flatten(),
        nn.Linear(widths[2], 10, bias=False),
        ab94.Mul(scale),
    )
    net[0].weight.requires_grad = False
    return net.to(memory_format=torch.channels_last)


def airbench_cpu_train(airbench, loader, widths: tuple[int, int, int], epochs: float) -> nn.Module:
    """One run of airbench94's training on the CPU: the steps of ``airbench.utils.train``, its hyper-parameters."""
    ab94, utils = airbench.lib_airbench94, airbench.utils
    opt = ab94.hyp["opt"]
    loader.epoch = 0
    momentum, batch_size = opt["momentum"], loader.batch_size
    kilostep = 1024 * (1 + 1 / (1 - momentum))  # airbench's decoupled parametrisation, for a summed loss
    lr, wd = opt["lr"] / kilostep, opt["weight_decay"] * batch_size / kilostep
    lr_bias = lr * opt["bias_scaler"]
    model = airbench_cpu_net(ab94, widths)
    norm = [p for k, p in model.named_parameters() if "norm" in k and p.requires_grad]
    other = [p for k, p in model.named_parameters() if "norm" not in k and p.requires_grad]
    groups = [
        {"params": norm, "lr": lr_bias, "weight_decay": wd / lr_bias},
        {"params": other, "lr": lr, "weight_decay": wd / lr},
    ]
    optimizer = torch.optim.SGD(groups, momentum=momentum, nesterov=True)
    total = math.ceil(len(loader) * epochs)
    factors = triangle_schedule(total, 0.23, 0.2, 0.07)  # airbench's triangle(total, start=0.2, end=0.07, peak=0.23)
    base = [g["lr"] for g in optimizer.param_groups]
    lookahead = utils.LookaheadState(model)
    utils.init_whitening_conv(model[0], loader.normalize(loader.images[:5000]))
    step = 0
    for epoch in range(math.ceil(epochs)):
        model[0].bias.requires_grad = epoch < opt["whiten_bias_epochs"]
        model.train()
        for inputs, labels in loader:
            for group, rate in zip(optimizer.param_groups, base):
                group["lr"] = rate * factors[step]
            loss = F.cross_entropy(model(inputs), labels, label_smoothing=opt["label_smoothing"], reduction="sum")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if step % 5 == 0:
                lookahead.update(model, decay=0.95**5 * (step / total) ** 3)
            if step >= total:
                lookahead.update(model, decay=1.0)
                break
    return model


# -- the runs -------------------------------------------------------------------------------------------------------
def course_config(size: str, device: torch.device) -> FastConfig:
    """The course recipe at this size: the GPU recipe except the sizes (and float32 on a CPU)."""
    _, _, widths, batch_size, epochs, _ = SIZES[size]
    cfg = FastConfig(warmup_steps=0)  # the warm-up is a whole untimed run
    if epochs is not None:
        cfg = dataclasses.replace(cfg, widths=widths, batch_size=batch_size, epochs=epochs)
    return cfg if device.type == "cuda" else dataclasses.replace(cfg, autocast=None, eval_batch_size=500)


def measure(
    size: str, device: torch.device, seeds: int, root: Path
) -> tuple[dict[str, list[tuple[float, float]]], str]:
    """(accuracy, training seconds) per seed for each recipe, and a line describing the run."""
    airbench = ensure_airbench()
    ab94 = airbench.lib_airbench94
    n_train, n_test, widths, batch_size, epochs, _ = SIZES[size]
    train = cifar10_uint8(train=True, subset=n_train, device=device)
    test = cifar10_uint8(train=False, subset=n_test, device=device)
    write_airbench_data(root / "cifar10", train, test)
    cfg = course_config(size, device)
    amp = autocast_dtype(cfg.autocast, device)
    gpu = device.type == "cuda"
    where = (device.index or 0) if gpu else "cpu"
    block_widths = {"block1": widths[0], "block2": widths[1], "block3": widths[2]}

    with contextlib.chdir(root):  # airbench's train() reads its test set from ./cifar10/test.pt
        loader = airbench.CifarLoader(
            "cifar10", train=True, batch_size=batch_size, aug=ab94.hyp["aug"], altflip=True, gpu=where
        )
        test_loader = airbench.CifarLoader("cifar10", train=False, batch_size=2000, gpu=where)
        if not gpu:  # float32 on the CPU (airbench keeps fp16 images for its fp16 network on a GPU)
            loader.images, test_loader.images = loader.images.float(), test_loader.images.float()

        def course_train(seed: int) -> nn.Module:
            return train_fast(cfg, train=train, seed=seed, device=device).model

        def course_eval(model: nn.Module) -> float:
            return evaluate_fast(model, *test, tta=cfg.tta, batch_size=cfg.eval_batch_size, autocast=amp)

        def airbench_train(seed: int) -> nn.Module:
            torch.manual_seed(seed)
            if not gpu:
                return airbench_cpu_train(airbench, loader, widths, epochs)
            if epochs is None:  # airbench94 exactly as published
                return airbench.train94(loader, verbose=False)
            make_net = lambda: ab94.make_net94(widths=block_widths)  # noqa: E731
            return airbench.train94(loader, epochs=epochs, make_net=make_net, verbose=False)

        def airbench_eval(model: nn.Module) -> float:
            return airbench.evaluate(model, test_loader, tta_level=ab94.hyp["net"]["tta_level"])

        recipes = {
            "course (course_utils.fast)": (course_train, course_eval),
            f"airbench94 {AIRBENCH_VERSION}": (airbench_train, airbench_eval),
        }
        for train_fn, _ in recipes.values():  # one untimed run each: cuDNN's search, lazy initialisation
            train_fn(10_000)
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in recipes}
        for seed in range(seeds):  # alternating, so that a change in load hits both recipes alike
            for name, (train_fn, eval_fn) in recipes.items():
                watch = Stopwatch(device)
                with watch:
                    model = train_fn(seed)
                results[name].append((eval_fn(model), watch.seconds))
    n = len(train[1])
    line = (
        f"{n:,} training images, {len(test[1]):,} test images, widths {widths}, batch {batch_size}, "
        f"epochs {epochs or f'{cfg.epochs:g} (course), 9.9 (airbench94)'}, {seeds} seeds, "
        f"{'bf16/fp16' if gpu else 'float32'}"
    )
    return results, line


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, {threads} threads)"


def print_table(results: dict[str, list[tuple[float, float]]], header: str, full: bool) -> None:
    print(header)
    names = list(results)
    reference = statistics.mean(s for _, s in results[names[-1]])
    head = f"{'recipe':<28} {'runs':>4} {'mean acc':>9} {'std':>7} {'min-max':>15} {'s/run':>8} {'ratio':>6}"
    print(head)
    print("-" * len(head))
    for name in names:
        accs, secs = [a for a, _ in results[name]], [s for _, s in results[name]]
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        seconds = statistics.mean(secs)
        spread = f"{min(accs):.4f}-{max(accs):.4f}"
        print(
            f"{name:<28} {len(accs):>4} {statistics.mean(accs):>9.4f} {std:>7.4f} {spread:>15} "
            f"{seconds:>8.3f} {seconds / reference:>6.2f}"
        )
    course_acc = statistics.mean(a for a, _ in results[names[0]])
    ratio = statistics.mean(s for _, s in results[names[0]]) / reference
    if not full:
        print(
            "Small version: both pipelines ran end to end; the targets (mean >= 94.0%, at most 2x airbench94's "
            "time) apply to the full run on a GPU and are not measured here."
        )
    else:
        met = course_acc >= TARGET_ACCURACY and ratio <= TARGET_RATIO
        print(
            f"Target (mean >= {TARGET_ACCURACY:.1%} and time <= {TARGET_RATIO:g}x airbench94's): "
            f"{'met' if met else 'MISSED'} (mean {course_acc:.2%}, ratio {ratio:.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("device", nargs="?", default=None, help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--seeds", type=int, default=None, help="timed runs per recipe (default 5 full, 2 small)")
    parser.add_argument("--tiny", action="store_true", help="a few hundred images: checks that everything runs")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch CPU threads (default 1, see the notes)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    size = "tiny" if args.tiny else "small" if is_smoke() or device.type != "cuda" else "full"
    seeds = args.seeds or SIZES[size][-1]
    if seeds < 2:
        parser.error("--seeds needs at least 2 runs to give a spread.")
    if device.type != "cuda":
        print(f"No GPU here: the {size} version runs (GPU figures are not measured).")
    with tempfile.TemporaryDirectory(prefix="bench-cifar-") as tmp:
        results, line = measure(size, device, seeds, Path(tmp))
    header = (
        f"CIFAR-10, course recipe vs airbench94 on {describe_device(device)}, torch {torch.__version__}: {line}; "
        "accuracy with flip-and-shift TTA; seconds: synchronised training time per run, evaluation excluded, "
        "after one untimed run of each"
    )
    print_table(results, header, full=size == "full")


if __name__ == "__main__":
    main()
