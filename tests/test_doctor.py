"""course_utils.doctor: the report, its exit code, and `python -m course_utils doctor`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cifar_fixtures import make_archive, make_batches_dir

from course_utils import doctor
from course_utils.data import cifar_sources

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv(cifar_sources.ARCHIVE_ENV, raising=False)
    monkeypatch.setattr(cifar_sources, "network_reachable", lambda *a, **k: False)
    return tmp_path / "data"


def test_doctor_reports_the_archive_and_exits_0(offline, monkeypatch, tmp_path, capsys):
    path, _ = make_archive(tmp_path)
    monkeypatch.setenv(cifar_sources.ARCHIVE_ENV, str(path))
    monkeypatch.setenv("COURSE_SMOKE", "1")
    assert doctor.main() == 0
    out = capsys.readouterr().out
    for name in ("torch", "torchvision", "numpy", "matplotlib", "ipywidgets", "nbgrader"):
        assert f"\n{name:<13} " in out
    assert "smoke mode    on" in out
    assert "device        cpu: Using the CPU" in out or "device        cuda" in out or "device        mps" in out
    assert "widgets       ipywidgets" in out and "Colab)" in out
    assert f"data dir      {offline}" in out
    assert f"CIFAR-10 source: image-folder archive {path}" in out
    assert "no  download" in out
    assert out.rstrip().endswith("The course can run here.")


def test_doctor_without_cifar_still_runs_and_names_the_fixes(offline, capsys):
    assert doctor.main() == 0  # chapters without CIFAR-10 still work
    out = capsys.readouterr().out
    assert "CIFAR-10 source: none" in out and "connect to the internet" in out


def test_doctor_exits_1_with_a_sentence_when_torchvision_is_missing(offline, monkeypatch, capsys):
    real = doctor._imports
    monkeypatch.setattr(
        doctor, "_imports", lambda name: "ModuleNotFoundError: gone" if name == "torchvision" else real(name)
    )
    assert doctor.main() == 1
    out = capsys.readouterr().out
    assert "The course cannot run here: torchvision does not import (ModuleNotFoundError: gone); run `make env`" in out


def test_doctor_exits_1_when_the_sample_photo_does_not_load(offline, monkeypatch, capsys):
    import course_utils.data

    def broken(*args, **kwargs):
        raise OSError("grace_hopper.jpg is missing")

    monkeypatch.setattr(course_utils.data, "sample_image", broken)
    assert doctor.main() == 1
    assert "The sample photograph does not load (OSError: grace_hopper.jpg is missing)" in capsys.readouterr().out


def test_python_m_course_utils_doctor(tmp_path):
    data = tmp_path / "data"
    make_batches_dir(data)
    env = {k: v for k, v in os.environ.items() if k != cifar_sources.ARCHIVE_ENV}
    env.update(COURSE_DATA_DIR=str(data), COURSE_SMOKE="0")
    run = subprocess.run(
        [sys.executable, "-m", "course_utils", "doctor"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"CIFAR-10 source: torchvision copy in {data / 'cifar-10-batches-py'}" in run.stdout
    assert "smoke mode    off" in run.stdout
    usage = subprocess.run([sys.executable, "-m", "course_utils"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "doctor" in usage.stderr


@pytest.mark.skipif(
    shutil.which("course-doctor", path=str(Path(sys.executable).parent)) is None,
    reason="the course-doctor console script is not installed in this environment",
)
def test_console_script(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != cifar_sources.ARCHIVE_ENV}
    env["COURSE_DATA_DIR"] = str(tmp_path)
    script = shutil.which("course-doctor", path=str(Path(sys.executable).parent))
    run = subprocess.run([script], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "CIFAR-10 source:" in run.stdout
