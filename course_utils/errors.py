"""Errors a learner can cause, shown as one clear sentence instead of a traceback.

IPython looks for a ``_render_traceback_`` method on an exception and, when it
finds one, prints what it returns instead of the usual traceback. Both classes
here use that hook, so a learner sees the sentence that tells them what to do,
not twenty lines from inside ``course_utils``. Outside IPython (plain Python,
pytest) they behave like ordinary exceptions.
"""

from __future__ import annotations


class CourseError(RuntimeError):
    """A problem the learner can fix (missing data, no GPU, wrong argument).

    Example:
        >>> raise CourseError("No GPU was found: in Colab choose Runtime > Change runtime type > GPU.")
    """

    icon = "⚠️"

    def _render_traceback_(self) -> list[str]:
        return [f"{self.icon} {type(self).__name__}: {self}"]


class CheckFailed(AssertionError):
    """A learner's answer did not pass a check; the message says what differs.

    It is an ``AssertionError`` so nbgrader counts the test cell as failed.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"❌ {self}"]
