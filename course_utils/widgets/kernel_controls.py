"""The KernelExplorer's setting controls: kernel preset, stride, padding, padding mode, dilation, mode, channel.

One fresh ``Layout`` per control (a shared one would hide them all together), each 280 px wide so the
controls wrap below the picture in a narrow notebook column.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from ._conv import MODES, PADDING_MODES

__all__ = ["settings_controls"]


def _small() -> dict[str, Any]:
    import ipywidgets as widgets

    return dict(layout=widgets.Layout(width="280px"), style={"description_width": "70px"})


def settings_controls(
    preset: str, *, stride: int, padding: int, dilation: int, padding_mode: str, mode: str
) -> SimpleNamespace:
    """The explorer's controls, set to the given values: ``preset``, ``stride``, ``padding``,
    ``padding_mode``, ``dilation``, ``mode`` and ``channel`` (R, G or B) as attributes.

    Example:
        >>> c = settings_controls("sobel_x", stride=2, padding=1, dilation=1, padding_mode="zeros", mode="correlation")
        >>> c.stride.value
        2
    """
    import ipywidgets as widgets

    from ..inspection import KERNEL_NAMES

    return SimpleNamespace(
        preset=widgets.Dropdown(
            options=list(KERNEL_NAMES) + ["custom"], value=preset, description="kernel", **_small()
        ),
        stride=widgets.IntSlider(value=int(stride), min=1, max=4, description="stride", **_small()),
        padding=widgets.IntSlider(
            value=int(padding), min=0, max=max(4, int(padding)), description="padding", **_small()
        ),
        padding_mode=widgets.ToggleButtons(
            options=list(PADDING_MODES),
            value=padding_mode,
            description="pad with",
            style={"button_width": "64px", "description_width": "70px"},
        ),
        dilation=widgets.IntSlider(
            value=int(dilation), min=1, max=max(3, int(dilation)), description="dilation", **_small()
        ),
        mode=widgets.ToggleButtons(options=list(MODES), value=mode, style={"button_width": "96px"}),
        channel=widgets.Dropdown(options=["R", "G", "B"], value="R", description="channel", **_small()),
    )
