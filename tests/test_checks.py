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
    assert checks.check_function(_conv_ok, F.conv2d, CASES, arg_names=("x", "weight")) is None  # nbgrader reads a number as partial credit
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
        warnings.warn("this is deprecated", UserWarning)
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
    assert not all(a.args[0].shape == b.args[0].shape and torch.equal(a.args[0], b.args[0]) for a, b in zip(cases, other))
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
    assert f"stride={case.kwargs['stride']}, padding={case.kwargs['padding']}" in message.replace("; padding", ", padding")
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
