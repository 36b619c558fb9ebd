"""tinygraph: a small, fast, readable deep-learning engine for learning and teaching CNNs.

    import tinygraph as tg
    x = tg.randn(8, 1, 28, 28)
    w = tg.randn(6, 1, 5, 5, requires_grad=True)
    loss = tg.functional.conv2d(x, w, padding=2).relu().mean()
    loss.backward()
    print(tg.graph(loss))
"""

from . import numba_cache  # first: read-only installs get a cache folder before any kernel compiles

# isort: split
from . import cuda, data, functional, memory, models, nn, optim  # memory: an opt-in call, nothing at import
from . import dtypes
from . import explain
from . import onnx  # tg.onnx.export; the onnx package itself is imported only when exporting
from .autograd import Function, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, GradcheckResult, gradcheck
from .graph import Graph, graph
from .kernels.cpu.scheduling import get_num_threads, set_num_threads
from .kernels.dispatch import get_kernels, set_kernels, use_kernels
from .ops.elementwise import clamp
from .ops.matmul import matmul
from .ops.shape import cat, flatten, pad, permute, reshape, squeeze, stack, transpose, unsqueeze, where
from .random import manual_seed
from .serialization import load, save
from .tensor import (
    Tensor,
    arange,
    as_tensor,
    bool_,
    empty,
    eye,
    float16,
    float32,
    float64,
    from_dlpack,
    from_numpy,
    full,
    full_like,
    get_default_dtype,
    int32,
    int64,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    set_default_dtype,
    tensor,
    uint8,
    zeros,
    zeros_like,
)
from .train import History, evaluate, fit, predict

__version__ = "0.1.0"


def _unary(name):
    def op(x, *args, **kwargs):
        return getattr(as_tensor(x), name)(*args, **kwargs)

    op.__name__ = name
    op.__doc__ = f"``tg.{name}(x, ...)`` is ``x.{name}(...)``."
    return op


exp, log, sqrt, abs, relu, sigmoid, tanh = (_unary(n) for n in ("exp", "log", "sqrt", "abs", "relu", "sigmoid", "tanh"))
sum, mean, var, std, amax, amin, argmax, argmin = (
    _unary(n) for n in ("sum", "mean", "var", "std", "amax", "amin", "argmax", "argmin")
)
max, min, softmax, log_softmax = (_unary(n) for n in ("max", "min", "softmax", "log_softmax"))


def maximum(a, b):
    return as_tensor(a).maximum(b)


def minimum(a, b):
    return as_tensor(a).minimum(b)
