"""course_utils.checks: right answers pass quietly, wrong answers fail with a readable sentence."""

import warnings

import pytest
import torch
import torch.nn.functional as F

from course_utils import checks
from course_utils.errors import CheckFailed, CourseError


def _conv_ok(x, w):
    return F.conv2d(x, w)


def _conv_off_by_one(x, w):
    return F.conv2d(x, w)[..., :-1]


def _conv_one_wrong_value(x, w):
    out = F.conv2d(x, w).clone()
    out[0, 0, 1, 2] += 0.5
    return out


CASES = [(torch.randn(1, 1, 5, 5), torch.randn(1, 1, 3, 3)), (torch.randn(2, 3, 6, 7), torch.randn(4, 3, 2, 3))]


def test_right_answer_passes_and_says_so(capsys):
    assert (
        checks.check_function(_conv_ok, F.conv2d, CASES, arg_names=("x", "weight")) is None
    )  # nbgrader reads a number as partial credit
    captured = capsys.readouterr()
    assert captured.out.startswith("✓ _conv_ok matches the reference on 2 cases")
    assert captured.err == ""


def test_wrong_shape_names_the_dimension_and_the_case():
    with pytest.raises(CheckFailed) as info:
        checks.check_function(_conv_off_by_one, F.conv2d, CASES, arg_names=("x", "weight"))
    message = str(info.value)
    assert "case 1 of 2" in message and "x: a float32 tensor of shape (1, 1, 5, 5)" in message
    assert "shape (1, 1, 3, 2), expected (1, 1, 3, 3)" in message and "dimension 3" in message


def test_wrong_value_names_the_position_and_both_values():
    with pytest.raises(CheckFailed) as info:
        checks.check_function(_conv_one_wrong_value, F.conv2d, CASES[:1])
    message = str(info.value)
    assert "at 1 of 9 positions" in message and "[0, 0, 1, 2]" in message
    assert "off by 0.5" in message and "expected" in message


def test_wrong_dtype_is_reported_with_a_hint():
    x, w = torch.randn(1, 1, 4, 4, dtype=torch.float64), torch.randn(1, 1, 2, 2, dtype=torch.float64)
    with pytest.raises(CheckFailed, match="dtype float32, expected float64"):
        checks.check_function(lambda a, b: F.conv2d(a, b).float(), F.conv2d, [(x, w)])


def test_learner_exception_becomes_one_sentence():
    def broken(x, w):
        return x[10]

    with pytest.raises(CheckFailed) as info:
        checks.check_function(broken, F.conv2d, CASES[:1], name="conv2d_loops", arg_names=("x", "weight"))
    message = str(info.value)
    assert message.startswith("your conv2d_loops raised IndexError")
    assert "x: a float32 tensor of shape (1, 1, 5, 5)" in message
    assert info.value.__cause__ is None or isinstance(info.value.__cause__, IndexError)


def test_stub_is_reported_as_not_written_yet():
    def stub(x, w):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not written yet"):
        checks.check_function(stub, F.conv2d, CASES[:1], name="conv2d_loops")


def test_missing_return_gets_a_hint():
    with pytest.raises(CheckFailed, match="Did you forget a `return`"):
        checks.check_function(lambda x, w: None, F.conv2d, CASES[:1])


def test_hidden_mode_is_silent_on_success_and_vague_on_failure(capsys):
    checks.check_function(_conv_ok, F.conv2d, CASES, hidden=True)
    assert capsys.readouterr().out == ""
    with pytest.raises(CheckFailed) as info:
        checks.check_function(_conv_off_by_one, F.conv2d, CASES, hidden=True)
    assert "a hidden case" in str(info.value) and "case 1 of" not in str(info.value)


def test_learner_cannot_change_the_inputs_the_reference_sees():
    def mutating(x, w):
        out = F.conv2d(x, w)
        x.zero_()
        return out

    # Allowed to change x, it still cannot change what the reference sees: each side gets its own copy.
    checks.check_function(mutating, F.conv2d, CASES, mutates=("x",))
    for case in CASES:
        assert case[0].abs().sum() > 0


