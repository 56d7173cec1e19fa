"""save_checkpoint/load_checkpoint: full round trip, RNG states, atomic writes, and clear errors for bad files."""

import os
import random

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import CourseError, load_checkpoint, save_checkpoint


def _trained(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    for _ in range(3):
        loss = nn.functional.cross_entropy(model(torch.randn(16, 4)), torch.randint(0, 3, (16,)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    return model, optimizer, scheduler


def _draws(generator):
    return (
        torch.rand(3).tolist(),
        np.random.rand(3).tolist(),
        random.random(),
        torch.rand(2, generator=generator).tolist(),
    )


def test_round_trip_restores_model_optimizer_scheduler_scaler_rng_and_extra(tmp_path):
    model, optimizer, scheduler = _trained()
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    generator = torch.Generator().manual_seed(7)
    torch.rand(5, generator=generator)
    path = save_checkpoint(
        tmp_path / "sub" / "ckpt.pt",
        model,
        optimizer,
        scheduler,
        scaler,
        epoch=4,
        generators=[generator],
        note="hello",
        scores=[0.5, 0.7],
    )
    expected_draws = _draws(generator)
    saved_model = {k: v.clone() for k, v in model.state_dict().items()}
    saved_opt = optimizer.state_dict()

    fresh, fresh_opt, fresh_sched = _trained(seed=1)  # different weights and RNG use
    fresh_scaler = torch.amp.GradScaler("cpu")
    fresh_gen = torch.Generator().manual_seed(99)
    ckpt = load_checkpoint(path, fresh, fresh_opt, fresh_sched, fresh_scaler, generators=[fresh_gen])

    assert ckpt["epoch"] == 4 and ckpt["extra"] == {"note": "hello", "scores": [0.5, 0.7]}
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, saved_model[key]), key
    state = fresh_opt.state_dict()
    for index, slot in saved_opt["state"].items():
        for name, value in slot.items():
            assert torch.equal(torch.as_tensor(state["state"][index][name]), torch.as_tensor(value)), name
    assert fresh_sched.state_dict() == scheduler.state_dict()
    assert fresh_opt.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
    assert fresh_scaler.get_scale() == 1024.0
    assert _draws(fresh_gen) == expected_draws  # torch, numpy, python and the generator all continue as saved


def test_restore_rng_false_leaves_random_state_alone(tmp_path):
    model, _, _ = _trained()
    path = save_checkpoint(tmp_path / "c.pt", model, epoch=1)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    load_checkpoint(path, model, restore_rng=False)
    assert torch.equal(before, torch.get_rng_state())


def test_crash_while_saving_leaves_previous_checkpoint_untouched(tmp_path, monkeypatch):
    model, optimizer, _ = _trained()
    path = save_checkpoint(tmp_path / "c.pt", model, optimizer, epoch=1)
    original = path.read_bytes()
    real_save = torch.save

    def crashing_save(obj, file, *args, **kwargs):
        real_save(obj, file, *args, **kwargs)
        file.truncate(100)  # half-written ...
        raise KeyboardInterrupt("power cut")  # ... and the process is interrupted

    monkeypatch.setattr(torch, "save", crashing_save)
    with torch.no_grad():
        model[0].weight.add_(1.0)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, optimizer, epoch=2)
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"], "a temporary file was left behind"
    assert load_checkpoint(path, model)["epoch"] == 1


def test_write_goes_through_a_temporary_file_in_the_same_folder(tmp_path, monkeypatch):
    model, _, _ = _trained()
    renames = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (renames.append((src, dst)), real_replace(src, dst)))
    path = save_checkpoint(tmp_path / "c.pt", model, epoch=0)
    assert len(renames) == 1 and os.path.dirname(renames[0][0]) == str(tmp_path) and renames[0][1] == path


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_file_gets_a_clear_error(tmp_path, cut):
    model, optimizer, _ = _trained()
    path = save_checkpoint(tmp_path / "c.pt", model, optimizer, epoch=3)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(CourseError, match="not a whole course_utils checkpoint"):
        load_checkpoint(path, model, optimizer)


class _Foreign:
    pass


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not a whole"),
        (b"just some text, not a checkpoint\n", "not a whole"),
        ({"weights": torch.ones(2), "format": "other/1"}, "format marker"),
        ({"a": 1}, "format marker"),
        ([torch.ones(2)], "format marker"),
        (_Foreign(), "refuses to load"),  # an arbitrary object: weights_only loading must not unpickle it
    ],
)
def test_foreign_files_get_a_clear_error(tmp_path, content, message):
    path = tmp_path / "foreign.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(CourseError, match=message):
        load_checkpoint(path, nn.Linear(2, 2))


def test_plain_state_dict_points_to_load_state_dict(tmp_path):
    model = nn.Linear(2, 2)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    with pytest.raises(CourseError, match="load_state_dict"):
        load_checkpoint(tmp_path / "w.pt", model)


def test_missing_keys_wrong_model_missing_file_and_missing_optimizer_state(tmp_path):
    model, optimizer, _ = _trained()
    path = save_checkpoint(tmp_path / "c.pt", model, epoch=2)
    state = torch.load(path, weights_only=True)
    del state["rng"]
    torch.save(state, tmp_path / "partial.pt")
    with pytest.raises(CourseError, match="lacks rng"):
        load_checkpoint(tmp_path / "partial.pt", model)
    with pytest.raises(CourseError, match="do not fit this model"):
        load_checkpoint(path, nn.Sequential(nn.Linear(4, 9)))
    with pytest.raises(CourseError, match="There is no checkpoint"):
        load_checkpoint(tmp_path / "nope.pt", model)
    with pytest.raises(CourseError, match="holds no optimizer state"):
        load_checkpoint(path, model, optimizer)
    with pytest.raises(CourseError, match="epoch"):
        save_checkpoint(path, model, epoch=-1)
