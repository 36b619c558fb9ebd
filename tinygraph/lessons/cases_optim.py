"""Checks for lessons 09 (SGD with momentum, Adam) and 10 (the residual block)."""

from __future__ import annotations

import numpy as np

from . import references as ref
from .spec import Case, FunctionSpec, GradCase, Lesson, Mistake, rng_from


def _sgd_case(rng, shape, first, lr, momentum, note=""):
    velocity = None if first else rng.standard_normal(shape)
    return Case((rng.standard_normal(shape), rng.standard_normal(shape), velocity, lr, momentum), note)


def _old_velocity_step(p, g, v, lr, momentum):
    v_old = np.zeros_like(p) if v is None else v
    return p - lr * v_old, momentum * v_old + g


def _dampened(p, g, v, lr, momentum):
    v_new = (1 - momentum) * g if v is None else momentum * v + (1 - momentum) * g
    return p - lr * v_new, v_new


def _lr_in_velocity(p, g, v, lr, momentum):
    v_new = -lr * g if v is None else momentum * v - lr * g
    return p + v_new, v_new


sgd_momentum_step = FunctionSpec(
    "sgd_momentum_step",
    ref.sgd_momentum_step,
    lambda: [
        Case((np.array([1.0, -2.0]), np.array([0.5, 0.5]), None, 0.1, 0.9), "first step: no velocity yet"),
        Case((np.array([1.0, -2.0]), np.array([0.5, 0.5]), np.array([1.0, 0.0]), 0.1, 0.9), "a later step"),
        _sgd_case(np.random.default_rng(50), (2, 3), False, 0.01, 0.5, "a (2, 3) weight"),
    ],
    lambda pick: _sgd_case(rng_from(pick), (pick(1, 3), pick(1, 3)), bool(pick(0, 1)), pick(1, 10) / 100,
                           pick(1, 9) / 10),
    outputs=("param", "velocity"),
    mistakes=[
        Mistake("the order: FIRST update the velocity (v = momentum * v + grad), THEN step with the new "
                "velocity (param = param - lr * v)", _old_velocity_step),
        Mistake("PyTorch's velocity adds the whole gradient: v = momentum * v + grad (no (1 - momentum) factor; "
                "on the first step v = grad)", _dampened),
        Mistake("the velocity holds gradients, not steps: the learning rate multiplies only in "
                "param - lr * v", _lr_in_velocity),
    ],
    read_after="tinygraph/optim/sgd.py (SGD.step)",
)


def _adam_case(rng, shape, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, note=""):
    if t == 1:
        m, v = np.zeros(shape), np.zeros(shape)
    else:
        m, v = rng.standard_normal(shape) * 0.1, rng.uniform(0, 0.01, shape)
    return Case((rng.standard_normal(shape), rng.standard_normal(shape), m, v, t, lr, beta1, beta2, eps), note)


def _no_bias_correction(p, g, m, v, t, lr, b1, b2, eps):
    m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
    return p - lr * m / (np.sqrt(v) + eps), m, v


def _eps_inside(p, g, m, v, t, lr, b1, b2, eps):
    m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
    return p - lr * (m / (1 - b1**t)) / np.sqrt(v / (1 - b2**t) + eps), m, v


def _abs_not_square(p, g, m, v, t, lr, b1, b2, eps):
    return _from_moments(p, b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * np.abs(g), t, lr, b1, b2, eps)


def _from_moments(p, m, v, t, lr, b1, b2, eps):
    return p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps), m, v


adam_step = FunctionSpec(
    "adam_step",
    ref.adam_step,
    lambda: [
        _adam_case(np.random.default_rng(51), (3,), 1, note="step 1 from zero moments"),
        _adam_case(np.random.default_rng(52), (2, 2), 5, note="step 5"),
        _adam_case(np.random.default_rng(53), (4,), 3, lr=0.1, eps=1e-2, note="a large eps"),
    ],
    lambda pick: _adam_case(rng_from(pick), (pick(1, 3),), pick(1, 20), pick(1, 100) / 1000, pick(5, 9) / 10,
                            (0.9, 0.99, 0.999)[pick(0, 2)], (1e-8, 1e-3)[pick(0, 1)]),
    outputs=("param", "m", "v"),
    mistakes=[
        Mistake("bias correction: m and v start at 0, so divide them by (1 - beta1**t) and (1 - beta2**t)",
                _no_bias_correction, only=("param",)),
        Mistake("eps goes OUTSIDE the square root: sqrt(v_hat) + eps", _eps_inside, only=("param",)),
        Mistake("the second moment averages the SQUARED gradient: v = beta2 * v + (1 - beta2) * grad**2",
                _abs_not_square, only=("v",)),
    ],
    read_after="tinygraph/optim/adam.py (Adam.step)",
)

LESSON_09 = Lesson("09", "optimizers", "SGD with momentum and Adam, one step each", [sgd_momentum_step, adam_step],
                   minutes=20)


# ------------------------------------------------------------------ lesson 10: residual block


def _residual_case(rng, N, D, H, note=""):
    return Case((rng.standard_normal((N, D)), rng.standard_normal((D, H)) * 0.5, rng.standard_normal((H, D)) * 0.5),
                note)


def _residual_draw(pick):
    return _residual_case(rng_from(pick), pick(1, 4), pick(1, 4), pick(1, 5))


residual_forward = FunctionSpec(
    "residual_forward",
    ref.residual_forward,
    lambda: [_residual_case(np.random.default_rng(60), 2, 3, 4), _residual_case(np.random.default_rng(61), 1, 2, 2)],
    _residual_draw,
    mistakes=[
        Mistake("the block ADDS its input back: out = x + relu(x @ weight1) @ weight2",
                lambda x, w1, w2: np.maximum(x @ w1, 0) @ w2),
        Mistake("the ReLU is inside the branch, before weight2 (the skip path has no ReLU here)",
                lambda x, w1, w2: x + np.maximum(x @ w1 @ w2, 0)),
    ],
    read_after="tinygraph/nn/residual.py (BasicBlock: the same idea with convolutions and batch norm)",
)


def _residual_backward_case(case: Case, rng):
    x, w1, w2 = case.args
    return Case((rng.standard_normal(x.shape), x, w1, w2), case.note)


def _no_skip_gradient(g, x, w1, w2):
    gx, gw1, gw2 = ref.residual_backward(g, x, w1, w2)
    return gx - g, gw1, gw2


residual_backward = FunctionSpec(
    "residual_backward",
    ref.residual_backward,
    lambda: [_residual_backward_case(c, np.random.default_rng(62)) for c in residual_forward.fixed()],
    lambda pick: _residual_backward_case(_residual_draw(pick), rng_from(pick)),
    outputs=("grad_x", "grad_weight1", "grad_weight2"),
    mistakes=[Mistake("the skip path sends grad_out straight back: grad_x = grad_out + (the branch's gradient). "
                      "That '+ grad_out' is why the gradient survives depth", _no_skip_gradient, only=("grad_x",))],
    gradchecks=lambda student: [GradCase(
        "x (2, 3), weight1 (3, 4), weight2 (4, 3)", _residual_case(np.random.default_rng(63), 2, 3, 4).args,
        ref.residual_forward, lambda g, x, w1, w2: student(g, x, w1, w2))],
    read_after="tinygraph/nn/residual.py (BasicBlock), and autograd.py: backward() adds the two paths' gradients",
)

LESSON_10 = Lesson("10", "residual", "a residual block, and why its gradient survives depth",
                   [residual_forward, residual_backward], minutes=25)
