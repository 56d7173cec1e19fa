"""Quiz: a self-check of multiple-choice, numeric and short-text questions with feedback after each attempt.

Quizzes are **not graded**: they are for the learner's own feedback. A chapter
keeps each question readable in its cell but stores the answer and its
explanation as a short encoded ``key``, so a glance at the cell above the
widget does not give the answer away (the encoding is zlib + base64, which
hides the answer from the eye, not from a determined reader; nothing depends
on it staying secret)::

    {"question": str, "options": [str, ...], "key": encode_answer(2, "why ...")}   # multiple choice (0-based)
    {"question": str, "key": encode_answer(608, "why ...", tolerance=0)}            # numeric
    {"question": str, "key": encode_answer(["stride", "the stride"], "why ...")}    # short text (any of these)

``encode_answer`` (or ``python scripts/encode_quiz.py NOTEBOOK``, which rewrites
a notebook's plain ``Quiz`` cells in place) produces the keys. A quiz built in
code may also give plain ``"answer"`` / ``"explain"`` / ``"tolerance"`` entries.

The learner clicks an option, or types a number or a word and presses Enter
(or *Check*), and only then sees right/wrong and the explanation. Neither the
widget's state before an attempt nor the static picture shown without a front
end contains an answer.
"""

from __future__ import annotations

import base64
import json
import math
import zlib
from typing import Any

from ..errors import CourseError
from ._frontend import FigureWidget, new_figure

PREFIX = "cq1."  # version tag of the key format


def encode_answer(answer: Any, explain: str = "", *, tolerance: float | None = None) -> str:
    """The ``key`` a quiz question stores instead of its plain answer and explanation.

    Args:
        answer: the 0-based index of the right option (multiple choice), a number (numeric question), or a
            string / list of strings accepted for a short-text question (compared ignoring case and spaces).
        explain: shown after the learner's first attempt.
        tolerance: for a numeric answer, how far from ``answer`` still counts as right (default 0).

    Example:
        >>> key = encode_answer(30, "32 - 3 + 1 = 30.")
        >>> decode_answer(key)["answer"]
        30
    """
    body: dict[str, Any] = {"answer": answer, "explain": str(explain)}
    if tolerance is not None:
        body["tolerance"] = float(tolerance)
    try:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    except TypeError as exc:
        raise CourseError("encode_answer takes an option index, a number, or text (or a list of texts).") from exc
    return PREFIX + base64.urlsafe_b64encode(zlib.compress(text.encode("utf-8"), 9)).decode("ascii").rstrip("=")


def decode_answer(key: str) -> dict[str, Any]:
    """The ``{"answer": ..., "explain": ..., ["tolerance": ...]}`` stored in a ``key`` (see :func:`encode_answer`)."""
    if not isinstance(key, str) or not key.startswith(PREFIX):
        raise CourseError(
            f"A quiz key starts with {PREFIX!r}; make it with course_utils.widgets.quiz.encode_answer(...)."
        )
    data = key[len(PREFIX) :]
    try:
        body = json.loads(zlib.decompress(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))).decode("utf-8"))
    except (ValueError, zlib.error) as exc:
        raise CourseError(
            "This quiz key is damaged (was it cut when copied?); make it again with encode_answer(...)."
        ) from exc
    if not isinstance(body, dict) or "answer" not in body:
        raise CourseError("This quiz key holds no answer; make it again with encode_answer(...).")
    return body


def _normal_text(text: Any) -> str:
    return " ".join(str(text).lower().split())


