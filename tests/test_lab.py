"""`make lab`: the learner's own copy of the notebooks, the course's kernel without a prompt, no instructor tools.

- the copy (scripts/lab.py): made on the first run, completed with new chapters, never overwritten;
- the kernel: the notebooks ask for ``python3`` and, in the lab's environment, that name is the
  course environment's Python even when the user has registered another ``python3`` elsewhere;
- `make lab` serves the learner's copy with the widgets extension, without nbgrader's Formgrader,
  Course List, Assignments or Create Assignment, and a chapter opened in Chromium starts its
  kernel without a kernel-selection dialog; `make lab-instructor` has every nbgrader tool.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import lab as lab_script  # noqa: E402  (scripts/lab.py)

CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "lab"
CHAPTERS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*") if p.is_dir())


# ---------------------------------------------------------------- the learner's copy


def _release(tmp_path: Path) -> Path:
    release = tmp_path / "notebooks"
    (release / "01_a").mkdir(parents=True)
    (release / "01_a" / "01_a.ipynb").write_text('{"v": 1}')
    (release / "01_a" / "photo.png").write_bytes(b"png")
    (release / "01_a" / ".ipynb_checkpoints").mkdir()
    (release / "01_a" / ".ipynb_checkpoints" / "01_a-checkpoint.ipynb").write_text("{}")
    return release


def test_first_run_copies_every_chapter_and_later_runs_never_overwrite(tmp_path):
    release, work = _release(tmp_path), tmp_path / "my-notebooks"
    first = lab_script.sync_learner_copy(release, work)
    assert first.copied == ["01_a/01_a.ipynb", "01_a/photo.png"], first
    assert not (work / "01_a" / ".ipynb_checkpoints").exists()

    (work / "01_a" / "01_a.ipynb").write_text('{"my answer": 42}')  # the learner saves an answer
    (release / "02_b").mkdir()
    (release / "02_b" / "02_b.ipynb").write_text('{"v": 1}')  # a chapter published later
    second = lab_script.sync_learner_copy(release, work)
    assert second.copied == ["02_b/02_b.ipynb"] and second.outdated == []
    assert (work / "01_a" / "01_a.ipynb").read_text() == '{"my answer": 42}', "make lab overwrote the learner's answer"

    (release / "01_a" / "01_a.ipynb").write_text('{"v": 2}')  # the chapter is corrected upstream
    third = lab_script.sync_learner_copy(release, work)
    assert third.copied == [] and third.outdated == ["01_a/01_a.ipynb"]
    assert (work / "01_a" / "01_a.ipynb").read_text() == '{"my answer": 42}'

    (work / "01_a" / "01_a.ipynb").rename(work / "01_a" / "01_a-mine.ipynb")  # what the note tells them to do
    fourth = lab_script.sync_learner_copy(release, work)
    assert fourth.copied == ["01_a/01_a.ipynb"] and (work / "01_a" / "01_a.ipynb").read_text() == '{"v": 2}'


def test_learner_copy_is_ignored_by_git():
    out = subprocess.run(["git", "check-ignore", "-q", "my-notebooks/01_convolution/01_convolution.ipynb"], cwd=ROOT)
    assert out.returncode == 0, "my-notebooks/ (the learner's copy made by make lab) is not ignored by git"


# ---------------------------------------------------------------- the kernel and the nbgrader tools


def _resolve_python3(env: dict[str, str]) -> str:
    code = (
        "from jupyter_client.kernelspec import KernelSpecManager;"
        "print(KernelSpecManager().get_kernel_spec('python3').resource_dir)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_python3_is_the_course_environment_even_with_a_user_kernel_of_that_name(tmp_path):
    """A learner who once ran `ipykernel install --user` elsewhere still gets the course's Python in make lab."""
    user_kernel = tmp_path / "data" / "kernels" / "python3"
    user_kernel.mkdir(parents=True)
    (user_kernel / "kernel.json").write_text(
        json.dumps(
            {
                "argv": ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (system)",
                "language": "python",
            }
        )
    )
    base = dict(os.environ, JUPYTER_DATA_DIR=str(tmp_path / "data"), JUPYTER_PREFER_ENV_PATH="0")
    # without the lab's settings the user's kernel wins: the situation the lab has to handle
    assert Path(_resolve_python3(base)) == user_kernel
    resolved = Path(_resolve_python3(lab_script.lab_environment(False, base)))
    assert resolved == Path(sys.prefix) / "share" / "jupyter" / "kernels" / "python3", resolved
    spec = json.loads((resolved / "kernel.json").read_text())
    assert spec["argv"][0] in ("python", sys.executable), spec["argv"]


