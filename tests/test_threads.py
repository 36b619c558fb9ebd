"""tinygraph's own threads: ``tg.set_num_threads`` / ``tg.get_num_threads``, and results that do not depend on them."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import tinygraph as tg
import tinygraph.functional as F
from tinygraph import nn, optim


@pytest.fixture
def restore_threads():
    before = tg.get_num_threads()
    yield
    tg.set_num_threads(before)


def _layer_results():
    """Outputs and gradients of every kernel family that shares its work between threads."""
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((9, 8, 20, 20)).astype(np.float32), requires_grad=True)
    w = tg.tensor(rng.standard_normal((32, 8, 3, 3)).astype(np.float32), requires_grad=True)
    narrow = tg.tensor(rng.standard_normal((4, 8, 3, 3)).astype(np.float32), requires_grad=True)  # direct kernel
    gamma = tg.tensor(rng.uniform(0.5, 1.5, 8).astype(np.float32), requires_grad=True)
    beta = tg.tensor(rng.standard_normal(8).astype(np.float32), requires_grad=True)
    fc = tg.tensor(rng.standard_normal((30, 8 * 20 * 20)).astype(np.float32), requires_grad=True)
    outs = [
        F.linear(x.reshape(9, -1), fc),  # blocks of rows (SMALL_PRODUCT is lowered by the test)
        F.conv2d(x, w, padding=1, stride=(1, 2)),
        F.conv2d(x, narrow, padding=2, dilation=2),
        F.max_pool2d(x, 2),
        F.max_pool2d(x, 3, stride=2, padding=1),
        F.avg_pool2d(x, 3, stride=2, padding=1),
        F.adaptive_avg_pool2d(x, 3),
        F.batch_norm(x, None, None, gamma, beta, training=True),
    ]
    sum((o * o).sum() for o in outs).backward()
    return [o.detach().numpy() for o in outs] + [t.grad.numpy() for t in (x, w, narrow, gamma, beta, fc)]


def test_results_are_the_same_whatever_the_thread_count(restore_threads, monkeypatch):
    from tinygraph.kernels.cpu import blas, scheduling

    monkeypatch.setattr(scheduling, "MIN_THREADED_FLOPS", 0)  # share even these small calls
    monkeypatch.setattr(blas, "SMALL_PRODUCT", 1000)
    tg.set_num_threads(1)
    one = _layer_results()
    for threads in (2, 3):
        tg.set_num_threads(threads)
        assert tg.get_num_threads() == threads
        for a, b in zip(one, _layer_results()):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n, k, m", [(1, 5, 3), (7, 300, 2), (64, 400, 120), (1000, 3, 9)])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_large_products_by_blocks_of_rows_equal_numpys(n, k, m, threads, restore_threads, monkeypatch):
    from tinygraph.kernels.cpu import blas, scheduling

    monkeypatch.setattr(scheduling, "MIN_THREADED_FLOPS", 0)
    monkeypatch.setattr(blas, "SMALL_PRODUCT", 16)  # every product here is "large"
    tg.set_num_threads(threads)
    rng = np.random.default_rng(n + k + m)
    a = rng.standard_normal((n, k)).astype(np.float32)
    b = rng.standard_normal((k, m)).astype(np.float32)
    for left, right in ((a, b), (b.T, a.T), (np.asfortranarray(a), b[:, ::-1])):  # transposed and strided too
        got = blas.matmul(left, right)
        assert got.shape == (left.shape[0], right.shape[1]) and got.dtype == np.float32
        np.testing.assert_allclose(got, left.astype(np.float64) @ right.astype(np.float64), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", None, True])
def test_a_bad_thread_count_is_a_value_error(bad, restore_threads):
    before = tg.get_num_threads()
    with pytest.raises(ValueError, match="tg.set_num_threads.*whole number >= 1"):
        tg.set_num_threads(bad)
    assert tg.get_num_threads() == before


def _setup(seed):
    """A small CNN, its optimizer and a batch (tg.manual_seed is process-wide: call this from one thread at a time)."""
    tg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = nn.Sequential(
        nn.Conv2d(4, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 8 * 8, 3)
    )
    x = tg.tensor(rng.standard_normal((16, 4, 16, 16)).astype(np.float32))
    y = tg.tensor(rng.integers(0, 3, 16))
    return model, optim.SGD(model.parameters(), lr=0.01), x, y


def _train(model, opt, x, y):
    for _ in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return [p.detach().numpy().copy() for p in model.parameters()]


def test_two_models_trained_at_once_match_one_after_the_other(restore_threads):
    tg.set_num_threads(2)
    one_by_one = [_train(*_setup(seed)) for seed in (1, 2)]
    runs = [_setup(seed) for seed in (1, 2)]
    together = [None, None]

    def train(k):
        together[k] = _train(*runs[k])

    threads = [threading.Thread(target=train, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for alone, shared in zip(one_by_one, together):
        for a, b in zip(alone, shared):
            np.testing.assert_array_equal(a, b)
