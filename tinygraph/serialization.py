"""Save and load checkpoints: ``tg.save(state, path)`` / ``tg.load(path)``.

A checkpoint is a plain ``.npz`` file (a zip of ``.npy`` arrays) that NumPy can
open too, and it never contains pickled objects:

* every array (Tensor or np.ndarray) is one ``.npy`` entry, named by its key
  path, e.g. ``model/conv1.weight`` or ``optimizer/state/0/momentum_buffer``;
* everything else -- the nesting of dicts, lists and tuples, and the scalars
  (int, float, str, bool, None) -- is one JSON document, stored as the bytes of
  the entry ``__tinygraph__``.  JSON keeps Python ints exact, so the 128-bit
  state of the random generator (``tinygraph.random.get_rng_state()``) survives.

Loading uses ``allow_pickle=False``: a file cannot run code when it is loaded.
Arrays come back as Tensors (``requires_grad=False``); NumPy scalars come back
as Python numbers; dict keys keep their type (str, int, float, bool or None).

Saving is atomic (``tinygraph/atomic.py``): the checkpoint is written to a
temporary file in the same directory, flushed to disk, then renamed over ``path``
in one step, so a crash in the middle of ``save`` leaves the previous checkpoint
intact, and the next successful save to the same path removes what a killed
writer left behind.

Loading checks what each entry claims before allocating anything: an ``.npy``
header whose shape needs more bytes than its entry holds, a compressed entry
that would expand past ``max_expanded_bytes``, arrays past ``max_bytes``, or a
JSON document nested deeper than ``MAX_JSON_DEPTH`` are refused with a
ValueError naming the file.
"""

from __future__ import annotations

import json
import math
import os
import re
import zipfile

import numpy as np

from . import safetensors
from .atomic import write_atomically
from .tensor import Tensor

__all__ = ["save", "load"]

FORMAT = "tinygraph.save"
VERSION = 1
META_ENTRY = "__tinygraph__"  # the JSON document, as a uint8 array

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with entries / an empty zip
_PICKLE_MAGIC = b"\x80"  # pickle protocol 2+ starts with the PROTO opcode
_NPY_MAGIC = b"\x93NUMPY"

#: how deeply dicts, lists and tuples may nest in a checkpoint (each level is a few JSON levels)
MAX_NESTING = 40
#: JSON nesting refused by ``load`` (Python's json parser recurses, so deeper input is a RecursionError)
MAX_JSON_DEPTH = 3 * MAX_NESTING + 4
#: default cap on the bytes that compressed entries may expand to (tinygraph itself writes uncompressed entries)
MAX_EXPANDED_BYTES = 256 * 2**20


# ------------------------------------------------------------------ saving
def save(obj, path) -> None:
    """Write ``obj`` (a state dict: nested dicts/lists/tuples of Tensors, arrays
    and scalars) to ``path`` as an ``.npz`` checkpoint, atomically.

    ``path`` is used exactly as given (no ``.npz`` is appended).  Raises
    TypeError, naming the key path, for a value that cannot be stored without
    pickle (e.g. an arbitrary object or an object-dtype array).

    A path ending in ``.safetensors`` writes that format instead (a flat ``{name: tensor}``
    dict only): see ``tinygraph/safetensors.py``.
    """
    path = os.fspath(path)
    if path.lower().endswith(".safetensors"):
        return safetensors.save_file(obj, path)
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, (), arrays)
    meta = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree}).encode("utf-8")

    def write_zip(f):
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            _write_npy(zf, META_ENTRY, np.frombuffer(meta, dtype=np.uint8))
            for name, array in arrays.items():
                _write_npy(zf, name, array)

    write_atomically(path, write_zip, op="save")


