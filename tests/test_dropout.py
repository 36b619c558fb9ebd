"""Dropout: inverted scaling, reproducibility under tg.manual_seed, eval identity, gradients, errors."""

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.functional.dropout import dropout, dropout2d


def test_reproducible_under_manual_seed():
    x = tg.randn(8, 16)
    tg.manual_seed(123)
    a = dropout(x, 0.5)
    tg.manual_seed(123)
    b = dropout(x, 0.5)
    tg.manual_seed(124)
    c = dropout(x, 0.5)
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.array_equal(a.data, c.data)
    d = dropout(x, 0.5)  # the generator moved on: the next mask is a new one
    assert not np.array_equal(c.data, d.data)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_inverted_scaling_keeps_the_mean(p):
    tg.manual_seed(0)
    n = 200_000
    y = dropout(tg.ones(n, dtype=tg.float64), p).data
    kept = y != 0
    # survivors are exactly 1/(1-p); the rest exactly 0
    np.testing.assert_allclose(y[kept], 1.0 / (1.0 - p))
    # fraction dropped ~ p: binomial standard error sqrt(p(1-p)/n) <= 0.0012, allow ~5 of them
    assert abs((~kept).mean() - p) < 0.006
    # E[y] = 1: standard error sqrt(p/((1-p) n)) <= 0.0045, allow ~5 of them
    assert abs(y.mean() - 1.0) < 0.025


def test_mean_preserved_on_random_input():
    tg.manual_seed(1)
    x = tg.tensor(np.random.default_rng(1).random(100_000) + 1.0)
    y = dropout(x, 0.3)
    assert abs(y.data.mean() / x.data.mean() - 1.0) < 0.01


def test_eval_and_p_zero_are_the_identity():
    x = tg.randn(4, 5, requires_grad=True)
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x
    assert dropout2d(x.reshape(1, 4, 5, 1), 0.9, training=False).shape == (1, 4, 5, 1)


def test_p_one_gives_zeros_and_zero_gradient():
    x = tg.randn(3, 4, requires_grad=True)
    y = dropout(x, 1.0)
    np.testing.assert_array_equal(y.data, 0.0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, 0.0)


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64])
def test_gradient_is_mask_times_scale(dtype):
    tg.manual_seed(7)
    x = tg.tensor(np.random.default_rng(7).random((6, 7)) + 0.5, dtype=dtype, requires_grad=True)
    y = dropout(x, 0.4)
    g = np.random.default_rng(8).standard_normal(y.shape).astype(dtype)
    y.backward(g)
    mask = (y.data != 0) / (1 - 0.4)  # x > 0 everywhere, so y == 0 exactly where dropped
    assert 0 < (y.data == 0).sum() < y.data.size
    np.testing.assert_allclose(y.data, x.data * mask, rtol=1e-6)
    np.testing.assert_allclose(x.grad.data, g * mask, rtol=1e-6)
    assert y.dtype == x.grad.dtype == dtype


def test_gradcheck_with_a_fixed_mask():
    def f(t):
        tg.manual_seed(3)  # the same mask on every evaluation
        return dropout(t, 0.3)

    assert tg.gradcheck(f, tg.randn(4, 5, dtype=tg.float64, requires_grad=True))


def test_dropout2d_drops_whole_channels():
    tg.manual_seed(5)
    x = tg.ones(16, 8, 3, 3, requires_grad=True)
    y = dropout2d(x, 0.5)
    planes = y.data.reshape(16, 8, 9)
    assert ((planes == 0).all(axis=2) | (planes == 2.0).all(axis=2)).all()
    dropped = (planes == 0).all(axis=2)
    assert 0.3 < dropped.mean() < 0.7  # 128 channels, p = 0.5: std 0.044
    y.backward(np.ones(y.shape, dtype=np.float32))
    np.testing.assert_array_equal(x.grad.data, y.data)  # d(x*mask)/dx = mask, and y = mask for x = 1
    single = dropout2d(tg.ones(8, 3, 3), 0.5)  # one (C, H, W) image
    assert single.shape == (8, 3, 3)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), True, "0.5"])
def test_bad_probability_is_a_value_error(p):
    with pytest.raises(ValueError, match="between 0 and 1"):
        dropout(tg.randn(3), p)


def test_bad_inputs():
    with pytest.raises(TypeError, match="floating-point"):
        dropout(tg.tensor([1, 2, 3]), 0.5)
    with pytest.raises(ValueError, match=r"dropout2d: expected input of shape \(N, C, H, W\)"):
        dropout2d(tg.randn(4, 5), 0.5)
