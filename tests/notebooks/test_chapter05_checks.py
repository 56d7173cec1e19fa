"""Chapter 05 (a first CNN trained end to end): the autograder cells pass the solution, reject these wrong answers.

The shared tests (nbtools.ChapterChecks) run each exercise's autograder cell in-process,
visible checks and hidden tests: the reference solution passes with ✓ lines only; each
VISIBLE wrong answer (a softmax at the end, a forgotten zero_grad or model.train(), a
batch-averaged statistic, a tensor where a float is asked, a call to course_utils.fit...)
raises CheckFailed with a readable sentence; each HIDDEN_ONLY one passes the visible
checks and is caught by the hidden tests only (a squeeze that breaks a batch of one, three
channels hard-coded, zero_grad after the step with gradients left over, a rounded accuracy,
a matrix sized by the largest label). Below them: verification (grading/05_first_cnn.py in
the sandboxed child) gives the same answers 0 and the solution full marks.
"""

from __future__ import annotations

import copy
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools import ROOT, ChapterChecks, autograder_cells, load_solution, solution_cells  # noqa: E402

CHAPTER = "05_first_cnn"
FORBIDDEN = "which this exercise forbids"

_CNN = """
return nn.Sequential(
    nn.Conv2d(3, WIDTH_A, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(WIDTH_A, WIDTH_B, 3, padding=1), nn.ReLU(),
    HEAD
)
"""


def cnn(
    head: str = "nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, num_classes),", a: int = 16, b: int = 32
) -> str:
    return _CNN.replace("WIDTH_A", str(a)).replace("WIDTH_B", str(b)).replace("HEAD", head)


_STATS = """
count, total, squares = 0, 0.0, 0.0
for x, _ in loader:
    x = x.DTYPE()
    count += x.shape[0] * x.shape[2] * x.shape[3]
    total = total + x.sum(dim=(0, 2, 3))
    squares = squares + (x ** 2).sum(dim=(0, 2, 3))
mean = total / count
return mean, (squares / count - mean ** 2).clamp_min(0).sqrt()
"""

_EPOCH = """
MODE
total, count = 0.0, 0
for x, y in loader:
    loss = loss_fn(model(x), y)
    STEPS
    total += LOSS
    count += len(y)
return RESULT
"""
_STEPS = "optimizer.zero_grad()\n    loss.backward()\n    optimizer.step()"


def epoch(
    mode: str = "model.train()", steps: str = _STEPS, loss: str = "loss.item() * len(y)", result: str = "total / count"
) -> str:
    return _EPOCH.replace("MODE", mode).replace("STEPS", steps).replace("LOSS", loss).replace("RESULT", result)


_EVAL = """
was_training = model.training
EVAL_MODE
total, correct, count = 0.0, 0, 0
with CONTEXT:
    for x, y in loader:
        scores = model(x)
        total += LOSS
        correct += (scores.argmax(dim=1) == y).sum().item()
        count += len(y)
RESTORE
return RESULT
"""


def evaluation(
    eval_mode: str = "model.eval()",
    context: str = "torch.no_grad()",
    loss: str = "loss_fn(scores, y).item() * len(y)",
    restore: str = "model.train(was_training)",
    result: str = "total / count, correct / count",
) -> str:
    return (
        _EVAL.replace("EVAL_MODE", eval_mode)
        .replace("CONTEXT", context)
        .replace("LOSS", loss)
        .replace("RESTORE", restore)
        .replace("RESULT", result)
    )


SQUEEZE_CNN = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.fc(self.features(x).squeeze())  # (N, 16) for N > 1, but (16,) for a batch of one


return Net()
"""
THREE_CHANNELS = """
count = 0
total = torch.zeros(3, dtype=torch.float64)
squares = torch.zeros(3, dtype=torch.float64)
for x, _ in loader:
    x = x.double()
    count += x.shape[0] * x.shape[2] * x.shape[3]
    total += x.sum(dim=(0, 2, 3))
    squares += (x ** 2).sum(dim=(0, 2, 3))
