"""The library's own implementations that every lesson is checked against: ONE place.

Each lesson function has a reference here under the same name and signature as the stub the
student fills in.  For the kernel families (convolution, pooling, batch norm, ReLU) these are
the textbook loops of ``tinygraph/kernels/cpu/reference``, under the names
``tg.use_kernels(module)`` looks for.  For the rest (output size, softmax, dropout,
optimizers, residual block) they are thin adapters, array in and array out, around the
library's public code, so the student is held to exactly what the engine computes.

If the kernels move, only the imports at the top of this file change.
"""

from __future__ import annotations

import numpy as np

from ..kernels.cpu.reference.activation import relu_backward, relu_forward
from ..kernels.cpu.reference.conv import conv2d_backward_input, conv2d_backward_weight, conv2d_forward
from ..kernels.cpu.reference.norm import batch_norm_backward, batch_norm_forward, batch_norm_stats
from ..kernels.cpu.reference.pool import (
    adaptive_avg_pool2d_backward,
    adaptive_avg_pool2d_forward,
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)
from ..kernels.dispatch import INTERFACE

#: the names ``tg.use_kernels`` swaps in; the other lesson functions are checked, not plugged in
KERNEL_NAMES = frozenset(name for family in INTERFACE.values() for name in family)

__all__ = [
    "adam_step",
    "adaptive_avg_pool2d_backward",
    "adaptive_avg_pool2d_forward",
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "batch_norm_backward",
    "batch_norm_forward",
    "batch_norm_stats",
    "conv2d_backward_input",
    "conv2d_backward_weight",
    "conv2d_forward",
    "conv_output_size",
    "cross_entropy",
    "cross_entropy_backward",
    "dropout_backward",
    "dropout_forward",
    "log_softmax",
    "max_pool2d_backward",
    "max_pool2d_forward",
    "relu_backward",
    "relu_forward",
    "residual_backward",
    "residual_forward",
    "same_padding",
    "sgd_momentum_step",
    "softmax",
    "update_running_stats",
]


# ------------------------------------------------------------------ lesson 02: sizes


def conv_output_size(size, kernel_size, stride, padding, dilation):
    """Output length along one axis; padding is added on both sides."""
    from ..functional.conv import conv2d_output_size

    return conv2d_output_size((size, 1), (kernel_size, 1), (stride, 1), (padding, 0), (dilation, 1))[0]


def same_padding(kernel_size, dilation):
    """``(before, after)`` zero rows that keep a stride-1 output the size of its input."""
    from ..functional.conv import conv2d_padding

    top, bottom, _, _ = conv2d_padding("same", (kernel_size, 1), 1, (dilation, 1))
    return top, bottom


# ------------------------------------------------------------------ lesson 06: softmax and cross-entropy


def _tensor(array, requires_grad=False):
    from ..tensor import Tensor

    return Tensor(np.array(array, dtype=np.float64), requires_grad=requires_grad)


def softmax(logits):
    from ..functional import softmax as f

    return f(_tensor(logits), dim=-1).numpy()


def log_softmax(logits):
    from ..functional import log_softmax as f

    return f(_tensor(logits), dim=-1).numpy()


def cross_entropy(logits, labels):
    from ..functional import cross_entropy as f

    return float(f(_tensor(logits), np.asarray(labels)).item())


def cross_entropy_backward(logits, labels):
    from ..autograd import enable_grad
    from ..functional import cross_entropy as f

    z = _tensor(logits, requires_grad=True)
    with enable_grad():  # the checker may call this inside another backward pass
        f(z, np.asarray(labels)).backward()
    return z.grad.numpy()


# ------------------------------------------------------------------ lesson 07: running statistics


def update_running_stats(running_mean, running_var, mean, var, m, momentum):
    """New ``(running_mean, running_var)``; the library updates in place, so copies go in."""
    from ..functional.norm import _update_running_stats

    new_mean, new_var = np.array(running_mean, dtype=np.float64), np.array(running_var, dtype=np.float64)
    _update_running_stats(new_mean, new_var, mean, var, m, momentum)
    return new_mean, new_var


# ------------------------------------------------------------------ lesson 08: dropout


def dropout_forward(x, p, u, training=True):
    """``F.dropout`` with its random draws replaced by ``u`` (its rule: keep where u >= p)."""
    from ..functional.dropout import Dropout

    if not training:
        return x.copy(), np.ones_like(x)
    ctx = Dropout()
    with _draws(u):
        y = Dropout.forward(ctx, x, p, x.shape)
    return y, ctx.saved_arrays[0]


def dropout_backward(grad, mask):
    from ..functional.dropout import Dropout

    ctx = Dropout()
    ctx.saved_arrays = (mask,)
    return Dropout.backward(ctx, grad)


class _draws:
    """Make the library's generator return ``u`` for its next ``random`` call, then restore it."""

    def __init__(self, u):
        self.u = u

    def __enter__(self):
        from .. import random as tg_random

        self.saved = tg_random._generator
        u = self.u

        class _Fixed:
            def random(self, shape, dtype=np.float64):
                return np.asarray(u, dtype=dtype).reshape(shape)

        tg_random._generator = _Fixed()

    def __exit__(self, *exc):
        from .. import random as tg_random

        tg_random._generator = self.saved


# ------------------------------------------------------------------ lesson 09: optimizers


def _parameter(param, grad):
    from ..nn import Parameter

    p = Parameter(np.array(param, dtype=np.float64))
    p.grad = _tensor(grad)
    return p


def sgd_momentum_step(param, grad, velocity, lr, momentum):
    """One ``tg.optim.SGD(momentum=...)`` step; ``velocity`` None on the first step."""
    from ..optim import SGD

    p = _parameter(param, grad)
    opt = SGD([p], lr=lr, momentum=momentum)
    if velocity is not None:
        opt.state[p] = {"momentum_buffer": np.array(velocity, dtype=np.float64)}
    opt.step()
    return p.data.copy(), opt.state[p]["momentum_buffer"].copy()


def adam_step(param, grad, m, v, t, lr, beta1, beta2, eps):
    """One ``tg.optim.Adam`` step number ``t`` (1, 2, ...) from moments ``m``, ``v``."""
    from ..optim import Adam

    p = _parameter(param, grad)
    opt = Adam([p], lr=lr, betas=(beta1, beta2), eps=eps)
    opt.state[p] = {
        "step": t - 1,
        "exp_avg": np.array(m, dtype=np.float64),
        "exp_avg_sq": np.array(v, dtype=np.float64),
    }
    opt.step()
    state = opt.state[p]
    return p.data.copy(), state["exp_avg"].copy(), state["exp_avg_sq"].copy()


# ------------------------------------------------------------------ lesson 10: residual block


def _residual_graph(x, weight1, weight2):
    tensors = [_tensor(a, requires_grad=True) for a in (x, weight1, weight2)]
    x_t, w1, w2 = tensors
    out = x_t + (x_t @ w1).relu() @ w2  # the block: identity plus a learned correction
    return out, tensors


def residual_forward(x, weight1, weight2):
    return _residual_graph(x, weight1, weight2)[0].detach().numpy()


def residual_backward(grad_out, x, weight1, weight2):
    from ..autograd import enable_grad

    with enable_grad():  # the checker may call this inside another backward pass
        out, tensors = _residual_graph(x, weight1, weight2)
        out.backward(_tensor(grad_out))
    return tuple(t.grad.numpy() for t in tensors)
