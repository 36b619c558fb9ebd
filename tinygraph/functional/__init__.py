"""Public, PyTorch-named operations with argument checks (``tg.functional``, alias ``tg.nn.functional``).

Each module here owns one family: its argument checks, its ``Function`` (forward and
backward side by side) and the public function users call.
"""

from ..ops.shape import pad
from .activation import gelu, leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .conv import conv2d, conv2d_output_size, conv2d_padding
from .dropout import dropout, dropout2d
from .linear import linear
from .loss import cross_entropy, mse_loss, nll_loss
from .norm import batch_norm
from .pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d

__all__ = [
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "batch_norm",
    "conv2d",
    "conv2d_output_size",
    "conv2d_padding",
    "cross_entropy",
    "dropout",
    "dropout2d",
    "gelu",
    "leaky_relu",
    "linear",
    "log_softmax",
    "max_pool2d",
    "mse_loss",
    "nll_loss",
    "pad",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
]
