"""CIFAR-10 held on the device as uint8, cut into augmented, normalised batches there.

A DataLoader decodes, augments and copies every image on the CPU, every epoch; for a
network that trains in seconds that is slower than the network itself. Here the whole
training set (50,000 x 3 x 32 x 32 bytes = 150 MB) is copied to the device once, and each
batch is gathered, translated, flipped and normalised by a few tensor operations on the
device: no worker processes, no copies from the host after the first.

The augmentations are the classic ones for CIFAR-10: a random translation by up to
``crop_pad`` pixels (the same as padding by ``crop_pad`` and cropping 32 x 32 back out, as
``RandomCrop(32, padding=...)`` does) and a horizontal flip. :func:`translate` and
:func:`flip` take their random numbers as arguments, so a test can repeat them exactly.

Example:
    >>> x, y = cifar10_uint8(train=True, device=device)           # doctest: +SKIP
    >>> batches = GpuBatches(x, y, batch_size=1024, crop_pad=2)   # doctest: +SKIP
    >>> for xb, yb in batches: ...                                # xb: (1024, 3, 32, 32) float
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from ..data.cifar import CIFAR10_MEAN, CIFAR10_STD, cifar10
from ..errors import CourseError

if TYPE_CHECKING:
    import torch

PAD_MODES = ("reflect", "zeros")


def cifar10_uint8(
    train: bool = True,
    *,
    subset: int | None = None,
    device: torch.device | str = "cpu",
    seed: int = 0,
    source: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 as two tensors on ``device``: images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` int64.

    Args:
        train: the 50,000 training images (True) or the 10,000 test images (False).
        subset: keep this many images, drawn at random with ``seed`` (the archive is stored
            class by class, so the first N images would hold few classes); None keeps all.
        device: where the tensors live (a GPU keeps them there for the whole run).
        seed: the seed of the subset draw (the same subset every call).
        source: where the images come from, as in :func:`course_utils.cifar10`.

    Example:
        >>> xt, yt = cifar10_uint8(train=False, subset=1000)   # doctest: +SKIP
        >>> xt.shape, xt.dtype
        (torch.Size([1000, 3, 32, 32]), torch.uint8)
    """
    import torch

    dataset = cifar10(train, source=source)
    images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()  # (N, 32, 32, 3) -> (N, 3, 32, 32)
    labels = torch.tensor(dataset.targets, dtype=torch.int64)  # (N,)
    if subset is not None:
        if subset < 1:
            raise CourseError(f"subset must be a positive number of images or None; got {subset}.")
        if subset < len(labels):
            keep = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:subset]
            images, labels = images[keep], labels[keep]
    return images.to(device), labels.to(device)


def translate(images: torch.Tensor, shifts: torch.Tensor, pad_mode: str = "reflect") -> torch.Tensor:
    """Shift each image by its own ``(dy, dx)``, filling the border by reflection or with zeros.

    ``out[b, :, i, j] = images[b, :, i + dy_b, j + dx_b]``, with positions outside the image
    reflected back inside (``pad_mode="reflect"``, like ``F.pad(..., mode="reflect")``) or
    read as 0 (``"zeros"``). It equals padding every image by ``p >= |shift|`` and cropping
    the window that starts at ``(p + dy, p + dx)``, without building the padded copy.

    Args:
        images: ``(B, C, H, W)`` of any dtype (uint8 here).
        shifts: ``(B, 2)`` integers, the row shift ``dy`` and the column shift ``dx``;
            with reflection ``|shift| < H`` and ``< W``.
        pad_mode: ``"reflect"`` or ``"zeros"``.

    Returns:
        ``(B, C, H, W)``, the same dtype and device (channels-last strides).

    Example:
        >>> x = torch.arange(16, dtype=torch.uint8).reshape(1, 1, 4, 4)
        >>> translate(x, torch.tensor([[0, 1]]))[0, 0, 0].tolist()   # row 0 moved one pixel left, reflected
        [1, 2, 3, 2]
    """
    import torch

    if pad_mode not in PAD_MODES:
        raise CourseError(f"pad_mode must be one of {PAD_MODES}; got {pad_mode!r}.")
    b, _, h, w = images.shape
    device = images.device
    rows = torch.arange(h, device=device) + shifts[:, :1]  # (B, H): the source row of each output row
    cols = torch.arange(w, device=device) + shifts[:, 1:]  # (B, W)
    if pad_mode == "reflect":
        rows = (h - 1) - ((h - 1) - rows.abs()).abs()  # -r -> r and (H-1)+r -> (H-1)-r
        cols = (w - 1) - ((w - 1) - cols.abs()).abs()
        inside = None
    else:
        inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]  # (B, H, W)
        rows, cols = rows.clamp(0, h - 1), cols.clamp(0, w - 1)
    batch = torch.arange(b, device=device)[:, None, None]  # (B, 1, 1)
    out = images[batch, :, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C): the indexed dims come first
    if inside is not None:
        out = out * inside[..., None].to(out.dtype)
    return out.permute(0, 3, 1, 2)  # (B, C, H, W) with channels-last strides


