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

What it draws: input, kernel and output side by side, the input and the output
at the same scale (one output cell as large as one input pixel, so stride 2
draws an output half as wide); the kernel panel shows the numbers as applied
(flipped in convolution mode). The controls wrap below the picture in a narrow
notebook column. This module holds the controls and the computation; the
picture is ``kernel_figure``, the editor grid ``kernel_grid``, the setting controls
``kernel_controls``, the written-out sum and the titles ``conv_arithmetic``.
"""

from __future__ import annotations

from typing import Any

from ..errors import CourseError
from . import conv_arithmetic as text
from ._conv import MODES, PADDING_MODES, _as_image, _as_kernel, convolve
from ._frontend import FigureWidget, encode_png, message_html
from .kernel_controls import settings_controls
from .kernel_figure import ConvFigure
from .kernel_grid import KernelGrid

__all__ = ["KernelExplorer", "convolve", "MODES", "PADDING_MODES"]


class KernelExplorer(FigureWidget):
    """Interactive view of one 2-D convolution: input with the receptive patch, kernel, output with the cell written.

    Args:
        image: ``(H, W)``, ``(C, H, W)`` tensor/array (C = 1 or 3, values ~[0, 1]) or a PIL image;
            default ``sample_image(size=128, grey=True)``.
        kernel: a preset name from ``KERNEL_NAMES`` or a 2-D tensor (any size; the editor grid shows up to 5x5).
        stride, padding, dilation: as in ``F.conv2d``; ``padding_mode`` ``"zeros"`` or ``"reflect"``;
            ``mode`` ``"correlation"`` (what ``F.conv2d`` does) or ``"convolution"`` (flipped kernel).

    Attributes: ``output`` (``(C, H_out, W_out)`` tensor, ``None`` while the settings are invalid),
    ``message`` (the one-line problem shown in the widget, ``""`` when none; a bad grid entry keeps the
    last kernel and its output), ``position`` (the output cell's index, read out as (row, column) by
    ``where``; see :meth:`cell_at`), ``figure`` (the :class:`ConvFigure` drawn), ``editor`` (the grid).

    Example:
        >>> KernelExplorer(kernel="sobel_x")             # last expression of a cell
    """

    def __init__(
        self,
        image: Any = None,
        kernel: Any = "sobel_x",
        *,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        padding_mode: str = "zeros",
        mode: str = "correlation",
    ) -> None:
        import ipywidgets as widgets

        self.output = None
        self.message = ""
        self._error = ""  # the image, kernel or settings problem that leaves no output
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
            preset = kernel.strip().lower().replace(" ", "_").replace("-", "_") if isinstance(kernel, str) else "custom"
            self._kernel_error = ""
        except CourseError as exc:
            k0, preset, self._kernel_error = _as_kernel("identity"), "custom", str(exc)
        self._kernel = k0

        controls = settings_controls(
            preset, stride=stride, padding=padding, dilation=dilation, padding_mode=padding_mode, mode=mode
        )
        for name in ("preset", "stride", "padding", "padding_mode", "dilation", "mode", "channel"):
            setattr(self, name, getattr(controls, name))
        self.editor = KernelGrid(k0, self._on_grid_kernel, self._show_message)
        self.size, self.grid_texts, self.grid = self.editor.size, self.editor.texts, self.editor.box
        self.channel.layout.display = None if self.image.shape[0] == 3 else "none"
        # the slider is the output cell's index (what Play steps through); the label beside it reads (row, column)
        self.position = widgets.IntSlider(
            value=0,
            min=0,
            max=0,
            description="position",
            readout=False,
            continuous_update=True,
            layout=widgets.Layout(width="330px"),
        )
        self.where = widgets.HTML()
        self.play = widgets.Play(value=0, min=0, max=0, step=1, interval=150)
        widgets.jslink((self.play, "value"), (self.position, "value"))
        self.arith = widgets.HTML(layout=widgets.Layout(max_width="100%"))
        self.msg = widgets.HTML(layout=widgets.Layout(max_width="100%"))
        self._build_figure()
        wrap = dict(flex_flow="row wrap", align_items="center", max_width="100%")
        editor = widgets.VBox([self.preset, self.editor.view], layout=widgets.Layout(margin="0 12px 0 0"))
        settings = widgets.VBox([self.stride, self.padding, self.padding_mode, self.dilation, self.mode, self.channel])
        picture = self._make_image_widget()
        picture.layout.max_width = "100%"  # a column narrower than the figure shrinks it instead of clipping it
        self.view = widgets.VBox(
            [
                widgets.HBox([self.play, self.position, self.where], layout=widgets.Layout(**wrap)),
                widgets.HBox(
                    [picture, editor, settings],
                    layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start", max_width="100%"),
                ),
                self.arith,
                self.msg,
            ],
            layout=widgets.Layout(max_width="100%"),
        )
        self.preset.observe(self._on_preset, "value")
        for w in (self.stride, self.padding, self.padding_mode, self.dilation, self.mode):
            w.observe(lambda change: self._recompute(), "value")
        self.channel.observe(lambda change: self._redraw(), "value")
        self.position.observe(self._on_position, "value")
        self._recompute()

    def _build_figure(self) -> None:
        """The picture (see ``kernel_figure``); its parts are reachable as ``explorer.figure.<name>``."""
        _, h, w = self.image.shape
        self.figure = ConvFigure(h, w, max_padding=self.padding.max)
        self.fig = self.figure.fig
        self._keys: dict[str, Any] = {}  # what each panel shows now

    # ---------------------------------------------------------------- controls
    def _on_preset(self, change: Any) -> None:
        if change["new"] == "custom" or self._busy:
            return
        from ..inspection import get_kernel

        self._kernel = get_kernel(change["new"])
        self._kernel_error = ""
        self.editor.show(self._kernel)
        self._recompute()

    def _on_grid_kernel(self, kernel: Any) -> None:
        """A new valid kernel from the editor grid (typed, or re-sized with the 3x3/5x5 toggle)."""
        self._kernel = kernel
        self._kernel_error = ""
        self._busy = True
        self.preset.value = "custom"
        self._busy = False
        self._recompute()

    def _show_message(self) -> None:
        """Show the first problem: image, kernel or settings (no output), else a grid entry (the output stays)."""
        self.message = self._error or self.editor.message
        self.msg.value = message_html(self.message)

    @property
    def kernel(self) -> Any:
        """The kernel as entered (before any flip for true convolution), a 2-D float tensor."""
        return self._kernel.clone()

    def settings(self) -> dict[str, Any]:
        """The current ``convolve`` keyword arguments."""
        return dict(
            stride=self.stride.value,
            padding=self.padding.value,
            padding_mode=self.padding_mode.value,
            dilation=self.dilation.value,
            mode=self.mode.value,
        )

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
        self._error = error
        self._show_message()
        self._redraw()

    def _channel_index(self) -> int:
        return "RGB".index(self.channel.value) if self.image.shape[0] == 3 else 0

    def _padded(self) -> Any:
        import torch.nn.functional as F

        p = self.padding.value
        if not p:
            return self.image
        return F.pad(self.image[None], (p,) * 4, mode="constant" if self.padding_mode.value == "zeros" else "reflect")[
            0
        ]

    def _redraw(self) -> None:
        """Update the panels whose content changed, move the window, and push one new picture."""
        valid = self.output is not None
        self.figure.show_message("" if valid else self._error)
        if not valid:
            self._keys = {}
            self.arith.value = self.where.value = ""
            self._refresh()
            return
        titles = text.titles(
            tuple(self.image.shape),
            self.padding.value,
            tuple(self._kernel.shape),
            self.mode.value,
            tuple(self.output.shape),
            self.channel.value if self.image.shape[0] == 3 else None,
        )
        for name, key, update in (
            ("input", (id(self.image), self.padding.value, self.padding_mode.value), self._update_input),
            (
                "kernel",
                (tuple(self._kernel.flatten().tolist()), tuple(self._kernel.shape), self.mode.value),
                self._update_kernel,
            ),
            ("output", (self._computed, self.channel.value), self._update_output),
        ):
            if self._keys.get(name) != key:
                self._keys[name] = key
                update(titles)
        self._place_window()
        self._draw_position()

    def _update_input(self, titles: dict[str, str]) -> None:
        padded = self._padded().numpy()
        self._padded_np = padded  # for the multiply-and-sum
        self.figure.show_input(padded.transpose(1, 2, 0) if padded.shape[0] == 3 else padded[0], titles["in"])

    def _update_kernel(self, titles: dict[str, str]) -> None:
        """The kernel panel shows the kernel as applied (flipped in convolution mode), with its numbers."""
        k = text.applied_kernel(self._kernel.numpy(), self.mode.value)
        self._k_np = k  # for the multiply-and-sum
        numbers = [text.kernel_number(v) for v in k.flatten()] if k.size <= 25 else []
        size = text.number_fontsize(numbers, self.figure.kernel_cell(k.shape))
        self.figure.show_kernel(k, numbers, size, titles["k"])

    def _update_output(self, titles: dict[str, str]) -> None:
        self.figure.show_output(self.output[self._channel_index()].numpy(), titles["out"])

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
        self.figure.show_window(top, left, h, w, r, c)
        patch = text.window(self._padded_np, self._channel_index(), top, left, self._k_np.shape, self.dilation.value)
        self.arith.value, self.arithmetic_total = text.arithmetic_html(r, c, self._k_np, patch)
        self.where.value = text.cell_label(r, c, tuple(self.output.shape[1:]))
        self._refresh()

    def _refresh(self, full: bool = False) -> None:
        if full:
            self.figure.compositor.reset()
        super()._refresh(full=False)

    def _render(self) -> bytes:
        """PNG of the figure, re-drawing only what changed (see the comment in ``_build_figure``)."""
        self.figure.render()
        return encode_png(self.fig.canvas)

    def _summary(self) -> str:
        shape = None if self.output is None else tuple(self.output.shape)
        return f"KernelExplorer(kernel={self.preset.value!r}, output shape={shape}, {self.settings()})"
