"""The safetensors format, read and written by hand: ``tg.save(sd, "m.safetensors")``, ``tg.load(...)``.

A ``.safetensors`` file holds a flat ``{name: tensor}`` dict (a state dict) and nothing that
can run code.  Layout (https://github.com/huggingface/safetensors)::

    8 bytes   N: the header's length, unsigned 64-bit little-endian
    N bytes   the JSON header, padded with spaces so that 8 + N is a multiple of 8:
              {"__metadata__": {"str": "str"},                      (optional)
               "conv1.weight": {"dtype": "F32", "shape": [6, 1, 5, 5], "data_offsets": [0, 600]}, ...}
    the rest  every tensor's raw little-endian bytes in C order, back to back with no holes;
              data_offsets are [begin, end) byte positions counted from the start of this part

Why by hand: the format fits on this page, and the ``safetensors`` package is a compiled
extension that tinygraph's users would otherwise have to install; the tests check that
both write the same bytes and read each other's files.

Reading checks every claim of the header against the file before it reads any data (the
header's length, the dtypes, the shapes against the offsets, the offsets against each
other and against the file's size) and reads exactly the bytes the header claims.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from .atomic import write_atomically
from .tensor import Tensor

__all__ = ["MAX_HEADER_BYTES", "load_file", "load_metadata", "save_file"]

#: the largest header accepted when reading (the ``safetensors`` package's limit too)
MAX_HEADER_BYTES = 100_000_000

#: safetensors dtype name -> NumPy dtype (little-endian, as the format stores them)
DTYPES = {
    "BOOL": np.dtype("?"),
    "U8": np.dtype("u1"),
    "I8": np.dtype("i1"),
    "I16": np.dtype("<i2"),
    "U16": np.dtype("<u2"),
    "F16": np.dtype("<f2"),
    "I32": np.dtype("<i4"),
    "U32": np.dtype("<u4"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I64": np.dtype("<i8"),
    "U64": np.dtype("<u8"),
}
_NAMES = {dtype.newbyteorder("="): name for name, dtype in DTYPES.items()}  # native dtype -> name
_NO_NUMPY_TYPE = ("BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64")
_METADATA = "__metadata__"
# The safetensors package writes tensors sorted by its dtype enum (widest first), then by name; the enum's order:
_WRITE_ORDER = ("BOOL", "U8", "I8", "I16", "U16", "F16", "I32", "U32", "F32", "F64", "I64", "U64")


# ------------------------------------------------------------------ writing
def save_file(tensors: dict, path, metadata: dict | None = None) -> None:
    """Write ``tensors`` (``{name: Tensor or ndarray}``) to ``path`` in the safetensors format, atomically.

    ``metadata``: optional ``{str: str}`` stored as the header's ``__metadata__``.  Tensors are laid
    out as the ``safetensors`` package lays them out (widest dtype first, then by name), so both
    write byte-identical files (except the order of several metadata keys, a hash order there).
    """
    path = os.fspath(path)
    arrays = _check_tensors(tensors, path)
    order = sorted(arrays, key=lambda name: (-_WRITE_ORDER.index(_NAMES[arrays[name].dtype]), name))
    header = {}
    if metadata is not None:
        pairs = metadata.items() if isinstance(metadata, dict) else [(None, None)]
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in pairs):
            raise TypeError(f"save: metadata for {path!r} must be a dict of str -> str, got {metadata!r:.80}")
        header[_METADATA] = metadata
    offset = 0
    for name in order:
        array = arrays[name]
        end = offset + array.nbytes
        header[name] = {"dtype": _NAMES[array.dtype], "shape": list(array.shape), "data_offsets": [offset, end]}
        offset = end
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # pad so the data starts on an 8-byte boundary

    def write(f):
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for name in order:
            f.write(np.ascontiguousarray(arrays[name], dtype=DTYPES[_NAMES[arrays[name].dtype]]).data)

    write_atomically(path, write, "save")



def _check_tensors(tensors, path: str) -> dict:
    """``{name: native-order ndarray}``, or a TypeError naming the entry that cannot be stored."""
    if not isinstance(tensors, dict):
        raise TypeError(
            f"save: a .safetensors file holds a flat dict of name -> tensor (a state dict), got a "
            f"{type(tensors).__name__} for {path!r}; use a .npz path for other checkpoints"
        )
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or name == _METADATA:
            raise TypeError(f"save: tensor names in {path!r} must be strings other than {_METADATA!r}, got {name!r}")
        data = value.data if isinstance(value, Tensor) else value
        if hasattr(data, "copy_to_host"):  # a numba.cuda device array
            data = data.copy_to_host()
        if not isinstance(data, (np.ndarray, np.generic)):
            raise TypeError(
                f"save: {name!r} is a {type(value).__name__}; a .safetensors file holds only tensors in a flat dict "
                f"(use a .npz path for nested checkpoints with other values)"
            )
        array = np.asarray(data)
        native = array.dtype.newbyteorder("=")
        if native not in _NAMES:
            raise TypeError(f"save: {name!r} has dtype {array.dtype}; safetensors stores {', '.join(DTYPES)}")
        arrays[name] = array.astype(native, copy=False)
    return arrays


# ------------------------------------------------------------------ reading
def load_file(path, max_header_bytes: int | None = None) -> dict:
    """Read a ``.safetensors`` file into ``{name: Tensor}`` (in the file's order).

    Raises ValueError naming ``path`` when the file is malformed: a header length past the end
    of the file or over ``max_header_bytes`` (default :data:`MAX_HEADER_BYTES`), a header that
    is not a JSON object, duplicate names, an unknown dtype, a shape that does not match its
    byte range, or byte ranges that overlap, leave holes, or do not end exactly at the end of
    the file.
    """
    path = os.fspath(path)
    with open(path, "rb", buffering=0) as f:  # unbuffered: no read-ahead past what the header claims
        size = os.fstat(f.fileno()).st_size
        header, data_start = _read_header(f, path, size, max_header_bytes)
        entries = _layout(header, path, size - data_start)
        tensors = {}
        for name, dtype, shape, begin, end in entries:
            array = np.empty(shape, dtype=dtype)
            f.seek(data_start + begin)
            if _read_into(f, array.reshape(-1).view(np.uint8)) != end - begin:
                raise ValueError(f"load: {path!r} ended while reading {name!r} (was it changed while being read?)")
            tensors[name] = array if dtype.isnative else array.astype(dtype.newbyteorder("="))
    return {name: Tensor._wrap(tensors[name]) for name in header if name != _METADATA}


def load_metadata(path, max_header_bytes: int | None = None) -> dict:
    """The header's ``__metadata__`` (``{}`` when there is none); reads the header only."""
    path = os.fspath(path)
    with open(path, "rb", buffering=0) as f:
        header, _ = _read_header(f, path, os.fstat(f.fileno()).st_size, max_header_bytes)
    return dict(header.get(_METADATA, {}))


def _read_header(f, path: str, size: int, max_header_bytes: int) -> tuple[dict, int]:
    """The parsed JSON header and the file position where the data starts."""
    if max_header_bytes is None:
        max_header_bytes = MAX_HEADER_BYTES
    if size < 8:
        raise ValueError(f"load: {path!r} has {size} bytes, too few for a safetensors file (it starts with 8)")
    n = int.from_bytes(_read(f, 8), "little")
    if n > max_header_bytes:
        raise ValueError(f"load: {path!r} claims a {n}-byte header, over the limit of {max_header_bytes} bytes")
    if 8 + n > size:
        raise ValueError(f"load: {path!r} claims a {n}-byte header, past the end of the {size}-byte file (truncated?)")
    try:
        header = json.loads(_read(f, n).decode("utf-8"), object_pairs_hook=_no_duplicates)
    except _Duplicate as e:
        raise ValueError(f"load: {path!r} names the tensor {e.args[0]!r} twice in its header") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"load: {path!r} is not a safetensors file: its header is not UTF-8 JSON ({e})") from None
    if not isinstance(header, dict):
        kind = type(header).__name__
        raise ValueError(f"load: {path!r} is not a safetensors file: its header is a JSON {kind}, not an object")
    metadata = header.get(_METADATA, {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError(f"load: {path!r} has a {_METADATA!r} entry that is not a dict of str -> str")
    return header, 8 + n


def _read_into(f, buffer) -> int:
    """Fill ``buffer`` from the unbuffered file ``f`` (which may return fewer bytes per call); bytes read."""
    view, total = memoryview(buffer).cast("B"), 0
    while total < len(view):
        n = f.readinto(view[total:])
        if not n:
            break
        total += n
    return total


def _read(f, n: int) -> bytes:
    buffer = bytearray(n)
    return bytes(buffer[: _read_into(f, buffer)])


class _Duplicate(Exception):
    pass


def _no_duplicates(pairs: list) -> dict:
    """``json.loads`` keeps the last of two equal keys silently; a header must not have them."""
    out = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def _layout(header: dict, path: str, data_size: int) -> list:
    """``(name, dtype, shape, begin, end)`` per tensor, sorted by offset, after checking every claim."""
    entries = []
    for name, info in header.items():
        if name == _METADATA:
            continue
        where = f"load: {path!r}: tensor {name!r}"
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"{where} must be described by exactly dtype, shape and data_offsets, got {info!r:.120}")
        dtype_name, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype_name not in DTYPES:
            why = "NumPy has no such type" if dtype_name in _NO_NUMPY_TYPE else "unknown dtype"
            raise ValueError(f"{where} has dtype {dtype_name!r} ({why}); tinygraph reads {', '.join(DTYPES)}")
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise ValueError(f"{where} has shape {shape!r}; expected a list of non-negative ints")
        pair = isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_count, offsets))
        if not pair or offsets[0] > offsets[1]:
            raise ValueError(f"{where} has data_offsets {offsets!r}; expected [begin, end] with 0 <= begin <= end")
        dtype = DTYPES[dtype_name]
        nbytes = math.prod(shape) * dtype.itemsize
        if offsets[1] - offsets[0] != nbytes:
            raise ValueError(
                f"{where}: shape {shape} of {dtype_name} needs {nbytes} bytes but data_offsets {offsets} "
                f"hold {offsets[1] - offsets[0]}"
            )
        entries.append((name, dtype, tuple(shape), offsets[0], offsets[1]))
    entries.sort(key=lambda e: (e[3], e[4]))
    position, previous = 0, None
    for name, _, _, begin, end in entries:
        if begin < position:
            raise ValueError(
                f"load: {path!r}: the bytes of tensors {previous!r} and {name!r} overlap (offset {begin} < {position})"
            )
        if begin > position:
            raise ValueError(
                f"load: {path!r}: a hole of {begin - position} bytes before tensor {name!r} (offset {position}-{begin})"
            )
        position, previous = end, name
    if position != data_size:
        relation = "past the end of" if position > data_size else f"{data_size - position} bytes short of the end of"
        raise ValueError(
            f"load: {path!r}: the header's tensors end at data byte {position}, {relation} the file's "
            f"{data_size} data bytes"
        )
    return entries


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
