"""Lesson 08: inverted dropout.

THE IDEA
    While training, dropout zeroes each value with probability p, so the network cannot lean
    on any single feature (a cheap ensemble of thinned networks).  At test time nothing is
    dropped.  But then every value would be larger, on average, than what the next layer saw
    in training, by a factor 1 / (1 - p).  INVERTED dropout fixes that during training: it
    scales the survivors by 1 / (1 - p), so the expected output equals the input, and eval
    mode is simply the identity.

THE FORMULAS (x: any shape; u: uniform random numbers in [0, 1), the shape of x)
    training:  keep = (u >= p)        each value survives with probability 1 - p
               mask = keep / (1 - p)  (p = 1: everything dropped, mask 0, no division by 0)
               y = x * mask
    eval (training=False):  y = x,  mask = ones
    backward:  grad_x = grad * mask   (y is linear in x, with slope mask)
    dropout_forward returns (y, mask): the backward pass needs the mask.

A WORKED EXAMPLE
    x = [1, 2, 3, 4], p = 0.5, u = [0.875, 0.125, 0.625, 0.25]
    keep = [1, 0, 1, 0], mask = [2, 0, 2, 0], y = [2, 0, 6, 0]     (mean of y: 2; of x: 2.5)
    Over many draws the mean of y equals the mean of x: that is the point of the 1 / (1 - p).

WHERE IT IS USED
    tg.nn.Dropout before DigitsCNN's classifier (p = 0.25); tg.functional.dropout.

YOUR TASK
    Write dropout_forward and dropout_backward.

    python -m tinygraph.lessons check 08

AFTER IT PASSES
    Read the Dropout Function in tinygraph/functional/dropout.py.
"""

import numpy as np  # noqa: F401


def dropout_forward(x, p, u, training=True):
    """(y, mask), both x's shape: keep where u >= p, scale by 1 / (1 - p); the identity when not training."""
    raise NotImplementedError("lesson 08: implement dropout_forward")


def dropout_backward(grad, mask):
    """grad_x: the gradient through y = x * mask."""
    raise NotImplementedError("lesson 08: implement dropout_backward")
