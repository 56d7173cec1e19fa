"""course_utils: the helper package of the hands-on CNN course. Re-exports only; no side effects."""

from .checks import check_close, check_dtype, check_equal, check_function, check_shape, check_tensor
from .config import budget, data_dir, describe, get_device, is_smoke
from .data import sample_image
from .errors import CheckFailed, CourseError
from .hooks import ActivationStats, Captured, activation_stats, capture_activations, capture_gradients
from .kernels import KERNEL_NAMES, get_kernel
from .lr_finder import LRFinderResult, lr_find
from .receptive import ReceptiveField, effective_receptive_field, receptive_field
from .repro import seed_everything, set_deterministic
from .shapes import ShapeTable, conv_output_size, conv_transpose_output_size, pool_output_size, trace_shapes

__version__ = "0.1.0"