mean = total / count
return mean, (squares / count - mean ** 2).sqrt()
"""


class TestChapter05(ChapterChecks):
    CHAPTER = CHAPTER
    EXERCISES = ["make_cnn", "channel_mean_std", "train_one_epoch", "evaluate", "accuracy", "confusion_matrix"]
    MIN_HIDDEN_ONLY = 5

    VISIBLE = [
        # ---- Exercise 1: make_cnn
        (
            "make_cnn",
            "flattens a 32x32 map into a fixed Linear",
            cnn("nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 8 * 8, num_classes),"),
            ["network (from make_cnn) raised RuntimeError", "(2, 3, 16, 16)"],
        ),
        (
            "make_cnn",
            "ends with a softmax",
            cnn("nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, num_classes), nn.Softmax(dim=1),"),
            ["probabilities", "remove the softmax"],
        ),
        (
            "make_cnn",
            "ends with a log-softmax",
            cnn("nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, num_classes), nn.LogSoftmax(dim=1),"),
            ["log-probabilities"],
        ),
        (
            "make_cnn",
            "is too wide for the budget",
            cnn("nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, num_classes),", a=64, b=128),
            ["more than the budget of 50,000"],
        ),
        (
            "make_cnn",
            "creates a layer it never uses",
            """
         class Net(nn.Module):
             def __init__(self):
                 super().__init__()
                 self.conv = nn.Conv2d(3, 16, 3, padding=1)
                 self.spare = nn.Conv2d(16, 16, 3, padding=1)
                 self.fc = nn.Linear(16, num_classes)

             def forward(self, x):
                 return self.fc(F.adaptive_avg_pool2d(F.relu(self.conv(x)), 1).flatten(1))


         return Net()
         """,
            ["spare.weight", "get no gradient"],
        ),
        (
            "make_cnn",
            "mixes the images of a batch",
            """
         class Net(nn.Module):
             def __init__(self):
                 super().__init__()
                 self.conv = nn.Conv2d(3, 16, 3, padding=1)
                 self.fc = nn.Linear(16, num_classes)

             def forward(self, x):
                 x = F.adaptive_avg_pool2d(F.relu(self.conv(x)), 1).flatten(1)
                 return self.fc(x - x.mean(dim=0))  # subtracts the batch mean


         return Net()
         """,
            ["depend on that image only"],
        ),
        (
            "make_cnn",
            "returns the class instead of a network",
            cnn().replace("return nn.Sequential(", "return (nn.Sequential(").rstrip() + ", )[0].__class__\n",
            ["should return an nn.Module"],
        ),
        # ---- Exercise 2: channel_mean_std
        (
            "channel_mean_std",
            "uses the sample std (n - 1)",
            """
         x = torch.cat([xb.double() for xb, _ in loader])
         return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))
         """,
            ["the std channel_mean_std returns on case 1 of 3", "differs"],
        ),
        (
            "channel_mean_std",
            "averages per-batch statistics",
            """
         means, stds = [], []
         for x, _ in loader:
             means.append(x.double().mean(dim=(0, 2, 3)))
             stds.append(x.double().std(dim=(0, 2, 3), correction=0))
         return torch.stack(means).mean(0), torch.stack(stds).mean(0)
         """,
            ["the mean channel_mean_std returns on case 1 of 3"],
        ),
        (
            "channel_mean_std",
            "accumulates in float32",
            _STATS.replace("DTYPE", "float"),
            ["dtype float32, expected float64"],
        ),
        (
            "channel_mean_std",
            "returns a stacked tensor",
            _STATS.replace("DTYPE", "double").replace(
                "return mean, (squares / count - mean ** 2).clamp_min(0).sqrt()",
                "return torch.stack([mean, (squares / count - mean ** 2).clamp_min(0).sqrt()])",
            ),
            ["returned a tensor", "tuple"],
        ),
        # ---- Exercise 3: train_one_epoch
        (
            "train_one_epoch",
            "never calls zero_grad",
            epoch(steps="loss.backward()\n    optimizer.step()"),
            ["After epoch 1", "differs from what fit gives"],
        ),
        (
            "train_one_epoch",
            "calls zero_grad once per epoch",
            epoch(mode="model.train()\noptimizer.zero_grad()", steps="loss.backward()\n    optimizer.step()"),
            ["After epoch 1", "differs from what fit gives"],
        ),
        ("train_one_epoch", "forgets model.train()", epoch(mode="pass"), ["eval mode", "model.train()"]),
        (
            "train_one_epoch",
            "averages the batch losses without weights",
            epoch(loss="loss.item()", result="total / len(loader)"),
            ["train_one_epoch returns the loss", "weight each batch"],
        ),
        ("train_one_epoch", "returns a tensor", epoch(loss="loss.detach() * len(y)"), ["returned a tensor", "float"]),
        (
            "train_one_epoch",
            "calls course_utils.fit",
            """
         history = fit(model, loader, epochs=1, optimizer=optimizer, loss_fn=loss_fn, progress=False)
         return history["train_loss"][0]
         """,
            ["calls `fit`", FORBIDDEN],
        ),
        # ---- Exercise 4: evaluate
        ("evaluate", "stays in train mode", evaluation(eval_mode="pass"), ["train mode", "model.eval()"]),
        ("evaluate", "records gradients", evaluation(context="torch.enable_grad()"), ["torch.no_grad()"]),
        (
            "evaluate",
            "leaves the model in eval mode",
            evaluation(restore="pass"),
            ["was in train mode before evaluate and in eval mode after"],
        ),
        (
            "evaluate",
            "always switches back to train mode",
            evaluation(restore="model.train()"),
            ["was in eval mode before evaluate and in train mode after"],
        ),
        ("evaluate", "returns tensors", evaluation(loss="loss_fn(scores, y) * len(y)"), ["loss as a Tensor", "float"]),
        (
            "evaluate",
            "averages per batch",
            evaluation(loss="loss_fn(scores, y).item()", result="total / len(loader), correct / count"),
            ["evaluate returns the loss", "weight each batch"],
        ),
        # ---- Exercise 5: accuracy
        (
            "accuracy",
            "returns a tensor",
            "return (scores.argmax(dim=1) == labels).float().mean()",
            ["returned a tensor", "float"],
        ),
        (
            "accuracy",
            "takes the argmax over the batch",
            "return (scores.argmax(dim=0) == labels[0]).float().mean().item()",
            ["accuracy returns", "case 1 of 3"],
        ),
        (
            "accuracy",
            "counts instead of a fraction",
            "return float((scores.argmax(dim=1) == labels).sum())",
            ["returns 3.0", "expected 0.75"],
        ),
        # ---- Exercise 6: confusion_matrix
        (
            "confusion_matrix",
            "swaps rows and columns",
            """
         flat = predictions.long() * num_classes + labels.long()
         return torch.bincount(flat, minlength=num_classes ** 2).reshape(num_classes, num_classes)
         """,
            ["case 1 of 3", "differs"],
        ),
        (
            "confusion_matrix",
            "counts in floats",
            """
         counts = torch.zeros(num_classes, num_classes)
         for t, p in zip(labels.tolist(), predictions.tolist()):
             counts[t, p] += 1
         return counts
         """,
            ["dtype float32, expected int64"],
        ),
        (
            "confusion_matrix",
            "calls course_utils.confusion_counts",
            "from course_utils import confusion_counts\nreturn confusion_counts(labels, predictions, num_classes)",
            ["`confusion_counts`", FORBIDDEN],
        ),
    ]

    HIDDEN_ONLY = [
        ("make_cnn", "squeezes away a batch of one", SQUEEZE_CNN, ["a hidden test", "expected (1, 3)"]),
        ("channel_mean_std", "assumes three channels", THREE_CHANNELS, ["a hidden case"]),
        (
            "train_one_epoch",
            "clears the gradients after the step",
            epoch(steps="loss.backward()\n    optimizer.step()\n    optimizer.zero_grad()"),
            ["a hidden test", "After epoch 1"],
        ),
        (
            "accuracy",
            "rounds to two decimals",
            "return round((scores.argmax(dim=1) == labels).float().mean().item(), 2)",
            ["a hidden case", "no rounding"],
        ),
        (
            "confusion_matrix",
            "sizes the matrix by the largest label",
            """
         k = int(max(labels.max(), predictions.max())) + 1
         flat = labels.long() * k + predictions.long()
         return torch.bincount(flat, minlength=k * k).reshape(k, k)
         """,
            ["a hidden case", "shape (2, 2)"],
        ),
    ]

    def test_checks_compare_with_course_utils_and_never_show_a_solution(self, notebook) -> None:
        """The oracles are PyTorch and course_utils (fit, evaluate), and no visible check holds an exercise's answer."""
        cells = autograder_cells(notebook)
        assert "fit(reference" in cells["test_train_one_epoch"].source
        assert "course_utils.evaluate(" in cells["test_evaluate"].source
        for gid, sol in solution_cells(notebook).items():
            body = sol.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0].strip()
            for line in body.splitlines()[:3]:
                line = line.strip()
                if len(line) > 25:
                    assert line not in cells[f"test_{gid}"].source.split("### BEGIN HIDDEN TESTS")[0], (gid, line)


