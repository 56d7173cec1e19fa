"""How the course trains its own backbone: the recipe (every hyper-parameter in one place) and the run.

The course's ResNet-18 (:func:`~course_utils.models.resnet.course_resnet18`) learns the
CIFAR-10 classes that chapter 11 does not transfer to: by default eight classes, with cat
and dog held out. The run is a plain loop a learner could write, made fast on a CPU by
keeping the images as one uint8 tensor and augmenting whole batches at once:

- normalisation by the per-channel mean and standard deviation of the training images it
  uses (computed with :func:`~course_utils.data.channel_stats`, not CIFAR-10's published
  statistics, since two classes are missing);
- augmentation: a random crop of the image padded by 4 pixels (the padding is the mean
  colour, zero after normalisation) and a random horizontal flip, per image;
- SGD with Nesterov momentum and weight decay; the learning rate rises linearly to its peak
  over the first quarter of the steps and falls to zero along a cosine (a one-cycle
  schedule as in Smith & Topin, 2019, without the momentum cycle); cross-entropy loss;
- the test accuracy measured on the same classes' test images.

Width and epochs were chosen by measurement (full mode, one thread, on the course's 2-core
CPU while other jobs shared it, so CPU seconds are quoted): width 16 for 4 epochs reached
81.7% test accuracy in 471 CPU seconds, width 8 for 10 epochs 84.2% in 540, and the default,
width 8 for 8 epochs, 83.4% in 398 CPU seconds: under five minutes on two idle cores if two
threads run it at least 1.33 times as fast as one (the idle wall time is not measured yet).

Everything random draws from generators seeded by the recipe, so the same code gives the
same weights (on the same machine and PyTorch version), and the learner's global random
state is left as it was.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ..config import is_smoke
from ..data.cifar import CIFARDataset, channel_stats, cifar10
from ..data.cifar_sources import CIFAR10_CLASSES
from ..errors import CourseError
from .resnet import DEFAULT_WIDTH, course_resnet18

if TYPE_CHECKING:
    import torch
    from torch import nn

DEFAULT_HELD_OUT = ("cat", "dog")  # the classes chapter 11 transfers to
RECIPE_VERSION = 1  # raise it whenever the training code changes what a recipe produces


@dataclass(frozen=True)
class Recipe:
    """Every setting that decides the backbone's weights; a cached file made by another recipe is retrained."""

    width: int = DEFAULT_WIDTH  # channels of layer1 (layer4 has 8x); see the measurements above
    epochs: int = 8  # passes over the 40,000 training images
    batch_size: int = 256  # images per optimiser step
    max_lr: float = 0.2  # peak learning rate of the warm-up / cosine schedule
    warmup: float = 0.25  # fraction of the steps spent warming up to max_lr
    momentum: float = 0.9  # Nesterov momentum
    weight_decay: float = 5e-4  # L2 penalty on every parameter
    pad: int = 4  # pixels of padding for the random crop
    train_subset: int | None = None  # train on this many images (None: all of the kept classes')
    test_subset: int | None = None  # measure the accuracy on this many test images (None: all)
    seed: int = 0  # seeds the initial weights, the batch order and the augmentation
    version: int = RECIPE_VERSION

    def as_dict(self) -> dict[str, Any]:
        """The recipe as plain values (what the checkpoint stores)."""
        return asdict(self)


def default_recipe() -> Recipe:
    """The full recipe, or in smoke mode a subset and one epoch that train in seconds."""
    if is_smoke():
        return Recipe(epochs=1, train_subset=1024, test_subset=512)
    return Recipe()


@dataclass
class Trained:
    """What a training run produced."""

    model: nn.Module  # in eval mode, on the CPU
    classes: tuple[str, ...]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    accuracy: float  # on the test images of ``classes``
    seconds: float  # wall time of the run, data loading included
    train_images: int


def check_held_out(held_out: Sequence[str]) -> tuple[str, ...]:
    """``held_out`` as a tuple in CIFAR-10's order; a CourseError for names that cannot be held out."""
    if isinstance(held_out, str):
        held_out = (held_out,)
    names = list(held_out)
    unknown = [name for name in names if name not in CIFAR10_CLASSES]
    if unknown or len(set(names)) != len(names) or not names or len(names) > len(CIFAR10_CLASSES) - 2:
        raise CourseError(
            f"held_out must name between 1 and 8 distinct CIFAR-10 classes from {', '.join(CIFAR10_CLASSES)}; "
            f"got {names}."
        )
    return tuple(name for name in CIFAR10_CLASSES if name in names)


def kept_classes(held_out: Sequence[str]) -> tuple[str, ...]:
    """The CIFAR-10 classes that are not held out, in CIFAR-10's order."""
    return tuple(name for name in CIFAR10_CLASSES if name not in held_out)


