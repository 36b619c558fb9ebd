"""MNIST / FashionMNIST: IDX parsing and the download path, against small files made here.

The files are written with ``struct`` by the tests (not by the code under test)
and served from a local HTTP server on 127.0.0.1; nothing leaves the machine.
"""

import functools
import gzip
import hashlib
import http.server
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from tinygraph.data import MNIST, DataLoader, DownloadError, FashionMNIST, read_idx
from tinygraph.tensor import Tensor

NAMES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]
ROWS, COLS = 7, 5  # not square, so a rows/cols mix-up shows


def idx_bytes(values, shape, magic_type=0x08, magic=None) -> bytes:
    """An IDX file: 2 zero bytes, type code, ndim, big-endian uint32 dims, then the data."""
    head = struct.pack(">HBB", 0, magic_type, len(shape)) if magic is None else struct.pack(">I", magic)
    head += b"".join(struct.pack(">I", d) for d in shape)
    fmt = {0x08: "B", 0x0C: "i", 0x0D: "f"}[magic_type]
    return head + struct.pack(">" + fmt * len(values), *values)


def make_split(n, seed):
    """Pixel values and labels as plain Python lists, plus the two IDX files' bytes."""
    rng = np.random.default_rng(seed)
    pixels = [int(v) for v in rng.integers(0, 256, n * ROWS * COLS)]
    labels = [int(v) for v in rng.integers(0, 10, n)]
    return pixels, labels, idx_bytes(pixels, (n, ROWS, COLS)), idx_bytes(labels, (n,))


@pytest.fixture(scope="module")
def files():
    """name -> gzipped bytes, plus the raw values to compare against."""
    train_px, train_lab, train_img, train_lbl = make_split(6, 0)
    test_px, test_lab, test_img, test_lbl = make_split(3, 1)
    gz = {
        NAMES[0]: gzip.compress(train_img),
        NAMES[1]: gzip.compress(train_lbl),
        NAMES[2]: gzip.compress(test_img),
        NAMES[3]: gzip.compress(test_lbl),
    }
    return {"gz": gz, "train": (train_px, train_lab), "test": (test_px, test_lab)}


def checksums(gz: dict) -> dict:
    return {name: (hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()) for name, data in gz.items()}


def write(folder: Path, gz: dict, names=NAMES, compressed=True):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        if compressed:
            (folder / name).write_bytes(gz[name])
        else:
            (folder / name[:-3]).write_bytes(gzip.decompress(gz[name]))


def assert_matches(ds, pixels, labels):
    n = len(labels)
    assert len(ds) == n
    x, y = ds.arrays()
    assert x.shape == (n, 1, ROWS, COLS) and x.dtype == np.float32
    np.testing.assert_allclose(x.reshape(-1), np.array(pixels) / 255.0, rtol=1e-6)
    assert y.tolist() == labels
    image, label = ds[n - 1]
    assert isinstance(image, Tensor) and image.shape == (1, ROWS, COLS) and label == labels[-1]


# ------------------------------------------------------------------ parsing
@pytest.mark.parametrize("layout", ["raw_folder", "root", "uncompressed"])
def test_loads_train_and_test_from_local_files(tmp_path, files, layout):
    folder = tmp_path / "MNIST" / "raw" if layout == "raw_folder" else tmp_path
    write(folder, files["gz"], compressed=layout != "uncompressed")
    assert_matches(MNIST(tmp_path, train=True), *files["train"])
    assert_matches(MNIST(str(tmp_path), train=False), *files["test"])


def test_batches_through_the_loader(tmp_path, files):
    write(tmp_path / "MNIST" / "raw", files["gz"])
    x, y = next(iter(DataLoader(MNIST(tmp_path), batch_size=4)))
    assert x.shape == (4, 1, ROWS, COLS) and x.dtype == np.float32 and y.dtype == np.int64
    assert y.tolist() == files["train"][1][:4]


def test_read_idx_other_types(tmp_path):
    ints = [-3, 0, 7, 2**31 - 1, -(2**31), 5]
    (tmp_path / "i.idx").write_bytes(idx_bytes(ints, (2, 3), magic_type=0x0C))
    out = read_idx(tmp_path / "i.idx")
    assert out.shape == (2, 3)
    assert out.reshape(-1).tolist() == ints
    (tmp_path / "f.idx.gz").write_bytes(gzip.compress(idx_bytes([0.5, -2.25], (2,), magic_type=0x0D)))
    assert read_idx(tmp_path / "f.idx.gz").tolist() == [0.5, -2.25]