def _write_npy(zf: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    with zf.open(name + ".npy", "w", force_zip64=True) as member:
        np.lib.format.write_array(member, array, allow_pickle=False)


def _host_array(value) -> np.ndarray:
    data = value.data if isinstance(value, Tensor) else value
    if hasattr(data, "copy_to_host"):  # a numba.cuda device array
        data = data.copy_to_host()
    return np.asarray(data)


def _encode(value, keypath: tuple, arrays: dict, containing: frozenset = frozenset()):
    """JSON-able description of ``value``; arrays go into ``arrays`` by entry name.

    ``containing``: ids of the dicts and lists on the way down, so a container inside itself is an error.
    """
    if isinstance(value, (dict, list, tuple)):
        if id(value) in containing:
            raise ValueError(
                f"save: the {type(value).__name__} at {_where(keypath)} contains itself (a reference cycle); "
                "a checkpoint must be a tree of dicts, lists and tuples"
            )
        if len(keypath) >= MAX_NESTING:
            raise ValueError(f"save: {_where(keypath)} is nested more than {MAX_NESTING} levels deep")
        containing = containing | {id(value)}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, np.generic):  # a NumPy scalar: store the Python number
        if value.dtype.kind not in "biuf":
            raise TypeError(f"save: cannot store {value.dtype} scalar at {_where(keypath)}")
        return value.item()
    if isinstance(value, (Tensor, np.ndarray)):
        array = _host_array(value)
        if array.dtype.kind not in "biufc" or array.dtype.hasobject:
            raise TypeError(
                f"save: array at {_where(keypath)} has dtype {array.dtype}; only bool/int/float/complex arrays "
                "can be stored (no pickle)"
            )
        name = _entry_name(keypath, arrays)
        arrays[name] = array
        return {"kind": "array", "entry": name}
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if key is not None and not isinstance(key, (str, int, float, bool)):
                raise TypeError(
                    f"save: dict key {key!r} at {_where(keypath)} is a {type(key).__name__}; "
                    "keys must be str, int, float, bool or None"
                )
            items.append([key, _encode(item, keypath + (key,), arrays, containing)])
        return {"kind": "dict", "items": items}
    if isinstance(value, (list, tuple)):
        items = [_encode(item, keypath + (i,), arrays, containing) for i, item in enumerate(value)]
        return {"kind": "list" if isinstance(value, list) else "tuple", "items": items}
    raise TypeError(
        f"save: cannot store a {type(value).__name__} at {_where(keypath)}; a checkpoint holds dicts, lists, "
        "tuples, Tensors, NumPy arrays, int, float, str, bool and None"
    )


def _where(keypath: tuple) -> str:
    return "the top level" if not keypath else "key path " + "/".join(str(k) for k in keypath)


def _segment(key: str) -> str:
    """A key as one path segment of a zip entry name: printable, no slashes, never empty or '..'."""
    segment = "".join(c if c.isprintable() and c not in "/\\" else "_" for c in key)
    return "_" + segment if segment in ("", ".", "..") else segment


def _entry_name(keypath: tuple, taken: dict) -> str:
    """A readable, unique zip entry name from the key path (``model/fc.weight``)."""
    base = "/".join(_segment(str(k)) for k in keypath) or "array"
    if base == META_ENTRY:
        base = "_" + base
    name, n = base, 1
    while name in taken:  # e.g. keys 1 and "1" at the same level
        n += 1
        name = f"{base}~{n}"
    return name


# ----------------------------------------------------------------- loading
def load(path, *, max_bytes: int | None = None, max_expanded_bytes: int = MAX_EXPANDED_BYTES):
    """Read a checkpoint written by :func:`save`; arrays come back as Tensors.

    Raises ValueError naming ``path`` when the file is not a tinygraph
    checkpoint (a text file, a pickle, a foreign ``.npz``), is truncated or
    corrupt, or claims more than it may: arrays whose headers need more bytes
    than the file holds or than ``max_bytes`` (None: no stated limit), compressed
    entries expanding past ``max_expanded_bytes`` in total, or JSON nested deeper
    than ``MAX_JSON_DEPTH``.  Pickled data is never unpickled.  A path ending in
    ``.safetensors`` is read as that format (``tinygraph/safetensors.py``).
    """
    path = os.fspath(path)
    if path.lower().endswith(".safetensors"):
        return safetensors.load_file(path)
    with open(path, "rb") as f:
        head = f.read(8)
    if not head.startswith(_ZIP_MAGIC):
        raise ValueError(f"load: {path!r} is not a tinygraph checkpoint: {_describe_foreign(head)}")
    try:
        _check_claimed_sizes(path, max_bytes, max_expanded_bytes)
        with np.load(path, allow_pickle=False) as npz:
            if META_ENTRY not in npz.files:
                raise _Invalid(
                    f"it is an .npz archive without the {META_ENTRY!r} entry that tinygraph.save writes "
                    f"(entries: {sorted(npz.files)[:5]}{' ...' if len(npz.files) > 5 else ''})"
                )
            meta = _read_meta(npz[META_ENTRY])
            tree = meta["tree"]
            return _decode(tree, npz)
    except _TooLarge as e:
        raise ValueError(f"load: {path!r} is refused: {e}") from None
    except _Invalid as e:
        raise ValueError(f"load: {path!r} is not a valid tinygraph checkpoint: {e}") from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as e:
        # Truncated zips, CRC mismatches, damaged .npy headers, pickled entries (refused).
        raise ValueError(
            f"load: {path!r} is truncated or corrupt ({type(e).__name__}: {e}); it cannot be read as a checkpoint"
        ) from e


