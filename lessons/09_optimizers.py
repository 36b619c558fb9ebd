"""Lesson 09: SGD with momentum and Adam, one step each.

THE IDEA
    Plain gradient descent steps against the gradient: param -= lr * grad.  MOMENTUM keeps a
    running direction, the velocity: steps add up along a consistent slope and cancel where the
    gradient keeps flipping sign.  ADAM also keeps a running mean of the SQUARED gradient, and
    divides by its square root, so every weight moves by roughly lr whatever the scale of its
    gradient.  Both running means start at 0 and are therefore too small in the first steps;
    Adam divides them by (1 - beta**t) ("bias correction") to undo that.

THE FORMULAS (param, grad, velocity, m, v: arrays of one shape; PyTorch's exact rules)
    SGD with momentum:
        velocity = grad                                   on the first step (velocity is None)
        velocity = momentum * velocity + grad             afterwards
        param    = param - lr * velocity                  (with the NEW velocity)
    Adam, step t = 1, 2, ...:
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad**2
        m_hat = m / (1 - beta1**t),   v_hat = v / (1 - beta2**t)
        param = param - lr * m_hat / (sqrt(v_hat) + eps)
    Return new arrays; leave the arguments unchanged.

A WORKED EXAMPLE
    SGD: param 1.0, grad 0.5, velocity 1.0, lr 0.1, momentum 0.9:
         velocity 0.9 * 1.0 + 0.5 = 1.4,  param 1.0 - 0.1 * 1.4 = 0.86
         first step (velocity None): velocity 0.5, param 0.95
    Adam, t = 1, param 1.0, grad 0.5, m = v = 0, lr 0.1, betas (0.9, 0.999):
         m 0.05, v 0.00025, m_hat 0.5, v_hat 0.25, param 1.0 - 0.1 * 0.5 / 0.5 = 0.9
         (the first Adam step is lr * sign(grad), whatever the gradient's size)

WHERE IT IS USED
    tg.optim.SGD(momentum=...) and tg.optim.Adam: every training loop (DigitsCNN uses Adam).

YOUR TASK
    Write sgd_momentum_step -> (param, velocity) and adam_step -> (param, m, v).

    python -m tinygraph.lessons check 09

AFTER IT PASSES
    Read SGD.step in tinygraph/optim/sgd.py and Adam.step in tinygraph/optim/adam.py
    (weight decay, dampening, Nesterov and AMSGrad are the options on top).
"""

import numpy as np  # noqa: F401


def sgd_momentum_step(param, grad, velocity, lr, momentum):
    """(new_param, new_velocity); velocity is None on the first step."""
    raise NotImplementedError("lesson 09: implement sgd_momentum_step")


def adam_step(param, grad, m, v, t, lr, beta1, beta2, eps):
    """(new_param, new_m, new_v) after Adam's step number t (counting from 1)."""
    raise NotImplementedError("lesson 09: implement adam_step")
