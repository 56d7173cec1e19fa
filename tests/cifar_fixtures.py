"""Tiny CIFAR-10 look-alikes built in a temporary folder: no download, nothing from the real data.

- :func:`make_batches_dir`: a ``cifar-10-batches-py`` folder of pickled dicts laid out
  like torchvision's download (five training batches, a test batch, ``batches.meta``).
- :func:`make_image_folder` / :func:`make_archive`: ``train/<class>/NNNN.jpg`` and
  ``test/<class>/NNNN.jpg`` as a folder and as a ``.tar.gz``, like the image-folder archive.
"""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def random_images(n: int, seed: int) -> np.ndarray:
    """``(n, 32, 32, 3)`` uint8 images: smooth colour ramps plus noise (JPEG keeps them close)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, 32)[None, :, None, None] * rng.uniform(0, 200, (n, 1, 1, 3))
    noise = rng.integers(0, 55, (n, 32, 32, 3))
    return (ramp + noise).clip(0, 255).astype(np.uint8)


def make_batches_dir(root: Path, *, per_batch: int = 20, n_test: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    """Write ``root/cifar-10-batches-py`` and return the images ``(N, 32, 32, 3)`` and labels written."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    written: dict[str, list[np.ndarray]] = {"train_x": [], "train_y": [], "test_x": [], "test_y": []}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        n = n_test if name == "test_batch" else per_batch
        images = random_images(n, seed * 100 + i)
        labels = rng.integers(0, 10, n)
        labels[:10] = np.arange(10)  # every class appears in every batch
        entry = {
            "batch_label": f"fixture {name}",
            "labels": labels.tolist(),
            "data": images.transpose(0, 3, 1, 2).reshape(n, 3072),  # rows of R, G, B planes, as CIFAR stores them
            "filenames": [f"img_{name}_{j}.png" for j in range(n)],
        }
        with open(folder / name, "wb") as fh:
            pickle.dump(entry, fh, protocol=2)
        split = "test" if name == "test_batch" else "train"
        written[f"{split}_x"].append(images)
        written[f"{split}_y"].append(labels)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": list(CLASSES), "num_cases_per_batch": per_batch, "num_vis": 3072}, fh, protocol=2)
    return {key: np.concatenate(value) for key, value in written.items()}


def make_image_folder(root: Path, *, train_per_class: int = 3, test_per_class: int = 2, seed: int = 1) -> Path:
    """Write ``root/train/<class>/NNNN.jpg`` and ``root/test/<class>/NNNN.jpg``; return ``root``."""
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        for c, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            images = random_images(per_class, seed * 1000 + c + (500 if split == "test" else 0))
            for j, image in enumerate(images):
                Image.fromarray(image).save(folder / f"{j:04d}.jpg", quality=75)
    return root


def make_archive(
    tmp: Path, *, train_per_class: int = 3, test_per_class: int = 2, prefix: str = ""
) -> tuple[Path, Path]:
    """A ``.tar.gz`` of an image folder (members ``<prefix>train/<class>/NNNN.jpg``) and the folder itself."""
    folder = make_image_folder(tmp / "folder", train_per_class=train_per_class, test_per_class=test_per_class)
    archive = tmp / "cifar10-fixture.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for split in ("train", "test"):
            tar.add(folder / split, arcname=f"{prefix}{split}")
    return archive, folder
