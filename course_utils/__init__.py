"""course_utils: the helper package of the hands-on CNN course. Re-exports only; no side effects."""

from .checks import check_close, check_dtype, check_equal, check_function, check_shape, check_tensor
from .config import budget, data_dir, describe, get_device, is_smoke
from .data import sample_image
from .errors import CheckFailed, CourseError
from .kernels import KERNEL_NAMES, get_kernel
from .repro import seed_everything, set_deterministic

__version__ = "0.1.0"
