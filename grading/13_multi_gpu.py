"""Verification spec of chapter 13 (more than one GPU; read by `python -m course_utils.grading verify`, never released).

Test inputs differ from the notebook's visible and hidden tests; every expected
value is computed by PyTorch in the grader's process: DistributedSampler's own
indices, a stacked mean over ranks, LambdaLR with the warm-up factor, and the bytes
a real optimiser holds after one step. Exercise 1 forbids DistributedSampler (and
torch.utils.data), with the notebook's sentence.
"""

import math

import torch
from torch import nn
from torch.utils.data import DistributedSampler

from course_utils.checks import Forbid
from course_utils.grading.spec import Exercise

NO_SAMPLER = Forbid(
    calls=("DistributedSampler", "torch.utils.data", "utils"),
    reason="the point of this exercise is to write the sampler's recipe yourself",
)

_g = torch.Generator().manual_seed(1313)


def _sampler(n, world_size, rank, shuffle=False, seed=0, epoch=0, drop_last=False):
    sampler = DistributedSampler(
        range(n), num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last
    )
    sampler.set_epoch(epoch)
    return list(sampler)


def _mean(grad_lists):
    return [torch.stack(per_rank).mean(dim=0) for per_rank in zip(*grad_lists)]


def _ranks(count, shapes, dtype=torch.float32):
    return [[torch.randn(*s, generator=_g, dtype=dtype) for s in shapes] for _ in range(count)]


def _lambda_lr(step, base_lr, base_batch, batch, warmup_steps):
    scale = batch / base_batch
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda t: scale if t >= warmup_steps else 1 + (scale - 1) * t / warmup_steps
    )
    for _ in range(step):
        optimizer.step()
        schedule.step()
    return optimizer.param_groups[0]["lr"]


def _bytes_per_parameter(optimizer):
    layer = nn.Linear(6, 3)
    make = {
        "adam": lambda p: torch.optim.Adam(p),
        "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
        "sgd": lambda p: torch.optim.SGD(p, lr=0.1),
    }[optimizer]
    opt = make(layer.parameters())
    layer(torch.randn(2, 6)).sum().backward()
    opt.step()
    held = sum(p.nbytes + p.grad.nbytes for p in layer.parameters())
    held += sum(s.nbytes for st in opt.state.values() for s in st.values() if torch.is_tensor(s) and s.numel() > 1)
    return held // sum(p.numel() for p in layer.parameters())


def _memory(n_params, world_size, optimizer="adam"):
    return math.ceil(n_params / world_size) * _bytes_per_parameter(optimizer)


EXERCISES = [
    Exercise(
        test="test_shard_indices",
        solutions=["shard_indices"],
        name="shard_indices",
        reference=_sampler,
        cases=[
            (13, 4, 3),
            (2, 6, 5),
            ((17, 3, 1), {"shuffle": True, "seed": 11, "epoch": 4}),
            ((5, 9, 8), {"shuffle": True, "seed": 2}),
            ((23, 5, 2), {"drop_last": True}),
            ((30, 4, 0), {"shuffle": True, "seed": 7, "epoch": 1, "drop_last": True}),
        ],
        timeout=20,
        forbid=NO_SAMPLER,
        returns=list,
        arg_names=("n", "world_size", "rank"),
    ),
    Exercise(
        test="test_average_gradients",
        solutions=["average_gradients"],
        name="average_gradients",
        reference=_mean,
        cases=[
            (_ranks(2, [(2, 5), (5,)]),),
            (_ranks(1, [(3,)]),),
            (_ranks(6, [(4, 2, 3, 3)], torch.float64),),
            (_ranks(3, [(1,), (2, 2)], torch.float64),),
        ],
        atol=1e-10,
        rtol=1e-7,
        timeout=20,
        returns=list,
        arg_names=("grad_lists",),
    ),
    Exercise(
        test="test_effective_batch_size",
        solutions=["effective_batch_size"],
        name="effective_batch_size",
        reference=lambda b, w, accumulation_steps=1: b * w * accumulation_steps,
        cases=[(24, 3), ((10, 16), {"accumulation_steps": 8}), (1, 1), ((5, 1), {"accumulation_steps": 7})],
        timeout=10,
        returns=int,
        arg_names=("batch_per_rank", "world_size"),
    ),
    Exercise(
        test="test_scaled_lr",
        solutions=["scaled_lr"],
        name="scaled_lr",
        reference=_lambda_lr,
        cases=[
            (0, 0.05, 128, 1024, 50),
            (17, 0.05, 128, 1024, 50),
            (50, 0.05, 128, 1024, 50),
            (2, 0.8, 512, 128, 8),
            (6, 0.8, 512, 128, 8),
            (3, 0.01, 64, 256, 0),
            (12, 0.3, 100, 300, 4),
        ],
        atol=1e-12,
        rtol=1e-9,
        timeout=20,
        returns=float,
        arg_names=("step", "base_lr", "base_batch", "batch", "warmup_steps"),
    ),
    Exercise(
        test="test_memory_per_rank",
        solutions=["memory_per_rank"],
        name="memory_per_rank",
        reference=_memory,
        cases=[
            (123_456_789, 16),
            ((1_000_003, 7), {"optimizer": "sgd_momentum"}),
            ((5, 2), {"optimizer": "sgd"}),
            (13_000_000_000, 1),
            ((405_000_000_000, 2048), {"optimizer": "adam"}),
        ],
        timeout=20,
        returns=int,
        arg_names=("n_params", "world_size"),
    ),
]
