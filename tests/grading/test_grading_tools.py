"""Fast tests of the grading run's pieces, without kernels: the quiet hidden-test restore, nbgrader's log read
hand-in by hand-in, the split by student, and gradebook / course merging (``python -m course_utils.grading merge``).

The whole pipeline (``make autograde JOBS=2 && make grades`` on a class) runs in test_corpus.py.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_notebook
from nbgrader.api import Gradebook
from nbgrader.preprocessors import DeduplicateIds, OverwriteCells
from nbgrader.utils import compute_checksum

from course_utils.grading.__main__ import main as grading_main
from course_utils.grading.autograde import Outcome, read_log, split_by_student, summary
from course_utils.grading.merge import merge_gradebook
from course_utils.grading.sanitize import RestoreHiddenTests

CH = "90_toy"


@pytest.fixture(autouse=True)
def alembic_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """nbgrader runs `alembic` from PATH when it opens a gradebook (the Makefile puts the environment first too)."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


VISIBLE = '"""Check that f doubles."""\nassert f(2) == 4'
TEST = VISIBLE + "\n### BEGIN HIDDEN TESTS\nassert f(-3) == -6\n### END HIDDEN TESTS"
SOLUTION = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"


def _meta(grade_id: str, *, solution: bool, points: float | None = None) -> dict:
    meta = {
        "grade": points is not None,
        "grade_id": grade_id,
        "locked": not solution,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gradebook as `make release` records the toy chapter (its test cell with hidden tests); made once."""
    path = tmp_path_factory.mktemp("release") / "gradebook.db"
    path_env = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", path_env)
        with Gradebook(f"sqlite:///{path}") as gb:  # a new gradebook runs `alembic` once (seconds)
            gb.add_assignment(CH)
            gb.add_notebook(CH, CH)
            recorded = new_code_cell(TEST, metadata=_meta("test_f", solution=False, points=2.0))
            gb.update_or_create_grade_cell("test_f", CH, CH, max_score=2.0, cell_type="code")
            gb.update_or_create_source_cell(
                "test_f", CH, CH, source=TEST, cell_type="code", locked=True, checksum=compute_checksum(recorded)
            )
            gb.update_or_create_solution_cell("f", CH, CH)
            gb.update_or_create_source_cell(
                "f", CH, CH, source="def f(x):\n    # YOUR CODE HERE", cell_type="code", locked=False
            )
    return path


def _gradebook(released: Path, path: Path, students: dict[str, float] | None = None, *, test: str = "test_f") -> Path:
    """A copy of the released gradebook (its test cell renamed to ``test``: another release), with graded students."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(released, path)
    if test != "test_f":
        with sqlite3.connect(path) as db:
            db.execute("UPDATE base_cell SET name = ? WHERE name = 'test_f'", (test,))
    with Gradebook(f"sqlite:///{path}") as gb:
        for student, score in (students or {}).items():
            gb.update_or_create_student(student)
            gb.add_submission(CH, student)
            gb.find_grade(test, CH, CH, student).auto_score = score
            gb.db.commit()
    return path


def _sanitize(released: Path, tmp_path: Path, cells: list, cls: type = RestoreHiddenTests) -> tuple[list, list[str]]:
    """Run DeduplicateIds and ``cls`` (an OverwriteCells) as nbgrader's autograde does; return cells and warnings."""
    db = _gradebook(released, tmp_path / "gradebook.db")
    records: list[str] = []
    log = logging.getLogger(f"test-sanitize-{tmp_path.name}")
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    log.addHandler(handler)
    resources = {"nbgrader": {"notebook": CH, "assignment": CH, "db_url": f"sqlite:///{db}", "student": "ada"}}
    nb = new_notebook(cells=cells)
    nb, resources = DeduplicateIds(log=log).preprocess(nb, resources)
    nb, resources = cls(log=log, add_missing_cells=True).preprocess(nb, resources)
    return nb.cells, [r for r in records if "has changed" in r]


def _handin(test_source: str = VISIBLE, points: float = 2.0) -> list:
    return [
        new_code_cell("def f(x):\n    return 2 * x", metadata=_meta("f", solution=True)),
        new_code_cell(test_source, metadata=_meta("test_f", solution=False, points=points)),
    ]


def test_released_test_cell_gets_hidden_tests_back_without_a_warning(released: Path, tmp_path: Path) -> None:
    cells, warnings = _sanitize(released, tmp_path, _handin())
    assert warnings == []
    assert cells[1].source == TEST, "the hidden tests were not restored"


def test_nbgrader_alone_warns_for_every_honest_test_cell(released: Path, tmp_path: Path) -> None:
    """What the course's preprocessor fixes: nbgrader's own OverwriteCells warns on the untouched release."""
    _, warnings = _sanitize(released, tmp_path, _handin(), cls=OverwriteCells)
    assert any("Attribute 'checksum' for cell test_f has changed" in w for w in warnings)


def test_edited_locked_cell_still_warns_and_is_restored(released: Path, tmp_path: Path) -> None:
    cells, warnings = _sanitize(released, tmp_path, _handin('"""Check nothing."""\npass'))
    assert any("Attribute 'checksum' for cell test_f has changed" in w for w in warnings), warnings
    assert cells[1].source == TEST


def test_changed_points_warn_about_points_only(released: Path, tmp_path: Path) -> None:
    cells, warnings = _sanitize(released, tmp_path, _handin(points=100))
    assert [w.split(" for cell")[0] for w in warnings] == ["Attribute 'points'"], warnings
    assert cells[1].metadata["nbgrader"]["points"] == 2.0 and cells[1].source == TEST


def test_copied_graded_cell_is_graded_with_its_last_copy(released: Path, tmp_path: Path) -> None:
    cells = _handin()
    copied = [new_code_cell("def f(x):\n    return 0", metadata=_meta("f", solution=True)), *cells]
    with pytest.raises(KeyError, match="grade_id"):  # nbgrader's own OverwriteCells: the crash of a whole hand-in
        _sanitize(released, tmp_path / "nbgrader", [c.copy() for c in copied], cls=OverwriteCells)
    out, warnings = _sanitize(released, tmp_path, copied)
    assert "nbgrader" not in out[0].metadata and out[1].metadata["nbgrader"]["grade_id"] == "f"
    assert warnings == []


# An `nbgrader autograde --log-level=INFO` log, shortened (paths, traceback frames) but in nbgrader's order:
# the per-student failure lines come at the end of the run.
LOG = """[AutogradeApp | INFO] Sanitizing /c/.autograde-work/w0/submitted/ada/01_conv/01_conv.ipynb
[AutogradeApp | WARNING] Attribute 'checksum' for cell test_loops has changed! (should be: 1, got: 2)
[AutogradeApp | WARNING] Cell with id 'conv' exists multiple times!
[AutogradeApp | INFO] Writing 100 bytes to /c/.autograde-work/w0/autograded/ada/01_conv/01_conv.ipynb
[AutogradeApp | INFO] Copying /c/.autograde-work/w0/submitted/bob/01_conv/torch.py -> /c/x/torch.py
[AutogradeApp | INFO] Sanitizing /c/.autograde-work/w0/submitted/bob/01_conv/01_conv.ipynb
[AutogradeApp | ERROR] There was an error processing assignment: /c/.autograde-work/w0/submitted/bob/01_conv
[AutogradeApp | ERROR] Traceback (most recent call last):
      File "/x/nbclient/client.py", line 1009, in async_execute_cell
        raise DeadKernelError("Kernel died") from None
    nbclient.exceptions.DeadKernelError: Kernel died

[AutogradeApp | WARNING] Removing failed assignment: /c/.autograde-work/w0/autograded/bob/01_conv
[AutogradeApp | INFO] Creating/updating student with ID 'cy': {}
[AutogradeApp | WARNING] Skipping unknown notebook: /c/.autograde-work/w0/submitted/cy/01_conv/Copy of it.ipynb
[AutogradeApp | ERROR] No notebooks found, did you forget to run 'nbgrader generate_assignment'?
[AutogradeApp | ERROR] There was an error processing assignment: /c/.autograde-work/w0/submitted/cy/01_conv
[AutogradeApp | ERROR] Traceback (most recent call last):
    nbgrader.converters.base.NbGraderException: No notebooks found, did you forget to run 'nbgrader generate_assignment'?

[AutogradeApp | INFO] Sanitizing /c/.autograde-work/w0/submitted/dee/01_conv/01_conv.ipynb
[AutogradeApp | INFO] Sanitizing /c/.autograde-work/w0/submitted/eve/01_conv/01_conv.ipynb
[AutogradeApp | ERROR] There was an error processing assignment: /c/.autograde-work/w0/submitted/eve/01_conv
    KeyError: 'grade_id'
[AutogradeApp | ERROR] There was an error processing assignment '01_conv' for student 'bob'
[AutogradeApp | ERROR] There was an error processing assignment '01_conv' for student 'cy'
[AutogradeApp | ERROR] There was an error processing assignment '01_conv' for student 'eve'
[AutogradeApp | ERROR] There was an error processing assignment '01_conv' for student 'fay'
"""


def test_log_is_read_hand_in_by_hand_in() -> None:
    found = read_log(LOG)
    assert found[("ada", "01_conv")].notes == [
        "locked cell test_loops edited (nbgrader ran the original)",
        "cell conv appears more than once (graded: its last copy)",
    ]
    assert not found[("ada", "01_conv")].reason
    assert found[("bob", "01_conv")].reason == "the kernel died (DeadKernelError: Kernel died)"
    assert found[("bob", "01_conv")].notes == []  # "Removing failed assignment" is the failure itself
    assert found[("cy", "01_conv")].reason == "no 01_conv.ipynb in the hand-in"
    assert found[("cy", "01_conv")].notes == ["a notebook named 'Copy of it.ipynb', not the chapter's name"]
    assert found[("eve", "01_conv")].reason == "nbgrader crashed on it (KeyError: 'grade_id')"
    assert found[("fay", "01_conv")].reason == "nbgrader stopped on it (see autograde.log)"
    assert ("dee", "01_conv") not in found  # nothing to say about an uneventful hand-in
    lines = summary(
        [
            Outcome("bob", "01_conv", reason=found[("bob", "01_conv")].reason),
            Outcome("dee", "01_conv", status="graded"),
        ],
        60.0,
        2,
    )
    assert lines[0].startswith("autograde: 1 of 2 hand-in(s) graded by nbgrader in 60 s with 2 process(es)")
    assert lines[1:] == [
        "  bob 01_conv: not graded by nbgrader: the kernel died (DeadKernelError: Kernel died); "
        "verification still grades it"
    ]


def test_students_are_split_evenly_and_never_across_processes() -> None:
    handins = [(s, ch) for s in "abcde" for ch in ("01", "02")] + [("f", "01")]
    groups = split_by_student(handins, 3)
    assert sorted(h for g in groups for h in g) == sorted(handins)
    owners = [{s for s, _ in g} for g in groups]
    assert all(not (a & b) for i, a in enumerate(owners) for b in owners[i + 1 :]), owners
    assert max(map(len, groups)) - min(map(len, groups)) <= 2
    assert len(split_by_student(handins[:2], 8)) == 1  # never more processes than students


def _scores(db: Path) -> dict[str, float]:
    with Gradebook(f"sqlite:///{db}") as gb:
        return {s.student.id: s.score for s in gb.find_assignment(CH).submissions}


def test_merge_gradebook_copies_only_the_chosen_handins(released: Path, tmp_path: Path) -> None:
    worker = _gradebook(released, tmp_path / "worker.db", {"ada": 2.0, "bob": 0.0})
    course = _gradebook(released, tmp_path / "course.db", {"bob": 1.0, "cy": 2.0})
    assert merge_gradebook(worker, course, {("ada", CH)}) == [("ada", CH)]
    assert _scores(course) == {"ada": 2.0, "bob": 1.0, "cy": 2.0}
    merge_gradebook(worker, course)
    assert _scores(course) == {"ada": 2.0, "bob": 0.0, "cy": 2.0}


def test_merge_refuses_a_gradebook_of_another_release(released: Path, tmp_path: Path) -> None:
    other = _gradebook(
        released, tmp_path / "other.db", {"ada": 2.0}, test="test_g"
    )  # a release whose test cell is another
    course = _gradebook(released, tmp_path / "course.db")
    with pytest.raises(SystemExit, match="different releases"):
        merge_gradebook(other, course)


def test_merge_command_joins_classes_graded_on_two_machines(
    released: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    for folder, students in ((here, {"ada": 2.0}), (there, {"bob": 1.0})):
        folder.mkdir()
        _gradebook(released, folder / "gradebook.db", students)
        rows = [
            {"student": s, "chapter": CH, "verified": v, "nbgrader": v, "max_score": 2.0, "flags": [], "exercises": []}
            for s, v in students.items()
        ]
        (folder / "verification.json").write_text(json.dumps(rows))
        (folder / "autograded" / next(iter(students)) / CH).mkdir(parents=True)
        (folder / "autograded" / next(iter(students)) / CH / f"{CH}.ipynb").write_text("{}")
    assert grading_main(["merge", str(there), "--into", str(here)]) == 0
    assert "1 submission(s) into gradebook.db, 1 autograded folder(s), 1 verified grade(s)" in capsys.readouterr().out
    assert _scores(here / "gradebook.db") == {"ada": 2.0, "bob": 1.0}
    assert {r["student"] for r in json.loads((here / "verification.json").read_text())} == {"ada", "bob"}
    assert (here / "autograded" / "bob" / CH / f"{CH}.ipynb").is_file()
    assert grading_main(["grades", str(here), "--csv", str(here / "grades.csv")]) == 0
    assert (here / "grades.csv").read_text().splitlines()[1:] == [f"ada,{CH},2,2,2,", f"bob,{CH},1,2,1,"]


def test_autograde_fails_only_when_grading_cannot_be_done(released: Path, tmp_path: Path) -> None:
    """No gradebook, no hand-in, a chapter never released: the whole run cannot be graded (exit 1, one sentence)."""
    from course_utils.grading.autograde import autograde

    with pytest.raises(SystemExit, match="no gradebook.db: run `make release` first"):
        autograde(tmp_path)
    shutil.copy2(released, tmp_path / "gradebook.db")
    with pytest.raises(SystemExit, match="no hand-ins"):
        autograde(tmp_path)
    (tmp_path / "submitted" / "ada" / "01_other").mkdir(parents=True)
    with pytest.raises(SystemExit, match="01_other not in gradebook.db"):
        autograde(tmp_path)