# ---------------------------------------------------------------- verification gives the same verdicts

_SIGNATURES = {
    "make_cnn": "def make_cnn(num_classes):",
    "channel_mean_std": "def channel_mean_std(loader):",
    "train_one_epoch": "def train_one_epoch(model, loader, loss_fn, optimizer):",
    "evaluate": "def evaluate(model, loader, loss_fn):",
    "accuracy": "def accuracy(scores, labels):",
    "confusion_matrix": "def confusion_matrix(labels, predictions, num_classes):",
}


def _cell(exercise: str, body: str) -> str:
    return _SIGNATURES[exercise] + "\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n"


def _answers(cases: list, labels: dict[str, str]) -> dict[str, str]:
    found = {ex: _cell(ex, answer) for ex, label, answer, _ in cases if labels.get(ex) == label}
    assert set(found) == set(labels), f"no wrong answer {labels} among the cases"
    return found


WRONG_VISIBLE = _answers(
    TestChapter05.VISIBLE,
    {
        "make_cnn": "ends with a softmax",
        "channel_mean_std": "averages per-batch statistics",
        "train_one_epoch": "forgets model.train()",
        "evaluate": "records gradients",
        "accuracy": "returns a tensor",
        "confusion_matrix": "calls course_utils.confusion_counts",
    },
)
WRONG_HIDDEN = _answers(
    TestChapter05.HIDDEN_ONLY,
    {
        "make_cnn": "squeezes away a batch of one",
        "channel_mean_std": "assumes three channels",
        "train_one_epoch": "clears the gradients after the step",
        "accuracy": "rounds to two decimals",
        "confusion_matrix": "sizes the matrix by the largest label",
    },
)
WRONG_MORE = _answers(
    TestChapter05.VISIBLE,
    {
        "make_cnn": "is too wide for the budget",
        "train_one_epoch": "calls course_utils.fit",
        "evaluate": "always switches back to train mode",
        "channel_mean_std": "accumulates in float32",
    },
)