def test_missing_files_say_what_to_put_where(tmp_path, files):
    write(tmp_path / "MNIST" / "raw", files["gz"], names=NAMES[2:])  # only the test files
    with pytest.raises(FileNotFoundError) as info:
        MNIST(tmp_path, train=True)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message and "train-labels-idx1-ubyte.gz" in message
    assert str(tmp_path / "MNIST" / "raw") in message and "download=True" in message
    assert "t10k" not in message
    MNIST(tmp_path, train=False)  # the test split is there


def test_truncated_gzip_names_the_file(tmp_path, files):
    write(tmp_path, files["gz"])
    data = files["gz"][NAMES[0]]
    (tmp_path / NAMES[0]).write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz is a truncated or corrupt gzip"):
        MNIST(tmp_path)


def test_truncated_idx_data_names_the_file(tmp_path, files):
    write(tmp_path, files["gz"])
    pixels, _ = files["train"]
    short = idx_bytes(pixels, (6, ROWS, COLS))[:-10]  # the header still promises 6 images
    (tmp_path / NAMES[0]).write_bytes(gzip.compress(short))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz is truncated: dimensions \(6, 7, 5\) need 210"):
        MNIST(tmp_path)
    (tmp_path / NAMES[0]).write_bytes(gzip.compress(b"\x00\x00\x08\x03\x00\x00"))
    with pytest.raises(ValueError, match="truncated inside its header"):
        MNIST(tmp_path)
    (tmp_path / NAMES[0]).write_bytes(gzip.compress(idx_bytes(pixels, (6, ROWS, COLS)) + b"xx"))
    with pytest.raises(ValueError, match="2 unexpected bytes"):
        MNIST(tmp_path)


def test_wrong_magic_number_names_the_file(tmp_path, files):
    write(tmp_path, files["gz"])
    pixels, labels = files["train"]
    (tmp_path / NAMES[0]).write_bytes(gzip.compress(idx_bytes(pixels, (6, ROWS, COLS), magic=0x12345678)))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz is not an IDX file: magic number 0x12345678"):
        MNIST(tmp_path)
    # A valid IDX file of the wrong kind: labels (magic 2049) where images (2051) belong.
    (tmp_path / NAMES[0]).write_bytes(gzip.compress(idx_bytes(labels, (6,))))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz has the wrong magic number .* 0x00000803"):
        MNIST(tmp_path)


def test_image_and_label_counts_must_agree(tmp_path, files):
    write(tmp_path, files["gz"])
    (tmp_path / NAMES[1]).write_bytes(gzip.compress(idx_bytes([1, 2, 3], (3,))))
    with pytest.raises(ValueError, match="6 images but .* 3 labels"):
        MNIST(tmp_path)
    (tmp_path / NAMES[1]).write_bytes(gzip.compress(idx_bytes([1, 2, 3, 4, 5, 12], (6,))))
    with pytest.raises(ValueError, match="label 12"):
        MNIST(tmp_path)


