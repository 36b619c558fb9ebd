"""Lesson 04: ReLU and max pooling, forward and backward (the argmax routing).

THE IDEA
    ReLU keeps positive values and zeroes the rest: relu(x) = max(x, 0).  Its derivative is 1
    where x > 0 and 0 elsewhere (0 at x = 0 too, PyTorch's rule), so the backward pass lets the
    gradient through where the output is positive and stops it elsewhere.

    Max pooling keeps the largest value of each window.  Only that winner influenced the
    output, so in the backward pass the whole gradient of the output goes to the winner and
    nothing to the others.  The forward pass therefore remembers WHERE each maximum was (the
    argmax); the backward pass routes gradients through it.

THE FORMULAS (shapes)
    relu_forward(x) -> out, any shape           out = max(x, 0)
    relu_backward(grad, out) -> grad_x          grad_x = grad where out > 0, else 0

    x: (N, C, H, W) -> out, argmax: (N, C, OH, OW)   (window geometry as in lesson 01, no groups)
    out[n, c, oh, ow]    = max over i < kH, j < kW of x[n, c, oh*sH - pH + i*dH, ow*sW - pW + j*dW]
    argmax[n, c, oh, ow] = ih * W + iw of that maximum: a flat index into the (H, W) plane, int64
    Padding never wins (it counts as -inf).  On ties the FIRST maximum in row-by-row order wins.
    max_pool2d_backward(grad_out, argmax, in_size) -> grad_x: (N, C, H, W)
    grad_x[n, c, argmax // W, argmax % W] += grad_out[n, c, oh, ow]   (windows may overlap: add)

A WORKED EXAMPLE
    relu([-2, 0, 3]) = [0, 0, 3];   relu_backward(grad=[5, 5, 5], out=[0, 0, 3]) = [0, 0, 5]
    x (4x4)          2x2 windows, stride 2:   out       argmax (ih*4 + iw)
       1 5 2 0                                 5 8       1  6
       3 4 8 1                                 6 3      12 15
       0 2 1 1
       6 1 0 3
    grad_out = [[1, 2], [3, 4]]  ->  grad_x = [[0, 1, 0, 0],
                                               [0, 0, 2, 0],
                                               [0, 0, 0, 0],
                                               [3, 0, 0, 4]]

WHERE IT IS USED
    tg.nn.ReLU and tg.nn.MaxPool2d: DigitsCNN and LeNet5 have a ReLU after every convolution
    and two max-pooling layers.

YOUR TASK
    Write the four functions (return new arrays; the argmax as an int64 array).

    python -m tinygraph.lessons check 04
    python -m tinygraph.lessons train 04

AFTER IT PASSES
    Read max_pool2d_forward and max_pool2d_backward in tinygraph/kernels/cpu/reference/pool.py,
    and tinygraph/kernels/cpu/reference/activation.py for ReLU.
"""

import numpy as np  # noqa: F401


def relu_forward(x):
    """max(x, 0) elementwise; a new array of x's shape and dtype."""
    raise NotImplementedError("lesson 04: implement relu_forward")


def relu_backward(grad, out):
    """dL/dx from grad = dL/d(relu(x)) and relu's output `out` (same shape)."""
    raise NotImplementedError("lesson 04: implement relu_backward")


def max_pool2d_forward(x, kernel_size, stride, padding, dilation, out_size):
    """(out, argmax), both (N, C, OH, OW); argmax int64, flat indices ih * W + iw."""
    raise NotImplementedError("lesson 04: implement max_pool2d_forward")


def max_pool2d_backward(grad_out, argmax, in_size):
    """grad_x: (N, C, H, W) with (H, W) = in_size."""
    raise NotImplementedError("lesson 04: implement max_pool2d_backward")
