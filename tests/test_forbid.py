"""Forbidden routes (course_utils.checks.forbid): PyTorch's own convolution and pooling are the routes refused.

Each forbidden route is refused by ``check_function(..., forbid=...)`` with the sentence that
names the call and why; the from-scratch routes a statement allows (``F.unfold``,
``Tensor.unfold``, ``torch.einsum``, matmul) pass. The run rule is tried alone on answers whose
source cannot be read, and the source rule alone on ``Forbid.source_problem``.
"""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import checks
from course_utils.checks import NO_CONV, NO_CONV_LAYER, NO_POOLING, Forbid, check_function, recording_ops
from course_utils.errors import CheckFailed

G = torch.Generator().manual_seed(0)
X = torch.randn(2, 3, 7, 6, generator=G)  # (N, C_in, H, W)
W = torch.randn(4, 3, 3, 2, generator=G)  # (C_out, C_in, kH, kW)
CONV_CASES = [(X, W)]
WHY_CONV = "which this exercise forbids: the point of this exercise is to compute the convolution yourself."


# ------------------------------------------------------------------ convolution: forbidden routes
def conv_functional(x, w):
    return F.conv2d(x, w)


def conv_torch(x, w):
    return torch.conv2d(x, w)


def conv_convolution(x, w):
    return torch.convolution(x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)


def conv_aten(x, w):
    return torch.ops.aten.convolution(x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)


def conv_layer(x, w):
    layer = nn.Conv2d(w.shape[1], w.shape[0], tuple(w.shape[2:]), bias=False)
    with torch.no_grad():
        layer.weight.copy_(w)
    return layer(x).detach()


def conv_imported(x, w):
    from torch.nn.functional import conv2d

    return conv2d(x, w)


def conv_getattr(x, w):
    return getattr(F, "conv" + "2d")(x, w)


def conv_dunder_import(x, w):
    return __import__("torch").nn.functional.conv2d(x, w)


def conv_eval(x, w):
    return eval("F.conv" + "2d")(x, w)


def conv_dict(x, w):
    return F.__dict__["conv" + "2d"](x, w)


def _conv_helper(x, w):
    return F.conv2d(x, w)


def conv_through_helper(x, w):
    return _conv_helper(x, w)


@pytest.mark.parametrize(
    "answer, shown",
    [
        (conv_functional, "calls `F.conv2d`"),
        (conv_torch, "calls `torch.conv2d`"),
        (conv_convolution, "calls `torch.convolution`"),
        (conv_aten, "calls `torch.ops.aten.convolution`"),
        (conv_layer, "calls `nn.Conv2d`"),
        (conv_imported, "imports `conv2d` from `torch.nn.functional`"),
        (conv_getattr, "uses `getattr`"),
        (conv_dunder_import, "calls `__import__('torch').nn.functional.conv2d`"),
        (conv_eval, "uses `eval`"),
        (conv_dict, "uses `F.__dict__`"),
        (conv_through_helper, "calls `F.conv2d`"),  # a helper of the notebook's own is read too
    ],
)
def test_every_pytorch_route_to_a_convolution_is_refused(answer, shown: str) -> None:
    with pytest.raises(CheckFailed) as info:
        check_function(answer, F.conv2d, CONV_CASES, name="conv2d_unfold", forbid=NO_CONV)
    message = str(info.value)
    assert message.startswith(f"`conv2d_unfold` {shown}"), message
    assert WHY_CONV in message and "Traceback" not in message


# ------------------------------------------------------------------ convolution: allowed routes
def conv_unfold_matmul(x, w):
    c_out, _, kh, kw = w.shape
    cols = F.unfold(x, (kh, kw))  # (N, C_in*kH*kW, L)
    h_out, w_out = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    return (w.reshape(c_out, -1) @ cols).reshape(x.shape[0], c_out, h_out, w_out)


def conv_tensor_unfold_einsum(x, w):
    kh, kw = w.shape[2:]
    patches = x.unfold(2, kh, 1).unfold(3, kw, 1)  # (N, C, H_out, W_out, kH, kW)
    return torch.einsum("nchwij,ocij->nohw", patches, w)


def conv_loops(x, w):
    n, _, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    out = torch.zeros(n, c_out, h - kh + 1, wd - kw + 1, dtype=x.dtype)
    for i in range(h - kh + 1):
        for j in range(wd - kw + 1):
            out[:, :, i, j] = (x[:, None, :, i : i + kh, j : j + kw] * w[None]).sum(dim=(2, 3, 4))
    return out


