"""Chapter 12 (CIFAR-10 fast): the autograder cells pass the solution, reject these wrong answers.

The tests are nbtools.ChapterChecks'; VISIBLE and HIDDEN_ONLY answers replace a solution block.
Beyond them: the check cells use the same forbidden-route rules and the same wrappers as the
verification spec (which runs the notebook's wrapper cell as setup), every rule refuses an
import from course_utils.fast, and the quiz is encoded, reached by Run All and answerable.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools import (  # noqa: E402
    ChapterChecks,
    answer_with_keys,
    autograder_source,
    exec_source,
    load_solution,
    namespace,
    run_cell,
    spec_module,
    without_hidden,
)

CHAPTER = "12_cifar10_fast"

CROP = """
b, c, h, w = x.shape
padded = F.pad(x, (pad, pad, pad, pad))
rows = dy[:, None] + torch.arange(h, device=x.device)
cols = dx[:, None] + torch.arange(w, device=x.device)
cols = torch.where(flip[:, None], cols.flip(1), cols)
batch = torch.arange(b, device=x.device)[:, None, None, None]
channel = torch.arange(c, device=x.device)[None, :, None, None]
return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]
"""
SMOOTH = """
log_probs = F.log_softmax(logits, dim=1)
true_class = -log_probs.gather(1, targets[:, None]).squeeze(1)
uniform = -log_probs.mean(dim=1)
return ((1 - smoothing) * true_class + smoothing * uniform).mean()
"""
SCHEDULE = """
if step < warmup:
    return start + (peak - start) * step / warmup
if total == warmup:
    return float(peak)
return peak + (end - peak) * (step - warmup) / (total - warmup)
"""
EMA = """
with torch.no_grad():
    for e, p in zip(ema_params, params):
        e.mul_(decay).add_(p, alpha=1 - decay)
"""
TTA = """
with torch.no_grad():
    return (model(x) + model(x.flip(-1))) / 2
"""
TIMING = """
for _ in range(warmup):
    fn()
synchronize()
start = clock()
for _ in range(repeats):
    fn()
