"""Chapter 06 (normalisation): the autograder cells pass the solution, reject these wrong answers.

The tests are nbtools.ChapterChecks'; VISIBLE and HIDDEN_ONLY answers replace a solution block.
Exercises 1 and 5 are checked through the notebook's helper cell ``check-helpers`` (the verifier
runs it too, as the spec's SETUP_CELLS), so the namespace these tests build runs it as well.
Beyond the shared tests: verification scores the rule breakers and the subtle answers 0 with the
notebook's sentences, and the check cells forbid the same routes as the spec.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nbtools  # noqa: E402
from nbtools import ChapterChecks, autograder_cells, exec_source, load_solution  # noqa: E402
from test_chapter01_checks import verified_scores  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CHAPTER = "06_normalisation"
HELPERS = "check-helpers"  # the cell id the spec names in SETUP_CELLS

# ---------------------------------------------------------------- wrong answers (solution blocks)

BN_TRAIN_ONE_PASS = """
n = x.numel() // x.shape[1]
mean = x.mean(dim=(0, 2, 3), keepdim=True)
var = (x * x).mean(dim=(0, 2, 3), keepdim=True) - mean ** 2      # E[x^2] - E[x]^2: cancels in float32
out = (x - mean) / torch.sqrt(var + eps) * weight.reshape(1, -1, 1, 1) + bias.reshape(1, -1, 1, 1)
running_mean.mul_(1 - momentum).add_(momentum * mean.reshape(-1))
running_var.mul_(1 - momentum).add_(momentum * var.reshape(-1) * n / (n - 1))
return out
"""
BN_TRAIN_BIASED_RUNNING = """
mean = x.mean(dim=(0, 2, 3), keepdim=True)
var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
out = (x - mean) / torch.sqrt(var + eps) * weight.reshape(1, -1, 1, 1) + bias.reshape(1, -1, 1, 1)
running_mean.mul_(1 - momentum).add_(momentum * mean.reshape(-1))
running_var.mul_(1 - momentum).add_(momentum * var.reshape(-1))   # the biased variance
return out
"""
BN_TRAIN_REBINDS = """
mean = x.mean(dim=(0, 2, 3), keepdim=True)
var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
n = x.numel() // x.shape[1]
running_mean = (1 - momentum) * running_mean + momentum * mean.reshape(-1)    # a new local tensor
running_var = (1 - momentum) * running_var + momentum * var.reshape(-1) * n / (n - 1)
return (x - mean) / torch.sqrt(var + eps) * weight.reshape(1, -1, 1, 1) + bias.reshape(1, -1, 1, 1)
"""
BN_TRAIN_IN_PLACE_X = """
mean = x.mean(dim=(0, 2, 3), keepdim=True)
var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
n = x.numel() // x.shape[1]
running_mean.mul_(1 - momentum).add_(momentum * mean.reshape(-1))
running_var.mul_(1 - momentum).add_(momentum * var.reshape(-1) * n / (n - 1))
x.sub_(mean).div_(torch.sqrt(var + eps))
return x * weight.reshape(1, -1, 1, 1) + bias.reshape(1, -1, 1, 1)
"""
BN_TRAIN_LIBRARY = """
return F.batch_norm(x, running_mean, running_var, weight, bias, training=True, momentum=momentum, eps=eps)
"""
BN_TRAIN_TUPLE = """
n = x.numel() // x.shape[1]
mean = x.mean(dim=(0, 2, 3), keepdim=True)
var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
running_mean.mul_(1 - momentum).add_(momentum * mean.reshape(-1))
running_var.mul_(1 - momentum).add_(momentum * var.reshape(-1) * n / (n - 1))
out = (x - mean) / torch.sqrt(var + eps) * weight.reshape(1, -1, 1, 1) + bias.reshape(1, -1, 1, 1)
return out, running_mean, running_var
"""
BN_EVAL_BATCH_STATS = """
mean = x.mean(dim=(0, 2, 3), keepdim=True)
var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
return (x - mean) / torch.sqrt(var + eps) * weight.reshape(1, -1, 1, 1) + bias.reshape(1, -1, 1, 1)
"""
BN_EVAL_VIEW = """
n, c, h, w = x.shape
flat = x.view(n, c, h * w)                     # view needs a contiguous tensor
out = (flat - running_mean[:, None]) / torch.sqrt(running_var[:, None] + eps) * weight[:, None] + bias[:, None]
return out.view(n, c, h, w)
"""
BN_EVAL_LIBRARY = """
return F.batch_norm(x, running_mean, running_var, weight, bias, training=False, eps=eps)
"""
LN_CHANNELS_ONLY = """
mean = x.mean(dim=1, keepdim=True)
var = x.var(dim=1, unbiased=False, keepdim=True)
return (x - mean) / torch.sqrt(var + eps) * weight + bias
"""
LN_ONE_PASS = """
mean = x.mean(dim=(1, 2, 3), keepdim=True)
var = (x * x).mean(dim=(1, 2, 3), keepdim=True) - mean ** 2
return (x - mean) / torch.sqrt(var + eps) * weight + bias
"""
LN_LIBRARY = """
return F.layer_norm(x, x.shape[1:], weight, bias, eps)
"""
GN_INTERLEAVED = """
n, c, h, w = x.shape
groups = x.reshape(n, c // num_groups, num_groups, h, w)      # channel c -> group c % G
mean = groups.mean(dim=(1, 3, 4), keepdim=True)
var = groups.var(dim=(1, 3, 4), unbiased=False, keepdim=True)
out = ((groups - mean) / torch.sqrt(var + eps)).reshape(n, c, h, w)
return out * weight.reshape(1, c, 1, 1) + bias.reshape(1, c, 1, 1)
"""
GN_VIEW = """
n, c, h, w = x.shape
groups = x.view(n, num_groups, -1)                           # view needs a contiguous tensor
mean = groups.mean(dim=2, keepdim=True)
var = groups.var(dim=2, unbiased=False, keepdim=True)
out = ((groups - mean) / torch.sqrt(var + eps)).view(n, c, h, w)
return out * weight.reshape(1, c, 1, 1) + bias.reshape(1, c, 1, 1)
"""
GN_LIBRARY = """
return torch.nn.GroupNorm(num_groups, x.shape[1], eps=eps).to(x.dtype)(x) * weight.reshape(1, -1, 1, 1) + bias.reshape(1, -1, 1, 1)
"""
FUSE_TEMPLATE = """
with torch.no_grad():
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    conv_bias = {conv_bias}
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride={stride}, padding={padding},
                      dilation={dilation}, bias=True, dtype=conv.weight.dtype)
    fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
    fused.bias.copy_((conv_bias - bn.running_mean) * scale + bn.bias)
