"""Build the course site (Jupyter Book 1) from the chapter notebooks in solutions/.

    python scripts/build_book.py                   # smoke mode, solutions behind a toggle
    python scripts/build_book.py --full            # full mode (a GPU machine)
    python scripts/build_book.py --solutions omit  # leave the solutions out

`make book` (and `make book FULL=1`, `make book SOLUTIONS=omit`) call this. Steps:

1. Discover the chapters: every ``solutions/NN_topic/NN_topic.ipynb``.
2. Stage the book in ``jupyter-book/_build/<mode>/src``: a copy of ``jupyter-book/``
   (config, intro, static files), the notebook pages kept in ``jupyter-book/`` (the
   widget gallery) at ``jupyter-book/<name>.ipynb``, plus one page per chapter at
   ``notebooks/NN_topic/NN_topic.ipynb`` (the same path as the student release,
   so the Colab launch button opens the student notebook). Each page is the
   solution notebook with hidden tests ALWAYS stripped, each exercise shown as a
   task (the student stub) followed by its solution behind a toggle
   (``--solutions hide``) or with the solution executed but removed from the page
   (``--solutions omit``), and autograder cells tagged as checks. Every page thus
   sits at its path in the repository, which is where the launch buttons point
   (``path_to_book`` is empty). Unchanged files are not rewritten, so Sphinx
   re-reads only what changed.
3. ``jupyter-book build -W -n``: every warning and broken reference is an error.
   Notebooks execute through jupyter-cache (one cache per mode), with
   ``COURSE_SMOKE=1`` (or 0 with ``--full``) and ``COURSE_WIDGETS=static`` so the
   course widgets render their static pictures. An unchanged chapter is not
   re-executed.
4. Copy the vendored MathJax and widget scripts (``jupyter-book/_vendor``) into
   the site's ``_static/vendor/``, drop from each page the embedded widget state
   that no widget view on it uses (the course widgets show still pictures here), replace each chapter's downloadable ``.ipynb``
   with the student release from ``notebooks/`` (a book page's with its file in
   ``jupyter-book/``), and check that no hidden test (nor, with ``omit``, any solution)
   reached the site.

The site ends up in ``jupyter-book/_build/<mode>/_build/html`` (printed at the end).
"""

from __future__ import annotations

import argparse
import copy
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "jupyter-book"
SOLUTIONS = ROOT / "solutions"
RELEASE = ROOT / "notebooks"
# MathJax and the widget embedder, vendored from npm by scripts/vendor_assets.sh.
# Copied into the site's _static/vendor/ after Sphinx ran: Jupyter Book would
# otherwise add a <script> tag for every .js file found under _static/.
VENDOR = BOOK / "_vendor"
CHAPTER_RE = re.compile(r"^\d\d_[A-Za-z0-9_]+$")

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
# a linked badge image on another host: [![text](https://img)](target)
REMOTE_BADGE_RE = re.compile(r"\[!\[([^\]]*)\]\((https?://[^)\s]+)\)\]\(([^)\s]+)\)")


class BuildError(Exception):
    """A problem with the chapters or the book that the build reports in one sentence."""


def build_dir(mode: str) -> Path:
    """The folder of one build mode ('smoke' or 'full'): staged source, cache and output."""
    return BOOK / "_build" / mode


def html_dir(mode: str) -> Path:
    """Where the built site of ``mode`` lives."""
    return build_dir(mode) / "_build" / "html"


def discover_chapters(solutions: Path = SOLUTIONS) -> list[str]:
    """Chapter names (``NN_topic``) that have ``solutions/NN_topic/NN_topic.ipynb``, sorted."""
    if not solutions.is_dir():
        return []
    return sorted(
        d.name
        for d in solutions.iterdir()
        if d.is_dir() and CHAPTER_RE.match(d.name) and (d / f"{d.name}.ipynb").is_file()
    )


