"""Where CIFAR-10 comes from: a torchvision copy, an image-folder archive, or a download.

Three sources, tried in this order by :func:`course_utils.data.cifar10`:

1. ``torchvision``: a ``cifar-10-batches-py`` folder already in :func:`~course_utils.config.data_dir`
   (what ``torchvision.datasets.CIFAR10(download=True)`` leaves behind).
2. ``archive``: an image-folder archive named by ``COURSE_CIFAR10_ARCHIVE`` (a ``.tar.gz``
   or a folder holding ``train/<class>/*.jpg`` and ``test/<class>/*.jpg``). It is decoded
   once into uint8 arrays cached under the data folder, never inside the project.
3. ``download``: torchvision's own download, after a quick reachability probe so that an
   offline machine fails within seconds instead of hanging.

Every write goes to a temporary folder first and is renamed into place at the end, so
a crash or a failed download never leaves a half-written data set behind.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import shutil
import socket
import tarfile
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from ..config import data_dir
from ..errors import CourseError

if TYPE_CHECKING:
    import numpy as np

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
ARCHIVE_ENV = "COURSE_CIFAR10_ARCHIVE"
BATCHES_FOLDER = "cifar-10-batches-py"  # torchvision's CIFAR10.base_folder
BATCH_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")
PROBE_TIMEOUT_S = 2.0  # seconds to wait for the download server to answer
DOWNLOAD_TIMEOUT_S = 30.0  # seconds a stalled download socket may stay silent
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
STALE_AFTER_S = 600.0  # a partial cache folder this old belongs to a run that died


@dataclass(frozen=True)
class SourceStatus:
    """Whether one CIFAR-10 source can be used here, and a line that says why."""

    name: str  # "torchvision", "archive" or "download"
    available: bool
    detail: str


def no_source_error() -> CourseError:
    """The one-sentence error for a machine where no CIFAR-10 source works."""
    return CourseError(
        "CIFAR-10 could not be loaded from any source: connect to the internet so torchvision can download it, "
        f"set {ARCHIVE_ENV} to an image-folder archive (a .tar.gz with train/<class>/*.jpg and test/<class>/*.jpg), "
        f"or put torchvision's {BATCHES_FOLDER} folder in {data_dir()}."
    )


# ---------------------------------------------------------------- source 1: torchvision copy
def torchvision_copy() -> Path | None:
    """The ``cifar-10-batches-py`` folder in the data folder when all its files are there."""
    folder = data_dir() / BATCHES_FOLDER
    return folder if all((folder / name).is_file() for name in BATCH_FILES) else None


def load_torchvision_copy(train: bool) -> tuple[np.ndarray, list[int]]:
    """Images ``(N, 32, 32, 3)`` uint8 and labels read by ``torchvision.datasets.CIFAR10``."""
    from torchvision.datasets import CIFAR10

    try:
        ds = CIFAR10(str(data_dir()), train=train, download=False)
    except RuntimeError:
        raise CourseError(
            f"The CIFAR-10 copy in {data_dir() / BATCHES_FOLDER} is incomplete or corrupted; "
            "delete that folder and run again."
        ) from None
    return ds.data, list(ds.targets)


# ---------------------------------------------------------------- source 2: image-folder archive
def archive_path() -> Path | None:
    """The path in ``COURSE_CIFAR10_ARCHIVE``, or ``None`` when the variable is unset."""
    raw = os.environ.get(ARCHIVE_ENV, "").strip()
    return Path(raw).expanduser() if raw else None


def archive_problem(path: Path) -> str | None:
    """Why ``path`` cannot serve as the archive (``None`` when it looks usable)."""
    if path.is_dir():
        return None if (path / "train").is_dir() and (path / "test").is_dir() else "has no train/ and test/ folders"
    if not path.is_file():
        return "does not exist"
    if not os.access(path, os.R_OK):
        return "is not readable"
    try:
        if not tarfile.is_tarfile(path):
            return "is not a tar archive"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None


def _split_of(name: str, split: str) -> tuple[str, str] | None:
    """``(class, file)`` when the member ``name`` is ``.../<split>/<class>/<file>`` of an image."""
    parts = PurePosixPath(name).parts
    if len(parts) >= 3 and parts[-3] == split and parts[-1].lower().endswith(IMAGE_SUFFIXES):
        return parts[-2], parts[-1]
    return None


def _decode(blob: bytes, name: str) -> np.ndarray:
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(blob)) as image:
        array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    if array.shape != (32, 32, 3):
        raise CourseError(
            f"The image {name} in the CIFAR-10 archive is {array.shape[1]}x{array.shape[0]}, not 32x32; point {ARCHIVE_ENV} at a CIFAR-10 archive."
        )
    return array


def read_archive(path: Path, split: str, *, per_class: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decode one split of an image-folder archive (or folder) without caching.

    Args:
        path: a tar archive (any compression) or a folder with ``train/`` and ``test/``.
        split: ``"train"`` or ``"test"``.
        per_class: keep only the first ``per_class`` files of each class (by name).

    Returns:
        images ``(N, 32, 32, 3)`` uint8 and labels ``(N,)`` int64 in CIFAR-10's class order,
        sorted by (class, file name).
    """
    import numpy as np

    found: dict[tuple[str, str], bytes | Path] = {}
    if path.is_dir():
        for file in (path / split).glob("*/*"):
            key = _split_of(file.relative_to(path).as_posix(), split)
            if key is not None:
                found[key] = file
    else:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                key = _split_of(member.name, split) if member.isfile() else None
                handle = tar.extractfile(member) if key is not None else None
                if key is not None and handle is not None:
                    found[key] = handle.read()
    unknown = sorted({cls for cls, _ in found} - set(CIFAR10_CLASSES))
    if not found or unknown:
        what = f"unknown class folders {unknown}" if unknown else f"no {split}/<class>/ images"
        raise CourseError(
            f"{path} has {what}; point {ARCHIVE_ENV} at an archive with train/<class>/*.jpg and test/<class>/*.jpg for the ten CIFAR-10 classes."
        )
    keys = sorted(found, key=lambda k: (CIFAR10_CLASSES.index(k[0]), k[1]))
    if per_class is not None:
        counts = dict.fromkeys(CIFAR10_CLASSES, 0)
        kept = []
        for key in keys:
            if counts[key[0]] < per_class:
                counts[key[0]] += 1
                kept.append(key)
        keys = kept
    images = np.empty((len(keys), 32, 32, 3), dtype=np.uint8)
    for i, key in enumerate(keys):
        blob = found[key]
        images[i] = _decode(blob.read_bytes() if isinstance(blob, Path) else blob, f"{split}/{key[0]}/{key[1]}")
    labels = np.array([CIFAR10_CLASSES.index(cls) for cls, _ in keys], dtype=np.int64)
    return images, labels