return fused
"""
RIGHT = {
    "conv_bias": "conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)",
    "stride": "conv.stride",
    "padding": "conv.padding",
    "dilation": "conv.dilation",
}
FUSE_NO_CONV_BIAS = FUSE_TEMPLATE.format(**{**RIGHT, "conv_bias": "torch.zeros_like(bn.running_mean)"})
FUSE_FIRST_ONLY = FUSE_TEMPLATE.format(
    **{**RIGHT, "stride": "conv.stride[0]", "padding": "conv.padding[0]", "dilation": "conv.dilation[0]"}
)
FUSE_IN_PLACE = """
with torch.no_grad():
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    conv.weight.mul_(scale.reshape(-1, 1, 1, 1))                 # changes the caller's conv
    conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias)
return conv
"""
FUSE_SWITCHES_MODE = """
bn.eval()
conv.eval()
with torch.no_grad():
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    conv_bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                      padding=conv.padding, dilation=conv.dilation, bias=True, dtype=conv.weight.dtype)
    fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
    fused.bias.copy_((conv_bias - bn.running_mean) * scale + bn.bias)
return fused
"""
FUSE_LIBRARY = """
from torch.nn.utils.fusion import fuse_conv_bn_eval
import copy
return fuse_conv_bn_eval(copy.deepcopy(conv).eval(), copy.deepcopy(bn).eval())
"""
FUSE_SEQUENTIAL = """
return nn.Sequential(conv, bn)
"""


def _whole(exercise: str, body: str) -> str:
    """A whole solution cell whose solution block is ``body`` (as the verifier receives a hand-in)."""
    return nbtools.with_answer(nbtools.solution_cells(load_solution(CHAPTER))[exercise].source, body)


@pytest.fixture(autouse=True)
def _with_check_helpers(monkeypatch):
    """The namespace of a graded notebook also holds the helper cell the checks of Exercises 1 and 5 call."""
    nbtools.run_setup_cells_too(monkeypatch, HELPERS)


class TestChapter06(ChapterChecks):
    CHAPTER = CHAPTER
    EXERCISES = ["batch_norm_train", "batch_norm_eval", "layer_norm", "group_norm", "fuse_conv_bn"]

    VISIBLE = [
        (
            "batch_norm_train",
            "keeps the biased variance in running_var",
            BN_TRAIN_BIASED_RUNNING,
            ["running_var after", "unbiased"],
        ),
        (
            "batch_norm_train",
            "rebinds the buffers instead of updating them in place",
            BN_TRAIN_REBINDS,
            ["running_mean after", "in place"],
        ),
        ("batch_norm_train", "standardises x in place", BN_TRAIN_IN_PLACE_X, "changed its argument `x`"),
        ("batch_norm_train", "calls F.batch_norm", BN_TRAIN_LIBRARY, "which this exercise forbids"),
        ("batch_norm_train", "returns the buffers too", BN_TRAIN_TUPLE, "returned a tuple"),
        (
            "batch_norm_eval",
            "uses the batch statistics",
            BN_EVAL_BATCH_STATS,
            ["batch_norm_eval on case", "running_mean"],
        ),
        ("batch_norm_eval", "calls F.batch_norm", BN_EVAL_LIBRARY, "which this exercise forbids"),
        ("layer_norm", "normalises over the channels only", LN_CHANNELS_ONLY, "layer_norm on case 1"),
        ("layer_norm", "calls F.layer_norm", LN_LIBRARY, "which this exercise forbids"),
        ("group_norm", "groups every G-th channel", GN_INTERLEAVED, ["group_norm on case 1", "consecutive"]),
        ("group_norm", "calls nn.GroupNorm", GN_LIBRARY, "which this exercise forbids"),
        (
            "fuse_conv_bn",
            "forgets the convolution's bias",
            FUSE_NO_CONV_BIAS,
            ["fused convolution's output", "conv bias"],
        ),
        ("fuse_conv_bn", "scales the caller's conv in place", FUSE_IN_PLACE, "changed its argument `pair`"),
        ("fuse_conv_bn", "switches the modules to eval mode", FUSE_SWITCHES_MODE, "training flags"),
        ("fuse_conv_bn", "calls fuse_conv_bn_eval", FUSE_LIBRARY, "which this exercise forbids"),
        ("fuse_conv_bn", "returns the pair", FUSE_SEQUENTIAL, "should return an nn.Conv2d"),
    ]
    HIDDEN_ONLY = [
        ("batch_norm_train", "computes the variance as E[x^2] - E[x]^2", BN_TRAIN_ONE_PASS, "hidden sequence"),
        ("batch_norm_eval", "views a tensor that need not be contiguous", BN_EVAL_VIEW, ["hidden", "reshape"]),
        ("layer_norm", "computes the variance as E[x^2] - E[x]^2", LN_ONE_PASS, ["hidden", "(x - mean) ** 2"]),
        ("group_norm", "views a tensor that need not be contiguous", GN_VIEW, ["hidden", "reshape"]),
        ("fuse_conv_bn", "keeps only the first number of stride, padding and dilation", FUSE_FIRST_ONLY, "hidden case"),
    ]


# ---------------------------------------------------------------- verification


def test_verification_scores_the_rule_breakers_zero_with_the_notebooks_sentence() -> None:
    """Library routes, an input changed in place and changed modules score 0 outside the kernel too."""
    scores = verified_scores(
        CHAPTER,
        {
            "batch_norm_train": _whole("batch_norm_train", BN_TRAIN_IN_PLACE_X),
            "batch_norm_eval": _whole("batch_norm_eval", BN_EVAL_LIBRARY),
            "layer_norm": _whole("layer_norm", LN_LIBRARY),
            "group_norm": _whole("group_norm", GN_LIBRARY),
            "fuse_conv_bn": _whole("fuse_conv_bn", FUSE_LIBRARY),
        },
    )
    expected = {
        "batch_norm_train": "changed its argument `batches`",
        "batch_norm_eval": "calls `F.batch_norm`, which this exercise forbids",
        "layer_norm": "calls `F.layer_norm`, which this exercise forbids",
        "group_norm": "calls `torch.nn.GroupNorm`, which this exercise forbids",
        "fuse_conv_bn": "which this exercise forbids: the point of this exercise is to fold",
    }
    for exercise, words in expected.items():
        points, reason = scores[f"test_{exercise}"]
        assert points == 0 and words in reason, (exercise, reason)


@pytest.mark.parametrize(
    "exercise, body",
    [
        ("batch_norm_train", BN_TRAIN_ONE_PASS),
        ("batch_norm_train", BN_TRAIN_REBINDS),
        ("batch_norm_eval", BN_EVAL_VIEW),
        ("layer_norm", LN_ONE_PASS),
        ("group_norm", GN_VIEW),
        ("fuse_conv_bn", FUSE_FIRST_ONLY),
        ("fuse_conv_bn", FUSE_IN_PLACE),
        ("fuse_conv_bn", FUSE_SWITCHES_MODE),
    ],
)
def test_verification_scores_wrong_answers_zero(exercise: str, body: str) -> None:
    scores = verified_scores(CHAPTER, {exercise: _whole(exercise, body)})
    assert scores[f"test_{exercise}"][0] == 0, scores[f"test_{exercise}"]
    others = {test: s for test, s in scores.items() if test != f"test_{exercise}"}
    assert all(points > 0 for points, _ in others.values()), others


def test_verification_gives_the_solution_full_marks() -> None:
    scores = verified_scores(CHAPTER, {})
    assert all(points > 0 and not why for points, why in scores.values()), scores


def test_notebook_and_spec_forbid_the_same_routes() -> None:
    """Every check cell defines the spec's rule (same calls, operations and sentence) and passes it to its checks."""
    from course_utils.grading.spec import load_spec

    spec = {ex.test: ex for ex in load_spec(ROOT, CHAPTER).exercises}
    cells = autograder_cells(load_solution(CHAPTER))
    for test, variable in [
        ("test_batch_norm_train", "NORM_ROUTES"),
        ("test_batch_norm_eval", "NORM_ROUTES"),
        ("test_layer_norm", "NORM_ROUTES"),
        ("test_group_norm", "NORM_ROUTES"),
        ("test_fuse_conv_bn", "NO_FUSION"),
    ]:
        source = cells[test].source
        start = source.index(f"{variable} = ")
        definition = source[start : source.index("\n\n", start)]
        ns: dict = {}
        exec(f"from course_utils.checks import NO_NORM, Forbid\n{definition}", ns)  # noqa: S102 - the course's own cell
        assert ns[variable] == spec[test].forbid, test
        visible, hidden = source.split("### BEGIN HIDDEN TESTS")
        assert f"forbid={variable}" in source, f"{test} does not apply {variable}"
        # every check call of the hidden block goes through the rule (directly or through the cell's helper)
        assert hidden.count("check_function(") + hidden.count("check_steps(") + hidden.count("check_fusion(") >= 1


