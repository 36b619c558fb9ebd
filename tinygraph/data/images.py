"""Reading image files: ``read_image(path)`` -> a float32 Tensor ``(C, H, W)`` in [0, 1].

PNG and JPEG are decoded by matplotlib's reader (``matplotlib.image.imread``, which hands JPEG
to Pillow, a matplotlib dependency), so tinygraph needs no other imaging library.  The format
is recognised from the file's first bytes, not its name.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..tensor import Tensor

__all__ = ["read_image"]

# first bytes -> format; only PNG and JPEG are read, the others get a clear "unsupported" error
_SIGNATURES = [
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"RIFF", "WebP"),
]
_MODES = (None, "RGB", "L")


def _format(path: Path) -> str | None:
    with open(path, "rb") as f:
        head = f.read(12)
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return name
    return None


def read_image(path, mode: str | None = None) -> Tensor:
    """Read a PNG or JPEG file into a float32 Tensor ``(C, H, W)`` with values in [0, 1].

    Args:
        path: the file.
        mode: None keeps the file's colours: ``(3, H, W)`` for colour images (an alpha channel
              is dropped), ``(1, H, W)`` for grey ones; ``"RGB"`` always gives 3 channels (a grey
              image is repeated in each); ``"L"`` gives 1 channel, the luminance
              ``0.299 R + 0.587 G + 0.114 B`` (ITU-R 601, as PIL's ``convert("L")``).

    Raises FileNotFoundError for a missing file and ValueError for a file that is not a PNG or
    JPEG (naming the format when it is another kind of image) or cannot be decoded.
    """
    if mode not in _MODES:
        raise ValueError(f"read_image: mode must be None, 'RGB' or 'L', got {mode!r}")
    path = Path(os.fspath(path)).expanduser()
    if not path.is_file():
        where = "a folder" if path.is_dir() else "no file"
        raise FileNotFoundError(f"read_image: {path} is {where}; expected a PNG or JPEG image file")
    kind = _format(path)
    if kind not in ("PNG", "JPEG"):
        found = f"a {kind} image" if kind else "not an image file (its first bytes are no PNG or JPEG signature)"
        raise ValueError(f"read_image: {path} is {found}; read_image reads PNG and JPEG files only")

    import matplotlib.image  # here, not at the top: only reading images needs it

    try:
        pixels = matplotlib.image.imread(path, format=kind.lower())
    except Exception as e:  # noqa: BLE001  (the decoders raise many kinds: OSError, ValueError, SyntaxError...)
        raise ValueError(f"read_image: cannot decode {path} as {kind}: {e}") from None
    if pixels.dtype.kind in "ui":  # JPEG comes as uint8 (or uint16); PNG already as floats in [0, 1]
        pixels = pixels.astype(np.float32) / np.float32(np.iinfo(pixels.dtype).max)
    pixels = pixels.astype(np.float32, copy=False)
    image = pixels[None] if pixels.ndim == 2 else np.moveaxis(pixels, -1, 0)  # (H, W, C) -> (C, H, W)
    if image.shape[0] in (2, 4):  # grey + alpha, or RGBA: drop the alpha channel
        image = image[:-1]
    if mode == "RGB" and image.shape[0] == 1:
        image = np.repeat(image, 3, axis=0)
    elif mode == "L" and image.shape[0] == 3:
        luma = np.array([0.299, 0.587, 0.114], dtype=np.float32)
        image = np.tensordot(luma, image, axes=1)[None]
    return Tensor._wrap(np.ascontiguousarray(image))
