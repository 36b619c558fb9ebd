"""tinygraph.serialization: .npz checkpoints without pickle, written atomically."""

import json
import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinygraph import random as tgrandom
from tinygraph.serialization import load, save
from tinygraph.tensor import Tensor


def _checkpoint():
    """A state like a training loop saves: model, optimizer (int keys, scalars), RNG state."""
    rng = np.random.default_rng(0)
    return {
        "model": {
            "conv1.weight": Tensor(rng.standard_normal((4, 1, 3, 3)).astype(np.float32)),
            "conv1.bias": Tensor(np.zeros(4, np.float32)),
            "bn.running_mean": rng.standard_normal(4),  # float64 ndarray
            "bn.num_batches_tracked": Tensor(np.array(7, dtype=np.int64)),  # 0-d
            "mask": np.array([True, False, True]),
            "empty": np.zeros((0, 3), np.float32),
        },
        "optimizer": {
            "state": {0: {"momentum_buffer": np.full((2, 2), 0.5), "step": 3}, 1: {}},
            "param_groups": [{"lr": 0.1, "momentum": 0.9, "nesterov": False, "params": [0, 1], "name": None}],
        },
        "rng": tgrandom.get_rng_state(),
        "epoch": 5,
        "history": ([1.5, 0.25], "text"),
    }


def _assert_same(loaded, original, where="top"):
    """Structure, key types, dtypes and values equal; arrays come back as Tensors."""
    if isinstance(original, (Tensor, np.ndarray)):
        want = original.data if isinstance(original, Tensor) else original
        assert isinstance(loaded, Tensor), where
        assert loaded.dtype == want.dtype and loaded.shape == want.shape, where
        np.testing.assert_array_equal(loaded.data, want, err_msg=where)
    elif isinstance(original, dict):
        assert isinstance(loaded, dict) and list(loaded) == list(original), where
        for key in original:
            assert type(next(k for k in loaded if k == key)) is type(key), where
            _assert_same(loaded[key], original[key], f"{where}/{key}")
    elif isinstance(original, (list, tuple)):
        assert type(loaded) is type(original) and len(loaded) == len(original), where
        for k, (a, b) in enumerate(zip(loaded, original)):
            _assert_same(a, b, f"{where}/{k}")
    else:
        assert type(loaded) is type(original) and loaded == original, where


def test_round_trip_of_a_training_checkpoint(tmp_path):
    state = _checkpoint()
    path = tmp_path / "ckpt.npz"
    save(state, path)
    _assert_same(load(path), state)


def test_rng_state_restores_the_same_draws(tmp_path):
    tgrandom.manual_seed(123)
    tgrandom.default_generator().random(5)
    save({"rng": tgrandom.get_rng_state()}, tmp_path / "r.npz")
    expected = tgrandom.default_generator().random(4)
    tgrandom.manual_seed(999)
    tgrandom.set_rng_state(load(tmp_path / "r.npz")["rng"])
    np.testing.assert_array_equal(tgrandom.default_generator().random(4), expected)


def test_file_is_a_plain_npz_with_key_path_entries(tmp_path):
    path = tmp_path / "model.pt"  # any suffix: used as given, no ".npz" appended
    save(_checkpoint(), path)
    assert path.exists() and not (tmp_path / "model.pt.npz").exists()
    with np.load(path, allow_pickle=False) as npz:
        assert "model/conv1.weight" in npz.files
        assert "optimizer/state/0/momentum_buffer" in npz.files
        np.testing.assert_array_equal(npz["optimizer/state/0/momentum_buffer"], np.full((2, 2), 0.5))
        meta = json.loads(npz["__tinygraph__"].tobytes())
    assert meta["format"] == "tinygraph.save" and meta["version"] == 1


def test_colliding_key_paths_stay_distinct(tmp_path):
    state = {1: np.array([1.0]), "1": np.array([2.0]), "a": {"b": np.array([3.0])}, "a/b": np.array([4.0])}
    save(state, tmp_path / "c.npz")
    _assert_same(load(tmp_path / "c.npz"), state)


def test_awkward_keys_round_trip(tmp_path):
    state = {
        "\x00": np.ones(1),
        "": np.ones(2),
        "..": {"..": np.ones(3)},
        "é/ü": np.ones(4),
        "__tinygraph__": np.ones(5),
    }
    save(state, tmp_path / "k.npz")
    _assert_same(load(tmp_path / "k.npz"), state)


def test_numpy_scalars_become_python_numbers(tmp_path):
    save({"a": np.float32(0.5), "b": np.int64(3), "c": np.bool_(True)}, tmp_path / "s.npz")
    out = load(tmp_path / "s.npz")
    assert out == {"a": 0.5, "b": 3, "c": True}
    assert type(out["a"]) is float and type(out["b"]) is int and type(out["c"]) is bool


