"""Property tests for pooling: shapes, fast == reference == an independent NumPy oracle, gradients.

Three implementations are compared on random geometries (kernel, stride larger or smaller than
the kernel, padding up to kernel_size // 2, dilation, ceil_mode):

* the fast Numba kernels (``tinygraph.kernels.cpu.pool``),
* the textbook reference loops beside them (the oracle the fast kernels are held to),
* a NumPy formulation written here, which gathers the windows with ``sliding_window_view`` on a
  -inf (max) or zero (average) padded array, so the oracle itself is checked by something that
  shares none of its code.

Gradients: max pool against finite differences on inputs with distinct values (a random
permutation, so no window has a tie and the max is differentiable); average pools, which are
linear, also by the adjoint identity <pool(x), g> == <x, pool_backward(g)>.
"""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

import tinygraph as tg
from tinygraph.functional.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from tinygraph.kernels.cpu import max_pool
from tinygraph.kernels.cpu import pool as K
from tinygraph.kernels.cpu.reference import pool as R

# ------------------------------------------------------------------ strategies and oracles


def expected_out_len(L, k, s, p, d, ceil_mode):
    """The output length as the issue and PyTorch's docs state it, written with floor/ceil of reals."""
    span = L + 2 * p - d * (k - 1) - 1
    if not ceil_mode:
        return math.floor(span / s) + 1
    out = math.ceil(span / s) + 1
    if (out - 1) * s >= L + p:  # PyTorch: the last window must start inside the input or the left padding
        out -= 1
    return out


@st.composite
def pool_cases(draw, with_dilation=True, max_len=9):
    """(x shape, kernel, stride, padding, dilation, ceil_mode) with a valid, non-empty output."""
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if with_dilation else (1, 1)
    # the padded input must hold at least one dilated kernel
    min_h = max(1, d[0] * (k[0] - 1) + 1 - 2 * p[0])
    min_w = max(1, d[1] * (k[1] - 1) + 1 - 2 * p[1])
    H = draw(st.integers(min_h, max(min_h, max_len)))
    W = draw(st.integers(min_w, max(min_w, max_len)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), H, W)
    return shape, k, s, p, d, draw(st.booleans())


def out_size_of(shape, k, s, p, d, ceil_mode):
    return tuple(expected_out_len(shape[2 + i], k[i], s[i], p[i], d[i], ceil_mode) for i in range(2))


def windows(padded, k, s, d, out_size):
    """All pooling windows of a padded (N, C, H', W') array: (N, C, OH, OW, kH*kW), taps in row-major order."""
    span = (d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1)
    win = sliding_window_view(padded, span, axis=(2, 3))[:, :, :: s[0], :: s[1], :: d[0], :: d[1]]
    win = win[:, :, : out_size[0], : out_size[1]]
    return win.reshape(win.shape[:4] + (k[0] * k[1],))


def grid_padding(L, k, s, p, d, out_len):
    """(before, after) padding so that every window, even a ceil_mode one hanging past the padding, fits."""
    needed = (out_len - 1) * s + d * (k - 1) + 1
    return p, max(needed - p - L, 0)


def numpy_max_pool(x, k, s, p, d, out_size):
    """Max pool by NumPy: pad with -inf, gather windows, np.argmax (which returns the FIRST maximum)."""
    N, C, H, W = x.shape
    ph, pw = grid_padding(H, k[0], s[0], p[0], d[0], out_size[0]), grid_padding(W, k[1], s[1], p[1], d[1], out_size[1])
    padded = np.pad(x, ((0, 0), (0, 0), ph, pw), constant_values=-np.inf)
    win = windows(padded, k, s, d, out_size)
    out = win.max(axis=-1)
    tap = win.argmax(axis=-1)
    oh = np.arange(out_size[0])[:, None]
    ow = np.arange(out_size[1])[None, :]
    ih = oh * s[0] - p[0] + (tap // k[1]) * d[0]
    iw = ow * s[1] - p[1] + (tap % k[1]) * d[1]
    index = np.where(np.isneginf(out), -1, ih * W + iw)  # a window of padding only: -inf, no index
    return out, index


def numpy_avg_pool(x, k, s, p, out_size, count_include_pad, divisor_override=None):
    """Average pool by NumPy: window sums of x (zero padded), of 'inside the padded input', of 'inside the input'."""
    N, C, H, W = x.shape
    d = (1, 1)
    ph, pw = grid_padding(H, k[0], s[0], p[0], 1, out_size[0]), grid_padding(W, k[1], s[1], p[1], 1, out_size[1])
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), ph, pw))
    rows = np.arange(padded.shape[2])[:, None]
    cols = np.arange(padded.shape[3])[None, :]
    in_padded = ((rows < H + 2 * p[0]) & (cols < W + 2 * p[1])).astype(np.float64)[None, None]
    in_input = ((rows >= p[0]) & (rows < p[0] + H) & (cols >= p[1]) & (cols < p[1] + W)).astype(np.float64)[None, None]
    total = windows(padded, k, s, d, out_size).sum(-1)
    n_padded = windows(in_padded, k, s, d, out_size).sum(-1)
    n_input = windows(in_input, k, s, d, out_size).sum(-1)
    divisor = divisor_override if divisor_override else (n_padded if count_include_pad else n_input)
    return np.where(n_input > 0, total / np.where(n_input > 0, divisor, 1), 0.0)


