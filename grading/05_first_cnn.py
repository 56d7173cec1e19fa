"""Verification spec of chapter 05 (read by `python -m course_utils.grading verify`, never released).

Test inputs differ from the notebook's visible and hidden tests. Every expected value is
computed in the grader's process by PyTorch or by course_utils itself: `course_utils.fit`
for one epoch (Exercise 3), `course_utils.evaluate` (Exercise 4), the stacked tensor's
mean and std (Exercise 2), counting (Exercise 6). Exercise 1 is judged by behaviour: the
child builds the learner's network, runs it forward and backward (driver "module"), and
the grader checks the shape, raw scores, the parameter budget and that every parameter got
a gradient. Exercises 3 and 4 take an optimiser and a loss, which cannot cross between the
processes, so the child calls them through the notebook's `exercise-harness` cell
(`sgd_epochs`, `evaluation_report`, run from the instructor's copy as a setup cell).
The routes the statements forbid (`course_utils.fit` in Exercise 3, `confusion_counts` in
Exercise 6) score 0 with the notebook's sentence.
"""

import torch
from torch import nn

from course_utils.checks import Forbid
from course_utils.grading import harness
from course_utils.grading.spec import Exercise, compare

SETUP_CELLS = ["exercise-harness"]

NO_FIT = Forbid(calls=("fit",), reason="the point of this exercise is to write the loop that fit runs")
NO_COURSE_COUNTS = Forbid(
    calls=("confusion_counts", "plot_confusion_matrix"),
    reason="the point of this exercise is to count the pairs yourself",
)
BUDGET = 50_000

_g = torch.Generator().manual_seed(5005)


def _randn(*shape):
    return torch.randn(*shape, generator=_g)


def _labels(n, k):
    return torch.randint(0, k, (n,), generator=_g)


# ---------------------------------------------------------------- Exercise 1: make_cnn (driver "module")


def _judge_cnn(got, case):
    num_classes, x = case["args"]
    if type(got) is not dict or type(got.get("output")) is not torch.Tensor:
        return "make_cnn's network did not return a tensor"
    out = got["output"]
    if tuple(out.shape) != (x.shape[0], num_classes):
        return f"on images of shape {tuple(x.shape)} the network returns shape {tuple(out.shape)}, expected {(x.shape[0], num_classes)}"
    if out.dtype != torch.float32:
        return f"the network returns {out.dtype} scores for float32 images"
    rows = out.double()
    ones = torch.ones(len(rows), dtype=torch.float64)
    if bool((rows >= 0).all()) and torch.allclose(rows.sum(1), ones, atol=1e-4):
        return "the network returns probabilities (a softmax at the end), not raw scores"
    if torch.allclose(rows.exp().sum(1), ones, atol=1e-4):
        return "the network returns log-probabilities (log_softmax), not raw scores"
    params, grads = got.get("parameters"), got.get("grads")
    if type(params) is not dict or type(grads) is not dict or set(params) != set(grads):
        return "the network's parameters could not be read"
    size = sum(p.numel() for p in params.values() if type(p) is torch.Tensor)
    if num_classes == 10 and size > BUDGET:
        return f"make_cnn(10) has {size:,} parameters, more than the budget of {BUDGET:,}"
    missing = [name for name, g in grads.items() if type(g) is not torch.Tensor]
    if missing:
        return f"the parameters {missing[:3]} get no gradient"
    return None


_CNN_CASES = [
    (10, _randn(3, 3, 32, 32)),
    (10, _randn(1, 3, 20, 36)),
    (4, _randn(2, 3, 64, 17)),
    (2, _randn(5, 3, 16, 16)),
]


# ---------------------------------------------------------------- Exercise 2: channel_mean_std


def _stacked(loader):
    x = torch.cat([xb.double() for xb, _ in loader])
    return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3), correction=0)


