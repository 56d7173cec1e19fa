"""A pretrained backbone for chapters 10 and 11: torchvision's ImageNet ResNet-18 when it can be had, else the course's own.

:func:`load_backbone` returns a :class:`Backbone`: the network (eval mode, CPU) with what
using it needs (class names, the normalisation and input size it expects, a transform)
and prints one line saying which network it is and why. The ImageNet weights come from
torch's hub cache when they are there, else from a download tried only after a probe of
the server answers within seconds (torch writes the download to a temporary file and
moves it into place when its hash checks out, so a failed download leaves nothing).

Otherwise, and always with ``prefer="course"``, :func:`course_backbone` gives the course's
own ResNet-18 trained on eight CIFAR-10 classes (:mod:`~course_utils.models.recipe`). It is
cached as ``<data folder>/models/course_resnet18_<mode>_without-<classes>.pt``: the weights
and what they were made with, loaded with ``torch.load(..., weights_only=True)``. A file
that cannot be read, or that another recipe made, is trained again; a new file is written
beside its final place and renamed into it, so two processes training at once never leave
half a file.
"""

from __future__ import annotations

import socket
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import is_smoke
from ..data.cifar_sources import PROBE_TIMEOUT_S, network_reachable
from ..errors import CourseError
from . import recipe as recipes
from .cache import cache_path, read_cache, write_cache
from .recipe import DEFAULT_HELD_OUT

if TYPE_CHECKING:
    from torch import nn

DOWNLOAD_TIMEOUT_S = 30.0  # seconds a stalled download socket may stay silent
PREFERENCES = ("imagenet", "course")


@dataclass
class Backbone:
    """A trained network and what using it needs.

    Attributes:
        model: the network, in eval mode on the CPU (a ``torchvision.models.ResNet`` either way).
        source: ``"imagenet"`` (torchvision's weights) or ``"course"`` (trained by the course).
        classes: the class names its ``fc`` predicts, in output order.
        mean, std: the per-channel normalisation its inputs need (pixels in [0, 1]).
        image_size: the side of the square input it was trained on (224 or 32).
        transforms: PIL image or uint8 tensor ``(3, H, W)`` -> normalised float ``(3, S, S)``.
        description: the line :func:`load_backbone` printed.
        accuracy: test accuracy on its own classes (course), or ``None`` (ImageNet).
        held_out: CIFAR-10 classes left out of its training (course), or ``()``.
        path: the file its weights are kept in, or ``None`` when they could not be saved.
    """

    model: nn.Module = field(repr=False)
    source: str
    classes: tuple[str, ...] = field(repr=False)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    image_size: int
    transforms: Callable[[Any], Any] = field(repr=False)
    description: str = field(repr=False)
    accuracy: float | None = None
    held_out: tuple[str, ...] = ()
    path: Path | None = None


# ---------------------------------------------------------------- the course's own backbone
def course_transforms(mean: Sequence[float], std: Sequence[float], size: int = 32) -> Callable[[Any], Any]:
    """A torchvision v2 pipeline: PIL image or uint8 tensor ``(3, H, W)`` -> float ``(3, size, size)``, normalised.

    Another size is resized (shorter side) and centre-cropped to ``size``, as ImageNet's
    transforms do; a ``size`` x ``size`` image is only scaled to [0, 1] and normalised.
    """
    import torch
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.ToImage(),
            v2.Resize(size, antialias=True),
            v2.CenterCrop(size),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(list(mean), list(std)),
            v2.ToPureTensor(),
        ]
    )


def _course(held_out: Sequence[str], retrain: bool, why: str | None, progress: bool) -> Backbone:
    held = recipes.check_held_out(held_out)
    classes = recipes.kept_classes(held)
    recipe = recipes.default_recipe()
    path = cache_path(held)
    ckpt, problem = (None, "retrain=True asked for it") if retrain else read_cache(path, recipe, classes)
    if ckpt is not None:
        model, accuracy, images = ckpt["model"], float(ckpt["accuracy"]), int(ckpt["train_images"])
        mean, std = tuple(ckpt["mean"]), tuple(ckpt["std"])
        how = f"loaded from {path}"
    else:
        trained = recipes.train(recipe, held, progress=progress and not is_smoke())
        model, accuracy, mean, std = trained.model, trained.accuracy, trained.mean, trained.std
        images = trained.train_images
        again = f" again because {problem}" if problem else ""
        try:
            write_cache(path, trained, recipe, held)
            how = f"trained{again} in {trained.seconds:.0f} s and cached at {path}"
        except OSError as exc:  # a full disk or a read-only folder: the network is still usable now
            how = f"trained{again} in {trained.seconds:.0f} s, not cached ({exc.strerror or exc})"
    epochs = f"{recipe.epochs} epoch{'s' if recipe.epochs != 1 else ''}"
    smoke = f"smoke mode: {images} images, {epochs}; " if is_smoke() else ""
    line = (
        f"Using the course's ResNet-18 trained on {len(classes)} CIFAR-10 classes "
        f"({smoke}{_listed(held)} held out; {how}; test accuracy {accuracy:.1%})"
    )
    line += f": {why}." if why else "."
    return Backbone(
        model=model,
        source="course",
        classes=classes,
        mean=mean,  # type: ignore[arg-type]
        std=std,  # type: ignore[arg-type]
        image_size=32,
        transforms=course_transforms(mean, std),
        description=line,
        accuracy=accuracy,
        held_out=held,
        path=path if path.is_file() else None,
    )


