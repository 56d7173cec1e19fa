"""The cost of course_utils.fit over a bare PyTorch loop, and of `import course_utils`.

For each model, one epoch of ``fit`` (progress bar off, then on) and one epoch of
the loop a learner writes by hand run on the same model, optimiser and batches
(the same number of steps). After one warm-up epoch of each (not timed), ROUNDS
rounds follow; each round runs every variant once, in a shuffled order, so that
a change in the machine's load hits all of them alike. A variant's ratio is its
time divided by the bare loop's time *in the same round*; the table shows the
median over rounds and the middle half of the ratios (25th-75th percentile, so
the noise is visible), both for wall-clock time and for the CPU time of this
process, and the median extra CPU time per step in microseconds (the overhead
in absolute terms, which does not shrink when the model grows). Target: a
median ratio under 1.05 without the progress bar.

Why CPU time too: on a small shared machine (2 cores, other jobs running) the
wall clock mostly measures how long this process waited for a core, which
differs from epoch to epoch by tens of percent. The CPU time of the process
counts the work it did itself: all of fit's overhead (Python, dispatching
operations, the progress bar's thread), none of the waiting. On a CPU device the
target is checked on the CPU-time ratio, on a GPU on the wall-clock ratio (the
CPU time would miss the GPU's work); both are always printed.

What each loop does: the bare loop reads ``loss.item()`` every step, as
hand-written loops do; ``fit`` also checks that each loss is finite and counts
correct predictions for the training accuracy, so a second reference row adds
an accuracy count (``(out.argmax(1) == y).sum().item()``) to the bare loop. On a
tiny model that count costs fit about as much as it saves by clearing gradients
itself (``p.grad = None``) instead of calling ``optimizer.zero_grad()``, whose
profiler label is the dearer part of it; that, not skipped work, is why fit's
"extra CPU us/step" stays below the accuracy row's. The
progress bar writes to an in-memory buffer, so terminal speed does not enter.
Mixed precision stays at fit's default (off on a CPU, on for CUDA), so on a GPU
the fit rows also include autocast.

PyTorch runs on one thread by default here: on a small shared machine (2 cores,
other jobs running) two intra-op threads spend most of their time waiting for
each other and make every loop several times slower and far noisier; the
per-step overhead of fit is Python and dispatch work on the calling thread
either way. ``--threads 2`` measures with two. The import time is measured in
fresh interpreters, after torch is already imported.

    python benchmarks/bench_fit.py                 # on the CPU
    python benchmarks/bench_fit.py cuda            # on a GPU
    python benchmarks/bench_fit.py --rounds 101    # more rounds: a steadier median
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
from torch import nn

from course_utils import fit

ROUNDS = {"small CNN": 45, "tiny MLP": 61}  # timed rounds per model; each round runs every variant once
# Short epochs and many rounds: the two epochs of a pair run close together in time, and the median settles.
BATCHES = {"small CNN": 8, "tiny MLP": 200}
IMPORT_REPEATS = 5  # fresh interpreters for the import time
TARGET = 1.05


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


def tiny_mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 64), nn.ReLU(), nn.Linear(64, 10))  # (N, 10)


def bare_epoch(
    model: nn.Module,
    loader: list,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    device: torch.device,
    accuracy: bool = False,
) -> float:
    """The loop a learner writes by hand (the order of PyTorch's "Optimizing Model Parameters" tutorial)."""
    model.train()
    total, correct = 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        out = model(x)
        loss = loss_fn(out, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        total += loss.item() * len(y)
        if accuracy:
            correct += (out.argmax(1) == y).sum().item()
    return total


def quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def compare(
    name: str,
    make_model: Callable[[], nn.Module],
    shape: tuple[int, ...],
    batches: int,
    batch_size: int,
    device: torch.device,
    rounds: int,
) -> list[dict]:
    torch.manual_seed(0)
    loader = [(torch.randn(batch_size, *shape), torch.randint(0, 10, (batch_size,))) for _ in range(batches)]
    model = make_model().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    sink = io.StringIO()

    def run_fit(progress: bool) -> None:
        with contextlib.redirect_stderr(sink):
            fit(model, loader, epochs=1, optimizer=optimizer, loss_fn=loss_fn, progress=progress, device=device)
        sink.seek(0)
        sink.truncate()

    variants = {
        "bare PyTorch loop": lambda: bare_epoch(model, loader, optimizer, loss_fn, device),
        "bare loop + accuracy": lambda: bare_epoch(model, loader, optimizer, loss_fn, device, accuracy=True),
        "fit, progress=False": lambda: run_fit(False),
        "fit, progress=True": lambda: run_fit(True),
    }

    def timed(run: Callable[[], object]) -> tuple[float, float]:
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - wall) / batches, (time.process_time() - cpu) / batches

    for run in variants.values():  # warm-up, not timed
        run()
    order, shuffle = list(variants), random.Random(0).shuffle
    times: dict[str, list[tuple[float, float]]] = {key: [] for key in variants}
    for _ in range(rounds):
        shuffle(order)
        for key in order:
            times[key].append(timed(variants[key]))
    bare = times["bare PyTorch loop"]
    rows = []
    for key, t in times.items():
        row = {
            "model": name,
            "loop": key,
            "rounds": rounds,
            "ms": statistics.median(w for w, _ in t) * 1e3,
            "extra_us": statistics.median((a[1] - b[1]) * 1e6 for a, b in zip(t, bare)),
        }
        for clock, i in (("wall", 0), ("cpu", 1)):
            row[clock] = quartiles([a[i] / b[i] for a, b in zip(t, bare)])
        rows.append(row)
    return rows


def import_time() -> tuple[float, float]:
    probe = "import time, torch; start = time.perf_counter(); import course_utils; print(time.perf_counter() - start)"
    seconds = [
        float(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout)
        for _ in range(IMPORT_REPEATS)
    ]
    return statistics.median(seconds), max(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("device", nargs="?", default="cpu", help="e.g. cpu or cuda")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch intra-op threads (default 1, see the notes)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per model (default: 45 CNN, 61 MLP)")
    args = parser.parse_args()
    if args.rounds is not None and args.rounds < 2:
        parser.error("--rounds needs at least 2 rounds to give a spread.")
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    load_before = _load()
    rows = compare(
        "small CNN, batch 32x3x32x32",
        small_cnn,
        (3, 32, 32),
        batches=BATCHES["small CNN"],
        batch_size=32,
        device=device,
        rounds=args.rounds or ROUNDS["small CNN"],
    )
    rows += compare(
        "tiny MLP, batch 64x3x8x8",
        tiny_mlp,
        (3, 8, 8),
        batches=BATCHES["tiny MLP"],
        batch_size=64,
        device=device,
        rounds=args.rounds or ROUNDS["tiny MLP"],
    )

    print(
        f"fit overhead per step: median over interleaved rounds of the ratio to the bare loop in the same round "
        f"(torch {torch.__version__}, {device}, {torch.get_num_threads()} thread(s), "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average {load_before} before, "
        f"{_load()} after)"
    )
    header = (
        f"{'model':<28} {'loop':<21} {'rounds':>6} {'ms/step':>8} {'wall ratio':>10} {'middle half':>12} "
        f"{'CPU ratio':>9} {'middle half':>12} {'extra CPU us/step':>17}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        (w1, w, w3), (c1, c, c3) = r["wall"], r["cpu"]
        wall_spread, cpu_spread = f"{w1:.3f}-{w3:.3f}", f"{c1:.3f}-{c3:.3f}"
        print(
            f"{r['model']:<28} {r['loop']:<21} {r['rounds']:>6} {r['ms']:>8.3f} {w:>10.3f} {wall_spread:>12} "
            f"{c:>9.3f} {cpu_spread:>12} {r['extra_us']:>17.1f}"
        )
    judged = "wall" if device.type == "cuda" else "cpu"
    for r in rows:
        if r["loop"] == "fit, progress=False":
            ratio = r[judged][1]
            verdict = "meets" if ratio < TARGET else "MISSES"
            clock = "wall-clock" if judged == "wall" else "CPU"
            print(
                f"{r['model']}: fit without a progress bar {verdict} the target ({clock} time ratio {ratio:.3f}, "
                f"target < {TARGET}; wall-clock {r['wall'][1]:.3f}, CPU {r['cpu'][1]:.3f})"
            )
    median, worst = import_time()
    print()
    print(
        f"import course_utils after torch: median {median * 1e3:.1f} ms, max {worst * 1e3:.1f} ms "
        f"over {IMPORT_REPEATS} fresh interpreters (limit 500 ms)"
    )


def _load() -> str:
    """The 1-minute load average (other processes competing for the cores), where the platform has one."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except (AttributeError, OSError):
        return "unknown"


if __name__ == "__main__":
    main()
