"""Verification messages name the learner's function, also when a spec calls it through a wrapper.

A spec whose answer cannot be called directly across the sandbox (it takes an optimiser, a
model, gradients to fill) calls a wrapper from the notebook's helper cell instead; its
``Exercise(label=...)`` names the learner's function, which every rule sentence must use.
"""

from __future__ import annotations

import ast

import gradetools
import pytest
import torch

from course_utils.checks import Forbid
from course_utils.grading import notebook as nbtools
from course_utils.grading.spec import Exercise, load_spec, spec_path

NO_FIT = Forbid(calls=("fit",), reason="the point of this exercise is to write the loop")
SPEC_CHAPTERS = [ch for ch in gradetools.find_chapters() if spec_path(gradetools.ROOT, ch).is_file()]


def _wrapped(**kwargs) -> Exercise:
    return Exercise(
        test="test_train_one_epoch",
        solutions=["train_one_epoch"],
        name="sgd_epochs",
        label="train_one_epoch",
        cases=[(torch.zeros(2),)],
        reference=lambda x: x,
        **kwargs,
    )


def test_every_rule_sentence_names_the_label_not_the_wrapper():
    cells = ["def train_one_epoch(model, loader):\n    return fit(model, loader)\n"]
    forbidden = _wrapped(forbid=NO_FIT).rule_violation(cells, {"status": "ok", "ops": []})
    ops = _wrapped(forbid=Forbid(aten=("aten::convolution",), reason="no")).rule_violation(
        [], {"status": "ok", "ops": ["aten::convolution"]}
    )
    mutated = _wrapped().rule_violation([], {"status": "ok", "mutations": [[["x", "its values", False]]]})
    returned = _wrapped(returns=float).rule_violation([], {"status": "ok", "kinds": ["tensor"]})
    for sentence in (forbidden, ops, mutated, returned):
        assert sentence is not None and sentence.startswith("`train_one_epoch` ") and "sgd_epochs" not in sentence
    plain = Exercise(test="test_f", solutions=["f"], name="f", returns=float)
    assert plain.rule_violation([], {"status": "ok", "kinds": ["tensor"]}).startswith("`f` returned a tensor")
    assert _wrapped().job()["name"] == "sgd_epochs"  # the child still calls the wrapper


def _bound(source: str) -> set[str]:
    """Names a solution cell defines at its top level (functions, classes, assignments)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


@pytest.mark.parametrize("chapter", SPEC_CHAPTERS)
def test_every_exercise_names_what_its_solution_cells_define(chapter):
    spec = load_spec(gradetools.ROOT, chapter)
    source = gradetools.read_notebook(gradetools.solution_path(chapter))
    cells = {nbtools.nbgrader_meta(c).get("grade_id"): c.source for c in source.cells if c.cell_type == "code"}
    wrong = []
    for exercise in spec.exercises:
        defined = set().union(*(_bound(cells.get(gid, "")) for gid in exercise.solutions))
        if exercise.shown_name not in defined:
            wrong.append(f"{exercise.test} names `{exercise.shown_name}`; its solution cells define {sorted(defined)}")
    assert not wrong, f"grading/{chapter}.py: give a wrapped exercise label=<the learner's function>: {wrong}"
