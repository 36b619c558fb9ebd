"""Checks for lessons 07 (batch norm) and 08 (inverted dropout)."""

from __future__ import annotations

import numpy as np

from . import references as ref
from .spec import Case, FunctionSpec, GradCase, Lesson, Mistake, rng_from

EPS = 1e-5


def _x(rng, N, C, L, shift=True):
    return rng.standard_normal((N, C, L)) * rng.uniform(0.5, 3, (1, C, 1)) + (rng.uniform(-2, 2, (1, C, 1)) * shift)


def _stats_fixed():
    rng = np.random.default_rng(30)
    return [Case((np.array([[[1.0, 2.0, 3.0, 6.0]]]),), "one channel, four values"),
            Case((_x(rng, 4, 3, 5),), "(N, C, L) = (4, 3, 5)"),
            Case((_x(rng, 8, 2, 1),), "a batch of vectors: L = 1")]


def _stats_draw(pick):
    return Case((_x(rng_from(pick), pick(1, 4), pick(1, 3), pick(1, 6)),))


def _unbiased(x):
    m = x.shape[0] * x.shape[2]
    if m < 2:
        return None
    mean, var = ref.batch_norm_stats(x)
    return mean, var * m / (m - 1)


batch_norm_stats = FunctionSpec(
    "batch_norm_stats",
    ref.batch_norm_stats,
    _stats_fixed,
    _stats_draw,
    outputs=("mean", "var"),
    mistakes=[
        Mistake("normalise the batch with the BIASED variance: divide by m = N*L, not m - 1 "
                "(the unbiased one is for the running statistics)", _unbiased),
        Mistake("the statistics are per CHANNEL, over the batch and positions: axis (0, 2) of (N, C, L)",
                lambda x: (x.mean(axis=(1, 2)), x.var(axis=(1, 2))) if x.shape[0] != x.shape[1] else None),
    ],
)


def _forward_case(rng, N, C, L, note=""):
    x = _x(rng, N, C, L)
    mean, var = ref.batch_norm_stats(x)
    return Case((x, mean, 1 / np.sqrt(var + EPS), rng.standard_normal(C), rng.standard_normal(C)), note)


batch_norm_forward = FunctionSpec(
    "batch_norm_forward",
    ref.batch_norm_forward,
    lambda: [_forward_case(np.random.default_rng(31), 4, 3, 5), _forward_case(np.random.default_rng(32), 2, 1, 1)],
    lambda pick: _forward_case(rng_from(pick), pick(1, 4), pick(1, 3), pick(1, 6)),
    outputs=("y",),
    mistakes=[
        Mistake("inv_std is already 1/sqrt(var + eps): MULTIPLY by it", lambda x, m, s, w, b:
                ref.batch_norm_forward(x, m, 1 / s, w, b)),
        Mistake("y = weight * x_hat + bias: the scale and the shift are per channel too",
                lambda x, m, s, w, b: ref.batch_norm_forward(x, m, s, np.ones_like(w), np.zeros_like(b))),
    ],
)


def _backward_case(rng, N, C, L, batch_stats, note=""):
    x, mean, inv_std, weight, _ = _forward_case(rng, N, C, L).args
    if not batch_stats:  # eval: the running statistics, not this batch's
        mean, inv_std = rng.standard_normal(C), rng.uniform(0.5, 2, C)
    return Case((rng.standard_normal(x.shape), x, mean, inv_std, weight, batch_stats), note)


