"""The computation behind KernelExplorer: input coercion and the depthwise 2-D convolution it shows.

``convolve`` pads with ``F.pad`` (zeros or reflect), flips the kernel for true
convolution, and runs ``F.conv2d`` with ``groups=C`` so an RGB image is
filtered per channel. Problems a learner can cause raise ``CourseError`` with
one sentence; the widget shows that sentence instead of a traceback.
"""

from __future__ import annotations

from typing import Any

from ..errors import CourseError

MODES = ("correlation", "convolution")
PADDING_MODES = ("zeros", "reflect")


def _as_image(image: Any) -> Any:
    """Return a float32 ``(C, H, W)`` tensor (C = 1 or 3) from a tensor, array or PIL image."""
    import numpy as np
    import torch

    if image is None:
        from ..data import sample_image

        return sample_image(size=128, grey=True)
    if hasattr(image, "convert") and hasattr(image, "size") and not isinstance(image, torch.Tensor):
        mode = "L" if getattr(image, "mode", "RGB") in ("L", "1", "I", "F") else "RGB"
        image = np.asarray(image.convert(mode), dtype=np.float32) / 255.0
        if image.ndim == 3:
            image = image.transpose(2, 0, 1)
    t = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image).detach().cpu()
    t = t.to(torch.float32)
    if t.ndim == 4 and t.shape[0] == 1:
        t = t[0]
    if t.ndim == 2:
        t = t[None]
    if t.ndim == 3 and t.shape[0] not in (1, 3) and t.shape[-1] in (1, 3):
        t = t.permute(2, 0, 1)
    if t.ndim != 3 or t.shape[0] not in (1, 3):
        raise CourseError(f"The image has shape {tuple(t.shape)}; give (H, W), (1, H, W) or (3, H, W).")
    if t.numel() == 0:
        raise CourseError("The image is empty; pass a picture with at least one pixel, e.g. sample_image(size=64).")
    return t


def _as_kernel(kernel: Any) -> Any:
    import torch

    from ..inspection import get_kernel

    if isinstance(kernel, str):
        return get_kernel(kernel)
    try:
        k = torch.as_tensor(kernel, dtype=torch.float32).detach().cpu()
    except (TypeError, ValueError) as exc:
        raise CourseError("The kernel must be a preset name or a 2-D grid of numbers.") from exc
    if k.ndim != 2 or k.numel() == 0:
        raise CourseError(f"The kernel has shape {tuple(k.shape)}; give a 2-D tensor such as torch.ones(3, 3) / 9.")
    return k.clone()


def convolve(
    image: Any,
    kernel: Any,
    *,
    stride: int = 1,
    padding: int = 0,
    padding_mode: str = "zeros",
    dilation: int = 1,
    mode: str = "correlation",
) -> Any:
    """Depthwise 2-D convolution of ``image`` (C, H, W) with one 2-D ``kernel`` (kh, kw): returns (C, H_out, W_out).

    Example:
        >>> convolve(torch.ones(1, 5, 5), torch.ones(3, 3), padding=1).shape
        torch.Size([1, 5, 5])
    """
    import torch
    import torch.nn.functional as F

    if padding_mode not in PADDING_MODES:
        raise CourseError(f"padding_mode must be one of {PADDING_MODES}.")
    if mode not in MODES:
        raise CourseError(f"mode must be one of {MODES}.")
    c, h, w = image.shape
    if padding_mode == "reflect" and padding >= min(h, w):
        raise CourseError(f"Reflect padding {padding} needs an image larger than {padding} pixels; lower the padding.")
    kh, kw = kernel.shape
    span_h, span_w = dilation * (kh - 1) + 1, dilation * (kw - 1) + 1
    if span_h > h + 2 * padding or span_w > w + 2 * padding:
        raise CourseError(
            f"The kernel spans {span_h}x{span_w} pixels but the padded image is only "
            f"{h + 2 * padding}x{w + 2 * padding}; use a smaller kernel or dilation, or more padding."
        )
    k = torch.flip(kernel, (0, 1)) if mode == "convolution" else kernel
    x = image[None]
    if padding:
        x = F.pad(x, (padding,) * 4, mode="constant" if padding_mode == "zeros" else "reflect")
    weight = k[None, None].expand(c, 1, kh, kw)
    return F.conv2d(x, weight, stride=stride, dilation=dilation, groups=c)[0]
