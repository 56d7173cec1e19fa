"""The words and numbers KernelExplorer writes: the multiply-and-sum of one output cell, its (row, column), titles.

Everything here is plain text built from NumPy arrays (no widgets, no figure),
so it is tested directly. ``kernel`` is always the kernel **as applied**: in
"convolution" mode the entered kernel flipped in both axes, which is what the
picture's kernel panel shows and what the sum multiplies.
"""

from __future__ import annotations

from typing import Any


def applied_kernel(kernel: Any, mode: str) -> Any:
    """The ``(kh, kw)`` NumPy kernel that multiplies the window: flipped in both axes for ``mode="convolution"``.

    Example:
        >>> applied_kernel(np.array([[1.0, 2.0], [3.0, 4.0]]), "convolution").tolist()
        [[4.0, 3.0], [2.0, 1.0]]
    """
    import numpy as np

    k = np.asarray(kernel, dtype=np.float64)
    return np.flip(k, (0, 1)).copy() if mode == "convolution" else k


def window(padded: Any, channel: int, top: int, left: int, shape: tuple[int, int], dilation: int) -> Any:
    """The ``(kh, kw)`` input values under the kernel: every ``dilation``-th pixel from ``(top, left)`` of ``padded`` (C, H, W)."""
    kh, kw = shape
    return padded[
        channel, top : top + dilation * (kh - 1) + 1 : dilation, left : left + dilation * (kw - 1) + 1 : dilation
    ]


def arithmetic_html(row: int, col: int, kernel: Any, patch: Any) -> tuple[str, float]:
    """``out[row, col] = (k)×x + ... = total`` as HTML, and the total (float).

    Example:
        >>> arithmetic_html(0, 1, np.ones((1, 2)), np.array([[0.5, 0.25]]))[1]
        0.75
    """
    kh, kw = kernel.shape
    terms = [f"({kernel[i, j]:.3g})×{patch[i, j]:.3f}" for i in range(kh) for j in range(kw)]
    total = float((kernel * patch).sum())
    return f"<code>out[{row}, {col}] = " + " + ".join(terms) + f" = <b>{total:.4f}</b></code>", total


def cell_label(row: int, col: int, shape: tuple[int, int]) -> str:
    """The position readout: ``output cell (row, column) = (r, c) of (H_out, W_out)`` as HTML."""
    return (
        f"output cell <b>(row, column) = ({row}, {col})</b> <span style='color:#666'>of {shape[0]} x {shape[1]}</span>"
    )


def kernel_number(value: float) -> str:
    """A kernel entry as the figure writes it: an integer as is, else at most 5 characters (``0.111``, ``-0.06``)."""
    if float(value).is_integer() and abs(value) < 1e5:
        return str(int(value))
    for digits in (3, 2, 1):
        text = f"{value:.{digits}g}"
        if len(text) <= 5:
            return text
    return f"{value:.0e}"


def number_fontsize(texts: list[str], cell_px: float, largest: int = 15, smallest: int = 8) -> int:
    """The font size (points = pixels at 72 dpi) at which the longest text fits in a kernel cell ``cell_px`` wide."""
    longest = max((len(t) for t in texts), default=1)
    return int(max(smallest, min(largest, 0.9 * cell_px / (0.62 * longest))))


def titles(
    image_shape: tuple[int, ...],
    padding: int,
    kernel_shape: tuple[int, int],
    mode: str,
    output_shape: tuple[int, ...] | None,
    channel: str | None,
) -> dict[str, str]:
    """The three panel titles: input (with its padding), kernel (flipped or not), output (with its channel)."""
    return {
        "in": f"input {tuple(image_shape)}" + (f", padded by {padding}" if padding else ""),
        "k": f"kernel {kernel_shape[0]}x{kernel_shape[1]}" + (", flipped" if mode == "convolution" else ""),
        "out": "output"
        + (f" channel {channel}" if channel else "")
        + (f" {tuple(output_shape)}" if output_shape else ""),
    }