def _validate(questions: Any) -> list[dict[str, Any]]:
    if not isinstance(questions, (list, tuple)) or not questions:
        raise CourseError(
            "Quiz needs a non-empty list of question dicts, e.g. "
            "Quiz([{'question': ..., 'options': [...], 'key': encode_answer(0, 'why')}])."
        )
    out = []
    for i, q in enumerate(questions, 1):
        if not isinstance(q, dict) or "question" not in q or ("answer" in q) == ("key" in q):
            raise CourseError(
                f"Question {i} must be a dict with a 'question' and either a 'key' (from encode_answer) or an 'answer'."
            )
        q = dict(q)
        if "key" in q:
            q.update(decode_answer(q.pop("key")))
        q["explain"] = str(q.get("explain", ""))
        answer = q["answer"]
        if "options" in q:
            q["kind"] = "choice"
            if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(q["options"]):
                raise CourseError(
                    f"Question {i}: the answer must be the index (0 to {len(q['options']) - 1}) of the right option."
                )
        elif isinstance(answer, str) or (
            isinstance(answer, (list, tuple)) and answer and all(isinstance(a, str) for a in answer)
        ):
            q["kind"] = "text"
            q["answer"] = [_normal_text(a) for a in ([answer] if isinstance(answer, str) else answer)]
            if not all(q["answer"]):
                raise CourseError(f"Question {i}: a text answer must not be empty.")
        else:
            q["kind"] = "number"
            try:
                q["answer"] = float(answer)
                q["tolerance"] = float(q.get("tolerance", 0.0))
            except (TypeError, ValueError) as exc:
                raise CourseError(f"Question {i}: the answer must be an option index, a number, or text.") from exc
        out.append(q)
    return out