def test_warnings_never_reach_stderr(capsys):
    def noisy(x, w):
        warnings.warn("this is deprecated", UserWarning, stacklevel=2)
        return F.conv2d(x, w)

    checks.check_function(noisy, F.conv2d, CASES[:1])
    assert capsys.readouterr().err == ""


def test_nan_is_located():
    expected = torch.ones(2, 3)
    actual = expected.clone()
    actual[1, 2] = float("nan")
    with pytest.raises(CheckFailed, match=r"NaN at \[1, 2\]"):
        checks.check_close(actual, expected)


def test_non_tensor_answers_are_named():
    with pytest.raises(CheckFailed, match="should be a torch.Tensor, but it is the list"):
        checks.check_close([1.0, 2.0], torch.tensor([1.0, 2.0]))
    with pytest.raises(CheckFailed, match="NumPy"):
        checks.check_close(torch.ones(2).numpy(), torch.ones(2))


def test_tensor_subclasses_are_refused():
    class Liar(torch.Tensor):
        def __eq__(self, other):
            return True

    fake = torch.zeros(3).as_subclass(Liar)
    with pytest.raises(CheckFailed, match="plain torch.Tensor"):
        checks.check_close(fake, torch.ones(3))


def test_tolerances():
    expected = torch.tensor([1.0, 100.0])
    checks.check_close(expected + torch.tensor([5e-6, 5e-3]), expected)
    with pytest.raises(CheckFailed):
        checks.check_close(expected + torch.tensor([1e-3, 0.0]), expected)


@pytest.mark.parametrize(
    "actual, expected, fragment",
    [
        (12.0, 12, "return the whole number 12 as an int"),
        (True, 1, "expected the number 1"),
        (11, 12, "is the number 11, expected the number 12"),
        ((3, 4), (3, 5), "expected the tuple (3, 5)"),
        ("same", "valid", "expected a str"),
    ],
)
def test_check_equal_failures(actual, expected, fragment):
    with pytest.raises(CheckFailed) as info:
        checks.check_equal(actual, expected, "answer")
    assert fragment in str(info.value)


def test_check_equal_passes_on_equal_values():
    checks.check_equal(12, 12)
    checks.check_equal(torch.tensor(7), 7)
    checks.check_equal(0.1 + 0.2, 0.3)
    checks.check_equal((3, 4), (3, 4))


def test_numbers_compared_by_check_function():
    def params(c_in, c_out, k):
        return c_in * c_out * k * k

    def reference(c_in, c_out, k):
        return sum(p.numel() for p in torch.nn.Conv2d(c_in, c_out, k).parameters())

    with pytest.raises(CheckFailed, match=r"case 1 of 1 \(argument 1: the number 3.*expected the number 56"):
        checks.check_function(params, reference, [(3, 2, 3)])


def test_hint_is_appended():
    with pytest.raises(CheckFailed, match="Hint: slide the window"):
        checks.check_function(_conv_off_by_one, F.conv2d, CASES[:1], hint="slide the window over every position")


def test_check_failed_renders_without_a_traceback():
    error = CheckFailed("result has shape (2,), expected (3,)")
    assert error._render_traceback_() == ["❌ result has shape (2,), expected (3,)"]
    assert isinstance(error, AssertionError)


# --- generated cases -------------------------------------------------------------------------------------------


def _make_conv_case(r):
    c, h, k = r.int(1, 3), r.int(3, 9), r.int(1, 3)
    x, w = r.randn(r.int(1, 2), c, h, h + r.int(0, 2)), r.randn(r.int(1, 3), c, k, k)  # (N, C, H, W), (C', C, k, k)
    return checks.Case((x, w), {"stride": r.int(1, 3), "padding": r.int(0, k - 1)})


def _conv_ignores_stride(x, w, stride=1, padding=0):
    return F.conv2d(x, w, padding=padding)