def verified_scores(answers: dict[str, str]) -> dict[str, tuple[float, str]]:
    """The release answered with the solutions except ``answers``, judged as verification judges it (sandboxed child)."""
    import nbformat

    from course_utils.grading import notebook as gnb
    from course_utils.grading.sandbox import Limits, run_child
    from course_utils.grading.spec import load_spec

    spec = load_spec(ROOT, CHAPTER)
    source = load_solution(CHAPTER)
    nb = copy.deepcopy(nbformat.read(str(ROOT / "notebooks" / CHAPTER / f"{CHAPTER}.ipynb"), as_version=4))
    instructor = {
        gnb.nbgrader_meta(c)["grade_id"]: c.source for c in source.cells if gnb.nbgrader_meta(c).get("solution")
    }
    for c in nb.cells:
        gid = gnb.nbgrader_meta(c).get("grade_id")
        if gnb.nbgrader_meta(c).get("solution"):
            c.source = answers.get(gid, instructor[gid])
    jobs, sources = [], {}
    for ex in spec.exercises:
        cells, missing = gnb.solution_sources(nb, list(ex.solutions))
        assert not missing
        sources[ex.test] = cells
        jobs.append({**ex.job(), "cells": cells})
    records = run_child(
        gnb.setup_sources(source, list(spec.setup_cells or ())),
        jobs,
        denied=[str(ROOT / "solutions"), str(ROOT / "grading")],
        limits=Limits(),
    )
    points, result = gnb.test_points(source), {}
    for ex in spec.exercises:
        record = records.get(ex.test, {"status": "error", "error": "no record"})
        why = ex.rule_violation(sources[ex.test], record)
        if why is None and record.get("status") == "ok":
            why = ex.verdict(record.get("outputs", []))
        elif why is None:
            why = str(record.get("error", record.get("status")))
        result[ex.test] = (points[ex.test] if why is None else 0.0, why or "")
    return result


