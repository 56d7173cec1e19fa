"""Rewrite a notebook's quiz cells so their answers are stored as encoded keys, or show the answers of encoded ones.

A quiz cell written with plain answers::

    Quiz([{"question": "...", "options": [...], "answer": 1, "explain": "..."}, ...])

becomes (question and options stay readable; answer, tolerance and explanation go into ``key``)::

    Quiz([{"question": "...", "options": [...], "key": "cq1.eNo..."}, ...])

Only the ``Quiz([...])`` call of a code cell is rewritten (its list must be a Python literal); the cell's id,
metadata and other lines are kept. Quizzes are self-checks, not graded: the keys keep answers out of view.

    python scripts/encode_quiz.py solutions/01_convolution/01_convolution.ipynb          # rewrite in place
    python scripts/encode_quiz.py --dry-run solutions/01_convolution/01_convolution.ipynb  # print the new cells
    python scripts/encode_quiz.py --show solutions/01_convolution/01_convolution.ipynb     # list questions + answers
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from course_utils.widgets.quiz import decode_answer, encode_answer  # noqa: E402


def quiz_calls(source: str) -> list[ast.Call]:
    """The ``Quiz([...])`` calls (one list argument) in a cell's source."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics: not a quiz cell we can rewrite
        return []
    calls = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Quiz"
            and len(node.args) == 1
            and isinstance(node.args[0], ast.List)
        ):
            calls.append(node)
    return calls


def _lit(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def quiz_source(questions: list[dict]) -> str:
    """``Quiz([...])`` source with one question per block, answers encoded."""
    blocks = []
    for q in questions:
        q = dict(q)
        if "key" not in q:
            if "answer" not in q:
                raise SystemExit(f"a question has neither 'answer' nor 'key': {q.get('question', q)!r}")
            tolerance = q.pop("tolerance", None)
            q["key"] = encode_answer(
                q.pop("answer"),
                q.pop("explain", ""),
                tolerance=None if "options" in q or tolerance is None else tolerance,
            )
        lines = [f'    {{"question": {_lit(q.pop("question"))},']
        if "options" in q:
            options = [_lit(o) for o in q.pop("options")]
            if sum(len(o) + 2 for o in options) < 80:
                lines.append(f'     "options": [{", ".join(options)}],')
            else:
                lines.append('     "options": [' + (",\n                 ".join(options)) + "],")
        key = q.pop("key")
        for name, value in q.items():  # anything else the author put there, kept as written
            lines.append(f"     {_lit(name)}: {_lit(value)},")
        lines.append(f'     "key": {_lit(key)}}},')
        blocks.append("\n".join(lines))
    return "Quiz([\n" + "\n".join(blocks) + "\n])"


def rewrite(source: str) -> str:
    """The cell source with every plain-answer ``Quiz([...])`` call replaced by its encoded form."""
    calls = quiz_calls(source)
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    for call in sorted(calls, key=lambda c: (c.lineno, c.col_offset), reverse=True):
        questions = ast.literal_eval(call.args[0])
        if all("key" in q for q in questions):
            continue
        start = offsets[call.lineno - 1] + call.col_offset
        end = offsets[call.end_lineno - 1] + call.end_col_offset
        source = source[:start] + quiz_source(questions) + source[end:]
    return source


def main(argv: list[str] | None = None) -> int:
    import nbformat

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--dry-run", action="store_true", help="print the rewritten cells, change nothing")
    parser.add_argument("--show", action="store_true", help="print each question with its decoded answer")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        changed = 0
        for cell in nb.cells:
            if cell.cell_type != "code" or not quiz_calls(cell.source):
                continue
            if args.show:
                for call in quiz_calls(cell.source):
                    for n, q in enumerate(ast.literal_eval(call.args[0]), 1):
                        body = decode_answer(q["key"]) if "key" in q else q
                        answer = body["answer"]
                        if "options" in q and isinstance(answer, int) and 0 <= answer < len(q["options"]):
                            answer = f"{answer} ({q['options'][answer]})"
                        print(
                            f"{path.name} [{cell.get('id')}] {n}. {q['question']}\n    answer: {answer}"
                            + (f" ± {body['tolerance']}" if body.get("tolerance") else "")
                            + f"\n    explain: {body.get('explain', '')}"
                        )
                continue
            new = rewrite(cell.source)
            if new != cell.source:
                changed += 1
                cell.source = new
                if args.dry_run:
                    print(f"--- {path} cell {cell.get('id')}\n{new}\n")
        if changed and not args.dry_run:
            nbformat.write(nb, path)
        if not args.show:
            print(f"{path}: {changed} quiz cell(s) {'would be ' if args.dry_run else ''}rewritten")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
