"""CudaArray: every NumPy operation the foundation's Functions use, checked against NumPy itself.

Run with ``NUMBA_ENABLE_CUDASIM=1 python -m pytest -m cuda`` (or on a GPU); skipped otherwise.
Shapes are tiny: the simulator runs every GPU thread as Python code.
"""

import numpy as np
import pytest
from _cuda_support import assert_same, host, skip_without_cuda
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

pytestmark = pytest.mark.cuda
skip_without_cuda()

from tinygraph.kernels.cuda import array as ca  # noqa: E402
from tinygraph.kernels.cuda.launch import REDUCE_THREADS, TILE  # noqa: E402

dev = ca.to_device
RNG = np.random.default_rng(1234)


def rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


# ------------------------------------------------------------------ elementwise ufuncs

BINARY = [np.add, np.subtract, np.multiply, np.true_divide, np.maximum, np.minimum, np.greater, np.greater_equal,
          np.less, np.less_equal, np.equal, np.not_equal]


@pytest.mark.parametrize("ufunc", BINARY, ids=lambda u: u.__name__)
def test_binary_ufunc_broadcasts_like_numpy(ufunc):
    a, b = rand(2, 3, 4), rand(3, 1)
    b[0, 0] = a[0, 0, 0]  # an exact tie for the comparisons and max/min
    assert_same(ufunc(dev(a), dev(b)), ufunc(a, b))
    assert_same(ufunc(dev(b), dev(a)), ufunc(b, a))


@pytest.mark.parametrize("ufunc", [np.negative, np.absolute, np.sign, np.exp, np.tanh, np.square, np.isnan,
                                   np.isfinite], ids=lambda u: u.__name__)
def test_unary_ufunc_matches_numpy(ufunc):
    a = rand(3, 5)
    a[0, 0] = 0.0
    assert_same(ufunc(dev(a)), ufunc(a))


def test_log_sqrt_power_edge_values_give_nan_and_inf_like_numpy():
    a = np.array([-1.0, 0.0, 0.25, 4.0], dtype=np.float32)
    with np.errstate(all="ignore"):
        assert_same(np.log(dev(a)), np.log(a))
        assert_same(np.sqrt(dev(a)), np.sqrt(a))
        assert_same(np.power(dev(a), 0.5), np.power(a, 0.5))
        assert_same(np.exp(dev(np.array([800.0, -800.0]))), np.exp(np.array([800.0, -800.0])))


def test_maximum_propagates_nan():
    a = np.array([np.nan, 1.0, 2.0], dtype=np.float32)
    b = np.array([0.0, np.nan, 1.0], dtype=np.float32)
    assert_same(np.maximum(dev(a), dev(b)), np.maximum(a, b))
    assert_same(np.minimum(dev(a), dev(b)), np.minimum(a, b))


@pytest.mark.parametrize(
    "expr",
    [lambda x: x * 0.5, lambda x: 1 - x, lambda x: 2 / (x * x + 1), lambda x: x ** 2, lambda x: -x + 3,
     lambda x: x * np.float64(2.0), lambda x: x * np.asarray(0.5, dtype=np.float32), lambda x: (x > 0) + 0.5 * (x == 0),
     lambda x: x * (x > 0), lambda x: abs(x) >= 1, lambda x: (x > 0) & (x < 1), lambda x: ~(x > 0)],
    ids=["mul-float", "rsub-int", "rdiv", "pow", "neg-add", "np-float64", "0d-array", "bool-mix", "mask", "abs-ge",
         "and", "invert"],
)
def test_operators_and_dtype_promotion_follow_numpy(expr):
    # NEP 50: a Python float keeps float32 float32; a NumPy float64 scalar promotes
    x = rand(2, 5)
    x[0, 0] = 0.0
    assert_same(expr(dev(x)), expr(x))


def test_integer_and_float64_dtypes():
    i = np.arange(-3, 3).reshape(2, 3)
    assert_same(dev(i) * 2, i * 2)
    assert_same(dev(i) / 2, i / 2)  # true division of ints gives float64
    d = rand(2, 3, dtype=np.float64)
    f = rand(3)
    assert_same(dev(d) + dev(f), d + f)  # float64 + float32 -> float64


def test_inplace_ufunc_with_out_and_self_alias():
    a, b = rand(2, 3), rand(3)
    x = dev(a)
    x += dev(b)
    x *= 2
    np.subtract(x, 1, out=x)
    assert_same(x, (a + b) * 2 - 1)
    y = dev(a[0].copy())  # y += y[::-1]: the reversed read must not see already-updated values
    y += y[::-1]
    assert_same(y, a[0] + a[0][::-1])


@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_broadcasting_property(data):
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3))
    a = data.draw(hnp.arrays(np.float64, shapes.input_shapes[0], elements=st.floats(-5, 5)))
    b = data.draw(hnp.arrays(np.float64, shapes.input_shapes[1], elements=st.floats(-5, 5)))
    assert_same(dev(a) * dev(b) - dev(b), a * b - b)
    assert_same(np.where(dev(a) > dev(b), dev(a), dev(b)), np.where(a > b, a, b))


