"""The package's public face: importing it is fast and changes nothing."""

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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
    "colab": {
        "torch": "2.9.0",
        "torchvision": "0.24.0",
        "ipywidgets": "7.7.1",
        "numpy": "2.0.2",
        "matplotlib": "3.10.0",
        "pillow": "11.3.0",
        "tqdm": "4.67.1",
    },
    "gpu machine": {"torch": "2.11.0", "torchvision": "0.26.0"},
    "jupyterlab 4": {"ipywidgets": "8.1.5"},
}


def test_ranges_keep_colab_and_gpu_machine_versions():
    reqs = _requirements()
    for where, versions in KEPT.items():
        for name, version in versions.items():
            assert reqs[name].specifier.contains(version), f"{reqs[name]} would replace {where}'s {name} {version}"


# -- the public face keeps every name it had before the regrouping (issue 15) ------------------------------------
PUBLIC_NAMES = [
    "ActivationStats",
    "Backbone",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "Captured",
    "CheckFailed",
    "CheckpointSpec",
    "CourseError",
    "EarlyStopping",
    "FitState",
    "GradClip",
    "History",
    "KERNEL_NAMES",
    "LRFinderResult",
    "ReceptiveField",
    "ShapeTable",
    "__version__",
    "activation_stats",
    "budget",
    "capture_activations",
    "capture_gradients",
    "channel_stats",
    "check_close",
    "check_dtype",
    "check_equal",
    "check_function",
    "check_shape",
    "check_tensor",
    "cifar10",
    "cifar10_loaders",
    "cifar10_source",
    "cifar2",
    "confusion_counts",
    "conv_output_size",
    "conv_transpose_output_size",
    "course_backbone",
    "course_resnet18",
    "data_dir",
    "denormalize",
    "describe",
    "effective_receptive_field",
    "evaluate",
    "extract_features",
    "fit",
    "get_device",
    "get_kernel",
    "is_smoke",
    "load_backbone",
    "load_checkpoint",
    "lr_find",
    "plot_confusion_matrix",
    "plot_feature_maps",
    "plot_images",
    "plot_kernels",
    "plot_lr_finder",
    "plot_training_curves",
    "pool_output_size",
    "receptive_field",
    "sample_image",
    "sanity_check",
    "save_checkpoint",
    "seed_everything",
    "set_deterministic",
    "trace_shapes",
]


def test_every_public_name_of_the_flat_face_is_still_importable():
    import course_utils

    missing = [name for name in PUBLIC_NAMES if not hasattr(course_utils, name)]
    assert missing == [], f"course_utils no longer exports {missing}"
    namespace: dict = {}
    exec(f"from course_utils import {', '.join(PUBLIC_NAMES)}", namespace)  # the statement a chapter writes
    assert course_utils.__version__ == "0.1.0"
    assert sorted([*course_utils.__all__, "__version__"]) == sorted(PUBLIC_NAMES), "the public face changed"
    assert callable(course_utils.fit) and callable(course_utils.get_kernel) and callable(course_utils.plot_images)


def test_subpackages_re_export_what_they_promise_and_say_what_they_may_import():
    import importlib

    for name in ("data", "training", "inspection", "models", "checks", "plots", "widgets", "grading", "fast"):
        package = importlib.import_module(f"course_utils.{name}")
        doc = package.__doc__ or ""
        assert len(doc.split()) >= 20, f"course_utils.{name} has no docstring saying what lives there"
        for exported in getattr(package, "__all__", ()):
            assert hasattr(package, exported), f"course_utils.{name}.__all__ names {exported}, which it lacks"
    for name in ("data", "training", "inspection", "models", "fast"):
        doc = importlib.import_module(f"course_utils.{name}").__doc__
        assert "may import" in doc and "widgets" in doc, f"course_utils.{name}'s docstring states no layering rule"


# -- the import graph: no cycles, views on top, no private names across subpackages ------------------------------
VIEWS = ("widgets", "plots")  # sit on top: anything may be drawn by them, they are imported by nothing below
BELOW_VIEWS = ("config", "errors", "repro", "data", "training", "inspection", "models", "checks", "grading", "fast")
MAX_LINES = 330  # "about 300 lines" (GUIDE.md), with the same slack as the maintainers' import_graph tool


def _module_names(package_dir: Path) -> dict[str, Path]:
    """Dotted name -> file for every module of the package in ``package_dir`` (``pkg.sub`` for ``pkg/sub/__init__.py``)."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _subpackage(module: str, modules: dict[str, Path]) -> str:
    """The package a module lives in: itself for a package's ``__init__``, else its parent."""
    return module if modules[module].name == "__init__.py" else module.rpartition(".")[0]


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def import_problems(package_dir: Path) -> list[str]:
    """Every layering problem of the package in ``package_dir``, one sentence each (empty when it is clean).

    Reads every module with ``ast`` (imports inside functions count too), resolves relative
    imports, and reports: import cycles between modules (a module that imports names from
    its own package's ``__init__`` makes one), imports of the top package's ``__init__``
    from inside the package, views (widgets, plots) imported by the layers below them,
    private ``_names`` (or ``_modules``) imported across subpackages, and long modules.
    """
    modules = _module_names(package_dir)
    top = package_dir.name
    edges: dict[str, set[str]] = {m: set() for m in modules}
    problems = []
    for module, path in modules.items():
        source = path.read_text()
        if len(source.splitlines()) > MAX_LINES:
            problems.append(f"long module: {module} has {len(source.splitlines())} lines (> {MAX_LINES})")
        here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        imports: list[tuple[str, str | None]] = []  # (target module, name taken from it or None)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                imports += [(alias.name, None) for alias in node.names if alias.name.split(".")[0] == top]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.split(".")[0] != top:
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    imports.append((sub, None) if sub in modules else (target, alias.name))
        for target, name in imports:
            if target not in modules:
                problems.append(f"unknown module: {module} imports {target}")
                continue
            if target != module:
                edges[module].add(target)
            if target == top and module != top:
                problems.append(f"imports the package face: {module} imports {name or target} from {top}/__init__")
            layer_from, layer_to = (module.split(".") + [""])[1], (target.split(".") + [""])[1]
            if layer_from in BELOW_VIEWS and layer_to in VIEWS:
                problems.append(f"upward import: {module} ({layer_from}) imports the view {target}")
            if _subpackage(module, modules) != _subpackage(target, modules):
                hidden = [part for part in target.split(".")[1:] if _private(part)] + (
                    [name] if name and _private(name) else []
                )
                if hidden:
                    problems.append(f"private name across subpackages: {module} takes {hidden[-1]} from {target}")
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in _cycles(edges)]
    return problems


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_import_graph_of_course_utils_is_layered_and_acyclic():
    problems = import_problems(ROOT / "course_utils")
    assert problems == [], "course_utils breaks its layering rules:\n" + "\n".join(problems)


