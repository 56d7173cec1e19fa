"""fit/evaluate/History with PyTorch as the oracle: resume after a kill, accumulation, AMP, clipping, schedulers,
early stopping, non-finite losses and learner errors."""

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils import CourseError, EarlyStopping, FitState, GradClip, History, evaluate, fit

ROOT = Path(__file__).resolve().parent.parent


def _data(n=48, features=6, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    y = (x[:, :classes].argmax(1) + (torch.rand(n, generator=g) < 0.1).long()) % classes
    return TensorDataset(x, y)


def _model(seed=0, features=6, classes=3):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(features, 16), nn.Tanh(), nn.Linear(16, classes))


@pytest.fixture(scope="module")
def data():
    """48 samples of 6 features in 3 classes, shared read-only (a test that plants a NaN clones the tensors)."""
    return _data()


@pytest.fixture(scope="module")
def loader(data):
    """6 unshuffled batches of 8: the loader holds no state, so the tests can share it."""
    return DataLoader(data, batch_size=8)


@pytest.fixture
def model():
    """A fresh model with the same initial weights in every test (``_model()`` seeds itself)."""
    return _model()


def _fit(model, train, val=None, *, epochs=1, lr=0.1, optimizer=None, loss_fn=None, progress=False, **options):
    """``fit`` with the set-up most tests share: SGD at ``lr`` over the model's parameters, cross-entropy, no bar."""
    return fit(
        model,
        train,
        val,
        epochs=epochs,
        optimizer=optimizer if optimizer is not None else torch.optim.SGD(model.parameters(), lr=lr),
        loss_fn=loss_fn if loss_fn is not None else nn.CrossEntropyLoss(),
        progress=progress,
        **options,
    )


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_equal_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# -- resume after a crash: bitwise equal to an uninterrupted run -------------------------------------------------
RESUME_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
    from course_utils import fit, seed_everything, set_deterministic

    ckpt, out, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    torch.set_num_threads(1)
    set_deterministic(True)
    seed_everything(0)
    x = torch.randn(60, 6); y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    train = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(1))
    val = DataLoader(TensorDataset(x[:20], y[:20]), batch_size=8)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))  # dropout uses the RNG
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)

    class KillMidEpoch:  # a hard crash in the middle of epoch 3: no clean-up runs
        def on_batch_end(self, state):
            if mode == "kill" and state.epoch == 3 and state.batch == 2:
                os.kill(os.getpid(), signal.SIGKILL) if hasattr(signal, "SIGKILL") else os._exit(9)

    history = fit(model, train, val, epochs=5, optimizer=optimizer, loss_fn=nn.CrossEntropyLoss(),
                  scheduler=scheduler, checkpoint=ckpt, callbacks=[KillMidEpoch()], progress=False)
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "history": history.state_dict()}, out)
    """
)


def test_resume_after_a_killed_run_gives_bitwise_equal_weights(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(RESUME_SCRIPT)

    def start(name, mode):
        args = [sys.executable, str(script), str(tmp_path / f"{name}.ckpt"), str(tmp_path / f"{name}.out"), mode]
        return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    straight, killed = start("straight", "run"), start("resumed", "kill")
    out, err = killed.communicate(timeout=120)
    assert killed.returncode != 0, "the run was not killed"
    assert not (tmp_path / "resumed.out").exists()
    assert torch.load(tmp_path / "resumed.ckpt", weights_only=True)["epoch"] == 2  # the last whole epoch
    resumed = start("resumed", "run")
    for proc in (straight, resumed):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    a = torch.load(tmp_path / "straight.out", weights_only=True)
    b = torch.load(tmp_path / "resumed.out", weights_only=True)
    _assert_equal_weights(a["model"], b["model"])
    assert a["optimizer"]["param_groups"][0]["lr"] == b["optimizer"]["param_groups"][0]["lr"] == 0.025
    for key in a["optimizer"]["state"]:
        assert torch.equal(
            a["optimizer"]["state"][key]["momentum_buffer"], b["optimizer"]["state"][key]["momentum_buffer"]
        )
    assert b["history"]["resumed_from"] == 2 and a["history"]["resumed_from"] is None
    strip = lambda rows: [{k: v for k, v in row.items() if k != "time"} for row in rows]  # noqa: E731
    assert strip(a["history"]["rows"]) == strip(b["history"]["rows"])
    assert len(a["history"]["rows"]) == 5


# -- gradient accumulation -----------------------------------------------------------------------------------------
def _reference_steps(model, optimizer, loader, loss_fn, clip=None):
    """A hand-written PyTorch loop: the oracle. Returns the sample-weighted mean loss."""
    total, seen = 0.0, 0
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        if clip is not None:
            clip(model.parameters())
        optimizer.step()
        total, seen = total + loss.item() * len(y), seen + len(y)
    return total / seen


@pytest.mark.parametrize("n", [48, 42])  # 42: batches 4, ..., 4, 2; the last group is 2 batches (4 + 2 samples)
def test_accumulation_equals_one_larger_batch(n):
    data = _data(n=n)
    small = DataLoader(data, batch_size=4)
    big = DataLoader(data, batch_size=12)
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    history = fit(
        model, small, epochs=2, optimizer=optimizer, loss_fn=nn.CrossEntropyLoss(), accumulate=3, progress=False
    )

    reference = _model()
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.2, momentum=0.9)
    losses = [_reference_steps(reference, ref_opt, big, nn.CrossEntropyLoss()) for _ in range(2)]
    for key, value in _weights(reference).items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=1e-5, atol=1e-6)
    plain = _model()  # without accumulation the same small batches give different weights: the test can fail
    fit(
        plain,
        small,
        epochs=2,
        optimizer=torch.optim.SGD(plain.parameters(), lr=0.2, momentum=0.9),
        loss_fn=nn.CrossEntropyLoss(),
        progress=False,
    )
    assert not torch.allclose(plain[0].weight, model[0].weight, atol=1e-4)
    # the recorded loss is the per-sample mean, as the big-batch loop measures it
    assert history["train_loss"] == pytest.approx(losses, rel=1e-5)


# -- mixed precision -----------------------------------------------------------------------------------------------
def test_amp_bf16_on_cpu_trains_and_autocasts():
    data = _data(n=96)
    loader = DataLoader(data, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0))
    model = _model()
    dtypes = set()
    model[0].register_forward_hook(lambda module, inputs, output: dtypes.add(output.dtype))
    history = fit(
        model,
        loader,
        epochs=6,
        optimizer=torch.optim.Adam(model.parameters(), lr=0.02),
        loss_fn=nn.CrossEntropyLoss(),
        amp=True,
        progress=False,
    )
    assert history.precision == "bf16" and dtypes == {torch.bfloat16}
    assert history["train_loss"][-1] < 0.7 * history["train_loss"][0]
    assert model[0].weight.dtype == torch.float32  # the weights stay float32
    dtypes.clear()
    fit(
        model,
        loader,
        epochs=1,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
        loss_fn=nn.CrossEntropyLoss(),
        amp=None,
        progress=False,
    )
    assert dtypes == {torch.float32}  # amp=None: off on a CPU


# -- gradient clipping ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "spec, clip",
    [
        (0.05, lambda p: nn.utils.clip_grad_norm_(p, 0.05)),
        ({"norm": 0.1, "norm_type": 1.0}, lambda p: nn.utils.clip_grad_norm_(p, 0.1, norm_type=1.0)),
        ({"value": 0.01}, lambda p: nn.utils.clip_grad_value_(p, 0.01)),
        (GradClip(value=0.02), lambda p: nn.utils.clip_grad_value_(p, 0.02)),
    ],
)
def test_grad_clip_matches_torch(spec, clip, model, loader):
    reference = _model()
    _fit(model, loader, lr=0.5, grad_clip=spec)
    _reference_steps(reference, torch.optim.SGD(reference.parameters(), lr=0.5), loader, nn.CrossEntropyLoss(), clip)
    _assert_equal_weights(_weights(model), _weights(reference))
    unclipped = _model()
    _reference_steps(unclipped, torch.optim.SGD(unclipped.parameters(), lr=0.5), loader, nn.CrossEntropyLoss())
    assert not torch.equal(unclipped[0].weight, model[0].weight)  # clipping changed something


@pytest.mark.parametrize("bad", [{"norm": 1.0, "value": 1.0}, {"max": 1.0}, -1.0, "1.0", {"value": 0}])
def test_bad_grad_clip_is_explained(bad, model, loader):
    with pytest.raises(CourseError, match="grad_clip|clipping limit"):
        _fit(model, loader, grad_clip=bad)


# -- schedulers ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("accumulate", [1, 2])
def test_onecycle_steps_once_per_optimizer_step(accumulate):
    loader = DataLoader(_data(n=40), batch_size=8)  # 5 batches
    steps = 3 * math.ceil(len(loader) / accumulate)
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.5, total_steps=steps)
    seen = []
    history = _fit(
        model,
        loader,
        epochs=3,
        optimizer=optimizer,
        scheduler=scheduler,
        scheduler_step="batch",
        accumulate=accumulate,
        callbacks=[type("Spy", (), {"on_batch_end": lambda self, s: seen.append(s.step)})()],
    )
    assert scheduler.last_epoch == steps  # one more step would make OneCycleLR raise
    assert seen[-1] == steps
    assert history["lr"][0] == pytest.approx(0.5 / 25)  # OneCycleLR starts at max_lr / div_factor


def test_epoch_schedulers_and_plateau_gets_the_validation_loss(model, loader):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    history = _fit(
        model,
        loader,
        epochs=3,
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5),
    )
    assert history["lr"] == pytest.approx([0.1, 0.05, 0.025])

    class Plateau(torch.optim.lr_scheduler.ReduceLROnPlateau):
        seen: list = []

        def step(self, metrics, *args, **kwargs):
            self.seen.append(metrics)
            super().step(metrics, *args, **kwargs)

    scheduler = Plateau(optimizer)
    history = _fit(model, loader, loader, epochs=2, optimizer=optimizer, scheduler=scheduler)
    assert Plateau.seen == history["val_loss"]
    with pytest.raises(CourseError, match="scheduler_step='epoch'"):
        _fit(model, loader, optimizer=optimizer, scheduler=scheduler, scheduler_step="batch")


# -- early stopping ------------------------------------------------------------------------------------------------
def test_early_stopping_restores_the_best_weights():
    data = _data(n=64)
    x, y = data.tensors
    train = DataLoader(data, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))
    val = DataLoader(TensorDataset(x, (y + 1) % 3), batch_size=32)  # wrong labels: validation gets worse
    model = _model()
    snapshots = {}
    history = _fit(
        model,
        train,
        val,
        epochs=20,
        lr=0.2,
        early_stopping=EarlyStopping(patience=2),
        callbacks=[lambda state: snapshots.__setitem__(state.epoch, _weights(state.model))],
    )
    best = min(range(len(history)), key=lambda i: history["val_loss"][i]) + 1
    assert history.best_epoch == best and history.stopped_early
    assert len(history) == best + 2  # two epochs of patience, then stop
    _assert_equal_weights(_weights(model), snapshots[best])
    assert not torch.equal(
        snapshots[len(history)][next(iter(snapshots[best]))], snapshots[best][next(iter(snapshots[best]))]
    )
    assert evaluate(model, val, nn.CrossEntropyLoss())["loss"] == pytest.approx(history["val_loss"][best - 1], rel=1e-6)
    with pytest.raises(CourseError, match="no val_loader"):
        _fit(model, train, early_stopping=3)


# -- non-finite loss and learner errors ----------------------------------------------------------------------------
def test_nan_loss_names_epoch_batch_lr_and_what_to_try(model, data):
    x, y = data.tensors
    x = x.clone()
    x[20, 3] = float("nan")  # sample 20 is in batch 3 of size 8
    before = _weights(model)
    with pytest.raises(CourseError) as info:
        _fit(model, DataLoader(TensorDataset(x, y), batch_size=8), epochs=2, lr=0.3)
    message = str(info.value)
    for part in ("nan", "epoch 1, batch 3", "learning rate 0.3", "lower the learning rate", "clip", "NaN"):
        assert part in message, part
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence
    assert all(torch.isfinite(v).all() for v in model.state_dict().values())
    assert not torch.equal(before["0.weight"], model[0].weight)  # two good steps were taken


class _Shift(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(6, 3)
        self.shift = torch.ones(6, device="meta")  # a plain attribute: model.to() does not move it

    def forward(self, x):
        return self.linear(x + self.shift)


@pytest.mark.parametrize(
    "model, loss_fn, message",
    [
        (
            nn.Linear(6, 2),
            nn.CrossEntropyLoss(),
            r"CrossEntropyLoss could not compare the model's output of shape \(8, 2\)",
        ),
        (nn.Linear(6, 1), nn.MSELoss(), r"MSELoss could not compare .* \(8, 1\) .* \(8,\)"),
        (nn.Sequential(nn.Linear(5, 3)), nn.CrossEntropyLoss(), r"batch of shape \(8, 6\).*trace_shapes"),
        (_Shift(), nn.CrossEntropyLoss(), "different devices"),
    ],
)
def test_learner_errors_are_one_sentence(model, loss_fn, message, data):
    x, y = data.tensors
    pairs = TensorDataset(x, y if not isinstance(loss_fn, nn.MSELoss) else y.float())
    with pytest.raises(CourseError, match=message) as info:
        _fit(model, DataLoader(pairs, batch_size=8), loss_fn=loss_fn)
    assert "\n" not in str(info.value)


def test_bad_batches_and_options_are_explained(model, loader):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(CourseError, match="pair"):
        fit(model, [torch.randn(4, 6)], epochs=1, optimizer=opt, loss_fn=nn.CrossEntropyLoss(), progress=False)
    for kwargs, message in [
        ({"epochs": -1}, "epochs"),
        ({"epochs": 1, "accumulate": 0}, "accumulate"),
        ({"epochs": 1, "scheduler_step": "step"}, "scheduler_step"),
        ({"epochs": 1, "early_stopping": "3"}, "early_stopping"),
        ({"epochs": 1, "amp": "yes"}, "amp"),
    ]:
        with pytest.raises(CourseError, match=message):
            fit(model, loader, optimizer=opt, loss_fn=nn.CrossEntropyLoss(), progress=False, **kwargs)


# -- evaluate, callbacks, History ----------------------------------------------------------------------------------
def test_evaluate_matches_a_manual_pass_and_restores_the_mode():
    data = _data(n=50)
    model = nn.Sequential(nn.Linear(6, 16), nn.Dropout(0.5), nn.Linear(16, 3))
    model.train()
    result = evaluate(
        model,
        DataLoader(data, batch_size=16),
        nn.CrossEntropyLoss(),
        metrics={"mae": lambda out, y: (out.argmax(1) - y).abs().float().mean()},
    )
    assert model.training
    model.eval()
    with torch.no_grad():
        out = model(data.tensors[0])
    y = data.tensors[1]
    assert result["loss"] == pytest.approx(nn.functional.cross_entropy(out, y).item(), rel=1e-5)
    assert result["acc"] == pytest.approx((out.argmax(1) == y).float().mean().item())
    assert result["mae"] == pytest.approx((out.argmax(1) - y).abs().float().mean().item(), rel=1e-5)


def test_callback_can_stop_and_sees_the_state(model, loader):
    calls = []

    def stop_after_two(state: FitState):
        calls.append((state.epoch, len(state.history)))
        state.stop = state.epoch == 2

    history = _fit(model, loader, epochs=10, callbacks=[stop_after_two])
    assert calls == [(1, 1), (2, 2)] and len(history) == 2


def test_history_table_columns_and_plot(model, loader):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.axes import Axes

    history = _fit(model, loader, loader, epochs=2)
    assert history.columns == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "time"]
    assert history["epoch"] == [1, 2] and all(t > 0 for t in history["time"])
    assert history["train_acc"][0] == pytest.approx(history.rows[0]["train_acc"])
    text = repr(history)
    assert text.splitlines()[0].split() == history.columns and len(text.splitlines()) == 4
    assert "<table>" in history._repr_html_()
    ax = history.plot()
    assert isinstance(ax, Axes) and len(ax.lines) == 2
    import matplotlib.pyplot as plt

    _, given = plt.subplots()
    assert history.plot(given, metric="acc") is given
    assert History.from_state_dict(history.state_dict()).rows == history.rows
    with pytest.raises(CourseError, match="no column"):
        history["val_f1"]
    plt.close("all")


def test_progress_bar_runs(capsys, model, loader):
    _fit(model, loader, progress=True)
    assert "epoch 1/1" in capsys.readouterr().err


def test_checkpoint_resumes_extends_and_respects_every(tmp_path, loader):
    from course_utils import CheckpointSpec, load_checkpoint

    path = tmp_path / "run.pt"

    def run(epochs, checkpoint):
        model = _model(seed=5)  # a fresh model each time: the weights come from the checkpoint
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        history = _fit(model, loader, epochs=epochs, optimizer=optimizer, checkpoint=checkpoint)
        return model, history

    first, history = run(2, path)
    again, resumed = run(2, path)  # nothing left to do: same weights, same history
    _assert_equal_weights(_weights(first), _weights(again))
    assert resumed.resumed_from == 2 and resumed.rows == history.rows
    longer, extended = run(3, path)  # one more epoch on top
    assert len(extended) == 3 and extended.rows[:2] == history.rows
    assert not torch.equal(longer[0].weight, first[0].weight)
    straight, _ = run(3, None)
    _assert_equal_weights(_weights(longer), _weights(straight))

    sparse = tmp_path / "every2.pt"
    saved = []

    def saved_epoch(state):
        saved.append(load_checkpoint(sparse, _model(), restore_rng=False)["epoch"] if sparse.exists() else None)

    _fit(_model(), loader, epochs=3, checkpoint=CheckpointSpec(sparse, every=2), callbacks=[saved_epoch])
    assert saved == [None, 2, 3]  # epoch 2 (every=2) and the last epoch
    fresh, history = run(1, CheckpointSpec(path, resume=False))
    assert history.resumed_from is None and len(history) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_a_missing_gpu_is_explained(model, loader):
    with pytest.raises(CourseError, match="no CUDA GPU"):
        _fit(model, loader, device="cuda")


def test_float16_with_grad_scaler_matches_a_torch_amp_loop(monkeypatch, tmp_path):
    """The GPU fallback path (float16 autocast + GradScaler), forced on the CPU, against PyTorch's AMP recipe."""
    from course_utils.training import loop

    monkeypatch.setattr(loop, "choose_precision", lambda amp, device: "fp16")
    loader = DataLoader(_data(n=64), batch_size=8)
    model, reference = _model(), _model()
    history = _fit(model, loader, epochs=2, lr=0.2, grad_clip=1.0, checkpoint=tmp_path / "amp.pt")
    assert history.precision == "fp16"

    optimizer = torch.optim.SGD(reference.parameters(), lr=0.2)
    scaler = torch.amp.GradScaler("cpu")
    for _ in range(2):
        for x, y in loader:
            with torch.autocast("cpu", dtype=torch.float16):
                loss = nn.functional.cross_entropy(reference(x), y)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(reference.parameters(), 1.0)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad()
    _assert_equal_weights(_weights(model), _weights(reference))
    saved = torch.load(tmp_path / "amp.pt", weights_only=True)["scaler"]
    assert saved["scale"] == scaler.get_scale() and saved["_growth_tracker"] == scaler.state_dict()["_growth_tracker"]