def test_the_spec_runs_the_helper_cell_the_checks_use() -> None:
    from course_utils.grading.spec import load_spec

    spec = load_spec(ROOT, CHAPTER)
    assert list(spec.setup_cells) == [HELPERS]
    helper = [c for c in load_solution(CHAPTER).cells if c.get("id") == HELPERS]
    assert (
        len(helper) == 1
        and "def batch_norm_steps(" in helper[0].source
        and "def fused_conv_output(" in helper[0].source
    )
    assert {ex.name for ex in spec.exercises} >= {"batch_norm_steps", "fused_conv_output"}


# ---------------------------------------------------------------- the prose and the quiz against what PyTorch computes


def _run_concept_cells(ids: list[str]) -> str:
    """Run the setup cell, then the concept cells ``ids`` in order; return what the concept cells print."""
    import contextlib
    import io

    nb = load_solution(CHAPTER)
    by_id = {c.get("id"): c for c in nb.cells}
    ns: dict = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec_source(nbtools.setup_cell(nb).source, ns, "setup")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for cid in ids:
            exec_source(by_id[cid].source, ns, cid)
    return out.getvalue()


def test_sections_3_4_and_6_print_what_their_prose_says() -> None:
    """Running buffers agree with the rule by hand; eval mode ignores the companions; the bias cancels in train mode
    and leaks into eval mode less and less (the prose reads these numbers)."""
    import re

    printed = _run_concept_cells(["running-by-hand", "eval-independence", "bias-free"])
    mean_gap, var_gap = map(float, re.search(r"largest difference: mean (\S+), var (\S+);", printed).groups())
    assert mean_gap < 1e-5 and var_gap < 1e-5, printed
    train_change = float(re.search(r"train mode: largest change .* = (\S+)", printed).group(1))
    eval_change = float(re.search(r"eval  mode: largest change .* = (\S+)", printed).group(1))
    assert train_change > 0.1 and eval_change == 0.0, printed
    gaps = [tuple(map(float, m)) for m in re.findall(r"in train mode (\S+), in eval mode (\S+) ", printed)]
    assert len(gaps) == 3 and all(train < 1e-5 for train, _ in gaps), printed
    assert gaps[0][1] > 0.1 and gaps[2][1] < gaps[0][1] * 1e-2, printed


