"""Chapter 13 (more than one GPU): the autograder cells pass the solution, reject these wrong answers.

The shared tests (nbtools.ChapterChecks) run each exercise's autograder cell in-process,
visible checks and hidden tests: the reference solution passes with ✓ lines only; each
VISIBLE wrong answer (contiguous shards, a shuffle that ignores the epoch, a call to
DistributedSampler, a sum where the mean is asked, gradients added in place, the
accumulation forgotten, a warm-up from zero, a missing gradient in the memory count, no
sharding) raises CheckFailed with a readable sentence; each HIDDEN_ONLY one passes the
visible checks and is caught by the hidden tests only (padding that wraps around once,
a float32 accumulator, a warm-up clamped at the target, floor division of the shards).
Below them: verification (grading/13_multi_gpu.py in the sandboxed child) gives the same
answers 0 and the solution full marks.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools import ChapterChecks, autograder_cells, load_solution, verified_scores  # noqa: E402

CHAPTER = "13_multi_gpu"
FORBIDDEN = "which this exercise forbids"

_SHARDS = """
if shuffle:
    g = torch.Generator()
    g.manual_seed(SEED)
    order = torch.randperm(n, generator=g).tolist()
else:
    order = list(range(n))
total = (n // world_size) * world_size if drop_last else math.ceil(n / world_size) * world_size
PAD
return order[rank:total:world_size]
"""
_PAD_ALL = "while len(order) < total:\n    order += order[:total - len(order)]\norder = order[:total]"


def shards(seed: str = "seed + epoch", pad: str = _PAD_ALL) -> str:
    return _SHARDS.replace("SEED", seed).replace("PAD", pad)


_LR = """
target = base_lr * batch / base_batch
if step >= warmup_steps:
    return float(target)
return float(RAMP)
"""


def lr(ramp: str = "base_lr + (target - base_lr) * step / warmup_steps") -> str:
    return _LR.replace("RAMP", ramp)


class TestChapter13(ChapterChecks):
    CHAPTER = CHAPTER
    EXERCISES = ["shard_indices", "average_gradients", "effective_batch_size", "scaled_lr", "memory_per_rank"]
    MIN_HIDDEN_ONLY = 4

    VISIBLE = [
        # ---- Exercise 1: shard_indices
        (
            "shard_indices",
            "takes contiguous blocks",
            "k = math.ceil(n / world_size)\norder = list(range(n)) + list(range(n))\nreturn order[rank * k:(rank + 1) * k]",
            ["shard_indices on case"],
        ),
        ("shard_indices", "ignores the epoch", shards(seed="seed"), ["shard_indices on case 5 of 6"]),
        (
            "shard_indices",
            "calls DistributedSampler",
            "from torch.utils.data import DistributedSampler\n"
            "s = DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed,"
            " drop_last=drop_last)\ns.set_epoch(epoch)\nreturn list(s)",
            ["`DistributedSampler`", FORBIDDEN],
        ),
        # ---- Exercise 2: average_gradients
        (
            "average_gradients",
            "sums without dividing",
            "return [sum(per_rank) for per_rank in zip(*grad_lists)]",
            ["average_gradients on case 1 of 3"],
        ),
        (
            "average_gradients",
            "adds into the first rank's tensors",
            "out = grad_lists[0]\nfor grads in grad_lists[1:]:\n    for o, g in zip(out, grads):\n        o += g\n"
            "return [o / len(grad_lists) for o in out]",
            ["in place"],
        ),
        (
            "average_gradients",
            "returns a tuple",
            "return tuple(sum(per_rank) / len(grad_lists) for per_rank in zip(*grad_lists))",
            ["should return a list"],
        ),
        # ---- Exercise 3: effective_batch_size
        (
            "effective_batch_size",
            "forgets the accumulation",
            "return batch_per_rank * world_size",
            ["effective_batch_size on case 3 of 4"],
        ),
        # ---- Exercise 4: scaled_lr
        (
            "scaled_lr",
            "warms up from zero",
            lr(ramp="target * step / warmup_steps"),
            ["scaled_lr on case 1 of 6"],
        ),
        (
            "scaled_lr",
            "never scales the rate",
            "return float(base_lr)",
            ["scaled_lr on case"],
        ),
        # ---- Exercise 5: memory_per_rank
        (
            "memory_per_rank",
            "forgets the gradients",
            'return math.ceil(n_params / world_size) * {"adam": 12, "sgd_momentum": 8, "sgd": 4}[optimizer]',
            ["memory_per_rank on case 1 of 5"],
        ),
        (
            "memory_per_rank",
            "does not shard",
            'return n_params * {"adam": 16, "sgd_momentum": 12, "sgd": 8}[optimizer]',
            ["memory_per_rank on case 2 of 5"],
        ),
    ]

    HIDDEN_ONLY = [
        (
            "shard_indices",
            "wraps the padding around once only",
            shards(pad="order += order[:total - len(order)]\norder = order[:total]"),
            ["a hidden case"],
        ),
        (
            "average_gradients",
            "accumulates in float32",
            "out = []\nfor per_rank in zip(*grad_lists):\n    total = torch.zeros(per_rank[0].shape)\n"
            "    for g in per_rank:\n        total = total + g\n    out.append((total / len(grad_lists)).to(torch.float32))\n"
            "return out",
            ["a hidden case", "float64"],
        ),
        (
            "scaled_lr",
            "clamps the warm-up at the target",
            lr(ramp="min(target, base_lr + (target - base_lr) * step / warmup_steps)"),
            ["a hidden case"],
        ),
        (
            "memory_per_rank",
            "floors the shard size",
            'return n_params // world_size * {"adam": 16, "sgd_momentum": 12, "sgd": 8}[optimizer]',
            ["a hidden case"],
        ),
    ]


# ---------------------------------------------------------------- verification gives the same verdicts

_SIGNATURES = {
    "shard_indices": "def shard_indices(n, world_size, rank, shuffle=False, seed=0, epoch=0, drop_last=False):",
    "average_gradients": "def average_gradients(grad_lists):",
    "effective_batch_size": "def effective_batch_size(batch_per_rank, world_size, accumulation_steps=1):",
    "scaled_lr": "def scaled_lr(step, base_lr, base_batch, batch, warmup_steps):",
    "memory_per_rank": 'def memory_per_rank(n_params, world_size, optimizer="adam"):',
}


def _answers(cases: list, labels: dict[str, str]) -> dict[str, str]:
    found = {
        ex: _SIGNATURES[ex] + "\n" + textwrap.indent(textwrap.dedent(answer).strip("\n"), "    ") + "\n"
        for ex, label, answer, _ in cases
        if labels.get(ex) == label
    }
    assert set(found) == set(labels), f"no wrong answer {labels} among the cases"
    return found


WRONG_VISIBLE = _answers(
    TestChapter13.VISIBLE,
    {
        "shard_indices": "ignores the epoch",
        "average_gradients": "sums without dividing",
        "effective_batch_size": "forgets the accumulation",
        "scaled_lr": "warms up from zero",
        "memory_per_rank": "forgets the gradients",
    },
)
WRONG_HIDDEN = _answers(
    TestChapter13.HIDDEN_ONLY,
    {
        "shard_indices": "wraps the padding around once only",
        "average_gradients": "accumulates in float32",
        "scaled_lr": "clamps the warm-up at the target",
        "memory_per_rank": "floors the shard size",
    },
)


def test_verification_gives_the_solution_full_marks() -> None:
    scores = verified_scores(CHAPTER)
    assert all(points > 0 for points, _ in scores.values()), scores
    assert set(scores) == {f"test_{ex}" for ex in TestChapter13.EXERCISES}


def test_verification_scores_the_wrong_answers_zero() -> None:
    """One answer per exercise that the visible checks catch, and every one only the hidden tests catch, score 0."""
    for answers in (WRONG_VISIBLE, WRONG_HIDDEN):
        scores = verified_scores(CHAPTER, answers)
        for exercise in answers:
            assert scores[f"test_{exercise}"][0] == 0, (exercise, scores[f"test_{exercise}"])
        for test, (points, why) in scores.items():
            if test.removeprefix("test_") not in answers:
                assert points > 0, (test, why)


def test_verification_refuses_distributed_sampler_with_the_notebooks_sentence() -> None:
    answer = _answers(TestChapter13.VISIBLE, {"shard_indices": "calls DistributedSampler"})
    points, why = verified_scores(CHAPTER, answer)["test_shard_indices"]
    assert points == 0 and "`DistributedSampler`" in why and FORBIDDEN in why, why


def test_notebook_and_spec_forbid_the_same_routes() -> None:
    from nbtools import ROOT

    from course_utils.grading.spec import load_spec

    spec = {ex.test: ex for ex in load_spec(ROOT, CHAPTER).exercises}
    source = autograder_cells(load_solution(CHAPTER))["test_shard_indices"].source
    start = source.index("NO_SAMPLER = ")
    ns: dict = {}
    exec("from course_utils.checks import Forbid\n" + source[start : source.index(")\n", start) + 1], ns)  # noqa: S102
    assert ns["NO_SAMPLER"] == spec["test_shard_indices"].forbid