def adaptive_matrix(L, out_len):
    """Row i averages PyTorch's window [floor(i*L/O), ceil((i+1)*L/O)): pooling is A_h @ x @ A_w^T."""
    A = np.zeros((out_len, L))
    for i in range(out_len):
        start, end = math.floor(i * L / out_len), math.ceil((i + 1) * L / out_len)
        A[i, start:end] = 1.0 / (end - start)
    return A


def distinct_values(shape, seed):
    """Values with no ties anywhere (a shuffled arange), spaced 1 apart: far from ties for finite differences."""
    rng = np.random.default_rng(seed)
    return rng.permutation(int(np.prod(shape))).reshape(shape).astype(np.float64)


def builds(kernel):
    """The fast kernel (one build; a list, so that each test loops over the kernels it checks)."""
    return [kernel]


seeds = st.integers(0, 2**31 - 1)
dtypes = st.sampled_from([np.float32, np.float64])


# ------------------------------------------------------------------ max pooling


@given(pool_cases(), dtypes, seeds)
def test_max_pool_output_shape_matches_formula(case, dtype, seed):
    shape, k, s, p, d, ceil_mode = case
    x = tg.tensor(np.random.default_rng(seed).standard_normal(shape), dtype=dtype)
    out = max_pool2d(x, k, s, p, d, ceil_mode)
    assert out.shape == shape[:2] + out_size_of(shape, k, s, p, d, ceil_mode)
    assert out.dtype == dtype


@given(pool_cases(), dtypes, seeds)
def test_max_pool_fast_equals_reference_equals_numpy(case, dtype, seed):
    shape, k, s, p, d, ceil_mode = case
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    out_size = out_size_of(shape, k, s, p, d, ceil_mode)
    ref, ref_idx = R.max_pool2d_forward(x, k, s, p, d, out_size)
    oracle, oracle_idx = numpy_max_pool(x, k, s, p, d, out_size)
    np.testing.assert_array_equal(ref, oracle)
    np.testing.assert_array_equal(ref_idx, oracle_idx)
    for build in builds(K.max_pool2d_forward):
        fast, fast_idx = build(x, k, s, p, d, out_size)
        np.testing.assert_array_equal(fast, ref)
        np.testing.assert_array_equal(fast_idx, ref_idx)


@given(pool_cases(), seeds, st.integers(1, 3))
def test_max_pool_ties_first_maximum_wins(case, seed, n_values):
    """Inputs drawn from 1-3 distinct values: windows full of ties; np.argmax's first occurrence is the rule."""
    shape, k, s, p, d, ceil_mode = case
    x = np.random.default_rng(seed).integers(0, n_values, size=shape).astype(np.float64)
    out_size = out_size_of(shape, k, s, p, d, ceil_mode)
    _, oracle_idx = numpy_max_pool(x, k, s, p, d, out_size)
    _, idx = max_pool2d(tg.tensor(x), k, s, p, d, ceil_mode, return_indices=True)
    np.testing.assert_array_equal(idx.data, oracle_idx)
    np.testing.assert_array_equal(R.max_pool2d_forward(x, k, s, p, d, out_size)[1], oracle_idx)


def test_max_pool_tie_picks_first_in_row_major_order():
    # window [[1, 3], [3, 1]]: the 3 at (0, 1), flat index 1, comes before the 3 at (1, 0), index 2
    x = tg.tensor([[[[1.0, 3.0], [3.0, 1.0]]]], requires_grad=True)
    out, idx = max_pool2d(x, 2, return_indices=True)
    assert idx.data.item() == 1
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[[[0.0, 1.0], [0.0, 0.0]]]])