def test_random_cases_are_varied_and_reproducible():
    cases = checks.random_cases(_make_conv_case, 30, seed=3)
    assert len(cases) == 30 and all(isinstance(c, checks.Case) for c in cases)
    assert len({tuple(c.args[0].shape) for c in cases}) > 10 and {c.kwargs["stride"] for c in cases} == {1, 2, 3}
    again = checks.random_cases(_make_conv_case, 30, seed=3)
    assert all(torch.equal(a.args[0], b.args[0]) and a.kwargs == b.kwargs for a, b in zip(cases, again))
    other = checks.random_cases(_make_conv_case, 30, seed=4)
    assert not all(
        a.args[0].shape == b.args[0].shape and torch.equal(a.args[0], b.args[0]) for a, b in zip(cases, other)
    )
    checks.check_function(F.conv2d, F.conv2d, cases)
    with pytest.raises(CourseError, match="n=0"):
        checks.random_cases(_make_conv_case, 0)


def test_the_first_failing_generated_case_is_named_in_plain_words():
    cases = checks.random_cases(_make_conv_case, 25, seed=0)
    first = next(i for i, c in enumerate(cases, start=1) if c.kwargs["stride"] > 1)
    with pytest.raises(CheckFailed) as info:
        checks.check_function(_conv_ignores_stride, F.conv2d, cases, name="conv2d_loops", arg_names=("x", "weight"))
    message = str(info.value)
    case = cases[first - 1]
    assert f"case {first} of 25" in message
    assert f"x: a float32 tensor of shape {tuple(case.args[0].shape)}" in message
    assert f"stride={case.kwargs['stride']}, padding={case.kwargs['padding']}" in message.replace(
        "; padding", ", padding"
    )
    assert "stride=the number" not in message


def test_an_exception_names_the_learners_line_not_course_utils():
    def broken(x, w):
        h = x.shape[2]
        return x[:, :, h + 5] @ w  # IndexError on this line

    with pytest.raises(CheckFailed) as info:
        checks.check_function(broken, F.conv2d, CASES[:1], name="conv2d_loops", arg_names=("x", "weight"))
    message = str(info.value)
    assert message.startswith("your conv2d_loops raised IndexError: ")
    assert "at line" in message and "`return x[:, :, h + 5] @ w  # IndexError on this line`" in message
    assert "course_utils" not in message and "on input x: a float32 tensor of shape (1, 1, 5, 5)" in message

    def torch_refuses(x, w):
        return F.conv2d(x, w[:, :1].expand(-1, 2, -1, -1))  # the error is raised inside torch

    with pytest.raises(CheckFailed) as info:
        checks.check_function(torch_refuses, F.conv2d, CASES[:1])
    assert "raised RuntimeError" in str(info.value) and "`return F.conv2d(x, w[:, :1]" in str(info.value)


# ---------------------------------------------------------------- inputs left unchanged (issue 10, defect 6)
def _avg_pool_scaling_in_place(x):
    x.div_(4)  # the corpus's wrong avg_pool2d: scales the caller's tensor
    return F.avg_pool2d(x * 4, 2) / 4 * 4 / 4 * 4 / 4


def _gradient_map_leaky(x):
    x.requires_grad_(True)  # leaves requires_grad and .grad on the caller's tensor
    (x**2).sum().backward()
    return x.grad.detach().clone()


def _gradient_map_on_a_copy(x):
    x = x.detach().clone().requires_grad_(True)
    (x**2).sum().backward()
    return x.grad


