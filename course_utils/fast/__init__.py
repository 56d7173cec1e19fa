"""CIFAR-10 in seconds on a GPU: data on the device, a small whitened network, the recipe, its timing.

:mod:`~course_utils.fast.data` holds the data on the device as uint8 and cuts augmented
batches there (:func:`cifar10_uint8`, :class:`GpuBatches`, :func:`translate`, :func:`flip`);
:mod:`~.net` the network (:func:`fast_net`, its whitening stem); :mod:`~.config` every
hyper-parameter and trick switch (:class:`FastConfig`); :mod:`~.optim` the optimiser,
schedule, weight average and precision; :mod:`~.evaluate` accuracy with test-time
augmentation; :mod:`~.train` one timed run (:func:`train_fast`, :class:`FastRun`);
:mod:`~.timing` synchronised timing (:func:`cuda_time`, :class:`Stopwatch`). Modules here
may import ``course_utils.data``, ``course_utils.training``, ``course_utils.config``,
``course_utils.errors`` and each other, never inspection, checks, plots or widgets.
"""

from .config import FastConfig
from .data import GpuBatches, cifar10_uint8, flip, translate
from .evaluate import evaluate_fast, predict_fast
from .net import fast_net, init_whitening, whitening_filters
from .optim import LookaheadAverage, autocast_dtype, triangle_schedule
from .timing import Stopwatch, cuda_time, synchronize
from .train import FastRun, train_fast

__all__ = [
    "FastConfig",
    "FastRun",
    "GpuBatches",
    "LookaheadAverage",
    "Stopwatch",
    "autocast_dtype",
    "cifar10_uint8",
    "cuda_time",
    "evaluate_fast",
    "fast_net",
    "flip",
    "init_whitening",
    "predict_fast",
    "synchronize",
    "train_fast",
    "translate",
    "triangle_schedule",
    "whitening_filters",
]
