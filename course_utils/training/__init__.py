"""Training: fit, evaluate, History, fit's options, checkpoints and the learning-rate finder.

:func:`fit` (in :mod:`~course_utils.training.loop`, one epoch in :mod:`~.epoch`, the moving
parts of an epoch in :mod:`~.steps`) and :func:`evaluate` share one internal module,
:mod:`~course_utils.training.runtime`, for the device, the precision, batches and the
sentences that explain a learner's errors. :mod:`~.options` holds fit's options
(``EarlyStopping``, ``GradClip``), :mod:`~.history` the per-epoch record,
:mod:`~.checkpoint` exact save/resume, :mod:`~.features` ``extract_features`` (a frozen
network's outputs over a loader, for linear probes), :mod:`~.lr_finder` the range test and
:mod:`~.sanity` ``sanity_check``, the checks to run before a long training run (the checks in
:mod:`~.sanity_checks` and :mod:`~.sanity_dynamics`, what they share in :mod:`~.sanity_probe`, the
report in :mod:`~.sanity_report`). Modules
here may import ``course_utils.config``, ``course_utils.errors`` and each other, never
data, inspection, checks, plots or widgets; torch, tqdm and matplotlib are imported
inside the functions that use them.
"""

from .checkpoint import CheckpointSpec, load_checkpoint, save_checkpoint
from .epoch import FitState
from .evaluation import evaluate
from .features import extract_features
from .history import History
from .loop import fit
from .lr_finder import METHODS, LRFinderResult, lr_find
from .options import EarlyStopping, GradClip
from .runtime import choose_precision
from .sanity import sanity_check
from .sanity_report import CheckResult, SanityReport

__all__ = [
    "METHODS",
    "CheckResult",
    "CheckpointSpec",
    "EarlyStopping",
    "FitState",
    "GradClip",
    "History",
    "LRFinderResult",
    "SanityReport",
    "choose_precision",
    "evaluate",
    "extract_features",
    "fit",
    "load_checkpoint",
    "lr_find",
    "sanity_check",
    "save_checkpoint",
]