# ------------------------------------------------------------------------ reductions


@pytest.mark.parametrize("method", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_match_numpy(method, axis, keepdims):
    a = rand(2, 3, 4)
    assert_same(getattr(dev(a), method)(axis=axis, keepdims=keepdims),
                np.asarray(getattr(a, method)(axis=axis, keepdims=keepdims)), rtol=1e-5)


@pytest.mark.parametrize("method", ["sum", "max", "min"])
def test_long_reductions_use_the_block_tree(method):
    # more inputs per output than REDUCE_THREADS: one block per output, shared-memory tree
    n = 3 * REDUCE_THREADS + 5
    a = rand(n, 2, dtype=np.float64)
    assert_same(getattr(dev(a), method)(axis=0), getattr(a, method)(axis=0))
    assert_same(getattr(np, method)(dev(a)), np.asarray(getattr(np, method)(a)))


def test_reduction_dtypes_and_numpy_functions():
    m = rand(3, 4) > 0
    assert_same(m.sum(axis=1), m.sum(axis=1))  # numpy baseline
    assert_same(dev(m).sum(axis=1), m.sum(axis=1))  # bool sums are int64
    assert_same(np.mean(dev(np.arange(6).reshape(2, 3)), axis=0), np.mean(np.arange(6).reshape(2, 3), axis=0))
    a = rand(3, 4)
    assert_same(np.sum(dev(a), axis=(0, 1), keepdims=True), np.sum(a, axis=(0, 1), keepdims=True))
    assert_same(np.amax(dev(a), axis=1), np.amax(a, axis=1))
    assert_same(np.all(dev(m), axis=0), np.all(m, axis=0))
    assert_same(np.any(dev(m)), np.asarray(np.any(m)))
    assert_same(np.add.reduce(dev(a), axis=1), np.add.reduce(a, axis=1))


def test_argmax_argmin_first_occurrence():
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, -1.0]], dtype=np.float32)
    for axis in (None, 0, 1):
        assert_same(np.argmax(dev(a), axis=axis), np.asarray(np.argmax(a, axis=axis)))
        assert_same(dev(a).argmin(axis=axis), np.asarray(a.argmin(axis=axis)))
    assert_same(dev(a).argmax(axis=1, keepdims=True), a.argmax(axis=1, keepdims=True))


def test_empty_reductions():
    e = np.zeros((0, 3), dtype=np.float32)
    assert_same(dev(e).sum(axis=0), e.sum(axis=0))
    with pytest.raises(ValueError, match="zero-size"):
        dev(e).max(axis=0)


# --------------------------------------------------------------------------- matmul


@pytest.mark.parametrize(
    "sa,sb",
    [((5, 3), (3, 7)), ((1, 1), (1, 1)), ((2, TILE + 1, 2 * TILE + 1), (2 * TILE + 1, 3)), ((2, 1, 3, 4), (5, 4, 2)),
     ((4,), (4, 3)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 0), (0, 2))],
    ids=["2d", "1x1", "ragged-tiles", "batch-broadcast", "vec-mat", "mat-vec", "dot", "k=0"],
)
def test_matmul_matches_numpy(sa, sb):
    a, b = rand(*sa, dtype=np.float64), rand(*sb, dtype=np.float64)
    assert_same(dev(a) @ dev(b), np.asarray(a @ b), rtol=1e-12, atol=1e-12)


def test_matmul_batches_beyond_one_launch(monkeypatch):
    from tinygraph.kernels.cuda import matmul as matmul_module

    monkeypatch.setattr(matmul_module, "MAX_GRID_Z", 2)  # 5 batches -> launches of 2, 2 and 1
    a, b = rand(5, 2, 3, dtype=np.float64), rand(3, 2, dtype=np.float64)
    assert_same(dev(a) @ dev(b), a @ b, rtol=1e-12, atol=1e-12)


def test_matmul_errors_and_mixed_dtypes():
    with pytest.raises(ValueError, match="inner dimensions"):
        dev(rand(2, 3)) @ dev(rand(4, 2))
    a, b = rand(2, 3), rand(3, 2, dtype=np.float64)
    assert_same(np.matmul(dev(a), dev(b)), a @ b)


# -------------------------------------------------------------- shapes and indexing


