"""Property tests for conv2d over random geometries: shapes, fast == reference == NumPy oracle, gradients.

Three implementations are compared on random batch sizes, channels, image sizes, kernels,
strides, paddings (ints, pairs, 'same', 'valid'), dilations and groups:

* the fast kernels (``tinygraph.kernels.cpu.conv``: im2col + BLAS, and the direct stride-1 kernel),
* the textbook reference loops beside them (the oracle the fast kernels are held to),
* a NumPy formulation written here: pad explicitly with ``np.pad``, gather every window with
  fancy indexing, contract with ``einsum``.  It shares no code with the reference, so the
  oracle itself is checked.

Gradients: the reference backward kernels by the adjoint identity (convolution is linear in x
and in the weight, so <conv(x, w), g> == <x, grad_x(g, w)> == <w, grad_w(x, g)>), the fast ones
against the reference, and the whole op (``tg.functional.conv2d``) against central finite
differences in float64 (``tg.gradcheck``).
"""

import itertools
import math

import numpy as np
from _conv_support import STRIDE1_LAYOUTS, chunk_threads_forced, stride1_layout
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygraph as tg
from tinygraph.functional.conv import conv2d, conv2d_padding
from tinygraph.kernels.cpu import conv as K
from tinygraph.kernels.cpu.reference import conv as R

# ------------------------------------------------------------------ strategies and the NumPy oracle