def test_quiz_answers_agree_with_pytorch() -> None:
    import torch
    from torch import nn

    from course_utils.widgets.quiz import decode_answer

    nb = load_solution(CHAPTER)
    quiz = exec_source(next(c.source for c in nb.cells if "Quiz(" in c.source), {}, "quiz")
    answers = [decode_answer(q["key"])[0] if "key" in q else q["answer"] for q in quiz.questions]
    x = torch.randn(4, 16, 8, 8)
    assert answers[0] == x[:, 0].numel()
    bn = nn.BatchNorm2d(3).eval()
    bn(torch.randn(4, 3, 5, 5))
    assert answers[1] == 2 and bn.num_batches_tracked.item() == 0 and bn.running_mean.abs().max() == 0
    assert answers[2] == 2
    torch.testing.assert_close(
        nn.GroupNorm(1, 4, affine=False)(x[:, :4]), nn.LayerNorm([4, 8, 8], elementwise_affine=False)(x[:, :4])
    )
    bn = nn.BatchNorm2d(1, momentum=0.1)
    for _ in range(10):
        bn(torch.ones(2, 1, 3, 3))  # a constant channel: the batch mean is the bias, 1
    assert abs(answers[3] - bn.running_mean.item()) < 0.005


def test_full_mode_compares_the_four_normalisations_at_batch_sizes_2_to_128(monkeypatch) -> None:
    """The study the issue asks for is the full mode's; smoke mode keeps fewer settings and a tiny subset."""
    nb = load_solution(CHAPTER)
    for smoke, sizes in (("0", (2, 8, 32, 128)), ("1", None)):
        monkeypatch.setenv("COURSE_SMOKE", smoke)
        ns: dict = {}
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            exec_source(nbtools.setup_cell(nb).source, ns, "setup")
            exec_source(nbtools.hyper_cell(nb).source, ns, "hyper-parameters")
        assert ns["NORMS"] == ("none", "batch", "group", "layer")
        if sizes:
            assert ns["BATCH_SIZES"] == sizes and ns["TRAIN_IMAGES"] >= 2_000
        else:
            assert len(ns["BATCH_SIZES"]) < 4 and ns["TRAIN_IMAGES"] <= 512 and ns["EPOCHS"] == 1
