"""Lesson 01: the convolution forward pass.

THE IDEA
    A convolution layer slides small filters over an image.  At every position the output is
    the dot product of a filter with the patch of input under it, plus a bias.  Every output
    channel has its own filter, and a filter looks at all the input channels at once.  (Deep-
    learning libraries compute cross-correlation and call it convolution: the filter is NOT
    flipped.)  Four settings change where the windows are:
      stride    the window moves `stride` pixels between neighbouring outputs
      padding   `padding` rows/columns of zeros are added on EVERY side of the input
      dilation  the filter's taps are `dilation` pixels apart (a 3x3 filter with dilation 2
                covers a 5x5 area with holes)
      groups    the channels are split into `groups` independent convolutions

THE FORMULA (shapes)
    x:      (N, C_in, H, W)                 weight: (C_out, C_in // groups, kH, kW)
    bias:   (C_out,) or None                out:    (N, C_out, OH, OW),  out_size = (OH, OW)

    out[n, co, oh, ow] = bias[co] + sum over ci < C_in/groups, i < kH, j < kW of
        weight[co, ci, i, j] * x[n, g*(C_in/groups) + ci, oh*sH - pH + i*dH, ow*sW - pW + j*dW]

    where g = co // (C_out/groups) is the group of output channel co, and x counts as 0 outside
    rows 0..H-1 and columns 0..W-1 (that is the zero padding: no need to build a padded copy).
    stride=(sH, sW), padding=(pH, pW), dilation=(dH, dW) are pairs of ints.  out_size is given
    (lesson 02 derives it).

A WORKED EXAMPLE
    x (1 image, 1 channel)      weight (1 filter 2x2)      bias = [0.5]
        1 2 0                       1  0
        0 1 3                       0 -1
        2 1 0
    stride 1, no padding, out_size (2, 2):
        out[0,0,0,0] = 0.5 + 1*1 + 0*2 + 0*0 + (-1)*1 = 0.5
        out = [[ 0.5, -0.5],
               [-0.5,  1.5]]
    stride 2, padding 1, out_size (2, 2): the window of output (0, 0) starts at row -1, column
    -1 (padding), so only its bottom-right tap is inside: 0.5 + (-1)*x[0,0] = -0.5;
        out = [[-0.5,  0.5],
               [-1.5,  1.5]]

WHERE IT IS USED
    tg.nn.Conv2d and tg.functional.conv2d: every convolution layer of tg.models.DigitsCNN,
    LeNet5 and SmallResNet runs this formula.

YOUR TASK
    Write conv2d_forward with plain loops over n, co, oh, ow, ci, i, j (NumPy arrays in, a
    NumPy array out, the dtype of x).  Start with stride 1, no padding, groups 1; the checker
    tells you which case fails first.  Loops over plain NumPy arrays also compile with Numba,
    which is what `python -m tinygraph.lessons train 01` does with your function.

    python -m tinygraph.lessons check 01      (a few seconds)
    python -m tinygraph.lessons train 01      (your convolution inside a real network)

AFTER IT PASSES
    Read the library's version, conv2d_forward in tinygraph/kernels/cpu/reference/conv.py
    (the checker prints the exact place), then the fast kernel in tinygraph/kernels/cpu/conv.py:
    the same sum as one matrix product (im2col).
"""

import numpy as np  # noqa: F401  (you will need it)


def conv2d_forward(x, weight, bias, stride, padding, dilation, groups, out_size):
    """out: (N, C_out, OH, OW) for x: (N, C_in, H, W), weight: (C_out, C_in // groups, kH, kW)."""
    raise NotImplementedError("lesson 01: implement conv2d_forward")
