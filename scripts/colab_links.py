"""Write the course's repository address into every notebook's Colab badge and Colab install line.

The address and the published version are set in one place, ``[tool.course]`` in
``pyproject.toml``::

    [tool.course]
    repository = "https://github.com/cnn-course/cnn-course"
    ref = "v0.1.0"

and this script writes them into the notebooks (``make release`` runs it before
nbgrader, ``make book`` reads the same two values for the site's launch buttons):

- the "Open in Colab" badge of a chapter opens the student notebook at ``ref``:
  ``https://colab.research.google.com/github/<owner>/<name>/blob/<ref>/notebooks/NN_topic/NN_topic.ipynb``;
- the setup cell's Colab install takes ``course_utils`` from the same ``ref``:
  ``%pip install --quiet "course_utils @ git+https://github.com/<owner>/<name>@<ref>"``,
  so a learner in Colab gets the helpers the notebook was written for, never the
  moving ``main``.

    python scripts/colab_links.py            # rewrite solutions/, notebooks/ and jupyter-book/*.ipynb
    python scripts/colab_links.py --check    # list every badge or install line that disagrees (exit 1 if any)
    python scripts/colab_links.py --root COURSE --chapter 01_convolution   # one chapter of another copy

Only the badge's link and the install line's address are changed; the rest of
every notebook (cell ids, metadata, nbgrader's fields) is written back as it was.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
# [![Open in Colab](<badge image>)](https://colab.research.google.com/github/...)
BADGE_RE = re.compile(
    r"(\[!\[Open in Colab\]\(" + re.escape(BADGE_IMAGE) + r"\)\]\()(https://colab\.research\.google\.com/[^)\s]*)(\))"
)
# "course_utils @ git+https://host/owner/name[@ref]" inside the setup cell's %pip install
INSTALL_RE = re.compile(r"(course_utils\s*@\s*)(git\+[^\"'\s]+)")
GITHUB_RE = re.compile(r"^https://github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$")
MOVING_REFS = {"main", "master", "head", "trunk", "develop"}


class LinkError(Exception):
    """A configuration problem, said in one sentence."""


@dataclass(frozen=True)
class CourseAddress:
    """Where the course is published: ``repository`` (a GitHub URL) and the ``ref`` learners get."""

    repository: str
    ref: str

    @property
    def owner_and_name(self) -> str:
        match = GITHUB_RE.match(self.repository)
        assert match, self.repository  # checked by course_address()
        return f"{match.group(1)}/{match.group(2)}"

    def colab_url(self, path: str) -> str:
        """The Colab address that opens ``path`` (relative to the repository root) at ``ref``."""
        return f"https://colab.research.google.com/github/{self.owner_and_name}/blob/{self.ref}/{path}"

    @property
    def install_target(self) -> str:
        """What follows ``course_utils @`` in the Colab install line."""
        return f"git+https://github.com/{self.owner_and_name}@{self.ref}"


def course_address(pyproject: Path = ROOT / "pyproject.toml") -> CourseAddress:
    """Read ``[tool.course] repository`` and ``ref`` from ``pyproject`` and check them."""
    try:
        data = tomllib.loads(pyproject.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LinkError(f"{pyproject} could not be read ({exc}).") from exc
    section = data.get("tool", {}).get("course", {})
    repository, ref = section.get("repository"), section.get("ref")
    if not repository or not ref:
        raise LinkError(
            f'{pyproject} needs [tool.course] with `repository` and `ref` (the tag learners get, e.g. "v0.1.0").'
        )
    if not GITHUB_RE.match(repository):
        raise LinkError(
            f"[tool.course] repository = {repository!r} is not a https://github.com/OWNER/NAME address; "
            "Colab opens notebooks from GitHub only."
        )
    if ref.lower() in MOVING_REFS or not re.fullmatch(r"[A-Za-z0-9_.\-/]+", ref):
        raise LinkError(
            f'[tool.course] ref = {ref!r} is not a tag or commit; set it to the tag you publish (e.g. "v0.1.0"), '
            "so Colab learners get the helpers their notebook was written for."
        )
    return CourseAddress(repository.rstrip("/").removesuffix(".git"), ref)


def notebooks_to_link(root: Path, chapters: list[str] | None = None) -> list[tuple[Path, str]]:
    """Every notebook to rewrite under ``root``, with the repository path its badge should open.

    A chapter's source ``solutions/NN/NN.ipynb`` and its release ``notebooks/NN/NN.ipynb``
    both open the release; a book page ``jupyter-book/<name>.ipynb`` opens itself.
    """
    found: list[tuple[Path, str]] = []
    for folder in ("solutions", "notebooks"):
        for nb in sorted(root.glob(f"{folder}/[0-9][0-9]_*/[0-9][0-9]_*.ipynb")):
            chapter = nb.parent.name
            if nb.stem == chapter and (chapters is None or chapter in chapters):
                found.append((nb, f"notebooks/{chapter}/{chapter}.ipynb"))
    if chapters is None:
        for nb in sorted(root.glob("jupyter-book/*.ipynb")):
            found.append((nb, f"jupyter-book/{nb.name}"))
    return found


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def link_problems(nb: dict, path_in_repo: str, address: CourseAddress) -> list[str]:
    """Every badge or install line of ``nb`` that disagrees with ``address`` (empty when all agree)."""
    problems: list[str] = []
    want_badge, want_install = address.colab_url(path_in_repo), address.install_target
    for index, cell in enumerate(nb.get("cells", [])):
        text = _source(cell)
        for match in BADGE_RE.finditer(text):
            if match.group(2) != want_badge:
                problems.append(f"cell {index}: the Colab badge opens {match.group(2)}, not {want_badge}")
        for match in INSTALL_RE.finditer(text):
            if match.group(2) != want_install:
                problems.append(f"cell {index}: the Colab install takes {match.group(2)}, not {want_install}")
    return problems


def rewrite(nb: dict, path_in_repo: str, address: CourseAddress) -> dict:
    """``nb`` with every badge and install line set to ``address`` (changes ``nb`` in place and returns it)."""
    badge, install = address.colab_url(path_in_repo), address.install_target
    for cell in nb.get("cells", []):
        text = _source(cell)
        new = BADGE_RE.sub(lambda m: m.group(1) + badge + m.group(3), text)
        new = INSTALL_RE.sub(lambda m: m.group(1) + install, new)
        if new != text:
            cell["source"] = new if isinstance(cell.get("source"), str) else new.splitlines(keepends=True)
    return nb


def _dump(nb: dict) -> str:
    # nbformat's own layout (indent 1, non-ASCII kept, trailing newline), so an unchanged cell stays byte for byte
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--root", type=Path, default=Path.cwd(), help="the course folder to rewrite (default: the current folder)"
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=ROOT / "pyproject.toml",
        help="the pyproject.toml with [tool.course] (default: this repository's)",
    )
    parser.add_argument(
        "--chapter",
        action="append",
        help="only this chapter (repeatable); default: every chapter and the book's notebooks",
    )
    parser.add_argument(
        "--check", action="store_true", help="change nothing; list disagreements and exit 1 if there are any"
    )
    args = parser.parse_args(argv)
    try:
        address = course_address(args.config)
    except LinkError as exc:
        print(f"colab_links: {exc}", file=sys.stderr)
        return 1
    targets = notebooks_to_link(args.root, args.chapter)
    changed, disagreements = [], []
    for path, in_repo in targets:
        text = path.read_text()
        nb = json.loads(text)
        problems = link_problems(nb, in_repo, address)
        if args.check:
            disagreements += [f"{path.relative_to(args.root)} {p}" for p in problems]
        elif problems:
            path.write_text(_dump(rewrite(nb, in_repo, address)))
            changed.append(str(path.relative_to(args.root)))
    if args.check:
        for line in disagreements:
            print(line)
        if disagreements:
            print(
                f"colab_links: {len(disagreements)} link(s) disagree with [tool.course] in {args.config}; "
                "run `python scripts/colab_links.py` (make release does) to rewrite them.",
                file=sys.stderr,
            )
        return 1 if disagreements else 0
    where = f"{address.repository} @ {address.ref}"
    print(
        f"==> Colab links: {len(changed)} of {len(targets)} notebook(s) rewritten for {where}"
        + (f": {', '.join(changed)}" if changed else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
