"""Cells of an instructor source and of a submission, and integrity flags for a submission.

Only the learner's *solution* cells (found by their nbgrader ``grade_id``) are
ever run by the verifier, after the instructor's own setup cell taken from
``solutions/``. Cells a learner added, edited test cells and the submission's
setup cell are never run: an added cell is the easiest place to monkeypatch
torch or the checks, and verification must not depend on it. They are reported
as flags instead.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import nbformat


def nbgrader_meta(cell: Any) -> dict:
    return dict(cell.get("metadata", {}).get("nbgrader", {}) or {})


def read(path: Path) -> nbformat.NotebookNode:
    """Read a notebook without validating it (a learner's file may be odd); raises ValueError when unreadable."""
    try:
        with warnings.catch_warnings():  # duplicated cell ids are reported as a flag (raw_cell_ids), not a warning
            warnings.simplefilter("ignore")
            return nbformat.read(str(path), as_version=4)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one outcome
        raise ValueError(f"{path.name} is not a readable notebook ({type(exc).__name__})") from exc


def to_python(source: str) -> str:
    """Cell source with IPython syntax (``%pip``, ``!ls``) turned into plain Python calls; text only."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def setup_sources(instructor: nbformat.NotebookNode, extra: list[str] | tuple = ()) -> list[str]:
    """The instructor's setup cell (the first code cell) and the cells named in ``extra`` (by id or grade_id)."""
    code = [c for c in instructor.cells if c.cell_type == "code"]
    chosen = code[:1] + [c for c in code[1:] if c.get("id") in extra or nbgrader_meta(c).get("grade_id") in extra]
    return [to_python(c.source) for c in chosen]


def solution_sources(submission: nbformat.NotebookNode, grade_ids: list[str]) -> tuple[list[str], list[str]]:
    """The learner's solution cells for ``grade_ids`` (first match each) and the ids that are missing."""
    sources, missing = [], []
    for gid in grade_ids:
        found = [
            c
            for c in submission.cells
            if c.cell_type == "code" and nbgrader_meta(c).get("grade_id") == gid and nbgrader_meta(c).get("solution")
        ]
        if found:
            sources.append(to_python(found[0].source))
        else:
            missing.append(gid)
    return sources, missing


def test_points(instructor: nbformat.NotebookNode) -> dict[str, float]:
    """Points of every autograder cell, from the instructor's source (never the submission's metadata)."""
    return {
        m["grade_id"]: float(m.get("points", 0))
        for c in instructor.cells
        if (m := nbgrader_meta(c)).get("grade") and not m.get("solution")
    }


def raw_cell_ids(path: Path) -> list[str]:
    """Cell ids exactly as stored (nbformat silently renames duplicates when it reads a notebook)."""
    try:
        return [c.get("id") for c in json.loads(Path(path).read_text()).get("cells", []) if c.get("id")]
    except (OSError, ValueError, AttributeError):
        return []


def integrity_flags(
    submission: nbformat.NotebookNode, release: nbformat.NotebookNode | None, cell_ids: list[str] | None = None
) -> list[str]:
    """What differs from the release in ways a learner should not change (each a short flag).

    ``cell_ids``: the ids as stored in the file (see :func:`raw_cell_ids`); default: the notebook's.
    """
    flags: list[str] = []
    ids = Counter(cell_ids if cell_ids is not None else [c.get("id") for c in submission.cells if c.get("id")])
    if any(n > 1 for n in ids.values()):
        flags.append("duplicate_cell_ids")
    grade_ids = Counter(nbgrader_meta(c).get("grade_id") for c in submission.cells if nbgrader_meta(c).get("grade_id"))
    if any(n > 1 for n in grade_ids.values()):
        flags.append("duplicate_grade_ids")
    if release is None:
        return flags
    # The kernel a learner chose (Colab, a conda environment, another Python 3) is not checked:
    # both graders run the grader's own Python whatever the notebook's kernelspec says.
    sub_cells = {nbgrader_meta(c).get("grade_id"): c for c in submission.cells if nbgrader_meta(c).get("grade_id")}
    for cell in release.cells:
        meta = nbgrader_meta(cell)
        gid = meta.get("grade_id")
        if not gid or not meta.get("locked"):
            continue
        mine = sub_cells.get(gid)
        if mine is None:
            flags.append(f"cell_deleted:{gid}")
            continue
        if mine.source.strip() != cell.source.strip():
            flags.append(f"locked_cell_edited:{gid}")
        if meta.get("grade") and nbgrader_meta(mine).get("points") != meta.get("points"):
            flags.append(f"points_changed:{gid}")
    known = {c.source.strip() for c in release.cells}
    added = [
        c
        for c in submission.cells
        if c.cell_type == "code" and not nbgrader_meta(c) and c.source.strip() and c.source.strip() not in known
    ]
    if added:
        flags.append(f"cells_added:{len(added)}")
    return flags
