"""NumPy's array protocol and DLPack: tensors share memory with NumPy arrays and torch tensors."""

import numpy as np
import pytest

import tinygraph as tg


def test_asarray_is_the_tensors_own_array():
    t = tg.zeros(2, 3)
    a = np.asarray(t)
    assert a.dtype == np.float32 and a.shape == (2, 3)
    a[0, 1] = 5.0  # write through NumPy, read through the tensor
    assert t[0, 1].item() == 5.0
    t.data[1, 2] = -1.0
    assert a[1, 2] == -1.0
    assert np.asarray(tg.arange(4)).dtype == np.int64


def test_asarray_dtype_and_copy():
    t = tg.ones(3)
    b = np.array(t)  # np.array copies, as it does for arrays
    b[0] = 7
    assert t[0].item() == 1.0
    d = np.asarray(t, dtype=np.float64)
    assert d.dtype == np.float64 and not np.shares_memory(d, t.data)
    with pytest.raises(ValueError, match="copy=False"):
        np.asarray(t, dtype=np.float64, copy=False)
    assert np.asarray(t, copy=False) is t.data


def test_tensors_that_require_grad_point_to_detach():
    w = tg.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"\.detach\(\)"):
        np.asarray(w)
    with pytest.raises(RuntimeError, match=r"\.detach\(\)"):
        w.numpy()
    assert np.shares_memory(np.asarray(w.detach()), w.data)


def test_from_numpy_shares_memory():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = tg.from_numpy(a)
    assert t.dtype == np.float64 and t.shape == (2, 3)
    a[1, 1] = 100.0
    assert t[1, 1].item() == 100.0
    t.data[0, 0] = -5.0
    assert a[0, 0] == -5.0
    with pytest.raises(TypeError, match="numpy.ndarray"):
        tg.from_numpy([1.0, 2.0])
    with pytest.raises(TypeError, match="not supported"):
        tg.from_numpy(np.array(["a"]))


def test_numpy_dlpack_both_ways():
    t = tg.zeros(4)
    assert t.__dlpack_device__() == (1, 0)  # kDLCPU, device 0
    n = np.from_dlpack(t)
    n[2] = 3.0
    assert t[2].item() == 3.0
    a = np.zeros((2, 2), np.float32)
    back = tg.from_dlpack(a)
    back.data[1, 0] = 9.0
    assert a[1, 0] == 9.0
    with pytest.raises(RuntimeError, match=r"\.detach\(\)"):
        np.from_dlpack(tg.zeros(2, requires_grad=True))


def test_torch_dlpack_both_ways():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    t = tg.zeros(2, 3)
    tt = torch.from_dlpack(t)
    tt[1, 2] = 4.0  # write through torch, read through tinygraph
    assert t[1, 2].item() == 4.0
    t.data[0, 0] = 8.0
    assert tt[0, 0].item() == 8.0
    x = torch.arange(5, dtype=torch.float64)
    g = tg.from_dlpack(x)
    assert g.dtype == np.float64
    g.data[3] = -1.0
    assert x[3].item() == -1.0
