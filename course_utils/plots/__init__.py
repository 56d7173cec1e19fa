"""Figures the chapters draw again and again: image, filter and feature-map grids, curves, confusion matrices.

Every function takes ``ax=None`` (single plots) or ``fig=None`` (grids), makes a
new figure only when none is given, returns what it drew on, and never calls
``plt.show()``: the notebook decides when a figure appears (end the line with
``;`` to hide the returned object's text). Inputs are checked before a figure is
made, so a wrong input raises a :class:`~course_utils.errors.CourseError` and
leaves no empty figure behind. ``matplotlib`` is imported inside the functions.
:mod:`~course_utils.plots.grids` draws grids of pictures, :mod:`~.charts` curves and
matrices. Plots are views: they may import ``course_utils.errors`` and the packages
below them (training, for the LR finder's result), never widgets; nothing but widgets
and the package face imports them.
"""

from .charts import confusion_counts, plot_confusion_matrix, plot_lr_finder, plot_training_curves
from .grids import denormalize, plot_feature_maps, plot_images, plot_kernels

__all__ = [
    "confusion_counts",
    "denormalize",
    "plot_confusion_matrix",
    "plot_feature_maps",
    "plot_images",
    "plot_kernels",
    "plot_lr_finder",
    "plot_training_curves",
]