def test_verification_gives_the_solution_full_marks() -> None:
    scores = verified_scores({})
    assert all(points > 0 for points, _ in scores.values()), scores
    assert set(scores) == {f"test_{ex}" for ex in TestChapter05.EXERCISES}


def test_verification_scores_the_wrong_answers_zero() -> None:
    """One answer per exercise that the visible checks catch, and every one only the hidden tests catch, score 0."""
    for answers in (WRONG_VISIBLE, WRONG_HIDDEN, WRONG_MORE):
        scores = verified_scores(answers)
        for exercise in answers:
            assert scores[f"test_{exercise}"][0] == 0, (exercise, scores[f"test_{exercise}"])
        for test, (points, why) in scores.items():
            if test.removeprefix("test_") not in answers:
                assert points > 0, (test, why)


def test_verification_refuses_the_forbidden_routes_with_the_notebooks_sentence() -> None:
    scores = verified_scores(
        {"train_one_epoch": WRONG_MORE["train_one_epoch"], "confusion_matrix": WRONG_VISIBLE["confusion_matrix"]}
    )
    assert "`train_one_epoch` calls `fit`, which this exercise forbids" in scores["test_train_one_epoch"][1]
    assert "`confusion_matrix` imports `confusion_counts`" in scores["test_confusion_matrix"][1]


def test_notebook_and_spec_forbid_the_same_routes() -> None:
    from course_utils.grading.spec import load_spec

    spec = {ex.test: ex for ex in load_spec(ROOT, CHAPTER).exercises}
    cells = autograder_cells(load_solution(CHAPTER))
    for test, variable in (("test_train_one_epoch", "NO_FIT"), ("test_confusion_matrix", "NO_COURSE_COUNTS")):
        source = cells[test].source
        start = source.index(f"{variable} = ")
        ns: dict = {}
        exec("from course_utils.checks import Forbid\n" + source[start : source.index(")\n", start) + 1], ns)  # noqa: S102
        assert ns[variable] == spec[test].forbid, test


# ---------------------------------------------------------------- what the prose says, the notebook measures


def test_the_chapter_measures_what_its_prose_says() -> None:
    """Run the concept cells (smoke mode) and hold the prose's conclusions to the values they compute.

    Section 1: the three styles compute the same function (difference 0). Section 2: the chunked statistics
    equal the stacked tensor's. Section 8: the softmax model fails the raw-scores and one-batch checks while its initial
    loss passes (the prose says so), the fixed model passes everything. Section 9: a second backward without
    zero_grad doubles the gradient; dropout makes train-mode calls differ and eval-mode ones agree.
    """
    import contextlib
    import io
    import os

    from nbtools import exec_source

    nb = load_solution(CHAPTER)
    ns: dict = {"__name__": "__main__"}
    old = os.environ.get("COURSE_SMOKE")
    os.environ["COURSE_SMOKE"] = "1"
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            for c in nb.cells:
                if c.cell_type != "code":
                    continue
                if c.get("id") in (
                    "cifar10-data",
                    "cifar10-train",
                    "cifar10-results",
                    "cifar10-confused",
                    "save-load",
                    "gpu-where",
                ):
                    continue  # CIFAR-10 is not needed for these claims
                exec_source(c.source, ns, c.get("id", "cell"))
                if c.get("id") == "mistakes-measure":
                    break
    finally:
        if old is None:
            os.environ.pop("COURSE_SMOKE", None)
        else:
            os.environ["COURSE_SMOKE"] = old
        import matplotlib.pyplot as plt

        plt.close("all")
    assert ns["difference"] == 0.0
    broken, fixed = ns["sanity_check"](ns["broken"], ns["c2_train_loader"], ns["nn"].CrossEntropyLoss()), ns["report"]
    assert {"raw_scores", "overfit_one_batch"} <= set(broken.failed) and "initial_loss" not in broken.failed, broken
    assert fixed.ok, fixed
    assert abs(ns["ratio"].mean().item() - 2.0) < 1e-5
    assert ns["train_diff"] > 0.01 and ns["eval_diff"] == 0.0
    assert (ns["C2_MEAN"] - ns["stacked"].mean(dim=(0, 2, 3))).abs().max() < 1e-12
