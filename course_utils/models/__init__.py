"""Trained networks for the later chapters: the course's ResNet-18 and the pretrained backbone.

:mod:`~course_utils.models.resnet` holds the architecture (``course_resnet18``: torchvision's
ResNet and BasicBlock with a CIFAR stem and a smaller width), :mod:`~.recipe` how the course
trains it on eight CIFAR-10 classes, and :mod:`~.backbone` ``load_backbone`` and
``course_backbone``, which give torchvision's ImageNet ResNet-18 when its weights can be had
and otherwise the course's own, loaded from a cached checkpoint in the data folder or trained
and cached. Modules here may import ``course_utils.config``, ``course_utils.errors``,
``data/``, ``training/`` and each other, never inspection, checks, plots or widgets; torch
and torchvision are imported inside the functions that use them.
"""

from .backbone import Backbone, course_backbone, course_transforms, load_backbone
from .cache import cache_path
from .recipe import RECIPE_VERSION, Recipe, default_recipe
from .resnet import course_resnet18

__all__ = [
    "RECIPE_VERSION",
    "Backbone",
    "Recipe",
    "cache_path",
    "course_backbone",
    "course_resnet18",
    "course_transforms",
    "default_recipe",
    "load_backbone",
]
