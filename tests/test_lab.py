"""`make lab` serves JupyterLab on notebooks/ with the course kernel and the widgets extension."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_make_lab_serves_jupyterlab_with_course_kernel_and_widgets(tmp_path):
    port, token = _free_port(), "course-test-token"
    args = f"--no-browser --port={port} --ServerApp.ip=127.0.0.1 --IdentityProvider.token={token}"
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_ARGS={args}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = _get(f"{base}/api/status?token={token}")
                break
            except OSError:
                time.sleep(0.5)
        if status is None:
                _stop(proc)
                output = proc.stdout.read() if proc.stdout else ""
                raise AssertionError(f"JupyterLab did not answer on /api/status (exit code {proc.poll()}):\n{output[-4000:]}")
        specs = _get(f"{base}/api/kernelspecs?token={token}")["kernelspecs"]
        assert "cnn-course" in specs, f"the course kernel is missing: {sorted(specs)}"
        extensions = _get(f"{base}/lab/api/extensions?token={token}")
        names = {e["name"] for e in (extensions if isinstance(extensions, list) else extensions.get("installed", []))}
        widgets = {"@jupyter-widgets/jupyterlab-manager", "jupyter-widgets-jupyterlab-manager"}
        assert widgets & names, f"the ipywidgets extension is missing: {sorted(names)}"
        contents = _get(f"{base}/api/contents?token={token}")
        listed = {item["name"] for item in contents["content"]}
        expected = {p.name for p in (ROOT / "notebooks").iterdir() if p.is_dir()}
        assert expected <= listed, f"JupyterLab is not serving notebooks/: it lists {sorted(listed)}"
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