@pytest.mark.parametrize("answer", [conv_unfold_matmul, conv_tensor_unfold_einsum, conv_loops])
def test_from_scratch_convolutions_are_not_flagged(answer, capsys) -> None:
    check_function(answer, F.conv2d, CONV_CASES, name="conv2d_unfold", forbid=NO_CONV)
    assert "✓ conv2d_unfold matches the reference on 1 case" in capsys.readouterr().out


# ------------------------------------------------------------------ the run rule alone
def _unreadable(source: str, name: str):
    """A function whose source inspect cannot find, as if typed where no file records it."""
    space = {"F": F, "torch": torch, "nn": nn}
    exec(compile(source, "<nowhere>", "exec"), space)
    return space[name]


@pytest.mark.parametrize(
    "source, op, route",
    [
        ("def f(x, w):\n    return F.conv2d(x, w)\n", "convolution", "F.conv2d and nn.Conv2d"),
        (
            "def f(x, w):\n    return torch.ops.aten.convolution(x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)\n",
            "convolution",
            "F.conv2d and nn.Conv2d",
        ),
    ],
)
def test_the_run_rule_catches_what_the_source_rule_cannot_read(source: str, op: str, route: str) -> None:
    answer = _unreadable(source, "f")
    with pytest.raises(CheckFailed) as info:
        check_function(answer, F.conv2d, CONV_CASES, name="conv2d_unfold", forbid=NO_CONV)
    assert str(info.value) == (f"`conv2d_unfold` runs the ATen operation `{op}` (what {route} run), {WHY_CONV}")


def test_the_run_rule_catches_a_partial_of_pytorchs_function() -> None:
    with pytest.raises(CheckFailed, match="runs the ATen operation `convolution`"):
        check_function(
            functools.partial(F.conv2d, stride=1), F.conv2d, CONV_CASES, name="conv2d_unfold", forbid=NO_CONV
        )


def test_recording_ops_names_aten_operations() -> None:
    with recording_ops() as ops:
        F.conv2d(X, W)
        F.max_pool2d(X, 2)
        F.avg_pool2d(X, 2)
    assert {"convolution", "max_pool2d_with_indices", "avg_pool2d"} <= ops
    with recording_ops() as ops:
        F.unfold(X, 3)
        X.unfold(2, 3, 1)
    assert not ops & set(NO_CONV.aten) and not ops & set(NO_POOLING.aten)


# ------------------------------------------------------------------ pooling
def pool_max(x):
    return F.max_pool2d(x, 2)


def pool_max_long(x):
    return torch.nn.functional.max_pool2d(x, 2)


def pool_avg(x):
    return F.avg_pool2d(x, 2)


def pool_module(x):
    return nn.MaxPool2d(2)(x)


def pool_torch(x):
    return torch.max_pool2d(x, 2)


