"""KernelExplorer: slide a convolution kernel over a photograph and watch each output cell being written.

What it computes (the contract the tests check): ``explorer.output`` is the
``(C, H_out, W_out)`` tensor that ``torch.nn.functional.conv2d`` gives for the
current settings. Padding is applied first with ``F.pad`` (``"zeros"`` or
``"reflect"``); "true convolution" uses the kernel flipped in both axes
(``torch.flip(k, (0, 1))``), "correlation" uses it as is, which is what
``F.conv2d`` and every deep-learning library compute. An RGB image is filtered
**per channel** (a depthwise convolution, ``groups=3``): the same 2-D kernel
runs over R, G and B separately, so the output keeps three channels; the
channel picker chooses which one is drawn and written out.
"""

from __future__ import annotations

from typing import Any

from ..errors import CourseError
from ._conv import MODES, PADDING_MODES, _as_image, _as_kernel, convolve
from ._frontend import Compositor, FigureWidget, encode_png, message_html, new_figure

__all__ = ["KernelExplorer", "convolve", "MODES", "PADDING_MODES"]

class KernelExplorer(FigureWidget):
    """Interactive view of one 2-D convolution: input with the receptive patch, kernel, output with the cell written.

    Args:
        image: ``(H, W)``, ``(C, H, W)`` tensor/array (C = 1 or 3, values ~[0, 1]) or a PIL image;
            default ``sample_image(size=128, grey=True)``.
        kernel: a preset name from ``KERNEL_NAMES`` or a 2-D tensor (any size).
        stride, padding, dilation: as in ``F.conv2d``; ``padding_mode`` ``"zeros"`` or ``"reflect"``;
            ``mode`` ``"correlation"`` (what ``F.conv2d`` does) or ``"convolution"`` (flipped kernel).

    Attributes: ``output`` (``(C, H_out, W_out)`` tensor, ``None`` while the settings are invalid),
    ``message`` (the one-line problem shown in the widget, ``""`` when none), ``position``.

    Example:
        >>> KernelExplorer(kernel="sobel_x")             # last expression of a cell
    """

    def __init__(self, image: Any = None, kernel: Any = "sobel_x", *, stride: int = 1, padding: int = 0,
                 dilation: int = 1, padding_mode: str = "zeros", mode: str = "correlation") -> None:
        import ipywidgets as widgets

        from ..inspection import KERNEL_NAMES

        self.output = None
        self.message = ""
        self._cells: dict[str, list[list[Any]]] = {}
        self._busy = False
        self._computed = 0  # how many times the output was computed (tells the drawing it changed)
        self._holding = False  # True while the widget itself moves the position slider
        self._anchor: tuple[int, int] | None = None  # input pixel under the window's top-left corner
        try:
            self.image = _as_image(image)
            self._image_error = ""
        except CourseError as exc:
            import torch

            self.image, self._image_error = torch.zeros(1, 1, 1), str(exc)
        try:
            k0 = _as_kernel(kernel)
            preset = kernel if isinstance(kernel, str) else "custom"
        except CourseError as exc:
            k0, preset = _as_kernel("identity"), "custom"
            self._kernel_error = str(exc)
        else:
            self._kernel_error = ""
        if preset != "custom":
            preset = preset.strip().lower().replace(" ", "_").replace("-", "_")
        self._kernel = k0
        def small() -> dict[str, Any]:  # a fresh Layout per control: a shared one would hide them all together
            return dict(layout=widgets.Layout(width="280px"), style={"description_width": "70px"})

        self.preset = widgets.Dropdown(options=list(KERNEL_NAMES) + ["custom"], value=preset, description="kernel", **small())
        self.size = widgets.ToggleButtons(options=["3x3", "5x5"], value="5x5" if k0.shape == (5, 5) else "3x3",
                                          description="grid", style={"button_width": "48px"})
        self.grid_texts = [[widgets.Text(layout=widgets.Layout(width="52px")) for _ in range(5)] for _ in range(5)]
        self.grid = widgets.GridBox(children=[], layout=widgets.Layout(grid_template_columns="repeat(3, 56px)"))
        self.stride = widgets.IntSlider(value=int(stride), min=1, max=4, description="stride", **small())
        self.padding = widgets.IntSlider(value=int(padding), min=0, max=max(4, int(padding)), description="padding", **small())
        self.padding_mode = widgets.ToggleButtons(options=list(PADDING_MODES), value=padding_mode, description="pad with",
                                                  style={"button_width": "64px"})
        self.dilation = widgets.IntSlider(value=int(dilation), min=1, max=max(3, int(dilation)), description="dilation", **small())
        self.mode = widgets.ToggleButtons(options=list(MODES), value=mode, style={"button_width": "96px"})
        self.channel = widgets.Dropdown(options=["R", "G", "B"], value="R", description="channel", **small())
        self.channel.layout.display = None if self.image.shape[0] == 3 else "none"
        self.position = widgets.IntSlider(value=0, min=0, max=0, description="position", continuous_update=True,
                                          layout=widgets.Layout(width="420px"))
        self.play = widgets.Play(value=0, min=0, max=0, step=1, interval=150)
        widgets.jslink((self.play, "value"), (self.position, "value"))
        self.arith = widgets.HTML()
        self.msg = widgets.HTML()
        self._build_figure()
        self._fill_grid(k0)
        controls = widgets.VBox([self.preset, self.size, self.grid, self.stride, self.padding, self.padding_mode,
                                 self.dilation, self.mode, self.channel])
        self.view = widgets.VBox([widgets.HBox([self.play, self.position]), widgets.HBox([self._make_image_widget(), controls]),
                                  self.arith, self.msg])
        self.preset.observe(self._on_preset, "value")
        self.size.observe(self._on_size, "value")
        for row in self.grid_texts:
            for t in row:
                t.observe(self._on_cell, "value")
        for w in (self.stride, self.padding, self.padding_mode, self.dilation, self.mode):
            w.observe(lambda change: self._recompute(), "value")
        self.channel.observe(lambda change: self._redraw(), "value")
        self.position.observe(self._on_position, "value")
        self._recompute()

    # ---------------------------------------------------------------- figure
    def _build_figure(self) -> None:
        from matplotlib.patches import Rectangle

        self.fig = new_figure(9.6, 3.4, dpi=72)
        self.ax_in, self.ax_k, self.ax_out = self.fig.subplots(1, 3, gridspec_kw={"width_ratios": [3, 1.4, 3]})
        self.fig.subplots_adjust(left=0.02, right=0.98, top=0.88, bottom=0.04, wspace=0.15)
        for ax in (self.ax_in, self.ax_k, self.ax_out):
            ax.set_xticks([])
            ax.set_yticks([])
        self.im_in = self.ax_in.imshow([[0.0]], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        self.im_k = self.ax_k.imshow([[0.0]], cmap="RdBu_r", interpolation="nearest")
        self.im_out = self.ax_out.imshow([[0.0]], cmap="gray", interpolation="nearest")
        self.patch = Rectangle((0, 0), 1, 1, fill=False, edgecolor="#ff3b30", linewidth=2)
        self.cell = Rectangle((0, 0), 1, 1, fill=False, edgecolor="#ff3b30", linewidth=2)
        self.ax_in.add_patch(self.patch)
        self.ax_out.add_patch(self.cell)
        # the kernel's numbers: 25 text artists made once, re-used (set_text) for any kernel of up to 25 entries
        self.k_texts = [self.ax_k.text(0, 0, "", ha="center", va="center", visible=False, clip_on=True) for _ in range(25)]
        self.fig_message = self.fig.text(0.5, 0.5, "", ha="center", va="center", color="#b00020", fontsize=12, wrap=True)
        # An update re-draws only what changed (see Compositor): the background (figure, axes frames, the
        # one-line message) is a full Agg draw, needed only when an axes box moves; each group below is re-drawn
        # alone, over cached pixels, when its content changes: the input picture (padding), the kernel with its
        # numbers (preset, editor, mode), the output (any re-computation, channel), each title only when its
        # text changes; the window's two rectangles are drawn on top at every position. A full re-draw gives
        # the same pixels (tested).
        self._compositor = Compositor(self.fig, {
            "in_title": (self.ax_in.title,), "in": (self.im_in,),
            "k_title": (self.ax_k.title,), "k": (self.im_k, *self.k_texts),
            "out_title": (self.ax_out.title,), "out": (self.im_out,),
        }, overlay=(self.patch, self.cell))
        self._geometry: Any = None  # axes boxes + message the cached background was drawn with
        self._reshaped = False  # an image's extent changed since the axes boxes were last checked
        self._keys: dict[str, Any] = {}  # what each group's artists show now

    # ---------------------------------------------------------------- controls
    def _fill_grid(self, k: Any) -> None:
        kh, kw = k.shape
        n = 5 if max(kh, kw) > 3 else 3
        self._busy = True
        for r in range(5):
            for c in range(5):
                self.grid_texts[r][c].value = f"{float(k[r, c]):.4g}" if r < kh and c < kw else "0"
        self.grid.children = [self.grid_texts[r][c] for r in range(n) for c in range(n)]
        self.grid.layout.grid_template_columns = f"repeat({n}, 56px)"
        self._busy = False

    def _on_preset(self, change: Any) -> None:
        if change["new"] == "custom" or self._busy:
            return
        from ..inspection import get_kernel

        self._kernel = get_kernel(change["new"])
        self._busy = True
        self.size.value = "3x3"
        self._busy = False
        self._kernel_error = ""
        self._fill_grid(self._kernel)
        self._recompute()

    def _on_size(self, change: Any) -> None:
        if self._busy:
            return
        n = 5 if change["new"] == "5x5" else 3
        self.grid.children = [self.grid_texts[r][c] for r in range(n) for c in range(n)]
        self.grid.layout.grid_template_columns = f"repeat({n}, 56px)"
        self._read_grid()

    def _on_cell(self, change: Any) -> None:
        if not self._busy:
            self._read_grid()

    def _read_grid(self) -> None:
        import torch

        n = 5 if self.size.value == "5x5" else 3
        values = []
        for r in range(n):
            for c in range(n):
                text = self.grid_texts[r][c].value.strip()
                try:
                    values.append(float(text))
                except ValueError:
                    self._kernel_error = f"Kernel entry {text!r} (row {r + 1}, column {c + 1}) is not a number; type e.g. -1 or 0.25."
                    self._recompute()
                    return
        self._kernel_error = ""
        self._kernel = torch.tensor(values, dtype=torch.float32).reshape(n, n)
        self._busy = True
        self.preset.value = "custom"
        self._busy = False
        self._recompute()

    @property
    def kernel(self) -> Any:
        """The kernel as entered (before any flip for true convolution), a 2-D float tensor."""
        return self._kernel.clone()

    def settings(self) -> dict[str, Any]:
        """The current ``convolve`` keyword arguments."""
        return dict(stride=self.stride.value, padding=self.padding.value, padding_mode=self.padding_mode.value,
                    dilation=self.dilation.value, mode=self.mode.value)

    # ---------------------------------------------------------------- compute + draw
    def _recompute(self) -> None:
        """Compute the output once for the current settings, then bring the drawing up to date."""
        error = self._image_error or self._kernel_error
        output = None
        if not error:
            try:
                output = convolve(self.image, self._kernel, **self.settings())
            except CourseError as exc:
                error = str(exc)
        self.output = output
        self._computed += 1
        self.message = error
        self.msg.value = message_html(error)
        self._redraw()

    def _channel_index(self) -> int:
        return "RGB".index(self.channel.value) if self.image.shape[0] == 3 else 0

    def _padded(self) -> Any:
        import torch.nn.functional as F

        p = self.padding.value
        if not p:
            return self.image
        return F.pad(self.image[None], (p,) * 4, mode="constant" if self.padding_mode.value == "zeros" else "reflect")[0]

    def _redraw(self) -> None:
        """Update the artists whose content changed (``set_data``/``set_text``), mark their groups for
        re-drawing, move the window, and push one new picture."""
        valid = self.output is not None
        if self._keys.get("valid") != valid:  # picture <-> message: everything is brought up to date
            self._keys = {"valid": valid}
            for group in self._compositor.groups.values():
                for artist in group:
                    artist.set_visible(valid)
            for artist in self._compositor.overlay:
                artist.set_visible(valid)
            self._compositor.invalidate()
        self.fig_message.set_text("" if valid else self.message)
        if not valid:
            self.arith.value = ""
            self._check_geometry()
            self._refresh()
            return
        key = (id(self.image), self.padding.value, self.padding_mode.value)
        if self._keys.get("input") != key:
            self._keys["input"] = key
            self._update_input()
        key = (tuple(self._kernel.shape), tuple(self._kernel.flatten().tolist()), self.mode.value)
        if self._keys.get("kernel") != key:
            self._keys["kernel"] = key
            self._update_kernel()
        key = (self._computed, self.channel.value)
        if self._keys.get("output") != key:
            self._keys["output"] = key
            self._update_output()
        self._check_geometry()
        self._place_window()
        self._draw_position()

    def _set_title(self, ax: Any, group: str, text: str, fontsize: int) -> None:
        if ax.get_title() != text or ax.title.get_fontsize() != fontsize:
            ax.set_title(text, fontsize=fontsize, pad=8)  # pad: the title's pixels stay clear of the picture's
            self._compositor.invalidate(group)

    def _update_input(self) -> None:
        import numpy as np

        padded = self._padded().numpy()
        self._padded_np = padded  # for the multiply-and-sum
        shown = padded.transpose(1, 2, 0) if padded.shape[0] == 3 else padded[0]
        self.im_in.set_data(np.clip(shown, 0, 1))
        self._fit(self.im_in, shown.shape)
        self._compositor.invalidate("in")
        p = self.padding.value
        self._set_title(self.ax_in, "in_title", f"input {tuple(self.image.shape)}" + (f", padded by {p}" if p else ""), 10)

    def _update_kernel(self) -> None:
        import numpy as np

        k = self._kernel.numpy()
        self._k_np = (np.flip(k, (0, 1)) if self.mode.value == "convolution" else k).astype(np.float64)  # as applied
        flip = " (flipped: convolution)" if self.mode.value == "convolution" else ""
        self._set_title(self.ax_k, "k_title", f"kernel {k.shape[0]}x{k.shape[1]}{flip}", 9)
        values = self._keys["kernel"][:2]
        if self._keys.get("kernel_drawn") == values:  # only the mode changed: the title says so
            return
        self._keys["kernel_drawn"] = values
        lim = float(np.abs(k).max()) or 1.0
        self.im_k.set_data(k)
        self.im_k.set_clim(-lim, lim)
        self._fit(self.im_k, k.shape)
        numbers = k.size <= len(self.k_texts)  # the numbers, for kernels up to 5x5
        size = 8 if k.shape[0] <= 3 else 6
        for i, t in enumerate(self.k_texts):
            if numbers and i < k.size:
                r, c = divmod(i, k.shape[1])
                t.set_position((c, r))
                t.set_text(f"{k[r, c]:.2g}")
                t.set_fontsize(size)
                t.set_color("white" if abs(k[r, c]) > 0.6 * lim else "black")
                t.set_visible(True)
            else:
                t.set_visible(False)
        self._compositor.invalidate("k")

    def _update_output(self) -> None:
        out = self.output[self._channel_index()].numpy()
        self.im_out.set_data(out)
        lo, hi = float(out.min()), float(out.max())
        self.im_out.set_clim(lo, hi if hi > lo else lo + 1e-6)
        self._fit(self.im_out, out.shape)
        self._compositor.invalidate("out")
        name = f" channel {self.channel.value}" if self.image.shape[0] == 3 else ""
        self._set_title(self.ax_out, "out_title", f"output{name} {tuple(self.output.shape)}", 10)

    def _fit(self, im: Any, shape: tuple[int, ...]) -> None:
        """Let an image's axes span its new pixel grid (only when the grid's size changed)."""
        extent = (-0.5, shape[1] - 0.5, shape[0] - 0.5, -0.5)
        if tuple(im.get_extent()) != extent:
            im.set_extent(extent)
            self._reshaped = True

    def _check_geometry(self) -> None:
        """Drop the cached background when an axes box moved (the aspect of a picture changed) or the message did."""
        if self._reshaped or self._geometry is None or self._geometry[1] != self.fig_message.get_text():
            self._reshaped = False
            boxes = []
            for ax in (self.ax_in, self.ax_k, self.ax_out):
                ax.apply_aspect()
                boxes.append(tuple(round(v, 6) for v in ax.get_position(original=False).bounds))
            geometry = (tuple(boxes), self.fig_message.get_text())
            if geometry != self._geometry:
                self._geometry = geometry
                self._compositor.reset()

    def _place_window(self) -> None:
        """Set the slider's range for the new output; keep the window over the same spot of the input."""
        _, ho, wo = self.output.shape
        n = ho * wo
        s, p = self.stride.value, self.padding.value
        if self._anchor is None:  # first drawing: start in the middle, so the static picture shows the patch clearly
            r, c = ho // 2, wo // 2
        else:  # the patch's top-left input pixel (unpadded coordinates) stays where it was, as near as the stride allows
            r = min(max(round((self._anchor[0] + p) / s), 0), ho - 1)
            c = min(max(round((self._anchor[1] + p) / s), 0), wo - 1)
        self._holding = True  # the slider's own change events must not re-draw a half-updated state
        try:
            if n - 1 >= self.position.max:
                self.position.max = self.play.max = n - 1
                self.position.value = r * wo + c
            else:
                self.position.value = r * wo + c
                self.position.max = self.play.max = n - 1
        finally:
            self._holding = False

    def cell_at(self, position: int | None = None) -> tuple[int, int]:
        """(row, column) of the output cell for a slider position (default: the current one)."""
        wo = self.output.shape[2]
        return divmod(self.position.value if position is None else position, wo)

    def patch_box(self, position: int | None = None) -> tuple[int, int, int, int]:
        """(top, left, height, width) of the receptive patch in padded-input pixel coordinates."""
        r, c = self.cell_at(position)
        s, d = self.stride.value, self.dilation.value
        kh, kw = self._kernel.shape
        return r * s, c * s, d * (kh - 1) + 1, d * (kw - 1) + 1

    def _on_position(self, change: Any) -> None:
        if not self._holding:
            self._draw_position()

    def _draw_position(self) -> None:
        if self.output is None:
            return
        r, c = self.cell_at()
        top, left, h, w = self.patch_box()
        p = self.padding.value
        self._anchor = (top - p, left - p)
        self.patch.set_xy((left - 0.5, top - 0.5))
        self.patch.set_width(w)
        self.patch.set_height(h)
        self.cell.set_xy((c - 0.5, r - 0.5))
        self.arith.value = self._arithmetic(r, c, top, left)
        self._refresh()

    def _refresh(self, full: bool = False) -> None:
        if full:
            self._compositor.reset()
        super()._refresh(full=False)

    def _render(self) -> bytes:
        """PNG of the figure, re-drawing only what changed (see the comment in ``_build_figure``)."""
        self._compositor.render()
        return encode_png(self.fig.canvas)

    def _arithmetic(self, r: int, c: int, top: int, left: int) -> str:
        ch = self._channel_index()
        d = self.dilation.value
        k = self._k_np
        kh, kw = k.shape
        patch = self._padded_np[ch, top: top + d * (kh - 1) + 1: d, left: left + d * (kw - 1) + 1: d]
        terms = [f"({k[i, j]:.3g})×{patch[i, j]:.3f}" for i in range(kh) for j in range(kw)]
        total = float((k * patch).sum())
        self.arithmetic_total = total
        return (f"<code>out[{r}, {c}] = " + " + ".join(terms) + f" = <b>{total:.4f}</b></code>")

    def _summary(self) -> str:
        shape = None if self.output is None else tuple(self.output.shape)
        return f"KernelExplorer(kernel={self.preset.value!r}, output shape={shape}, {self.settings()})"
