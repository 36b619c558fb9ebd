"""MNIST and Fashion-MNIST from their standard IDX files, called as in torchvision.

::

    train = MNIST("data", train=True, download=True)   # 60,000 samples
    test = FashionMNIST("data", train=False)             # 10,000 samples, files already there

Where the files go: ``<root>/MNIST/raw/`` (``<root>/FashionMNIST/raw/``), the
layout torchvision uses, so a folder torchvision filled works as it is.  Files
placed directly in ``<root>`` are found too.  Each of the four files may be
gzipped (``train-images-idx3-ubyte.gz``, as published) or not
(``train-images-idx3-ubyte``).

``download=True`` fetches the missing files from the mirrors in ``mirrors``
(tried in order), checks each file's SHA-256 (and the MD5 torchvision
publishes) before using it, and writes it atomically (temp file + rename), so a
broken download never leaves a half file behind.  Offline, the error says which
files to put where.  Files already on disk are not re-hashed (you may have
re-compressed them); they are checked as IDX files instead: magic number,
dimensions and data length.

Each sample is ``(image, label)``: a float32 Tensor ``(1, 28, 28)`` in [0, 1]
(pixels / 255, as torchvision's ``ToTensor``) and an int in 0..9.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
import zlib
from pathlib import Path

import numpy as np

from ..atomic import write_atomically
from .dataset import ImageDataset

__all__ = ["MNIST", "FashionMNIST", "read_idx", "DownloadError"]

# IDX type codes (third byte of the magic number) -> big-endian NumPy dtype.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IMAGES_MAGIC = 0x00000803  # 2051: unsigned bytes, 3 dimensions (N, rows, cols)
LABELS_MAGIC = 0x00000801  # 2049: unsigned bytes, 1 dimension (N,)


class DownloadError(RuntimeError):
    """No mirror delivered a file with the expected checksum."""


class ChecksumError(ValueError):
    """A downloaded file's SHA-256 or MD5 differs from the published one."""


def read_idx(path) -> np.ndarray:
    """Read an IDX file (gzipped or not) into an array of its dtype and dimensions.

    Raises ValueError naming the file if it is not IDX (bad magic number), is
    truncated (fewer data bytes than the header's dimensions promise, or a cut
    gzip stream), or has bytes left over after the data.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:
            raise ValueError(f"read_idx: {path} is a truncated or corrupt gzip file ({e})") from None
    if len(raw) < 4:
        raise ValueError(f"read_idx: {path} is truncated: {len(raw)} bytes, too short for an IDX header")
    zero, code, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise ValueError(
            f"read_idx: {path} is not an IDX file: magic number 0x{raw[:4].hex()} "
            "(expected 0x0000TTDD: two zero bytes, a type code 08/09/0B/0C/0D/0E, the number of dimensions)"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"read_idx: {path} is truncated inside its header ({len(raw)} bytes, header needs {header})")
    shape = tuple(int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header
    if found < expected:
        raise ValueError(f"read_idx: {path} is truncated: dimensions {shape} need {expected} data bytes, found {found}")
    if found > expected:
        raise ValueError(f"read_idx: {path} has {found - expected} unexpected bytes after the data of shape {shape}")
    return np.frombuffer(raw, dtype=dtype, count=expected // dtype.itemsize, offset=header).reshape(shape)


def download_verified(
    name: str, mirrors, folder: Path, sha256, md5, *, timeout: float, who: str, where_to_put: str
) -> Path:
    """Fetch ``name`` from the first of ``mirrors`` that delivers it with the expected checksums.

    The file lands in ``folder`` atomically (see :func:`fetch_verified`); a mirror that fails or
    sends a file with other checksums is skipped.  When none delivers, a :class:`DownloadError`
    names every URL tried, why each failed, and ends with ``where_to_put`` (what to do offline).
    Shared by :class:`MNIST`, :class:`FashionMNIST` and :class:`~tinygraph.data.CIFAR10`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    failures = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + name
        print(f"Downloading {url} to {target}", file=sys.stderr)
        try:
            fetch_verified(url, target, sha256, md5, timeout)
            return target
        except (OSError, ChecksumError) as e:  # URLError and HTTPError are OSErrors
            failures.append(f"  {url}: {e}")
    tried = "\n".join(failures)
    raise DownloadError(f"{who}: could not download {name} from any mirror:\n{tried}\n{where_to_put}")


def fetch_verified(url: str, target: Path, sha256: str | None, md5: str | None, timeout: float) -> None:
    """Download ``url`` to ``target`` atomically (``atomic.write_atomically``), only if its checksums match."""
    import urllib.request  # here, not at the top: importing it is slow, and only downloads need it

    def download(out) -> None:
        digests = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        with urllib.request.urlopen(url, timeout=timeout) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                for digest in digests:
                    digest.update(block)
        _check_digests(sha256, md5, *(digest.hexdigest() for digest in digests))  # raising leaves no file

    write_atomically(str(target), download, op="download")


def _check_digests(sha256: str | None, md5: str | None, got_sha256: str, got_md5: str) -> None:
    if sha256 is not None and got_sha256 != sha256:
        raise ChecksumError(f"SHA-256 mismatch: expected {sha256}, got {got_sha256}")
    if md5 is not None and got_md5 != md5:
        raise ChecksumError(f"MD5 mismatch: expected {md5}, got {got_md5}")


