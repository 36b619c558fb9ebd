"""Small matrix products run on one BLAS thread (``blas_threads.one_thread_if_small``), values unchanged."""

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.kernels.cpu import blas_threads


@pytest.fixture
def single_threaded_blocks(monkeypatch):
    """Counts the ``single_threaded_blas`` blocks entered (whether or not NumPy's BLAS is OpenBLAS)."""
    entered = []
    real = blas_threads.single_threaded_blas

    def counting():
        entered.append(1)
        return real()

    monkeypatch.setattr(blas_threads, "single_threaded_blas", counting)
    return entered


@pytest.mark.parametrize(
    "multiply_adds, one_thread",
    [(1000, False), (65536 * 4, False), (65536 * 4 + 1, True), (7_999_999, True), (8_000_000, False)],
)
def test_one_thread_between_openblas_limit_and_small_product(single_threaded_blocks, multiply_adds, one_thread):
    with blas_threads.one_thread_if_small(multiply_adds):
        pass
    assert len(single_threaded_blocks) == int(one_thread)


def test_linear_and_matmul_products_of_lenet_size_run_on_one_thread(single_threaded_blocks):
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((64, 400)).astype(np.float32), requires_grad=True)
    w = tg.tensor(rng.standard_normal((120, 400)).astype(np.float32), requires_grad=True)
    y = tg.functional.linear(x, w)  # 64*400*120 = 3.1M multiply-adds
    y.sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), x.data @ w.data.T, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(x.grad.numpy(), np.ones((64, 120), np.float32) @ w.data, rtol=1e-5, atol=1e-4)
    assert len(single_threaded_blocks) == 2  # forward, backward
    a = rng.standard_normal((4, 64, 100)).astype(np.float32)
    b = rng.standard_normal((100, 120)).astype(np.float32)
    batched = tg.tensor(a) @ tg.tensor(b)  # 4*64*100*120 = 3.1M multiply-adds
    np.testing.assert_allclose(batched.numpy(), np.einsum("bnk,km->bnm", a, b), rtol=1e-4, atol=1e-4)
    assert len(single_threaded_blocks) == 3


def test_matmul_counts_the_broadcast_batch():
    from tinygraph.ops.matmul import _multiply_adds

    assert _multiply_adds(np.empty((2, 1, 5, 3)), np.empty((4, 3, 7))) == 2 * 4 * 5 * 3 * 7
    assert _multiply_adds(np.empty((5, 3)), np.empty((6, 3, 7))) == 6 * 5 * 3 * 7