@settings(max_examples=40)
@given(
    st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(2, 9), st.integers(2, 9)),
    st.booleans(),
    st.integers(1, 3),
    st.floats(0.0, 0.3),
    seeds,
)
def test_max_pool_2x2_stride_2_path_equals_numpy(shape, ceil_mode, n_values, nan_share, seed):
    """The fast 2x2 / stride-2 loop, on odd and even sizes, ties (few distinct values) and NaN, both modes.

    A ceil_mode window past the edge must take the general path: the oracle checks that too.
    """
    rng = np.random.default_rng(seed)
    x = rng.integers(0, n_values, size=shape).astype(np.float32)
    x[rng.random(shape) < nan_share] = np.nan
    k = s = (2, 2)
    out_size = out_size_of(shape, k, s, (0, 0), (1, 1), ceil_mode)
    want, want_idx = numpy_max_pool(x, k, s, (0, 0), (1, 1), out_size)
    got, got_idx = K.max_pool2d_forward(x, k, s, (0, 0), (1, 1), out_size)
    ref, ref_idx = R.max_pool2d_forward(x, k, s, (0, 0), (1, 1), out_size)
    np.testing.assert_array_equal(got, ref)  # NaN where NaN
    np.testing.assert_array_equal(got_idx, ref_idx)
    finite = ~np.isnan(want)  # np.argmax picks the first NaN, the rule here the last: compare NaN-free windows
    np.testing.assert_array_equal(got[finite], want[finite])
    np.testing.assert_array_equal(got_idx[finite], want_idx[finite])


def test_max_pool_padding_is_never_the_maximum():
    x = tg.tensor(-np.arange(1.0, 10.0).reshape(1, 1, 3, 3))  # all negative: zero padding would win
    out, idx = max_pool2d(x, 3, stride=1, padding=1, return_indices=True)
    assert (out.data < 0).all()
    assert idx.data[0, 0, 0, 0] == 0  # top-left window: -1 at (0, 0) is the largest real value


@settings(max_examples=20)
@given(pool_cases(max_len=7), seeds)
def test_max_pool_backward_fast_equals_reference_and_oracle_scatter(case, seed):
    shape, k, s, p, d, ceil_mode = case
    rng = np.random.default_rng(seed)
    x = distinct_values(shape, seed)
    out_size = out_size_of(shape, k, s, p, d, ceil_mode)
    _, idx = K.max_pool2d_forward(x, k, s, p, d, out_size)
    g = rng.standard_normal(shape[:2] + out_size)
    ref = R.max_pool2d_backward(g, idx, shape[2:])
    oracle = np.zeros((shape[0] * shape[1], shape[2] * shape[3]))
    _, oracle_idx = numpy_max_pool(x, k, s, p, d, out_size)
    flat_idx = oracle_idx.reshape(len(oracle), -1)
    for plane in range(len(oracle)):  # np.add.at accumulates where windows share a winner
        valid = flat_idx[plane] >= 0
        np.add.at(oracle[plane], flat_idx[plane][valid], g.reshape(len(oracle), -1)[plane][valid])
    np.testing.assert_allclose(ref, oracle.reshape(shape), rtol=1e-12, atol=1e-12)
    for build in builds(K.max_pool2d_backward):
        np.testing.assert_allclose(build(g, idx, shape[2:]), ref, rtol=1e-12, atol=1e-12)


@settings(max_examples=20)
@given(pool_cases(max_len=6), seeds)
def test_max_pool_gradcheck(case, seed):
    shape, k, s, p, d, ceil_mode = case
    x = tg.tensor(distinct_values(shape, seed), requires_grad=True)
    # a window made only of padding (possible with dilation) outputs -inf, which has no finite difference
    assume(np.isfinite(max_pool2d(x, k, s, p, d, ceil_mode).data).all())
    assert tg.gradcheck(lambda t: max_pool2d(t, k, s, p, d, ceil_mode), x)