def discover_pages(book: Path = BOOK) -> list[str]:
    """Notebook pages kept in ``jupyter-book/`` itself (e.g. ``widget_gallery``), by name without ``.ipynb``, sorted.

    They are part of the book but not chapters: no solutions, no release, no grading.
    """
    if not book.is_dir():
        return []
    return sorted(p.stem for p in book.glob("*.ipynb"))


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def strip_between(text: str, begin: str, end: str, replacement: str | None = None) -> str:
    """Remove every block from a ``begin`` marker line to its ``end`` marker line (inclusive).

    With ``replacement``, the block is replaced by those lines at the marker's indentation.
    An unclosed block is an error (it would otherwise leak or swallow code).
    """
    out: list[str] = []
    inside = False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if not inside and stripped.startswith(begin):
            inside = True
            if replacement is not None:
                indent = line[: len(line) - len(line.lstrip())]
                out.extend(f"{indent}{r}\n" for r in replacement.splitlines())
            continue
        if inside:
            if stripped.startswith(end):
                inside = False
            continue
        out.append(line)
    if inside:
        raise BuildError(f"a cell opens '{begin}' without a matching '{end}'; close the block in solutions/.")
    return "".join(out).rstrip("\n")


def _drop_marker_lines(text: str, *markers: str) -> str:
    return "\n".join(line for line in text.splitlines() if line.strip() not in markers).rstrip("\n")


def _add_tags(cell: dict, *tags: str) -> None:
    existing = cell.setdefault("metadata", {}).setdefault("tags", [])
    for tag in tags:
        if tag not in existing:
            existing.append(tag)


def prepare_notebook(nb: dict, solutions: str) -> dict:
    """The page version of a solution notebook (a new dict; ``nb`` is not changed).

    - hidden tests are always removed (whole ``### BEGIN/END HIDDEN TESTS`` blocks);
    - an exercise's solution cell is preceded by a markdown "task" cell holding the
      student stub, and is then tagged ``hide-input`` (``solutions="hide"``: shown
      behind a toggle) or ``remove-cell`` (``"omit"``: executed, not shown);
    - autograder cells are tagged ``course-check`` (styled as checks);
    - a linked badge image on another host (the Colab badge) becomes a text link,
      so the page loads nothing from elsewhere;
    - outputs are cleared (the build executes the page).
    """
    if solutions not in ("hide", "omit"):
        raise BuildError(f"SOLUTIONS must be 'hide' or 'omit', not {solutions!r}.")
    nb = copy.deepcopy(nb)
    cells: list[dict] = []
    for cell in nb.get("cells", []):
        grader = cell.get("metadata", {}).get("nbgrader", {})
        text = strip_between(_source(cell), BEGIN_HIDDEN, END_HIDDEN)
        if cell["cell_type"] == "markdown":
            text = REMOTE_BADGE_RE.sub(lambda m: f"[{m.group(1) or 'link'}]({m.group(3)})", text)
            if grader.get("solution"):
                if solutions == "hide":
                    text = f":::{{dropdown}} Show a model answer\n{text}\n:::"
                else:
                    text = "*A model answer is given in the instructors' edition.*"
            cell["source"] = text
            cells.append(cell)
            continue
        if cell["cell_type"] != "code":
            cell["source"] = text
            cells.append(cell)
            continue
        cell["outputs"] = []
        cell["execution_count"] = None
        if grader.get("solution"):
            stub = strip_between(text, BEGIN_SOLUTION, END_SOLUTION, "# YOUR CODE HERE\nraise NotImplementedError()")
            task_id = f"{cell.get('id', 'cell')}-task"[:64]
            cells.append(
                {
                    "cell_type": "markdown",
                    "id": task_id,
                    "metadata": {"tags": ["course-task"]},
                    "source": "**Your task.** Complete this cell in the notebook:\n\n```python\n" + stub + "\n```",
                }
            )
            cell["source"] = _drop_marker_lines(text, BEGIN_SOLUTION, END_SOLUTION)
            if solutions == "hide":
                _add_tags(cell, "hide-input", "course-solution")
                cell["metadata"]["mystnb"] = {
                    "code_prompt_show": "Show the solution",
                    "code_prompt_hide": "Hide the solution",
                }
            else:
                _add_tags(cell, "remove-cell")
        else:
            cell["source"] = text
            if grader.get("grade"):
                _add_tags(cell, "course-check")
        cells.append(cell)
    nb["cells"] = cells
    return nb


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


