"""One repository address and one published ref, set in pyproject.toml [tool.course], in every Colab link.

scripts/colab_links.py writes them into every chapter's "Open in Colab" badge and
every Colab install line (`make release` runs it before nbgrader); the site takes
them from the same place (scripts/build_book.py). These tests check the
configuration, that every notebook agrees with it, and that the script rewrites
exactly those links and nothing else.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import colab_links  # noqa: E402  (scripts/colab_links.py)

ADDRESS = colab_links.course_address()
FIX = "run `make release` (it runs scripts/colab_links.py) and commit solutions/, notebooks/ and jupyter-book/"


def test_the_address_is_set_once_with_a_pinned_ref():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert ADDRESS.repository.startswith("https://github.com/")
    assert ADDRESS.ref.lower() not in colab_links.MOVING_REFS
    assert pyproject["tool"]["course"]["repository"] == ADDRESS.repository
    assert (ROOT / "pyproject.toml").read_text().count(ADDRESS.repository) == 1, (
        "pyproject.toml names the repository twice"
    )
    version = pyproject["project"]["version"]
    assert ADDRESS.ref == f"v{version}" or re.fullmatch(r"[0-9a-f]{7,40}", ADDRESS.ref), (
        f"[tool.course] ref = {ADDRESS.ref!r}: publish version {version} as the tag v{version} (or pin a commit)"
    )
    config = (ROOT / "jupyter-book" / "_config.yml").read_text()
    assert "github.com" not in config, (
        "jupyter-book/_config.yml names a repository; it comes from pyproject.toml [tool.course]"
    )
    readme = (ROOT / "README.md").read_text()
    assert "[tool.course]" in readme and "_config.yml" not in readme, "the README must say where the address is set"


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"repository": "https://github.com/a/b", "ref": "main"}, "not a tag or commit"),
        ({"repository": "https://gitlab.com/a/b", "ref": "v1"}, "github.com/OWNER/NAME"),
        ({"repository": "https://github.com/a/b"}, "needs [tool.course]"),
    ],
)
def test_a_moving_ref_or_a_non_github_address_is_refused_in_one_sentence(tmp_path, bad, words):
    lines = [f'{k} = "{v}"' for k, v in bad.items()]
    (tmp_path / "pyproject.toml").write_text("[tool.course]\n" + "\n".join(lines) + "\n")
    with pytest.raises(colab_links.LinkError, match=words.replace("[", r"\[").replace("]", r"\]")):
        colab_links.course_address(tmp_path / "pyproject.toml")


def _notebooks():
    return colab_links.notebooks_to_link(ROOT)


def test_every_chapter_has_one_badge_and_one_colab_install():
    found = _notebooks()
    assert any(p.parts[-3] == "solutions" for p, _ in found) and any(p.parts[-3] == "notebooks" for p, _ in found)
    for path, _ in found:
        text = "".join(
            c["source"] if isinstance(c["source"], str) else "".join(c["source"])
            for c in json.loads(path.read_text())["cells"]
        )
        installs = len(colab_links.INSTALL_RE.findall(text))
        assert installs == 1, (
            f"{path.relative_to(ROOT)} has {installs} Colab install lines (course_utils @ git+...), expected one"
        )
        if path.parts[-3] in ("solutions", "notebooks"):
            badges = len(colab_links.BADGE_RE.findall(text))
            assert badges == 1, f"{path.relative_to(ROOT)} has {badges} Open in Colab badges, expected one"


@pytest.mark.parametrize(
    "path, in_repo", _notebooks(), ids=lambda v: str(v.relative_to(ROOT)) if isinstance(v, Path) else ""
)
def test_every_badge_and_install_line_agrees_with_pyproject(path, in_repo):
    problems = colab_links.link_problems(json.loads(path.read_text()), in_repo, ADDRESS)
    assert not problems, "\n  ".join(
        [f"{path.relative_to(ROOT)} disagrees with [tool.course] in pyproject.toml:", *problems, FIX]
    )


def _course_copy(tmp_path: Path) -> Path:
    course = tmp_path / "course"
    for folder in ("solutions", "notebooks"):
        shutil.copytree(
            ROOT / folder, course / folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
        )
    (course / "jupyter-book").mkdir()
    shutil.copy2(ROOT / "jupyter-book" / "widget_gallery.ipynb", course / "jupyter-book")
    return course


def _set_links(course: Path, address: colab_links.CourseAddress) -> None:
    for path, in_repo in colab_links.notebooks_to_link(course):
        path.write_text(colab_links._dump(colab_links.rewrite(json.loads(path.read_text()), in_repo, address)))


def test_the_script_rewrites_the_links_and_nothing_else(tmp_path):
    course = _course_copy(tmp_path)
    other = colab_links.CourseAddress("https://github.com/someone/elsewhere", "v9.9.9")
    _set_links(course, other)  # the notebooks as if published elsewhere
    before = {p: json.loads(p.read_text()) for p, _ in colab_links.notebooks_to_link(course)}
    script = [sys.executable, str(ROOT / "scripts" / "colab_links.py"), "--root", str(course)]

    check = subprocess.run([*script, "--check"], capture_output=True, text=True)
    assert check.returncode == 1 and "someone/elsewhere" in check.stdout, check.stdout + check.stderr
    run = subprocess.run(script, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert subprocess.run([*script, "--check"], capture_output=True, text=True).returncode == 0

    for path, in_repo in colab_links.notebooks_to_link(course):
        after = json.loads(path.read_text())
        assert not colab_links.link_problems(after, in_repo, ADDRESS)
        old = copy.deepcopy(before[path])
        assert [c.get("id") for c in after["cells"]] == [c.get("id") for c in old["cells"]]
        assert [c["metadata"] for c in after["cells"]] == [c["metadata"] for c in old["cells"]]
        text = colab_links._source
        changed = [i for i, (a, b) in enumerate(zip(after["cells"], old["cells"])) if a["source"] != b["source"]]
        assert changed, f"{path}: nothing was rewritten"
        for i in changed:  # only the badge and the install line changed, line for line
            new_lines, old_lines = text(after["cells"][i]).splitlines(), text(old["cells"][i]).splitlines()
            assert len(new_lines) == len(old_lines)
            diff = [(x, y) for x, y in zip(new_lines, old_lines) if x != y]
            assert all("someone/elsewhere" in y and ADDRESS.owner_and_name in x for x, y in diff), diff
        assert after["metadata"] == old["metadata"]
    assert subprocess.run(script, capture_output=True, text=True).stdout.startswith("==> Colab links: 0 of"), (
        "a second run changed files"
    )


def test_the_book_takes_the_same_address():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_book_for_url_test", ROOT / "scripts" / "build_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.course_address() == ADDRESS


@pytest.mark.slow
def test_make_release_writes_the_links(tmp_path):
    """`make release CHAPTER=...` in a copy of the course leaves its source and release agreeing with pyproject."""
    sys.path.insert(0, str(ROOT / "tests" / "grading"))
    import gradetools

    chapter = gradetools.find_chapters()[0]
    course = gradetools.make_course_copy(tmp_path / "course", [chapter], with_release=False)
    source = gradetools.solution_path(chapter, course)
    _set_links(course, colab_links.CourseAddress("https://github.com/someone/elsewhere", "v9.9.9"))
    assert colab_links.link_problems(json.loads(source.read_text()), f"notebooks/{chapter}/{chapter}.ipynb", ADDRESS)
    run = gradetools.run_make(course, "release", f"CHAPTER={chapter}")
    assert run.returncode == 0, run.explain()
    for path in (source, gradetools.release_path(chapter, course)):
        problems = colab_links.link_problems(
            json.loads(path.read_text()), f"notebooks/{chapter}/{chapter}.ipynb", ADDRESS
        )
        assert not problems, problems
