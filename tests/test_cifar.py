"""CIFAR-10's binary files: parsing, errors, and the download path, against small files written here.

The records are assembled byte by byte with ``bytes``/``struct`` in the tests (not by the code
under test); the archive is served from a local HTTP server on 127.0.0.1.
"""

import hashlib
import io
import tarfile

import numpy as np
import pytest
from test_mnist import _dead_url, server  # noqa: F401  (the loopback HTTP server fixture)

from tinygraph.data import CIFAR10, DataLoader, DownloadError

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FOLDER = "cifar-10-batches-bin"
BATCHES = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]


def records(seed: int, n: int):
    """``n`` records as bytes, plus the labels and (label, channel, row, col) -> value to check against."""
    rng = np.random.default_rng(seed)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    pixels = [[int(v) for v in rng.integers(0, 256, 3072)] for _ in range(n)]
    raw = b"".join(bytes([label]) + bytes(p) for label, p in zip(labels, pixels))
    return raw, labels, pixels


@pytest.fixture(scope="module")
def files():
    """file name -> bytes for a tiny CIFAR-10 (2 images per training batch, 3 test images)."""
    out, truth = {}, {}
    for k, name in enumerate(BATCHES):
        raw, labels, pixels = records(k, 3 if name == "test_batch.bin" else 2)
        out[name], truth[name] = raw, (labels, pixels)
    out["batches.meta.txt"] = ("\n".join(CLASSES) + "\n\n").encode()  # the real file ends with blank lines
    return out, truth


def write(folder, contents, names=None):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names or contents:
        (folder / name).write_bytes(contents[name])


def test_parses_records_channel_first(tmp_path, files):
    contents, truth = files
    write(tmp_path / FOLDER, contents)
    train, test = CIFAR10(tmp_path, train=True), CIFAR10(str(tmp_path), train=False)
    assert len(train) == 10 and len(test) == 3
    assert train.classes == CLASSES and test.classes == CLASSES
    x, y = train.arrays()
    assert x.shape == (10, 3, 32, 32) and x.dtype == np.float32
    expected_labels = sum((truth[name][0] for name in BATCHES[:5]), [])
    assert y.tolist() == expected_labels
    # record layout: label byte, then 1024 red, 1024 green, 1024 blue bytes, each row by row
    labels, pixels = truth["test_batch.bin"]
    image, label = test[2]
    assert label == labels[2]
    for c, row, col in [(0, 0, 0), (0, 0, 31), (1, 5, 7), (2, 31, 0), (2, 31, 31)]:
        assert image.numpy()[c, row, col] == pytest.approx(pixels[2][c * 1024 + row * 32 + col] / 255)
    images, batch_labels = next(iter(DataLoader(test, batch_size=3)))
    assert images.shape == (3, 3, 32, 32) and batch_labels.tolist() == labels


def test_truncated_record_names_the_file(tmp_path, files):
    contents, _ = files
    write(tmp_path / FOLDER, contents)
    (tmp_path / FOLDER / "test_batch.bin").write_bytes(contents["test_batch.bin"][:-100])
    with pytest.raises(ValueError, match=r"test_batch\.bin is truncated .* 9119 bytes is 2 whole record\(s\) and 2973"):
        CIFAR10(tmp_path, train=False)


def test_label_beyond_the_class_list(tmp_path, files):
    contents, _ = files
    write(tmp_path / FOLDER, contents)
    (tmp_path / FOLDER / "test_batch.bin").write_bytes(bytes([12]) + bytes(3072))
    with pytest.raises(ValueError, match="label 12 .* names only 10 classes"):
        CIFAR10(tmp_path, train=False)


def test_missing_files_are_listed(tmp_path, files):
    contents, _ = files
    write(tmp_path / FOLDER, contents, names=["test_batch.bin", "batches.meta.txt"])
    CIFAR10(tmp_path, train=False)  # the test split is complete
    with pytest.raises(FileNotFoundError) as info:
        CIFAR10(tmp_path, train=True)
    message = str(info.value)
    assert "missing data_batch_1.bin, data_batch_2.bin" in message and str(tmp_path / FOLDER) in message
    assert "cifar-10-binary.tar.gz" in message and "download=True" in message


def archive_bytes(contents) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in contents.items():
            info = tarfile.TarInfo(f"{FOLDER}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        evil = tarfile.TarInfo("../outside.txt")  # never extracted: only the expected names are read
        evil.size = 4
        tar.addfile(evil, io.BytesIO(b"evil"))
    return buffer.getvalue()


def _tiny(mirrors, data: bytes, sha256=None):
    digest = sha256 or hashlib.sha256(data).hexdigest()
    table = {"cifar-10-binary.tar.gz": (digest, hashlib.md5(data).hexdigest())}
    return type("TinyCIFAR10", (CIFAR10,), {"mirrors": mirrors, "resources": table})


def test_download_verifies_and_unpacks_only_the_expected_files(tmp_path, files, server):  # noqa: F811
    base, www, requested = server
    contents, truth = files
    data = archive_bytes(contents)
    (www / "cifar-10-binary.tar.gz").write_bytes(data)
    root = tmp_path / "data"
    test = _tiny([base + "/missing/", base], data)(root, train=False, download=True)
    assert test.arrays()[1].tolist() == truth["test_batch.bin"][0]
    assert sorted(p.name for p in (root / FOLDER).iterdir()) == sorted(contents)
    assert not (tmp_path / "outside.txt").exists() and not (root / "outside.txt").exists()
    assert "/missing/cifar-10-binary.tar.gz" in requested
    requested.clear()
    _tiny([base], data)(root, train=True, download=True)  # everything is there: nothing fetched
    assert requested == []


def test_checksum_mismatch_is_refused_and_nothing_is_kept(tmp_path, files, server):  # noqa: F811
    base, www, _ = server
    data = archive_bytes(files[0])
    (www / "cifar-10-binary.tar.gz").write_bytes(data)
    root = tmp_path / "data"
    with pytest.raises(DownloadError) as info:
        _tiny([base], data, sha256="0" * 64)(root, download=True)
    message = str(info.value)
    assert "SHA-256 mismatch" in message and hashlib.sha256(data).hexdigest() in message
    assert "cifar-10-binary.tar.gz" in message and "data_batch_1.bin" in message
    assert list(root.iterdir()) == []  # no archive, no partial file


def test_offline_failure_says_what_to_put_where(tmp_path, files):
    root = tmp_path / "data"
    with pytest.raises(DownloadError) as info:
        _tiny([_dead_url()], b"x")(root, download=True, timeout=5)
    message = str(info.value)
    assert "could not download cifar-10-binary.tar.gz" in message and str(root) in message


def test_published_checksums_are_well_formed():
    sha256, md5 = CIFAR10.resources["cifar-10-binary.tar.gz"]
    assert len(sha256) == 64 and int(sha256, 16) >= 0
    assert md5 == "c32a1d4ab5d03f1284b67883e8d87530"  # as published on the dataset's page
