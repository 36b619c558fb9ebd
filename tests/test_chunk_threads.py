"""Convolution chunks shared between Python threads on a one-thread BLAS (``chunk_threads``, ``blas_threads``).

The threaded path is only taken for large layers, so these tests force it on small ones
(``MIN_THREADED_FLOPS = 0``, tiny chunks) and hold the results to the reference kernels.
"""

import os
import threading

import numpy as np
import pytest
from _conv_support import STRIDE1_LAYOUTS, stride1_layout

from tinygraph.functional.conv import conv2d_output_size
from tinygraph.kernels.cpu import blas_threads, chunk_threads, conv_direct
from tinygraph.kernels.cpu import conv as K
from tinygraph.kernels.cpu.reference import conv as R

needs_openblas = pytest.mark.skipif(not blas_threads.available(), reason="NumPy's BLAS is not a settable OpenBLAS")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def blas_thread_count():
    return blas_threads._controls_or_none()[1]()


@pytest.fixture
def forced_threads(monkeypatch):
    """Every conv call shares its chunks between two threads; returns the list of thread counts used."""
    monkeypatch.setattr(blas_threads, "available", lambda: True)  # also where NumPy's BLAS is not OpenBLAS
    monkeypatch.setattr(blas_threads, "worker_may_be_spinning", lambda: False)  # whatever ran before
    monkeypatch.setattr(chunk_threads, "MIN_THREADED_FLOPS", 0)
    monkeypatch.setattr(chunk_threads, "CHUNK_THREADS", 2)
    used = []
    run = K.run_chunks

    def spy(work, chunks, threads):
        used.append((threads, len(chunks)))
        return run(work, chunks, threads)

    monkeypatch.setattr(K, "run_chunks", spy)
    return used


GEOMETRIES = [
    # (C_in, C_out, k, stride, padding, dilation, groups)
    (3, 5, 3, 1, 1, 1, 1),
    (3, 5, 3, 2, 1, 1, 1),  # the general (strided) layout
    (4, 6, 3, 1, 2, 2, 2),  # groups, dilation
    (2, 4, 2, 1, 0, 1, 2),  # one input channel per group: the direct weight gradient
    (4, 4, 3, 2, (1, 0), (1, 2), 4),  # depthwise, strided, asymmetric
]


@pytest.mark.parametrize("layout", list(STRIDE1_LAYOUTS))
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_threaded_chunks_match_the_reference(forced_threads, monkeypatch, layout, geometry):
    c_in, c_out, k, stride, padding, dilation, groups = geometry
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    s, p, d = pair(stride), pair(padding), pair(dilation)
    x, w, b = rand(7, c_in, 6, 5), rand(c_out, c_in // groups, k, k, seed=1), rand(c_out, seed=2)
    out_size = conv2d_output_size((6, 5), k, s, p, d)
    g = rand(7, c_out, *out_size, seed=3)
    monkeypatch.setattr(K, "_COLS_BYTES", 1)  # one image per chunk: 7 chunks, dealt 4 + 3
    with stride1_layout(layout):
        got_fwd = K.conv2d_forward_im2col(x, w, b, s, p, d, groups, out_size)
        got_x, got_w = K.conv2d_backward(g, x, w, s, p, d, groups, (6, 5), (k, k))
        only_w = K.conv2d_backward_weight(x, g, s, p, d, groups, (k, k))
    assert forced_threads and all(used == (2, 7) for used in forced_threads)
    tol = dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got_fwd, R.conv2d_forward(x, w, b, s, p, d, groups, out_size), **tol)
    np.testing.assert_allclose(got_x, R.conv2d_backward_input(g, w, s, p, d, groups, (6, 5)), **tol)
    want_w = R.conv2d_backward_weight(x, g, s, p, d, groups, (k, k))
    np.testing.assert_allclose(got_w, want_w, **tol)
    np.testing.assert_allclose(only_w, want_w, **tol)