def archive_cache_dir(path: Path) -> Path:
    """Where the decoded arrays of ``path`` are cached: keyed by an archive's sha256, or by a folder's path."""
    if path.is_dir():
        key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    else:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        key = digest.hexdigest()[:16]
    return data_dir() / f"cifar10-archive-{key}"


def load_archive(path: Path, train: bool) -> tuple[np.ndarray, list[int]]:
    """Images ``(N, 32, 32, 3)`` uint8 and labels from the archive, decoded once and cached.

    The decoded split is written into a temporary folder beside its final place and
    renamed at the end, so an interrupted run leaves no half-written cache.
    """
    import numpy as np

    problem = archive_problem(path)
    if problem is not None:
        raise CourseError(f"{ARCHIVE_ENV} points to {path}, which {problem}; fix the path or unset the variable.")
    split = "train" if train else "test"
    final = archive_cache_dir(path) / split
    if not (final / "images.npy").is_file():
        final.parent.mkdir(parents=True, exist_ok=True)
        for stale in final.parent.glob(f".{split}-partial-*"):  # left by a run that was killed
            if time.time() - stale.stat().st_mtime > STALE_AFTER_S:
                shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{split}-partial-", dir=final.parent))
        try:
            images, labels = read_archive(path, split)
            np.save(tmp / "images.npy", images)
            np.save(tmp / "labels.npy", labels)
            try:
                os.rename(tmp, final)
            except OSError:  # another process finished first; keep its copy
                if not (final / "images.npy").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    images = np.load(final / "images.npy")
    labels = np.load(final / "labels.npy")
    return images, labels.tolist()


# ---------------------------------------------------------------- source 3: torchvision download
def network_reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True when the server of ``url`` answers a HEAD request for it within ``timeout`` seconds.

    The request goes through urllib, like torchvision's download (so proxies count), and
    runs in a helper thread so that a slow DNS lookup cannot hold the caller longer either.
    """
    result: list[bool] = []

    def attempt() -> None:
        request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "course_utils"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                result.append(response.status < 400)
        except (OSError, ValueError, http.client.HTTPException):  # URLError and HTTPError are OSErrors
            result.append(False)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def download_url() -> str:
    """Where torchvision downloads CIFAR-10 from."""
    from torchvision.datasets import CIFAR10

    return CIFAR10.url


def download(*, probe_timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Download CIFAR-10 with torchvision into the data folder; False when it cannot.

    The download goes into a temporary folder and only the checked ``cifar-10-batches-py``
    folder is moved into place; the archive and any partial file are deleted.
    """
    from torchvision.datasets import CIFAR10

    if not network_reachable(CIFAR10.url, probe_timeout):
        return False
    root = data_dir()
    tmp = Path(tempfile.mkdtemp(prefix=".cifar10-download-", dir=root))
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        CIFAR10(str(tmp), train=False, download=True)
        os.rename(tmp / BATCHES_FOLDER, root / BATCHES_FOLDER)
        return True
    except (OSError, RuntimeError, ValueError, tarfile.TarError):
        return torchvision_copy() is not None  # another process may have finished first
    finally:
        socket.setdefaulttimeout(old_timeout)
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- report
def source_statuses(*, probe_timeout: float = PROBE_TIMEOUT_S, probe_network: bool = True) -> list[SourceStatus]:
    """The three sources in the order they are tried, each with whether it is usable here."""
    copy = torchvision_copy()
    detail = f"torchvision copy in {copy}" if copy else f"no {BATCHES_FOLDER} in {data_dir()}"
    statuses = [SourceStatus("torchvision", copy is not None, detail)]
    path = archive_path()
    problem = archive_problem(path) if path is not None else None
    if path is None:
        detail = f"{ARCHIVE_ENV} is not set"
    elif problem is None:
        detail = f"image-folder archive {path} ({ARCHIVE_ENV})"
    else:
        detail = f"{ARCHIVE_ENV}={path}, which {problem}"
    statuses.append(SourceStatus("archive", path is not None and problem is None, detail))
    if not probe_network:
        return [*statuses, SourceStatus("download", False, "network not probed")]
    url = download_url()
    ok = network_reachable(url, probe_timeout)
    host = urllib.parse.urlsplit(url).hostname
    detail = f"torchvision download from {url}" if ok else f"{host} not reachable within {probe_timeout:g} s"
    return [*statuses, SourceStatus("download", ok, detail)]
