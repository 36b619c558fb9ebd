"""conv2d: hand-computed examples, edge cases, gradients, argument errors, and PyTorch agreement.

The random-geometry properties (fast == reference == an independent NumPy oracle, shapes,
finite differences over many geometries) are in ``test_conv_properties.py``.
"""

import threading

import numpy as np
import pytest
from _conv_support import STRIDE1_LAYOUTS, chunk_threads_forced, stride1_layout

import tinygraph as tg
from tinygraph.functional.conv import conv2d, conv2d_output_size, conv2d_padding
from tinygraph.kernels.cpu import conv as K
from tinygraph.kernels.cpu.reference import conv as R


def rand(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def geometry(stride=1, padding=0, dilation=1, groups=1):
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    return pair(stride), pair(padding), pair(dilation), groups


def run_both(x, w, b, stride, padding, dilation, groups, out_size):
    """Forward (each fast kernel) and both gradients with the fast kernels and the reference; returns the pairs.

    At stride 1 the im2col kernels run once in each of their two column layouts.
    """
    args = (stride, padding, dilation, groups)
    g = rand(x.shape[0], w.shape[0], *out_size, seed=7, dtype=x.dtype)
    want = R.conv2d_forward(x, w, b, *args, out_size)
    want_x = R.conv2d_backward_input(g, w, *args, x.shape[2:])
    want_w = R.conv2d_backward_weight(x, g, *args, w.shape[2:])
    pairs = [(K.conv2d_forward(x, w, b, *args, out_size), want)]
    if stride == (1, 1):  # the direct kernel is for stride 1 only
        pairs.append((K.conv2d_forward_direct(x, w, b, padding, dilation, groups, out_size), want))
    for layout in STRIDE1_LAYOUTS if stride == (1, 1) else ["wide rows"]:
        with stride1_layout(layout):
            pairs += [
                (K.conv2d_forward_im2col(x, w, b, *args, out_size), want),
                (K.conv2d_backward_input(g, w, *args, x.shape[2:]), want_x),
                (K.conv2d_backward_weight(x, g, *args, w.shape[2:]), want_w),
            ]
    return pairs


# ------------------------------------------------------------------ values worked out by hand


def test_hand_computed_3x3_input_2x2_kernel():
    # x = 1..9 in a 3x3 grid; kernel [[1, 0], [0, -1]] computes x[i, j] - x[i+1, j+1] = -4 everywhere
    x = tg.tensor(np.arange(1.0, 10.0).reshape(1, 1, 3, 3))
    w = tg.tensor(np.array([[[[1.0, 0.0], [0.0, -1.0]]]]))
    out = conv2d(x, w, bias=tg.tensor([0.5], dtype=tg.float64))
    np.testing.assert_allclose(out.numpy(), np.full((1, 1, 2, 2), -3.5))


def test_hand_computed_padding_stride_and_dilation():
    # a 1x1 "ones" image of size 4x4, 3x3 ones kernel, padding 1: each output counts the pixels its window covers
    x = tg.ones(1, 1, 4, 4, dtype=tg.float64)
    w = tg.ones(1, 1, 3, 3, dtype=tg.float64)
    counts = np.array([[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]], dtype=float)
    np.testing.assert_array_equal(conv2d(x, w, padding=1).numpy()[0, 0], counts)
    # stride 2 keeps rows/cols 0 and 2 of that grid
    np.testing.assert_array_equal(conv2d(x, w, padding=1, stride=2).numpy()[0, 0], counts[::2, ::2])
    # dilation 2 with padding 2: taps at -2, 0, +2 around each pixel; on a 4x4 image 2 of 3 taps land inside per axis
    np.testing.assert_array_equal(conv2d(x, w, padding=2, dilation=2).numpy()[0, 0], np.full((4, 4), 4.0))


def test_hand_computed_groups_keep_channels_apart():
    # two channels, constant 1 and 10; groups=2 with one 1x1 filter per group: no mixing
    x = tg.tensor(np.stack([np.ones((3, 3)), 10 * np.ones((3, 3))])[None])
    w = tg.tensor(np.array([2.0, 3.0]).reshape(2, 1, 1, 1))
    out = conv2d(x, w, groups=2).numpy()
    np.testing.assert_array_equal(out[0, 0], np.full((3, 3), 2.0))
    np.testing.assert_array_equal(out[0, 1], np.full((3, 3), 30.0))


def test_hand_computed_gradients():
    # y = sum over the 2x2 outputs of a 2x2 ones-kernel on a 3x3 input:
    # d y / d x[i, j] = the number of windows covering (i, j)
    x = tg.tensor(np.arange(9.0).reshape(1, 1, 3, 3), requires_grad=True)
    w = tg.tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    b = tg.tensor(np.zeros(1), requires_grad=True)
    conv2d(x, w, b).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    # d y / d w[i, j] = sum of the 2x2 block of x starting at (i, j)
    xs = np.arange(9.0).reshape(3, 3)
    expected_w = [[xs[i : i + 2, j : j + 2].sum() for j in range(2)] for i in range(2)]
    np.testing.assert_array_equal(w.grad.numpy()[0, 0], expected_w)
    np.testing.assert_array_equal(b.grad.numpy(), [4.0])  # four outputs, each with d/d bias = 1


# ------------------------------------------------------------------ edge cases: fast == reference


EDGE_CASES = {
    # name: (x shape, weight shape, stride, padding, dilation, groups)
    "1x1 kernel": ((2, 3, 5, 4), (4, 3, 1, 1), 1, 0, 1, 1),
    "kernel = input (single pixel out)": ((2, 2, 4, 3), (3, 2, 4, 3), 1, 0, 1, 1),
    "single pixel out by stride": ((1, 2, 5, 5), (2, 2, 3, 3), 4, 0, 1, 1),
    "batch of one": ((1, 3, 6, 6), (2, 3, 3, 3), 1, 1, 1, 1),
    "stride larger than kernel": ((2, 2, 9, 8), (3, 2, 2, 2), 3, 1, 1, 1),
    "depthwise": ((2, 4, 6, 6), (4, 1, 3, 3), 1, 1, 1, 4),
    "depthwise multiplier 2": ((2, 3, 5, 6), (6, 1, 3, 2), (1, 2), (1, 0), 1, 3),
    "padding wider than kernel": ((1, 1, 3, 3), (2, 1, 2, 2), 1, 3, 1, 1),
    "dilated, asymmetric": ((2, 2, 9, 7), (2, 2, 3, 2), (2, 1), (2, 1), (2, 3), 1),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_edge_cases_fast_equals_reference(name, dtype):
    x_shape, w_shape, stride, padding, dilation, groups = EDGE_CASES[name]
    x, w, b = rand(*x_shape, dtype=dtype), rand(*w_shape, seed=1, dtype=dtype), rand(w_shape[0], seed=2, dtype=dtype)
    s, p, d, g = geometry(stride, padding, dilation, groups)
    out_size = conv2d_output_size(x_shape[2:], w_shape[2:], s, p, d)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for fast, ref in run_both(x, w, b, s, p, d, g, out_size):
        assert fast.dtype == dtype and fast.shape == ref.shape
        np.testing.assert_allclose(fast, ref, **tol)


@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_edge_cases_gradcheck(name):
    x_shape, w_shape, stride, padding, dilation, groups = EDGE_CASES[name]
    x = tg.tensor(rand(*x_shape), requires_grad=True)
    w = tg.tensor(rand(*w_shape, seed=1), requires_grad=True)
    b = tg.tensor(rand(w_shape[0], seed=2), requires_grad=True)
    assert tg.gradcheck(
        lambda x, w, b: conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups), x, w, b
    )


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("layout", list(STRIDE1_LAYOUTS))
def test_large_batch_runs_in_several_chunks(monkeypatch, threads, layout):
    # shrink the column-matrix budget so the fast kernels split the batch into uneven chunks,
    # shared between threads or not
    x, w, b = rand(7, 3, 4, 4), rand(5, 3, 3, 3, seed=1), rand(5, seed=2)
    for stride in (1, 2):  # a stride-1 layout and the general one
        s, p, d, g = geometry(stride, 1, 1, 1)
        out_size = conv2d_output_size((4, 4), 3, s, p, d)
        monkeypatch.setattr(K, "_COLS_BYTES", 3 * 27 * 6 * 4 * 8)  # a few images per chunk
        with stride1_layout(layout), chunk_threads_forced(threads):
            for fast, ref in run_both(x, w, b, s, p, d, g, out_size):
                np.testing.assert_allclose(fast, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("layout", list(STRIDE1_LAYOUTS))
def test_input_pixels_no_window_reaches_get_zero_gradient(layout):
    # the kernels trust out_size; two smaller than the formula's leaves the last input row and
    # column outside every window: their gradient must be 0, not what the memory held before
    s, p, d, g = geometry(1, 1, 1, 1)
    x, w, grad = rand(2, 2, 6, 6), rand(3, 2, 3, 3, seed=1), rand(2, 3, 4, 4, seed=2)
    want = R.conv2d_backward_input(grad, w, s, p, d, g, (6, 6))
    assert np.all(want[:, :, 5, :] == 0) and np.all(want[:, :, :, 5] == 0)
    with stride1_layout(layout):
        for _ in range(3):
            dirty = np.full(x.shape, 7.0)  # freed just before: likely the memory grad_x gets
            del dirty
            got_x = K.conv2d_backward_input(grad, w, s, p, d, g, (6, 6))
            got_w = K.conv2d_backward_weight(x, grad, s, p, d, g, (3, 3))
            np.testing.assert_allclose(got_x, want, rtol=1e-10, atol=1e-10)
            want_w = R.conv2d_backward_weight(x, grad, s, p, d, g, (3, 3))
            np.testing.assert_allclose(got_w, want_w, rtol=1e-10, atol=1e-10)


def test_outputs_do_not_share_the_reused_scratch_memory():
    s, p, d, g = geometry(1, 1, 1, 1)
    x1, x2, w = rand(2, 3, 6, 6), rand(2, 3, 6, 6, seed=5), rand(4, 3, 3, 3, seed=1)
    y1 = K.conv2d_forward(x1, w, None, s, p, d, g, (6, 6))
    expected = y1.copy()
    K.conv2d_forward(x2, w, None, s, p, d, g, (6, 6))  # same shapes: the same scratch buffers
    K.conv2d_backward_input(rand(2, 4, 6, 6, seed=6), w, s, p, d, g, (6, 6))
    K.conv2d_backward_weight(x2, rand(2, 4, 6, 6, seed=6), s, p, d, g, (3, 3))
    np.testing.assert_array_equal(y1, expected)


def test_threads_get_their_own_scratch_memory():
    s, p, d, g = geometry(1, 1, 1, 1)
    w = rand(4, 3, 3, 3, seed=1)
    inputs = [rand(3, 3, 8, 8, seed=10 + k) for k in range(4)]
    expected = [R.conv2d_forward(x, w, None, s, p, d, g, (8, 8)) for x in inputs]
    results = {}

    def work(k):
        for _ in range(20):
            results[k] = K.conv2d_forward(inputs[k], w, None, s, p, d, g, (8, 8))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        np.testing.assert_allclose(results[k], expected[k], rtol=1e-10, atol=1e-10)


def test_backward_twice_with_retain_graph():
    # scratch memory is reused between calls: the saved arrays must not be part of it
    x = tg.tensor(rand(2, 2, 5, 5), requires_grad=True)
    w = tg.tensor(rand(3, 2, 3, 3, seed=1), requires_grad=True)
    y = conv2d(x, w, padding=1)
    g = rand(2, 3, 5, 5, seed=2)
    y.backward(g, retain_graph=True)
    first_x, first_w = x.grad.numpy().copy(), w.grad.numpy().copy()
    y.backward(g)
    np.testing.assert_allclose(x.grad.numpy(), 2 * first_x, rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), 2 * first_w, rtol=1e-12)


def test_float32_in_float32_out_and_no_upcast():
    x = tg.randn(2, 3, 6, 6, requires_grad=True)
    w = tg.randn(4, 3, 3, 3, requires_grad=True)
    b = tg.zeros(4, requires_grad=True)
    out = conv2d(x, w, b, padding=1)
    out.sum().backward()
    assert out.dtype == np.float32 and x.grad.dtype == np.float32 and w.grad.dtype == np.float32
    assert b.grad.dtype == np.float32


def test_unbatched_input_is_one_image():
    x, w = rand(3, 5, 5), rand(2, 3, 3, 3, seed=1)
    out = conv2d(tg.tensor(x), tg.tensor(w), padding=1)
    assert out.shape == (2, 5, 5)
    np.testing.assert_allclose(out.numpy(), conv2d(tg.tensor(x[None]), tg.tensor(w), padding=1).numpy()[0])


def test_non_contiguous_input():
    x = rand(2, 6, 6, 3).transpose(0, 3, 1, 2)  # an NHWC array seen as NCHW: not C-contiguous
    w = rand(4, 3, 3, 3, seed=1)
    out = conv2d(tg.tensor(x), tg.tensor(w), padding=1).numpy()
    ref = R.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1, (6, 6))
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


