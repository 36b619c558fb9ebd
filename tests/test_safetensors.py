"""tinygraph.safetensors: the format written by hand, held byte for byte to the ``safetensors`` package."""

import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygraph as tg
import tinygraph.safetensors as tgst
from tinygraph.atomic import write_atomically
from tinygraph.tensor import Tensor

DTYPES = [np.bool_, np.uint8, np.int8, np.int16, np.uint16, np.float16, np.int32, np.uint32,
          np.float32, np.float64, np.int64, np.uint64]


def _state_dict():
    rng = np.random.default_rng(0)
    return {
        "conv1.weight": Tensor(rng.standard_normal((4, 1, 3, 3)).astype(np.float32)),
        "conv1.bias": Tensor(np.zeros(4, np.float32)),
        "bn.running_var": Tensor(rng.random(4)),  # float64
        "bn.num_batches_tracked": Tensor(np.array(7, dtype=np.int64)),  # 0-d, as PyTorch's
        "mask": np.array([True, False, True]),
        "empty": np.zeros((0, 3), np.float32),
        "half": np.arange(5, dtype=np.float16),
    }


def _raw_file(path, header: dict, data: bytes = b"", pad=True) -> str:
    """A safetensors file built from its parts, for the malformed cases."""
    text = json.dumps(header).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + data)
    return str(path)


# ------------------------------------------------------------------ round trips through tg.save / tg.load
def test_suffix_chooses_the_format_and_round_trips(tmp_path):
    sd = _state_dict()
    path = tmp_path / "m.safetensors"
    tg.save(sd, path)
    assert path.read_bytes()[8:9] == b"{"  # not a zip
    loaded = tg.load(path)
    assert set(loaded) == set(sd)
    for name, value in sd.items():
        want = value.data if isinstance(value, Tensor) else value
        assert isinstance(loaded[name], Tensor)
        assert loaded[name].dtype == want.dtype and loaded[name].shape == want.shape
        np.testing.assert_array_equal(loaded[name].data, want)
    tg.save(sd, tmp_path / "m.npz")  # .npz stays what it was
    assert (tmp_path / "m.npz").read_bytes()[:2] == b"PK"


def test_model_state_dict_round_trip(tmp_path):
    model = tg.models.DigitsCNN(width=4)
    path = tmp_path / "digits.SafeTensors"  # the suffix is matched without case
    tg.save(model.state_dict(), path)
    other = tg.models.DigitsCNN(width=4)
    other.load_state_dict(tg.load(path), strict=True)
    for (name, a), (_, b) in zip(model.state_dict().items(), other.state_dict().items()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)


def test_metadata(tmp_path):
    path = tmp_path / "m.safetensors"
    tgst.save_file({"w": np.ones(2, np.float32)}, path, metadata={"format": "pt", "epoch": "3"})
    assert tgst.load_metadata(path) == {"format": "pt", "epoch": "3"}
    assert list(tgst.load_file(path)) == ["w"]
    with pytest.raises(TypeError, match="metadata"):
        tgst.save_file({"w": np.ones(2)}, path, metadata={"epoch": 3})


def test_only_flat_dicts_of_tensors_are_written(tmp_path):
    path = tmp_path / "m.safetensors"
    with pytest.raises(TypeError, match="flat dict"):
        tg.save({"model": {"w": np.ones(2)}}, path)
    with pytest.raises(TypeError, match="flat dict"):
        tg.save([np.ones(2)], path)
    with pytest.raises(TypeError, match="'epoch'"):
        tg.save({"w": np.ones(2), "epoch": 3}, path)
    with pytest.raises(TypeError, match="complex128"):
        tg.save({"z": np.ones(2, np.complex128)}, path)
    assert not os.listdir(tmp_path)  # nothing written, not even a temporary file


# ------------------------------------------------------------------ byte compatibility with the safetensors package
_arrays = st.dictionaries(
    keys=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=6).filter(
        lambda k: k != "__metadata__"
    ),
    values=st.tuples(st.sampled_from(DTYPES), st.lists(st.integers(0, 3), max_size=3), st.integers(0, 2**31)),
    max_size=5,
)


def _materialise(spec: dict) -> dict:
    out = {}
    for name, (dtype, shape, seed) in spec.items():
        bits = np.random.default_rng(seed).integers(0, 256, size=int(np.prod(shape)) * np.dtype(dtype).itemsize)
        array = bits.astype(np.uint8).view(dtype).reshape(shape) if dtype != np.bool_ else (bits % 2).astype(bool)
        out[name] = array.reshape(shape)
    return out


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=_arrays, with_metadata=st.booleans())
def test_same_bytes_as_the_safetensors_package(tmp_path, spec, with_metadata):
    st_numpy = pytest.importorskip("safetensors.numpy", reason="the safetensors package is a test extra")
    arrays = _materialise(spec)
    # one key: the package keeps metadata in a hash map, so the order of several keys is its hash order
    metadata = {"ünï": "cödé"} if with_metadata else None
    ours, theirs = tmp_path / "ours.safetensors", tmp_path / "theirs.safetensors"
    tgst.save_file({k: Tensor._wrap(v) for k, v in arrays.items()}, ours, metadata=metadata)
    st_numpy.save_file(arrays, str(theirs), metadata=metadata)
    assert ours.read_bytes() == theirs.read_bytes()
    # and each reads the other's file
    for name, array in st_numpy.load_file(str(ours)).items():
        assert array.dtype == arrays[name].dtype
        np.testing.assert_array_equal(array, arrays[name])
    loaded = tg.load(theirs)
    assert set(loaded) == set(arrays)
    for name, t in loaded.items():
        assert t.dtype == arrays[name].dtype and t.shape == arrays[name].shape
        np.testing.assert_array_equal(t.data, arrays[name])