def test_losses_read_back_in_groups_give_the_same_history_and_name_the_bad_batch(monkeypatch, model, data, loader):
    """On a GPU fit reads the losses back every few batches; the CPU is made to do the same here."""
    from course_utils.training import steps

    every_batch = _fit(model, loader, epochs=2)
    monkeypatch.setattr(steps, "LOSS_READ_EVERY", {"cpu": 4})
    model = _model()
    grouped = _fit(model, loader, epochs=2)
    assert grouped["train_loss"] == pytest.approx(every_batch["train_loss"], rel=1e-12)
    x, y = data.tensors
    x = x.clone()
    x[44, 0] = float("nan")  # batch 6 of 6
    with pytest.raises(CourseError, match=r"epoch 1, batch 6 \(learning rate 0.1\)"):
        _fit(model, DataLoader(TensorDataset(x, y), batch_size=8))


# -- the training accuracy is counted in groups of batches ----------------------------------------------------------
@pytest.mark.parametrize("group, elements", [(16, 1 << 22), (5, 1 << 22), (100, 12)])  # default; 3 groups; by size
def test_train_acc_counts_every_prediction_once(monkeypatch, group, elements):
    from course_utils.training import steps

    monkeypatch.setattr(steps, "ACC_GROUP", group)
    monkeypatch.setattr(steps, "ACC_ELEMENTS", elements)
    data = _data(n=50)  # 13 batches of 4, the last of 2
    model = _model()
    history = _fit(model, DataLoader(data, batch_size=4), lr=0.0)  # lr 0: the weights stay
    x, y = data.tensors
    with torch.no_grad():
        out = model(x)
    assert history["train_acc"][0] == pytest.approx((out.argmax(1) == y).double().mean().item(), abs=1e-12)
    assert history["train_loss"][0] == pytest.approx(nn.functional.cross_entropy(out, y).item(), rel=1e-6)