def _as_tensors(dataset: CIFARDataset, subset: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` int64, a seeded random subset when asked."""
    import torch

    images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()  # (N, 3, 32, 32) uint8
    labels = torch.tensor(dataset.targets, dtype=torch.long)
    if subset is not None and subset < len(labels):
        keep = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:subset]
        images, labels = images[keep], labels[keep]
    return images, labels


def normalise(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 images ``(N, 3, H, W)`` -> float32 ``(x / 255 - mean) / std`` per channel."""
    import torch

    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (images.float() / 255 - m) / s


def augment(batch: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Random crop after zero padding, and random horizontal flip, per image of ``(B, C, H, W)``."""
    import torch
    import torch.nn.functional as F

    b, c, h, w = batch.shape
    padded = F.pad(batch, (pad, pad, pad, pad))  # (B, C, H + 2p, W + 2p)
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None]  # (B, 1, H, 1)
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :]  # (B, 1, 1, W)
    crops = padded[torch.arange(b)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]
    flip = torch.rand(b, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], crops.flip(3), crops)  # (B, C, H, W)


def accuracy(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, mean: Sequence[float], std: Sequence[float]
) -> float:
    """Fraction of uint8 ``images`` ``(N, 3, 32, 32)`` that ``model`` (put in eval mode) classifies right."""
    import torch

    model.eval()
    device = next(model.parameters()).device
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), 500):
            logits = model(normalise(images[start : start + 500], mean, std).to(device))
            correct += int((logits.argmax(1).cpu() == labels[start : start + 500]).sum())
    return correct / max(len(labels), 1)


def train(recipe: Recipe, held_out: Sequence[str], *, progress: bool = False) -> Trained:
    """Train the course's ResNet-18 on the CIFAR-10 classes not in ``held_out`` and measure it.

    Args:
        recipe: the hyper-parameters (see :class:`Recipe`).
        held_out: CIFAR-10 class names left out of training (validated by the caller).
        progress: show a tqdm bar over the optimiser steps.

    Returns:
        A :class:`Trained` with the model in eval mode on the CPU.
    """
    import torch
    from torch import nn

    start_time = time.perf_counter()
    classes = kept_classes(held_out)
    x_train, y_train = _as_tensors(cifar10(True, classes=classes), recipe.train_subset, recipe.seed)
    x_test, y_test = _as_tensors(cifar10(False, classes=classes), recipe.test_subset, recipe.seed + 1)
    stats = CIFARDataset(x_train.permute(0, 2, 3, 1).numpy(), y_train.tolist(), classes, train=True, source="")
    mean, std = channel_stats(stats)  # of the images it trains on
    if len(y_train) < 2:
        raise CourseError(f"The course's backbone needs at least two training images; the data has {len(y_train)}.")
    with torch.random.fork_rng(devices=[]):  # seeded weights, the learner's global generator untouched
        torch.manual_seed(recipe.seed)
        model = course_resnet18(len(classes), width=recipe.width)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # minutes on a CPU, seconds on a GPU
    model.to(device=device, memory_format=torch.channels_last)
    generator = torch.Generator().manual_seed(recipe.seed)  # on the CPU: the same draws on any machine
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=recipe.max_lr,
        momentum=recipe.momentum,
        nesterov=True,
        weight_decay=recipe.weight_decay,
    )
    starts = [i for i in range(0, len(y_train), recipe.batch_size) if len(y_train) - i >= 2]  # BatchNorm needs 2
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(recipe.epochs * len(starts), recipe.warmup))
    loss_fn = nn.CrossEntropyLoss()
    bar = _progress_bar(recipe.epochs * len(starts)) if progress else None
    model.train()
    for _ in range(recipe.epochs):
        order = torch.randperm(len(y_train), generator=generator)
        for first in starts:
            index = order[first : first + recipe.batch_size]
            inputs = augment(normalise(x_train[index], mean, std), recipe.pad, generator)  # (B, 3, 32, 32)
            inputs = inputs.to(device, memory_format=torch.channels_last)
            loss = loss_fn(model(inputs), y_train[index].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    if bar is not None:
        bar.close()
    score = accuracy(model, x_test, y_test, mean, std)  # leaves the model in eval mode
    model.to(device="cpu", memory_format=torch.contiguous_format)
    return Trained(model, classes, mean, std, score, time.perf_counter() - start_time, len(y_train))  # type: ignore[arg-type]


def _warmup_cosine(total: int, warmup: float) -> Callable[[int], float]:
    """The learning rate's factor after ``step`` steps: a linear rise over the warm-up, then a cosine fall to 0."""
    rise = max(1, round(warmup * total))

    def factor(step: int) -> float:
        if step < rise:
            return (step + 1) / rise
        return 0.5 * (1 + math.cos(math.pi * (step - rise) / max(1, total - rise)))

    return factor


def _progress_bar(total: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="training the course's ResNet-18", unit="batch", dynamic_ncols=True)