def test_unsupported_values_are_refused_with_their_key_path(tmp_path):
    with pytest.raises(TypeError, match=r"function at key path model/act"):
        save({"model": {"act": lambda x: x}}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match=r"key path w has dtype object"):
        save({"w": np.array([object()], dtype=object)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="dict key"):
        save({(1, 2): 3}, tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()
    assert list(tmp_path.iterdir()) == []  # no temp files left either


# ------------------------------------------------------------------ atomicity
def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    old = {"w": np.arange(6.0), "epoch": 1}
    save(old, path)

    calls = []
    real_write = np.lib.format.write_array

    def dying_write(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # the header and one array are written, then the "power fails"
            raise KeyboardInterrupt
        return real_write(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", dying_write)
    with pytest.raises(KeyboardInterrupt):
        save({"w": np.arange(6.0) * 10, "v": np.ones(3), "u": np.ones(2), "epoch": 2}, path)
    monkeypatch.undo()

    _assert_same(load(path), old)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]


def test_failed_rename_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    save({"epoch": 1}, path)

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        save({"epoch": 2}, path)
    monkeypatch.undo()
    assert load(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]


def test_new_checkpoint_gets_the_usual_permissions(tmp_path):
    save({"a": 1}, tmp_path / "p.npz")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "p.npz").stat().st_mode & 0o777 == 0o666 & ~umask


# ------------------------------------------------------- damaged and foreign
@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9, -1])
def test_truncated_checkpoint_is_a_clear_error(tmp_path, keep):
    path = tmp_path / "ckpt.npz"
    save(_checkpoint(), path)
    data = path.read_bytes()
    n = len(data) - 1 if keep == -1 else int(len(data) * keep)
    path.write_bytes(data[:n])
    with pytest.raises(ValueError, match=r"ckpt\.npz") as info:
        load(path)
    assert any(word in str(info.value) for word in ("truncated", "empty", "zip signature"))


def test_corrupted_array_bytes_are_detected(tmp_path):
    path = tmp_path / "ckpt.npz"
    save({"w": np.arange(1000, dtype=np.float64)}, path)
    data = bytearray(path.read_bytes())
    # Flip a byte inside the array's data (stored uncompressed; its CRC no longer matches).
    start = data.find(np.arange(1000, dtype=np.float64)[500:].tobytes()[:16])
    assert start > 0
    data[start + 3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"ckpt\.npz.*(truncated or corrupt)"):
        load(path)


def test_text_file_is_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("epoch 3, loss 0.1\n")
    with pytest.raises(ValueError, match=r"notes\.txt.*not a tinygraph checkpoint.*zip signature"):
        load(path)


def test_empty_and_npy_files_are_refused(tmp_path):
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        load(tmp_path / "empty.npz")
    np.save(tmp_path / "one.npy", np.arange(3))
    with pytest.raises(ValueError, match=r"\.npy"):
        load(tmp_path / "one.npy")


def test_foreign_npz_is_refused(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, weights=np.ones(3))
    with pytest.raises(ValueError, match=r"other\.npz.*without the '__tinygraph__' entry"):
        load(path)


def test_wrong_format_or_version_is_refused(tmp_path):
    for meta, message in [
        (b"not json{", "not valid JSON"),
        (json.dumps({"format": "something else", "tree": None}).encode(), "does not describe"),
        (json.dumps({"format": "tinygraph.save", "version": 99, "tree": None}).encode(), "version 99"),
        (
            json.dumps({"format": "tinygraph.save", "version": 1, "tree": {"kind": "array", "entry": "gone"}}).encode(),
            "missing",
        ),
    ]:
        path = tmp_path / "m.npz"
        np.savez(path, __tinygraph__=np.frombuffer(meta, np.uint8))
        with pytest.raises(ValueError, match=message):
            load(path)


class _Plant:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_pickle_file_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"w": _Plant(str(marker))}))
    pickle.loads(pickle.dumps(_Plant(str(tmp_path / "control"))))  # the payload does work when unpickled
    assert (tmp_path / "control").exists()
    with pytest.raises(ValueError, match=r"model\.pkl.*pickle"):
        load(path)
    assert not marker.exists()


def test_pickled_entry_inside_an_npz_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    meta = json.dumps({"format": "tinygraph.save", "version": 1, "tree": {"kind": "array", "entry": "w"}}).encode()
    payload = np.empty(1, dtype=object)
    payload[0] = _Plant(str(marker))
    np.savez(path, __tinygraph__=np.frombuffer(meta, np.uint8), w=payload)  # np.savez pickles object arrays
    with pytest.raises(ValueError, match=r"evil\.npz"):
        load(path)
    assert not marker.exists()


def test_missing_file_or_folder_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope.npz")
    with pytest.raises(FileNotFoundError, match="folder .*no_such_dir.* does not exist"):
        save({"a": 1}, tmp_path / "no_such_dir" / "c.npz")


# ----------------------------------------------------------------- property
_arrays = st.sampled_from([np.float32, np.float64, np.int64, np.int32, np.bool_, np.uint8]).flatmap(
    lambda dt: st.lists(st.integers(-5, 5), max_size=6).map(lambda v: np.array(v).astype(dt))
)
_scalars = st.none() | st.booleans() | st.integers(-(2**130), 2**130) | st.floats(allow_nan=False) | st.text(max_size=8)
_keys = st.text(max_size=6) | st.integers(-3, 3)
_trees = st.recursive(
    _scalars | _arrays,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(_keys, children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_trees)
def test_any_nested_state_round_trips(tree):
    with tempfile.TemporaryDirectory() as d:
        save(tree, Path(d) / "t.npz")
        _assert_same(load(Path(d) / "t.npz"), tree)


def test_zip_entries_are_stored_not_pickled(tmp_path):
    save(_checkpoint(), tmp_path / "c.npz")
    with zipfile.ZipFile(tmp_path / "c.npz") as zf:
        for name in zf.namelist():
            assert name.endswith(".npy")
            header = zf.read(name)[:10]
            assert header.startswith(b"\x93NUMPY")
