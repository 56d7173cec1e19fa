"""The package's public face: importing it is fast and changes nothing."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = r"""
import json, sys, time, random
import torch
before = {m.split('.')[0] for m in sys.modules}
state = torch.random.get_rng_state().clone()
py_state = random.getstate()
start = time.perf_counter()
import course_utils
seconds = time.perf_counter() - start
heavy = sorted(({m.split('.')[0] for m in sys.modules} - before) & {'torchvision', 'captum', 'ipywidgets', 'matplotlib', 'tqdm', 'PIL'})
print(json.dumps({
    "seconds": seconds,
    "heavy": heavy,
    "rng_untouched": bool(torch.equal(state, torch.random.get_rng_state())) and py_state == random.getstate(),
    "deterministic": torch.are_deterministic_algorithms_enabled(),
}))
"""


def test_import_is_fast_and_has_no_side_effects():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, cwd=ROOT)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["heavy"] == [], f"import course_utils pulled in {report['heavy']}"
    assert report["rng_untouched"], "import course_utils changed a random generator"
    assert not report["deterministic"]
    assert report["seconds"] < 0.5, f"import course_utils took {report['seconds']:.2f} s beyond torch"
    assert out.stderr == ""


def test_init_only_reexports():
    import ast

    tree = ast.parse((ROOT / "course_utils" / "__init__.py").read_text())
    allowed = (ast.ImportFrom, ast.Import, ast.Expr, ast.Assign, ast.AnnAssign, ast.FunctionDef, ast.If)
    for node in tree.body:
        assert isinstance(node, allowed), f"__init__.py does more than re-export: line {node.lineno}"
        if isinstance(node, ast.Expr):
            assert isinstance(node.value, ast.Constant), f"__init__.py runs code at line {node.lineno}"
