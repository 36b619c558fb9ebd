"""Lesson 03: the convolution backward pass: gradients for the input and for the weight.

THE IDEA
    Training needs, for a loss L, dL/dx (to pass back to the layer below) and dL/dweight (to
    update the filter), given grad_out = dL/dout.  Look at the forward sum of lesson 01: every
    product  weight[co, ci, i, j] * x[n, c, ih, iw]  is added into  out[n, co, oh, ow].  So
        d out[n, co, oh, ow] / d x[n, c, ih, iw]        = weight[co, ci, i, j]
        d out[n, co, oh, ow] / d weight[co, ci, i, j]   = x[n, c, ih, iw]
    and by the chain rule each output sends grad_out * (that derivative) back along every
    product it was made of.  An input pixel inside several windows, and a weight used at every
    position of every image, ADD UP what they receive.  The loops are the forward loops again.

THE FORMULA (shapes; ih = oh*sH - pH + i*dH, iw = ow*sW - pW + j*dW, c = g*(C_in/groups) + ci)
    grad_out: (N, C_out, OH, OW)     weight: (C_out, C_in // groups, kH, kW)   x: (N, C_in, H, W)
    grad_x[n, c, ih, iw]        += grad_out[n, co, oh, ow] * weight[co, ci, i, j]   -> (N, C_in, H, W)
    grad_weight[co, ci, i, j]   += grad_out[n, co, oh, ow] * x[n, c, ih, iw]        -> weight's shape
    (only for (ih, iw) inside the input: padding has no gradient.)  in_size = (H, W) and
    kernel_size = (kH, kW) tell you the shapes to return.  (dL/dbias = grad_out summed over
    n, oh, ow.)

A WORKED EXAMPLE (lesson 01's: x 3x3, weight [[1, 0], [0, -1]], stride 1, no padding)
    grad_out = [[1, 2],
                [0, -1]]
    grad_x      = [[1,  2,  0],        grad_weight = [[4, -1],
                   [0, -2, -2],                       [1,  7]]
                   [0,  0,  1]]
    e.g. grad_weight[0, 0] = sum of grad_out * (the top-left pixel of each window)
                           = 1*1 + 2*2 + 0*0 + (-1)*1 = 4.

WHERE IT IS USED
    The backward of tg.functional.conv2d (the Conv2d Function in tinygraph/functional/conv.py)
    calls these for every convolution layer in every training step.

YOUR TASK
    Write conv2d_backward_input and conv2d_backward_weight.  The checker compares them with
    the library's on fixed and random geometries, and also with finite differences
    (tg.gradcheck): nudge each input a little, see how the forward pass changes.

    python -m tinygraph.lessons check 03
    python -m tinygraph.lessons train 03

AFTER IT PASSES
    Read conv2d_backward_input and conv2d_backward_weight in tinygraph/kernels/cpu/reference/conv.py,
    then the fast backward in tinygraph/kernels/cpu/conv.py: two matrix products and col2im.
"""

import numpy as np  # noqa: F401


def conv2d_backward_input(grad_out, weight, stride, padding, dilation, groups, in_size):
    """grad_x: (N, C_in, H, W) with (H, W) = in_size."""
    raise NotImplementedError("lesson 03: implement conv2d_backward_input")


def conv2d_backward_weight(x, grad_out, stride, padding, dilation, groups, kernel_size):
    """grad_weight: (C_out, C_in // groups, kH, kW) with (kH, kW) = kernel_size."""
    raise NotImplementedError("lesson 03: implement conv2d_backward_weight")
