"""Interactive widgets of the course, built on core ipywidgets controls and matplotlib only.

Every widget shows a static matplotlib picture where no widget front end runs
(see ``_frontend`` for the rule). Importing ``course_utils`` never imports this
package; ``course_utils.widgets`` loads ipywidgets only when a widget class is
first used.

Example:
    >>> from course_utils.widgets import KernelExplorer, Quiz
    >>> KernelExplorer(kernel="sobel_x")
"""

from __future__ import annotations

from typing import Any

_WHERE = {
    "KernelExplorer": "kernel_explorer",
    "Quiz": "quiz",
    "ScheduleExplorer": "schedule_explorer",
    "LRFinderView": "lr_finder_view",
    "FeatureMapExplorer": "feature_maps",
    "ReceptiveFieldView": "receptive_view",
    "display_mode": "_frontend",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        module = importlib.import_module(f".{_WHERE[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
