"""CIFAR-10 from its binary version (the files for C programs: no pickle), called as in torchvision.

::

    train = CIFAR10("data", train=True, download=True)   # 50,000 samples
    test = CIFAR10("data", train=False)                   # 10,000 samples, files already there

Where the files go: ``<root>/cifar-10-batches-bin/``, the folder the published archive
``cifar-10-binary.tar.gz`` unpacks to: ``data_batch_1.bin`` .. ``data_batch_5.bin`` (training),
``test_batch.bin`` and ``batches.meta.txt`` (the class names, one per line).

Each ``.bin`` file is a run of 3,073-byte records: one label byte (0..9), then the 32x32
image as 1,024 red, 1,024 green and 1,024 blue bytes, each plane row by row -- already the
``(3, 32, 32)`` channel-first layout tinygraph uses.

``download=True`` fetches the archive with the machinery MNIST uses (SHA-256 and MD5 checked
before use, written atomically, mirrors tried in order), then unpacks only the seven expected
files, each written atomically: no path from inside the archive is trusted.

Each sample is ``(image, label)``: a float32 Tensor ``(3, 32, 32)`` in [0, 1] and an int in 0..9.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np

from ..atomic import write_atomically
from .dataset import ImageDataset
from .mnist import download_verified

__all__ = ["CIFAR10", "read_cifar_batch"]

CHANNELS, SIDE = 3, 32
RECORD_BYTES = 1 + CHANNELS * SIDE * SIDE  # label byte + pixels


def read_cifar_batch(path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 binary file -> ``images: uint8 (N, 3, 32, 32)``, ``labels: uint8 (N,)``.

    Raises ValueError naming the file if it is empty or its length is not a whole number of
    3,073-byte records (a truncated download or a file of another kind).
    """
    path = Path(path)
    raw = path.read_bytes()
    if len(raw) == 0 or len(raw) % RECORD_BYTES:
        whole, extra = divmod(len(raw), RECORD_BYTES)
        raise ValueError(
            f"CIFAR10: {path} is truncated or not a CIFAR-10 binary file: {len(raw)} bytes is {whole} whole "
            f"record(s) and {extra} byte(s) more; expected a multiple of {RECORD_BYTES} "
            f"(1 label byte + {CHANNELS}x{SIDE}x{SIDE} pixel bytes per image)"
        )
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    return records[:, 1:].reshape(-1, CHANNELS, SIDE, SIDE), records[:, 0]


class CIFAR10(ImageDataset):
    """CIFAR-10: 32x32 colour photos of 10 classes; 50,000 for training and 10,000 for testing.

    Args:
        root:      folder holding ``cifar-10-batches-bin/`` (the archive is downloaded into ``root``).
        train:     the five training batches (True) or the test batch (False).
        download:  fetch and unpack the archive if any file is missing.
        transform: applied to each float32 image ``(3, 32, 32)`` in [0, 1]; a
                   ``tinygraph.data.transforms`` transform gets whole batches.
        mirrors:   base URLs to try instead of the class's ``mirrors``.
        timeout:   seconds to wait for a mirror.

    ``.classes`` are read from ``batches.meta.txt``.  Subclasses (and tests) change
    ``mirrors``, ``archive``, ``resources``.
    """

    folder = "cifar-10-batches-bin"
    archive = "cifar-10-binary.tar.gz"
    mirrors = ["https://www.cs.toronto.edu/~kriz/"]  # the dataset authors' page
    # archive name -> (SHA-256, MD5); the MD5 is the one published on that page
    resources = {
        "cifar-10-binary.tar.gz": (
            "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
            "c32a1d4ab5d03f1284b67883e8d87530",
        )
    }
    train_files = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
    test_files = ("test_batch.bin",)
    meta_file = "batches.meta.txt"

    def __init__(
        self, root, train: bool = True, download: bool = False, transform=None, *, mirrors=None, timeout: float = 30.0
    ):
        self.root = Path(os.fspath(root)).expanduser()
        self.base_folder = self.root / self.folder
        self.train = bool(train)
        if mirrors is not None:
            self.mirrors = [mirrors] if isinstance(mirrors, str) else list(mirrors)
        self.timeout = timeout
        expected = (*self.train_files, *self.test_files, self.meta_file)
        if download and any(not (self.base_folder / name).is_file() for name in expected):
            self._download_and_unpack(expected)
        needed = (*(self.train_files if self.train else self.test_files), self.meta_file)
        missing = [name for name in needed if not (self.base_folder / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"CIFAR10: missing {', '.join(missing)} in {self.base_folder}{os.sep}. Expected there: "
                f"{', '.join(expected)} -- the contents of {self.archive} (from {' or '.join(self.mirrors)}), "
                f"unpacked into {self.root}{os.sep}. Or pass download=True to fetch it."
            )
        self.classes = self._read_classes(self.base_folder / self.meta_file)
        parts = [read_cifar_batch(self.base_folder / name) for name in needed[:-1]]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        if labels.size and labels.max() >= len(self.classes):
            raise ValueError(
                f"CIFAR10: label {labels.max()} in {self.base_folder}, but {self.meta_file} names only "
                f"{len(self.classes)} classes"
            )
        super().__init__(images, labels.astype(np.int64), transform=transform, pixel_max=255, classes=self.classes)

    @staticmethod
    def _read_classes(path: Path) -> list[str]:
        names = [line.strip() for line in path.read_text(encoding="ascii", errors="replace").splitlines()]
        names = [n for n in names if n]
        if not names:
            raise ValueError(f"CIFAR10: {path} names no classes (expected one class name per line)")
        return names

    def _download_and_unpack(self, expected) -> None:
        sha256, md5 = self.resources[self.archive]
        archive = self.root / self.archive
        if not archive.is_file():
            download_verified(
                self.archive,
                self.mirrors,
                self.root,
                sha256,
                md5,
                timeout=self.timeout,
                who="CIFAR10",
                where_to_put=f"Put {self.archive} in {self.root}{os.sep} (or its contents in "
                f"{self.base_folder}{os.sep}: {', '.join(expected)}).",
            )
        self.base_folder.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive, "r:gz") as tar:
            for name in expected:
                try:
                    member = tar.getmember(f"{self.folder}/{name}")
                except KeyError:
                    raise ValueError(f"CIFAR10: {archive} has no {self.folder}/{name}") from None
                if not member.isfile():
                    raise ValueError(f"CIFAR10: {self.folder}/{name} in {archive} is not a regular file")
                data = tar.extractfile(member).read()
                write_atomically(str(self.base_folder / name), lambda f, data=data: f.write(data), op="CIFAR10")

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"CIFAR10({split}, n={len(self)}, root={str(self.root)!r}, transform={self.transform!r})"