class _Invalid(Exception):
    """A well-formed file whose content is not a tinygraph checkpoint."""


class _TooLarge(_Invalid):
    """A file that claims more memory, expansion or nesting than ``load`` allows."""


def _check_claimed_sizes(path: str, max_bytes, max_expanded_bytes: int) -> None:
    """Refuse, before anything is allocated, entries that claim more memory than they can hold or may use.

    Every ``.npy`` header states a shape and dtype; their product must fit in the entry (whose size
    the zip directory states, and which a stored entry must take up in the file).
    """
    file_size = os.path.getsize(path)
    total = expanded = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.compress_type == zipfile.ZIP_STORED:
                if info.file_size > file_size:
                    raise _TooLarge(f"entry {info.filename!r} claims {info.file_size} bytes in a {file_size}-byte file")
            else:
                expanded += info.file_size
                if expanded > max_expanded_bytes:
                    raise _TooLarge(
                        f"its compressed entries expand to more than max_expanded_bytes={max_expanded_bytes} bytes "
                        f"(entry {info.filename!r}: {info.compress_size} bytes expanding to {info.file_size})"
                    )
            if not info.filename.endswith(".npy"):
                continue
            with zf.open(info) as member:
                fmt = np.lib.format
                version = fmt.read_magic(member)
                read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                shape, _, dtype = read_header(member)
                data_bytes = info.file_size - member.tell()
            needed = math.prod(shape) * dtype.itemsize
            if needed > data_bytes:
                raise _TooLarge(
                    f"the header of entry {info.filename!r} claims a {dtype} array of shape {shape} ({needed} bytes) "
                    f"but the entry holds {data_bytes} bytes"
                )
            total += needed if info.filename != META_ENTRY + ".npy" else 0
            if max_bytes is not None and total > max_bytes:
                raise _TooLarge(f"its arrays need more than max_bytes={max_bytes} bytes (at entry {info.filename!r})")


def _describe_foreign(head: bytes) -> str:
    if not head:
        return "the file is empty"
    if head.startswith(_NPY_MAGIC):
        return "it is a single .npy array, not an .npz checkpoint"
    if head.startswith(_PICKLE_MAGIC):
        return "it looks like a pickle (e.g. torch.save); tinygraph never unpickles files"
    if head[:2] == b"\x1f\x8b":
        return "it is a gzip file, not an .npz (zip) checkpoint"
    return f"it does not start with the zip signature of an .npz file (first bytes: {head!r})"


def _read_meta(entry: np.ndarray) -> dict:
    if entry.dtype != np.uint8 or entry.ndim != 1:
        raise _Invalid(f"the {META_ENTRY!r} entry is a {entry.dtype} array of shape {entry.shape}, not JSON bytes")
    try:
        text = entry.tobytes().decode("utf-8")
        _check_json_depth(text)
        meta = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _Invalid(f"the {META_ENTRY!r} entry is not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or "tree" not in meta:
        raise _Invalid(f"the {META_ENTRY!r} entry does not describe a {FORMAT} checkpoint")
    if meta.get("version") != VERSION:
        raise _Invalid(f"format version {meta.get('version')!r}; this tinygraph reads version {VERSION}")
    return meta


_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')  # a string (skipped whole) or a bracket


def _check_json_depth(text: str) -> None:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH before the (recursive) parser sees it."""
    depth = 0
    for token in _JSON_TOKENS.finditer(text):
        bracket = token.group()
        if bracket in ("[", "{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise _TooLarge(f"its JSON document is nested more than MAX_JSON_DEPTH={MAX_JSON_DEPTH} levels deep")
        elif bracket in ("]", "}"):
            depth -= 1


def _decode(node, npz):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, dict):
        kind = node.get("kind")
        if kind == "array":
            entry = node.get("entry")
            if not isinstance(entry, str) or entry not in npz.files:
                raise _Invalid(f"the array entry {entry!r} named in the JSON is missing from the archive")
            return Tensor._wrap(np.asarray(npz[entry]))
        if kind in ("dict", "list", "tuple") and isinstance(node.get("items"), list):
            items = node["items"]
            if kind == "dict":
                if not all(isinstance(kv, list) and len(kv) == 2 for kv in items):
                    raise _Invalid("a dict in the JSON is not a list of [key, value] pairs")
                return {key: _decode(value, npz) for key, value in items}
            decoded = [_decode(item, npz) for item in items]
            return decoded if kind == "list" else tuple(decoded)
    raise _Invalid(f"unexpected node in the JSON structure: {str(node)[:80]}")
