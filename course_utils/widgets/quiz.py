"""Quiz: multiple-choice and numeric questions with immediate feedback, readable by an nbgrader autograder cell.

Question format (the course contract)::

    {"question": str, "options": [str, ...], "answer": int, "explain": str}        # multiple choice
    {"question": str, "answer": float, "tolerance": float, "explain": str}         # numeric

The learner clicks an option (or types a number and presses *Check*) and sees
right/wrong plus the explanation at once. An autograder cell can read
``quiz.answers`` (the learner's choices, ``None`` where unanswered),
``quiz.score()`` (number correct) or call ``quiz.check()``, which raises
:class:`~course_utils.errors.CheckFailed` naming the questions still wrong.
Answers can also be set in code with ``quiz.answer(i, value)``: an autograder
re-runs the notebook without a browser, so clicks are not replayed there; a
graded quiz therefore asks the learner to record answers in a code cell
(``quiz.answer(0, 2)``) that the grader re-executes.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import CheckFailed, CourseError
from ._frontend import FigureWidget, new_figure


def _validate(questions: Any) -> list[dict[str, Any]]:
    if not isinstance(questions, (list, tuple)) or not questions:
        raise CourseError("Quiz needs a non-empty list of question dicts, e.g. Quiz([{'question': ..., 'options': [...], 'answer': 0, 'explain': ...}]).")
    out = []
    for i, q in enumerate(questions, 1):
        if not isinstance(q, dict) or "question" not in q or "answer" not in q:
            raise CourseError(f"Question {i} must be a dict with at least 'question' and 'answer' keys.")
        q = dict(q)
        q.setdefault("explain", "")
        if "options" in q:
            if not isinstance(q["answer"], int) or not 0 <= q["answer"] < len(q["options"]):
                raise CourseError(f"Question {i}: 'answer' must be the index (0 to {len(q['options']) - 1}) of the right option.")
        else:
            try:
                q["answer"] = float(q["answer"])
                q["tolerance"] = float(q.get("tolerance", 0.0))
            except (TypeError, ValueError) as exc:
                raise CourseError(f"Question {i}: a numeric question needs a number as 'answer' and 'tolerance'.") from exc
        out.append(q)
    return out


class Quiz(FigureWidget):
    """A short quiz shown as the last expression of a cell: ``Quiz([...])``.

    Example:
        >>> quiz = Quiz([{"question": "Output size of a 3x3 conv on 32x32, no padding?", "answer": 30,
        ...               "tolerance": 0, "explain": "32 - 3 + 1 = 30."}])
        >>> quiz.answer(0, 30); quiz.score()
        1
    """

    def __init__(self, questions: list[dict[str, Any]]) -> None:
        import ipywidgets as widgets

        self.questions = _validate(questions)
        self.answers: list[Any] = [None] * len(self.questions)
        self._inputs: list[Any] = []
        self._feedback: list[Any] = []
        rows = []
        for i, q in enumerate(self.questions):
            title = widgets.HTML(f"<b>{i + 1}. {_esc(q['question'])}</b>")
            feedback = widgets.HTML()
            if "options" in q:
                control = widgets.RadioButtons(options=[(str(o), k) for k, o in enumerate(q["options"])], value=None,
                                               layout=widgets.Layout(width="auto"))
                control.observe(lambda change, i=i: self.answer(i, change["new"]), "value")
                rows.append(widgets.VBox([title, control, feedback]))
            else:
                control = widgets.Text(placeholder="type a number", layout=widgets.Layout(width="160px"))
                button = widgets.Button(description="Check")
                button.on_click(lambda _b, i=i, control=control: self.answer(i, control.value))
                rows.append(widgets.VBox([title, widgets.HBox([control, button]), feedback]))
            self._inputs.append(control)
            self._feedback.append(feedback)
        self.view = widgets.VBox(rows)
        self.fig = None  # built lazily for the static fallback only

    def is_correct(self, i: int) -> bool:
        """Whether question ``i`` (0-based) is answered correctly."""
        q, a = self.questions[i], self.answers[i]
        if a is None:
            return False
        if "options" in q:
            return a == q["answer"]
        return math.isfinite(a) and abs(a - q["answer"]) <= q["tolerance"] + 1e-9 * max(1.0, abs(q["answer"]))

    def answer(self, i: int, value: Any) -> bool | None:
        """Record an answer for question ``i`` (option index, or a number / numeric text) and show the feedback."""
        q = self.questions[i]
        fb = self._feedback[i]
        if value is None or (isinstance(value, str) and not value.strip()):
            self.answers[i] = None
            fb.value = ""
            return None
        if "options" not in q:
            try:
                value = float(value)
            except (TypeError, ValueError):
                self.answers[i] = None
                fb.value = f'<span style="color:#b00020">⚠️ {_esc(str(value))!s} is not a number; type digits such as 30 or 0.5.</span>'
                return None
        else:
            value = int(value)
            if self._inputs[i].value != value:
                self._inputs[i].value = value
        self.answers[i] = value
        ok = self.is_correct(i)
        mark = '<span style="color:#1a7f37">✓ Correct.</span>' if ok else '<span style="color:#b00020">✗ Not quite.</span>'
        fb.value = f"{mark} {_esc(q['explain'])}"
        return ok

    def score(self) -> int:
        """Number of questions answered correctly."""
        return sum(self.is_correct(i) for i in range(len(self.questions)))

    def check(self) -> None:
        """Raise :class:`CheckFailed` listing the questions not yet answered correctly; print ✓ when all are."""
        wrong = [str(i + 1) for i in range(len(self.questions)) if not self.is_correct(i)]
        if wrong:
            raise CheckFailed(f"Quiz: question(s) {', '.join(wrong)} not answered correctly yet; pick an answer above and re-run this cell.")
        print(f"✓ quiz: all {len(self.questions)} answers correct")

    def png(self) -> bytes:
        from ._frontend import figure_png

        if self.fig is None:
            self.fig = self._static_figure()
        return figure_png(self.fig)

    def _static_figure(self) -> Any:
        import textwrap

        lines: list[tuple[str, dict]] = []
        for i, q in enumerate(self.questions):
            for part in textwrap.wrap(f"{i + 1}. {q['question']}", 90):
                lines.append((part, {"weight": "bold"}))
            if "options" in q:
                for k, o in enumerate(q["options"]):
                    lines.append((f"     ({chr(97 + k)}) {o}", {}))
            else:
                lines.append(("     answer: a number", {"style": "italic"}))
        height = 0.3 + 0.24 * len(lines)
        fig = new_figure(8.0, height, dpi=80)
        for n, (text, kw) in enumerate(lines):
            fig.text(0.02, 1 - (0.15 + 0.24 * n + 0.12) / height, text, va="center", fontsize=10, **kw)
        return fig

    def _summary(self) -> str:
        return f"Quiz({len(self.questions)} questions; answered {sum(a is not None for a in self.answers)}, correct {self.score()})"


def _esc(text: str) -> str:
    import html

    return html.escape(str(text))
