"""Sample photographs that ship inside matplotlib: a real picture with no download.

Nothing here reads anything at import time; matplotlib and Pillow are imported when
:func:`sample_image` runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import CourseError

if TYPE_CHECKING:
    import torch

# Photographs that ship inside matplotlib (no download needed): name -> file in mpl-data/sample_data.
SAMPLE_IMAGES: dict[str, str] = {
    "grace_hopper": "grace_hopper.jpg",  # Rear Admiral Grace Hopper, US Navy portrait (public domain)
}


def sample_image(
    name: str = "grace_hopper", *, size: int | tuple[int, int] | None = None, grey: bool = False
) -> torch.Tensor:
    """A real photograph as a float tensor in [0, 1], shape ``(C, H, W)``.

    Args:
        name: one of :data:`SAMPLE_IMAGES` (the photographs matplotlib installs).
        size: resize to ``size`` (one int: the shorter side; a pair: (H, W)).
        grey: return one luminance channel (ITU-R BT.601 weights) instead of RGB.

    Example:
        >>> img = sample_image(size=128, grey=True)   # (1, 128, 109)
    """
    import numpy as np
    import torch
    from matplotlib import cbook
    from PIL import Image

    if name not in SAMPLE_IMAGES:
        raise CourseError(f"There is no sample image called {name!r}; choose one of: {', '.join(SAMPLE_IMAGES)}.")
    with cbook.get_sample_data(SAMPLE_IMAGES[name]) as fh:
        image = Image.open(fh).convert("L" if grey else "RGB")
        image.load()
    if size is not None:
        if isinstance(size, int):
            w, h = image.size
            scale = size / min(w, h)
            new = (max(1, round(w * scale)), max(1, round(h * scale)))
        else:
            new = (int(size[1]), int(size[0]))
        image = image.resize(new, Image.BILINEAR)
    array = np.asarray(image, dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array.copy())
    return tensor.unsqueeze(0) if grey else tensor.permute(2, 0, 1).contiguous()