def test_empty_batch():
    out = conv2d(tg.zeros(0, 2, 5, 5), tg.ones(3, 2, 3, 3))
    assert out.shape == (0, 3, 3, 3)


def test_only_requested_gradients_are_computed():
    x = tg.tensor(rand(2, 2, 5, 5))  # a constant input, as the first layer's images
    w = tg.tensor(rand(3, 2, 3, 3, seed=1), requires_grad=True)
    conv2d(x, w, padding=1).sum().backward()
    assert x.grad is None and w.grad is not None
    node_free = conv2d(x, w.detach())  # nothing requires grad: no graph node recorded
    assert node_free._ctx is None


# ------------------------------------------------------------------ padding='same' / 'valid' and the size helper


@pytest.mark.parametrize("kernel", [(1, 1), (2, 2), (3, 4), (4, 5)])
@pytest.mark.parametrize("dilation", [1, 2, (1, 3)])
def test_same_padding_keeps_size_and_pads_bottom_right(kernel, dilation):
    x, w = rand(2, 2, 7, 6), rand(3, 2, *kernel, seed=1)
    out = conv2d(tg.tensor(x), tg.tensor(w), padding="same", dilation=dilation).numpy()
    assert out.shape == (2, 3, 7, 6)
    # independent: pad explicitly (extra row/col at the bottom/right, PyTorch's rule) and run a 'valid' conv
    d = (dilation, dilation) if isinstance(dilation, int) else dilation
    total = [d[i] * (kernel[i] - 1) for i in range(2)]
    pads = ((0, 0), (0, 0), (total[0] // 2, total[0] - total[0] // 2), (total[1] // 2, total[1] - total[1] // 2))
    padded = np.pad(x, pads)
    ref = R.conv2d_forward(padded, w, None, (1, 1), (0, 0), d, 1, (7, 6))
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


def test_same_padding_gradcheck_even_kernel():
    x = tg.tensor(rand(1, 2, 5, 4), requires_grad=True)
    w = tg.tensor(rand(2, 2, 2, 4, seed=1), requires_grad=True)
    assert tg.gradcheck(lambda x, w: conv2d(x, w, padding="same", dilation=(2, 1)), x, w)


def test_valid_padding_is_zero_padding():
    x, w = tg.tensor(rand(1, 2, 6, 6)), tg.tensor(rand(3, 2, 3, 3, seed=1))
    np.testing.assert_array_equal(conv2d(x, w, padding="valid").numpy(), conv2d(x, w, padding=0).numpy())


def test_output_size_helper():
    # LeNet: 28x28, 5x5, padding 2 -> 28x28; ResNet stem: 224, 7x7, stride 2, padding 3 -> 112
    assert conv2d_output_size(28, 5, padding=2) == (28, 28)
    assert conv2d_output_size((224, 224), 7, stride=2, padding=3) == (112, 112)
    assert conv2d_output_size((10, 7), (3, 2), stride=(2, 1), padding=(1, 0), dilation=(2, 3)) == (4, 4)
    assert conv2d_output_size((5, 8), 4, padding="same", dilation=2) == (5, 8)
    assert conv2d_output_size(5, 7) == (-1, -1)  # does not fit: the caller decides what to do
    assert conv2d_padding("same", (4, 3), dilation=(1, 2)) == (1, 2, 2, 2)


# ------------------------------------------------------------------ bad input: clear errors


def _err(exc, match, x=(2, 4, 8, 8), w=(6, 4, 3, 3), b=None, **kwargs):
    xt, wt = tg.zeros(*x), tg.zeros(*w)
    bt = None if b is None else tg.zeros(*b)
    with pytest.raises(exc, match=match):
        conv2d(xt, wt, bt, **kwargs)


def test_error_channel_mismatch_names_both_shapes():
    _err(ValueError, r"channel mismatch.*\(2, 4, 8, 8\).*C_in=4.*\(6, 3, 3, 3\)", w=(6, 3, 3, 3))
    _err(ValueError, r"channel mismatch.*groups=2", w=(6, 4, 3, 3), groups=2)


def test_error_kernel_larger_than_padded_input():
    _err(
        ValueError,
        r"kernel larger than the padded input.*\(2, 4, 8, 8\).*padded to 8x8.*\(6, 4, 9, 3\)",
        w=(6, 4, 9, 3),
    )
    _err(ValueError, r"kernel larger.*padded to 10x10.*dilation=\(5, 5\) spans 11x11", padding=1, dilation=5)


def test_error_stride_dilation_padding_values():
    _err(ValueError, r"stride must be positive, got \(0, 1\)", stride=(0, 1))
    _err(ValueError, r"stride must be positive", stride=-1)
    _err(ValueError, r"dilation must be positive, got \(0, 0\)", dilation=0)
    _err(ValueError, r"padding must be non-negative, got \(1, -1\)", padding=(1, -1))
    _err(ValueError, r"padding must be an int, a pair of ints, 'valid' or 'same', got 'full'", padding="full")
    _err(TypeError, r"stride must be an int or a pair of ints.*1.5", stride=1.5)
    _err(TypeError, r"padding must be an int or a pair of ints.*\(1, 2, 3\)", padding=(1, 2, 3))


def test_error_same_with_stride():
    _err(ValueError, r"padding='same' is only defined for stride 1.*stride=\(2, 2\)", padding="same", stride=2)


def test_error_groups():
    _err(ValueError, r"groups=3 must divide both the input channels \(C_in=4.*C_out=6", w=(6, 1, 3, 3), groups=3)
    _err(ValueError, r"groups=4 must divide.*C_out=6", w=(6, 1, 3, 3), groups=4)
    _err(ValueError, r"groups must be a positive int, got 0", groups=0)


def test_error_ranks():
    _err(ValueError, r"input x of shape \(N, C_in, H, W\).*2-D input of shape \(4, 8\)", x=(4, 8))
    _err(ValueError, r"5-D input of shape \(1, 2, 4, 8, 8\)", x=(1, 2, 4, 8, 8))
    _err(ValueError, r"weight of shape \(C_out, C_in // groups, kH, kW\).*3-D weight of shape \(6, 4, 3\)", w=(6, 4, 3))
    _err(ValueError, r"bias must be 1-D of shape \(C_out,\) = \(6,\).*got shape \(6, 1\)", b=(6, 1))
    _err(ValueError, r"bias must be 1-D.*got shape \(5,\)", b=(5,))


def test_error_dtypes():
    x, w = tg.zeros(1, 2, 4, 4), tg.zeros(3, 2, 3, 3, dtype=tg.float64)
    with pytest.raises(ValueError, match=r"input x has dtype float32 but weight has dtype float64"):
        conv2d(x, w)
    with pytest.raises(ValueError, match=r"bias has dtype float64 but input x and weight have dtype float32"):
        conv2d(x, w.float(), tg.zeros(3, dtype=tg.float64))
    with pytest.raises(TypeError, match=r"input x must be float32 or float64, got dtype int64"):
        conv2d(tg.tensor(np.zeros((1, 2, 4, 4), dtype=np.int64)), w)


# ------------------------------------------------------------------ PyTorch, when installed


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(stride=2, padding=1),
        dict(padding="same", dilation=2),
        dict(padding="same"),  # even kernel width below: extra column on the right
        dict(stride=(2, 1), padding=(0, 2), dilation=(1, 2), groups=2),
        dict(padding=1, groups=4),  # depthwise
    ],
)
def test_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    groups = kwargs.get("groups", 1)
    x, w, b = rand(2, 4, 9, 8), rand(8, 4 // groups, 3, 4, seed=1), rand(8, seed=2)
    g = None
    ours = [tg.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    out = conv2d(*ours, **kwargs)
    ref = torch.nn.functional.conv2d(*theirs, **kwargs)
    g = rand(*ref.shape, seed=3)
    out.backward(g)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-10)
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-10)
