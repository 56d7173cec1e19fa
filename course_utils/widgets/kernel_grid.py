"""The kernel editor of KernelExplorer: a 3x3 or 5x5 grid of text boxes where a learner types a kernel.

What an entry may be: a number (``-1``, ``0.25``, ``2e-1``) or a fraction
(``1/9``, ``-2/16``). While an entry is only the start of one (``-``, ``.``,
``1/``, ``1e``, or empty) it is ignored: the kernel stays as it was until the
entry parses, so typing ``-1`` never blanks the picture on the way. Anything
else (``abc``, ``1/0``, ``inf``) keeps the last kernel and sets a one-line
``message`` that says which entry and what to type instead.

Switching 3x3 -> 5x5 keeps the kernel centred (a ring of zeros around it);
5x5 -> 3x3 keeps the centre 3x3. No torch at import; ipywidgets when a grid is made.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

SIZES = {"3x3": 3, "5x5": 5}
# what a learner may have typed on the way to a number or a fraction (also every complete one)
_PARTIAL = re.compile(r"[+-]?\d*\.?\d*(?:[eE][+-]?\d*)?(?:/[+-]?\d*\.?\d*(?:[eE][+-]?\d*)?)?")


def parse_entry(text: str) -> float | None:
    """The number a grid entry holds; ``None`` while it is only the start of one; ``ValueError`` for anything else.

    Example:
        >>> parse_entry("1/9"), parse_entry("-"), parse_entry("-0.5")
        (0.1111111111111111, None, -0.5)
    """
    text = text.strip().replace(" ", "")
    parts = text.split("/")
    try:
        values = [float(p) for p in parts] if len(parts) <= 2 and _PARTIAL.fullmatch(text) else None
    except ValueError:
        values = None
    if values is None:
        if _PARTIAL.fullmatch(text):
            return None  # "", "-", ".", "1/", "1e-": still being typed
        raise ValueError(f"{text!r} is not a number; type e.g. -1, 0.25 or 1/9")
    if len(values) == 2 and values[1] == 0:
        raise ValueError(f"{text!r} divides by zero")
    value = values[0] / values[1] if len(values) == 2 else values[0]
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is too large")
    return value


def recentre(kernel: Any, n: int) -> Any:
    """An ``(n, n)`` kernel with ``kernel`` in its centre: zeros around a smaller one, the centre of a larger one.

    Example:
        >>> recentre(torch.ones(3, 3), 5)[0].tolist()
        [0.0, 0.0, 0.0, 0.0, 0.0]
    """
    import torch

    out = torch.zeros(n, n, dtype=torch.float32)
    kh, kw = kernel.shape
    src, dst = [], []
    for k in (kh, kw):
        if k <= n:  # even sizes sit one row/column above/left of the centre
            src.append(slice(0, k))
            dst.append(slice((n - k) // 2, (n - k) // 2 + k))
        else:
            src.append(slice((k - n) // 2, (k - n) // 2 + n))
            dst.append(slice(0, n))
    out[dst[0], dst[1]] = kernel[src[0], src[1]].to(torch.float32)
    return out


def _format(value: float) -> str:
    return f"{value:.4g}"


class KernelGrid:
    """The editor: a size toggle and a grid of text boxes; calls ``on_kernel(kernel)`` with each new valid kernel.

    ``view`` is the ipywidgets box to show; ``kernel`` the last valid kernel it showed or read (2-D float
    tensor); ``message`` is ``""`` or the one-line problem with an entry; ``on_message()`` is called whenever
    ``message`` changes.
    """

    def __init__(self, kernel: Any, on_kernel: Callable[[Any], None], on_message: Callable[[], None]) -> None:
        import ipywidgets as widgets

        self._on_kernel = on_kernel
        self._on_message = on_message
        self._busy = False  # True while the grid itself writes its boxes
        self.message = ""
        self.size = widgets.ToggleButtons(
            options=list(SIZES),
            value="5x5" if max(kernel.shape) > 3 else "3x3",
            description="grid",
            style={"button_width": "48px", "description_width": "70px"},
        )
        self.texts = [[widgets.Text(layout=widgets.Layout(width="52px")) for _ in range(5)] for _ in range(5)]
        self.box = widgets.GridBox(children=[], layout=widgets.Layout(grid_template_columns="repeat(3, 56px)"))
        self.view = widgets.VBox([self.size, self.box])
        self.show(kernel)
        self.size.observe(self._on_size, "value")
        for row in self.texts:
            for t in row:
                t.observe(self._on_text, "value")

    @property
    def n(self) -> int:
        return SIZES[self.size.value]

    def show(self, kernel: Any, n: int | None = None) -> None:
        """Write ``kernel`` into the boxes (centred in an ``n``x``n`` grid; default: the smallest that fits)."""
        n = n or (5 if max(kernel.shape) > 3 else 3)
        self.kernel = kernel.clone()
        k = recentre(kernel, n)
        self._busy = True
        try:
            self.size.value = f"{n}x{n}"
            for r in range(5):
                for c in range(5):
                    self.texts[r][c].value = _format(float(k[r, c])) if r < n and c < n else "0"
            self.box.children = [self.texts[r][c] for r in range(n) for c in range(n)]
            self.box.layout.grid_template_columns = f"repeat({n}, 56px)"
        finally:
            self._busy = False
        self._set_message("")

    def read(self) -> Any:
        """The kernel the boxes hold now, ``None`` while an entry is incomplete; ``ValueError`` names a bad entry."""
        import torch

        values = []
        for r in range(self.n):
            for c in range(self.n):
                try:
                    v = parse_entry(self.texts[r][c].value)
                except ValueError as exc:
                    raise ValueError(f"Kernel entry (row {r + 1}, column {c + 1}): {exc}.") from None
                if v is None:
                    return None
                values.append(v)
        return torch.tensor(values, dtype=torch.float32).reshape(self.n, self.n)

    def _set_message(self, text: str) -> None:
        if text != self.message:
            self.message = text
            self._on_message()

    def _on_text(self, change: Any) -> None:
        if self._busy:
            return
        try:
            kernel = self.read()
        except ValueError as exc:
            self._set_message(str(exc))
            return
        if kernel is None:  # still being typed: keep the last kernel and say nothing yet
            return
        self._set_message("")
        self.kernel = kernel
        self._on_kernel(kernel)

    def _on_size(self, change: Any) -> None:
        if self._busy:
            return
        # the last valid kernel (an unfinished or bad entry is dropped), centred in the new size
        kernel = recentre(self.kernel, self.n)
        self.show(kernel, self.n)
        self._on_kernel(kernel)