def expand_toc(toc_text: str, chapters: list[str], pages: list[str] = ()) -> str:
    """Replace each part's ``glob`` entries by the chapters they match; drop empty parts.

    An entry naming one of the book's own notebook ``pages`` (``file: widget_gallery``)
    is pointed at where that page is staged, ``jupyter-book/<name>``. Raises
    BuildError when a chapter matches no part.
    """
    import yaml

    toc = yaml.safe_load(toc_text)
    docnames = [f"notebooks/{c}/{c}" for c in chapters]
    placed: set[str] = set()
    parts = []
    for part in toc.get("parts", []):
        entries = []
        for entry in part.get("chapters", []):
            if "glob" in entry:
                matched = [d for d in docnames if fnmatch.fnmatch(d, entry["glob"]) and d not in placed]
                placed.update(matched)
                entries.extend({"file": d} for d in matched)
            elif str(entry.get("file", "")).removesuffix(".ipynb") in pages:
                entries.append({**entry, "file": f"{BOOK.name}/{str(entry['file']).removesuffix('.ipynb')}"})
            else:
                entries.append(entry)
        if entries:
            parts.append({**part, "chapters": entries})
    unplaced = [d for d in docnames if d not in placed]
    if unplaced:
        raise BuildError(
            f"chapter {unplaced[0].split('/')[1]} matches no part in jupyter-book/_toc.yml; add a glob for it to the right part."
        )
    toc["parts"] = parts
    if not parts:
        toc.pop("parts")
    return "# generated by scripts/build_book.py from jupyter-book/_toc.yml\n" + yaml.safe_dump(toc, sort_keys=False)


def stage(mode: str, solutions: str, chapters: list[str], pages: list[str] = ()) -> Path:
    """Write the book source of one build into ``_build/<mode>/src`` and return that folder."""
    import yaml

    src = build_dir(mode) / "src"
    src.mkdir(parents=True, exist_ok=True)
    if not (VENDOR / "mathjax" / "tex-chtml.js").is_file():
        raise BuildError("jupyter-book/_vendor/ is missing; run scripts/vendor_assets.sh.")

    wanted: set[Path] = set()

    def put(rel: str, data: bytes) -> None:
        wanted.add(src / rel)
        _write_if_changed(src / rel, data)

    for path in sorted(BOOK.rglob("*")):
        rel = path.relative_to(BOOK)
        if path.is_dir() or rel.parts[0] in ("_build", "_vendor", ".gitignore") or ".ipynb_checkpoints" in rel.parts:
            continue
        if rel.as_posix() in ("_toc.yml", "_config.yml", "intro.md"):
            continue
        if len(rel.parts) == 1 and path.suffix == ".ipynb":  # a book page: staged below, at its repository path
            continue
        put(rel.as_posix(), path.read_bytes())

    config = yaml.safe_load((BOOK / "_config.yml").read_text())
    # the launch and repository buttons: the address and ref set once in pyproject.toml [tool.course]
    address = course_address()
    config.setdefault("repository", {}).update(url=address.repository, branch=address.ref)
    if mode == "full":
        config["html"]["extra_footer"] = "<p>Chapter pages were executed in full mode.</p>\n"
    put("_config.yml", yaml.safe_dump(config, sort_keys=False).encode())
    put("_toc.yml", expand_toc((BOOK / "_toc.yml").read_text(), chapters, pages).encode())
    intro = (BOOK / "intro.md").read_text()
    if solutions == "omit":
        intro = re.sub(
            r"Solutions to the exercises sit behind a \"show\" toggle: try first\.",
            "This edition leaves the solutions out.",
            intro,
        )
    put("intro.md", intro.encode())

    for name in pages:  # no exercises in them; prepared anyway (outputs cleared, remote badges made links)
        page = prepare_notebook(json.loads((BOOK / f"{name}.ipynb").read_text()), solutions)
        put(f"{BOOK.name}/{name}.ipynb", (json.dumps(page, indent=1, ensure_ascii=False) + "\n").encode())

    for name in chapters:
        folder = SOLUTIONS / name
        nb = json.loads((folder / f"{name}.ipynb").read_text())
        page = prepare_notebook(nb, solutions)
        put(f"notebooks/{name}/{name}.ipynb", (json.dumps(page, indent=1, ensure_ascii=False) + "\n").encode())
        for asset in sorted(folder.rglob("*")):
            rel = asset.relative_to(folder)
            if asset.is_dir() or asset.suffix == ".ipynb" or {".ipynb_checkpoints", "__pycache__"} & set(rel.parts):
                continue
            put(f"notebooks/{name}/{rel.as_posix()}", asset.read_bytes())

    # remove what an earlier build staged and this one does not (a deleted chapter)
    for path in sorted(src.rglob("*"), reverse=True):
        if path.is_file() and path not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return src


