"""The CNN kernels of ``tinygraph/kernels/cuda`` against the CPU kernels and independent references.

* conv2d: all three kernels against the CPU reference loops (float64) and the fast CPU kernels
  (float32); the backward kernels also against the ADJOINT identity <conv(x, w), g> = <x, dx(g)>
  = <w, dw(g)> (convolution is linear in x and in w, so its gradients are the transposed maps) and
  against central finite differences.
* pooling and batch norm: against ``tinygraph.kernels.cpu`` (fast kernels and ``*_reference``).
* cross-entropy and the optimizers: against NumPy formulas and tinygraph's own optimizers.

Run with ``NUMBA_ENABLE_CUDASIM=1 python -m pytest -m cuda`` (or on a GPU); skipped otherwise.
"""

import numpy as np
import pytest
from _cuda_support import assert_same, host, skip_without_cuda

pytestmark = pytest.mark.cuda
skip_without_cuda()

from tinygraph.kernels.cpu import conv as cpu_conv  # noqa: E402
from tinygraph.kernels.cpu import norm as cpu_norm  # noqa: E402
from tinygraph.kernels.cpu import pool as cpu_pool  # noqa: E402
from tinygraph.kernels.cpu import special as cpu_special  # noqa: E402
from tinygraph.kernels.cpu.reference import conv as ref_conv  # noqa: E402
from tinygraph.kernels.cpu.reference import norm as ref_norm  # noqa: E402
from tinygraph.kernels.cpu.reference import pool as ref_pool  # noqa: E402
from tinygraph.kernels.cuda import conv, loss, norm, optim, pool, special  # noqa: E402
from tinygraph.kernels.cuda.array import to_device as dev  # noqa: E402
from tinygraph.kernels.cuda.launch import REDUCE_THREADS  # noqa: E402

RNG = np.random.default_rng(7)