def _listed(names: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def course_backbone(
    held_out: Sequence[str] = DEFAULT_HELD_OUT, retrain: bool = False, *, verbose: bool = True, progress: bool = True
) -> Backbone:
    """The course's ResNet-18 trained on the CIFAR-10 classes not in ``held_out``: cached, else trained now.

    Args:
        held_out: CIFAR-10 classes left out of training (chapter 11 transfers to them).
        retrain: train again even when a cached file is there.
        verbose: print the one line saying what was used (also in ``.description``).
        progress: show a progress bar while training in full mode (a few minutes on a CPU).

    Returns:
        A :class:`Backbone` with ``source="course"``, ``image_size=32`` and ``accuracy`` set.

    Raises:
        CourseError: for ``held_out`` names that are not CIFAR-10 classes, or when CIFAR-10
            cannot be loaded to train it (the data loader's sentence).

    Example:
        >>> bb = course_backbone()                               # doctest: +SKIP
        Using the course's ResNet-18 trained on 8 CIFAR-10 classes (cat and dog held out; loaded from ...).
        >>> bb.model(bb.transforms(image).unsqueeze(0)).shape   # doctest: +SKIP
        torch.Size([1, 8])
    """
    backbone = _course(held_out, retrain, None, progress)
    if verbose:
        print(backbone.description)
    return backbone


# ---------------------------------------------------------------- torchvision's ImageNet weights
def _imagenet(probe_timeout: float) -> tuple[Backbone | None, str]:
    """torchvision's ResNet-18 with IMAGENET1K_V1 weights, or ``(None, why it could not be had)``."""
    import torch
    from torchvision.models import ResNet18_Weights, resnet18

    weights = ResNet18_Weights.IMAGENET1K_V1
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(urllib.parse.urlsplit(weights.url).path).name
    if cached.is_file():
        how = f"from torch's hub cache {cached}"
    elif network_reachable(weights.url, probe_timeout):
        how = f"downloaded just now into {cached}"
    else:
        host = urllib.parse.urlsplit(weights.url).hostname
        return None, f"ImageNet weights could not be fetched ({host} did not answer within {probe_timeout:g} s)"
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        model = resnet18(weights=weights)
    except Exception as exc:  # a failed download, a bad hash or a corrupt cached file
        where = f"; delete {cached} to fetch it again" if cached.is_file() else ""
        return None, f"ImageNet weights could not be loaded ({type(exc).__name__}: {str(exc)[:80].rstrip('.')}{where})"
    finally:
        socket.setdefaulttimeout(old_timeout)
    preprocess = weights.transforms()
    line = f"Using torchvision's ResNet-18 with ImageNet weights ({weights.name}, 1000 classes, 224x224 inputs), {how}."
    return Backbone(
        model=model.eval(),
        source="imagenet",
        classes=tuple(weights.meta["categories"]),
        mean=tuple(preprocess.mean),  # type: ignore[arg-type]
        std=tuple(preprocess.std),  # type: ignore[arg-type]
        image_size=int(preprocess.crop_size[0]),
        transforms=preprocess,
        description=line,
        accuracy=None,
        path=cached if cached.is_file() else None,
    ), ""


def load_backbone(
    prefer: str = "imagenet",
    *,
    held_out: Sequence[str] = DEFAULT_HELD_OUT,
    verbose: bool = True,
    probe_timeout: float = PROBE_TIMEOUT_S,
    progress: bool = True,
) -> Backbone:
    """The backbone chapters 10 and 11 use: ImageNet's ResNet-18 when it can be had, else the course's own.

    Args:
        prefer: ``"imagenet"`` tries torchvision's ``ResNet18_Weights.IMAGENET1K_V1`` first (from
            torch's hub cache, or downloaded when the server answers within ``probe_timeout``
            seconds) and falls back to :func:`course_backbone`; ``"course"`` always uses the
            course's own (what CI and offline runs get).
        held_out: passed to :func:`course_backbone`.
        verbose: print one line saying which network is used and why (also in ``.description``).
        probe_timeout: seconds to wait for the weights' server before giving up on it.
        progress: show a progress bar if the course's backbone has to be trained in full mode.

    Returns:
        A :class:`Backbone` (``.model`` in eval mode on the CPU).

    Raises:
        CourseError: for an unknown ``prefer`` or bad ``held_out``.

    Example:
        >>> bb = load_backbone()                       # doctest: +SKIP
        Using the course's ResNet-18 trained on 8 CIFAR-10 classes (...): ImageNet weights could not be fetched (...).
        >>> x = bb.transforms(sample_image("astronaut"))  # (3, S, S), S = bb.image_size   # doctest: +SKIP
    """
    if prefer not in PREFERENCES:
        raise CourseError(f"prefer must be 'imagenet' or 'course'; got {prefer!r}.")
    recipes.check_held_out(held_out)  # a bad argument fails at once, whichever network is used
    backbone, why = (None, None) if prefer == "course" else _imagenet(probe_timeout)
    if backbone is None:
        backbone = _course(held_out, False, why, progress)
    if verbose:
        print(backbone.description)
    return backbone