def test_an_answer_that_changes_its_input_in_place_is_refused():
    x = torch.randn(1, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    with pytest.raises(CheckFailed) as info:
        checks.check_function(_avg_pool_scaling_in_place, lambda x: F.avg_pool2d(x, 2), [(x,)], name="avg_pool2d")
    assert str(info.value) == (
        "`avg_pool2d` changed its argument `x` in place (its values); work on a copy (e.g. `x * 2`, not `x.mul_(2)`)."
    )


def test_requires_grad_or_grad_left_on_an_input_is_refused(capsys):
    x = torch.randn(3, 3, generator=torch.Generator().manual_seed(1))
    with pytest.raises(
        CheckFailed, match=r"^`gradient_map` changed its argument `x` in place \(its requires_grad, now True\)"
    ):
        checks.check_function(_gradient_map_leaky, lambda x: 2 * x, [(x,)], name="gradient_map")
    checks.check_function(_gradient_map_on_a_copy, lambda x: 2 * x, [(x,)], name="gradient_map")
    x_grad = x.clone().requires_grad_(True)
    x_grad.grad = torch.zeros(3, 3)

    def clears_grad(t):
        t.grad = None
        return 2 * t.detach()

    with pytest.raises(CheckFailed, match=r"changed its argument `t` in place \(its .grad\)"):
        checks.check_function(clears_grad, lambda t: 2 * t.detach(), [(x_grad,)])
    assert "✓ gradient_map" in capsys.readouterr().out


def test_a_model_argument_must_keep_its_parameters_and_buffers_unless_allowed(capsys):
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    x = torch.randn(2, 1, 5, 5, generator=torch.Generator().manual_seed(2))

    def predict_in_train_mode(m, x):
        return m(x).detach()  # BatchNorm in training mode updates its running statistics

    def predict_in_eval_mode(m, x):
        m.eval()  # switching to eval mode is allowed: it changes no parameter or buffer
        with torch.no_grad():
            return m(x)

    def train_step(m, x):
        with torch.no_grad():
            m[0].weight.mul_(0.5)
        return 0.0

    with pytest.raises(
        CheckFailed, match=r"^`predict` changed its argument `m` in place \(its buffer 1.running_mean\)"
    ):
        checks.check_function(predict_in_train_mode, lambda m, x: m(x).detach(), [(model, x)], name="predict")
    checks.check_function(predict_in_eval_mode, lambda m, x: m.eval()(x).detach(), [(model, x)], name="predict")
    with pytest.raises(CheckFailed, match=r"changed its argument `m` in place \(its parameter 0.weight\)"):
        checks.check_function(train_step, lambda m, x: 0.0, [(model, x)], name="train_step")
    checks.check_function(train_step, lambda m, x: 0.0, [(model, x)], name="train_step", mutates=("m",))
    assert capsys.readouterr().out.count("✓") == 2


def test_arg_names_name_the_changed_argument():
    x = torch.ones(2)
    with pytest.raises(CheckFailed, match="changed its argument `image` in place"):
        checks.check_function(lambda a: a.add_(1), lambda a: a + 1, [(x,)], name="brighten", arg_names=("image",))


# ---------------------------------------------------------------- return types held to the statement
def test_a_tensor_returned_where_a_float_is_asked_is_refused(capsys):
    with pytest.raises(CheckFailed) as info:
        checks.check_function(lambda n: torch.tensor(n / 2), lambda n: n / 2, [(3,)], name="field_size", returns=float)
    assert str(info.value) == "`field_size` returned a tensor; the exercise asks for a float (use `.item()`)."
    checks.check_function(lambda n: n / 2, lambda n: n / 2, [(3,)], name="field_size", returns=float)
    checks.check_function(
        lambda n: 2 * n, lambda n: 2.0 * n, [(3,)], name="doubled", returns=float
    )  # an int is a float here
    assert capsys.readouterr().out.count("✓") == 2


@pytest.mark.parametrize(
    "value, returns, message",
    [
        (True, int, "`f` returned a bool; the exercise asks for an int."),
        (None, float, "`f` returned None; the exercise asks for a float (did you forget a `return`?)."),
        ((1, 2), list, "`f` returned a tuple; the exercise asks for a list (use `list(...)`)."),
        (2.0, int, "`f` returned a float; the exercise asks for an int (use `int(...)` or `//`)."),
        (3, (tuple, torch.Tensor), "`f` returned an int; the exercise asks for a tuple or a tensor."),
    ],
)
def test_return_kinds(value, returns, message):
    with pytest.raises(CheckFailed) as info:
        checks.check_function(lambda: value, lambda: value, [()], name="f", returns=returns)
    assert str(info.value) == message


# ---------------------------------------------------------------- tuples compared by value
def test_named_tuples_compare_element_wise_with_plain_tuples(capsys):
    from typing import NamedTuple

    class Field(NamedTuple):
        size: int
        jump: int
        start: float

    def field_recursion(layers):
        out, size, jump, start = [], 1, 1, 0.5
        for k, s, p, d in layers:
            size, start, jump = size + (d * (k - 1)) * jump, start + ((d * (k - 1)) / 2 - p) * jump, jump * s
            out.append(Field(size, jump, start))
        return out

    def reference(layers):
        return [tuple(f) for f in field_recursion(layers)]

    checks.check_function(field_recursion, reference, [([(3, 1, 1, 1), (3, 2, 1, 1)],)], returns=list)
    checks.check_equal(Field(3, 1, 0.5), (3, 1, 0.5))
    with pytest.raises(CheckFailed, match=r"item 1 is the float 1.0 where the whole number 1 is expected"):
        checks.check_equal([Field(3, 1.0, 0.5)], [(3, 1, 0.5)])
    with pytest.raises(CheckFailed):
        checks.check_equal([Field(3, 2, 0.5)], [(3, 1, 0.5)])
    assert "✓ field_recursion" in capsys.readouterr().out


def test_call_learner_applies_the_rules_on_request():
    x = torch.ones(1, 1, 4, 4)

    def leaky(t):
        t.mul_(2)
        return F.max_pool2d(t, 2)

    assert checks.call_learner(leaky, checks.Case((x,)), "pool").shape == (1, 1, 2, 2)  # no rules unless asked
    with pytest.raises(CheckFailed, match="^`pool` changed its argument `t` in place"):
        checks.call_learner(leaky, checks.Case((x,)), "pool", mutates=())
    with pytest.raises(CheckFailed, match="^`pool` calls `F.max_pool2d`"):
        checks.call_learner(leaky, checks.Case((x,)), "pool", forbid=checks.NO_POOLING)
    with pytest.raises(CheckFailed, match="^`pool` returned a tensor; the exercise asks for a float"):
        checks.call_learner(leaky, checks.Case((x,)), "pool", returns=float)
    assert torch.equal(x, torch.ones(1, 1, 4, 4))


def test_mutates_must_name_an_argument():
    with pytest.raises(CourseError, match=r"mutates=\('modle',\) names \['modle'\], which are not arguments of step"):
        checks.check_function(
            lambda model: 0.0, lambda model: 0.0, [(torch.zeros(1),)], name="step", mutates=("modle",)
        )


def test_checks_import_only_errors_from_the_package_and_form_no_cycle():
    """checks/ sits below grading/ and widgets/: it imports course_utils.errors and itself only, without a cycle."""
    import ast
    from pathlib import Path

    folder = Path(checks.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in folder.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                target = (node.module or "").split(".")[0]
                if node.level == 1:
                    deps.add(target)
                else:
                    assert node.level == 2 and target == "errors", f"{path.name} imports ..{node.module}"
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n.startswith("course_utils") for n in names), f"{path.name} imports {names}"
        graph[path.stem] = deps - {""}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(d == goal or (d not in seen and reaches(d, goal, seen | {d})) for d in graph.get(start, ()))

    assert not [m for m in graph if m != "__init__" and reaches(m, m, {m})], graph
    assert not any("__init__" in deps for deps in graph.values())


def test_a_hook_left_on_a_model_argument_is_refused() -> None:
    """Leaving a forward hook on the caller's model changes it; removing the hook afterwards does not."""
    from course_utils.checks import Case, check_function
    from course_utils.checks.inputs import changed, snapshot

    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU())
    x = torch.randn(4, 3)

    def leaves_hook(model, x):
        model[0].register_forward_hook(lambda m, i, o: None)
        return model(x)

    def removes_hook(model, x):
        handle = model[0].register_forward_hook(lambda m, i, o: None)
        try:
            return model(x)
        finally:
            handle.remove()

    before = snapshot(model)
    removes_hook(model, x)
    assert changed(before, model) is None
    with pytest.raises(CheckFailed, match=r"changed its argument `model` in place \(1 hook\(s\) left"):
        check_function(leaves_hook, lambda model, x: model(x), [Case((model, x))], name="stats")
    check_function(removes_hook, lambda model, x: model(x), [Case((model, x))], name="stats")