def test_max_pool_window_of_padding_only_gives_minus_inf_and_no_index():
    # taps of the single window: rows/cols -1 and 2 of a 2x2 input, both padding.  PyTorch returns
    # -inf with index 6 (outside the plane); tinygraph returns -1 so that backward ignores it.
    x = tg.tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    out, idx = max_pool2d(x, 2, stride=1, padding=1, dilation=3, return_indices=True)
    assert out.shape == (1, 1, 1, 1) and np.isneginf(out.data).all() and idx.data.item() == -1
    out.backward(np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(x.grad.data, np.zeros((1, 1, 2, 2)))


# The fast kernel scans windows that lie inside the input by flat tap offsets, and only the ring of
# windows touching the padding by per-window tap ranges (max_pool._inside_range splits the two).  The tests
# below aim at each path: the split itself, and ties / NaN / -inf inside and on the ring.


def all_taps_inside(o, k, s, p, d, size):
    return all(0 <= o * s - p + j * d < size for j in range(k))


@given(st.integers(1, 4), st.integers(1, 4), st.integers(0, 2), st.integers(1, 3), st.integers(1, 12), st.booleans())
def test_inside_range_is_exactly_the_windows_without_padding(k, s, p, d, size, ceil_mode):
    p = min(p, k // 2)
    assume(size + 2 * p >= d * (k - 1) + 1)
    n_out = expected_out_len(size, k, s, p, d, ceil_mode)
    lo, hi = max_pool._inside_range(k, s, p, d, size, n_out)
    inside = [o for o in range(n_out) if all_taps_inside(o, k, s, p, d, size)]
    assert list(range(lo, hi)) == inside  # the inside windows are one contiguous run


special_values = st.sampled_from([0.0, 1.0, -1.0, np.nan, -np.inf, np.inf])


@settings(max_examples=40, deadline=None)
@given(pool_cases(), dtypes, st.data())
def test_max_pool_fast_equals_reference_with_nan_inf_and_ties(case, dtype, data):
    """Values from {0, 1, -1, nan, -inf, inf}: ties everywhere, NaN (the last one wins), windows of only -inf."""
    shape, k, s, p, d, ceil_mode = case
    values = data.draw(st.lists(special_values, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    x = np.array(values, dtype=dtype).reshape(shape)
    out_size = out_size_of(shape, k, s, p, d, ceil_mode)
    ref, ref_idx = R.max_pool2d_forward(x, k, s, p, d, out_size)
    for build in builds(K.max_pool2d_forward):
        fast, fast_idx = build(x, k, s, p, d, out_size)
        np.testing.assert_array_equal(fast, ref)  # treats NaN == NaN
        np.testing.assert_array_equal(fast_idx, ref_idx)


@pytest.mark.parametrize(("stride", "padding", "out_size"), [(3, 0, (2, 2)), (2, 1, (3, 3))])
def test_max_pool_nan_and_ties_inside_and_on_the_ring(stride, padding, out_size):
    # 6x6 plane, kernel 3.  Stride 3, no padding: both windows below are inside windows.  Stride 2,
    # padding 1: the top-left window (rows/cols -1..1) is a ring window, the bottom-right one
    # (rows/cols 3..5) an inside one.  Expected indices written by hand, independent of the reference.
    x = np.zeros((1, 1, 6, 6))
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = 5.0  # tie in the top-left window: (0, 1), index 1, comes first
    x[0, 0, 3, 3] = x[0, 0, 4, 5] = np.nan  # two NaNs in the bottom-right window: the later, index 29, wins
    out, idx = K.max_pool2d_forward(x, (3, 3), (stride, stride), (padding, padding), (1, 1), out_size)
    assert out[0, 0, 0, 0] == 5.0 and idx[0, 0, 0, 0] == 1
    assert np.isnan(out[0, 0, -1, -1]) and idx[0, 0, -1, -1] == 29


@pytest.mark.parametrize("padding", [0, 1])
def test_max_pool_window_of_minus_inf_records_its_first_valid_tap(padding):
    # every value is -inf: each window's result is -inf at its first tap inside the input,
    # never a padding position, both for inside windows (padding 0) and ring windows (padding 1)
    x = np.full((1, 1, 4, 4), -np.inf, dtype=np.float32)
    out, idx = K.max_pool2d_forward(x, (2, 2), (2, 2), (padding, padding), (1, 1), (2, 2) if padding == 0 else (3, 3))
    assert np.isneginf(out).all()
    if padding == 0:
        np.testing.assert_array_equal(idx[0, 0], [[0, 2], [8, 10]])
    else:  # windows start at rows/cols -1, 1, 3: the first inside tap is row/col max(start, 0)
        first = [0, 1, 3]
        np.testing.assert_array_equal(idx[0, 0], [[r * 4 + c for c in first] for r in first])


# ------------------------------------------------------------------ average pooling


@given(pool_cases(with_dilation=False), dtypes, seeds, st.booleans(), st.sampled_from([None, 1, 3, -2]))
def test_avg_pool_fast_equals_reference_equals_numpy(case, dtype, seed, count_include_pad, divisor_override):
    shape, k, s, p, _, ceil_mode = case
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    out_size = out_size_of(shape, k, s, p, (1, 1), ceil_mode)
    override = divisor_override or 0
    ref = R.avg_pool2d_forward(x, k, s, p, out_size, count_include_pad, override)
    oracle = numpy_avg_pool(x, k, s, p, out_size, count_include_pad, divisor_override)
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(ref, oracle, rtol=tol, atol=tol)
    for build in builds(K.avg_pool2d_forward):
        np.testing.assert_allclose(build(x, k, s, p, out_size, count_include_pad, override), ref, rtol=tol, atol=tol)
    out = avg_pool2d(tg.tensor(x), k, s, p, ceil_mode, count_include_pad, divisor_override)
    assert out.shape == shape[:2] + out_size and out.dtype == dtype


@settings(max_examples=20)
@given(pool_cases(with_dilation=False, max_len=7), seeds, st.booleans())
def test_avg_pool_backward_is_the_adjoint_and_matches_reference(case, seed, count_include_pad):
    shape, k, s, p, _, ceil_mode = case
    rng = np.random.default_rng(seed)
    out_size = out_size_of(shape, k, s, p, (1, 1), ceil_mode)
    x, g = rng.standard_normal(shape), rng.standard_normal(shape[:2] + out_size)
    ref = R.avg_pool2d_backward(g, shape[2:], k, s, p, count_include_pad, 0)
    for build in builds(K.avg_pool2d_backward):
        fast = build(g, shape[2:], k, s, p, count_include_pad, 0)
        np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=1e-12)
    # pooling is linear, so its backward is its transpose: <pool(x), g> == <x, pool^T(g)>
    forward = numpy_avg_pool(x, k, s, p, out_size, count_include_pad)
    np.testing.assert_allclose(np.sum(forward * g), np.sum(x * fast), rtol=1e-10, atol=1e-10)


@settings(max_examples=20)
@given(pool_cases(with_dilation=False, max_len=6), seeds, st.booleans())
def test_avg_pool_gradcheck(case, seed, count_include_pad):
    shape, k, s, p, _, ceil_mode = case
    x = tg.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)
    assert tg.gradcheck(lambda t: avg_pool2d(t, k, s, p, ceil_mode, count_include_pad), x)


# ------------------------------------------------------------------ adaptive average pooling


@st.composite
def adaptive_cases(draw):
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    return shape, (draw(st.integers(1, 10)), draw(st.integers(1, 10)))  # larger than the input too


@given(adaptive_cases(), dtypes, seeds)
def test_adaptive_avg_pool_fast_equals_reference_equals_matrix_form(case, dtype, seed):
    shape, out_size = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    A_h, A_w = adaptive_matrix(shape[2], out_size[0]), adaptive_matrix(shape[3], out_size[1])
    oracle = A_h @ x.astype(np.float64) @ A_w.T
    ref = R.adaptive_avg_pool2d_forward(x, out_size)
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(ref, oracle, rtol=tol, atol=tol)
    for build in builds(K.adaptive_avg_pool2d_forward):
        np.testing.assert_allclose(build(x, out_size), ref, rtol=tol, atol=tol)
    # backward: the transpose of the same matrices
    g = rng.standard_normal(shape[:2] + out_size)
    grad_oracle = A_h.T @ g @ A_w
    for build in builds(K.adaptive_avg_pool2d_backward):
        np.testing.assert_allclose(build(g, shape[2:]), grad_oracle, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        R.adaptive_avg_pool2d_backward(g, shape[2:]), grad_oracle, rtol=1e-12, atol=1e-12
    )


@settings(max_examples=20)
@given(adaptive_cases(), seeds)
def test_adaptive_avg_pool_gradcheck(case, seed):
    shape, out_size = case
    x = tg.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)
    assert tg.gradcheck(lambda t: adaptive_avg_pool2d(t, out_size), x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_average_pool_is_the_plane_mean(dtype):
    x = np.random.default_rng(0).standard_normal((3, 4, 5, 7)).astype(dtype)
    out = adaptive_avg_pool2d(tg.tensor(x), 1)
    assert out.shape == (3, 4, 1, 1) and out.dtype == dtype
    np.testing.assert_allclose(out.data[..., 0, 0], x.mean(axis=(2, 3)), rtol=1e-6)
