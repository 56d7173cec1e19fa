"""CIFAR-10 and CIFAR-2 (birds vs airplanes) as datasets and ready-made loaders.

CIFAR-10 (Krizhevsky, 2009, "Learning Multiple Layers of Features from Tiny Images"):
60,000 RGB images of 32x32 pixels in ten classes, 50,000 for training and 10,000
for testing. Whatever source the images come from (see :mod:`course_utils.data.cifar_sources`),
the dataset behaves like ``torchvision.datasets.CIFAR10``: ``ds[i]`` is
``(PIL image, label)``, or ``(transform(image), label)`` when a transform is given,
with ``ds.data`` the ``(N, 32, 32, 3)`` uint8 array, ``ds.targets`` the labels and
``ds.classes`` the class names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import CourseError
from . import cifar_sources as sources

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch.utils.data import DataLoader

CIFAR10_CLASSES = sources.CIFAR10_CLASSES
# Per-channel mean and standard deviation of the 50,000 training images, pixels in [0, 1].
CIFAR10_MEAN: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
CIFAR10_STD: tuple[float, float, float] = (0.2470, 0.2435, 0.2616)
CIFAR2_CLASSES: tuple[str, str] = ("airplane", "bird")
SOURCES = ("auto", "torchvision", "archive", "download")


class CIFARDataset:
    """A map-style dataset over uint8 images ``(N, 32, 32, 3)``, as torchvision's CIFAR10 returns them.

    Example:
        >>> ds = cifar10(train=False)                    # doctest: +SKIP
        >>> image, label = ds[0]; ds.classes[label]      # a PIL image and e.g. 'cat'
    """

    def __init__(
        self,
        data: np.ndarray,
        targets: Sequence[int],
        classes: Sequence[str],
        *,
        train: bool,
        source: str,
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[int], Any] | None = None,
    ) -> None:
        self.data = data
        self.targets = [int(t) for t in targets]
        self.classes = list(classes)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.train = train
        self.source = source
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        from PIL import Image

        image: Any = Image.fromarray(self.data[index])
        target: Any = self.targets[index]
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"CIFARDataset({split}, {len(self)} images, classes={self.classes}, source={self.source!r})"


def _load(train: bool, source: str) -> tuple[np.ndarray, list[int], str]:
    if source not in SOURCES:
        raise CourseError(f"Unknown CIFAR-10 source {source!r}; use one of: {', '.join(SOURCES)}.")
    if source != "archive" and sources.torchvision_copy() is not None:
        return (*sources.load_torchvision_copy(train), "torchvision")
    if source == "torchvision":
        raise CourseError(
            f"There is no {sources.BATCHES_FOLDER} folder in {sources.data_dir()}; use source='auto' to try the other sources."
        )
    path = sources.archive_path()
    if source in ("auto", "archive") and path is not None:
        return (*sources.load_archive(path, train), "archive")
    if source == "archive":
        raise CourseError(
            f"{sources.ARCHIVE_ENV} is not set; set it to an image-folder archive of CIFAR-10 or use source='auto'."
        )
    if sources.download():
        return (*sources.load_torchvision_copy(train), "download")
    raise sources.no_source_error()


def cifar10(
    train: bool = True,
    *,
    classes: Sequence[str] | None = None,
    transform: Callable[[Any], Any] | None = None,
    target_transform: Callable[[int], Any] | None = None,
    source: str = "auto",
) -> CIFARDataset:
    """The CIFAR-10 training (50,000) or test (10,000) images.

    Args:
        train: the training split (True) or the test split (False).
        classes: keep only these classes, relabelled ``0..len(classes)-1`` in this order.
        transform: applied to each PIL image (e.g. ``transforms.ToTensor()`` gives ``(3, 32, 32)`` floats).
        target_transform: applied to each label.
        source: ``"auto"`` tries a torchvision copy in the data folder, then ``COURSE_CIFAR10_ARCHIVE``,
            then a download; ``"torchvision"``, ``"archive"`` or ``"download"`` use that one only.

    Raises:
        CourseError: when no source works, with the three ways to fix it (within a few seconds).

    Example:
        >>> from torchvision import transforms
        >>> test = cifar10(train=False, transform=transforms.ToTensor())   # doctest: +SKIP
        >>> x, y = test[0]                                                 # x: (3, 32, 32) in [0, 1]
    """
    import numpy as np

    data, targets, used = _load(train, source)
    names = list(CIFAR10_CLASSES)
    if classes is not None:
        unknown = [c for c in classes if c not in CIFAR10_CLASSES]
        if unknown or len(set(classes)) != len(classes) or not classes:
            raise CourseError(
                f"classes must be distinct CIFAR-10 class names from {', '.join(CIFAR10_CLASSES)}; got {list(classes)}."
            )
        wanted = [CIFAR10_CLASSES.index(c) for c in classes]
        labels = np.asarray(targets)
        keep = np.flatnonzero(np.isin(labels, wanted))
        relabel = {old: new for new, old in enumerate(wanted)}
        data, targets, names = data[keep], [relabel[int(t)] for t in labels[keep]], list(classes)
    return CIFARDataset(
        data, targets, names, train=train, source=used, transform=transform, target_transform=target_transform
    )


def cifar2(train: bool = True, *, transform: Callable[[Any], Any] | None = None, source: str = "auto") -> CIFARDataset:
    """CIFAR-2: the airplane and bird images of CIFAR-10, labelled 0 = airplane, 1 = bird.

    10,000 training and 2,000 test images: a small two-class problem that trains in seconds.

    Example:
        >>> train = cifar2()                   # doctest: +SKIP
        >>> train.classes
        ['airplane', 'bird']
    """
    return cifar10(train, classes=CIFAR2_CLASSES, transform=transform, source=source)


def cifar10_source() -> str:
    """Which source :func:`cifar10` would use here, in words, without loading any images.

    Raises:
        CourseError: when no source works (the same sentence :func:`cifar10` raises).
    """
    statuses = sources.source_statuses(
        probe_network=sources.torchvision_copy() is None and sources.archive_path() is None
    )
    for status in statuses:
        if status.available:
            return status.detail
        if status.name == "archive" and sources.archive_path() is not None:
            raise CourseError(f"{status.detail}; fix the path or unset the variable.")
    raise sources.no_source_error()


def _subset(dataset: CIFARDataset, n: int | None, seed: int) -> Any:
    import torch
    from torch.utils.data import Subset

    if n is None or n >= len(dataset):
        return dataset
    if n < 1:
        raise CourseError(f"A subset needs at least one image; got {n}.")
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
    return Subset(dataset, order[:n].tolist())


def cifar10_loaders(
    batch_size: int,
    *,
    classes: Sequence[str] | None = None,
    augment: bool = False,
    subset: int | None = None,
    test_subset: int | None = None,
    num_workers: int = 0,
    mean: Sequence[float] = CIFAR10_MEAN,
    std: Sequence[float] = CIFAR10_STD,
    source: str = "auto",
    seed: int = 0,
) -> tuple[DataLoader, DataLoader]:
    """Training and test loaders of normalised CIFAR-10 batches ``(B, 3, 32, 32)`` float32 and labels ``(B,)`` int64.

    Args:
        batch_size: images per batch.
        classes: keep only these classes (``CIFAR2_CLASSES`` gives birds vs airplanes).
        augment: random crop (padding 4) and horizontal flip on the training images.
        subset, test_subset: use this many images, drawn at random with ``seed`` (same every call).
        num_workers: loader worker processes (0, the safe choice in notebooks and Colab).
        mean, std: per-channel normalisation; the published CIFAR-10 statistics by default.
        source: see :func:`cifar10`.

    Example:
        >>> train_loader, test_loader = cifar10_loaders(128, subset=budget(full=None, smoke=512))  # doctest: +SKIP
        >>> x, y = next(iter(train_loader))          # x: (128, 3, 32, 32), y: (128,)
    """
    from torch.utils.data import DataLoader
    from torchvision import transforms

    normalise = [transforms.ToTensor(), transforms.Normalize(tuple(mean), tuple(std))]
    jitter = [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()] if augment else []
    train = cifar10(True, classes=classes, transform=transforms.Compose(jitter + normalise), source=source)
    test = cifar10(False, classes=classes, transform=transforms.Compose(normalise), source=source)
    return (
        DataLoader(_subset(train, subset, seed), batch_size=batch_size, shuffle=True, num_workers=num_workers),
        DataLoader(_subset(test, test_subset, seed), batch_size=batch_size, shuffle=False, num_workers=num_workers),
    )


def _as_batch(item: Any) -> torch.Tensor:
    """A float batch ``(B, C, H, W)`` from an image, an (image, label) pair or a batch."""
    import torch
    from PIL import Image

    if isinstance(item, (tuple, list)):
        item = item[0]
    if isinstance(item, Image.Image):
        from torchvision.transforms.functional import to_tensor

        item = to_tensor(item)
    if not isinstance(item, torch.Tensor):
        raise CourseError(f"channel_stats needs images (tensors or PIL images); got {type(item).__name__}.")
    item = item.double()
    return item.unsqueeze(0) if item.dim() == 3 else item


def channel_stats(images: Iterable[Any]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) standard deviation over every pixel of every image.

    Args:
        images: a :class:`CIFARDataset`, any dataset of ``(image, label)`` pairs or images
            ``(C, H, W)``, or a DataLoader of batches ``(B, C, H, W)``.

    Returns:
        ``(mean, std)``, each a tuple with one float per channel.

    Example:
        >>> mean, std = channel_stats(cifar10(train=True))   # doctest: +SKIP
        >>> [round(m, 4) for m in mean]
        [0.4914, 0.4822, 0.4465]
    """
    import numpy as np

    if isinstance(images, CIFARDataset) and images.transform is None:
        total = np.zeros(3)
        squares = np.zeros(3)
        for start in range(0, len(images.data), 5000):  # chunks keep the float copy small
            chunk = images.data[start : start + 5000].astype(np.float64) / 255.0
            total += chunk.sum(axis=(0, 1, 2))
            squares += (chunk**2).sum(axis=(0, 1, 2))
        count = images.data.shape[0] * images.data.shape[1] * images.data.shape[2]
    else:
        total = squares = None
        count = 0
        iterator = (
            iter(images)
            if not hasattr(images, "__getitem__") or hasattr(images, "batch_size")
            else (images[i] for i in range(len(images)))
        )  # type: ignore[arg-type]
        for item in iterator:
            batch = _as_batch(item)  # (B, C, H, W)
            s, q = batch.sum(dim=(0, 2, 3)).numpy(), (batch**2).sum(dim=(0, 2, 3)).numpy()
            total, squares = (s, q) if total is None else (total + s, squares + q)
            count += batch.shape[0] * batch.shape[2] * batch.shape[3]
        if total is None:
            raise CourseError("channel_stats got no images; pass a dataset or loader that is not empty.")
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)
