"""Looking inside models: classic kernels, shape tracing, receptive fields, hooks and activation statistics.

:mod:`~course_utils.inspection.kernels` gives hand-made 3x3 kernels, :mod:`~.shapes`
the output-size formulas and ``trace_shapes`` (every layer's input and output shape),
:mod:`~.receptive` the receptive field of every layer computed from the layers,
:mod:`~.effective_field` the effective field measured from gradients, and :mod:`~.hooks`
context managers that capture activations and gradients and always remove their hooks, and
:mod:`~.attribution` the tools of the saliency sanity check (rank correlation, cascading randomisation).
Modules here may import ``course_utils.errors`` and each other, never data, training,
checks, plots or widgets; torch and matplotlib are imported inside the functions that
use them.
"""

from .attribution import cascading_randomisation, randomise_, spearman
from .effective_field import effective_receptive_field
from .hooks import ActivationStats, Captured, activation_stats, capture_activations, capture_gradients, resolve_layers
from .kernels import KERNEL_NAMES, get_kernel
from .receptive import ReceptiveField, make_input, receptive_field
from .shapes import ShapeTable, conv_output_size, conv_transpose_output_size, pool_output_size, trace_shapes

__all__ = [
    "KERNEL_NAMES",
    "ActivationStats",
    "Captured",
    "ReceptiveField",
    "ShapeTable",
    "activation_stats",
    "capture_activations",
    "capture_gradients",
    "cascading_randomisation",
    "conv_output_size",
    "conv_transpose_output_size",
    "effective_receptive_field",
    "get_kernel",
    "make_input",
    "pool_output_size",
    "randomise_",
    "receptive_field",
    "resolve_layers",
    "spearman",
    "trace_shapes",
]
