"""The cache of the course's backbone: ``<data folder>/models/course_resnet18_<mode>_without-<classes>.pt``.

The file holds the weights (a state_dict) and what they were made with (the recipe, the
classes, the normalisation, the test accuracy) as plain values and tensors, so it is read
with ``torch.load(..., weights_only=True)``. A file that cannot be read, that another recipe
made, or whose weights do not fit the network is reported, never raised, and the caller
trains again. A new file is written to a temporary file in the same folder and renamed into
place (``os.replace``), so two processes training at once never leave half a file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config import data_dir, is_smoke
from .recipe import DEFAULT_HELD_OUT, Recipe, Trained, check_held_out
from .resnet import course_resnet18

FORMAT = "course_resnet18"
KEYS = {"recipe", "classes", "mean", "std", "accuracy", "train_images", "state_dict"}  # what a loader reads


def cache_path(held_out: Sequence[str] = DEFAULT_HELD_OUT) -> Path:
    """Where the course's backbone without ``held_out`` is cached (smoke and full mode apart)."""
    mode = "smoke" if is_smoke() else "full"
    return data_dir() / "models" / f"course_resnet18_{mode}_without-{'-'.join(check_held_out(held_out))}.pt"


def read_cache(path: Path, recipe: Recipe, classes: tuple[str, ...]) -> tuple[Any, str | None]:
    """``(checkpoint, None)`` when ``path`` holds this recipe's weights, else ``(None, why not)``."""
    import torch

    if not path.is_file():
        return None, None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a truncated, corrupt or foreign file: any error means "train again"
        return None, f"the cached file {path} could not be read"
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or not KEYS <= ckpt.keys():
        return None, f"the cached file {path} is not a complete course checkpoint"
    if ckpt["recipe"] != recipe.as_dict() or tuple(ckpt["classes"]) != classes:
        return None, f"the cached file {path} was made by another recipe"
    model = course_resnet18(len(classes), width=recipe.width)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except (KeyError, RuntimeError, TypeError):
        return None, f"the weights in {path} do not fit the network"
    ckpt["model"] = model.eval()
    return ckpt, None


def write_cache(path: Path, trained: Trained, recipe: Recipe, held_out: tuple[str, ...]) -> None:
    """Save the weights and their metadata atomically (a temporary file in the same folder, then os.replace)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "recipe": recipe.as_dict(),
        "classes": list(trained.classes),
        "held_out": list(held_out),
        "mean": list(trained.mean),
        "std": list(trained.std),
        "image_size": 32,
        "width": recipe.width,
        "accuracy": trained.accuracy,
        "train_seconds": trained.seconds,
        "train_images": trained.train_images,
        "torch_version": str(torch.__version__),  # a plain str: weights_only refuses TorchVersion
        "state_dict": trained.model.state_dict(),
    }
    handle, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".partial", dir=path.parent)
    os.close(handle)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
