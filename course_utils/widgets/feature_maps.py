"""FeatureMapExplorer: pick a layer, see its channels as a grid with the shapes printed, pick a channel to enlarge it.

One forward pass inside :func:`course_utils.capture_activations` records every
chosen layer's output; the hooks live only for that pass, so the model never
keeps a hook after the widget is built (``close()`` and re-creating the widget
therefore leave the model exactly as it was). The grid shows up to 64 channels
per page, each scaled to its own [min, max].
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import CourseError
from ._frontend import FigureWidget, message_html, new_figure

PAGE = 64


def mosaic(maps: Any, columns: int) -> Any:
    """Tile ``(C, H, W)`` maps, each scaled to [0, 1], into one ``(rows*(H+1)-1, columns*(W+1)-1)`` array (NaN gaps)."""
    import numpy as np

    c, h, w = maps.shape
    rows = math.ceil(c / columns)
    flat = maps.reshape(c, -1)
    lo, hi = flat.min(1, keepdims=True), flat.max(1, keepdims=True)
    scaled = ((flat - lo) / np.where(hi > lo, hi - lo, 1)).reshape(c, h, w)
    out = np.full((rows * (h + 1) - 1, columns * (w + 1) - 1), np.nan, dtype=np.float32)
    for i in range(c):
        r, q = divmod(i, columns)
        out[r * (h + 1) : r * (h + 1) + h, q * (w + 1) : q * (w + 1) + w] = scaled[i]
    return out


class FeatureMapExplorer(FigureWidget):
    """Feature maps of a CNN for one image.

    Args:
        model: any ``nn.Module`` taking ``(1, C, H, W)`` (course CNNs, torchvision models).
        image: ``(C, H, W)`` or ``(1, C, H, W)`` tensor, already normalised as the model expects.
        layers: names, modules or types as in ``capture_activations``; default every leaf layer with a 4-D output.

    Example:
        >>> FeatureMapExplorer(torchvision.models.resnet18(weights=None), torch.rand(3, 96, 96), layers=["layer1", "layer2"])
    """

    def __init__(self, model: Any, image: Any, layers: Any = None) -> None:
        import ipywidgets as widgets
        import torch

        from ..inspection import capture_activations

        x = torch.as_tensor(image, dtype=torch.float32)
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[0] != 1:
            raise CourseError(f"Give one image (C, H, W) or (1, C, H, W), not shape {tuple(x.shape)}.")
        param = next(model.parameters(), None)
        if param is not None:
            x = x.to(param.device)
        modes = {m: m.training for m in model.modules()}
        try:
            model.eval()
            with torch.no_grad(), capture_activations(model, layers, to_cpu=True) as acts:
                model(x)
        finally:
            for m, flag in modes.items():
                m.training = flag
        self.activations = {name: v[0][0] for name, v in acts.items() if v and v[0].ndim == 4}
        if not self.activations:
            raise CourseError(
                "None of the chosen layers gives a feature map (N, C, H, W); pick convolution, ReLU or pooling layers."
            )
        self.input_shape = tuple(x.shape)
        names = list(self.activations)
        self.layer = widgets.Dropdown(
            options=names, value=names[0], description="layer", layout=widgets.Layout(width="360px")
        )
        self.page = widgets.IntSlider(value=0, min=0, max=0, description="page")
        self.channel = widgets.IntSlider(value=0, min=0, max=0, description="channel")
        self.shapes = widgets.HTML()
        self.msg = widgets.HTML(message_html(""))
        self.fig = new_figure(10.0, 4.6, dpi=72)
        self.ax_grid, self.ax_big = self.fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.5, 1]})
        self.fig.subplots_adjust(left=0.02, right=0.98, top=0.9, bottom=0.03, wspace=0.08)
        for ax in (self.ax_grid, self.ax_big):
            ax.set_xticks([])
            ax.set_yticks([])
        self.im_grid = self.ax_grid.imshow([[0.0]], cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        self.im_big = self.ax_big.imshow([[0.0]], cmap="viridis", interpolation="nearest")
        from matplotlib.patches import Rectangle

        self.box = Rectangle((0, 0), 1, 1, fill=False, edgecolor="#ff3b30", linewidth=2)
        self.ax_grid.add_patch(self.box)
        # a channel change re-draws only these over the cached figure (layer and page changes re-draw all)
        self._animated = (self.im_big, self.ax_big.title, self.box)
        for artist in self._animated:
            artist.set_animated(True)
        self.view = widgets.VBox(
            [widgets.HBox([self.layer, self.page, self.channel]), self.shapes, self._make_image_widget(), self.msg]
        )
        self.layer.observe(lambda change: self._on_layer(), "value")
        self.page.observe(lambda change: self._on_page(), "value")
        self.channel.observe(lambda change: self._on_channel(), "value")
        self._on_layer()

    def _on_layer(self) -> None:
        maps = self.activations[self.layer.value]
        c = maps.shape[0]
        self._hold = True
        self.channel.max = c - 1
        self.channel.value = 0
        self.page.max = (c - 1) // PAGE
        self.page.value = 0
        self._hold = False
        self.shapes.value = (
            f"input {self.input_shape} → <b>{self.layer.value}</b> output (1, {c}, {maps.shape[1]}, {maps.shape[2]}): "
            f"{c} channels of {maps.shape[1]}x{maps.shape[2]}"
        )
        self._draw_grid()
        self._draw_channel(full=True)

    def _on_page(self) -> None:
        if getattr(self, "_hold", False):
            return
        first = self.page.value * PAGE
        if not first <= self.channel.value < first + PAGE:
            self._hold = True
            self.channel.value = first
            self._hold = False
        self._draw_grid()
        self._draw_channel(full=True)

    def _on_channel(self) -> None:
        if getattr(self, "_hold", False):
            return
        page = self.channel.value // PAGE
        if page != self.page.value:
            self._hold = True
            self.page.value = page
            self._hold = False
            self._draw_grid()
            self._draw_channel(full=True)
            return
        self._draw_channel(full=False)

    def _draw_grid(self) -> None:
        maps = self.activations[self.layer.value].numpy()
        first = self.page.value * PAGE
        shown = maps[first : first + PAGE]
        self.columns = math.ceil(math.sqrt(shown.shape[0]))
        self.grid_array = mosaic(shown, self.columns)
        self.im_grid.set_data(self.grid_array)
        self.im_grid.set_extent((-0.5, self.grid_array.shape[1] - 0.5, self.grid_array.shape[0] - 0.5, -0.5))
        self.ax_grid.set_title(
            f"{self.layer.value}: channels {first}-{first + shown.shape[0] - 1} of {maps.shape[0]}", fontsize=11
        )

    def _draw_channel(self, full: bool) -> None:
        maps = self.activations[self.layer.value]
        ch = self.channel.value
        one = maps[ch].numpy()
        self.im_big.set_data(one)
        lo, hi = float(one.min()), float(one.max())
        self.im_big.set_clim(lo, hi if hi > lo else lo + 1e-6)
        self.im_big.set_extent((-0.5, one.shape[1] - 0.5, one.shape[0] - 0.5, -0.5))
        self.ax_big.set_title(f"channel {ch} ({one.shape[0]}x{one.shape[1]}), min {lo:.3g} max {hi:.3g}", fontsize=11)
        h, w = one.shape
        r, q = divmod(ch - self.page.value * PAGE, self.columns)
        self.box.set_xy((q * (w + 1) - 1, r * (h + 1) - 1))
        self.box.set_width(w + 1)
        self.box.set_height(h + 1)
        self._refresh(full=full)

    def _summary(self) -> str:
        return f"FeatureMapExplorer({len(self.activations)} layers: {', '.join(list(self.activations)[:5])}{' ...' if len(self.activations) > 5 else ''})"