def test_every_notebook_asks_for_the_kernel_the_lab_provides():
    """The notebooks' kernelspec is the lab's default kernel, so no notebook opens with a kernel prompt."""
    for folder in ("notebooks", "solutions"):
        for path in sorted((ROOT / folder).glob("[0-9][0-9]_*/[0-9][0-9]_*.ipynb")):
            name = json.loads(path.read_text())["metadata"]["kernelspec"]["name"]
            assert name == "python3", (
                f"{path.relative_to(ROOT)} asks for the kernel {name!r}; make lab provides python3"
            )


def test_learner_lab_hides_instructor_tools_and_instructor_lab_does_not():
    learner = lab_script.lab_environment(False, {"PATH": "/usr/bin"})
    instructor = lab_script.lab_environment(True, dict(learner))  # switching back removes the learner settings
    config = Path(learner["JUPYTER_CONFIG_PATH"].split(os.pathsep)[0])
    assert config == ROOT / "lab-config" / "learner"
    assert str(config) not in instructor.get("JUPYTER_CONFIG_PATH", "")
    server = json.loads((config / "jupyter_server_config.json").read_text())["ServerApp"]["jpserver_extensions"]
    assert {name for name, on in server.items() if not on} == set(lab_script.INSTRUCTOR_SERVER_EXTENSIONS)
    assert server.get("nbgrader.server_extensions.validate_assignment") is True  # learners keep Validate
    page = json.loads((config / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    assert {name for name, off in page.items() if off} == set(lab_script.INSTRUCTOR_LAB_PLUGINS)
    installed = {
        p.name
        for p in (Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "@jupyter" / "nbgrader" / "static").glob(
            "*.js"
        )
    }
    assert installed, "nbgrader's JupyterLab extension is not installed in this environment"
    source = "".join(
        (Path(sys.prefix) / "share/jupyter/labextensions/@jupyter/nbgrader/static" / n).read_text(errors="replace")
        for n in installed
    )
    for plugin in lab_script.INSTRUCTOR_LAB_PLUGINS:  # the ids still exist in the installed nbgrader
        assert f'"{plugin}"' in source, f"nbgrader's lab extension has no plugin {plugin}; update lab-config/learner"


# ---------------------------------------------------------------- make lab, live


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _start(target: str, tmp_path: Path, *variables: str) -> tuple[subprocess.Popen, str, str, Path]:
    """Run `make <target>` serving on a free port; return (process, base url, token, log file)."""
    port, token = _free_port(), "course-test-token"
    args = f"--no-browser --port={port} --ServerApp.ip=127.0.0.1 --IdentityProvider.token={token} --ServerApp.port_retries=0"
    env = dict(
        os.environ,
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
    )
    env.pop("JUPYTER_CONFIG_PATH", None)
    log = tmp_path / f"{target}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            ["make", "--no-print-directory", target, f"LAB_ARGS={args}", *variables],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            _get(f"{base}/api/status?token={token}")
            return proc, base, token, log
        except OSError:
            time.sleep(0.5)
    _stop(proc)
    raise AssertionError(
        f"make {target} did not answer on /api/status (exit code {proc.poll()}):\n{log.read_text()[-4000:]}"
    )


def _disabled_plugins(base: str, token: str) -> set[str]:
    with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=10) as response:
        html = response.read().decode()
    start = html.index('id="jupyter-config-data"')
    data = json.loads(html[html.index(">", start) + 1 : html.index("</script>", start)])
    disabled = data.get("disabledExtensions", [])
    return set(disabled if isinstance(disabled, list) else [k for k, v in disabled.items() if v])


@pytest.mark.slow
def test_make_lab_opens_a_chapter_in_the_course_kernel_without_instructor_tools(tmp_path):
    work = tmp_path / "my-notebooks"
    proc, base, token, log = _start("lab", tmp_path, f"MY_NOTEBOOKS={work}")
    try:
        listed = {item["name"] for item in _get(f"{base}/api/contents?token={token}")["content"]}
        assert set(CHAPTERS) <= listed, f"make lab does not serve the learner's copy of every chapter: {sorted(listed)}"
        assert (work / CHAPTERS[0] / f"{CHAPTERS[0]}.ipynb").is_file()

        specs = _get(f"{base}/api/kernelspecs?token={token}")
        assert specs["default"] == "python3"
        argv = specs["kernelspecs"]["python3"]["spec"]["argv"]
        assert argv[0] in ("python", sys.executable), f"the lab's python3 kernel is not the course's Python: {argv}"
        assert "cnn-course" not in specs["kernelspecs"], "a second course kernel (cnn-course) is still registered"

        extensions = _get(f"{base}/lab/api/extensions?token={token}")
        names = {e["name"] for e in (extensions if isinstance(extensions, list) else extensions.get("installed", []))}
        assert {"@jupyter-widgets/jupyterlab-manager", "jupyter-widgets-jupyterlab-manager"} & names, sorted(names)

        for path in ("formgrader", "courses", "assignments"):
            assert _status(f"{base}/{path}?token={token}") == 404, f"the learner's lab serves nbgrader's /{path}"
        assert set(lab_script.INSTRUCTOR_LAB_PLUGINS) <= _disabled_plugins(base, token)
        assert "@jupyter/nbgrader:validate-assignment" not in _disabled_plugins(base, token)

        assert "formgrader | extension was successfully loaded" not in log.read_text()

        _open_chapter_in_chromium(f"{base}/lab/tree/{CHAPTERS[0]}/{CHAPTERS[0]}.ipynb?token={token}")
        sessions = _get(f"{base}/api/sessions?token={token}")
        assert [s["kernel"]["name"] for s in sessions] == ["python3"], sessions
    finally:
        _stop(proc)


def _open_chapter_in_chromium(url: str) -> None:
    """Open a chapter as a learner does: its kernel starts and goes idle, and no dialog asks for a kernel."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; run scripts/ensure_browser.sh (make test does).")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed; run scripts/ensure_browser.sh (make test does).")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--disable-gpu", "--disable-dev-shm-usage"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        try:
            page.goto(url, timeout=60_000)
            page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
            page.get_by_text("Python 3 (ipykernel) | Idle").first.wait_for(timeout=90_000)
            dialogs = page.locator(".jp-Dialog")
            assert dialogs.count() == 0, f"a dialog opened with the chapter: {dialogs.first.inner_text()[:300]}"
            menus = " ".join(page.locator(".lm-MenuBar-itemLabel").all_inner_texts())
            assert "Nbgrader" not in menus, f"the learner's lab shows nbgrader's instructor menu: {menus}"
            page.screenshot(path=str(ARTIFACTS / "make_lab_chapter.png"))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "make_lab_failure.png"), full_page=True)
            raise
        finally:
            browser.close()


@pytest.mark.slow
def test_make_lab_instructor_has_every_nbgrader_tool(tmp_path):
    proc, base, token, log = _start("lab-instructor", tmp_path)
    try:
        listed = {item["name"] for item in _get(f"{base}/api/contents?token={token}")["content"]}
        assert {"solutions", "notebooks", "nbgrader_config.py"} <= listed, sorted(listed)
        assert not set(lab_script.INSTRUCTOR_LAB_PLUGINS) & _disabled_plugins(base, token)
        text = log.read_text()
        for extension in lab_script.INSTRUCTOR_SERVER_EXTENSIONS:
            assert f"{extension} | extension was successfully loaded" in text, (
                f"{extension} is not loaded:\n{text[-3000:]}"
            )
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """Stop `make lab` and the server it started (its whole process group), if still running."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            continue


# ---------------------------------------------------------------- the Python versions the set-up accepts


def test_bootstrap_python_range_agrees_with_pyproject():
    """bootstrap.sh accepts exactly the Pythons the lock installs on, and pyproject admits and lists them."""
    import re

    import tomllib

    script = (ROOT / "scripts" / "bootstrap.sh").read_text()
    low, high = re.search(r"\(3, (\d+)\) <= sys\.version_info\[:2\] <= \(3, (\d+)\)", script).groups()
    accepted = [f"3.{minor}" for minor in range(int(low), int(high) + 1)]
    assert "3.13" in accepted, "the pinned lock installs on Python 3.13 (every wheel exists for cp313)"
    assert f"Python {', '.join(accepted[:-1])} or {accepted[-1]}" in script, "the error message names other versions"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lower = re.search(r">=\s*3\.(\d+)", project["requires-python"]).group(1)
    upper = re.search(r"<\s*3\.(\d+)", project["requires-python"]).group(1)
    assert int(lower) <= int(low) and int(upper) == int(high) + 1, project["requires-python"]
    classifiers = {
        c.rsplit(" :: ", 1)[1] for c in project["classifiers"] if c.startswith("Programming Language :: Python :: 3.")
    }
    assert set(accepted) <= classifiers, (accepted, classifiers)
    readme = (ROOT / "README.md").read_text()
    assert f"Python {', '.join(accepted[:-1])} or {accepted[-1]}" in readme


def test_bootstrap_refuses_a_missing_python_in_one_sentence(tmp_path):
    run = subprocess.run(
        ["bash", str(ROOT / "scripts" / "bootstrap.sh")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHON=str(tmp_path / "no-python"), VENV=str(tmp_path / "venv")),
        timeout=30,
    )
    assert run.returncode == 1 and "was not found; install Python 3.11, 3.12 or 3.13" in run.stderr, run.stderr
    assert not (tmp_path / "venv").exists()
