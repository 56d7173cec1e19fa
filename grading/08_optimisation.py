"""Verification spec of chapter 08 (read by `python -m course_utils.grading verify`, never released).

Test inputs differ from the notebook's visible and hidden tests; every expected
value is computed in the grader's process by PyTorch or by the course's own
training rule: the learning rates of LinearLR + CosineAnnealingLR chained by
SequentialLR, torch.nn.utils.clip_grad_norm_, the rule of fit's EarlyStopping,
one SGD step on the concatenated batch, and len(DataLoader(...)).

Two exercises change their arguments in place; they are called through the
notebook's `check-wrappers` cell (run here as a setup cell), which returns
what the learner's function changed: `clip_grad_norm_result` (the gradients after
clip_grad_norm and the norm it returned) and `accumulate_step_result` (the
parameters after accumulate_step and the losses it returned).
The statements' rules hold as in the notebook's checks, with the same
sentences: no torch.nn.utils clipping, no concatenation of the batches, only
the named arguments changed, and a float / tuple / tensor where one is asked.
"""

import random
import warnings

import torch
from torch import nn
from torch.optim import lr_scheduler
from torch.utils.data import DataLoader

from course_utils.checks import Forbid
from course_utils.grading import harness
from course_utils.grading.spec import Exercise, compare
from course_utils.training.options import EarlyStopping

SETUP_CELLS = ["check-wrappers"]

_g = torch.Generator().manual_seed(8008)
_rng = random.Random(8008)

# The same rules as the notebook's check cells (tests/notebooks/test_chapter08_checks.py compares them).
NO_CLIPPING = Forbid(
    calls=("clip_grad_norm_", "clip_grad_norm", "clip_grads_with_norm_", "get_total_norm", "clip_grad_value_"),
    aten=("_foreach_norm", "_foreach_mul_", "_foreach_mul"),
    reason="the point of this exercise is to compute the global norm and scale the gradients yourself",
)
NO_CONCATENATION = Forbid(
    calls=("cat", "concat", "concatenate", "stack", "vstack", "hstack", "row_stack", "column_stack", "dstack"),
    aten=("cat", "stack"),
    reason="the point of gradient accumulation is never to hold the large batch in memory",
)


# ---------------------------------------------------------------- warmup_cosine
def _curve(total, warmup, peak):
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=peak)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if warmup == 0:
            scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
        else:
            scheduler = lr_scheduler.SequentialLR(
                optimizer,
                [
                    lr_scheduler.LinearLR(optimizer, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup - 1),
                    lr_scheduler.CosineAnnealingLR(optimizer, T_max=total - warmup),
                ],
                milestones=[warmup],
            )
        out = []
        for _ in range(total + 1):
            out.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
    return out


def _warmup_cosine(step, total, warmup, peak):
    return _curve(total, warmup, peak)[step]


_SCHEDULE_CASES = [
    (s, total, warmup, peak)
    for total, warmup, peak in ((13, 4, 0.2), (6, 0, 1.5), (11, 1, 0.01))
    for s in range(total + 1)
] + [(0, 30, 29, 3e-4), (29, 30, 29, 3e-4), (30, 30, 29, 3e-4)]