synchronize()
stop = clock()
return (stop - start) / repeats
"""


class TestChapter12(ChapterChecks):
    CHAPTER = CHAPTER
    EXERCISES = ["crop_flip", "label_smoothing_loss", "warmup_decay", "ema_update", "tta_logits", "time_per_call"]

    VISIBLE = [
        (
            "crop_flip",
            "mirrors the padded image before cutting the window",
            CROP.replace(
                "padded = F.pad(x, (pad, pad, pad, pad))",
                "padded = F.pad(x, (pad, pad, pad, pad))\n"
                "padded = torch.where(flip[:, None, None, None], padded.flip(-1), padded)",
            ).replace("cols = torch.where(flip[:, None], cols.flip(1), cols)\n", ""),
            "crop_flip on case 2 of 5",
        ),
        (
            "crop_flip",
            "swaps the row and column offsets",
            CROP.replace("rows = dy[:, None]", "rows = dx[:, None]").replace(
                "cols = dx[:, None]", "cols = dy[:, None]"
            ),
            "crop_flip on case 1 of 5",
        ),
        (
            "crop_flip",
            "pads by reflection instead of zeros",
            CROP.replace(
                "F.pad(x, (pad, pad, pad, pad))", "F.pad(x.float(), (pad, pad, pad, pad), mode='reflect').byte()"
            ),
            "crop_flip on case 1 of 5",
        ),
        (
            "crop_flip",
            "returns float pixels",
            CROP.replace("return padded[", "return padded.float()["),
            ["crop_flip on case 1 of 5", "dtype float32, expected uint8"],
        ),
        (
            "crop_flip",
            "calls torchvision's crop",
            """
         from torchvision.transforms.v2 import functional as TF
         out = []
         for image, top, left, mirror in zip(x, dy.tolist(), dx.tolist(), flip.tolist()):
             image = TF.crop(TF.pad(image, [pad]), top, left, x.shape[2], x.shape[3])
             out.append(image.flip(-1) if mirror else image)
         return torch.stack(out)
         """,
            ["crop_flip", "TF.crop", "forbids"],
        ),
        (
            "label_smoothing_loss",
            "spreads epsilon over the other classes only",
            """
         k = logits.shape[1]
         q = torch.full_like(logits, smoothing / (k - 1))
         q.scatter_(1, targets[:, None], 1 - smoothing)
         return -(q * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
         """,
            "label_smoothing_loss on case 1 of 4",
        ),
        (
            "label_smoothing_loss",
            "sums over the batch",
            SMOOTH.replace(").mean()\n", ").sum()\n").rstrip() + "\n",
            "label_smoothing_loss on case 1 of 4",
        ),
        (
            "label_smoothing_loss",
            "returns a float",
            SMOOTH.replace("uniform).mean()", "uniform).mean().item()"),
            ["label_smoothing_loss", "returned a float", "tensor"],
        ),
        (
            "label_smoothing_loss",
            "cuts the gradient",
            SMOOTH.replace("F.log_softmax(logits, dim=1)", "F.log_softmax(logits.detach(), dim=1)"),
            ["label_smoothing_loss raised RuntimeError"],
        ),
        (
            "label_smoothing_loss",
            "calls F.cross_entropy",
            "return F.cross_entropy(logits, targets, label_smoothing=smoothing)",
            ["label_smoothing_loss", "F.cross_entropy", "forbids"],
        ),
        (
            "warmup_decay",
            "warms up from 0",
            SCHEDULE.replace("start + (peak - start) * step / warmup", "peak * step / warmup"),
            "warmup_decay on case 1 of 12",
        ),
        (
            "warmup_decay",
            "decays to 0 whatever the end",
            SCHEDULE.replace("peak + (end - peak) * (step - warmup)", "peak - peak * (step - warmup)"),
            "warmup_decay on case 9 of 12",
        ),
        (
            "warmup_decay",
            "divides the decay by all the steps",
            SCHEDULE.replace("(step - warmup) / (total - warmup)", "(step - warmup) / total"),
            "warmup_decay on case 5 of 12",
        ),
        (
            "warmup_decay",
            "returns a tensor",
            SCHEDULE.replace(
                "return start + (peak - start) * step / warmup",
                "return torch.tensor(start + (peak - start) * step / warmup)",
            ),
            ["warmup_decay", "returned a tensor", "float"],
        ),
        (
            "warmup_decay",
            "chains PyTorch's LinearLR schedulers",
            """
         optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=peak)
         up = torch.optim.lr_scheduler.LinearLR(optimizer, start / peak, 1.0, total_iters=max(warmup, 1))
         for _ in range(min(step, warmup)):
             optimizer.step()
             up.step()
         return start + (peak - start) * step / warmup if step < warmup else peak + (end - peak) * (step - warmup) / (total - warmup)
         """,
            ["warmup_decay", "lr_scheduler", "forbids"],
        ),
        (
            "ema_update",
            "gives the new weights the decay's share",
            EMA.replace("e.mul_(decay).add_(p, alpha=1 - decay)", "e.mul_(1 - decay).add_(p, alpha=decay)"),
            "averaged tensor 0 after ema_update on case 1 of 4",
        ),
        (
            "ema_update",
            "puts new tensors in the list instead of changing them",
            """
         for i, (e, p) in enumerate(zip(ema_params, params)):
             ema_params[i] = decay * e.detach() + (1 - decay) * p.detach()
         """,
            "averaged tensor 0 after ema_update on case 1 of 4",
        ),
        (
            "ema_update",
            "updates parameters under autograd",
            """
         for e, p in zip(ema_params, params):
             e.mul_(decay).add_(p, alpha=1 - decay)
         """,
            ["ema_update raised RuntimeError", "in-place"],
        ),
        (
            "ema_update",
            "calls get_ema_avg_fn",
            """
         from torch.optim.swa_utils import get_ema_avg_fn
         average = get_ema_avg_fn(decay)
         with torch.no_grad():
             for e, p in zip(ema_params, params):
                 e.copy_(average(e, p, None))
         """,
            ["ema_update", "get_ema_avg_fn", "forbids"],
        ),
        ("tta_logits", "mirrors top to bottom", TTA.replace("x.flip(-1)", "x.flip(-2)"), "tta_logits on case 1 of 2"),
        (
            "tta_logits",
            "averages probabilities",
            TTA.replace(
                "(model(x) + model(x.flip(-1))) / 2", "(model(x).softmax(1) + model(x.flip(-1)).softmax(1)) / 2"
            ),
            "tta_logits on case 1 of 2",
        ),
        ("tta_logits", "adds without halving", TTA.replace(") / 2", ")"), "tta_logits on case 1 of 2"),
        (
            "tta_logits",
            "records gradients",
            "return (model(x) + model(x.flip(-1))) / 2",
            ["tta_logits on case 1 of 2 requires grad", "torch.no_grad()"],
        ),
        (
            "tta_logits",
            "calls the recipe's TTA",
            """
         from course_utils.fast import evaluate
         with torch.no_grad():
             return evaluate.tta_logits(model, x, 1)
         """,
            ["tta_logits", "imports from `course_utils.fast`", "forbids"],
        ),
        (
            "time_per_call",
            "reads the clock before the GPU has finished",
            TIMING.replace("synchronize()\nstop = clock()", "stop = clock()\nsynchronize()"),
            "time_per_call on case 1 of 3",
        ),
        (
            "time_per_call",
            "times the warm-up too",
            TIMING.replace(
                "for _ in range(warmup):\n    fn()\nsynchronize()\nstart = clock()",
                "synchronize()\nstart = clock()\nfor _ in range(warmup):\n    fn()",
            ),
            "time_per_call on case 1 of 3",
        ),
        (
            "time_per_call",
            "returns the time of all repeats",
            TIMING.replace("return (stop - start) / repeats", "return stop - start"),
            "time_per_call on case 1 of 3",
        ),
        (
            "time_per_call",
            "uses its own clock",
            TIMING.replace("start = clock()", "import time\nstart = time.perf_counter()").replace(
                "stop = clock()", "stop = time.perf_counter()"
            ),
            ["time_per_call", "perf_counter", "forbids"],
        ),
    ]

    HIDDEN_ONLY = [
        (
            "crop_flip",
            "assumes square images",
            CROP.replace("cols = dx[:, None] + torch.arange(w", "cols = dx[:, None] + torch.arange(h"),
            ["hidden", "crop_flip"],
        ),
        (
            "label_smoothing_loss",
            "takes the log of softmax",
            SMOOTH.replace("F.log_softmax(logits, dim=1)", "torch.log(torch.softmax(logits, dim=1))"),
            ["a hidden case", "log_softmax"],
        ),
        (
            "warmup_decay",
            "divides by zero when there is no decay",
            SCHEDULE.replace("if total == warmup:\n    return float(peak)\n", ""),
            ["warmup_decay raised ZeroDivisionError", "hidden"],
        ),
        (
            "ema_update",
            "assigns through e[:]",
            EMA.replace("e.mul_(decay).add_(p, alpha=1 - decay)", "e[:] = decay * e + (1 - decay) * p"),
            ["ema_update raised IndexError", "hidden"],
        ),
        (
            "time_per_call",
            "synchronises after every warm-up call",
            TIMING.replace(
                "for _ in range(warmup):\n    fn()\nsynchronize()",
                "for _ in range(warmup):\n    fn()\n    synchronize()",
            ),
            ["time_per_call on a hidden case"],
        ),
    ]

    def test_quiz_is_encoded_and_reached_by_run_all(self, notebook) -> None:
        index, source = next(
            (i, c.source) for i, c in enumerate(notebook.cells) if c.cell_type == "code" and "Quiz(" in c.source
        )
        assert '"answer"' not in source and '"explain"' not in source, "the quiz shows its answers in plain view"
        first_exercise = min(
            i for i, c in enumerate(notebook.cells) if c.get("metadata", {}).get("nbgrader", {}).get("solution")
        )
        assert index < first_exercise
        quiz = exec_source(source, {}, "quiz")
        assert abs(quiz.questions[1]["answer"] - 0.82) < 1e-12  # 0.8 + 0.2 / 10
        assert answer_with_keys(quiz) == len(quiz.questions)

    def test_check_cells_use_the_spec_rules_and_wrappers(self, notebook) -> None:
        """The notebook's Forbid rules equal the verification spec's, and both graders call the same wrappers."""
        spec = spec_module(self.CHAPTER)
        assert spec.SETUP_CELLS == ["check-wrappers"]
        wrappers = next(c.source for c in notebook.cells if c.get("id") == "check-wrappers")
        for exercise, rule, wrapper in (
            ("crop_flip", "NO_TORCHVISION_CROP", None),
            ("label_smoothing_loss", "NO_CROSS_ENTROPY", "loss_and_gradient"),
            ("warmup_decay", "NO_SCHEDULERS", None),
            ("ema_update", "NO_SWA_UTILS", "ema_after"),
            ("tta_logits", "NO_FAST", "tta_result"),
            ("time_per_call", "NO_TIMERS", "timing_trace"),
        ):
            ns = namespace(notebook)
            run_cell(without_hidden(autograder_source(notebook, exercise)), ns, f"test_{exercise}")
            assert ns[rule] == getattr(spec, rule), f"the {rule} of test_{exercise} differs from the spec's"
            assert "fast" in ns[rule].calls, f"test_{exercise} does not refuse course_utils.fast"
            if wrapper:
                defined = wrappers.split(f"def {wrapper}(")[1].split("\n\n\n")[0]
                assert f"def {wrapper}({defined}" in autograder_source(notebook, exercise), (
                    f"test_{exercise} defines another {wrapper} than the wrapper cell verification runs"
                )

    @pytest.mark.parametrize(
        "route",
        [
            "from course_utils.fast import translate",
            "from course_utils.fast.evaluate import _mirror_mean",
            "import course_utils.fast.timing as timing",
            "from course_utils import fast",
        ],
    )
    def test_every_rule_refuses_the_recipes_own_code(self, notebook, route: str) -> None:
        """However the learner reaches course_utils.fast, every exercise's rule refuses it."""
        spec = spec_module(self.CHAPTER)
        for exercise in spec.EXERCISES:
            problem = exercise.forbid.source_problem(exercise.name, f"def f(x):\n    {route}\n    return x\n")
            assert problem is not None and "forbids" in problem, (exercise.test, route)


def test_the_exercises_need_no_gpu_and_the_chapter_says_so_in_one_line() -> None:
    """On a CPU the setup cell says in one line that the small CPU version runs (the issue's rule)."""
    setup = next(c.source for c in load_solution(CHAPTER).cells if c.cell_type == "code")
    lines = [line for line in setup.splitlines() if "No CUDA GPU here" in line]
    assert len(lines) == 1 and "CPU version" in lines[0]
