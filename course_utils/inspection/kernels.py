"""Classic hand-made 3x3 kernels, the filters image processing used long before CNNs learnt their own.

Each is returned as a fresh ``(3, 3)`` float32 tensor, so changing one in a
notebook never changes it for the next caller. Sobel's operator comes from
Sobel & Feldman (1968); the others are textbook filters (Gonzalez & Woods,
*Digital Image Processing*, ch. 3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import CourseError

if TYPE_CHECKING:
    import torch

_KERNELS: dict[str, tuple[tuple[float, ...], ...]] = {
    "identity": ((0, 0, 0), (0, 1, 0), (0, 0, 0)),
    "box_blur": ((1 / 9,) * 3,) * 3,
    "gaussian": ((1 / 16, 2 / 16, 1 / 16), (2 / 16, 4 / 16, 2 / 16), (1 / 16, 2 / 16, 1 / 16)),
    "sharpen": ((0, -1, 0), (-1, 5, -1), (0, -1, 0)),
    "sobel_x": ((-1, 0, 1), (-2, 0, 2), (-1, 0, 1)),
    "sobel_y": ((-1, -2, -1), (0, 0, 0), (1, 2, 1)),
    "laplacian": ((0, 1, 0), (1, -4, 1), (0, 1, 0)),
    "emboss": ((-2, -1, 0), (-1, 1, 1), (0, 1, 2)),
}

KERNEL_NAMES: tuple[str, ...] = tuple(_KERNELS)
"""Names accepted by :func:`get_kernel`, in display order."""


def get_kernel(name: str) -> torch.Tensor:
    """Return the named kernel as a new ``(3, 3)`` float32 tensor.

    ``sobel_x`` responds to intensity rising from left to right (vertical
    edges); ``sobel_y`` to intensity rising from top to bottom.

    Example:
        >>> get_kernel("sobel_x")
        tensor([[-1.,  0.,  1.],
                [-2.,  0.,  2.],
                [-1.,  0.,  1.]])
    """
    import torch

    key = name.strip().lower().replace(" ", "_").replace("-", "_") if isinstance(name, str) else name
    if key not in _KERNELS:
        raise CourseError(f"There is no kernel called {name!r}; choose one of: {', '.join(KERNEL_NAMES)}.")
    return torch.tensor(_KERNELS[key], dtype=torch.float32)
