"""Train a small CNN with DistributedDataParallel: one process, several CPU processes, or several GPUs.

The same file runs unchanged in the three settings of chapter 13::

    python train_ddp.py                                      # one process (the CPU, or one GPU)
    torchrun --standalone --nproc-per-node 2 train_ddp.py    # two processes: gloo on the CPU, nccl on GPUs
    COURSE_SMOKE=1 torchrun --standalone --nproc-per-node 2 train_ddp.py   # a tiny synthetic data set, seconds

torchrun starts one process per rank and tells each its place through environment
variables: RANK (0 .. WORLD_SIZE-1 over all machines), LOCAL_RANK (the rank on this
machine, which picks the GPU) and WORLD_SIZE; MASTER_ADDR and MASTER_PORT say where
the processes meet. Without them (plain ``python``) the script trains in one process.

What each rank does:

1. joins the process group (``nccl`` when it has a GPU, ``gloo`` on the CPU);
2. builds the same model from the same seed, wrapped in DistributedDataParallel, which
   broadcasts rank 0's weights and averages the gradients with all_reduce during backward;
3. reads its own shard of every epoch through a DistributedSampler (``set_epoch`` each epoch
   changes the shuffle);
4. sums its loss, correct count and sample count with all_reduce, so every rank prints the
   same metrics (rank 0 only prints them);
5. leaves checkpoints to rank 0, and waits at a barrier until the file is written.

The learning rate follows the linear scaling rule (Goyal et al., 2017, "Accurate, Large
Minibatch SGD"): ``--lr`` is the rate for a global batch of ``--base-batch`` images, and
the rate used is ``lr * global_batch / base_batch`` with ``global_batch = batch_size * world_size``.

Smoke mode (``COURSE_SMOKE=1``, read through course_utils.config) trains one epoch on
a small synthetic data set; full mode trains on a CIFAR-10 subset (course_utils.cifar10,
which finds the data as the chapters do).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, TensorDataset

from course_utils.config import budget, is_smoke


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=budget(full=5, smoke=2))
    parser.add_argument("--batch-size", type=int, default=budget(full=128, smoke=32), help="images per rank per step")
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate for a global batch of --base-batch")
    parser.add_argument("--base-batch", type=int, default=128, help="global batch that --lr is meant for")
    parser.add_argument("--train-size", type=int, default=budget(full=20_000, smoke=512), help="training images")
    parser.add_argument("--test-size", type=int, default=budget(full=5_000, smoke=256), help="test images")
    parser.add_argument("--steps", type=int, default=0, help="stop each epoch after this many steps (0: never)")
    parser.add_argument("--synthetic", action="store_true", default=is_smoke(), help="synthetic data (smoke default)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", type=Path, default=None, help="file rank 0 writes after every epoch")
    return parser.parse_args(argv)


def setup() -> tuple[int, int, int, torch.device]:
    """Join the process group torchrun describes, or none: returns (rank, local_rank, world_size, device)."""
    if "RANK" not in os.environ:  # plain `python train_ddp.py`: one process, no group
        return 0, 0, 1, torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rank, local_rank, world_size = (int(os.environ[k]) for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)  # one GPU per process, picked by the rank on this machine
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        device = torch.device("cpu")
        dist.init_process_group("gloo")
    return rank, local_rank, world_size, device


def make_model(num_classes: int = 10) -> nn.Module:
    """A small CNN without BatchNorm (its batch statistics would differ per rank without SyncBatchNorm)."""
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 16, 16, 16)
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 32, 8, 8)
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),  # (N, 64, 8, 8)
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes),  # (N, 10)
    )  # fmt: skip


def synthetic_data(n: int, seed: int) -> TensorDataset:
    """(n, 3, 32, 32) images: a class-specific colour pattern plus noise, the same on every rank."""
    patterns = torch.randn(
        10, 3, 4, 4, generator=torch.Generator().manual_seed(0)
    )  # the same ten classes in every split
    patterns = patterns.repeat_interleave(8, 2).repeat_interleave(8, 3)  # (10, 3, 32, 32): 8x8 blocks of colour
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    images = patterns[labels] + torch.randn(n, 3, 32, 32, generator=g)
    return TensorDataset(images, labels)


def datasets(args: argparse.Namespace) -> tuple[Dataset, Dataset]:
    if args.synthetic:
        return synthetic_data(args.train_size, seed=1), synthetic_data(args.test_size, seed=2)
    from torchvision.transforms import v2

    from course_utils.data.cifar import CIFAR10_MEAN, CIFAR10_STD, cifar10

    to_tensor = v2.Compose(
        [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(CIFAR10_MEAN, CIFAR10_STD)]
    )
    train, test = cifar10(train=True, transform=to_tensor), cifar10(train=False, transform=to_tensor)
    # The data set is stored class by class: a random subset (the same on every rank) keeps all ten classes.
    g = torch.Generator().manual_seed(0)
    keep_train = torch.randperm(len(train), generator=g)[: args.train_size].tolist()
    keep_test = torch.randperm(len(test), generator=g)[: args.test_size].tolist()
    return torch.utils.data.Subset(train, keep_train), torch.utils.data.Subset(test, keep_test)


def summed(values: list[float], device: torch.device, distributed: bool) -> list[float]:
    """The element-wise sum of ``values`` over all ranks (all_reduce), as plain floats."""
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if distributed:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def run_epoch(model, loader, device, dtype, distributed, optimizer=None, max_steps=0) -> tuple[float, float]:
    """One pass over this rank's shard; returns (mean loss, accuracy) over ALL ranks' samples."""
    model.train(optimizer is not None)
    loss_sum, correct, count = 0.0, 0.0, 0.0
    with torch.set_grad_enabled(optimizer is not None):
        for step, (x, y) in enumerate(loader):
            if max_steps and step >= max_steps:
                break
            x, y = x.to(device, dtype, non_blocking=True), y.to(device, non_blocking=True)
            scores = model(x)  # (B, 10)
            loss = F.cross_entropy(scores, y)
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()  # DDP: gradients are averaged over the ranks here
                optimizer.step()
            loss_sum += loss.item() * len(y)
            correct += (scores.argmax(1) == y).sum().item()
            count += len(y)
    loss_sum, correct, count = summed([loss_sum, correct, count], device, distributed)
    return loss_sum / max(count, 1), correct / max(count, 1)


def save_checkpoint(path: Path, model: nn.Module, optimizer, epoch: int, rank: int, distributed: bool) -> None:
    """Rank 0 writes the file (atomically); every rank waits at the barrier until it is there."""
    if rank == 0:
        plain = model.module if isinstance(model, DistributedDataParallel) else model
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save({"model": plain.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}, tmp)
        os.replace(tmp, path)
    if distributed:
        dist.barrier()


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    rank, local_rank, world_size, device = setup()
    distributed = dist.is_initialized()
    dtype = getattr(torch, args.dtype)
    say = print if rank == 0 else (lambda *a, **k: None)
    try:
        torch.manual_seed(args.seed)  # the same initial weights on every rank (DDP broadcasts rank 0's anyway)
        model = make_model().to(device, dtype)
        if distributed:
            model = DistributedDataParallel(model, device_ids=[local_rank] if device.type == "cuda" else None)
        global_batch = args.batch_size * world_size
        lr = args.lr * global_batch / args.base_batch  # linear scaling rule
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)

        train, test = datasets(args)
        train_sampler = DistributedSampler(train, num_replicas=world_size, rank=rank, shuffle=True, seed=args.seed)
        test_sampler = DistributedSampler(test, num_replicas=world_size, rank=rank, shuffle=False)
        pin = device.type == "cuda"
        train_loader = DataLoader(train, batch_size=args.batch_size, sampler=train_sampler, pin_memory=pin)
        test_loader = DataLoader(test, batch_size=args.batch_size, sampler=test_sampler, pin_memory=pin)
        backend = dist.get_backend() if distributed else "none"
        say(f"world size {world_size} (backend {backend}, device {device.type}), {len(train)} training images, "
            f"{len(train_sampler)} per rank; batch {args.batch_size} per rank = global batch {global_batch}; "
            f"lr {lr:.4g} (= {args.lr} x {global_batch}/{args.base_batch})")  # fmt: skip

        result: dict[str, float] = {}
        for epoch in range(args.epochs):
            train_sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
            start = time.perf_counter()
            train_loss, train_acc = run_epoch(model, train_loader, device, dtype, distributed, optimizer, args.steps)
            seconds = time.perf_counter() - start
            test_loss, test_acc = run_epoch(model, test_loader, device, dtype, distributed)
            result = {"train_loss": train_loss, "train_acc": train_acc, "test_loss": test_loss, "test_acc": test_acc}
            say(f"epoch {epoch + 1}/{args.epochs}: train loss {train_loss:.4f}, train accuracy {train_acc:.3f}, "
                f"test loss {test_loss:.4f}, test accuracy {test_acc:.3f} ({seconds:.1f} s of training)")  # fmt: skip
            if args.checkpoint is not None:
                save_checkpoint(args.checkpoint, model, optimizer, epoch + 1, rank, distributed)
        return result
    finally:
        if distributed:
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