def pool_adaptive(x):
    return F.adaptive_avg_pool2d(x, (x.shape[2] // 2, x.shape[3] // 2))


@pytest.mark.parametrize(
    "answer, shown",
    [
        (pool_max, "calls `F.max_pool2d`"),
        (pool_max_long, "calls `torch.nn.functional.max_pool2d`"),
        (pool_avg, "calls `F.avg_pool2d`"),
        (pool_module, "calls `nn.MaxPool2d`"),
        (pool_torch, "calls `torch.max_pool2d`"),
        (pool_adaptive, "calls `F.adaptive_avg_pool2d`"),
    ],
)
def test_every_pytorch_pooling_route_is_refused(answer, shown: str) -> None:
    with pytest.raises(CheckFailed) as info:
        check_function(answer, lambda x: F.max_pool2d(x, 2), [(X,)], name="max_pool2d", forbid=NO_POOLING)
    assert str(info.value) == (
        f"`max_pool2d` {shown}, which this exercise forbids: the point of this exercise is "
        "to compute the pooling yourself."
    )


@pytest.mark.parametrize(
    "source, op",
    [
        ("def f(x):\n    return F.max_pool2d(x, 2)\n", "max_pool2d_with_indices"),
        ("def f(x):\n    return F.avg_pool2d(x, 2)\n", "avg_pool2d"),
        ("def f(x):\n    return nn.AvgPool2d(2)(x)\n", "avg_pool2d"),
    ],
)
def test_pooling_run_rule(source: str, op: str) -> None:
    with pytest.raises(CheckFailed, match=f"runs the ATen operation `{op}`"):
        check_function(
            _unreadable(source, "f"),
            lambda x: F.max_pool2d(x, 2),
            [(X[:, :, :6, :6],)],
            name="pool",
            forbid=NO_POOLING,
            dtype=False,
            atol=1e9,
        )


def max_pool2d(x, kernel_size=2):
    """A learner's own max_pool2d: its own name, called recursively-looking, is not PyTorch's."""
    windows = x.unfold(2, kernel_size, kernel_size).unfold(3, kernel_size, kernel_size)
    return windows.amax(dim=(-2, -1))


def mixed(x):
    return 0.5 * max_pool2d(x) + 0.5 * max_pool2d(-x) * -1


def test_a_learners_own_pooling_function_is_not_pytorchs(capsys) -> None:
    check_function(max_pool2d, lambda x: F.max_pool2d(x, 2), [(X,)], name="max_pool2d", forbid=NO_POOLING)
    check_function(mixed, lambda x: 0.5 * F.max_pool2d(x, 2) - 0.5 * F.max_pool2d(-x, 2), [(X,)], forbid=NO_POOLING)
    assert capsys.readouterr().out.count("✓") == 2


# ------------------------------------------------------------------ building the layer
def count_by_building(c_in, c_out, k, bias=True):
    return sum(p.numel() for p in nn.Conv2d(c_in, c_out, k, bias=bias, device="meta").parameters())


def count_by_shapes(c_in, c_out, k, bias=True):
    kh, kw = (k, k) if isinstance(k, int) else k
    return c_out * c_in * kh * kw + (c_out if bias else 0)


def test_building_the_layer_is_refused_where_the_statement_says_so(capsys) -> None:
    with pytest.raises(CheckFailed, match=r"^`conv_param_count` calls `nn.Conv2d`, which this exercise forbids: "):
        check_function(count_by_building, count_by_shapes, [(3, 8, 3)], name="conv_param_count", forbid=NO_CONV_LAYER)
    check_function(
        count_by_shapes,
        count_by_building,
        [(3, 8, 3), (2, 4, (3, 1), False)],
        name="conv_param_count",
        forbid=NO_CONV_LAYER,
        returns=int,
    )
    assert "✓ conv_param_count" in capsys.readouterr().out


# ------------------------------------------------------------------ the source rule in detail
@pytest.mark.parametrize(
    "source, found",
    [
        ("def f(model, x):\n    model.eval()\n    return model(x)\n", None),  # a method, not the built-in
        ("def f(x):\n    return torch.compile(g)(x)\n", None),
        ("def f(x):\n    return ops['conv2d'](x)\n", "uses the string `'conv2d'`"),
        ("import sys\ndef f(x):\n    return sys.modules['torch'].conv2d\n", "uses `sys.modules['torch'].conv2d`"),
        ("import importlib\n", "imports `importlib`"),
        ("def f(x):\n    return torch._C._nn.avg_pool2d(x, 2)\n", "uses `torch._C`"),
        ("from torch.nn.functional import *\n", "uses `from torch.nn.functional import *`"),
        ("def f(x):\n    return vars(F)['conv' + '2d'](x)\n", "uses `vars` (it can hide a forbidden call), which"),
        ("def f(x):\n    return sys.modules['torch'].nn\n", "uses `sys.modules` (it can hide a forbidden call), which"),
        ("def conv2d(x, w):\n    return x\ndef f(x, w):\n    return conv2d(x, w)\n", None),  # its own conv2d
        ("def f(x):\n    return conv2d(x)\n", "calls `conv2d`"),  # someone else's
        ("def f(\n", None),  # cannot be read: no finding
        ("def f(x, w):\n    %time y = F.conv2d(x, w)\n    return y\n", "calls `F.conv2d`"),  # IPython syntax is read
        ("%%time\ny = F.conv2d(x, w)\n", "calls `F.conv2d`"),
        ("get_ipython().run_line_magic('time', 'y = F.conv2d(x, w)')\n", "calls `F.conv2d`"),  # as verification sees it
        ("%%time\ny = x * 2\n", None),
        ("def conv2d(x):\n    return x\n%time y = conv2d(x)\n", None),  # its own conv2d, timed
        ("get_ipython().run_cell('y = F.conv' + '2d(x, w)')\n", "uses `get_ipython` (it can hide a forbidden call)"),
    ],
)
def test_source_rule(source: str, found: str | None) -> None:
    problem = NO_CONV.source_problem("f", source)
    if found is None:
        assert problem is None, problem
    else:
        assert problem is not None and problem.startswith(f"`f` {found}"), problem


@pytest.mark.parametrize(
    "source, found",
    [
        ("from course_utils.fast import translate\n", "imports from `course_utils.fast`"),
        ("from course_utils.fast.data import _helper as h\n", "imports from `course_utils.fast.data`"),
        ("import course_utils.fast.evaluate as ev\n", "imports `course_utils.fast.evaluate`"),
        ("from course_utils import fast\n", "imports `fast` from `course_utils`"),
        ("def f(x):\n    return course_utils.fast.flip(x)\n", "uses `course_utils.fast`"),
        ("from course_utils.checks import check_close\nimport torch.nn.functional as F\n", None),
        ("def f(x):\n    fast = x.flip(-1)\n    return fast\n", None),  # the learner's own variable
    ],
)
def test_a_refused_module_is_refused_whatever_the_import(source: str, found: str | None) -> None:
    """Refusing `fast` refuses every way of importing from course_utils.fast, not only the names listed."""
    problem = Forbid(calls=("fast",), reason="write it yourself").source_problem("f", source)
    if found is None:
        assert problem is None, problem
    else:
        assert problem is not None and problem.startswith(f"`f` {found}"), problem
    assert Forbid(calls=("conv2d",)).source_problem("f", source) is None  # only a refused part of a path counts


def test_rules_combine_and_indirections_can_be_allowed() -> None:
    both = NO_CONV | NO_POOLING
    assert both.source_problem("f", "y = F.avg_pool2d(x, 2)") and both.source_problem("f", "y = F.conv2d(x, w)")
    assert both.ops_problem("f", ["avg_pool2d"]) and not both.ops_problem("f", ["im2col", "mm"])
    lenient = Forbid(calls=("conv2d",), indirections=False, reason="compute it yourself")
    assert lenient.source_problem("f", "getattr(m, 'weight')") is None
    assert lenient.source_problem("f", "F.conv2d(x, w)") == (
        "`f` calls `F.conv2d`, which this exercise forbids: compute it yourself."
    )


def test_hidden_tests_say_the_same_sentence() -> None:
    messages = []
    for hidden in (False, True):
        with pytest.raises(CheckFailed) as info:
            check_function(conv_functional, F.conv2d, CONV_CASES, name="conv2d_unfold", forbid=NO_CONV, hidden=hidden)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_predefined_rules_are_exported() -> None:
    for name in ("NO_CONV", "NO_CONV_LAYER", "NO_POOLING", "NO_NORM", "Forbid", "recording_ops"):
        assert hasattr(checks, name), name
    assert "convolution" in checks.NO_CONV.aten and "avg_pool2d" in checks.NO_POOLING.aten
    assert "native_batch_norm" in checks.NO_NORM.aten


class _Pooler:
    def pool(self, x):
        return F.max_pool2d(x, 2)


def test_a_bound_method_is_read_through_its_function() -> None:
    with pytest.raises(CheckFailed, match=r"^`pool` calls `F.max_pool2d`"):
        check_function(_Pooler().pool, lambda x: F.max_pool2d(x, 2), [(X,)], name="pool", forbid=NO_POOLING)


def test_a_class_typed_in_a_notebook_is_read_through_its_methods() -> None:
    """In a notebook, inspect.getsource(cls) finds no file; the methods' cells are read instead."""
    import linecache

    source = (
        "class Pool(nn.Module):\n    def forward(self, x):\n        return helper(x)\n"
        "def helper(x):\n    return F.avg_pool2d(x, 2)\n"
    )
    filename = "<notebook cell 7>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    space = {"__name__": "__main__", "nn": nn, "F": F}
    exec(compile(source, filename, "exec"), space)  # noqa: S102
    space["helper"].__globals__["helper"] = space["helper"]
    with pytest.raises(CheckFailed, match=r"^`Pool` calls `F.avg_pool2d`"):
        check_function(
            space["Pool"](),
            lambda x: F.avg_pool2d(x, 2),
            [(X,)],
            name="Pool",
            forbid=Forbid(calls=("avg_pool2d",), reason="pool yourself"),
        )


def test_several_cells_are_read_one_by_one() -> None:
    """A cell that cannot be parsed does not hide a forbidden call in another; a def in one cell is the learner's own."""
    cells = [
        "def count(c_in, c_out, k):\n    return sum(p.numel() for p in nn.Conv2d(c_in, c_out, k).parameters())\n",
        "this is not python (",
    ]
    assert NO_CONV_LAYER.source_problem("count", cells).startswith("`count` calls `nn.Conv2d`")
    assert NO_CONV.source_problem("f", ["def conv2d(x, w):\n    return x\n", "y = conv2d(x, w)\n"]) is None