# ---------------------------------------------------------------- clip_grad_norm (through `clip_grad_norm_result`)
def _clipped(grads, max_norm):
    params = [nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return [p.grad for p in params], norm


def _grads(*shapes, scale=1.0, dtype=torch.float32):
    return [torch.randn(*shape, generator=_g, dtype=dtype) * scale for shape in shapes]


_CLIP_CASES = [
    (_grads((4, 3), (3,), (2, 2, 2), scale=2.0), 1.0),
    (_grads((10,), scale=0.001), 0.5),  # below max_norm
    (_grads((3, 3), (3,), dtype=torch.float64, scale=4.0), 3.0),
    ([torch.randn(6, 4, generator=_g).t() * 3, torch.randn(5, generator=_g)], 2.0),  # not contiguous
    (_grads((1, 2, 3, 3), (2,), scale=10.0), 0.1),
]


# ---------------------------------------------------------------- early_stopping
def _fit_rule(val_losses, patience, min_delta=0.0):
    rule = EarlyStopping(patience=patience, min_delta=min_delta, restore_best=False)
    for epoch, loss in enumerate(val_losses, start=1):
        if rule.update(epoch, {"val_loss": loss}, None):
            return rule.best_epoch, epoch
    return rule.best_epoch, len(val_losses)


def _loss_curve():
    losses, value = [], _rng.uniform(0.5, 2.5)
    for _ in range(_rng.randint(1, 16)):
        value = max(0.02, value + _rng.choice([-0.2, -0.04, -0.01, 0.0, 0.0, 0.03, 0.15]))
        losses.append(round(value, 2))
    return losses


_STOP_CASES = [((_loss_curve(), _rng.randint(1, 5)), {"min_delta": _rng.choice([0.0, 0.01, 0.03])}) for _ in range(25)]
_STOP_CASES += [
    (([0.9, 0.8, 0.85, 0.84, 0.83, 0.7], 3), {}),
    (([1.0, 1.0, 0.99, 0.98], 2), {"min_delta": 0.015}),
    (([0.3, 0.2, 0.1], 5), {}),
]


# ---------------------------------------------------------------- accumulate_step (through `accumulate_step_result`)
def _large_batch(model, groups, lr, loss="cross_entropy"):
    net = harness.build_arg(model)
    loss_fn = {"cross_entropy": nn.CrossEntropyLoss(), "mse": nn.MSELoss()}[loss]
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    losses = []
    for batches in groups:
        x, y = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
        optimizer.zero_grad()
        value = loss_fn(net(x), y)
        value.backward()
        optimizer.step()
        losses.append(value.item())
    return [p.detach().clone() for p in net.parameters()], losses


def _judge_accumulation(got, case):
    """The parameters as one large-batch SGD step leaves them, and each returned loss a Python float."""
    if type(got) is not list or len(got) != 2 or type(got[1]) is not list:
        return "accumulate_step_result did not return (parameters, losses)"
    params, losses = got
    if any(type(value) is not float for value in losses):
        kind = next(type(value).__name__ for value in losses if type(value) is not float)
        return f"accumulate_step returned a {kind}; the exercise asks for a Python float (use .item())"
    expected_params, expected_losses = _large_batch(*case["args"], **case["kwargs"])
    why = compare(params, expected_params, atol=1e-10, rtol=1e-8)
    if why:
        return f"the parameters after accumulate_step: {why}"
    why = compare(losses, expected_losses, atol=1e-10, rtol=1e-8)
    return f"the losses accumulate_step returned: {why}" if why else None


def _mlp(n_in, n_out, seed):
    return harness.model_arg(
        [
            ["Linear", {"in_features": n_in, "out_features": 6}],
            ["Tanh", {}],
            ["Linear", {"in_features": 6, "out_features": n_out}],
        ],
        seed=seed,
        dtype=torch.float64,
    )


def _classes(n, n_in, k):
    return [torch.randn(n, n_in, generator=_g, dtype=torch.float64), torch.randint(0, k, (n,), generator=_g)]


def _targets(n, n_in, n_out):
    return [
        torch.randn(n, n_in, generator=_g, dtype=torch.float64),
        torch.randn(n, n_out, generator=_g, dtype=torch.float64),
    ]


_ACCUMULATION_CASES = [
    ((_mlp(4, 3, 81), [[_classes(5, 4, 3), _classes(2, 4, 3)], [_classes(3, 4, 3)] * 3], 0.4), {}),
    ((_mlp(3, 2, 82), [[_targets(2, 3, 2), _targets(6, 3, 2), _targets(1, 3, 2)]], 0.1), {"loss": "mse"}),
    ((_mlp(5, 4, 83), [[_classes(1, 5, 4)], [_classes(4, 5, 4), _classes(4, 5, 4)]], 0.9), {}),
]


# ---------------------------------------------------------------- scaled_schedule
def _scaled(base_lr, base_batch, batch, dataset_size, warmup_epochs):
    return base_lr * batch / base_batch, warmup_epochs * len(DataLoader(range(dataset_size), batch_size=batch))


_SCALING_CASES = [
    (0.1, 256, 512, 10_000, 5),
    (0.2, 512, 128, 50_000, 2),
    (0.05, 48, 80, 1001, 3),
    (1e-3, 1024, 32_768, 1_281_167, 5),
    (0.3, 64, 64, 64, 1),
    (0.1, 256, 100, 999, 0),
]


EXERCISES = [
    Exercise(
        test="test_warmup_cosine",
        solutions=["warmup_cosine"],
        name="warmup_cosine",
        cases=_SCHEDULE_CASES,
        reference=_warmup_cosine,
        returns=float,
        arg_names=("step", "total", "warmup", "peak"),
        timeout=15,
    ),
    Exercise(
        test="test_clip_grad_norm",
        solutions=["clip_grad_norm"],
        name="clip_grad_norm_result",
        label="clip_grad_norm",
        cases=_CLIP_CASES,
        reference=_clipped,
        forbid=NO_CLIPPING,
        mutates=("grads",),
        arg_names=("grads", "max_norm"),
        timeout=15,
    ),
    Exercise(
        test="test_early_stopping",
        solutions=["early_stopping"],
        name="early_stopping",
        cases=_STOP_CASES,
        reference=_fit_rule,
        returns=tuple,
        arg_names=("val_losses", "patience"),
        timeout=10,
    ),
    Exercise(
        test="test_accumulate_step",
        solutions=["accumulate_step"],
        name="accumulate_step_result",
        label="accumulate_step",
        cases=_ACCUMULATION_CASES,
        judge=_judge_accumulation,
        forbid=NO_CONCATENATION,
        mutates=("model",),
        arg_names=("model", "groups", "lr"),
        timeout=20,
    ),
    Exercise(
        test="test_scaled_schedule",
        solutions=["scaled_schedule"],
        name="scaled_schedule",
        cases=_SCALING_CASES,
        reference=_scaled,
        returns=tuple,
        arg_names=("base_lr", "base_batch", "batch", "dataset_size", "warmup_epochs"),
        timeout=10,
    ),
]
