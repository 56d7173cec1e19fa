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


def _requirements() -> dict:
    """The package's dependency ranges from pyproject.toml, by distribution name."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {Requirement(line).name.lower(): Requirement(line) for line in project["dependencies"]}


def _lock() -> dict:
    pins = {}
    for line in (ROOT / "requirements" / "lock.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line and not line.startswith("-"):
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.split(";")[0].strip()
    return pins


def test_lock_satisfies_the_package_ranges():
    """What CI tests (the lock) is inside the ranges the package declares."""
    pins = _lock()
    for name, req in _requirements().items():
        assert name in pins, f"requirements/lock.txt pins no version of {name}"
        assert req.specifier.contains(pins[name], prereleases=True), f"lock pins {name}=={pins[name]}, outside {req}"
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"


# The versions the course must keep when installed on top of them (the Colab setup
# cell installs course_utils with its dependencies, so a range that excluded one of
# these would make pip replace Colab's own package).
KEPT = {
    "colab": {"torch": "2.9.0", "torchvision": "0.24.0", "ipywidgets": "7.7.1", "numpy": "2.0.2", "matplotlib": "3.10.0", "pillow": "11.3.0", "tqdm": "4.67.1"},
    "gpu machine": {"torch": "2.11.0", "torchvision": "0.26.0"},
    "jupyterlab 4": {"ipywidgets": "8.1.5"},
}


def test_ranges_keep_colab_and_gpu_machine_versions():
    reqs = _requirements()
    for where, versions in KEPT.items():
        for name, version in versions.items():
            assert reqs[name].specifier.contains(version), f"{reqs[name]} would replace {where}'s {name} {version}"