# -------------------------------------------------------------- downloading
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A local HTTP server over tmp_path/"www"; yields (base_url, folder, requested paths)."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    www = tmp_path / "www"
    www.mkdir()
    requested = []

    class Handler(_QuietHandler):
        def do_GET(self):
            requested.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", www, requested
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _dead_url():
    """A 127.0.0.1 URL where nothing listens (the port was just freed)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def _tiny(mirrors, resources):
    return type("TinyMNIST", (MNIST,), {"mirrors": mirrors, "resources": resources})


def test_download_fetches_verifies_and_loads(tmp_path, files, server):
    base, www, requested = server
    write(www / "good", files["gz"])
    root = tmp_path / "data"
    ds = _tiny([base + "/missing/", base + "/good/"], checksums(files["gz"]))(root, train=True, download=True)
    assert_matches(ds, *files["train"])
    raw = root / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(NAMES)  # all four, and no partial files
    for name in NAMES:
        assert (raw / name).read_bytes() == files["gz"][name]
    assert "/missing/train-images-idx3-ubyte.gz" in requested  # the first mirror was tried (404)
    # Second time: nothing is fetched again.
    requested.clear()
    _tiny([base + "/good/"], checksums(files["gz"]))(root, train=False, download=True)
    assert requested == []


def test_download_fetches_only_missing_files(tmp_path, files, server):
    base, www, requested = server
    write(www, files["gz"])
    root = tmp_path / "data"
    write(root / "MNIST" / "raw", files["gz"], names=[NAMES[0]])
    _tiny([base], checksums(files["gz"]))(root, download=True)
    assert sorted(requested) == sorted("/" + n for n in NAMES[1:])


def test_mirrors_argument_overrides_the_class_list(tmp_path, files, server):
    base, www, _ = server
    write(www / "mine", files["gz"])
    cls = _tiny([_dead_url()], checksums(files["gz"]))
    ds = cls(tmp_path / "d", train=False, download=True, mirrors=base + "/mine")
    assert_matches(ds, *files["test"])


def test_checksum_mismatch_is_refused_and_nothing_is_kept(tmp_path, files, server):
    base, www, _ = server
    write(www, files["gz"])
    table = checksums(files["gz"])
    table[NAMES[1]] = ("0" * 64, table[NAMES[1]][1])
    root = tmp_path / "data"
    with pytest.raises(DownloadError) as info:
        _tiny([base], table)(root, download=True)
    message = str(info.value)
    assert "train-labels-idx1-ubyte.gz" in message and "SHA-256 mismatch" in message
    real = hashlib.sha256(files["gz"][NAMES[1]]).hexdigest()
    assert f"expected {'0' * 64}, got {real}" in message
    assert str(root / "MNIST" / "raw") in message
    assert not (root / "MNIST" / "raw" / NAMES[1]).exists()
    assert sorted(p.name for p in (root / "MNIST" / "raw").iterdir() if p.name.startswith(".")) == []  # no temp file


def test_md5_is_checked_too(tmp_path, files, server):
    base, www, _ = server
    write(www, files["gz"])
    table = checksums(files["gz"])
    table[NAMES[0]] = (table[NAMES[0]][0], "f" * 32)
    with pytest.raises(DownloadError, match="MD5 mismatch"):
        _tiny([base], table)(tmp_path / "data", download=True)


def test_a_bad_mirror_falls_back_to_the_next(tmp_path, files, server):
    base, www, _ = server
    write(www / "good", files["gz"])
    broken = {name: data[:-5] for name, data in files["gz"].items()}  # a mirror with damaged copies
    write(www / "bad", broken)
    ds = _tiny([base + "/bad/", base + "/good/"], checksums(files["gz"]))(tmp_path / "d", download=True)
    assert_matches(ds, *files["train"])


def test_offline_failure_says_which_files_to_put_where(tmp_path, files):
    root = tmp_path / "data"
    with pytest.raises(DownloadError) as info:
        _tiny([_dead_url()], checksums(files["gz"]))(root, download=True, timeout=5)
    message = str(info.value)
    assert "could not download train-images-idx3-ubyte.gz from any mirror" in message
    assert str(root / "MNIST" / "raw") in message
    for name in NAMES:
        assert name in message


# ------------------------------------------------------------ fashion-mnist
def test_fashion_mnist_uses_its_own_folder_and_classes(tmp_path, files):
    write(tmp_path / "FashionMNIST" / "raw", files["gz"])
    ds = FashionMNIST(tmp_path, train=False)
    assert_matches(ds, *files["test"])
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot" and len(ds.classes) == 10
    with pytest.raises(FileNotFoundError, match="FashionMNIST"):
        FashionMNIST(tmp_path / "empty")


def test_published_checksum_tables_are_well_formed():
    # The real values come from the datasets' publishers (MD5s as in torchvision);
    # here: every file has a 64-hex SHA-256 and a 32-hex MD5, and the datasets differ.
    for cls in (MNIST, FashionMNIST):
        assert sorted(cls.resources) == sorted(NAMES)
        for sha256, md5 in cls.resources.values():
            assert len(sha256) == 64 and int(sha256, 16) >= 0
            assert len(md5) == 32 and int(md5, 16) >= 0
        assert all(url.startswith(("http://", "https://")) for url in cls.mirrors) and len(cls.mirrors) >= 2
    assert set(MNIST.resources.values()).isdisjoint(FashionMNIST.resources.values())
    assert MNIST.resources["train-images-idx3-ubyte.gz"][1] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"  # torchvision's
