"""Chapter 13's training script (solutions/13_multi_gpu/train_ddp.py) under torchrun on the CPU.

* Two gloo processes (``torchrun --standalone --nproc-per-node 2``) in smoke mode train,
  agree on the metrics they all_reduce, and rank 0 alone writes the checkpoint.
* Two processes with batch b each end one SGD step with the same weights (float64, to 1e-6)
  as one plain ``python train_ddp.py`` process with batch 2b: DDP's gradient average over
  the ranks is the gradient of the whole global batch. The model has no BatchNorm, whose
  per-rank batch statistics would break this (SyncBatchNorm computes them over all ranks).
* The release copy in notebooks/13_multi_gpu/ is the same file.

Each run starts fresh Python processes that import torch (several seconds each on two cores).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "solutions" / "13_multi_gpu" / "train_ddp.py"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]


def _env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
    }
    env.update(
        COURSE_SMOKE="1", OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES=""
    )  # the CPU and gloo, even on a GPU machine
    return env


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    run = subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, f"{' '.join(command)} failed:\n{run.stdout}\n{run.stderr[-3000:]}"
    return run


def _script_module():
    spec = importlib.util.spec_from_file_location("train_ddp", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def two_process_smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    folder = tmp_path_factory.mktemp("ddp_smoke")
    checkpoint = folder / "ck" / "model.pt"
    return _run([*TORCHRUN, str(SCRIPT), "--checkpoint", str(checkpoint)], folder), checkpoint


def test_torchrun_two_cpu_processes_train_in_smoke_mode(two_process_smoke) -> None:
    run, checkpoint = two_process_smoke
    out = run.stdout
    assert "world size 2 (backend gloo, device cpu)" in out, out
    assert "256 per rank" in out and "global batch 64" in out, out
    epochs = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 2, f"rank 0 alone should print each of the 2 smoke epochs once:\n{out}"
    assert "train loss" in epochs[-1] and "test accuracy" in epochs[-1]
    state = torch.load(checkpoint, weights_only=True)
    assert state["epoch"] == 2 and "0.weight" in state["model"], (
        "the checkpoint holds the unwrapped model (no 'module.')"
    )
    assert not list(checkpoint.parent.glob("*.tmp")), "the checkpoint was not written atomically"


def test_two_ranks_with_batch_b_step_like_one_process_with_batch_2b(tmp_path: Path) -> None:
    common = ["--epochs", "1", "--steps", "1", "--dtype", "float64"]
    two, one = tmp_path / "two.pt", tmp_path / "one.pt"
    _run([*TORCHRUN, str(SCRIPT), *common, "--batch-size", "8", "--checkpoint", str(two)], tmp_path)
    _run([sys.executable, str(SCRIPT), *common, "--batch-size", "16", "--checkpoint", str(one)], tmp_path)
    w_two = torch.load(two, weights_only=True)["model"]
    w_one = torch.load(one, weights_only=True)["model"]
    torch.manual_seed(0)
    start = _script_module().make_model().double().state_dict()
    assert w_two.keys() == w_one.keys() == start.keys()
    for name in w_one:
        assert w_one[name].dtype == torch.float64
        assert (w_one[name] - start[name]).abs().max() > 1e-6, (
            f"{name} did not move in the step: the test would prove nothing"
        )
        torch.testing.assert_close(w_two[name], w_one[name], atol=1e-6, rtol=0, msg=f"{name} differs after one step")


def test_the_release_copy_of_the_script_is_the_same_file() -> None:
    release = ROOT / "notebooks" / "13_multi_gpu" / "train_ddp.py"
    assert release.read_bytes() == SCRIPT.read_bytes(), (
        "run `make release CHAPTER=13_multi_gpu` and commit notebooks/13_multi_gpu/"
    )
