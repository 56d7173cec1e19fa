"""benchmarks/bench_cifar_gpu.py runs end to end in its tiny mode and prints its table.

The benchmark installs airbench (pinned) into the environment when it is missing; if that
fails, this test fails (it never skips): the comparison with airbench is the point of the
benchmark. The images come from a tiny image-folder archive built here, through the same
``COURSE_CIFAR10_ARCHIVE`` route as the real data.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import torch
from cifar_fixtures import make_archive

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_cifar_gpu.py"


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_cifar_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_prints_both_recipes_in_tiny_mode(tmp_path):
    archive, _ = make_archive(tmp_path, train_per_class=30, test_per_class=20, prefix="cifar10/")
    env = {
        **os.environ,
        "COURSE_DATA_DIR": str(tmp_path / "data"),
        "COURSE_CIFAR10_ARCHIVE": str(archive),
        "COURSE_SMOKE": "1",
        "OMP_NUM_THREADS": "1",
    }
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "cpu", "--tiny"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert out.returncode == 0, f"the benchmark failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    rows = {}
    for line in out.stdout.splitlines():
        match = re.match(
            r"^(course \(course_utils\.fast\)|airbench94 [\d.]+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+\S+\s+([\d.]+)\s+([\d.]+)$",
            line,
        )
        if match:
            rows[match.group(1).split()[0]] = [float(v) for v in match.groups()[1:]]
    assert set(rows) == {"course", "airbench94"}, out.stdout
    for runs, accuracy, std, seconds, _ in rows.values():
        assert runs == 2 and 0.0 <= accuracy <= 1.0 and std >= 0.0 and seconds > 0.0
    assert rows["airbench94"][-1] == 1.0  # airbench is the reference of the ratio column
    assert "not measured here" in out.stdout  # the tiny run claims nothing about the GPU targets
    assert not (tmp_path / "cifar10").exists()  # airbench's files went to a temporary folder, not the caller's


def test_airbench_files_hold_what_its_loader_reads(tmp_path):
    bench = _bench_module()
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.tensor([0, 3, 9, 1, 2])
    bench.write_airbench_data(tmp_path / "cifar10", (x, y), (x[:2], y[:2]))
    saved = torch.load(tmp_path / "cifar10" / "train.pt")
    assert saved["images"].shape == (5, 32, 32, 3) and saved["images"].dtype == torch.uint8
    assert torch.equal(saved["images"][1, 4, 7], x[1, :, 4, 7])  # pixel (4, 7)'s three channels, (N, H, W, C)
    assert torch.equal(saved["labels"], y) and len(saved["classes"]) == 10
    airbench = bench.ensure_airbench()
    loader = airbench.CifarLoader(str(tmp_path / "cifar10"), train=False, batch_size=2, gpu="cpu")
    expected = x[:2].half().div(255)  # airbench's loader: (N, C, H, W) halves in [0, 1]
    assert torch.equal(loader.images, expected) and torch.equal(loader.labels, y[:2])


def test_airbench_cpu_network_is_built_from_airbench_own_modules():
    bench = _bench_module()
    airbench = bench.ensure_airbench()
    ours = bench.airbench_cpu_net(airbench.lib_airbench94, (8, 16, 16))
    assert ours(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    kinds = [type(m).__name__ for m in ours]
    assert kinds == ["Conv", "GELU", "ConvGroup", "ConvGroup", "ConvGroup", "MaxPool2d", "Flatten", "Linear", "Mul"]
    assert not ours[0].weight.requires_grad