def test_per_pixel_accuracy_is_a_fraction_of_pixels(monkeypatch):
    """(N, C, H, W) scores and (N, H, W) targets: the accuracy counts pixels, also for maps of different sizes."""
    from course_utils.training import steps

    monkeypatch.setattr(steps, "ACC_ELEMENTS", 200)  # forces a comparison every few batches
    g = torch.Generator().manual_seed(0)
    sizes = [(8, 8), (8, 8), (6, 10), (6, 10), (8, 8), (5, 5)]
    loader = [(torch.randn(3, 2, h, w, generator=g), torch.randint(0, 3, (3, h, w), generator=g)) for h, w in sizes]
    torch.manual_seed(0)
    model = nn.Conv2d(2, 3, 1)  # per-pixel class scores
    history = _fit(model, loader, lr=0.0)
    with torch.no_grad():
        hits = sum((model(x).argmax(1) == y).sum().item() for x, y in loader)
    pixels = sum(y.numel() for _, y in loader)
    assert history["train_acc"][0] == pytest.approx(hits / pixels, abs=1e-12)
    assert evaluate(model, loader)["acc"] == pytest.approx(hits / pixels, abs=1e-12)


# -- fit clears the gradients itself: the same result as Optimizer.zero_grad ---------------------------------------
@pytest.mark.parametrize("when", ["epoch", "batch"])
def test_param_group_added_by_a_callback_is_trained_like_a_hand_written_loop(when, loader):
    """Fine-tuning: the first layer is frozen, then unfrozen and added to the optimiser during training."""

    def unfreeze(model, optimizer):
        model[0].requires_grad_(True)
        optimizer.add_param_group({"params": model[0].parameters(), "lr": 0.05})

    def start():
        model = _model()
        model[0].requires_grad_(False)
        return model, torch.optim.SGD(model[2].parameters(), lr=0.1, momentum=0.9)

    reference, ref_opt = start()
    for epoch in (1, 2, 3):
        for index, (x, y) in enumerate(loader):
            ref_opt.zero_grad()
            nn.functional.cross_entropy(reference(x), y).backward()
            ref_opt.step()
            if when == "batch" and (epoch, index) == (1, 2):
                unfreeze(reference, ref_opt)
        if when == "epoch" and epoch == 1:
            unfreeze(reference, ref_opt)

    class Unfreeze:
        def on_batch_end(self, state):
            if when == "batch" and (state.epoch, state.batch) == (1, 2):
                unfreeze(state.model, state.optimizer)

        def on_epoch_end(self, state):
            if when == "epoch" and state.epoch == 1:
                unfreeze(state.model, state.optimizer)

    model, optimizer = start()
    _fit(model, loader, epochs=3, optimizer=optimizer, callbacks=[Unfreeze()])
    _assert_equal_weights(_weights(model), _weights(reference))
    assert not torch.equal(model[0].weight, _model()[0].weight)  # the unfrozen layer did train


def test_an_optimizer_own_zero_grad_and_the_profiler_label_are_kept(model, loader):
    calls = []

    class CountingSGD(torch.optim.SGD):
        def zero_grad(self, set_to_none=True):
            calls.append(set_to_none)
            super().zero_grad(set_to_none)

    _fit(model, loader, epochs=2, optimizer=CountingSGD(model.parameters(), lr=0.1))  # 6 batches an epoch
    assert calls == [True] * (2 * 6 + 2)  # after every step and at the start of each epoch

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        _fit(model, loader)
    names = {event.name for event in prof.events()}
    assert "Optimizer.zero_grad#SGD.zero_grad" in names  # a profiled run still shows where zero_grad went