@pytest.mark.parametrize("geometry", [(3, 5, 3, 1, 1, 1, 1), (4, 6, 3, 1, (2, 0), (2, 1), 2)])
def test_direct_forward_shares_its_images_between_threads(forced_threads, monkeypatch, geometry):
    c_in, c_out, k, _, padding, dilation, groups = geometry
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    p, d = pair(padding), pair(dilation)
    calls = []
    run = K.run_chunks

    def spy(work, chunks, threads):
        calls.append(threads)
        return run(work, chunks, threads)

    monkeypatch.setattr(conv_direct, "run_chunks", spy)
    x, w, b = rand(5, c_in, 6, 7), rand(c_out, c_in // groups, k, k, seed=1), rand(c_out, seed=2)
    out_size = conv2d_output_size((6, 7), k, (1, 1), p, d)
    got = K.conv2d_forward_direct(x, w, b, p, d, groups, out_size)
    assert calls == [2]
    want = R.conv2d_forward(x, w, b, (1, 1), p, d, groups, out_size)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_thread_count_follows_blas_unless_set(monkeypatch):
    monkeypatch.setattr(blas_threads, "worker_may_be_spinning", lambda: False)
    monkeypatch.setattr(blas_threads, "available", lambda: True)
    monkeypatch.setattr(chunk_threads, "CHUNK_THREADS", None)
    big = 100 * chunk_threads.MIN_THREADED_FLOPS
    for blas in (1, 2, 4):  # e.g. OPENBLAS_NUM_THREADS=1 turns the sharing off too
        monkeypatch.setattr(blas_threads, "thread_count", lambda blas=blas: blas)
        assert chunk_threads.threads_for(64, big) == blas
    monkeypatch.setattr(chunk_threads, "CHUNK_THREADS", 3)
    assert chunk_threads.threads_for(64, big) == 3


def test_threads_only_for_large_layers(monkeypatch):
    monkeypatch.setattr(blas_threads, "worker_may_be_spinning", lambda: False)
    monkeypatch.setattr(blas_threads, "available", lambda: True)
    monkeypatch.setattr(chunk_threads, "CHUNK_THREADS", 2)
    big = chunk_threads.MIN_THREADED_FLOPS
    assert chunk_threads.threads_for(2, big) == 2  # each thread gets one image of the threshold's work
    assert chunk_threads.threads_for(2, big * 0.99) == 1
    assert chunk_threads.threads_for(1, 100 * big) == 1  # no image for the second thread
    monkeypatch.setattr(chunk_threads, "CHUNK_THREADS", 1)
    assert chunk_threads.threads_for(64, 100 * big) == 1
    monkeypatch.setattr(chunk_threads, "CHUNK_THREADS", 2)
    monkeypatch.setattr(blas_threads, "available", lambda: False)  # BLAS would fight the threads
    assert chunk_threads.threads_for(64, 100 * big) == 1


def test_copy_kernels_on_numba_threads_turn_chunk_threads_off(forced_threads, monkeypatch):
    monkeypatch.setattr(K, "IM2COL_THREADS", 2)  # Numba's workqueue layer must not be entered twice at once
    x, w = rand(4, 2, 5, 5), rand(3, 2, 3, 3, seed=1)
    K.conv2d_forward_im2col(x, w, None, (1, 1), (1, 1), (1, 1), 1, (5, 5))
    assert forced_threads and all(threads == 1 for threads, _ in forced_threads)


def test_chunk_size_leaves_a_chunk_for_every_thread():
    assert K._chunk_size(64, 150, 100, 4) == 52  # the column budget alone: 52 + 12
    assert K._chunk_size(64, 150, 100, 4, threads=2) == 32  # 32 + 32
    assert K._chunk_size(7, 150, 100, 4, threads=2) == 4  # 4 + 3


@needs_openblas
def test_blas_runs_on_one_thread_inside_and_is_restored_after():
    before = blas_thread_count()
    seen = []
    chunk_threads.run_chunks(lambda *_: seen.append(blas_thread_count()), [(0, 1), (1, 2), (2, 3)], 2)
    assert seen == [1, 1, 1]
    assert blas_thread_count() == before


@needs_openblas
def test_a_failing_chunk_is_raised_and_blas_is_restored():
    before = blas_thread_count()

    def work(index, start, stop):
        if index == 1:  # the helper's chunk
            raise ValueError(f"chunk {start}:{stop} failed")

    with pytest.raises(ValueError, match="chunk 1:2 failed"):
        chunk_threads.run_chunks(work, [(0, 1), (1, 2)], 2)
    assert blas_thread_count() == before


@needs_openblas
def test_overlapping_blocks_in_two_threads_restore_the_count_once_both_leave():
    before = blas_thread_count()
    inside, leave = threading.Event(), threading.Event()

    def other():
        with blas_threads.single_threaded_blas():
            inside.set()
            leave.wait(5)

    helper = threading.Thread(target=other)
    helper.start()
    inside.wait(5)
    with blas_threads.single_threaded_blas():
        assert blas_thread_count() == 1
    assert blas_thread_count() == 1  # the other thread is still inside its block
    leave.set()
    helper.join()
    assert blas_thread_count() == before


@pytest.mark.skipif(len(getattr(os, "sched_getaffinity", lambda _: ())(0)) < 2, reason="needs two CPUs and Linux")
def test_helper_runs_off_the_callers_cpu_and_the_caller_is_unpinned_after():
    before = os.sched_getaffinity(0)
    for _ in range(20):
        where = {}

        def work(index, start, stop, where=where):
            where[index] = chunk_threads._current_cpu()  # chunk 0 on the caller, 1 on the helper

        caller = chunk_threads._current_cpu()
        chunk_threads.run_chunks(work, [(0, 1), (1, 2)], 2)
        if caller is None:
            pytest.skip("sched_getcpu is not available")
        assert where[1] != where[0]  # the caller stays on its CPU, the helper runs on another
        assert os.sched_getaffinity(0) == before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")  # Python 3.12+: forking with threads
def test_a_forked_child_starts_its_own_helpers():
    chunk_threads.run_chunks(lambda *_: None, [(0, 1), (1, 2)], 2)  # the parent's pool is started
    pid = os.fork()
    if pid == 0:  # the child: its copy of the pool has no threads; a hang here fails the test by timeout
        try:
            seen = []
            chunk_threads.run_chunks(lambda index, start, stop: seen.append(index), [(0, 1), (1, 2)], 2)
            os._exit(0 if sorted(seen) == [0, 1] else 1)
        finally:
            os._exit(2)
    deadline = 30
    while deadline > 0:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        threading.Event().wait(0.1)
        deadline -= 0.1
    os.kill(pid, 9)
    pytest.fail("the forked child hung waiting for a helper thread")


def threads_that_ran(chunks, threads):
    """The set of thread idents that ran ``run_chunks``'s work."""
    idents = set()
    chunk_threads.run_chunks(lambda *_: idents.add(threading.get_ident()), chunks, threads)
    return idents


def test_no_threads_while_blas_worker_may_spin(monkeypatch):
    monkeypatch.setattr(blas_threads, "_last_shared_product", -float("inf"))
    chunks = [(0, 1), (1, 2), (2, 3)]
    assert len(threads_that_ran(chunks, 2)) == 2
    with blas_threads.single_threaded_blas(), blas_threads.one_thread_if_small(10**9):
        pass  # a big product inside a one-thread block: no BLAS worker woken
    with blas_threads.one_thread_if_small(blas_threads.SMALL_PRODUCT - 1):
        pass  # a small product runs on one thread
    assert len(threads_that_ran(chunks, 2)) == 2
    with blas_threads.one_thread_if_small(blas_threads.SMALL_PRODUCT):
        pass  # a large one on BLAS's threads: its worker busy-waits for a while
    assert threads_that_ran(chunks, 2) == {threading.get_ident()}
    monkeypatch.setattr(
        blas_threads, "_last_shared_product", blas_threads._last_shared_product - blas_threads.SPIN_SECONDS
    )
    assert len(threads_that_ran(chunks, 2)) == 2


@pytest.mark.parametrize("geometry", [(3, 5, 3, 1, 1, 1, 1), (3, 4, 3, 2, 1, 1, 1), (2, 4, 3, 1, 1, 1, 2)])
def test_gradients_are_the_same_numbers_shared_or_not(forced_threads, monkeypatch, geometry):
    # whether run_chunks shares a call's chunks depends on timing (the busy BLAS worker); the
    # numbers must not: float32, several chunks, the weight gradient summed across them
    c_in, c_out, k, stride, padding, dilation, groups = geometry
    s, p, d = (stride,) * 2, (padding,) * 2, (dilation,) * 2
    x, w = rand(9, c_in, 7, 7).astype(np.float32), rand(c_out, c_in // groups, k, k, seed=1).astype(np.float32)
    out_size = conv2d_output_size((7, 7), k, s, p, d)
    g = rand(9, c_out, *out_size, seed=3).astype(np.float32)
    monkeypatch.setattr(K, "_COLS_BYTES", 1)  # one image per chunk
    shared = K.conv2d_backward(g, x, w, s, p, d, groups, (7, 7), (k, k))
    monkeypatch.setattr(blas_threads, "worker_may_be_spinning", lambda: True)
    alone = K.conv2d_backward(g, x, w, s, p, d, groups, (7, 7), (k, k))
    assert forced_threads == [(2, 9), (2, 9)]  # planned for two threads both times
    for a, b in zip(shared, alone):
        assert np.array_equal(a, b)


def test_only_linear_and_matmul_products_note_the_busy_worker(monkeypatch):
    monkeypatch.setattr(blas_threads, "_last_shared_product", -float("inf"))
    monkeypatch.setattr(chunk_threads, "CHUNK_THREADS", 1)  # the convolution's products go to BLAS's threads
    x, w = rand(2, 32, 32, 32).astype(np.float32), rand(64, 32, 3, 3, seed=1).astype(np.float32)
    K.conv2d_forward_im2col(x, w, None, (1, 1), (1, 1), (1, 1), 1, (32, 32))  # 38M multiply-adds
    assert not blas_threads.worker_may_be_spinning()  # else the next convolution would not thread, nor the next...
    import tinygraph as tg

    features, weight = rand(128, 2048, seed=2).astype(np.float32), rand(256, 2048, seed=3).astype(np.float32)
    tg.functional.linear(tg.tensor(features), tg.tensor(weight))
    assert blas_threads.worker_may_be_spinning()  # 128*2048*256 = 67M multiply-adds on BLAS's threads


@pytest.mark.parametrize("value, expected", [("1", 1), (" 3 ", 3), ("", None)])
def test_thread_count_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("TINYGRAPH_CONV_THREADS", value)
    assert chunk_threads._threads_from_environment() == expected


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_bad_thread_count_in_the_environment_is_named(monkeypatch, value):
    monkeypatch.setenv("TINYGRAPH_CONV_THREADS", value)
    with pytest.raises(ValueError, match="TINYGRAPH_CONV_THREADS must be a whole number of threads"):
        chunk_threads._threads_from_environment()
