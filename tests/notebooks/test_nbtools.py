"""The shared chapter conventions of nbtools.structure_problems, tried on chapter 01 moved about.

The quiz rule: exactly one quiz cell, before the first exercise's check cell (Run All stops there
when the exercise is unanswered), so a quiz between the first solution cell and its check cell is
fine, and one after that check cell, or a second quiz, is not.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools import autograder_cells, load_solution, solution_cells, structure_problems  # noqa: E402

CHAPTER = "01_convolution"


@pytest.fixture(scope="module")
def chapter() -> object:
    return load_solution(CHAPTER)


def _quiz_moved(nb, to_index_of) -> object:
    """A copy of ``nb`` whose quiz cell stands just before the cell ``to_index_of(copy)`` returns."""
    nb = copy.deepcopy(nb)
    quiz = next(c for c in nb.cells if c.cell_type == "code" and "Quiz(" in c.source)
    nb.cells.remove(quiz)
    nb.cells.insert(nb.cells.index(to_index_of(nb)), quiz)
    return nb


def _quiz_problems(nb) -> list[str]:
    return [p for p in structure_problems(nb, CHAPTER) if "quiz" in p]


def test_the_chapter_as_committed_follows_the_quiz_rule(chapter) -> None:
    assert _quiz_problems(chapter) == []


def test_a_quiz_between_the_first_solution_and_its_check_cell_is_reached(chapter) -> None:
    """Run All runs a solution cell holding the stub (it only defines a function) and stops at its check cell."""
    first_test = next(iter(autograder_cells(chapter)))
    nb = _quiz_moved(chapter, lambda nb: autograder_cells(nb)[first_test])
    quiz = next(i for i, c in enumerate(nb.cells) if "Quiz(" in c.source)
    first_solution = nb.cells.index(next(iter(solution_cells(nb).values())))
    assert first_solution < quiz, "the quiz was not moved past the first solution cell"
    assert _quiz_problems(nb) == []


def test_a_quiz_after_the_first_check_cell_is_refused(chapter) -> None:
    tests = list(autograder_cells(chapter))
    nb = _quiz_moved(chapter, lambda nb: autograder_cells(nb)[tests[1]])
    assert any("after the first exercise's check cell" in p for p in _quiz_problems(nb)), structure_problems(
        nb, CHAPTER
    )


def test_a_second_quiz_or_none_is_refused(chapter) -> None:
    twice = copy.deepcopy(chapter)
    quiz = next(i for i, c in enumerate(twice.cells) if c.cell_type == "code" and "Quiz(" in c.source)
    extra = copy.deepcopy(twice.cells[quiz])
    extra["id"] = "second-quiz"
    twice.cells.insert(quiz, extra)
    none = copy.deepcopy(chapter)
    none.cells = [c for c in none.cells if not (c.cell_type == "code" and "Quiz(" in c.source)]
    assert any("expected one quiz cell" in p and "found 2" in p for p in _quiz_problems(twice))
    assert any("expected one quiz cell" in p and "found 0" in p for p in _quiz_problems(none))


def test_the_exercises_introduction_must_say_how_to_go_on(chapter) -> None:
    nb = copy.deepcopy(chapter)
    intro = next(c for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## Exercises"))
    assert structure_problems(nb, CHAPTER) == []
    intro.source = intro.source.replace("Run Selected Cell and All Below", "Run the rest")
    assert any("Run Selected Cell and All Below" in p for p in structure_problems(nb, CHAPTER))


def test_a_function_defined_in_a_cell_that_ends_in_an_expression_keeps_its_source():
    """Forbid's source rule reads learner functions with inspect.getsource; a cell's last line must not hide them."""
    import inspect

    from nbtools import exec_source

    ns: dict = {}
    value = exec_source("def helper(x):\n    return x + 1\n\nhelper(1)\n", ns, "ending-in-a-value")
    assert value == 2
    assert "return x + 1" in inspect.getsource(ns["helper"])
