"""course_utils.config: smoke mode, budgets, the data folder and device choice."""

import pytest
import torch

from course_utils import budget, data_dir, describe, get_device, is_smoke
from course_utils.errors import CourseError


@pytest.mark.parametrize(
    "raw, smoke", [("1", True), ("true", True), ("YES", True), ("0", False), ("", False), ("off", False)]
)
def test_smoke_mode_reads_the_environment_at_call_time(monkeypatch, raw, smoke):
    monkeypatch.setenv("COURSE_SMOKE", raw)
    assert is_smoke() is smoke
    assert budget(full=100, smoke=2) == (2 if smoke else 100)
    assert ("Smoke mode" in describe()) is smoke


def test_smoke_mode_off_when_unset(monkeypatch):
    monkeypatch.delenv("COURSE_SMOKE", raising=False)
    assert is_smoke() is False
    assert budget(full="big", smoke="small") == "big"


def test_unreadable_smoke_value_is_one_clear_sentence(monkeypatch):
    monkeypatch.setenv("COURSE_SMOKE", "maybe")
    with pytest.raises(CourseError, match="set it to 1 for smoke mode or 0"):
        is_smoke()


def test_data_dir_honours_env_and_is_created(monkeypatch, tmp_path):
    target = tmp_path / "a" / "b"
    monkeypatch.setenv("COURSE_DATA_DIR", str(target))
    assert data_dir() == target
    assert target.is_dir()


def test_data_dir_default_is_in_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_dir() == tmp_path / ".cache" / "cnn-course"


def test_data_dir_unwritable_gives_a_sentence(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("COURSE_DATA_DIR", str(blocker / "data"))
    with pytest.raises(CourseError, match="COURSE_DATA_DIR"):
        data_dir()


def test_cpu_device_is_explained(monkeypatch, capsys):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("course_utils.config._has_mps", lambda: False)
    assert get_device() == torch.device("cpu")
    out = capsys.readouterr().out
    assert "no CUDA or MPS device was found" in out and "Runtime > Change runtime type > GPU" in out


def test_quiet_device_choice_prints_nothing(capsys):
    get_device(verbose=False)
    assert capsys.readouterr().out == ""


def test_asking_for_a_missing_gpu_says_what_to_do(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(CourseError, match="Change runtime type > GPU"):
        get_device("cuda")


def test_unknown_device_name(monkeypatch):
    with pytest.raises(CourseError, match="Unknown device 'tpu'"):
        get_device("tpu")


def test_course_device_env_overrides_auto(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert get_device(verbose=False).type == "cpu"
