"""Chapter 08 (optimisation): the autograder cells pass the solution, reject these wrong answers.

The tests are nbtools.ChapterChecks'; VISIBLE and HIDDEN_ONLY answers replace a solution block.
Beyond them: the check cells use the same forbidden-route rules and the same wrappers as the
verification spec (which runs the notebook's wrapper cell as setup), and the quiz is encoded,
reached by Run All and answerable.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools import (  # noqa: E402
    ChapterChecks,
    answer_with_keys,
    autograder_source,
    exec_source,
    namespace,
    run_cell,
    spec_module,
    without_hidden,
)

WARMUP = """
if step < warmup:
    return peak * (step + 1) / warmup
return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))
"""
CLIP = """
norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads)).to(grads[0].dtype)
if norm > max_norm:
    for g in grads:
        g.mul_(max_norm / (norm + 1e-6))
return norm
"""
STOP = """
best, best_epoch, wait = val_losses[0], 1, 0
for epoch, loss in enumerate(val_losses[1:], start=2):
    if loss < best - min_delta:
        best, best_epoch, wait = loss, epoch, 0
    else:
        wait += 1
        if wait >= patience:
            return best_epoch, epoch
return best_epoch, len(val_losses)
"""
ACCUMULATE = """
total = sum(len(x) for x, _ in batches)
optimizer.zero_grad()
whole = 0.0
for x, y in batches:
    loss = loss_fn(model(x), y) * (len(x) / total)
    loss.backward()
    whole += loss.item()
