"""tg.load refuses files that claim more than they can hold; tg.save refuses cycles and cleans up after kills."""

import io
import json
import os
import signal
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import serialization

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _checkpoint_with(path, entries: dict, compression=zipfile.ZIP_STORED, meta=None):
    """A checkpoint whose entries are the given raw bytes, and a JSON tree naming them."""
    tree = {"kind": "dict", "items": [[name, {"kind": "array", "entry": name}] for name in entries]}
    if meta is None:
        meta = json.dumps({"format": serialization.FORMAT, "version": serialization.VERSION, "tree": tree})
    with zipfile.ZipFile(path, "w", compression) as zf:
        zf.writestr(serialization.META_ENTRY + ".npy", _npy_bytes(np.frombuffer(meta.encode(), np.uint8)))
        for name, raw in entries.items():
            zf.writestr(name + ".npy", raw)
    return path


def test_an_npy_header_claiming_more_than_the_file_holds_is_refused(tmp_path):
    raw = _npy_bytes(np.zeros(4, np.float32))
    header_end = raw.index(b"\n") + 1  # the 16 data bytes follow the header line
    header = np.lib.format.header_data_from_array_1_0(np.zeros(4, np.float32))
    header["shape"] = (10**12,)
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    huge = buffer.getvalue() + raw[header_end:]
    path = _checkpoint_with(tmp_path / "huge.npz", {"w": huge})
    with pytest.raises(ValueError, match="huge.npz.*claims a float32 array of shape \\(1000000000000,\\)"):
        tg.load(path)


def test_a_stated_byte_limit_is_enforced(tmp_path):
    path = tmp_path / "ok.npz"
    tg.save({"w": tg.zeros(1000)}, path)
    assert tg.load(path, max_bytes=4000)["w"].shape == (1000,)
    with pytest.raises(ValueError, match="ok.npz.*max_bytes=3999"):
        tg.load(path, max_bytes=3999)


def test_a_compressed_entry_expanding_past_the_limit_is_refused(tmp_path):
    raw = _npy_bytes(np.zeros(2**20, np.uint8))  # 1 MiB of zeros deflates to about 1 KiB
    path = _checkpoint_with(tmp_path / "bomb.npz", {"w": raw}, compression=zipfile.ZIP_DEFLATED)
    assert os.path.getsize(path) < 20_000
    with pytest.raises(ValueError, match="bomb.npz.*expand to more than max_expanded_bytes=100000"):
        tg.load(path, max_expanded_bytes=100_000)
    assert tg.load(path)["w"].shape == (2**20,)  # under the default limit it loads


def test_deeply_nested_json_is_a_value_error_not_a_recursion_error(tmp_path):
    deep = "[" * 100_000 + '"x"' + "]" * 100_000  # json.loads alone raises RecursionError on this
    meta = f'{{"format": "{serialization.FORMAT}", "version": {serialization.VERSION}, "tree": {deep}}}'
    path = _checkpoint_with(tmp_path / "deep.npz", {}, meta=meta)
    with pytest.raises(ValueError, match="deep.npz.*nested more than MAX_JSON_DEPTH"):
        tg.load(path)


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path):
    path = tmp_path / "keys.npz"
    tg.save({"[[[[" * 100: 1, "a": {"b": [1, 2]}}, path)
    assert tg.load(path) == {"[[[[" * 100: 1, "a": {"b": [1, 2]}}


def test_saving_a_self_referencing_dict_is_a_value_error(tmp_path):
    state = {"a": 1}
    state["self"] = state
    with pytest.raises(ValueError, match="save: the dict at key path self contains itself"):
        tg.save(state, tmp_path / "cycle.npz")
    items = [1]
    items.append(items)
    with pytest.raises(ValueError, match="contains itself"):
        tg.save({"items": items}, tmp_path / "cycle.npz")
    shared = [1, 2]
    tg.save({"a": shared, "b": shared}, tmp_path / "shared.npz")  # shared but not cyclic: fine
    assert tg.load(tmp_path / "shared.npz") == {"a": [1, 2], "b": [1, 2]}


KILLED_SAVE = """
import os, signal, sys
import tinygraph as tg
from tinygraph import serialization
real = serialization._write_npy
def write_then_die(zf, name, array):
    real(zf, name, array)
    if name != serialization.META_ENTRY:
        os.kill(os.getpid(), signal.SIGKILL)  # killed mid-write, as by the OOM killer or kill -9
serialization._write_npy = write_then_die
tg.save({"w": tg.ones(1000)}, sys.argv[1])
"""


def test_the_next_save_removes_temporary_files_of_killed_saves(tmp_path):
    path = tmp_path / "ckpt.npz"
    tg.save({"w": tg.zeros(3)}, path)
    env = dict(os.environ, PYTHONPATH=ROOT)
    for _ in range(2):
        run = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(path)], env=env, capture_output=True)
        assert run.returncode == -signal.SIGKILL, run.stderr.decode()
    orphans = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert len(orphans) == 2
    np.testing.assert_array_equal(tg.load(path)["w"].numpy(), np.zeros(3))  # the old file is intact
    tg.save({"w": tg.ones(2)}, path)
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]


def test_a_live_writers_temporary_file_is_kept(tmp_path):
    path = tmp_path / "ckpt.npz"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        other = tmp_path / f".ckpt.npz.{live.pid}.abc123.tmp"
        other.write_bytes(b"in progress")
        tg.save({"w": tg.zeros(3)}, path)
        assert other.exists()
    finally:
        live.kill()
        live.wait()


def test_saving_deeper_than_the_nesting_limit_is_a_value_error(tmp_path):
    deep = 1
    for _ in range(serialization.MAX_NESTING + 5):
        deep = [deep]
    with pytest.raises(ValueError, match=f"nested more than {serialization.MAX_NESTING} levels"):
        tg.save({"deep": deep}, tmp_path / "deep.npz")
    ok = 1
    for _ in range(serialization.MAX_NESTING - 2):
        ok = {"k": ok}
    tg.save(ok, tmp_path / "ok.npz")  # what save accepts, load reads back
    assert tg.load(tmp_path / "ok.npz") == ok
