"""The residual block of ResNet (He et al., 2016), "BasicBlock" as in torchvision.

::

    x ──► conv3x3(stride) ─ BN ─ ReLU ─ conv3x3 ─ BN ──►(+)─ ReLU ──► out
    │                                                    ▲
    └──────────── shortcut: identity, or 1x1 conv(stride) + BN ┘

The block learns a correction ``F(x)`` to its input instead of a whole new mapping:
``out = relu(F(x) + x)``.  Gradients reach early layers through the ``+ x`` path unchanged,
which is why very deep residual networks still train.  When the block changes the
number of channels or the resolution, ``x`` no longer has ``F(x)``'s shape, so the
shortcut becomes a 1x1 convolution with the same stride (a "projection") followed by BN.
"""

from __future__ import annotations

from .batchnorm import BatchNorm2d
from .container import Sequential
from .layers import Conv2d
from .module import Module

__all__ = ["BasicBlock"]


class BasicBlock(Module):
    """Two 3x3 conv-BN layers plus a shortcut; ``skip=False`` drops the shortcut (a "plain" block).

    x: (N, in_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride)).

    The convolutions have no bias: the BN right after each one has its own shift, which
    would make a conv bias redundant.  With ``skip=False`` there is no shortcut at all (and
    no projection parameters), for plain-versus-residual comparisons at the same depth.
    """

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, skip: bool = True, dtype=None):
        super().__init__()
        self.skip = skip
        self.conv1 = Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False, dtype=dtype)
        self.bn1 = BatchNorm2d(out_channels, dtype=dtype)
        self.conv2 = Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False, dtype=dtype)
        self.bn2 = BatchNorm2d(out_channels, dtype=dtype)
        if skip and (stride != 1 or in_channels != out_channels):
            self.shortcut = Sequential(
                Conv2d(in_channels, out_channels, 1, stride=stride, bias=False, dtype=dtype),
                BatchNorm2d(out_channels, dtype=dtype),
            )
        else:
            self.shortcut = None  # identity when skip=True; no skip at all when skip=False

    def forward(self, x):
        out = self.bn1(self.conv1(x)).relu()
        out = self.bn2(self.conv2(out))
        if self.skip:
            out = out + (x if self.shortcut is None else self.shortcut(x))
        return out.relu()

    def extra_repr(self) -> str:
        return "" if self.skip else "skip=False"
