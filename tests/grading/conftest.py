"""The grading stage's one class run, shared by test_corpus.py and test_autograde_roundtrip.py (see classroom.py)."""

from __future__ import annotations

import classroom
import gradetools
import pytest


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> classroom.GradedClass:
    """The whole class released, handed in and graded by `make autograde JOBS=2 && make grades`, once per session."""
    before = gradetools.litter()
    graded = classroom.grade_class(tmp_path_factory.mktemp("class"))
    counts = ", ".join(f"{chapter[:2]}: {n}" for chapter, n in classroom.handin_counts().items())
    gradetools.report(
        request.config,
        f"\n[grading] make release {graded.release.seconds:.1f} s; make autograde JOBS=2 "
        f"(nbgrader + verify) {len(classroom.handins())} hand-ins ({counts}): "
        f"{graded.autograde.seconds:.1f} s; make grades {graded.grades.seconds:.1f} s",
    )
    assert gradetools.litter() == before, "grading in a temporary copy left nbgrader files in the repository"
    request.config.stash[classroom.SESSION_CLASS] = graded
    return graded
