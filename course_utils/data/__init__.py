"""Data for the course: sample photographs, and CIFAR-10 / CIFAR-2 with their sources.

:mod:`~course_utils.data.photos` gives real photographs that ship with matplotlib,
:mod:`~course_utils.data.cifar` the CIFAR-10 and CIFAR-2 datasets, loaders and channel
statistics, and :mod:`~course_utils.data.cifar_sources` where the images come from (a
torchvision copy, an image-folder archive named by ``COURSE_CIFAR10_ARCHIVE``, or a
download). Modules here may import ``course_utils.config`` and ``course_utils.errors``
and each other, never training, inspection, checks, plots or widgets. Nothing downloads
or reads anything at import time.
"""

from .cifar import (
    CIFAR2_CLASSES,
    CIFAR10_CLASSES,
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFARDataset,
    channel_stats,
    cifar2,
    cifar10,
    cifar10_loaders,
    cifar10_source,
)
from .photos import SAMPLE_IMAGES, sample_image

__all__ = [
    "CIFAR2_CLASSES",
    "CIFAR10_CLASSES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "CIFARDataset",
    "SAMPLE_IMAGES",
    "channel_stats",
    "cifar2",
    "cifar10",
    "cifar10_loaders",
    "cifar10_source",
    "sample_image",
]
