"""The cost of course_utils.fit over a bare PyTorch loop, and of `import course_utils`.

For each model, one epoch of ``fit`` (progress bar off, then on) and one epoch of
the loop a learner writes by hand run on the same model, optimiser and batches,
interleaved, REPEATS times; the table shows the median time per step and the
ratio to the bare loop (target: under 1.05 without the progress bar). The bare
loop reads ``loss.item()`` every step, as hand-written loops do; ``fit`` also
counts correct predictions (for the training accuracy) and checks that the loss
is finite, so a second reference row adds the accuracy count to the bare loop. The progress bar
writes to an in-memory buffer, so terminal speed does not enter. The import time
is measured in fresh interpreters, after torch is already imported. Mixed
precision stays at fit's default (off on a CPU, on for CUDA), so on a GPU the
fit rows also include autocast.

    python benchmarks/bench_fit.py          # on the CPU
    python benchmarks/bench_fit.py cuda     # on a GPU
"""

from __future__ import annotations

import contextlib
import io
import platform
import statistics
import subprocess
import sys
import time

import torch
from torch import nn

from course_utils import fit

REPEATS = 11  # interleaved timed epochs per variant; the median is shown
IMPORT_REPEATS = 5  # fresh interpreters for the import time


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True), nn.MaxPool2d(2),  # (N, 16, 16, 16)
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True), nn.MaxPool2d(2),  # (N, 32, 8, 8)
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),  # (N, 10)
    )


def tiny_mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 64), nn.ReLU(), nn.Linear(64, 10))  # (N, 10)


def bare_epoch(model: nn.Module, loader: list, optimizer: torch.optim.Optimizer, loss_fn: nn.Module,
               device: torch.device, accuracy: bool = False) -> float:
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


def compare(name: str, make_model, shape: tuple[int, ...], batches: int, batch_size: int,
            device: torch.device) -> list[tuple]:
    torch.manual_seed(0)
    loader = [(torch.randn(batch_size, *shape), torch.randint(0, 10, (batch_size,))) for _ in range(batches)]
    model = make_model().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    sink = io.StringIO()

    def run_fit(progress: bool) -> None:
        with contextlib.redirect_stderr(sink):
            fit(model, loader, epochs=1, optimizer=optimizer, loss_fn=loss_fn, progress=progress, device=device)

    variants = {
        "bare PyTorch loop": lambda: bare_epoch(model, loader, optimizer, loss_fn, device),
        "bare loop + accuracy": lambda: bare_epoch(model, loader, optimizer, loss_fn, device, accuracy=True),
        "fit, progress=False": lambda: run_fit(False),
        "fit, progress=True": lambda: run_fit(True),
    }
    for run in variants.values():  # warm-up
        run()
    times: dict[str, list[float]] = {key: [] for key in variants}
    for _ in range(REPEATS):
        for key, run in variants.items():
            start = time.perf_counter()
            run()
            times[key].append((time.perf_counter() - start) / batches)
    bare = statistics.median(times["bare PyTorch loop"])
    return [(name, key, statistics.median(t) * 1e3, statistics.median(t) / bare) for key, t in times.items()]


def import_time() -> tuple[float, float]:
    probe = (
        "import time, torch; start = time.perf_counter(); import course_utils; "
        "print(time.perf_counter() - start)"
    )
    seconds = [
        float(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout)
        for _ in range(IMPORT_REPEATS)
    ]
    return statistics.median(seconds), max(seconds)


def main() -> None:
    device = torch.device(sys.argv[1] if len(sys.argv) > 1 else "cpu")  # e.g. `bench_fit.py cuda`
    torch.set_num_threads(min(2, torch.get_num_threads()))
    rows = compare("small CNN, batch 32x3x32x32", small_cnn, (3, 32, 32), batches=40, batch_size=32, device=device)
    rows += compare("tiny MLP, batch 64x3x8x8", tiny_mlp, (3, 8, 8), batches=200, batch_size=64, device=device)

    print(f"fit overhead per step (median of {REPEATS} interleaved epochs; torch {torch.__version__}, "
          f"{device}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()})")
    header = f"{'model':<30} {'loop':<22} {'ms/step':>9} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for name, key, ms, ratio in rows:
        print(f"{name:<30} {key:<22} {ms:>9.3f} {ratio:>7.3f}")
    median, worst = import_time()
    print()
    print(f"import course_utils after torch: median {median * 1e3:.1f} ms, max {worst * 1e3:.1f} ms "
          f"over {IMPORT_REPEATS} fresh interpreters (limit 500 ms)")


if __name__ == "__main__":
    main()
