"""Lesson 05: average pooling, and adaptive average pooling.

THE IDEA
    Average pooling replaces each window by its mean.  Every input of a window contributed
    1/divisor of the output, so the backward pass hands each of them grad_out / divisor.
    Near a padded border, what is the divisor?  PyTorch lets you choose: with
    count_include_pad=True the zeros of the padding count (divide by the window's taps inside
    the padded input), with False only the real pixels count.  divisor_override, when not 0,
    replaces both.

    Adaptive average pooling is told the OUTPUT size instead of a window: output row i averages
    input rows floor(i*H/OH) .. ceil((i+1)*H/OH) - 1 (windows may overlap by a row).  With an
    output of (1, 1) it is global average pooling, the last layer of ResNets.

THE FORMULAS (shapes; windows as in lesson 01 with dilation 1)
    x: (N, C, H, W) -> out: (N, C, OH, OW)
    out[n, c, oh, ow] = (sum of x over the window's taps inside the input) / divisor
    divisor = divisor_override                              if divisor_override != 0
            = taps of the window inside the PADDED input    if count_include_pad
            = taps of the window inside the input           otherwise
    grad_x[n, c, ih, iw] += grad_out[n, c, oh, ow] / divisor   for every (ih, iw) of the window

A WORKED EXAMPLE
    x = [[1, 5, 2],     2x2 windows, stride 2, padding 1 (out 2x2):
         [3, 4, 8],     window (0, 0) holds one real pixel (1) and three padding zeros:
         [0, 2, 1]]       count_include_pad=True:  1 / 4 = 0.25;   False: 1 / 1 = 1
                        out (True)  = [[0.25, 1.75], [0.75, 3.75]]
                        out (False) = [[1.0,  3.5 ], [1.5,  3.75]]
    adaptive, one row [0, 1, 2, 3, 4] to 2 outputs: windows 0..2 and 2..4: [1.0, 3.0]

WHERE IT IS USED
    tg.nn.AvgPool2d (LeNet5(classic=True)'s subsampling), tg.nn.AdaptiveAvgPool2d (the global
    pooling at the end of tg.models.SmallResNet).

YOUR TASK
    Write the four functions.

    python -m tinygraph.lessons check 05
    python -m tinygraph.lessons train 05

AFTER IT PASSES
    Read avg_pool2d_forward (and its divisor helper) and the adaptive ones in
    tinygraph/kernels/cpu/reference/pool.py.
"""

import math  # noqa: F401

import numpy as np  # noqa: F401


def avg_pool2d_forward(x, kernel_size, stride, padding, out_size, count_include_pad, divisor_override=0):
    """out: (N, C, OH, OW)."""
    raise NotImplementedError("lesson 05: implement avg_pool2d_forward")


def avg_pool2d_backward(grad_out, in_size, kernel_size, stride, padding, count_include_pad, divisor_override=0):
    """grad_x: (N, C, H, W) with (H, W) = in_size."""
    raise NotImplementedError("lesson 05: implement avg_pool2d_backward")


def adaptive_avg_pool2d_forward(x, out_size):
    """out: (N, C, OH, OW) with (OH, OW) = out_size."""
    raise NotImplementedError("lesson 05: implement adaptive_avg_pool2d_forward")


def adaptive_avg_pool2d_backward(grad_out, in_size):
    """grad_x: (N, C, H, W) with (H, W) = in_size."""
    raise NotImplementedError("lesson 05: implement adaptive_avg_pool2d_backward")
