"""The picture KernelExplorer shows: input, kernel and output panels, the window's marks, re-drawn in layers.

Layout (pixels; the figure is drawn at 72 dpi, so a point is a pixel): the
figure is ``FIG_W`` = 768 px wide, so it fits the ~800 px output area of a
900 px notebook column. The input and the output are drawn at **one scale**
(``scale`` screen pixels per input pixel, chosen so the largest padded input
fills ``PANEL`` px): an output cell is as large as an input pixel, and stride 2
draws the output half as wide. The kernel fills ``KERNEL`` px with its numbers
written in its cells. The window and the output cell are framed in red over a
white halo, just outside the pixels they mark, with faint guides through them.

No widgets here: ``ConvFigure`` takes arrays and titles and keeps a matplotlib
figure up to date; the explorer decides what to show.
"""

from __future__ import annotations

import math
from typing import Any

from ._frontend import Compositor, new_figure

FIG_W, TOP, PANEL, KERNEL, MARGIN, GAP = 768, 30, 270, 180, 6, 18
X_IN, X_K = MARGIN, MARGIN + PANEL + GAP
X_OUT = X_K + KERNEL + GAP
RED, HALO = "#ff2d20", "white"
OUTSET = 2.0  # screen px between a window's pixels and the centre of its 2 px red frame