def flip(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mirror left-right the images whose ``mask`` entry is True: ``(B, C, H, W)``, mask ``(B,)`` bool."""
    import torch

    return torch.where(mask[:, None, None, None], images.flip(-1), images)


def normalize(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """uint8 images ``(B, C, H, W)`` to ``(x / 255 - mean) / std`` in ``dtype``; mean and std ``(C,)`` float32."""
    scaled = images.float().div_(255.0)
    return scaled.sub_(mean[:, None, None]).div_(std[:, None, None]).to(dtype)


class GpuBatches:
    """Shuffled, augmented, normalised batches cut from uint8 tensors that already live on the device.

    Each ``iter()`` is one epoch: a new order, new shifts and new flips, all drawn on the
    images' device from a generator seeded once with ``seed`` (so a run repeats exactly).

    Args:
        images: ``(N, 3, H, W)`` uint8 on the device; labels ``(N,)`` int64 on the same device.
        batch_size: images per batch.
        mean, std: per-channel statistics of pixels in [0, 1] (CIFAR-10's by default).
        crop_pad: the largest shift in pixels (0: no translation).
        pad_mode: what the shifted-in border holds, ``"reflect"`` or ``"zeros"``.
        flip: mirror images left-right.
        alternate_flip: draw each image's flip once, then mirror it every other epoch (each image
            is seen both ways in every pair of epochs); random flips every epoch when False.
        channels_last: hand out batches in channels-last memory format.
        dtype: the batches' dtype (``torch.bfloat16`` under bf16 autocast, float32 otherwise).
        shuffle: a new random order every epoch (False: the stored order).
        drop_last: drop the last, smaller batch (keeps every step the same shape).
        seed: the seed of the device generator.

    Example:
        >>> batches = GpuBatches(x, y, batch_size=512, crop_pad=2, seed=0)   # doctest: +SKIP
        >>> len(batches)                                                     # batches per epoch
        97
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        batch_size: int = 1024,
        mean: Sequence[float] = CIFAR10_MEAN,
        std: Sequence[float] = CIFAR10_STD,
        crop_pad: int = 2,
        pad_mode: str = "reflect",
        flip: bool = True,
        alternate_flip: bool = False,
        channels_last: bool = True,
        dtype: torch.dtype | None = None,
        shuffle: bool = True,
        drop_last: bool = True,
        seed: int = 0,
    ) -> None:
        import torch

        if images.dtype != torch.uint8 or images.dim() != 4:
            raise CourseError(
                f"GpuBatches needs uint8 images (N, C, H, W), as cifar10_uint8 returns; "
                f"got {images.dtype} {tuple(images.shape)}."
            )
        if labels.shape != (images.shape[0],) or labels.device != images.device:
            raise CourseError(
                f"labels must be one per image, (N,) = ({images.shape[0]},), on {images.device}; "
                f"got {tuple(labels.shape)} on {labels.device}."
            )
        if batch_size < 1 or (drop_last and batch_size > len(labels)):
            raise CourseError(
                f"batch_size {batch_size} gives no batch from {len(labels)} images; "
                "use a smaller batch or drop_last=False."
            )
        if crop_pad < 0 or crop_pad >= min(images.shape[-2:]):
            raise CourseError(f"crop_pad must be between 0 and the image size - 1; got {crop_pad}.")
        if pad_mode not in PAD_MODES:
            raise CourseError(f"pad_mode must be one of {PAD_MODES}; got {pad_mode!r}.")
        self.images, self.labels = images, labels
        self.batch_size, self.crop_pad, self.pad_mode = batch_size, crop_pad, pad_mode
        self.flip, self.alternate_flip, self.shuffle, self.drop_last = flip, alternate_flip, shuffle, drop_last
        self.channels_last = channels_last
        self.dtype = dtype or torch.float32
        self.mean = torch.tensor(tuple(mean), dtype=torch.float32, device=images.device)
        self.std = torch.tensor(tuple(std), dtype=torch.float32, device=images.device)
        self.generator = torch.Generator(device=images.device).manual_seed(seed)
        self.epoch = 0
        self._base_flips: torch.Tensor | None = None  # (N,) bool, drawn once for alternate_flip

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _draw(self) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """This epoch's order ``(N,)``, shifts ``(N, 2)`` (or None) and flips ``(N,)`` (or None)."""
        import torch

        n, device, g = len(self.labels), self.images.device, self.generator
        order = torch.randperm(n, device=device, generator=g) if self.shuffle else torch.arange(n, device=device)
        shifts = None
        if self.crop_pad > 0:
            shifts = torch.randint(-self.crop_pad, self.crop_pad + 1, (n, 2), device=device, generator=g)
        flips = None
        if self.flip and self.alternate_flip:
            if self._base_flips is None:
                self._base_flips = torch.rand(n, device=device, generator=g) < 0.5
            flips = self._base_flips ^ bool(self.epoch % 2)
        elif self.flip:
            flips = torch.rand(n, device=device, generator=g) < 0.5
        return order, shifts, flips

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        import torch

        order, shifts, flips = self._draw()
        self.epoch += 1
        for i in range(len(self)):
            index = order[i * self.batch_size : (i + 1) * self.batch_size]  # (B,)
            xb = self.images[index]  # (B, 3, H, W) uint8
            if shifts is not None:
                xb = translate(xb, shifts[index], self.pad_mode)
            if flips is not None:
                xb = flip(xb, flips[index])
            xb = normalize(xb, self.mean, self.std, self.dtype)
            fmt = torch.channels_last if self.channels_last else torch.contiguous_format
            yield xb.contiguous(memory_format=fmt), self.labels[index]