def _bn_gradchecks(student):
    rng = np.random.default_rng(33)
    x, w, b = _x(rng, 3, 2, 2), rng.standard_normal(2), rng.standard_normal(2)

    def train_forward(x_, w_, b_):
        mean, var = ref.batch_norm_stats(x_)
        return ref.batch_norm_forward(x_, mean, 1 / np.sqrt(var + EPS), w_, b_)

    def train_backward(g, x_, w_, b_):
        mean, var = ref.batch_norm_stats(x_)
        return student(g, x_, mean, 1 / np.sqrt(var + EPS), w_, True)

    mean, inv_std = rng.standard_normal(2), rng.uniform(0.5, 2, 2)
    return [
        GradCase("training (batch statistics): x (3, 2, 2)", (x, w, b), train_forward, train_backward),
        GradCase("eval (running statistics): x (3, 2, 2)", (x, w, b),
                 lambda x_, w_, b_: ref.batch_norm_forward(x_, mean, inv_std, w_, b_),
                 lambda g, x_, w_, b_: student(g, x_, mean, inv_std, w_, False)),
    ]


def _as_eval(g, x, mean, inv_std, w, batch_stats):
    return ref.batch_norm_backward(g, x, mean, inv_std, w, False) if batch_stats else None


batch_norm_backward = FunctionSpec(
    "batch_norm_backward",
    ref.batch_norm_backward,
    lambda: [_backward_case(np.random.default_rng(34), 4, 3, 5, True, "training: batch statistics"),
             _backward_case(np.random.default_rng(35), 4, 3, 5, False, "eval: running statistics")],
    lambda pick: _backward_case(rng_from(pick), pick(1, 4), pick(1, 3), pick(2, 6), bool(pick(0, 1))),
    outputs=("dx", "dweight", "dbias"),
    mistakes=[Mistake("in training the mean and variance are functions of x too: dx = weight*inv_std/m * "
                      "(m*dy - sum(dy) - x_hat*sum(dy*x_hat)), not just weight*inv_std*dy", _as_eval, only=("dx",))],
    gradchecks=_bn_gradchecks,
)


def _running_case(rng, C, m, momentum, note=""):
    return Case((rng.standard_normal(C), rng.uniform(0.5, 2, C), rng.standard_normal(C), rng.uniform(0.5, 2, C),
                 m, momentum), note)


def _biased_running(rm, rv, mean, var, m, momentum):
    return (1 - momentum) * rm + momentum * mean, (1 - momentum) * rv + momentum * var


def _swapped_momentum(rm, rv, mean, var, m, momentum):
    return ref.update_running_stats(rm, rv, mean, var, m, 1 - momentum)


update_running_stats = FunctionSpec(
    "update_running_stats",
    ref.update_running_stats,
    lambda: [_running_case(np.random.default_rng(36), 3, 10, 0.1), _running_case(np.random.default_rng(37), 2, 4, 0.5)],
    lambda pick: _running_case(rng_from(pick), pick(1, 4), pick(2, 50), pick(1, 9) / 10),
    outputs=("running_mean", "running_var"),
    mistakes=[
        Mistake("the running variance estimates the POPULATION variance: update it with the unbiased "
                "var * m / (m - 1), not the biased batch variance", _biased_running),
        Mistake("momentum weighs the NEW batch (PyTorch's convention): running = (1 - momentum) * running + "
                "momentum * batch", _swapped_momentum),
    ],
    read_after="tinygraph/functional/norm.py (_update_running_stats, and the BatchNorm Function)",
)

LESSON_07 = Lesson("07", "batch_norm", "batch norm in training and eval; running statistics",
                   [batch_norm_stats, batch_norm_forward, batch_norm_backward, update_running_stats], minutes=45)


# ------------------------------------------------------------------ lesson 08: dropout


def _uniform(rng, shape):
    return rng.random(shape, dtype=np.float32).astype(np.float64)  # float32 values: the library draws float32


def _dropout_case(rng, shape, p, training=True, note=""):
    return Case((rng.standard_normal(shape), p, _uniform(rng, shape), training), note)


