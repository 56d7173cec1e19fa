"""ReceptiveFieldView: pick a layer and a unit; see its theoretical receptive field and its effective (gradient) field.

The theoretical field is the box :func:`course_utils.receptive_field` gives
for the layer (centre ``start + index * jump``, side ``size``, in input
pixels; parts outside the image fall on padding). The effective field is
``|d unit / d input|`` summed over input channels for the given image (Luo et
al., 2016, "Understanding the Effective Receptive Field"): one forward pass
keeps every candidate layer's output, and each unit change costs one
backward pass.
"""

from __future__ import annotations

from typing import Any

from ..errors import CourseError
from ._frontend import FigureWidget, new_figure


class ReceptiveFieldView(FigureWidget):
    """Theoretical and effective receptive field of one unit of a CNN layer.

    Args:
        model: a 2-D CNN (``nn.Module``).
        input_size: ``H``, ``(H, W)`` or ``(C, H, W)`` as for ``receptive_field``.
        image: optional ``(C, H, W)`` input to draw on and differentiate; default the sample photograph.

    Example:
        >>> ReceptiveFieldView(nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3)), 32)
    """

    def __init__(self, model: Any, input_size: Any, image: Any = None) -> None:
        import ipywidgets as widgets
        import torch
        import torch.nn.functional as F

        from ..inspection.receptive import make_input, receptive_field

        self.model = model
        self.rf = receptive_field(model, input_size)
        x0 = make_input(model, input_size)
        c, h, w = x0.shape[1:]
        if image is None:
            from ..data import sample_image

            image = sample_image(size=(h, w), grey=c == 1)
        x = torch.as_tensor(image, dtype=torch.float32)
        x = x[None] if x.ndim == 3 else x
        if x.shape[1:] != x0.shape[1:]:
            if x.ndim != 4 or x.shape[1] != c:
                raise CourseError(f"The image should have shape ({c}, {h}, {w}) to match input_size.")
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
        self.image = x[0].detach().cpu()
        self.rows = {r.name: r for r in self.rf.layers if not r.is_global and len(r.output_shape) == 4}
        if not self.rows:
            raise CourseError("The model has no layer with a spatial output (N, C, H, W) to inspect.")
        modules = dict(model.named_modules())
        outputs: dict[str, Any] = {}
        handles = [
            modules[n].register_forward_hook(lambda m, a, out, n=n: outputs.__setitem__(n, out))
            for n in self.rows
            if n in modules
        ]
        modes = {m: m.training for m in model.modules()}
        param = next(model.parameters(), None)
        self._x = x.to(param.device if param is not None else "cpu").requires_grad_()
        try:
            model.eval()
            model(self._x)
        finally:
            for hd in handles:
                hd.remove()
            for m, flag in modes.items():
                m.training = flag
        self._outputs = {n: o for n, o in outputs.items() if isinstance(o, torch.Tensor) and o.requires_grad}
        names = [n for n in self.rows if n in self._outputs]
        if not names:
            raise CourseError(
                "No layer output depends on the input through gradients; is the model frozen with torch.no_grad()?"
            )
        last = names[-1]
        self.layer = widgets.Dropdown(options=names, value=last, description="layer")
        self.unit_row = widgets.IntSlider(description="unit row")
        self.unit_col = widgets.IntSlider(description="unit col")
        self.info = widgets.HTML()
        self.fig = new_figure(9.0, 4.0, dpi=72)
        self.ax_img, self.ax_erf = self.fig.subplots(1, 2)
        self.fig.subplots_adjust(left=0.02, right=0.98, top=0.88, bottom=0.03, wspace=0.08)
        shown = self.image.permute(1, 2, 0).numpy() if c == 3 else self.image[0].numpy()
        for ax in (self.ax_img, self.ax_erf):
            ax.imshow(shown.clip(0, 1) if c == 3 else shown, cmap=None if c == 3 else "gray")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlim(-0.5, w - 0.5)
            ax.set_ylim(h - 0.5, -0.5)
        self.heat = self.ax_erf.imshow(torch.zeros(h, w).numpy(), cmap="inferno", alpha=0.7, vmin=0, vmax=1)
        from matplotlib.patches import Rectangle

        self.box = Rectangle((0, 0), 1, 1, fill=False, edgecolor="#00e5ff", linewidth=2)
        self.box_erf = Rectangle((0, 0), 1, 1, fill=False, edgecolor="#00e5ff", linewidth=1.5, linestyle="--")
        self.ax_img.add_patch(self.box)
        self.ax_erf.add_patch(self.box_erf)
        (self.centre,) = self.ax_img.plot([0], [0], "+", color="#00e5ff", markersize=12)
        self.view = widgets.VBox(
            [widgets.HBox([self.layer, self.unit_row, self.unit_col]), self.info, self._make_image_widget()]
        )
        self.layer.observe(lambda change: self._on_layer(), "value")
        self.unit_row.observe(lambda change: self._update(), "value")
        self.unit_col.observe(lambda change: self._update(), "value")
        self._on_layer()

    def _on_layer(self) -> None:
        out = self._outputs[self.layer.value]
        self._hold = True
        self.unit_row.max, self.unit_col.max = out.shape[2] - 1, out.shape[3] - 1
        self.unit_row.value, self.unit_col.value = out.shape[2] // 2, out.shape[3] // 2
        self._hold = False
        self._update()

    def theoretical_box(self) -> tuple[float, float, float, float]:
        """(top, left, height, width) of the unit's theoretical field in input pixel coordinates (pixel i spans [i, i+1))."""
        r = self.rows[self.layer.value]
        cy = r.start[0] + self.unit_row.value * r.jump[0]
        cx = r.start[1] + self.unit_col.value * r.jump[1]
        return cy - r.size[0] / 2, cx - r.size[1] / 2, float(r.size[0]), float(r.size[1])

    def effective_map(self) -> Any:
        """``|d unit / d input|`` summed over input channels, ``(H, W)``, for the current layer and unit."""
        import torch

        out = self._outputs[self.layer.value]
        (grad,) = torch.autograd.grad(
            out[0, :, self.unit_row.value, self.unit_col.value].sum(), self._x, retain_graph=True
        )
        return grad[0].abs().sum(0).cpu()

    def _update(self) -> None:
        if getattr(self, "_hold", False):
            return
        self.erf = self.effective_map()
        peak = float(self.erf.max())
        self.heat.set_data((self.erf / peak).numpy() if peak > 0 else self.erf.numpy())
        top, left, hh, ww = self.theoretical_box()
        for box in (self.box, self.box_erf):
            box.set_xy((left - 0.5, top - 0.5))
            box.set_width(ww)
            box.set_height(hh)
        self.centre.set_data([left + ww / 2 - 0.5], [top + hh / 2 - 0.5])
        r = self.rows[self.layer.value]
        unit = f"{self.layer.value}[{self.unit_row.value}, {self.unit_col.value}]"
        self.ax_img.set_title(f"theoretical field of {unit}: {r.size[0]:g}x{r.size[1]:g}", fontsize=11)
        nz = (self.erf > 1e-3 * peak).nonzero() if peak > 0 else None
        span = (
            "none"
            if nz is None or len(nz) == 0
            else f"{int(nz[:, 0].max() - nz[:, 0].min() + 1)}x{int(nz[:, 1].max() - nz[:, 1].min() + 1)}"
        )
        self.ax_erf.set_title(f"effective field |d unit / d input| (non-zero span {span})", fontsize=11)
        self.info.value = (
            f"layer <b>{self.layer.value}</b> ({r.type}) output {r.output_shape}; field {r.size[0]:g}x{r.size[1]:g}, "
            f"jump {r.jump[0]:g}, start {r.start[0]:g}"
        )
        self._refresh()

    def close(self) -> None:
        """Close the views and free the kept forward graph (the model itself holds no hook after construction)."""
        self._outputs = {}
        super().close()

    def _summary(self) -> str:
        return f"ReceptiveFieldView(layer={self.layer.value!r}, unit=({self.unit_row.value}, {self.unit_col.value}), field={self.rows[self.layer.value].size})"
