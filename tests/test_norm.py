"""Batch normalization: kernels (fast == reference == NumPy), running statistics, gradients, errors, PyTorch."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygraph as tg
from tinygraph.functional.norm import batch_norm
from tinygraph.kernels.cpu import norm as K
from tinygraph.kernels.cpu.reference import norm as R

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # torch is a benchmark-only extra, never a dependency
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")

seeds = st.integers(0, 2**31 - 1)
# (N, C) and (N, C, H, W), at least 2 values per channel
shapes = st.one_of(
    st.tuples(st.integers(2, 6), st.integers(1, 4)),
    st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4)),
).filter(lambda s: np.prod(s) // s[1] > 1)


def numpy_batch_norm(x, weight, bias, eps):
    """The textbook formula, vectorized: statistics over every axis except the channel axis 1."""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean, var = x.mean(axis=axes), x.var(axis=axes)  # np.var is the biased one (ddof=0)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * weight.reshape(shape) + bias.reshape(shape)


def as_ncl(x):
    return np.ascontiguousarray(x).reshape(x.shape[0], x.shape[1], -1)


# ------------------------------------------------------------------ kernels


@given(shapes, st.sampled_from([np.float32, np.float64]), seeds, st.booleans())
def test_kernels_fast_equal_reference_equal_numpy(shape, dtype, seed, batch_stats):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3 + 5).astype(dtype)  # a large mean: two-pass variance matters
    w, b = rng.standard_normal(shape[1]).astype(dtype), rng.standard_normal(shape[1]).astype(dtype)
    x3 = as_ncl(x)
    ref_mean, ref_var = R.batch_norm_stats(x3)
    axes = (0,) + tuple(range(2, x.ndim))
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ref_mean, x.astype(np.float64).mean(axis=axes), **tol)
    np.testing.assert_allclose(ref_var, x.astype(np.float64).var(axis=axes), **tol)
    inv_std = 1.0 / np.sqrt(ref_var + 1e-5)
    y_ref = R.batch_norm_forward(x3, ref_mean, inv_std, w, b)
    np.testing.assert_allclose(y_ref.reshape(shape), numpy_batch_norm(x.astype(np.float64), w, b, 1e-5), **tol)
    g = rng.standard_normal(x3.shape).astype(dtype)
    grads_ref = R.batch_norm_backward(g, x3, ref_mean, inv_std, w, batch_stats)
    grad_tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-9)

    for stats, forward, backward in [(K.batch_norm_stats, K.batch_norm_forward, K.batch_norm_backward)]:
        mean, var = stats(x3)
        np.testing.assert_allclose(mean, ref_mean, **tol)
        np.testing.assert_allclose(var, ref_var, **tol)
        y = forward(x3, ref_mean, inv_std, w, b)
        assert y.dtype == dtype
        np.testing.assert_allclose(y, y_ref, **tol)
        grads = backward(g, x3, ref_mean, inv_std, w, batch_stats)
        assert grads[0].dtype == dtype
        for a, r in zip(grads, grads_ref):
            np.testing.assert_allclose(a, r, **grad_tol)


def test_reference_backward_matches_finite_differences_of_reference_forward():
    """The oracle itself: its step-by-step chain rule against central differences of its own forward."""
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((3, 2, 4)), rng.standard_normal(2), rng.standard_normal(2)
    g = rng.standard_normal(x.shape)

    def loss(x_):
        mean, var = R.batch_norm_stats(x_)
        return np.sum(g * R.batch_norm_forward(x_, mean, 1 / np.sqrt(var + 1e-5), w, b))

    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = 1e-6
        numeric[i] = (loss(x + e) - loss(x - e)) / 2e-6
    mean, var = R.batch_norm_stats(x)
    dx, _, _ = R.batch_norm_backward(g, x, mean, 1 / np.sqrt(var + 1e-5), w, True)
    np.testing.assert_allclose(dx, numeric, rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------ the functional: statistics


@given(shapes, seeds, st.floats(0.0, 1.0))
def test_training_updates_running_stats_in_place_with_unbiased_variance(shape, seed, momentum):
    rng = np.random.default_rng(seed)
    C = shape[1]
    running_mean = tg.tensor(rng.standard_normal(C), dtype=tg.float64)
    running_var = tg.tensor(rng.random(C) + 0.5, dtype=tg.float64)
    expected_mean, expected_var = running_mean.data.copy(), running_var.data.copy()
    buffers = running_mean.data, running_var.data
    axes = (0,) + tuple(range(2, len(shape)))
    for _ in range(3):
        x = rng.standard_normal(shape) * 2 + 1
        y = batch_norm(tg.tensor(x), running_mean, running_var, training=True, momentum=momentum)
        expected_mean = (1 - momentum) * expected_mean + momentum * x.mean(axis=axes)
        expected_var = (1 - momentum) * expected_var + momentum * x.var(axis=axes, ddof=1)  # UNBIASED
        # ...while the output itself is normalized with the BIASED batch variance
        np.testing.assert_allclose(y.data, numpy_batch_norm(x, np.ones(C), np.zeros(C), 1e-5), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(running_mean.data, expected_mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(running_var.data, expected_var, rtol=1e-12, atol=1e-12)
    assert running_mean.data is buffers[0] and running_var.data is buffers[1]  # in place: views stay valid


def test_running_var_uses_bessel_correction_worked_example():
    # one channel, values 1 and 3: mean 2, biased var 1, unbiased var 2
    rm, rv = tg.zeros(1), tg.ones(1)
    batch_norm(tg.tensor([[1.0], [3.0]]), rm, rv, training=True, momentum=0.5)
    np.testing.assert_allclose(rm.data, [1.0])  # 0.5*0 + 0.5*2
    np.testing.assert_allclose(rv.data, [1.5])  # 0.5*1 + 0.5*2, not 0.5*1 + 0.5*1


def test_float32_buffers_are_updated_with_float32_input():
    rm, rv = tg.zeros(3), tg.ones(3)
    x = tg.randn(4, 3, 2, 2)
    y = batch_norm(x, rm, rv, training=True)
    assert y.dtype == rm.dtype == rv.dtype == tg.float32
    assert not np.allclose(rm.data, 0.0)


@given(shapes, seeds)
def test_eval_uses_running_stats_and_leaves_them_alone(shape, seed):
    rng = np.random.default_rng(seed)
    C = shape[1]
    rm, rv = rng.standard_normal(C), rng.random(C) + 0.1
    w, b = rng.standard_normal(C), rng.standard_normal(C)
    x = rng.standard_normal(shape)
    running_mean, running_var = tg.tensor(rm), tg.tensor(rv)
    y = batch_norm(tg.tensor(x), running_mean, running_var, tg.tensor(w), tg.tensor(b), training=False, eps=1e-3)
    s = (1, -1) + (1,) * (len(shape) - 2)
    expected = (x - rm.reshape(s)) / np.sqrt(rv.reshape(s) + 1e-3) * w.reshape(s) + b.reshape(s)
    np.testing.assert_allclose(y.data, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(running_mean.data, rm)
    np.testing.assert_array_equal(running_var.data, rv)


def test_without_running_stats_batch_stats_are_used_and_eval_mode_raises_as_pytorch():
    x = np.random.default_rng(0).standard_normal((5, 3))
    y = batch_norm(tg.tensor(x), None, None, training=True)
    np.testing.assert_allclose(y.data, numpy_batch_norm(x, np.ones(3), np.zeros(3), 1e-5), rtol=1e-10)
    with pytest.raises(RuntimeError, match="running_mean must be defined in evaluation mode"):
        batch_norm(tg.tensor(x), None, None, training=False)
    layer = tg.nn.BatchNorm1d(3, track_running_stats=False).eval()  # the module still uses batch statistics
    np.testing.assert_allclose(layer(tg.tensor(x, dtype=tg.float32)).data, y.data, rtol=1e-4, atol=1e-5)


def test_one_value_per_channel_is_fine_in_eval():
    y = batch_norm(tg.tensor([[1.0, 2.0]]), tg.zeros(2), tg.ones(2), training=False)
    np.testing.assert_allclose(y.data, [[1.0, 2.0]] / np.sqrt(1 + 1e-5), rtol=1e-6)


# ------------------------------------------------------------------ the functional: gradients


@settings(max_examples=20)
@given(shapes, seeds, st.booleans(), st.booleans())
def test_gradcheck_through_batch_statistics(shape, seed, affine, track):
    rng = np.random.default_rng(seed)
    C = shape[1]
    x = tg.tensor(rng.standard_normal(shape), requires_grad=True)
    w = tg.tensor(rng.standard_normal(C), requires_grad=True)
    b = tg.tensor(rng.standard_normal(C), requires_grad=True)
    rm, rv = (tg.zeros(C, dtype=tg.float64), tg.ones(C, dtype=tg.float64)) if track else (None, None)
    if affine:
        assert tg.gradcheck(lambda x_, w_, b_: batch_norm(x_, rm, rv, w_, b_, training=True), x, w, b)
    else:
        assert tg.gradcheck(lambda x_: batch_norm(x_, rm, rv, training=True), x)


@settings(max_examples=20)
@given(shapes, seeds)
def test_gradcheck_eval_mode(shape, seed):
    rng = np.random.default_rng(seed)
    C = shape[1]
    rm, rv = tg.tensor(rng.standard_normal(C)), tg.tensor(rng.random(C) + 0.5)
    x = tg.tensor(rng.standard_normal(shape), requires_grad=True)
    w = tg.tensor(rng.standard_normal(C), requires_grad=True)
    b = tg.tensor(rng.standard_normal(C), requires_grad=True)
    assert tg.gradcheck(lambda x_, w_, b_: batch_norm(x_, rm, rv, w_, b_, training=False), x, w, b)


def test_gradient_of_sum_through_batch_stats_is_zero():
    # sum over a channel of x_hat is always 0, so d(sum y)/dx = 0 when gamma is constant
    x = tg.randn(4, 3, 2, 2, dtype=tg.float64, requires_grad=True)
    batch_norm(x, None, None, training=True).sum().backward()
    np.testing.assert_allclose(x.grad.data, 0.0, atol=1e-12)


def test_graph_node_and_no_grad_for_buffers():
    rm, rv = tg.zeros(2), tg.ones(2)
    x = tg.randn(3, 2, requires_grad=True)
    y = batch_norm(x, rm, rv, training=True)
    assert y.grad_fn.name == "batch_norm"
    y.sum().backward()
    assert rm.grad is None and rv.grad is None and x.grad.shape == (3, 2)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: batch_norm(tg.randn(1, 3), tg.zeros(3), tg.ones(3), training=True),
            "Expected more than 1 value per channel when training, got input of shape (1, 3)",
        ),
        (
            lambda: batch_norm(tg.randn(1, 3, 1, 1), None, None, training=True),
            "Expected more than 1 value per channel when training, got input of shape (1, 3, 1, 1)",
        ),
        (lambda: batch_norm(tg.randn(3), None, None), "expected input of shape (N, C) or (N, C, H, W), got shape (3,)"),
        (
            lambda: batch_norm(tg.randn(2, 3, 4, 4), tg.zeros(4), tg.ones(4)),
            "running_mean must have shape (3,), one value per channel of the input of shape (2, 3, 4, 4), "
            "got shape (4,)",
        ),
        (lambda: batch_norm(tg.randn(2, 3), tg.zeros(3), tg.ones(2)), "running_var must have shape (3,)"),
        (lambda: batch_norm(tg.randn(2, 3), None, None, tg.ones(3, 1)), "weight must have shape (3,)"),
        (lambda: batch_norm(tg.randn(2, 3), None, None, None, tg.zeros(2)), "bias must have shape (3,)"),
        (lambda: batch_norm(tg.randn(2, 3), tg.zeros(3), None), "give both running_mean and running_var"),
    ],
)
def test_bad_arguments_raise_value_error(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: batch_norm(tg.tensor(np.ones((2, 3), np.int64)), None, None), "float32 or float64 input"),
        (lambda: batch_norm(tg.tensor(np.ones((2, 3), np.float16)), None, None), "got dtype float16"),
        (lambda: batch_norm(tg.randn(2, 3), None, None, tg.ones(3, dtype=tg.float64)), "weight has dtype float64"),
        (lambda: batch_norm(tg.randn(2, 3), np.zeros(3), np.ones(3)), "running_mean must be a Tensor"),
        (lambda: batch_norm(tg.randn(2, 3), None, None, momentum=None), "momentum must be a number"),
    ],
)
def test_bad_types_raise_type_error(call, message):
    with pytest.raises(TypeError) as info:
        call()
    assert message in str(info.value)


# ------------------------------------------------------------------ agreement with PyTorch


@needs_torch
@settings(max_examples=30)
@given(shapes, seeds, st.booleans())
def test_matches_torch_forward_backward_and_running_stats(shape, seed, training):
    rng = np.random.default_rng(seed)
    C = shape[1]
    x, w, b, g = rng.standard_normal(shape), rng.standard_normal(C), rng.standard_normal(C), rng.standard_normal(shape)
    rm, rv = rng.standard_normal(C), rng.random(C) + 0.5
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    rmt, rvt = torch.tensor(rm), torch.tensor(rv)
    ref = F.batch_norm(xt, rmt, rvt, wt, bt, training=training, momentum=0.3, eps=1e-4)
    ref.backward(torch.tensor(g))
    xg, wg, bg = (tg.tensor(a, requires_grad=True) for a in (x, w, b))
    rmg, rvg = tg.tensor(rm), tg.tensor(rv)
    out = batch_norm(xg, rmg, rvg, wg, bg, training=training, momentum=0.3, eps=1e-4)
    out.backward(g)
    close = dict(rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), **close)
    np.testing.assert_allclose(rmg.data, rmt.numpy(), **close)
    np.testing.assert_allclose(rvg.data, rvt.numpy(), **close)
    for mine, theirs in ((xg, xt), (wg, wt), (bg, bt)):
        np.testing.assert_allclose(mine.grad.data, theirs.grad.numpy(), **close)
