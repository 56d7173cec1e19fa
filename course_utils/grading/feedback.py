"""A feedback preprocessor that keeps hidden tests out of the HTML learners receive.

nbgrader restores the hidden tests into the autograded notebooks (it has to run
them), and ``nbgrader generate_feedback`` would render them, and any traceback
through them, into the feedback. ``nbgrader_config.py`` puts
:class:`HideHiddenTests` between nbgrader's own feedback preprocessors: in each
autograder cell it removes the ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN
TESTS`` region and shortens every error to its one-line message (the checks'
messages never show hidden inputs).
"""

from __future__ import annotations

from typing import Any

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

BEGIN, END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"


def strip_hidden(source: str) -> str:
    """``source`` without the lines from BEGIN HIDDEN TESTS to END HIDDEN TESTS (delimiters included)."""
    kept, hidden = [], False
    for line in source.split("\n"):
        if BEGIN in line:
            hidden = True
        elif END in line:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept)


class HideHiddenTests(Preprocessor):
    """Remove hidden-test code and tracebacks from autograder cells before rendering feedback."""

    enabled = Bool(True, help="on by default: nbconvert skips preprocessors that are not enabled").tag(config=True)

    def preprocess_cell(self, cell: Any, resources: dict, index: int) -> tuple[Any, dict]:
        meta = cell.get("metadata", {}).get("nbgrader", {}) or {}
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            cell.source = strip_hidden(cell.source)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources
