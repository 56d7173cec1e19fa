"""course_utils.data (cifar, cifar_sources): CIFAR-10 from three sources, CIFAR-2, loaders, statistics.

Every test builds its own tiny data in tmp_path; torchvision (CIFAR10, ImageFolder,
transforms) is the oracle. Only the last test reads the real archive, and only when
COURSE_CIFAR10_ARCHIVE names it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from cifar_fixtures import CLASSES, make_archive, make_batches_dir
from PIL import Image
from torchvision import transforms

from course_utils import CIFAR10_MEAN, CIFAR10_STD, channel_stats, cifar2, cifar10, cifar10_loaders, cifar10_source
from course_utils.data import CIFAR2_CLASSES, CIFARDataset, cifar_sources
from course_utils.errors import CourseError

ROOT = Path(__file__).resolve().parent.parent
NOWHERE = "https://cifar.invalid/cifar-10-python.tar.gz"  # .invalid never resolves (RFC 6761)


@pytest.fixture
def silent_server(monkeypatch):
    """A URL on a local port that accepts connections and never answers: a hanging network."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)  # talk to the local port directly
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield f"http://127.0.0.1:{server.getsockname()[1]}/cifar-10-python.tar.gz"
    server.close()


@pytest.fixture
def data(monkeypatch, tmp_path):
    """An empty data folder, no archive variable, and no real network probe unless a test asks."""
    folder = tmp_path / "data"
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    monkeypatch.delenv(cifar_sources.ARCHIVE_ENV, raising=False)
    return folder


@pytest.fixture
def batches(data, monkeypatch):
    """A tiny cifar-10-batches-py in the data folder; torchvision's md5 check accepts it."""
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: os.path.isfile(path))
    data.mkdir(parents=True, exist_ok=True)
    return make_batches_dir(data)


@pytest.fixture
def archive(data, monkeypatch, tmp_path):
    path, folder = make_archive(tmp_path, prefix="cifar10/")
    monkeypatch.setenv(cifar_sources.ARCHIVE_ENV, str(path))
    return path, folder


def no_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# ------------------------------------------------------------------ source 1: torchvision copy
def test_torchvision_copy_is_read_like_torchvision(batches, data):
    ds = cifar10(train=True)
    oracle = torchvision.datasets.CIFAR10(str(data), train=True, download=False)
    assert ds.source == "torchvision" and len(ds) == len(oracle) == 100
    np.testing.assert_array_equal(ds.data, oracle.data)
    np.testing.assert_array_equal(ds.data, batches["train_x"])
    assert ds.targets == oracle.targets == batches["train_y"].tolist()
    assert ds.classes == list(CLASSES) == oracle.classes
    image, label = ds[7]
    assert isinstance(image, Image.Image) and image.size == (32, 32)
    np.testing.assert_array_equal(np.asarray(image), np.asarray(oracle[7][0]))
    test = cifar10(train=False, transform=transforms.ToTensor())
    x, y = test[3]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and y == batches["test_y"][3]
    assert torch.equal(x, transforms.ToTensor()(Image.fromarray(batches["test_x"][3])))


def test_corrupted_copy_says_to_delete_it(batches, data, monkeypatch):
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: False)
    with pytest.raises(CourseError, match="incomplete or corrupted; delete that folder"):
        cifar10()


# ------------------------------------------------------------------ source 2: image-folder archive
def test_archive_matches_imagefolder(archive, data):
    path, folder = archive
    for split, train in (("train", True), ("test", False)):
        ds = cifar10(train, transform=transforms.ToTensor())
        oracle = torchvision.datasets.ImageFolder(str(folder / split), transform=transforms.ToTensor())
        assert ds.source == "archive" and len(ds) == len(oracle) == (30 if train else 20)
        assert ds.classes == oracle.classes == list(CLASSES)
        for i in range(len(ds)):
            (x, y), (x_ref, y_ref) = ds[i], oracle[i]
            assert y == y_ref
            assert torch.equal(x, x_ref), f"image {i} of {split} differs from ImageFolder's"
    # decoded once, cached under the data folder (never in the project), reused next time
    cache = cifar_sources.archive_cache_dir(path)
    assert cache.parent == data and (cache / "train" / "images.npy").is_file()
    assert not any(ROOT in p.parents for p in [cache])


def test_archive_cache_is_reused(archive, monkeypatch):
    first = cifar10(train=False)
    monkeypatch.setattr(cifar_sources, "read_archive", lambda *a, **k: pytest.fail("decoded the archive twice"))
    again = cifar10(train=False)
    np.testing.assert_array_equal(first.data, again.data)


def test_archive_can_be_a_folder(data, monkeypatch, tmp_path):
    _, folder = make_archive(tmp_path)
    monkeypatch.setenv(cifar_sources.ARCHIVE_ENV, str(folder))
    ds = cifar10(train=False)
    oracle = torchvision.datasets.ImageFolder(str(folder / "test"))
    assert ds.targets == oracle.targets
    np.testing.assert_array_equal(np.asarray(ds[5][0]), np.asarray(oracle[5][0]))


def test_interrupted_decoding_leaves_no_folder(archive, data, monkeypatch):
    path, _ = archive
    real = cifar_sources._decode
    calls = []

    def crash(blob, name):
        calls.append(name)
        if len(calls) == 5:
            raise KeyboardInterrupt  # the learner pressed stop mid-way
        return real(blob, name)

    monkeypatch.setattr(cifar_sources, "_decode", crash)
    with pytest.raises(KeyboardInterrupt):
        cifar10(train=True)
    cache = cifar_sources.archive_cache_dir(path)
    assert not (cache / "train").exists()
    assert no_files(cache) == []  # not even the temporary folder
    monkeypatch.setattr(cifar_sources, "_decode", real)
    assert len(cifar10(train=True)) == 30


def test_killed_process_leaves_no_final_folder(archive, data):
    """A hard crash (os._exit while saving) leaves only a hidden temporary folder, cleaned once stale."""
    path, _ = archive
    script = (
        "import os, numpy as np\n"
        "from course_utils import cifar10\n"
        "real = np.save\n"
        "def save(file, arr, *a, **k):\n"
        "    real(file, arr, *a, **k); os._exit(3)\n"
        "np.save = save\n"
        "cifar10(train=True)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], env=dict(os.environ), capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 3, run.stderr
    cache = cifar_sources.archive_cache_dir(path)
    assert not (cache / "train").exists()
    partial = list(cache.glob(".train-partial-*"))
    assert len(partial) == 1
    old = time.time() - 2 * cifar_sources.STALE_AFTER_S
    os.utime(partial[0], (old, old))
    assert len(cifar10(train=True)) == 30
    assert sorted(p.name for p in cache.iterdir()) == ["train"]


def test_bad_archive_variable_is_one_sentence(data, monkeypatch, tmp_path):
    monkeypatch.setenv(cifar_sources.ARCHIVE_ENV, str(tmp_path / "missing.tar.gz"))
    with pytest.raises(CourseError, match=r"COURSE_CIFAR10_ARCHIVE points to .*missing.tar.gz, which does not exist"):
        cifar10()
    with pytest.raises(CourseError, match="does not exist"):
        cifar10_source()
    (tmp_path / "notes.txt").write_text("not an archive")
    monkeypatch.setenv(cifar_sources.ARCHIVE_ENV, str(tmp_path / "notes.txt"))
    with pytest.raises(CourseError, match="is not a tar archive"):
        cifar10()


# ------------------------------------------------------------------ order and download
def test_sources_are_tried_in_order(batches, data, monkeypatch, tmp_path):
    path, _ = make_archive(tmp_path)
    monkeypatch.setenv(cifar_sources.ARCHIVE_ENV, str(path))
    monkeypatch.setattr(cifar_sources, "network_reachable", lambda *a, **k: pytest.fail("probed the network"))
    assert cifar10(train=False).source == "torchvision"  # 1. the copy wins over the archive
    assert cifar10_source().startswith("torchvision copy in")
    assert cifar10(train=False, source="archive").source == "archive"
    (data / "cifar-10-batches-py" / "test_batch").unlink()
    assert cifar10(train=False).source == "archive"  # 2. an incomplete copy is skipped
    assert cifar10_source().startswith("image-folder archive")
    monkeypatch.delenv(cifar_sources.ARCHIVE_ENV)
    monkeypatch.setattr(cifar_sources, "network_reachable", lambda *a, **k: False)
    with pytest.raises(CourseError, match="could not be loaded from any source"):
        cifar10()  # 3. then the download, which fails offline
    with pytest.raises(CourseError, match="There is no cifar-10-batches-py"):
        cifar10(source="torchvision")
    with pytest.raises(CourseError, match="is not set"):
        cifar10(source="archive")
    with pytest.raises(CourseError, match="Unknown CIFAR-10 source"):
        cifar10(source="internet")


@pytest.mark.parametrize("where", ["nowhere", "silent"])
def test_offline_fails_fast_with_three_fixes_and_no_files(data, monkeypatch, silent_server, where):
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "url", NOWHERE if where == "nowhere" else silent_server)
    start = time.perf_counter()
    with pytest.raises(CourseError) as info:
        cifar10()
    seconds = time.perf_counter() - start
    assert seconds < 5, f"the offline error took {seconds:.1f} s"
    message = str(info.value)
    assert message.endswith(".") and message.count(". ") == 0 and "\n" not in message  # one sentence
    assert "connect to the internet so torchvision can download it" in message
    assert "set COURSE_CIFAR10_ARCHIVE to an image-folder archive" in message
    assert f"cifar-10-batches-py folder in {data}" in message
    assert no_files(data) == []
    with pytest.raises(CourseError, match="could not be loaded from any source"):
        cifar10_source()


def test_failed_download_leaves_no_partial_files(data, monkeypatch):
    import urllib.error

    def half_download(url, download_root, filename=None, md5=None, **kwargs):
        Path(download_root, filename).write_bytes(b"\x1f\x8b half an archive")
        (Path(download_root) / "cifar-10-batches-py").mkdir()
        raise urllib.error.URLError("connection reset by peer")

    monkeypatch.setattr(cifar_sources, "network_reachable", lambda *a, **k: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "download_and_extract_archive", half_download)
    with pytest.raises(CourseError, match="connect to the internet so torchvision can download it"):
        cifar10()
    assert no_files(data) == []


def test_successful_download_is_moved_into_place(data, monkeypatch):
    made = {}

    def fake_download(url, download_root, filename=None, md5=None, **kwargs):
        made.update(make_batches_dir(Path(download_root)))
        Path(download_root, filename).write_bytes(b"the archive torchvision keeps")

    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: os.path.isfile(path))
    monkeypatch.setattr(cifar_sources, "network_reachable", lambda *a, **k: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "download_and_extract_archive", fake_download)
    ds = cifar10(train=False)
    assert ds.source == "download"
    np.testing.assert_array_equal(ds.data, made["test_x"])
    assert sorted(p.name for p in data.iterdir()) == ["cifar-10-batches-py"]  # no archive, no temporary folder
    assert cifar10(train=False).source == "torchvision"


def test_network_probe_gives_up_within_its_timeout(silent_server):
    for url in (silent_server, NOWHERE):
        start = time.perf_counter()
        assert cifar_sources.network_reachable(url, timeout=0.5) is False
        assert time.perf_counter() - start < 1.5


