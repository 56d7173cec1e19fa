"""sanity_check: a correct CNN passes every check, and each kind of broken model or data is caught by its check."""

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from course_utils import sanity_check
from course_utils.errors import CheckFailed, CourseError
from course_utils.training import SanityReport

CLASSES = 4
ALL = [
    "forward",
    "input_normalisation",
    "label_range",
    "raw_scores",
    "initial_loss",
    "gradient_flow",
    "batch_independence",
    "batchnorm_batch_size",
    "overfit_one_batch",
]


def data(n=48, scale=None, labels=None):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, 8, 8, generator=g)
    if scale in ("pixels", "unit"):
        x = torch.rand(n, 3, 8, 8, generator=g) * (255 if scale == "pixels" else 1)
    y = torch.arange(n) % CLASSES if labels is None else labels
    return TensorDataset(x, y)


def loader(dataset=None, batch_size=16, drop_last=False):
    return DataLoader(dataset or data(), batch_size=batch_size, shuffle=True, drop_last=drop_last)


def cnn(bias=False, head=()):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=bias),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.1),
        nn.Linear(32, CLASSES),
        *head,
    )


class Lambda(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class Unused(nn.Module):
    def __init__(self):
        super().__init__()
        self.body, self.spare = cnn(), nn.Linear(32, CLASSES)  # spare: declared, never called

    def forward(self, x):
        return self.body(x)


class Detached(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = cnn()

    def forward(self, x):
        features = self.body[:5](x).detach()  # cuts the conv and BN off from the loss
        return self.body[5:](features)


class Constant(nn.Module):
    """Scores that ignore the input: only the label frequencies can be learnt."""

    def __init__(self):
        super().__init__()
        self.scores = nn.Parameter(torch.zeros(CLASSES))

    def forward(self, x):
        return self.scores.expand(len(x), CLASSES)


class PerSampleNorm(nn.Module):
    """Runs BatchNorm on one sample at a time: every BN call sees a batch of one."""

    def __init__(self):
        super().__init__()
        self.body = cnn()

    def forward(self, x):
        x = torch.cat([self.body[1](self.body[0](xi[None])) for xi in x])
        return self.body[2:](x)


class TrainOnlyCrash(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = cnn()

    def forward(self, x):
        if self.training:
            raise RuntimeError("boom in training mode")
        return self.body(x)


def run(model, batches=None, loss_fn=None, **kwargs):
    report = sanity_check(model, batches or loader(), loss_fn or nn.CrossEntropyLoss(), **kwargs)
    assert isinstance(report, SanityReport)
    assert [r.name for r in report] == ALL
    assert len(str(report).splitlines()) == len(ALL)  # one line per check
    return report


def test_a_correct_cnn_passes_every_check():
    report = run(cnn())
    assert report.ok and report.failed == [], str(report)
    assert report.passed == ALL
    assert all(line.startswith("✅") for line in str(report).splitlines())
    assert report["initial_loss"].details["expected"] == pytest.approx(1.3863, abs=1e-4)
    assert report["overfit_one_batch"].details["last"] < 0.05
    assert repr(report) == "SanityReport(ok=True, failed=[])"
    report.raise_if_failed()  # nothing to raise


def bias_too_large():
    model = cnn()
    with torch.no_grad():
        model[-1].bias.copy_(torch.tensor([8.0, 0.0, -8.0, 0.0]))
    return model


def log_softmax_then_ce():
    return cnn(head=[nn.LogSoftmax(dim=1)])


BROKEN = {
    # name: (model, loader, the checks that must fail, a phrase of the failure)
    "softmax before CrossEntropyLoss": (
        lambda: cnn(head=[nn.Softmax(dim=1)]),
        loader,
        # a softmax also caps how low CrossEntropyLoss can go, so the batch cannot be memorised either
        ["raw_scores", "overfit_one_batch"],
        "remove the softmax and return the raw scores",
    ),
    "log_softmax before CrossEntropyLoss": (log_softmax_then_ce, loader, ["raw_scores"], "nn.NLLLoss"),
    "pixels 0-255": (cnn, lambda: loader(data(scale="pixels")), ["input_normalisation"], "like raw pixels"),
    "pixels 0-1, not centred": (cnn, lambda: loader(data(scale="unit")), ["input_normalisation"], "ToTensor's range"),
    "labels out of range": (
        cnn,
        lambda: loader(data(labels=torch.arange(48) % 5)),
        ["label_range"],
        "make the last layer give 5 scores",
    ),
    "labels 1-based": (
        cnn,
        lambda: loader(data(labels=torch.arange(48) % CLASSES + 1)),
        ["label_range"],
        "look 1-based",
    ),
    "unused layer": (Unused, loader, ["gradient_flow"], "spare.weight"),
    "bias before BatchNorm": (lambda: cnn(bias=True), loader, ["gradient_flow"], "0.bias gets a zero gradient"),
    "mixes the batch": (
        lambda: nn.Sequential(Lambda(lambda x: x - x.mean(0, keepdim=True)), cnn()),
        loader,
        ["batch_independence"],
        "depends on the input of sample",
    ),
    "last batch of one": (
        cnn,
        lambda: loader(data(n=49)),
        ["batchnorm_batch_size"],
        "49 = 3 × 16 + 1",
    ),
    "BatchNorm on one sample at a time": (
        PerSampleNorm,
        loader,
        ["batchnorm_batch_size"],
        "inside a loop over the batch",
    ),
    "output ignores the input": (Constant, loader, ["overfit_one_batch"], "cannot memorise"),
    "last bias too large": (bias_too_large, loader, ["initial_loss"], "far above ln(4)"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_each_broken_model_or_loader_is_caught_by_its_check(name):
    make_model, make_loader, failing, phrase = BROKEN[name]
    report = run(make_model(), make_loader())
    assert report.failed == failing, str(report)
    assert not report.ok
    assert phrase in report[failing[0]].message, report[failing[0]].message
    lines = [line for line in str(report).splitlines() if line.startswith("❌")]
    assert len(lines) == len(failing)
    with pytest.raises(CheckFailed, match=failing[0]):
        report.raise_if_failed()


def test_the_fix_each_sentence_suggests_makes_the_check_pass():
    assert run(cnn(), loader(data(n=49), drop_last=True)).ok  # drop_last=True: no batch of one
    assert run(log_softmax_then_ce(), loss_fn=nn.NLLLoss()).ok  # log-probabilities are what NLLLoss expects
    report = run(cnn(), loss_fn=nn.NLLLoss())  # raw scores into NLLLoss
    assert "raw_scores" in report.failed and "F.log_softmax" in report["raw_scores"].message


def test_features_cut_off_by_detach_are_named():
    report = run(Detached())
    assert "gradient_flow" in report.failed  # fixed random features may also keep the batch from being memorised
    assert "3 parameter tensors receive no gradient (body.0.weight, body.1.weight, body.1.bias)" in (
        report["gradient_flow"].message
    )


def test_batches_of_one_are_caught_from_the_loader_settings_or_from_the_batches_themselves():
    report = run(cnn(), loader(batch_size=1))
    assert report["batchnorm_batch_size"].message.startswith("The loader's batch_size is 1")
    x, y = data().tensors
    report = run(cnn(), [(x[:8], y[:8]), (x[8:9], y[8:9])])  # a plain list of batches: no batch_size to read
    assert report["batchnorm_batch_size"].message.startswith("The loader gives a batch of one sample")


def test_the_report_shows_its_lines_in_ipython():
    pretty = pytest.importorskip("IPython.lib.pretty")
    report = run(cnn(), skip="overfit_one_batch")
    assert pretty.pretty(report) == str(report)


class SoftmaxInEval(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = cnn()

    def forward(self, x):
        scores = self.body(x)
        return scores if self.training else scores.softmax(dim=1)


def test_a_softmax_in_eval_mode_only_is_caught_and_named():
    report = run(SoftmaxInEval())
    assert report.failed == ["raw_scores"]
    assert report["raw_scores"].message.startswith("The outputs in eval mode are probabilities")
    assert "in both modes" in report["raw_scores"].message


def test_labels_out_of_range_skip_the_checks_that_need_the_loss():
    report = run(cnn(), loader(data(labels=torch.arange(48) % 5)))
    for name in ("initial_loss", "gradient_flow", "overfit_one_batch"):
        assert report[name].status == "skipped" and "label_range" in report[name].message


def test_a_model_that_cannot_learn_at_a_tiny_learning_rate_fails_only_the_overfit_check():
    model = cnn()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
    report = run(model, optimizer=optimizer, overfit_steps=50)
    assert report.failed == ["overfit_one_batch"], str(report)
    assert "your SGD (lr 1e-06)" in report["overfit_one_batch"].message


def test_an_optimizer_of_another_model_is_explained():
    other = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    report = run(cnn(), optimizer=other)
    assert report.failed == ["overfit_one_batch"]
    assert "none of the model's parameters" in report["overfit_one_batch"].message


def test_uint8_inputs_are_caught_and_the_gradient_check_on_inputs_is_skipped():
    x = (torch.rand(48, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    model = nn.Sequential(Lambda(lambda x: x.float() / 255), cnn())
    report = run(model, DataLoader(TensorDataset(x, torch.arange(48) % CLASSES), batch_size=16))
    assert report.failed == ["input_normalisation"] and "uint8" in report["input_normalisation"].message
    assert report["batch_independence"].status == "skipped"


def test_frozen_parameters_are_not_counted_as_missing_gradients():
    model = cnn()
    model[0].requires_grad_(False)
    report = run(model)
    assert report.ok, str(report)
    assert "1 frozen" in report["gradient_flow"].message


def test_a_regression_loss_skips_the_classification_checks_with_a_line():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(192, 1))
    xs = torch.randn(32, 3, 8, 8)
    report = run(model, DataLoader(TensorDataset(xs, xs.mean((1, 2, 3))[:, None]), batch_size=8), nn.MSELoss())
    assert report.skipped == ["label_range", "raw_scores", "initial_loss"]
    assert "this check is for classification" in report["initial_loss"].message
    assert report.ok, str(report)


def test_a_crashing_check_becomes_a_failed_line_and_the_others_still_run():
    report = run(TrainOnlyCrash())
    assert report["forward"].status == "passed" and report["batch_independence"].status == "passed"
    for name in ("initial_loss", "gradient_flow", "batchnorm_batch_size", "overfit_one_batch"):
        assert report[name].status == "failed" and "boom in training mode" in report[name].message


def test_a_model_that_cannot_take_the_batch_fails_forward_and_skips_what_needs_it():
    model = nn.Sequential(nn.Flatten(), nn.Linear(10, CLASSES))
    report = run(model)
    assert report.failed == ["forward"]
    assert "trace_shapes" in report["forward"].message
    assert report["input_normalisation"].status == "passed"
    assert report.skipped == ALL[2:]


def test_a_flatten_that_folds_samples_together_fails_forward():
    model = cnn()
    model[4] = Lambda(lambda x: x.reshape(-1, 16))  # 32 features per sample read as 2 rows of 16
    model[6] = nn.Linear(16, CLASSES)
    report = run(model)
    assert report.failed == ["forward"] and "x.flatten(1)" in report["forward"].message
    assert "A batch of 16 samples gives 32 output(s)" in report["forward"].message


def test_a_slow_overfit_stops_at_the_time_limit():
    report = run(cnn(), time_limit=1e-9)
    assert report.failed == ["overfit_one_batch"] and "longer than" in report["overfit_one_batch"].message


def test_skip_and_wrong_arguments():
    report = run(cnn(), skip=["overfit_one_batch"])
    assert report.skipped == ["overfit_one_batch"] and report.ok
    with pytest.raises(CourseError, match="unknown checks"):
        sanity_check(cnn(), loader(), nn.CrossEntropyLoss(), skip=["overfit"])
    with pytest.raises(CourseError, match="nn.Module"):
        sanity_check(lambda x: x, loader(), nn.CrossEntropyLoss())
    with pytest.raises(CourseError, match="gave no batch"):
        sanity_check(cnn(), [], nn.CrossEntropyLoss())
    with pytest.raises(KeyError, match="No check"):
        report["nope"]
    with pytest.raises(CourseError, match=r"loss_fn=CrossEntropyLoss\(\)"):
        sanity_check(cnn(), loader(), nn.CrossEntropyLoss)  # the class, not a loss
    assert run(cnn(), skip="overfit_one_batch").skipped == ["overfit_one_batch"]  # one name as a string


class Unpicklable(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = cnn()
        self.log = open(__file__)  # noqa: SIM115  (a file handle cannot be deep-copied)

    def forward(self, x):
        return self.body(x)


def test_a_model_that_cannot_be_copied_gets_a_sentence_on_every_line_that_needs_a_copy():
    model = Unpicklable()
    try:
        report = run(model)
    finally:
        model.log.close()
    assert report["forward"].status == "failed"
    assert report["forward"].message.startswith("sanity_check works on a copy of the model and copy.deepcopy(model)")


def test_int32_labels_fail_the_label_check_with_the_fix():
    dataset = TensorDataset(data().tensors[0], (torch.arange(48) % CLASSES).int())
    report = run(cnn(), loader(dataset))
    assert report.failed == ["label_range"] and "y.long()" in report["label_range"].message


def test_labels_that_leak_into_the_inputs_give_an_initial_loss_far_below_chance():
    x, y = data().tensors
    leak = Lambda(lambda x: 20 * F.one_hot(x[:, 0, 0, 0].round().long().clamp(0, CLASSES - 1), CLASSES).float())
    x = x.clone()
    x[:, 0, 0, 0] = y.float()
    head = nn.Linear(CLASSES, CLASSES)
    with torch.no_grad():
        head.weight.copy_(torch.eye(CLASSES))
        head.bias.zero_()
    report = run(nn.Sequential(leak, head), loader(TensorDataset(x, y)))
    assert "initial_loss" in report.failed and "far below" in report["initial_loss"].message


def test_batchnorm_without_running_statistics_is_named_when_it_mixes_the_batch():
    model = cnn()
    model[1] = nn.BatchNorm2d(8, track_running_stats=False)
    report = run(model)
    assert report.failed == ["batch_independence"]
    assert "track_running_stats=False" in report["batch_independence"].message


def test_labels_of_a_subset_are_read_from_the_whole_data_set():
    labels = torch.arange(60) % CLASSES
    labels[50:] = 7  # out of range, but outside the subset
    x = torch.randn(60, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    subset = Subset(Subset(TensorDataset(x, labels), list(range(55))), list(range(48)))
    report = run(cnn(), loader(subset))
    assert report.ok and "all 48 labels" in report["label_range"].message, str(report)
    report = run(cnn(), loader(Subset(TensorDataset(x, labels), [0, 1, 2, 3, 4, 5, 6, 55])))
    assert report.failed == ["label_range"] and "from 0 to 7" in report["label_range"].message


def test_the_functional_losses_count_as_classification():
    assert run(cnn(), loss_fn=F.cross_entropy).ok
    assert run(cnn(), loss_fn=F.cross_entropy, num_batches=1)["label_range"].status == "passed"


class Augmented(Dataset):
    """Draws from Python's and NumPy's global generators, as a hand-written augmentation might."""

    def __init__(self):
        self.base = data()

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        x, y = self.base[i]
        flip = random.random() < 0.5 and np.random.rand() < 2
        return (x.flip(-1) if flip else x), y


def test_the_callers_model_optimizer_and_random_state_are_left_exactly_as_they_were():
    model = cnn(head=[nn.ReLU()])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    F.cross_entropy(model(torch.randn(8, 3, 8, 8)), torch.arange(8) % CLASSES).backward()
    optimizer.step()  # momentum buffers and moved BN statistics, then fresh gradients to keep
    F.cross_entropy(model(torch.randn(8, 3, 8, 8)), torch.arange(8) % CLASSES).backward()
    model.eval()
    model[1].train()  # a mixed mode, as after a partial model.eval()
    model[0].weight.requires_grad_(False)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    grads = {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}
    modes = {n: m.training for n, m in model.named_modules()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    optim_state = {k: v["momentum_buffer"].clone() for k, v in enumerate(optimizer.state.values())}
    torch_rng, py_rng, np_rng = torch.random.get_rng_state(), random.getstate(), np.random.get_state()

    report = sanity_check(model, loader(Augmented()), nn.CrossEntropyLoss(), optimizer=optimizer)

    assert len(report.results) == len(ALL)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert state["1.num_batches_tracked"] == model.state_dict()["1.num_batches_tracked"]
    after = {n: p.grad for n, p in model.named_parameters()}
    assert all((grads[n] is None) == (g is None) and (g is None or torch.equal(grads[n], g)) for n, g in after.items())
    assert {n: m.training for n, m in model.named_modules()} == modes
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    assert all(torch.equal(optim_state[k], v["momentum_buffer"]) for k, v in enumerate(optimizer.state.values()))
    assert optimizer.param_groups[0]["lr"] == 0.1
    assert torch.equal(torch_rng, torch.random.get_rng_state()) and py_rng == random.getstate()
    assert all(np.array_equal(a, b) for a, b in zip(np_rng, np.random.get_state()))