optimizer.step()
return whole
"""
SCALED = "return base_lr * batch / base_batch, warmup_epochs * math.ceil(dataset_size / batch)"


class TestChapter08(ChapterChecks):
    CHAPTER = "08_optimisation"
    EXERCISES = ["warmup_cosine", "clip_grad_norm", "early_stopping", "accumulate_step", "scaled_schedule"]

    VISIBLE = [
        (
            "warmup_cosine",
            "warms up from 0",
            WARMUP.replace("(step + 1) / warmup", "step / warmup"),
            "warmup_cosine on case 1 of 10",
        ),
        (
            "warmup_cosine",
            "runs the cosine over the whole schedule",
            WARMUP.replace("(step - warmup) / (total - warmup)", "step / total"),
            "warmup_cosine on case 4 of 10",
        ),
        (
            "warmup_cosine",
            "divides by warmup when there is none",
            WARMUP.replace("if step < warmup:", "if step <= warmup:"),
            ["warmup_cosine raised ZeroDivisionError"],
        ),
        (
            "warmup_cosine",
            "returns a tensor",
            WARMUP.replace("math.cos(math.pi", "torch.cos(torch.tensor(math.pi").replace(
                "(total - warmup)))", "(total - warmup))))"
            ),
            ["warmup_cosine", "float"],
        ),
        (
            "clip_grad_norm",
            "returns the norm after clipping",
            CLIP.replace("return norm", "return torch.sqrt(sum((g ** 2).sum() for g in grads))"),
            "clip_grad_norm on case 1 of 4",
        ),
        (
            "clip_grad_norm",
            "scales copies, not the gradients",
            CLIP.replace(
                "for g in grads:\n        g.mul_(max_norm / (norm + 1e-6))",
                "grads = [g * (max_norm / (norm + 1e-6)) for g in grads]",
            ),
            "gradient 0 after clip_grad_norm on case 1 of 4",
        ),
        (
            "clip_grad_norm",
            "clips even below max_norm",
            CLIP.replace("if norm > max_norm:", "if True:"),
            "gradient 0 after clip_grad_norm on case 2 of 4",
        ),
        (
            "clip_grad_norm",
            "returns a float",
            CLIP.replace("return norm", "return norm.item()"),
            ["clip_grad_norm", "float", "tensor"],
        ),
        (
            "clip_grad_norm",
            "computes the norm in float32",
            CLIP.replace(".to(grads[0].dtype)", ".float()"),
            ["clip_grad_norm on case 4 of 4", "float64"],
        ),
        (
            "clip_grad_norm",
            "calls clip_grad_norm_",
            """
         params = [torch.nn.Parameter(torch.empty_like(g)) for g in grads]
         for p, g in zip(params, grads):
             p.grad = g
         return torch.nn.utils.clip_grad_norm_(params, max_norm)
         """,
            ["clip_grad_norm", "clip_grad_norm_", "forbids"],
        ),
        (
            "early_stopping",
            "counts a tie as an improvement",
            STOP.replace("loss < best - min_delta", "loss <= best - min_delta"),
            "early_stopping on case 2 of 4",
        ),
        (
            "early_stopping",
            "waits one epoch too long",
            STOP.replace("wait >= patience", "wait > patience"),
            "early_stopping on case 1 of 4",
        ),
        (
            "early_stopping",
            "ignores min_delta",
            STOP.replace("loss < best - min_delta", "loss < best"),
            "early_stopping on case 4 of 4",
        ),
        (
            "early_stopping",
            "returns a list",
            STOP.replace("return best_epoch, epoch", "return [best_epoch, epoch]").replace(
                "return best_epoch, len(val_losses)", "return [best_epoch, len(val_losses)]"
            ),
            ["early_stopping", "tuple"],
        ),
        (
            "accumulate_step",
            "does not divide the losses",
            ACCUMULATE.replace(" * (len(x) / total)", ""),
            "parameter 0 after accumulate_step on case 1 of 3",
        ),
        (
            "accumulate_step",
            "gives every batch the same weight",
            ACCUMULATE.replace("(len(x) / total)", "(1 / len(batches))"),
            "after accumulate_step on case 2 of 3",
        ),
        (
            "accumulate_step",
            "steps after every batch",
            ACCUMULATE.replace(
                "    whole += loss.item()\noptimizer.step()", "    whole += loss.item()\n    optimizer.step()"
            ),
            "after accumulate_step on case 1 of 3",
        ),
        (
            "accumulate_step",
            "keeps stale gradients",
            ACCUMULATE.replace("optimizer.zero_grad()\n", ""),
            "parameter 0 after accumulate_step on case 1 of 3",
        ),
        (
            "accumulate_step",
            "returns a tensor",
            ACCUMULATE.replace("whole = 0.0", "whole = torch.zeros(())").replace(
                "whole += loss.item()", "whole = whole + loss.detach()"
            ),
            ["accumulate_step", "float"],
        ),
        (
            "accumulate_step",
            "concatenates the batches",
            """
         x, y = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
         optimizer.zero_grad()
         loss = loss_fn(model(x), y)
         loss.backward()
         optimizer.step()
         return loss.item()
         """,
            ["accumulate_step", "torch.cat", "forbids"],
        ),
        (
            "scaled_schedule",
            "drops the last partial batch",
            SCALED.replace("math.ceil(dataset_size / batch)", "(dataset_size // batch)"),
            "scaled_schedule on case 1 of 4",
        ),
        (
            "scaled_schedule",
            "scales by the square root",
            SCALED.replace("base_lr * batch / base_batch", "base_lr * math.sqrt(batch / base_batch)"),
            "scaled_schedule on case 1 of 4",
        ),
    ]

    HIDDEN_ONLY = [
        (
            "warmup_cosine",
            "is one step late leaving the warm-up",
            WARMUP.replace("if step < warmup:", "if warmup > 0 and step <= warmup:"),
            "a hidden case",
        ),
        (
            "clip_grad_norm",
            "flattens with view()",
            CLIP.replace(
                "torch.sqrt(sum((g.double() ** 2).sum() for g in grads)).to(grads[0].dtype)",
                "torch.cat([g.view(-1) for g in grads]).norm()",
            ),
            ["clip_grad_norm raised", "hidden"],
        ),
        (
            "early_stopping",
            "compares with the previous epoch, not the best",
            """
         best_epoch, wait = 1, 0
         for epoch in range(2, len(val_losses) + 1):
             if val_losses[epoch - 1] < val_losses[epoch - 2] - min_delta:
                 best_epoch, wait = epoch, 0
             else:
                 wait += 1
                 if wait >= patience:
                     return best_epoch, epoch
         return best_epoch, len(val_losses)
         """,
            "a hidden case",
        ),
        (
            "accumulate_step",
            "uses cross-entropy whatever loss it is given",
            ACCUMULATE.replace("loss_fn(model(x), y)", "F.cross_entropy(model(x), y)"),
            "a hidden case",
        ),
        (
            "scaled_schedule",
            "scales by a whole-number ratio",
            SCALED.replace("batch / base_batch", "(batch // base_batch)"),
            "a hidden case",
        ),
    ]

    def test_quiz_is_encoded_and_reached_by_run_all(self, notebook) -> None:
        ns = namespace(notebook, hyper=True)
        index, source = next(
            (i, c.source) for i, c in enumerate(notebook.cells) if c.cell_type == "code" and "Quiz(" in c.source
        )
        assert '"answer"' not in source and '"explain"' not in source, "the quiz shows its answers in plain view"
        first_exercise = min(
            i for i, c in enumerate(notebook.cells) if c.get("metadata", {}).get("nbgrader", {}).get("solution")
        )
        assert index < first_exercise
        quiz = exec_source(source, ns, "quiz")
        assert abs(quiz.questions[0]["answer"] - 0.1) < 1e-12  # the cosine's midpoint
        assert answer_with_keys(quiz) == len(quiz.questions)

    def test_check_cells_use_the_spec_rules_and_wrappers(self, notebook) -> None:
        """The notebook's Forbid rules equal the verification spec's, and both graders call the same wrappers."""
        spec = spec_module(self.CHAPTER)
        assert spec.SETUP_CELLS == ["check-wrappers"]
        wrappers = next(c.source for c in notebook.cells if c.get("id") == "check-wrappers")
        for exercise, rule, wrapper in (
            ("clip_grad_norm", "NO_CLIPPING", "clip_grad_norm_result"),
            ("accumulate_step", "NO_CONCATENATION", "accumulate_step_result"),
        ):
            ns = namespace(notebook)
            run_cell(without_hidden(autograder_source(notebook, exercise)), ns, f"test_{exercise}")
            assert ns[rule] == getattr(spec, rule), f"the {rule} of test_{exercise} differs from the spec's"
            defined = wrappers.split(f"def {wrapper}(")[1].split("\n\n\n")[0]
            assert f"def {wrapper}({defined}" in autograder_source(notebook, exercise), (
                f"test_{exercise} defines another {wrapper} than the wrapper cell verification runs"
            )

    def test_the_wrappers_catch_an_answer_that_returns_instead_of_changing_in_place(self, notebook) -> None:
        """The spec judges clip_grad_norm by what it leaves in the gradients, read through `clip_grad_norm_result`."""
        import torch

        ns = namespace(
            notebook,
            replace={
                "clip_grad_norm": "def clip_grad_norm(grads, max_norm):\n"
                "    return torch.sqrt(sum((g ** 2).sum() for g in grads))\n"
            },
        )
        exec_source(next(c.source for c in notebook.cells if c.get("id") == "check-wrappers"), ns, "wrappers")
        grads = [torch.full((3,), 10.0)]
        after, norm = ns["clip_grad_norm_result"](grads, 1.0)
        assert torch.equal(after[0], torch.full((3,), 10.0)) and abs(norm.item() - 300**0.5) < 1e-4
