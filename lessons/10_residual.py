"""Lesson 10: a residual block, and why its gradient survives depth.

THE IDEA
    A residual block computes a correction F(x) and ADDS its input back: out = x + F(x).  The
    backward pass of a sum sends the gradient down both paths unchanged, so
        d out / d x = I + d F / d x.
    In a plain deep network the gradient reaching the first layer is a PRODUCT of one factor
    per layer: with factors of about 0.5, twenty layers leave 0.5**20 ~ 1e-6 of it ("vanishing
    gradients"), and the first layers barely learn.  With residual blocks every factor is
    (1 + something), the product contains the plain sum of paths, and the identity path alone
    carries grad_out from the top to the bottom untouched.  That is why ResNets with 100+
    layers train.

    Here the block is a small fully connected one, so the algebra stays visible:
        out = x + relu(x @ weight1) @ weight2
    (tinygraph's BasicBlock is the same idea with two 3x3 convolutions and batch norm.)

THE FORMULAS (shapes)
    x: (N, D)   weight1: (D, H)   weight2: (H, D)   out, grad_out: (N, D)
    forward:   a = x @ weight1 (N, H),   h = relu(a),   out = x + h @ weight2
    backward:  grad_weight2 = h.T @ grad_out                      (H, D)
               grad_h       = grad_out @ weight2.T                (N, H)
               grad_a       = grad_h * (a > 0)                    (N, H)
               grad_weight1 = x.T @ grad_a                        (D, H)
               grad_x       = grad_out + grad_a @ weight1.T       (N, D)   <- the skip path: + grad_out

A WORKED EXAMPLE
    x = [[1, -1]], weight1 = [[1, 0.5], [0, 1]], weight2 = [[0.5, 0], [0, 0.5]]
    a = [[1, -0.5]], h = [[1, 0]], out = [[1, -1]] + [[0.5, 0]] = [[1.5, -1]]
    grad_out = [[1, 1]]:  grad_weight2 = [[1, 1], [0, 0]],  grad_a = [[0.5, 0]],
    grad_weight1 = [[0.5, 0], [-0.5, 0]],  grad_x = [[1, 1]] + [[0.5, 0]] = [[1.5, 1]]
    Stack 20 blocks whose branch multiplies gradients by ~0.5: plain, 0.5**20 ~ 1e-6 reaches
    the bottom; residual, at least the 1 of the identity path does.

WHERE IT IS USED
    tg.nn.BasicBlock and tg.models.SmallResNet; examples/residual_vs_plain.py trains both kinds
    of network at the same depth.

YOUR TASK
    Write residual_forward and residual_backward -> (grad_x, grad_weight1, grad_weight2).
    After it passes, try: stack 20 blocks (use your two functions in a loop), backpropagate
    ones from the top, and print the norm of grad_x at the bottom, with and without the skip.

    python -m tinygraph.lessons check 10

AFTER IT PASSES
    Read tinygraph/nn/residual.py (BasicBlock), and backward() in tinygraph/autograd.py,
    which adds up the gradients of the two paths for you.
"""

import numpy as np  # noqa: F401


def residual_forward(x, weight1, weight2):
    """out: (N, D) = x + relu(x @ weight1) @ weight2."""
    raise NotImplementedError("lesson 10: implement residual_forward")


def residual_backward(grad_out, x, weight1, weight2):
    """(grad_x, grad_weight1, grad_weight2), each shaped like the matching input."""
    raise NotImplementedError("lesson 10: implement residual_backward")
