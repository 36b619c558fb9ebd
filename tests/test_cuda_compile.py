"""Every CUDA kernel compiles for a real GPU: numba-cuda types it and NVVM turns it into PTX.

The simulator runs kernels as Python, so it cannot catch what only the CUDA compiler rejects (a
type that does not unify, an unsupported call).  This test compiles each kernel with the argument
types the launchers pass, for compute capability 7.5, without running anything.  It needs NVVM (the
CUDA toolkit: ``pip install 'numba-cuda[cu13]'``, ~0.5 GB, so not in CI) and a process without the
simulator; otherwise it skips.  No GPU is needed: where none is present, device functions are told
the "current device" is a 7.5 one (numba-cuda compiles device functions for the current device).
"""

import numpy as np
import pytest


def _compiler_or_skip():
    import importlib.util

    if importlib.util.find_spec("numba_cuda") is None:  # numba's own CUDA target is deprecated and differs
        pytest.skip("the numba-cuda package is not installed (pip install 'tinygraph[cuda]')", allow_module_level=True)
    try:
        import numba
        from numba import cuda
    except Exception as err:
        pytest.skip(f"numba.cuda cannot be imported ({err})", allow_module_level=True)
    if numba.config.ENABLE_CUDASIM:
        pytest.skip("compiling to PTX needs the real CUDA target, not the simulator", allow_module_level=True)
    def empty_kernel():
        pass

    try:  # a kernel with nothing in it: if this fails, the toolchain is missing, not our code
        cuda.compile_ptx(empty_kernel, (), cc=(7, 5))
    except Exception as err:
        pytest.skip(f"the CUDA compiler libraries (NVVM, NVRTC) are not available: {type(err).__name__}: "
                    f"{str(err).splitlines()[0][:200]}", allow_module_level=True)
    if not cuda.is_available():
        import numba.cuda.dispatcher as dispatcher

        class _Device:  # only consulted for its compute capability when compiling device functions
            compute_capability = (7, 5)

        dispatcher.get_current_device = lambda: _Device()
    return cuda


cuda = _compiler_or_skip()

from numba import boolean, float32, float64, int64, types  # noqa: E402

from tinygraph.kernels.cuda import conv, elementwise, loss, matmul, norm, optim, pool, reduce  # noqa: E402

T1, T2, T3 = (types.UniTuple(int64, n) for n in (1, 2, 3))
f32, f64, i64, b1 = float32[::1], float64[::1], int64[::1], boolean[::1]
f32_2d, f32_3d, f32_4d, i64_4d = float32[:, ::1], float32[:, :, ::1], float32[:, :, :, ::1], int64[:, :, :, ::1]


def compiles(kernel, *signature):
    ptx, _ = cuda.compile_ptx(kernel.py_func, signature, cc=(7, 5))
    assert ".entry" in ptx


@pytest.mark.parametrize("name", sorted(elementwise.UNARY))
def test_unary_kernels(name):
    out = b1 if name in ("isnan", "isinf", "isfinite", "logical_not") else f32
    compiles(elementwise._unary_kernel(name), out, T2, f32, int64, T2)


@pytest.mark.parametrize("name", sorted(elementwise.BINARY))
def test_binary_kernels(name):
    if name.startswith("bitwise"):
        compiles(elementwise._binary_kernel(name), b1, T2, b1, int64, T2, b1, int64, T2)
        return
    out = b1 if name in ("greater", "greater_equal", "less", "less_equal", "equal", "not_equal",
                         "logical_and", "logical_or") else f32
    compiles(elementwise._binary_kernel(name), out, T2, f32, int64, T2, f32, int64, T2)
    compiles(elementwise._binary_kernel(name), out if out is b1 else f64, T2, f64, int64, T2, b1, int64, T2)


def test_copy_where_scatter_gather_kernels():
    compiles(elementwise._where_kernel, f32, T2, b1, int64, T2, f32, int64, T2, f32, int64, T2)
    compiles(elementwise._scatter_kernel, f32, int64, T2, T2, f32, int64, T2, int64)
    compiles(elementwise._gather_kernel, f32, f32, i64)
    for dtype in (f32, f64):
        compiles(elementwise._scatter_add_kernel, dtype, i64, dtype, int64, T2, T2)
    compiles(elementwise._scatter_offsets_kernel, f32, i64, f32, int64, T2, T2)


@pytest.mark.parametrize("name", ["sum", "max", "min"])
def test_reduction_kernels(name):
    compiles(reduce._rows_kernel(name), f32, f32, T2, T2, T1, T1, int64)
    compiles(reduce._block_kernel(name, np.dtype(np.float32)), f32, f32, T1, T1, T2, T2, int64)
    compiles(reduce._block_kernel(name, np.dtype(np.int64)), i64, i64, T1, T1, T2, T2, int64)


def test_arg_reduction_and_matmul_kernels():
    for largest in (True, False):
        compiles(reduce._arg_kernel(largest), i64, f32, T2, T2, T1, T1, int64)
    for dtype, arr in ((np.float32, f32), (np.float64, f64)):
        compiles(matmul._matmul_kernel(np.dtype(dtype)), arr, arr, arr, int64, int64, int64, T2, T2, T2, int64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_kernels(dtype):
    a4 = float32[:, :, :, ::1] if dtype == np.float32 else float64[:, :, :, ::1]
    a1 = f32 if dtype == np.float32 else f64
    dt = np.dtype(dtype)
    compiles(conv._forward_kernel(dt), a4, a4, a4, a1, boolean, T2, T2, T2, int64)
    compiles(conv._backward_input_kernel(dt), a4, a4, a4, T2, T2, T2, int64)
    compiles(conv._backward_weight_kernel(dt), a4, a4, a4, T2, T2, T2, int64)


def test_pool_kernels():
    dt = np.dtype(np.float32)
    compiles(pool._max_pool_kernel, f32_4d, i64_4d, f32_4d, T2, T2, T2, T2)
    compiles(pool._max_pool_backward_kernel, f32_4d, f32_4d, i64_4d)
    compiles(pool._avg_pool_kernel(dt), f32_4d, f32_4d, T2, T2, T2, boolean, int64)
    compiles(pool._avg_pool_backward_kernel(dt), f32_4d, f32_4d, T2, T2, T2, boolean, int64)
    compiles(pool._adaptive_kernel(dt), f32_4d, f32_4d)
    compiles(pool._adaptive_backward_kernel(dt), f32_4d, f32_4d)


def test_norm_loss_optim_kernels():
    compiles(norm._stats_kernel, f64, f64, f32_3d)
    compiles(norm._forward_kernel, f32_3d, f32_3d, f64, f64, f32, f32)
    compiles(norm._backward_kernel, f32_3d, f64, f64, f32_3d, f32_3d, f64, f64, f32, boolean)
    compiles(loss._forward_kernel, f32, f32_2d, f32_2d, f32_2d)
    compiles(loss._backward_kernel, f32_2d, f32, f32_2d, f32_2d)
    compiles(loss._one_hot_kernel, f32_2d, i64, f32, int64, float64)
    compiles(optim._sgd_kernel, f32, f32, f32, float64, float64, float64, float64, boolean, boolean)
    compiles(optim._adam_kernel, f32, f32, f32, f32, f32, float64, float64, float64, float64, float64, int64,
             boolean, boolean)