class ConvFigure:
    """Input, kernel and output panels for an image of ``height`` x ``width`` padded by up to ``max_padding``.

    Example:
        >>> f = ConvFigure(128, 128, max_padding=4)
        >>> f.show_input(np.zeros((128, 128)), "input"); f.render()
    """

    def __init__(self, height: int, width: int, max_padding: int) -> None:
        import matplotlib.patheffects as pe
        from matplotlib.patches import Rectangle

        self.scale = min(PANEL / (width + 2 * max_padding), PANEL / (height + 2 * max_padding))  # px per pixel
        self.height = TOP + max(KERNEL, math.ceil((height + 2 * max_padding) * self.scale)) + MARGIN
        self.fig = new_figure(FIG_W / 72, self.height / 72, dpi=72)
        self.ax_in, self.ax_k, self.ax_out = (self.fig.add_axes((0, 0, 0.1, 0.1)) for _ in range(3))
        self.im_in = self.ax_in.imshow([[0.0]], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        self.im_k = self.ax_k.imshow([[0.0]], cmap="RdBu_r", interpolation="nearest")
        self._cmap = self.im_k.get_cmap()  # red/blue around 0, applied here (see _picture)
        self.values: dict[str, Any] = {}  # the numbers each panel shows now: "in", "k" (as applied), "out"
        self.im_out = self.ax_out.imshow([[0.0]], cmap="gray", interpolation="nearest")
        for ax in (self.ax_in, self.ax_k, self.ax_out):
            ax.xaxis.set_visible(False)  # no ticks; also spares the spines' footprints the tick layout (~1 ms each)
            ax.yaxis.set_visible(False)
            ax.set_aspect("auto")  # each box is sized to its picture's own pixels (see _place)
            ax.set_title("", pad=10)  # 10 px: clear of the frame, so a title and its picture re-draw apart
            ax.title.set(x=0.0, ha="left", fontsize=11)  # left-aligned: a narrow output keeps its title in its region
        halo = [pe.withStroke(linewidth=4.5, foreground=HALO)]  # white under red: visible on dark and light pixels
        self.patch = Rectangle((0, 0), 1, 1, fill=False, edgecolor=RED, linewidth=2, path_effects=halo)
        self.cell = Rectangle((0, 0), 1, 1, fill=False, edgecolor=RED, linewidth=2, path_effects=halo)
        self.ax_in.add_patch(self.patch)
        self.ax_out.add_patch(self.cell)
        # faint guides through the window and the cell: at 2 screen px per pixel a 3x3 window is found at a glance
        self.guides = [ax.axhline(0, color=RED, linewidth=0.8, alpha=0.45) for ax in (self.ax_in, self.ax_out)]
        self.guides += [ax.axvline(0, color=RED, linewidth=0.8, alpha=0.45) for ax in (self.ax_in, self.ax_out)]
        # the kernel's numbers: 25 text artists made once, re-used (set_text) for any kernel of up to 25 entries
        self.k_texts = [
            self.ax_k.text(0, 0, "", ha="center", va="center", visible=False, clip_on=True) for _ in range(25)
        ]
        self.message = self.fig.text(0.5, 0.5, "", ha="center", va="center", color="#b00020", fontsize=12, wrap=True)
        # An update re-draws only what changed (see Compositor): the background (white figure, the one-line
        # message) is a full Agg draw, needed only when the message changes; each group below, frame included, is
        # re-drawn alone, over cached pixels, when its content or its box changes; the window's marks are drawn
        # on top at every position. A full re-draw gives the same pixels (tested).
        spines = {ax: tuple(ax.spines.values()) for ax in (self.ax_in, self.ax_k, self.ax_out)}
        self.compositor = Compositor(
            self.fig,
            {
                "in_title": (self.ax_in.title,),
                "in": (self.im_in, *spines[self.ax_in]),
                "k_title": (self.ax_k.title,),
                "k": (self.im_k, *self.k_texts, *spines[self.ax_k]),
                "out_title": (self.ax_out.title,),
                "out": (self.im_out, *spines[self.ax_out]),
            },
            overlay=(*self.guides, self.patch, self.cell),
        )
        self._boxes: dict[str, Any] = {}  # each axes' box in pixels (x, w, h)
        self._valid: bool | None = None

    def show_message(self, text: str) -> None:
        """``""``: show the panels; otherwise hide them and write ``text`` across the figure."""
        valid = not text
        if valid != self._valid:
            self._valid = valid
            for artist in (*(a for g in self.compositor.groups.values() for a in g), *self.compositor.overlay):
                artist.set_visible(valid)
            self.compositor.invalidate()
        if self.message.get_text() != text:
            self.message.set_text(text)
            self.compositor.reset()  # the message is part of the background

    def _place(self, ax: Any, group: str, x: float, h: float, w: float) -> None:
        """Give ``ax`` a box ``w`` x ``h`` pixels whose top-left corner is at (x, TOP); re-draw its group if it moved."""
        if self._boxes.get(group) != (x, w, h):
            self._boxes[group] = (x, w, h)
            fh = self.height
            ax.set_position((x / FIG_W, (fh - TOP - h) / fh, w / FIG_W, h / fh))
            self.compositor.invalidate(group, group + "_title")

    def _picture(self, ax: Any, im: Any, group: str, data: Any, rgba: Any, title: str) -> None:
        """New pixels for one panel: the values (kept in ``values``), their colours as ``(H, W, 4)`` uint8
        (matplotlib resamples these without colour-mapping again: about 1.5 ms less per panel), the axes' limits,
        the title; the panel's group re-drawn."""
        self.values[group] = data
        im.set_data(rgba)
        extent = (-0.5, data.shape[1] - 0.5, data.shape[0] - 0.5, -0.5)
        if tuple(im.get_extent()) != extent:
            im.set_extent(extent)
            ax.set_xlim(extent[0], extent[1])
            ax.set_ylim(extent[2], extent[3])
        self.compositor.invalidate(group)
        if ax.get_title() != title:
            ax.title.set_text(title)
            self.compositor.invalidate(group + "_title")

    def show_input(self, shown: Any, title: str) -> None:
        """The padded input, ``(H, W)`` grey or ``(H, W, 3)`` RGB in [0, 1]."""
        self._picture(self.ax_in, self.im_in, "in", shown, _rgba(shown, 0.0, 1.0), title)
        self._place(self.ax_in, "in", X_IN, shown.shape[0] * self.scale, shown.shape[1] * self.scale)

    def show_output(self, out: Any, title: str) -> None:
        """One output channel ``(H_out, W_out)``, grey scaled to its own range, at the input's scale."""
        lo, hi = float(out.min()), float(out.max())
        self._picture(self.ax_out, self.im_out, "out", out, _rgba(out, lo, hi), title)
        self._place(self.ax_out, "out", X_OUT, out.shape[0] * self.scale, out.shape[1] * self.scale)

    def show_kernel(self, k: Any, numbers: list[str], fontsize: float, title: str) -> None:
        """The kernel as applied ``(kh, kw)``, red/blue around 0, with ``numbers`` (row by row; [] for none)."""
        import numpy as np

        lim = float(np.abs(k).max()) or 1.0
        self._picture(self.ax_k, self.im_k, "k", k, self._cmap((k / lim + 1) / 2, bytes=True), title)
        cell = self.kernel_cell(k.shape)
        self._place(self.ax_k, "k", X_K, k.shape[0] * cell, k.shape[1] * cell)
        for i, t in enumerate(self.k_texts):
            if i < len(numbers):
                r, c = divmod(i, k.shape[1])
                t.set_position((c, r))
                t.set_text(numbers[i])
                t.set_fontsize(fontsize)
                t.set_color("white" if abs(k[r, c]) > 0.6 * lim else "black")
                t.set_visible(True)
            else:
                t.set_visible(False)

    @staticmethod
    def kernel_cell(shape: tuple[int, ...]) -> float:
        """Screen pixels per kernel entry."""
        return KERNEL / max(shape)

    def show_window(self, top: int, left: int, h: int, w: int, row: int, col: int) -> None:
        """Frame the window (padded-input pixels ``top, left``, ``h`` x ``w``) and the output cell ``(row, col)``."""
        m = OUTSET / self.scale  # the frames sit just outside the window and the cell: every pixel stays visible
        self.patch.set_bounds(left - 0.5 - m, top - 0.5 - m, w + 2 * m, h + 2 * m)
        self.cell.set_bounds(col - 0.5 - m, row - 0.5 - m, 1 + 2 * m, 1 + 2 * m)
        in_h, out_h, in_v, out_v = self.guides
        in_h.set_ydata([top + (h - 1) / 2] * 2)
        in_v.set_xdata([left + (w - 1) / 2] * 2)
        out_h.set_ydata([row, row])
        out_v.set_xdata([col, col])

    def render(self) -> None:
        """Bring the Agg canvas up to date, re-drawing only what changed."""
        self.compositor.render()


def _rgba(values: Any, lo: float, hi: float) -> Any:
    """``(H, W)`` grey or ``(H, W, 3)`` values mapped from [lo, hi] to ``(H, W, 4)`` uint8 (values outside clipped)."""
    import numpy as np

    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    grey = np.clip((values - lo) * scale + 0.5, 0, 255).astype(np.uint8)
    out = np.empty(values.shape[:2] + (4,), dtype=np.uint8)
    out[..., :3] = grey[..., None] if grey.ndim == 2 else grey
    out[..., 3] = 255
    return out
