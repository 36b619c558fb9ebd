"""Batch normalisation layers.

In training mode each channel is normalised with the mean and (biased) variance of the
current batch, and running estimates are updated:
``running = (1 - momentum) * running + momentum * batch_stat`` (the running variance uses
the unbiased batch variance, as in PyTorch).  In eval mode the running estimates are used,
so a single image gives the same answer whatever batch it comes in.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..tensor import Tensor, get_default_dtype
from .module import Module
from .parameter import Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Module):
    _expected_ndims: tuple = ()
    _layout: str = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype=None,
    ):
        super().__init__()
        if num_features <= 0:
            raise ValueError(f"{type(self).__name__}: num_features must be positive, got {num_features}")
        self.num_features = int(num_features)
        self.eps, self.momentum = float(eps), momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dtype = np.dtype(dtype) if dtype is not None else get_default_dtype()
        if affine:  # y = gamma * x_hat + beta, starting as the identity
            self.weight = Parameter(np.ones(num_features, dtype=dtype))
            self.bias = Parameter(np.zeros(num_features, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype=dtype)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype=dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def _check_input_dim(self, x) -> None:
        if x.ndim not in self._expected_ndims:
            wanted = " or ".join(f"{n}D" for n in self._expected_ndims)
            raise ValueError(
                f"{type(self).__name__}: expected {wanted} input {self._layout}, "
                f"got {x.ndim}D input of shape {tuple(x.shape)}"
            )
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}: input of shape {tuple(x.shape)} has {x.shape[1]} channels in dim 1, "
                f"but the layer was built for num_features={self.num_features}"
            )

    def forward(self, x):
        self._check_input_dim(x)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # cumulative moving average: the mean of all batch statistics so far
                momentum = 1.0 / float(self.num_batches_tracked.data)
        # Batch statistics in training; also in eval when there are no running estimates to use.
        use_batch_stats = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return F.batch_norm(
            x,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            use_batch_stats,
            momentum,
            self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm2d(_BatchNorm):
    """Per-channel normalisation of images.  x: (N, C, H, W) -> same shape; statistics over (N, H, W)."""

    _expected_ndims = (4,)
    _layout = "(N, C, H, W)"


class BatchNorm1d(_BatchNorm):
    """Per-feature normalisation.  x: (N, C) or (N, C, L) -> same shape; statistics over N (and L)."""

    _expected_ndims = (2, 3)
    _layout = "(N, C) or (N, C, L)"
