"""course_utils: the helper package of the hands-on CNN course. Re-exports only; no side effects."""

from .checks import check_close, check_dtype, check_equal, check_function, check_shape, check_tensor
from .config import budget, data_dir, describe, get_device, is_smoke
from .data import CIFAR10_MEAN, CIFAR10_STD, channel_stats, cifar2, cifar10, cifar10_loaders, cifar10_source, sample_image
from .errors import CheckFailed, CourseError
from .inspection import (
    KERNEL_NAMES, ActivationStats, Captured, ReceptiveField, ShapeTable, activation_stats, capture_activations,
    capture_gradients, conv_output_size, conv_transpose_output_size, effective_receptive_field, get_kernel,
    pool_output_size, receptive_field, trace_shapes,
)
from .plots import (
    confusion_counts, denormalize, plot_confusion_matrix, plot_feature_maps, plot_images, plot_kernels,
    plot_lr_finder, plot_training_curves,
)
from .repro import seed_everything, set_deterministic
from .training import (
    CheckpointSpec, EarlyStopping, FitState, GradClip, History, LRFinderResult, evaluate, fit, load_checkpoint, lr_find,
    save_checkpoint,
)

__version__ = "0.1.0"