class Quiz(FigureWidget):
    """A short self-check quiz shown as the last expression of a cell: ``Quiz([...])`` (not graded).

    Attributes: ``answers`` (the learner's last attempt per question, ``None`` where unanswered).

    Example:
        >>> quiz = Quiz([{"question": "Output width of a 3x3 conv on 32x32, no padding?",
        ...               "key": encode_answer(30, "32 - 3 + 1 = 30.")}])
        >>> quiz.answer(0, "30"), quiz.score()
        (True, 1)
    """

    def __init__(self, questions: list[dict[str, Any]]) -> None:
        import ipywidgets as widgets

        self.questions = _validate(questions)
        self.answers: list[Any] = [None] * len(self.questions)
        self._inputs: list[Any] = []
        self._feedback: list[Any] = []
        self._quiet = False  # True while answer() puts an attempt given in code into its control
        rows = []
        for i, q in enumerate(self.questions):
            title = widgets.HTML(f"<b>{i + 1}. {_esc(q['question'])}</b>")
            feedback = widgets.HTML()
            if q["kind"] == "choice":
                control = widgets.RadioButtons(
                    options=[(str(o), k) for k, o in enumerate(q["options"])],
                    value=None,
                    layout=widgets.Layout(width="auto"),
                )
                control.observe(lambda change, i=i: None if self._quiet else self._attempt(i, change["new"]), "value")
                rows.append(widgets.VBox([title, control, feedback]))
            else:
                # continuous_update=False: the value reaches the kernel when Enter is pressed (or the box loses focus)
                control = widgets.Text(
                    placeholder="type a number" if q["kind"] == "number" else "type your answer",
                    continuous_update=False,
                    layout=widgets.Layout(width="180px"),
                )
                control.observe(lambda change, i=i: None if self._quiet else self._attempt(i, change["new"]), "value")
                button = widgets.Button(description="Check", layout=widgets.Layout(width="80px"))
                button.on_click(lambda _b, i=i, control=control: self._attempt(i, control.value))
                rows.append(widgets.VBox([title, widgets.HBox([control, button]), feedback]))
            self._inputs.append(control)
            self._feedback.append(feedback)
        self.tally = widgets.HTML()
        self.view = widgets.VBox([*rows, self.tally])
        self.fig = None  # built lazily for the static picture only

    def is_correct(self, i: int) -> bool:
        """Whether the learner's last attempt at question ``i`` (0-based) is right."""
        q, a = self.questions[i], self.answers[i]
        if a is None:
            return False
        if q["kind"] == "choice":
            return a == q["answer"]
        if q["kind"] == "text":
            return _normal_text(a) in q["answer"]
        return math.isfinite(a) and abs(a - q["answer"]) <= q["tolerance"] + 1e-9 * max(1.0, abs(q["answer"]))

    def answer(self, i: int, value: Any) -> bool | None:
        """Record an attempt at question ``i`` (option index, number or text), show it in its control, give feedback.

        Returns whether it is right, or ``None`` when nothing usable was given (empty, or not a number).
        """
        if not 0 <= i < len(self.questions):
            raise CourseError(
                f"This quiz has questions 0 to {len(self.questions) - 1} (0-based); there is no question {i}."
            )
        control, q = self._inputs[i], self.questions[i]
        if q["kind"] == "choice":
            shown = None if value is None else int(value)
            if shown is not None and not 0 <= shown < len(q["options"]):
                raise CourseError(
                    f"Question {i} has options 0 to {len(q['options']) - 1} (0-based); {shown} is not one."
                )
        else:
            shown = "" if value is None else str(value).strip()
        if control.value != shown:
            self._quiet = True
            try:
                control.value = shown
            finally:
                self._quiet = False
        return self._attempt(i, value)

    def _attempt(self, i: int, value: Any) -> bool | None:
        """Judge an attempt coming from a control (a click, Enter, *Check*) or from :meth:`answer`."""
        q = self.questions[i]
        fb = self._feedback[i]
        result: bool | None = None
        if value is None or (isinstance(value, str) and not value.strip()):
            self.answers[i] = None
            fb.value = ""
        elif q["kind"] == "number" and not _is_number(value):
            self.answers[i] = None
            fb.value = f'<span style="color:#b00020">⚠️ {_esc(str(value))} is not a number; type digits such as 30 or 0.5.</span>'
        else:
            if q["kind"] == "number":
                self.answers[i] = _to_number(value)
            else:
                self.answers[i] = str(value).strip() if q["kind"] == "text" else int(value)
            result = self.is_correct(i)
            mark = (
                '<span style="color:#1a7f37">✓ Right.</span>'
                if result
                else '<span style="color:#b00020">✗ Not quite.</span>'
            )
            fb.value = f"{mark} {_esc(q['explain'])}"
        tried = sum(a is not None for a in self.answers)
        self.tally.value = f"<i>{self.score()} of {len(self.questions)} right so far.</i>" if tried else ""
        return result

    def score(self) -> int:
        """How many questions the learner has right so far (for the learner's own feedback; nothing is graded)."""
        return sum(self.is_correct(i) for i in range(len(self.questions)))

    def png(self) -> bytes:
        from ._frontend import figure_png

        if self.fig is None:
            self.fig = self._static_figure()
        return figure_png(self.fig)

    def _static_figure(self) -> Any:
        """The questions and their options only: no answer, no explanation (the book and CI show this)."""
        import textwrap

        lines: list[tuple[str, dict]] = []
        for i, q in enumerate(self.questions):
            for part in textwrap.wrap(f"{i + 1}. {q['question']}", 90):
                lines.append((part, {"weight": "bold"}))
            if q["kind"] == "choice":
                for k, o in enumerate(q["options"]):
                    for n, part in enumerate(textwrap.wrap(f"({chr(97 + k)}) {o}", 84)):
                        lines.append((("     " if n == 0 else "         ") + part, {}))
            else:
                lines.append(
                    (f"     answer: {'a number' if q['kind'] == 'number' else 'a word or two'}", {"style": "italic"})
                )
        height = 0.3 + 0.24 * len(lines)
        fig = new_figure(8.0, height, dpi=80)
        for n, (text, kw) in enumerate(lines):
            fig.text(0.02, 1 - (0.15 + 0.24 * n + 0.12) / height, text, va="center", fontsize=10, **kw)
        return fig

    def _summary(self) -> str:
        tried = sum(a is not None for a in self.answers)
        return f"Quiz({len(self.questions)} questions, self-check, not graded; tried {tried}, right {self.score()})"


def _to_number(value: Any) -> float:
    return float(value.strip().replace(",", "")) if isinstance(value, str) else float(value)


def _is_number(value: Any) -> bool:
    try:
        _to_number(value)
    except (TypeError, ValueError):
        return False
    return True


def _esc(text: str) -> str:
    import html

    return html.escape(str(text))