def test_shape_functions_match_numpy():
    a = rand(2, 3, 4)
    assert_same(dev(a).T, a.T)
    assert_same(np.transpose(dev(a), (1, 0, 2)), np.transpose(a, (1, 0, 2)))
    assert_same(np.swapaxes(dev(a), -1, -2), np.swapaxes(a, -1, -2))
    assert_same(np.broadcast_to(dev(a[:, :1]), (2, 3, 4)), np.broadcast_to(a[:, :1], (2, 3, 4)))
    assert_same(np.expand_dims(dev(a), (0, 2)), np.expand_dims(a, (0, 2)))
    assert_same(dev(a).reshape(4, -1), a.reshape(4, -1))
    assert_same(np.reshape(dev(a), (24,)), a.reshape(24))
    assert_same(np.squeeze(dev(a[:, :1])), np.squeeze(a[:, :1]))
    assert_same(np.concatenate([dev(a), dev(a[:, :2])], axis=1), np.concatenate([a, a[:, :2]], axis=1))
    assert_same(np.stack([dev(a), dev(a)], axis=-1), np.stack([a, a], axis=-1))
    for got, want in zip(np.split(dev(a), np.array([1, 3]), axis=2), np.split(a, [1, 3], axis=2)):
        assert_same(got, want)
    widths = ((0, 0), (1, 2), (0, 1))
    assert_same(np.pad(dev(a), widths, mode="constant", constant_values=-1.5),
                np.pad(a, widths, mode="constant", constant_values=-1.5))
    assert_same(np.zeros_like(dev(a), shape=(2, 2)), np.zeros((2, 2), np.float32))
    assert_same(np.ones_like(dev(a), dtype=bool), np.ones_like(a, dtype=bool))
    assert_same(np.full_like(dev(a), 7), np.full_like(a, 7))
    assert_same(np.clip(dev(a), -0.5, 0.5), np.clip(a, -0.5, 0.5))
    assert_same(dev(a).astype(np.int64), a.astype(np.int64))
    assert_same(dev(a > 0).astype(np.float32), (a > 0).astype(np.float32))


@pytest.mark.parametrize(
    "index",
    [(slice(None), slice(1, None), slice(None, None, 2)), (1, slice(None, None, -1), None), (Ellipsis, 2), (0, 1, 2),
     ([0, 1, 1], slice(None), [2, 0, 3]), (slice(None), np.array([True, False, True])), ([1, 0],)],
    ids=["slices", "int-reverse-newaxis", "ellipsis", "scalar", "advanced", "bool-mask", "int-list"],
)
def test_getitem_setitem_add_at_match_numpy(index):
    a = rand(2, 3, 4)
    assert_same(dev(a)[index], a[index])
    b, x = a.copy(), dev(a)
    b[index] = 5.0
    x[index] = 5.0
    assert_same(x, b)
    z, zd = np.zeros_like(a), np.zeros_like(dev(a))
    values = rand(*np.shape(a[index]))
    np.add.at(z, index, values)
    np.add.at(zd, index, dev(values))
    assert_same(zd, z)


def test_add_at_accumulates_repeated_indices():
    z, zd = np.zeros(4), ca.zeros((4,), np.float64)
    np.add.at(z, ([1, 1, 3],), np.array([1.0, 2.0, 4.0]))
    np.add.at(zd, ([1, 1, 3],), dev(np.array([1.0, 2.0, 4.0])))
    assert_same(zd, z)


def test_setitem_broadcasts_device_values_and_reshape_shares_memory():
    x = ca.zeros((2, 3), np.float32)
    x[...] = dev(np.array([1.0, 2.0, 3.0], dtype=np.float32))
    assert_same(x, np.array([[1, 2, 3], [1, 2, 3]], dtype=np.float32))
    flat = x.reshape(-1)
    flat[0] = 9.0  # reshape is a view, as NumPy's
    assert host(x)[0, 0] == 9.0
    with pytest.raises(ValueError, match="broadcast"):
        x[0] = dev(np.ones(4, np.float32))


# ------------------------------------------------------------------ rules and errors


def test_no_silent_host_copies():
    x = dev(rand(2, 3))
    with pytest.raises(TypeError, match="copy_to_host"):
        np.asarray(x)
    with pytest.raises(TypeError, match="host NumPy array of shape"):
        x + rand(2, 3)
    assert x.copy_to_host().shape == (2, 3)
    assert float(x[0, 0]) == pytest.approx(float(host(x)[0, 0]))


@pytest.mark.parametrize("call", [lambda x: np.sin(x), lambda x: np.cumsum(x), lambda x: np.sort(x),
                                  lambda x: np.add.accumulate(x), lambda x: np.pad(x, 1, mode="edge")],
                         ids=["sin", "cumsum", "sort", "accumulate", "pad-edge"])
def test_unsupported_operations_say_so(call):
    with pytest.raises(NotImplementedError, match="on device 'cuda'"):
        call(dev(rand(3)))


def test_metadata_and_repr():
    x = dev(rand(2, 3))
    assert (x.shape, x.ndim, x.size, x.dtype, x.device, len(x)) == ((2, 3), 2, 6, np.float32, "cuda", 2)
    assert repr(x) == "CudaArray(shape=(2, 3), dtype=float32)"
    assert x.strides == (12, 4)
    with pytest.raises(ValueError, match="ambiguous"):
        bool(x)
