"""The student release in notebooks/ is exactly what `make release` makes from solutions/.

`make release` (nbgrader generate_assignment) is run on a temporary copy of the
course, and every chapter's committed notebooks/NN_topic/ is compared with the
fresh one: same files, and in each notebook the same cells (type, source,
metadata including nbgrader's) with no outputs. The committed release must also
give nothing away: no solution code, no hidden tests (nbgrader removes the
hidden-test blocks entirely, delimiters included, and replaces each solution
block with a stub).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "grading"))
import gradetools  # noqa: E402  (shared with tests/grading)
from gradetools import ROOT, chapter_params, read_notebook, release_path, require_chapter, solution_path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbtools import secret_lines  # noqa: E402

CHAPTERS = chapter_params()

# nbgrader's delimiters, matched the way nbgrader matches them (anywhere in a line).
SOLUTION = ("BEGIN SOLUTION", "END SOLUTION")
HIDDEN = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
STUB = "raise NotImplementedError()"  # nbgrader's default code stub for Python


def fix_hint(chapter: str) -> str:
    return (
        f"notebooks/{chapter}/ is generated from solutions/{chapter}/ and never edited by hand: "
        f"run `make release CHAPTER={chapter}` (or `make release` for every chapter) and commit notebooks/{chapter}/."
    )


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A temporary course where `make release` has just regenerated every chapter."""
    chapters = gradetools.find_chapters()
    course = gradetools.make_course_copy(tmp_path_factory.mktemp("course"), chapters, with_release=False)
    if not chapters:
        return course  # every chapter test fails on its own (require_chapter)
    before = gradetools.litter()
    run = gradetools.run_make(course, "release")
    gradetools.report(request.config, f"\n[release] make release for {len(chapters)} chapter(s): {run.seconds:.1f} s")
    assert gradetools.litter() == before, "make release in a temporary copy left nbgrader files in the repository"
    assert run.returncode == 0, run.explain()
    return course


# ---------------------------------------------------------------- comparing notebooks


def notebook_differences(committed: nbformat.NotebookNode, fresh: nbformat.NotebookNode) -> list[str]:
    """Every way the committed release differs from a freshly generated one (empty when in sync)."""
    problems: list[str] = []
    if committed.metadata != fresh.metadata:
        problems.append("notebook metadata (kernelspec, language_info, ...) differs")
    if len(committed.cells) != len(fresh.cells):
        problems.append(f"{len(committed.cells)} cells committed, {len(fresh.cells)} generated")
    for index, (old, new) in enumerate(zip(committed.cells, fresh.cells)):
        name = new.metadata.get("nbgrader", {}).get("grade_id", "")
        where = f"cell {index}" + (f" ({name})" if name else "")
        for field in ("cell_type", "source", "metadata", "outputs"):
            if old.get(field) != new.get(field):
                problems.append(f"{where}: different {field}")
    return problems


def release_leaks(solution: nbformat.NotebookNode, release: nbformat.NotebookNode) -> list[str]:
    """Solution code, hidden tests or delimiters that the release shows (empty when it shows none)."""
    leaks: list[str] = []
    released = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in release.cells}
    for index, cell in enumerate(release.cells):
        for marker in (*SOLUTION, *HIDDEN):
            if marker in cell.source:
                leaks.append(f"release cell {index} contains the delimiter {marker!r}")
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            if STUB not in cell.source:
                leaks.append(f"release cell {index} is an exercise without nbgrader's stub {STUB!r}")
    for cell in solution.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not (meta.get("solution") or meta.get("grade")):
            continue
        grade_id = meta.get("grade_id")
        if grade_id not in released:
            leaks.append(f"exercise or test cell {grade_id!r} is missing from the release")
            continue
        shown = {line.strip() for line in released[grade_id].source.splitlines()}
        for delimiters, what in ((SOLUTION, "solution"), (HIDDEN, "hidden test")):
            for line in sorted(secret_lines(cell.source, *delimiters) & shown):
                leaks.append(f"cell {grade_id!r} shows the {what} line {line!r}")
    return leaks


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".ipynb_checkpoints" not in p.parts and "__pycache__" not in p.parts
    }


# ---------------------------------------------------------------- layout