@st.composite
def conv_cases(draw, max_size=8, max_channels=3, one_input_channel_per_group=False, stride_one=False):
    """(x shape, weight shape, stride, padding argument, dilation, groups) with a non-empty output."""
    groups = draw(st.integers(1, 3))
    per_group_in = 1 if one_input_channel_per_group else draw(st.integers(1, max_channels))
    c_in, c_out = groups * per_group_in, groups * draw(st.integers(1, max_channels))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(
        st.one_of(st.just("same"), st.just("valid"), st.integers(0, 3), st.tuples(st.integers(0, 3), st.integers(0, 3)))
    )
    s = (1, 1) if padding == "same" or stride_one else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    top, bottom, left, right = conv2d_padding(padding, k, s, d)
    # the padded input must hold at least one dilated kernel
    min_h = max(1, d[0] * (k[0] - 1) + 1 - top - bottom)
    min_w = max(1, d[1] * (k[1] - 1) + 1 - left - right)
    H = draw(st.integers(min_h, max(min_h, max_size)))
    W = draw(st.integers(min_w, max(min_w, max_size)))
    n = draw(st.integers(1, 3))
    return (n, c_in, H, W), (c_out, c_in // groups) + k, s, padding, d, groups


def expected_out_len(L, pad_total, k, s, d):
    """The formula of the issue, with a real division and floor: floor((L + 2p - d(k-1) - 1)/s) + 1."""
    return math.floor((L + pad_total - d * (k - 1) - 1) / s) + 1


def numpy_conv2d(x, w, b, stride, pads, dilation, groups):
    """Independent oracle: explicit zero padding, windows gathered by fancy indexing, einsum."""
    top, bottom, left, right = pads
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    N, C, Hp, Wp = xp.shape
    C_out, C_g, kH, kW = w.shape
    OH = (Hp - dilation[0] * (kH - 1) - 1) // stride[0] + 1
    OW = (Wp - dilation[1] * (kW - 1) - 1) // stride[1] + 1
    rows = np.arange(OH)[:, None] * stride[0] + np.arange(kH)[None, :] * dilation[0]  # (OH, kH)
    cols = np.arange(OW)[:, None] * stride[1] + np.arange(kW)[None, :] * dilation[1]  # (OW, kW)
    windows = xp[:, :, rows[:, :, None, None], cols[None, None, :, :]]  # (N, C, OH, kH, OW, kW)
    windows = windows.reshape(N, groups, C_g, OH, kH, OW, kW)
    filters = w.reshape(groups, C_out // groups, C_g, kH, kW)
    out = np.einsum("ngcpiqj,gocij->ngopq", windows, filters).reshape(N, C_out, OH, OW)
    return out if b is None else out + b[:, None, None]


def resolve(x_shape, w_shape, stride, padding, dilation):
    """Kernel arguments for a case: (top, left) padding, the output size, and all four pads."""
    pads = conv2d_padding(padding, w_shape[2:], stride, dilation)
    out_size = tuple(
        expected_out_len(x_shape[2 + i], pads[2 * i] + pads[2 * i + 1], w_shape[2 + i], stride[i], dilation[i])
        for i in range(2)
    )
    return (pads[0], pads[2]), out_size, pads


def arrays(x_shape, w_shape, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    return x, w, b


# ------------------------------------------------------------------ properties


@given(conv_cases(), st.integers(0, 2**16))
def test_output_shape_matches_formula(case, seed):
    x_shape, w_shape, stride, padding, dilation, groups = case
    x, w, b = arrays(x_shape, w_shape, seed, np.float32)
    out = conv2d(
        tg.tensor(x), tg.tensor(w), tg.tensor(b), stride=stride, padding=padding, dilation=dilation, groups=groups
    )
    pads = conv2d_padding(padding, w_shape[2:], stride, dilation)
    expected = tuple(
        expected_out_len(x_shape[2 + i], pads[2 * i] + pads[2 * i + 1], w_shape[2 + i], stride[i], dilation[i])
        for i in range(2)
    )
    assert out.shape == (x_shape[0], w_shape[0]) + expected
    if padding == "same":
        assert expected == x_shape[2:]


@settings(max_examples=20)
@given(conv_cases(max_size=7), st.integers(0, 2**16))
def test_reference_matches_numpy_oracle(case, seed):
    x_shape, w_shape, stride, padding, dilation, groups = case
    x, w, b = arrays(x_shape, w_shape, seed)
    top_left, out_size, pads = resolve(x_shape, w_shape, stride, padding, dilation)
    ref = R.conv2d_forward(x, w, b, stride, top_left, dilation, groups, out_size)
    np.testing.assert_allclose(ref, numpy_conv2d(x, w, b, stride, pads, dilation, groups), rtol=1e-10, atol=1e-10)


@settings(max_examples=20)
@given(conv_cases(max_size=7), st.integers(0, 2**16))
def test_reference_backward_is_the_adjoint(case, seed):
    # conv is linear in x and in w: <conv(x, w), g> = <x, grad_x(g, w)> = <w, grad_w(x, g)>
    x_shape, w_shape, stride, padding, dilation, groups = case
    x, w, _ = arrays(x_shape, w_shape, seed)
    top_left, out_size, _ = resolve(x_shape, w_shape, stride, padding, dilation)
    g = np.random.default_rng(seed + 1).standard_normal((x_shape[0], w_shape[0]) + out_size)
    geometry = (stride, top_left, dilation, groups)
    y = R.conv2d_forward(x, w, None, *geometry, out_size)
    gx = R.conv2d_backward_input(g, w, *geometry, x_shape[2:])
    gw = R.conv2d_backward_weight(x, g, *geometry, w_shape[2:])
    assert gx.shape == x.shape and gw.shape == w.shape
    inner = np.sum(y * g)
    np.testing.assert_allclose(np.sum(x * gx), inner, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.sum(w * gw), inner, rtol=1e-9, atol=1e-9)


@settings(max_examples=25)
@given(conv_cases(), st.integers(0, 2**16), st.sampled_from([np.float32, np.float64]))
def test_fast_equals_reference(case, seed, dtype):
    x_shape, w_shape, stride, padding, dilation, groups = case
    x, w, b = arrays(x_shape, w_shape, seed, dtype)
    top_left, out_size, _ = resolve(x_shape, w_shape, stride, padding, dilation)
    g = np.random.default_rng(seed + 1).standard_normal((x_shape[0], w_shape[0]) + out_size).astype(dtype)
    geometry = (stride, top_left, dilation, groups)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    want = R.conv2d_forward(x, w, b, *geometry, out_size)
    want_x = R.conv2d_backward_input(g, w, *geometry, x_shape[2:])
    want_w = R.conv2d_backward_weight(x, g, *geometry, w_shape[2:])
    pairs = []
    # at stride 1 each column layout, else the general one (twice); on one thread and on two
    for layout, threads in itertools.product(STRIDE1_LAYOUTS, (1, 2)):
        with stride1_layout(layout), chunk_threads_forced(threads):
            pairs += [
                (K.conv2d_forward(x, w, b, *geometry, out_size), want),  # direct or im2col, by the shape
                (K.conv2d_forward_im2col(x, w, b, *geometry, out_size), want),
                (K.conv2d_backward_input(g, w, *geometry, x_shape[2:]), want_x),
                (K.conv2d_backward_weight(x, g, *geometry, w_shape[2:]), want_w),
            ]
            # both gradients in one pass (the path a training step takes), and each alone through it
            both = K.conv2d_backward(g, x, w, *geometry, x_shape[2:], w_shape[2:])
            pairs += [(both[0], want_x), (both[1], want_w)]
            sizes = (x_shape[2:], w_shape[2:])
            pairs.append((K.conv2d_backward(g, x, w, *geometry, *sizes, need_weight=False)[0], want_x))
            pairs.append((K.conv2d_backward(g, x, w, *geometry, *sizes, need_input=False)[1], want_w))
    for fast, ref in pairs:
        assert fast.dtype == dtype and fast.shape == ref.shape
        np.testing.assert_allclose(fast, ref, **tol)


@settings(max_examples=40)
@given(conv_cases(max_channels=6, stride_one=True), st.integers(0, 2**16), st.sampled_from([np.float32, np.float64]),
       st.booleans(), st.booleans())
def test_direct_forward_equals_reference(case, seed, dtype, with_bias, one_filter_per_group):
    """The direct stride-1 kernel (conv_direct): filters per group and taps not multiples of its blocks of 4.

    With ``one_filter_per_group`` (depthwise layers, a grayscale layer's input gradient): its one-filter loop.
    """
    x_shape, w_shape, stride, padding, dilation, groups = case
    if one_filter_per_group:
        w_shape = (groups,) + w_shape[1:]
    x, w, b = arrays(x_shape, w_shape, seed, dtype)
    b = b if with_bias else None
    top_left, out_size, _ = resolve(x_shape, w_shape, stride, padding, dilation)
    fast = K.conv2d_forward_direct(x, w, b, top_left, dilation, groups, out_size)
    ref = R.conv2d_forward(x, w, b, stride, top_left, dilation, groups, out_size)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    assert fast.dtype == dtype and fast.shape == ref.shape
    np.testing.assert_allclose(fast, ref, **tol)


@settings(max_examples=40)
@given(conv_cases(max_channels=6, stride_one=True), st.integers(0, 2**16), st.sampled_from([np.float32, np.float64]))
def test_input_gradient_as_direct_forward_pass_equals_reference(case, seed, dtype):
    """At stride 1 the input gradient may be a forward pass with turned filters (``_backward_input_as_forward``).

    Every case is compared; the ones that take that path are counted, so a strategy that never
    reaches it fails below.
    """
    x_shape, w_shape, stride, padding, dilation, groups = case
    _, w, _ = arrays(x_shape, w_shape, seed, dtype)
    top_left, out_size, _ = resolve(x_shape, w_shape, stride, padding, dilation)
    g = np.random.default_rng(seed + 1).standard_normal((x_shape[0], w_shape[0]) + out_size).astype(dtype)
    if K._backward_input_as_forward(w, stride, top_left, dilation, groups, x_shape[2:]) is not None:
        _AS_FORWARD_CASES.append(case)
    fast = K.conv2d_backward_input(g, w, stride, top_left, dilation, groups, x_shape[2:])
    ref = R.conv2d_backward_input(g, w, stride, top_left, dilation, groups, x_shape[2:])
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    assert fast.dtype == dtype and fast.shape == ref.shape
    np.testing.assert_allclose(fast, ref, **tol)


_AS_FORWARD_CASES = []


def test_input_gradient_as_forward_pass_was_exercised():
    """The property above reached the forward-pass path (it runs first: pytest keeps the file's order)."""
    assert len(_AS_FORWARD_CASES) >= 3
    w = np.zeros((8, 4, 3, 3), np.float32)  # a 'same' 3x3 layer, dilated or not, takes it; a 'valid' one does not
    assert K._backward_input_as_forward(w, (1, 1), (1, 1), (1, 1), 1, (6, 6)) is not None
    assert K._backward_input_as_forward(w, (1, 1), (2, 2), (2, 2), 1, (6, 6)) is not None
    assert K._backward_input_as_forward(w, (1, 1), (0, 0), (1, 1), 1, (6, 6)) is None


@given(conv_cases(one_input_channel_per_group=True, stride_one=True), st.integers(0, 2**16),
       st.sampled_from([np.float32, np.float64]))
def test_direct_weight_gradient_equals_reference(case, seed, dtype):
    """One input channel per group at stride 1 (grayscale first layers, depthwise): the direct dot-product path."""
    x_shape, w_shape, stride, padding, dilation, groups = case
    x, _, _ = arrays(x_shape, w_shape, seed, dtype)
    top_left, out_size, _ = resolve(x_shape, w_shape, stride, padding, dilation)
    g = np.random.default_rng(seed + 1).standard_normal((x_shape[0], w_shape[0]) + out_size).astype(dtype)
    fast = K.conv2d_backward_weight(x, g, stride, top_left, dilation, groups, w_shape[2:])
    ref = R.conv2d_backward_weight(x, g, stride, top_left, dilation, groups, w_shape[2:])
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    assert fast.dtype == dtype and fast.shape == ref.shape
    np.testing.assert_allclose(fast, ref, **tol)


@settings(max_examples=15)
@given(conv_cases(max_size=5, max_channels=2), st.integers(0, 2**16))
def test_gradients_match_finite_differences(case, seed):
    x_shape, w_shape, stride, padding, dilation, groups = case
    x, w, b = (tg.tensor(a, requires_grad=True) for a in arrays(x_shape, w_shape, seed))
    assert tg.gradcheck(
        lambda x, w, b: conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups), x, w, b
    )