def course_address():
    """``[tool.course]`` of pyproject.toml (repository, ref), read by scripts/colab_links.py as ``make release`` does."""
    import importlib.util

    module = sys.modules.get("colab_links")
    if module is None:
        spec = importlib.util.spec_from_file_location("colab_links", ROOT / "scripts" / "colab_links.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["colab_links"] = module  # before running it: its dataclass looks itself up there
        spec.loader.exec_module(module)
    try:
        return module.course_address(ROOT / "pyproject.toml")
    except module.LinkError as exc:
        raise BuildError(str(exc)) from exc


def build(mode: str = "smoke", solutions: str = "hide", quiet: bool = False) -> Path:
    """Stage, build and check the site; return the html folder."""
    chapters = discover_chapters()
    if not chapters:
        raise BuildError("no chapters found: expected solutions/NN_topic/NN_topic.ipynb.")
    missing = [c for c in chapters if not (RELEASE / c / f"{c}.ipynb").is_file()]
    if missing:  # the download buttons serve the student release: check before a long build
        raise BuildError(
            f"notebooks/{missing[0]}/{missing[0]}.ipynb is missing; run make release CHAPTER={missing[0]} first."
        )
    start = time.monotonic()
    # MathJax and the widget embedder from npm (returns at once when already vendored)
    if subprocess.call(["bash", str(ROOT / "scripts" / "vendor_assets.sh")], cwd=ROOT) != 0:
        raise BuildError("vendoring MathJax and the widget scripts from npm failed (see above).")
    pages = discover_pages()
    src = stage(mode, solutions, chapters, pages)
    env = dict(os.environ)
    env["COURSE_SMOKE"] = "1" if mode == "smoke" else "0"
    env["COURSE_WIDGETS"] = "static"  # the widgets' static pictures, not dead controls
    env.pop("MPLBACKEND", None)  # Agg would keep the kernel from showing figures inline
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    bindir = Path(sys.executable).parent
    env["PATH"] = os.pathsep.join([str(bindir), env.get("PATH", "")])
    cmd = [
        str(bindir / "jupyter-book"),
        "build",
        str(src),
        "--path-output",
        str(build_dir(mode)),
        "-W",
        "-n",
        "--keep-going",
    ]
    if quiet:
        cmd.append("-q")
    print(
        f"==> {' '.join(cmd)}  (chapters: {', '.join(chapters)}; pages: {', '.join(pages) or 'none'}; "
        f"COURSE_SMOKE={env['COURSE_SMOKE']}; solutions: {solutions})",
        flush=True,
    )
    code = subprocess.call(cmd, cwd=ROOT, env=env)
    if code != 0:
        raise BuildError(f"jupyter-book build failed (exit code {code}); the errors are above.")
    html = html_dir(mode)
    finish(html, chapters, solutions, pages)
    seconds = time.monotonic() - start
    size = sum(p.stat().st_size for p in html.rglob("*") if p.is_file())
    print(f"==> site built in {seconds:.1f} s: {html} ({size / 2**20:.1f} MiB)", flush=True)
    return html


WIDGET_STATE_RE = re.compile(r'(<script type="application/vnd\.jupyter\.widget-state\+json">)(.*?)(</script>)', re.S)
WIDGET_VIEW_RE = re.compile(r'<script type="application/vnd\.jupyter\.widget-view\+json">(.*?)</script>', re.S)
MODEL_REF_RE = re.compile(r"IPY_MODEL_([0-9a-f]+)")


def prune_widget_state(page: str) -> str:
    """Keep in a page's embedded widget state only the models its widget views use.

    Executing a page records the state of every widget model the kernel created,
    shown or not. The course widgets render as still pictures in the book
    (``COURSE_WIDGETS=static``), so their controls are never viewed, yet their
    models (a KernelExplorer has over a hundred) would be embedded in the page.
    A model is kept when a view on the page names it, or a kept model refers to
    it (``IPY_MODEL_<id>``: children, layout, style).
    """
    match = WIDGET_STATE_RE.search(page)
    if not match:
        return page
    try:
        bundle = json.loads(match.group(2))
        models = bundle["state"]
        wanted = [json.loads(v)["model_id"] for v in WIDGET_VIEW_RE.findall(page)]
    except (ValueError, KeyError, TypeError):
        return page  # not the format written by myst-nb: leave the page as it is
    kept: set[str] = set()
    while wanted:
        model_id = wanted.pop()
        if model_id in kept or model_id not in models:
            continue
        kept.add(model_id)
        wanted.extend(MODEL_REF_RE.findall(json.dumps(models[model_id])))
    if len(kept) == len(models):
        return page
    bundle["state"] = {k: v for k, v in models.items() if k in kept}
    body = json.dumps(bundle).replace("</", "<\\/")  # no "</" inside the script (myst-nb escapes "</script>" alike)
    return page[: match.start(2)] + body + page[match.end(2) :]


def finish(html: Path, chapters: list[str], solutions: str, pages: list[str] = ()) -> None:
    """Add the vendored scripts, put the student notebooks behind the download buttons, check for leaks."""
    shutil.copytree(VENDOR, html / "_static" / "vendor", dirs_exist_ok=True)
    for name in pages:  # the download button gives the file the Colab button opens
        target = html / "_sources" / BOOK.name / f"{name}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(BOOK / f"{name}.ipynb", target)
    for name in chapters:
        student = RELEASE / name / f"{name}.ipynb"
        target = html / "_sources" / "notebooks" / name / f"{name}.ipynb"
        if not student.is_file():
            raise BuildError(f"notebooks/{name}/{name}.ipynb is missing; run make release CHAPTER={name} first.")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(student, target)
        for stale in target.parent.glob(f"{name}.ipynb.*"):
            stale.unlink()
    for page in html.rglob("*.html"):
        text = page.read_text()
        pruned = prune_widget_state(text)
        if pruned != text:
            page.write_text(pruned)
    forbidden = [BEGIN_HIDDEN, END_HIDDEN, "BEGIN HIDDEN TESTS"]
    if solutions == "omit":
        forbidden += [BEGIN_SOLUTION, END_SOLUTION]
    for path in html.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".js", ".ipynb", ".txt", ".json") and "vendor" not in path.parts:
            text = path.read_text(errors="replace")
            for marker in forbidden:
                if marker in text:
                    raise BuildError(f"'{marker}' appears in {path.relative_to(html)}; the page preparation leaked it.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--full",
        action="store_true",
        default=os.environ.get("FULL", "") not in ("", "0"),
        help="execute the chapters in full mode (default: smoke mode; also FULL=1)",
    )
    parser.add_argument(
        "--solutions",
        choices=("hide", "omit"),
        default=os.environ.get("SOLUTIONS") or "hide",
        help="solutions behind a toggle (hide, default) or left out (omit); also SOLUTIONS=",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="less Sphinx output")
    args = parser.parse_args(argv)
    try:
        build("full" if args.full else "smoke", args.solutions, args.quiet)
    except BuildError as exc:
        print(f"make book: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