def test_every_chapter_folder_has_its_notebook() -> None:
    """solutions/NN_topic/ holds NN_topic.ipynb, and notebooks/ has no chapter that solutions/ lacks."""
    assert gradetools.find_chapters(), "no chapter found: expected solutions/NN_topic/NN_topic.ipynb"
    for folder in sorted((ROOT / "solutions").glob("[0-9][0-9]_*")):
        if folder.is_dir():
            assert (folder / f"{folder.name}.ipynb").is_file(), (
                f"{folder} has no {folder.name}.ipynb: a chapter's notebook is named after its folder"
            )
    released = [p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*") if p.is_dir()]
    orphans = sorted(p.name for p in released if not (ROOT / "solutions" / p.name).is_dir())
    assert not orphans, f"notebooks/ has chapters with no source in solutions/: {orphans}; delete them or add sources"


# ---------------------------------------------------------------- per chapter


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_release_is_in_sync_with_solutions(chapter: str, generated: Path) -> None:
    """notebooks/<chapter>/ equals what `make release` generates now, file by file and cell by cell."""
    require_chapter(chapter)
    committed_dir = ROOT / "notebooks" / chapter
    assert release_path(chapter).is_file(), f"{release_path(chapter)} does not exist. " + fix_hint(chapter)
    committed_files = files_under(committed_dir)
    fresh_files = files_under(generated / "notebooks" / chapter)
    assert sorted(committed_files) == sorted(fresh_files), (
        f"notebooks/{chapter}/ holds {sorted(committed_files)}, the release makes {sorted(fresh_files)}. "
        + fix_hint(chapter)
    )
    for name, data in fresh_files.items():
        if not name.endswith(".ipynb"):
            assert committed_files[name] == data, f"notebooks/{chapter}/{name} differs. " + fix_hint(chapter)
    committed = read_notebook(release_path(chapter))
    problems = notebook_differences(committed, read_notebook(release_path(chapter, generated)))
    message = "\n  ".join([f"notebooks/{chapter}/{chapter}.ipynb is out of date:", *problems[:15]])
    assert not problems, f"{message}\n{fix_hint(chapter)}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_release_has_no_outputs(chapter: str) -> None:
    require_chapter(chapter)
    release = read_notebook(release_path(chapter))
    code = [(i, c) for i, c in enumerate(release.cells) if c.cell_type == "code"]
    dirty = [i for i, c in code if c.outputs or c.execution_count is not None]
    assert not dirty, f"notebooks/{chapter}/{chapter}.ipynb has outputs in cells {dirty}. " + fix_hint(chapter)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_release_gives_away_no_solution_and_no_hidden_test(chapter: str) -> None:
    require_chapter(chapter)
    solution = read_notebook(solution_path(chapter))
    graded = [c for c in solution.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert graded, f"solutions/{chapter}/{chapter}.ipynb has no nbgrader exercise cell (metadata nbgrader.solution)"
    leaks = release_leaks(solution, read_notebook(release_path(chapter)))
    assert not leaks, "\n  ".join([f"notebooks/{chapter}/{chapter}.ipynb gives away:", *leaks[:15]])


# ---------------------------------------------------------------- the checks themselves can fail


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_checks_catch_a_hand_edit_and_a_leak(chapter: str, generated: Path) -> None:
    """A hand edit of the release, an output left in it, or the solution itself are all reported."""
    require_chapter(chapter)
    fresh = read_notebook(release_path(chapter, generated))
    edited = nbformat.from_dict(fresh)
    index = next(i for i, c in enumerate(edited.cells) if c.cell_type == "code")
    edited.cells[index].source += "\nprint('edited by hand')"
    edited.cells[index].outputs = [nbformat.v4.new_output("stream", text="hello\n")]
    problems = notebook_differences(edited, fresh)
    assert any("different source" in p for p in problems), problems
    assert any("different outputs" in p for p in problems), problems

    solution = read_notebook(solution_path(chapter))
    leaks = release_leaks(solution, solution)  # the instructor version as if it were released
    assert any("BEGIN SOLUTION" in leak for leak in leaks), leaks
    if any(HIDDEN[0] in c.source for c in solution.cells):
        assert any("hidden test" in leak for leak in leaks), leaks
