"""nbgrader's ``OverwriteCells`` as the course needs it: quiet for honest hand-ins, robust to copied cells.

``nbgrader generate_assignment`` records each locked cell in the gradebook
*with* its hidden tests (it must: autograding runs them) and releases it
*without* them. At autograding, nbgrader's ``OverwriteCells`` compares every
locked cell of a hand-in with the gradebook's checksum, which can never match a
cell that had hidden tests, so every honest hand-in printed
``Attribute 'checksum' for cell test_... has changed!`` once per test cell.

:class:`RestoreHiddenTests` (configured in ``nbgrader_config.py``) first
compares a locked cell's source with the cell *as released*: the gradebook's
source with the hidden tests removed by nbgrader's own ``ClearHiddenTests``.
When they match, it puts the gradebook's source (hidden tests included) back
first, so nbgrader's checksum (``compute_checksum``) then matches and nothing
is printed; when they do not (a learner edited a locked cell), nbgrader's
warning is printed and the cell is restored as before. The other parts of the
checksum (cell type, locked, points) keep nbgrader's own checks and warnings. The gradebook and the released notebooks are not
changed, so nothing needs regenerating.

It also fixes a crash: a hand-in in which a graded cell appears twice (a copied
cell keeps its nbgrader ``grade_id``) has all copies but the last stripped of
their nbgrader metadata by ``DeduplicateIds``, and nbgrader's own
``add_missing_task_cells`` then raised ``KeyError: 'grade_id'`` on them and
wrote no autograded notebook. Here such a hand-in is graded with the last copy.

Example (what ``nbgrader_config.py`` sets)::

    c.Autograde.sanitize_preprocessors = [..., "course_utils.grading.sanitize.RestoreHiddenTests", ...]
"""

from __future__ import annotations

from typing import Any

from nbformat import NotebookNode
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, OverwriteCells


def released_source(source_cell: Any, hidden: ClearHiddenTests) -> str | None:
    """The gradebook's source of a locked cell with its hidden tests removed: the cell as released.

    None when the recorded source cannot be read (unbalanced hidden-test markers).
    """
    released = NotebookNode(cell_type=source_cell.cell_type, source=source_cell.source, metadata={})
    try:
        hidden._remove_hidden_test_region(released)
    except RuntimeError:
        return None
    return released.source


class RestoreHiddenTests(OverwriteCells):
    """``OverwriteCells`` that restores hidden tests without a warning when a locked cell is unchanged."""

    def preprocess_cell(self, cell: Any, resources: dict, cell_index: int) -> tuple[Any, dict]:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None:
            try:
                source_cell = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
            except MissingEntry:
                source_cell = None
            if source_cell is not None and source_cell.locked and source_cell.source != cell.source:
                if released_source(source_cell, ClearHiddenTests(parent=self)) == cell.source:
                    cell.source = source_cell.source  # the cell as released: put its hidden tests back
        return super().preprocess_cell(cell, resources, cell_index)

    def add_missing_task_cells(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        # nbgrader's version reads metadata.nbgrader.grade_id of every cell with nbgrader metadata, and
        # DeduplicateIds leaves an empty dict on all but the last copy of a duplicated cell.
        for cell in nb.cells:
            if "nbgrader" in cell.metadata and "grade_id" not in cell.metadata["nbgrader"]:
                del cell.metadata["nbgrader"]
        return super().add_missing_task_cells(nb, resources)