def _batches(sizes, c, h, w, shift=0.0, k=3):
    return [[_randn(n, c, h, w) + shift * i, _labels(n, k)] for i, n in enumerate(sizes)]


_STATS_CASES = [
    (_batches([5, 2, 3], 3, 4, 6, shift=0.7),),
    (_batches([2], 1, 9, 3),),
    (_batches([4, 4, 1], 5, 3, 3, shift=-1.5),),
]


# ---------------------------------------------------------------- Exercise 3: train_one_epoch, through sgd_epochs


def _small_model(seed, channels, size, num_classes, training):
    layers = [
        ["Conv2d", {"in_channels": channels, "out_channels": 3, "kernel_size": 3}],
        ["ReLU", {}],
        ["Dropout", {"p": 0.3}],
        ["Flatten", {}],
        ["Linear", {"in_features": 3 * (size - 2) ** 2, "out_features": num_classes}],
    ]
    return harness.model_arg(layers, seed=seed, training=training)


def _sgd_epochs_reference(model, batches, lr=0.1, epochs=2, stale_grads=False, seed=0):
    """What sgd_epochs returns when train_one_epoch is right: course_utils.fit for one epoch, epoch after epoch."""
    from course_utils import fit

    model = harness.build_arg(model)
    if stale_grads:
        for p in model.parameters():
            p.grad = torch.ones_like(p)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    data = [tuple(batch) for batch in batches]
    losses = []
    for epoch in range(epochs):
        torch.manual_seed(seed + epoch)
        losses.append(fit(model, data, epochs=1, optimizer=optimizer, loss_fn=loss_fn, progress=False)["train_loss"][0])
    return {"losses": losses, "state": dict(model.state_dict()), "training": model.training}


def _is_float(value):
    return type(value) in (float, int)


def _judge_epochs(got, case):
    if type(got) is not dict or type(got.get("losses")) is not list:
        return "sgd_epochs did not return its record"
    if not all(_is_float(v) for v in got["losses"]):
        return "train_one_epoch does not return a Python float (use .item())"
    if got.get("training") is not True:
        return "train_one_epoch leaves the model in eval mode (call model.train())"
    expected = _sgd_epochs_reference(*case["args"], **case["kwargs"])
    why = compare(got.get("state"), expected["state"], atol=1e-5, rtol=1e-4)
    if why:
        return f"the parameters after training differ from course_utils.fit's ({why})"
    why = compare(got["losses"], expected["losses"], atol=1e-6, rtol=1e-5)
    return f"the returned mean losses differ from course_utils.fit's ({why})" if why else None


_EPOCH_CASES = [
    ((_small_model(31, 3, 5, 4, False), _batches([3, 3, 2], 3, 5, 5, k=4)), {"lr": 0.1, "epochs": 2}),
    ((_small_model(32, 2, 4, 2, False), _batches([1, 4], 2, 4, 4, k=2)), {"lr": 0.2, "epochs": 3, "seed": 7}),
    ((_small_model(33, 3, 5, 3, True), _batches([2, 2, 2], 3, 5, 5)), {"stale_grads": True, "epochs": 1}),
]


# ---------------------------------------------------------------- Exercise 4: evaluate, through evaluation_report


def _mlp(seed, features, num_classes, training):
    layers = [
        ["Flatten", {}],
        ["Linear", {"in_features": features, "out_features": 10}],
        ["ReLU", {}],
        ["Dropout", {"p": 0.5}],
        ["Linear", {"in_features": 10, "out_features": num_classes}],
    ]
    return harness.model_arg(layers, seed=seed, training=training)


def _judge_evaluation(got, case):
    model_arg, batches = case["args"]
    if type(got) is not dict or type(got.get("values")) is not list:
        return "evaluation_report did not return its record"
    if not got.get("is_tuple") or len(got["values"]) != 2:
        return "evaluate does not return a tuple (loss, accuracy)"
    if not all(_is_float(v) for v in got["values"]):
        return "evaluate does not return Python floats (use .item())"
    if not got.get("forwards"):
        return "evaluate never called the model"
    if got.get("train_mode_seen"):
        return "evaluate ran the model in train mode (call model.eval())"
    if got.get("grad_seen"):
        return "evaluate ran the model with autograd recording (use torch.no_grad())"
    if got.get("training_after") is not bool(model_arg["training"]):
        return "evaluate does not put the model back in the mode it was in"
    from course_utils import evaluate as reference

    expected = reference(harness.build_arg(model_arg), [tuple(b) for b in batches], nn.CrossEntropyLoss())
    why = compare(got["values"], [expected["loss"], expected["acc"]], atol=1e-6, rtol=1e-5)
    return f"(loss, accuracy) differ from course_utils.evaluate's ({why})" if why else None


_EVAL_CASES = [
    (_mlp(41, 12, 3, True), _batches([4, 3], 3, 2, 2)),
    (_mlp(42, 8, 4, False), _batches([2, 5, 1], 2, 2, 2, k=4)),
    (_mlp(43, 12, 2, True), _batches([6], 3, 2, 2, k=2)),
]


# ---------------------------------------------------------------- Exercises 5 and 6


def _accuracy(scores, labels):
    return (scores.argmax(dim=1) == labels).double().mean().item()


def _scored(n, c, right):
    scores = _randn(n, c)
    labels = scores.argmax(dim=1)
    wrong = torch.randperm(n, generator=_g)[: n - right]
    labels[wrong] = (labels[wrong] + 1 + torch.randint(0, c - 1, (len(wrong),), generator=_g)) % c
    return scores, labels


def _counted(labels, predictions, num_classes):
    counts = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    for t, p in zip(labels.tolist(), predictions.tolist()):
        counts[t, p] += 1
    return counts


_CONFUSION_CASES = [
    (_labels(60, 4), _labels(60, 4), 4),
    (torch.tensor([1, 1, 0]), torch.tensor([0, 1, 1]), 5),
    (_labels(25, 2), _labels(25, 2), 2),
]

EXERCISES = [
    Exercise(
        test="test_make_cnn",
        solutions=["make_cnn"],
        name="make_cnn",
        cases=_CNN_CASES,
        judge=_judge_cnn,
        driver="module",
        timeout=30,
    ),
    Exercise(
        test="test_channel_mean_std",
        solutions=["channel_mean_std"],
        name="channel_mean_std",
        cases=_STATS_CASES,
        reference=_stacked,
        atol=1e-6,
        rtol=1e-6,
        timeout=20,
        returns=tuple,
        arg_names=("loader",),
    ),
    Exercise(
        test="test_train_one_epoch",
        solutions=["train_one_epoch"],
        name="sgd_epochs",
        cases=_EPOCH_CASES,
        judge=_judge_epochs,
        timeout=30,
        forbid=NO_FIT,
        mutates=("model",),
        label="train_one_epoch",
    ),
    Exercise(
        test="test_evaluate",
        solutions=["evaluate"],
        name="evaluation_report",
        cases=_EVAL_CASES,
        judge=_judge_evaluation,
        timeout=20,
        label="evaluate",
    ),
    Exercise(
        test="test_accuracy",
        solutions=["accuracy"],
        name="accuracy",
        cases=[_scored(6, 3, 2), _scored(9, 10, 4), _scored(1, 2, 0), _scored(7, 5, 7)],
        reference=_accuracy,
        atol=1e-7,
        rtol=1e-6,
        timeout=10,
        returns=float,
        arg_names=("scores", "labels"),
    ),
    Exercise(
        test="test_confusion_matrix",
        solutions=["confusion_matrix"],
        name="confusion_matrix",
        cases=_CONFUSION_CASES,
        reference=_counted,
        timeout=10,
        forbid=NO_COURSE_COUNTS,
        returns=torch.Tensor,
        arg_names=("labels", "predictions", "num_classes"),
    ),
]
