"""Matrix multiplication, batched and broadcasting like ``np.matmul`` / ``torch.matmul``."""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..kernels.cpu.blas import matmul as blas_matmul


class MatMul(Function):
    """``a @ b`` for ``a: (..., n, k)``, ``b: (..., k, m)`` -> ``(..., n, m)``; batch axes broadcast."""

    @staticmethod
    def forward(ctx, a, b):
        # keep only what backward reads (dA needs B, dB needs A), so changing the other in place is fine
        needs_a, needs_b = ctx.needs_input_grad
        ctx.save_for_backward(a if needs_b else None, b if needs_a else None)
        return blas_matmul(a, b)  # small products on one BLAS thread (kernels/cpu/blas.py)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_arrays
        # C = A B  =>  dA = dC B^T,  dB = A^T dC  (batch axes broadcast; the engine sums them back)
        da = blas_matmul(grad, np.swapaxes(b, -1, -2)) if ctx.needs_input_grad[0] else None
        db = blas_matmul(np.swapaxes(a, -1, -2), grad) if ctx.needs_input_grad[1] else None
        return da, db


def matmul(a, b):
    """Matrix product with NumPy's rules: 1-D operands are promoted to a row/column and squeezed back."""
    if a.dtype != b.dtype:  # PyTorch does not promote here: a float64 operand is usually a mistake
        raise RuntimeError(
            f"matmul: expected both operands to have the same dtype, got {a.dtype} @ {b.dtype} "
            f"(shapes {tuple(a.shape)} @ {tuple(b.shape)}); convert one with .to(dtype)"
        )
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes {a.shape} @ {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if k_a != k_b:
        raise ValueError(
            f"matmul: cannot multiply {tuple(a.shape)} @ {tuple(b.shape)}: the inner dimensions {k_a} and {k_b} differ"
        )
    batch_a, batch_b = a.shape[:-2], b.shape[:-2]
    try:
        np.broadcast_shapes(batch_a, batch_b)
    except ValueError:
        raise ValueError(
            f"matmul: batch dimensions of {tuple(a.shape)} @ {tuple(b.shape)} do not broadcast "
            f"({batch_a} vs {batch_b})"
        ) from None
    if a.ndim == 1 and b.ndim == 1:
        return MatMul.apply(a.unsqueeze(0), b.unsqueeze(1)).reshape(())
    if a.ndim == 1:
        return MatMul.apply(a.unsqueeze(0), b).squeeze(-2)
    if b.ndim == 1:
        return MatMul.apply(a, b.unsqueeze(1)).squeeze(-1)
    return MatMul.apply(a, b)