def _plant(root: Path, files: dict[str, str]) -> Path:
    """A tiny synthetic package ``pkg`` under ``root``: relative path -> source."""
    for name, source in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return root / "pkg"


CLEAN = {
    "__init__.py": "from .training import fit\nfrom .plots import draw\n",
    "errors.py": "class CourseError(Exception):\n    pass\n",
    "training/__init__.py": "from .loop import fit\n",
    "training/loop.py": "from ..errors import CourseError\nfrom .runtime import device_of\n\ndef fit():\n    pass\n",
    "training/runtime.py": "def device_of():\n    pass\n\ndef _helper():\n    pass\n",
    "plots/__init__.py": "from .charts import draw\n",
    "plots/charts.py": "from ..training import fit\nfrom ..training.runtime import device_of\n\ndef draw():\n    pass\n",
}


def test_the_checker_passes_a_clean_package(tmp_path):
    assert import_problems(_plant(tmp_path, CLEAN)) == []


def test_the_checker_catches_a_planted_cycle(tmp_path):
    package = _plant(tmp_path, {**CLEAN, "training/runtime.py": "def device_of():\n    from .loop import fit\n"})
    assert import_problems(package) == ["import cycle: pkg.training.loop -> pkg.training.runtime"]


def test_the_checker_catches_a_module_that_imports_its_own_package_init(tmp_path):
    package = _plant(tmp_path, {**CLEAN, "training/runtime.py": "from . import fit\n\ndef device_of():\n    pass\n"})
    assert import_problems(package) == ["import cycle: pkg.training -> pkg.training.loop -> pkg.training.runtime"]


def test_the_checker_catches_an_import_of_the_package_face(tmp_path):
    package = _plant(tmp_path, {**CLEAN, "training/runtime.py": "def device_of():\n    from pkg import errors, draw\n"})
    problems = import_problems(package)
    assert "imports the package face: pkg.training.runtime imports draw from pkg/__init__" in problems
    assert not any("errors" in p for p in problems)  # `from pkg import errors` names a module, not the face
    assert any(p.startswith("import cycle:") for p in problems)  # the face imports training, which imports it back


def test_the_checker_catches_an_upward_import_of_a_view(tmp_path):
    package = _plant(
        tmp_path, {**CLEAN, "training/runtime.py": "def device_of():\n    from ..plots.charts import draw\n"}
    )
    problems = import_problems(package)
    assert "upward import: pkg.training.runtime (training) imports the view pkg.plots.charts" in problems


def test_the_checker_catches_a_private_name_across_subpackages(tmp_path):
    package = _plant(
        tmp_path,
        {
            **CLEAN,
            "plots/charts.py": "from ..training.runtime import _helper\n\ndef draw():\n    pass\n",
            "training/loop.py": "from .runtime import _helper\n\ndef fit():\n    pass\n",
        },
    )
    assert import_problems(package) == [
        "private name across subpackages: pkg.plots.charts takes _helper from pkg.training.runtime"
    ]


def test_the_checker_catches_a_long_module(tmp_path):
    package = _plant(tmp_path, {**CLEAN, "errors.py": "x = 1\n" * (MAX_LINES + 1)})
    assert import_problems(package) == [f"long module: pkg.errors has {MAX_LINES + 1} lines (> {MAX_LINES})"]


# -- the lint stage of scripts/run_tests.py ----------------------------------------------------------------------
def _run_tests_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_tests", ROOT / "scripts" / "run_tests.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "source, passes",
    [
        ('"""A clean module."""\n\nimport os\n\nprint(os.sep)\n', True),
        ('"""An unused import."""\n\nimport os\n', False),  # ruff check (F401)
        ('"""Formatted otherwise."""\n\nx = {"a":1}\n', False),  # ruff format --check
    ],
)
def test_lint_stage_fails_when_ruff_finds_something(tmp_path, monkeypatch, capsys, source, passes):
    run_tests = _run_tests_module()
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())  # the course's ruff settings
    (tmp_path / "module.py").write_text(source)
    monkeypatch.setattr(run_tests, "ROOT", tmp_path)
    monkeypatch.setattr(run_tests, "STAGES", [])  # the lint stage alone
    assert run_tests.main([]) == (0 if passes else 1)
    summary = capsys.readouterr().out.split("===== timing summary")[-1]
    assert ("lint       passed" in summary) == passes