def test_reads_torch_files_with_the_torch_writer(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    st_torch = pytest.importorskip("safetensors.torch", reason="the safetensors package is a test extra")
    tensors = {"w": torch.randn(3, 2), "n": torch.tensor(5), "h": torch.ones(2, dtype=torch.float16)}
    st_torch.save_file(tensors, str(tmp_path / "t.safetensors"))
    loaded = tg.load(tmp_path / "t.safetensors")
    for name, t in tensors.items():
        np.testing.assert_array_equal(loaded[name].data, t.numpy())


# ------------------------------------------------------------------ malformed files
def _entry(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


@pytest.mark.parametrize(
    "header, data, message",
    [
        ({"a": _entry(offsets=(0, 8)), "b": _entry(offsets=(4, 12))}, bytes(12), "overlap"),
        ({"a": _entry(offsets=(0, 8)), "b": _entry(offsets=(16, 24))}, bytes(24), "hole of 8 bytes"),
        ({"a": _entry(offsets=(8, 16))}, bytes(16), "hole"),
        ({"a": _entry()}, bytes(12), "4 bytes short of the end"),
        ({"a": _entry(offsets=(0, 8))}, bytes(4), "past the end"),
        ({"a": _entry(dtype="Q7")}, bytes(8), "unknown dtype"),
        ({"a": _entry(dtype="BF16", shape=(4,))}, bytes(8), "NumPy has no such type"),
        ({"a": _entry(shape=(3,))}, bytes(8), "needs 12 bytes"),
        ({"a": _entry(shape=(-2,))}, bytes(8), "non-negative"),
        ({"a": _entry(offsets=(8, 0))}, bytes(8), "begin <= end"),
        ({"a": {"dtype": "F32", "shape": [2]}}, bytes(8), "exactly dtype, shape and data_offsets"),
        ({"__metadata__": {"epoch": 3}}, b"", "str -> str"),
        ([1, 2], b"", "not an object"),
    ],
)
def test_malformed_files_are_value_errors_naming_the_file(tmp_path, header, data, message):
    path = _raw_file(tmp_path / "bad.safetensors", header, data)
    with pytest.raises(ValueError, match=message) as info:
        tg.load(path)
    assert path in str(info.value)


def test_duplicate_names(tmp_path):
    entry = '{"dtype":"F32","shape":[1],"data_offsets":[%d,%d]}'
    text = ('{"a":' + entry % (0, 4) + ',"a":' + entry % (4, 8) + "}").encode()
    path = tmp_path / "dup.safetensors"
    path.write_bytes(len(text).to_bytes(8, "little") + text + bytes(8))
    with pytest.raises(ValueError, match="'a' twice") as info:
        tg.load(path)
    assert str(path) in str(info.value)


def test_header_length_past_the_end_and_over_the_limit(tmp_path):
    path = tmp_path / "short.safetensors"
    path.write_bytes((1000).to_bytes(8, "little") + b"{}")
    with pytest.raises(ValueError, match="past the end of the 10-byte file") as info:
        tg.load(path)
    assert str(path) in str(info.value)
    path.write_bytes((2**62).to_bytes(8, "little") + b"{}")
    with pytest.raises(ValueError, match="over the limit"):
        tg.load(path)
    ok = _raw_file(tmp_path / "ok.safetensors", {"a": _entry()}, bytes(8))
    with pytest.raises(ValueError, match="over the limit of 16 bytes"):
        tgst.load_file(ok, max_header_bytes=16)
    for content in (b"", b"\x02\x00"):
        path.write_bytes(content)
        with pytest.raises(ValueError, match="too few"):
            tg.load(path)
    path.write_bytes((4).to_bytes(8, "little") + b"\xff\xfe{}")
    with pytest.raises(ValueError, match="not UTF-8 JSON"):
        tg.load(path)


class _CountingFile:
    """Wraps a binary file and adds up the bytes read from it."""

    def __init__(self, f, counter):
        self._f, self._counter = f, counter

    def read(self, n):
        out = self._f.read(n)
        self._counter.append(len(out))
        return out

    def readinto(self, buffer):
        n = self._f.readinto(buffer)
        self._counter.append(n)
        return n

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def test_reads_exactly_what_the_header_claims(tmp_path, monkeypatch):
    counts = []
    monkeypatch.setattr(tgst, "open", lambda *args, **kw: _CountingFile(open(*args, **kw), counts), raising=False)
    path = tmp_path / "m.safetensors"
    tgst.save_file(_state_dict(), path)
    tg.load(path)
    assert sum(counts) == os.path.getsize(path)
    # a bad layout is found from the header alone: no data byte is read
    counts.clear()
    header_only = _raw_file(tmp_path / "bad.safetensors", {"a": _entry(offsets=(0, 8)), "b": _entry(offsets=(4, 12))},
                            bytes(10_000))
    with pytest.raises(ValueError):
        tg.load(header_only)
    assert sum(counts) == os.path.getsize(header_only) - 10_000


# ------------------------------------------------------------------ atomic writes
def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "m.safetensors"
    tg.save({"w": np.ones(3, np.float32)}, path)
    before = path.read_bytes()

    def fail_halfway(f):
        f.write(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(str(path), fail_halfway)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.safetensors"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tg.save({"w": np.ones(3)}, tmp_path / "no" / "m.safetensors")
