"""Checks for exercises: compare a learner's answer with PyTorch and say exactly what differs.

What lives here: :mod:`.core` (one ✓ line or one :class:`CheckFailed` sentence;
descriptions of values; tensor type, shape and dtype), :mod:`.values` (results
compared with the expected ones: tensors position by position, tuples, named
tuples and lists element by element by value), :mod:`.cases` (:class:`Case`,
seeded :func:`random_cases`), :mod:`.function` (:func:`check_function` and
:func:`call_learner`), the statement's rules shared with verification —
:mod:`.forbid` (:class:`Forbid`), :mod:`.rules` (the predefined ``NO_CONV``, ``NO_CONV_LAYER``,
``NO_POOLING``, ``NO_NORM``), :mod:`.inputs` (arguments left unchanged) and
:mod:`.returns` (the kind of a result) — and :mod:`.modules` (checks on
``nn.Module`` answers). What it may import: the standard library,
``course_utils.errors`` and, inside functions, torch and numpy; never
``widgets``, ``grading`` or the package's own ``__init__``. The grading
subpackage imports from here (the rules' sentences are the same in both graders).
Visible tests in a notebook and hidden tests use the same functions; hidden
tests pass ``hidden=True`` so a failure does not reveal their inputs beyond
shapes and dtypes. No check returns a value (nbgrader would read a number
ending a check cell as partial credit).
"""

from ..errors import CheckFailed
from .cases import Case, CaseMaker, as_case, random_cases
from .core import check_dtype, check_shape, check_tensor, describe, passed
from .forbid import Forbid, recording_ops
from .function import call_learner, check_function
from .inputs import mutation_message
from .modules import (
    check_contains,
    check_layers,
    check_module,
    check_output_shape,
    check_param_count,
    check_requires_grad,
    count_parameters,
)
from .returns import kind_of, returns_problem
from .rules import NO_CONV, NO_CONV_LAYER, NO_NORM, NO_POOLING
from .values import check_close, check_equal

__all__ = [
    "NO_CONV",
    "NO_CONV_LAYER",
    "NO_NORM",
    "NO_POOLING",
    "Case",
    "CaseMaker",
    "CheckFailed",
    "Forbid",
    "as_case",
    "call_learner",
    "check_close",
    "check_contains",
    "check_dtype",
    "check_equal",
    "check_function",
    "check_layers",
    "check_module",
    "check_output_shape",
    "check_param_count",
    "check_requires_grad",
    "check_shape",
    "check_tensor",
    "count_parameters",
    "describe",
    "kind_of",
    "mutation_message",
    "passed",
    "random_cases",
    "recording_ops",
    "returns_problem",
]