def _dropout_fixed():
    rng = np.random.default_rng(40)
    return [
        _dropout_case(rng, (2, 5), 0.5, note="p = 0.5"),
        _dropout_case(rng, (3, 4), 0.2, note="p = 0.2"),
        _dropout_case(rng, (2, 3), 0.5, False, note="eval mode: training=False"),
        _dropout_case(rng, (2, 3), 0.0, note="p = 0: keep everything"),
        _dropout_case(rng, (2, 3), 1.0, note="p = 1: drop everything"),
    ]


def _no_rescale(x, p, u, training):
    keep = (u >= p).astype(x.dtype)
    return (x * keep, keep) if training and 0 < p < 1 else None


def _times_keep(x, p, u, training):
    mask = (u >= p) * (1 - p)
    return (x * mask, mask) if training and 0 < p < 1 else None


def _drop_where_kept(args, expected, got):
    """The kept values are those with u < p (whatever the scale)."""
    x, p, u, training = args
    try:
        return training and 0 < p < 1 and np.array_equal(np.asarray(got[1]) != 0, u < p)
    except (TypeError, IndexError, ValueError):
        return False


def _mask_in_eval(x, p, u, training):
    return None if training or p == 0 else ref.dropout_forward(x, p, u, True)


def _divided_by_zero(args, expected, got):
    try:
        return args[1] == 1.0 and not all(np.all(np.isfinite(np.asarray(g, dtype=np.float64))) for g in got)
    except (TypeError, ValueError):
        return False


dropout_forward = FunctionSpec(
    "dropout_forward",
    ref.dropout_forward,
    _dropout_fixed,
    lambda pick: _dropout_case(rng_from(pick), (pick(1, 3), pick(1, 6)), pick(0, 9) / 10, bool(pick(0, 3))),
    outputs=("y", "mask"),
    mistakes=[
        Mistake("INVERTED dropout scales the survivors by 1 / (1 - p) while training, so the expected output "
                "equals the input and eval mode needs no change", _no_rescale),
        Mistake("scale the survivors by 1 / (1 - p), not (1 - p)", _times_keep),
        Mistake("keep a value when u >= p: each survives with probability 1 - p, and p is the DROP probability",
                test=_drop_where_kept),
        Mistake("in eval mode (training=False) dropout is the identity: y = x, mask of ones", _mask_in_eval),
        Mistake("p = 1 drops everything: the mask is 0 there, with no division by 1 - p = 0", test=_divided_by_zero),
    ],
    read_after="tinygraph/functional/dropout.py (the Dropout Function)",
)


def _dropout_backward_case(rng, shape, p):
    _, mask = ref.dropout_forward(rng.standard_normal(shape), p, _uniform(rng, shape))
    return Case((rng.standard_normal(shape), mask))


def _dropout_gradchecks(student):
    rng = np.random.default_rng(41)
    x, u = rng.standard_normal((3, 4)), _uniform(rng, (3, 4))
    forward = lambda x_: ref.dropout_forward(x_, 0.5, u)[0]  # noqa: E731
    backward = lambda g, x_: (student(g, ref.dropout_forward(x_, 0.5, u)[1]),)  # noqa: E731
    return [GradCase("x (3, 4), p = 0.5", (x,), forward, backward)]


dropout_backward = FunctionSpec(
    "dropout_backward",
    ref.dropout_backward,
    lambda: [_dropout_backward_case(np.random.default_rng(42), (2, 5), 0.5),
             _dropout_backward_case(np.random.default_rng(43), (3, 3), 0.25)],
    lambda pick: _dropout_backward_case(rng_from(pick), (pick(1, 3), pick(1, 6)), pick(0, 9) / 10),
    outputs=("grad_x",),
    mistakes=[Mistake("the gradient goes through the same mask, scale included: grad * mask",
                      lambda g, mask: g * (mask != 0))],
    gradchecks=_dropout_gradchecks,
    read_after="tinygraph/functional/dropout.py (the Dropout Function)",
)

LESSON_08 = Lesson("08", "dropout", "inverted dropout, training and eval", [dropout_forward, dropout_backward],
                   minutes=15)