class MNIST(ImageDataset):
    """The MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28.

    Args:
        root:      folder holding ``MNIST/raw/`` (or the files themselves).
        train:     the training files (True) or the test files (False).
        download:  fetch missing files from ``mirrors`` (all four, as torchvision does).
        transform: applied to each float32 image ``(1, 28, 28)`` in [0, 1]; a
                   ``tinygraph.data.transforms`` transform gets whole batches.
        mirrors:   base URLs to try instead of the class's ``mirrors`` (e.g. your own).
        timeout:   seconds to wait for a mirror.

    Subclasses (and tests) change ``folder``, ``mirrors``, ``resources`` and ``classes``.
    """

    folder = "MNIST"
    mirrors = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",  # the PyTorch project's copy
        "https://storage.googleapis.com/cvdf-datasets/mnist/",  # the copy TensorFlow uses
        "http://yann.lecun.com/exdb/mnist/",  # the original site (often refuses downloads now)
    ]
    # file name -> (SHA-256, MD5).  The MD5s are the ones torchvision publishes.
    resources = {
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        ),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "d53e105ee54ea40749a09fcbcd1e9432",
        ),
        "t10k-images-idx3-ubyte.gz": (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "9fb629c4189551a2d022fa330f9573f3",
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "ec29112dd5afa0611ce80d1b7f02629c",
        ),
    }
    train_files = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    test_files = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    classes = [str(d) for d in range(10)]

    def __init__(
        self, root, train: bool = True, download: bool = False, transform=None, *, mirrors=None, timeout: float = 30.0
    ):
        self.root = Path(os.fspath(root)).expanduser()
        self.raw_folder = self.root / self.folder / "raw"
        self.train = bool(train)
        if mirrors is not None:
            self.mirrors = [mirrors] if isinstance(mirrors, str) else list(mirrors)
        self.timeout = timeout

        if download:
            missing = [name for name in self.resources if self._find(name) is None]
            for name in missing:
                self._download(name)
        names = self.train_files if self.train else self.test_files
        paths = [self._find(name) for name in names]
        if None in paths:
            missing = [name for name, p in zip(names, paths) if p is None]
            raise FileNotFoundError(
                f"{type(self).__name__}: missing {', '.join(missing)}. "
                + self._where_to_put(missing)
                + " Or pass download=True to fetch them."
            )
        images = self._read_checked(paths[0], IMAGES_MAGIC, "images (N, rows, cols)")
        labels = self._read_checked(paths[1], LABELS_MAGIC, "labels (N,)")
        if images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"{type(self).__name__}: {paths[0]} holds {images.shape[0]} images but {paths[1]} "
                f"holds {labels.shape[0]} labels"
            )
        if labels.size and labels.max() >= len(self.classes):
            raise ValueError(
                f"{type(self).__name__}: {paths[1]} has label {labels.max()}; expected 0..{len(self.classes) - 1}"
            )
        super().__init__(
            images[:, None], labels.astype(np.int64), transform=transform, pixel_max=255, classes=self.classes
        )

    # ----------------------------------------------------------- finding files
    def _find(self, name: str) -> Path | None:
        """The file ``name`` (or its un-gzipped twin) in ``raw_folder`` or ``root``, if there."""
        plain = name[:-3] if name.endswith(".gz") else name
        for folder in (self.raw_folder, self.root):
            for candidate in (name, plain):
                path = folder / candidate
                if path.is_file():
                    return path
        return None

    def _where_to_put(self, names) -> str:
        urls = " or ".join(self.mirrors[:2]) if self.mirrors else "the dataset's website"
        return (
            f"Put these files (from {urls}) in {self.raw_folder}{os.sep} "
            f"(or directly in {self.root}{os.sep}): {', '.join(names)}."
        )

    @staticmethod
    def _read_checked(path: Path, magic: int, what: str) -> np.ndarray:
        array = read_idx(path)
        # read_idx accepted the header; now it must be the right kind of IDX file.
        ndim = magic & 0xFF
        if array.dtype != np.uint8 or array.ndim != ndim:
            raise ValueError(
                f"read_idx: {path} has the wrong magic number for {what}: expected 0x{magic:08x} "
                f"(unsigned bytes, {ndim} dimension{'s' if ndim > 1 else ''}), found {array.dtype} data of shape "
                f"{array.shape}"
            )
        return array

    # ------------------------------------------------------------- downloading
    def _download(self, name: str) -> Path:
        sha256, md5 = self.resources[name]
        return download_verified(
            name,
            self.mirrors,
            self.raw_folder,
            sha256,
            md5,
            timeout=self.timeout,
            who=type(self).__name__,
            where_to_put=self._where_to_put(list(self.resources)),
        )


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: 28x28 pictures of 10 kinds of clothing, MNIST's file format and sizes.

    Same arguments as :class:`MNIST`; files live in ``<root>/FashionMNIST/raw/``.
    """

    folder = "FashionMNIST"
    mirrors = [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # Zalando's own bucket (HTTP only)
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ]
    resources = {
        "train-images-idx3-ubyte.gz": (
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        ),
        "train-labels-idx1-ubyte.gz": (
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "25c81989df183df01b3e8a0aad5dffbe",
        ),
        "t10k-images-idx3-ubyte.gz": (
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "bef4ecab320f06d8554ea6380940ec79",
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            "bb300cfdad3c16e7a12a480ee83cd310",
        ),
    }
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