def rand(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------------------- conv2d


def output_size(in_size, kernel, stride, padding, dilation, extra=(0, 0)):
    """(H + pad_before + pad_after - d(k-1) - 1) // s + 1; ``extra`` is padding after beyond ``padding``."""
    return tuple((n + 2 * p + e - d * (k - 1) - 1) // s + 1
                 for n, k, s, p, d, e in zip(in_size, kernel, stride, padding, dilation, extra))


def conv_reference(x, w, b, geometry, out_size):
    return ref_conv.conv2d_forward(x, w, b, *geometry, out_size)


CONV_CASES = [
    # (N, C, H, W), K, (kH, kW), stride, padding, dilation, groups, extra padding after (as padding='same')
    ((2, 1, 5, 5), 2, (3, 3), (1, 1), (0, 0), (1, 1), 1, (0, 0)),
    ((1, 2, 6, 5), 3, (3, 2), (2, 1), (1, 0), (1, 1), 1, (0, 0)),
    ((2, 4, 5, 5), 4, (3, 3), (1, 2), (1, 1), (1, 1), 2, (0, 0)),
    ((1, 2, 7, 6), 2, (2, 3), (2, 2), (2, 1), (2, 2), 1, (0, 0)),
    ((1, 3, 4, 4), 3, (1, 1), (1, 1), (0, 0), (1, 1), 3, (0, 0)),
    ((1, 2, 4, 5), 2, (2, 2), (1, 1), (0, 0), (1, 1), 1, (1, 1)),  # padding='same' with an even kernel
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[f"case{i}" for i in range(len(CONV_CASES))])
def test_conv2d_matches_cpu_forward_adjoint_and_finite_differences(case):
    xs, K, ks, stride, padding, dilation, groups, extra = case
    x, w, b = rand(*xs), rand(K, xs[1] // groups, *ks), rand(K)
    geometry = (stride, padding, dilation, groups)
    out_size = output_size(xs[2:], ks, stride, padding, dilation, extra)
    want = conv_reference(x, w, b, geometry, out_size)
    assert_same(conv.conv2d_forward(dev(x), dev(w), dev(b), *geometry, out_size), want, rtol=1e-10, atol=1e-12)
    want = conv_reference(x, w, None, geometry, out_size)
    assert_same(conv.conv2d_forward(dev(x), dev(w), None, *geometry, out_size), want, rtol=1e-10, atol=1e-12)

    g = rand(*want.shape)
    dx = host(conv.conv2d_backward_input(dev(g), dev(w), *geometry, xs[2:]))
    dw = host(conv.conv2d_backward_weight(dev(x), dev(g), *geometry, ks))
    assert_same(dx, ref_conv.conv2d_backward_input(g, w, *geometry, xs[2:]), rtol=1e-10, atol=1e-12)
    assert_same(dw, ref_conv.conv2d_backward_weight(x, g, *geometry, ks), rtol=1e-10, atol=1e-12)
    both = conv.conv2d_backward(dev(g), dev(x), dev(w), *geometry, xs[2:], ks)
    assert_same(both[0], dx, rtol=1e-12)
    assert_same(both[1], dw, rtol=1e-12)
    assert conv.conv2d_backward(dev(g), None, dev(w), *geometry, xs[2:], ks, need_weight=False)[1] is None
    # adjoint identities: the backward kernels are the transposes of the (linear) forward map
    np.testing.assert_allclose(np.sum(want * g), np.sum(x * dx), rtol=1e-10)
    np.testing.assert_allclose(np.sum(want * g), np.sum(w * dw), rtol=1e-10)
    # ... and a few elements against central finite differences
    eps = 1e-6
    for _ in range(2):
        i = tuple(RNG.integers(0, n) for n in x.shape)
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        fd = np.sum((conv_reference(xp, w, None, geometry, out_size) - conv_reference(xm, w, None, geometry, out_size))
                    * g) / (2 * eps)
        assert dx[i] == pytest.approx(fd, rel=1e-5, abs=1e-7)


def test_conv2d_float32_and_long_weight_sums_match_the_fast_cpu_kernel():
    # N*OH*OW > REDUCE_THREADS positions per weight: several strides of the block loop
    x, w, b = rand(3, 2, 4, 4, dtype=np.float32), rand(2, 2, 2, 2, dtype=np.float32), rand(2, dtype=np.float32)
    assert 3 * 3 * 3 > REDUCE_THREADS
    geometry, out_size = ((1, 1), (0, 0), (1, 1), 1), (3, 3)
    want = cpu_conv.conv2d_forward(x, w, b, *geometry, out_size)
    assert_same(conv.conv2d_forward(dev(x), dev(w), dev(b), *geometry, out_size), want, rtol=1e-5, atol=1e-5)
    g = rand(*want.shape, dtype=np.float32)
    assert_same(conv.conv2d_backward_weight(dev(x), dev(g), *geometry, (2, 2)),
                cpu_conv.conv2d_backward_weight(x, g, *geometry, (2, 2)), rtol=1e-4, atol=1e-5)
    assert_same(conv.conv2d_backward_input(dev(g), dev(w), *geometry, (4, 4)),
                cpu_conv.conv2d_backward_input(g, w, *geometry, (4, 4)), rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- pooling

POOL_CASES = [
    # (N, C, H, W), kernel, stride, padding, dilation
    ((2, 2, 4, 4), (2, 2), (2, 2), (0, 0), (1, 1)),
    ((1, 2, 5, 6), (3, 3), (2, 1), (1, 1), (1, 1)),
    ((1, 1, 7, 5), (2, 3), (1, 2), (1, 1), (2, 1)),
]


def pool_out(xs, kernel, stride, padding, dilation):
    return output_size(xs[2:], kernel, stride, padding, dilation)


@pytest.mark.parametrize("case", POOL_CASES, ids=[f"case{i}" for i in range(len(POOL_CASES))])
def test_max_pool_matches_cpu(case):
    xs, kernel, stride, padding, dilation = case
    x = rand(*xs)
    x[0, 0, 0, :2] = x[0, 0, 0, 0]  # a tie: the first maximum must win on both devices
    out_size = pool_out(xs, kernel, stride, padding, dilation)
    want, want_arg = ref_pool.max_pool2d_forward(x, kernel, stride, padding, dilation, out_size)
    out, arg = pool.max_pool2d_forward(dev(x), kernel, stride, padding, dilation, out_size)
    assert_same(out, want)
    assert_same(arg, want_arg)
    g = rand(*want.shape)
    assert_same(pool.max_pool2d_backward(dev(g), arg, xs[2:]), cpu_pool.max_pool2d_backward(g, want_arg, xs[2:]),
                rtol=1e-12)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("divisor_override", [0, 3])
@pytest.mark.parametrize("case", POOL_CASES[:2], ids=["case0", "case1"])
def test_avg_pool_matches_cpu(case, count_include_pad, divisor_override):
    xs, kernel, stride, padding, _ = case
    x = rand(*xs)
    out_size = pool_out(xs, kernel, stride, padding, (1, 1))
    args = (kernel, stride, padding, out_size, count_include_pad, divisor_override)
    want = ref_pool.avg_pool2d_forward(x, *args)
    assert_same(pool.avg_pool2d_forward(dev(x), *args), want, rtol=1e-12)
    g = rand(*want.shape)
    bargs = (xs[2:], kernel, stride, padding, count_include_pad, divisor_override)
    assert_same(pool.avg_pool2d_backward(dev(g), *bargs), ref_pool.avg_pool2d_backward(g, *bargs),
                rtol=1e-12)


def test_avg_pool_ceil_mode_window_past_the_padding():
    # H=5, k=2, s=2, p=1 with ceil_mode: the last window hangs past the padded input (PyTorch's rule)
    x = rand(1, 1, 5, 5)
    args = ((2, 2), (2, 2), (1, 1), (3, 3), True, 0)
    assert_same(pool.avg_pool2d_forward(dev(x), *args), cpu_pool.avg_pool2d_forward(x, *args), rtol=1e-12)


@pytest.mark.parametrize("in_size,out_size", [((5, 7), (3, 2)), ((4, 4), (1, 1)), ((3, 5), (3, 5))])
def test_adaptive_avg_pool_matches_cpu(in_size, out_size):
    x = rand(1, 2, *in_size)
    want = ref_pool.adaptive_avg_pool2d_forward(x, out_size)
    assert_same(pool.adaptive_avg_pool2d_forward(dev(x), out_size), want, rtol=1e-12)
    g = rand(*want.shape)
    assert_same(pool.adaptive_avg_pool2d_backward(dev(g), in_size),
                ref_pool.adaptive_avg_pool2d_backward(g, in_size), rtol=1e-12)


# ------------------------------------------------------------------------ batch norm


@pytest.mark.parametrize("shape", [(2, 3, 5), (3 * REDUCE_THREADS, 2, 1)], ids=["NCL", "long-channel"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batch_norm_matches_cpu(shape, dtype):
    x = (rand(*shape) * 3 + 5).astype(dtype)  # a large mean: the two-pass variance matters
    mean, var = norm.batch_norm_stats(dev(x))
    want_mean, want_var = ref_norm.batch_norm_stats(x)
    assert_same(mean, want_mean, rtol=1e-6)
    assert_same(var, want_var, rtol=1e-5)

    C = shape[1]
    inv_std = 1 / np.sqrt(want_var + 1e-5)
    weight, bias = rand(C, dtype=dtype), rand(C, dtype=dtype)
    y = norm.batch_norm_forward(dev(x), dev(want_mean), dev(inv_std), dev(weight), dev(bias))
    assert_same(y, cpu_norm.batch_norm_forward(x, want_mean, inv_std, weight, bias), rtol=1e-5, atol=1e-5)

    g = rand(*shape, dtype=dtype)
    for batch_stats in (True, False):
        got = norm.batch_norm_backward(dev(g), dev(x), dev(want_mean), dev(inv_std), dev(weight), batch_stats)
        want = ref_norm.batch_norm_backward(g, x, want_mean, inv_std, weight, batch_stats)
        for a, b in zip(got, want):
            assert_same(a, b.astype(host(a).dtype), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------- cross-entropy


def test_cross_entropy_forward_backward_matches_numpy():
    z = rand(5, 4) * 10
    z[0] = [1e4, 0, -1e4, 3]  # large logits: the shifted form must not overflow
    labels = np.array([0, 3, -100, 1, 2])
    weight = np.array([1.0, 2.0, 0.5, 1.0])
    q = loss.one_hot_targets(dev(labels), 4, dev(weight), ignore_index=-100, label_smoothing=0.1)
    want_q = np.zeros((5, 4))
    for r, label in enumerate(labels):
        if label != -100:
            want_q[r] = 0.1 / 4 * weight
            want_q[r, label] += 0.9 * weight[label]
    assert_same(q, want_q, rtol=1e-12)

    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    losses, log_p_dev = loss.cross_entropy_forward(dev(z), q)
    assert_same(losses, -(want_q * log_p).sum(axis=1), rtol=1e-10)
    assert_same(log_p_dev, log_p, rtol=1e-10)
    g = rand(5)
    want_d = g[:, None] * (want_q.sum(axis=1, keepdims=True) * np.exp(log_p) - want_q)
    assert_same(loss.cross_entropy_backward(dev(g), log_p_dev, q), want_d, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------ optimizers


@pytest.mark.parametrize(
    "momentum,dampening,weight_decay,nesterov",
    [(0.0, 0.0, 0.0, False), (0.9, 0.0, 0.01, False), (0.9, 0.0, 0.0, True), (0.5, 0.3, 0.1, False)],
)
def test_fused_sgd_matches_tinygraph_sgd(momentum, dampening, weight_decay, nesterov):
    import tinygraph as tg
    from tinygraph import optim as tg_optim
    from tinygraph.nn import Parameter

    p0, grads = rand(3, 4), [rand(3, 4) for _ in range(3)]
    p = Parameter(tg.tensor(p0))
    opt = tg_optim.SGD([p], lr=0.1, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                       nesterov=nesterov)
    pd, buf = dev(p0), dev(np.zeros_like(p0))
    for t, g in enumerate(grads):
        p.grad = tg.tensor(g)
        opt.step()
        optim.sgd_step(pd, dev(g), buf, 0.1, momentum, dampening, weight_decay, nesterov, first_step=t == 0)
    assert_same(pd, p.data, rtol=1e-12)


@pytest.mark.parametrize("cls,weight_decay,amsgrad", [("Adam", 0.0, False), ("Adam", 0.1, True), ("AdamW", 0.1, False)])
def test_fused_adam_matches_tinygraph_adam(cls, weight_decay, amsgrad):
    import tinygraph as tg
    from tinygraph import optim as tg_optim
    from tinygraph.nn import Parameter

    p0, grads = rand(2, 3), [rand(2, 3) for _ in range(3)]
    p = Parameter(tg.tensor(p0))
    opt = getattr(tg_optim, cls)([p], lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=weight_decay,
                                 amsgrad=amsgrad)
    pd, m, v, vmax = dev(p0), dev(np.zeros_like(p0)), dev(np.zeros_like(p0)), dev(np.zeros_like(p0))
    for t, g in enumerate(grads, start=1):
        p.grad = tg.tensor(g)
        opt.step()
        optim.adam_step(pd, dev(g), m, v, 0.01, 0.9, 0.99, 1e-8, weight_decay, t, decoupled=cls == "AdamW",
                        max_exp_avg_sq=vmax if amsgrad else None)
    assert_same(pd, p.data, rtol=1e-10)


# --------------------------------------------------------------------------- special


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erf_matches_cpu(dtype):
    x = np.array([[-3.0, -0.5, 0.0], [0.25, 1.0, 6.0]], dtype=dtype)
    assert_same(special.erf(dev(x)), cpu_special.erf(x), rtol=1e-6)