def test_network_probe_sees_a_server_that_answers(silent_server):
    import http.server
    import threading

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(200 if self.path.endswith(".tar.gz") else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        assert cifar_sources.network_reachable(f"{base}/cifar-10-python.tar.gz", timeout=2) is True
        assert cifar_sources.network_reachable(f"{base}/missing", timeout=2) is False
    finally:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------ CIFAR-2, loaders, statistics
def test_cifar2_is_airplanes_and_birds(batches):
    ds = cifar2(train=True)
    y = batches["train_y"]
    assert ds.classes == list(CIFAR2_CLASSES) == ["airplane", "bird"]
    assert ds.targets == [0 if label == 0 else 1 for label in y if label in (0, 2)]
    np.testing.assert_array_equal(ds.data, batches["train_x"][(y == 0) | (y == 2)])
    assert set(ds.targets) == {0, 1}
    with pytest.raises(CourseError, match="distinct CIFAR-10 class names"):
        cifar10(classes=["airplane", "plane"])


def test_channel_stats_match_a_direct_computation(batches):
    ds = cifar10(train=True)
    x = torch.stack(
        [transforms.ToTensor()(Image.fromarray(img)) for img in batches["train_x"]]
    ).double()  # (N, 3, 32, 32)
    want_mean = x.mean(dim=(0, 2, 3))
    want_std = x.permute(1, 0, 2, 3).reshape(3, -1).std(dim=1, unbiased=False)
    loader = torch.utils.data.DataLoader(cifar10(train=True, transform=transforms.ToTensor()), batch_size=7)
    for got in (
        channel_stats(ds),
        channel_stats(loader),
        channel_stats(cifar10(transform=transforms.ToTensor())),
        channel_stats(torch.utils.data.TensorDataset(x.float(), torch.zeros(len(x)))),
    ):
        mean, std = got
        assert len(mean) == len(std) == 3
        torch.testing.assert_close(torch.tensor(mean, dtype=torch.float64), want_mean, atol=1e-6, rtol=0)
        torch.testing.assert_close(torch.tensor(std, dtype=torch.float64), want_std, atol=1e-6, rtol=0)
    assert CIFAR10_MEAN == (0.4914, 0.4822, 0.4465) and CIFAR10_STD == (0.2470, 0.2435, 0.2616)
    with pytest.raises(CourseError, match="no images"):
        channel_stats([])


def test_loaders_give_normalised_batches(batches):
    train_loader, test_loader = cifar10_loaders(16, subset=40, test_subset=12)
    x, y = next(iter(train_loader))
    assert x.shape == (16, 3, 32, 32) and x.dtype == torch.float32
    assert y.shape == (16,) and y.dtype == torch.int64
    assert len(train_loader.dataset) == 40 and len(test_loader.dataset) == 12
    xs, ys = zip(*test_loader)
    x_test, y_test = torch.cat(xs), torch.cat(ys)
    indices = test_loader.dataset.indices
    raw = torch.stack([transforms.ToTensor()(Image.fromarray(batches["test_x"][i])) for i in indices])
    mean, std = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1), torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(x_test, (raw - mean) / std)
    assert y_test.tolist() == [int(batches["test_y"][i]) for i in indices]
    # the same subset on every call, whatever the global seed
    torch.manual_seed(123)
    assert cifar10_loaders(16, subset=40, test_subset=12)[1].dataset.indices == indices


def test_augmented_cifar2_loaders(batches):
    torch.manual_seed(0)
    train_loader, test_loader = cifar10_loaders(8, classes=CIFAR2_CLASSES, augment=True)
    x, y = next(iter(train_loader))
    assert x.shape == (8, 3, 32, 32) and set(y.tolist()) <= {0, 1}
    assert isinstance(train_loader.dataset, CIFARDataset) and train_loader.dataset.classes == ["airplane", "bird"]
    names = [type(t).__name__ for t in train_loader.dataset.transform.transforms]
    assert names == ["RandomCrop", "RandomHorizontalFlip", "ToTensor", "Normalize"]
    assert [type(t).__name__ for t in test_loader.dataset.transform.transforms] == ["ToTensor", "Normalize"]


# ------------------------------------------------------------------ the real archive (CI sets the variable)
REAL = os.environ.get(cifar_sources.ARCHIVE_ENV)


@pytest.mark.skipif(
    not REAL or not Path(REAL).is_file(), reason="COURSE_CIFAR10_ARCHIVE does not name the real archive"
)
def test_real_archive_reads_a_few_images_per_class():
    path = Path(REAL)
    assert cifar_sources.archive_problem(path) is None
    start = time.perf_counter()
    images, labels = cifar_sources.read_archive(path, "test", per_class=3)
    assert time.perf_counter() - start < 30
    assert images.shape == (30, 32, 32, 3) and images.dtype == np.uint8
    assert labels.tolist() == [c for c in range(10) for _ in range(3)]
    mean = images.reshape(-1, 3).mean(axis=0) / 255
    assert np.all((mean > 0.2) & (mean < 0.8)), mean  # real photographs, not blank files
    assert images.std() > 20
