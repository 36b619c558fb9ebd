"""Checks for lesson 06: softmax, log-softmax, cross-entropy and its gradient."""

from __future__ import annotations

import numpy as np

from . import references as ref
from .spec import Case, FunctionSpec, GradCase, Lesson, Mistake, rng_from

LARGE = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, 1000.0]])  # exp(1000) overflows float64


def _logits_cases():
    rng = np.random.default_rng(20)
    return [
        Case((np.array([[1.0, 2.0, 3.0]]),), "one row of small logits"),
        Case((rng.standard_normal((4, 5)),), "a batch of 4 rows, 5 classes"),
        Case((LARGE.copy(),), "large logits (exp(1000) overflows)"),
    ]


def _logits_draw(pick):
    scale = (1.0, 10.0, 1000.0)[pick(0, 2)]
    return Case((rng_from(pick).standard_normal((pick(1, 4), pick(2, 6))) * scale,))


UNSTABLE = (
    "exp of a large logit overflows to inf (inf/inf = nan): subtract each row's max first, "
    "softmax(x) = softmax(x - max(x)) exactly"
)
AXIS = "softmax runs over the classes of each row: sum over axis -1 (keepdims=True), not over the batch"


def _naive_softmax(x):
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def _nonfinite_large(args, expected, got):
    try:
        return np.abs(args[0]).max() > 700 and not np.all(np.isfinite(np.asarray(got, dtype=np.float64)))
    except (TypeError, ValueError):
        return False


softmax = FunctionSpec(
    "softmax",
    ref.softmax,
    _logits_cases,
    _logits_draw,
    mistakes=[
        Mistake(UNSTABLE, test=_nonfinite_large),
        Mistake(AXIS, lambda x: np.exp(x - x.max()) / np.exp(x - x.max()).sum(axis=0, keepdims=True)),
    ],
)

log_softmax = FunctionSpec(
    "log_softmax",
    ref.log_softmax,
    _logits_cases,
    _logits_draw,
    mistakes=[
        Mistake(UNSTABLE + "; then log_softmax = (x - max) - log(sum(exp(x - max))), with no log of a 0",
                test=_nonfinite_large),
        Mistake("log(softmax(x)) gives log(0) = -inf for very unlikely classes: compute "
                "(x - max) - log(sum(exp(x - max))) directly",
                lambda x: np.log(ref.softmax(x))),
    ],
)


def _ce_case(rng, N, C, scale=1.0, note=""):
    return Case((rng.standard_normal((N, C)) * scale, rng.integers(0, C, N)), note)


def _ce_fixed():
    rng = np.random.default_rng(21)
    return [
        Case((np.array([[2.0, 1.0, 0.1]]), np.array([0])), "one sample"),
        _ce_case(rng, 4, 5, note="a batch of 4"),
        Case((LARGE.copy(), np.array([0, 1])), "large logits"),
    ]


def _ce_draw(pick):
    return _ce_case(rng_from(pick), pick(1, 5), pick(2, 6), (1.0, 10.0, 1000.0)[pick(0, 2)])


def _one_hot(labels, C):
    return np.eye(C)[labels]


cross_entropy = FunctionSpec(
    "cross_entropy",
    ref.cross_entropy,
    _ce_fixed,
    _ce_draw,
    outputs=("loss",),
    mistakes=[
        Mistake(UNSTABLE, test=_nonfinite_large),
        Mistake("the loss is the MEAN over the batch, not the sum",
                lambda z, y: None if len(y) == 1 else ref.cross_entropy(z, y) * len(y)),
        Mistake("cross-entropy is MINUS the log-probability of the right class",
                lambda z, y: -ref.cross_entropy(z, y)),
    ],
)


def _ce_gradchecks(student):
    z, y = _ce_case(np.random.default_rng(22), 3, 4).args
    forward = lambda z_: np.asarray(ref.cross_entropy(z_, y))  # noqa: E731
    return [GradCase("logits (3, 4), labels (3,)", (z,), forward, lambda g, z_: (g * student(z_, y),))]


cross_entropy_backward = FunctionSpec(
    "cross_entropy_backward",
    ref.cross_entropy_backward,
    _ce_fixed,
    _ce_draw,
    outputs=("grad_logits",),
    mistakes=[
        Mistake(UNSTABLE, test=_nonfinite_large),
        Mistake("the loss is a mean over N rows, so its gradient is (softmax - one_hot) / N",
                lambda z, y: None if len(y) == 1 else ref.cross_entropy_backward(z, y) * len(y)),
        Mistake("the sign: d loss / d logits = softmax - one_hot (the right class is pushed UP by gradient "
                "descent because its gradient is negative)", lambda z, y: -ref.cross_entropy_backward(z, y)),
    ],
    gradchecks=_ce_gradchecks,
)

LESSON_06 = Lesson("06", "softmax_cross_entropy", "softmax, stable log-softmax, cross-entropy and its gradient",
                   [softmax, log_softmax, cross_entropy, cross_entropy_backward], minutes=30)
for _spec in LESSON_06.functions:
    _spec.read_after = ("tinygraph/functional/activation.py (Softmax, LogSoftmax) and "
                        "tinygraph/functional/loss.py (SoftTargetCrossEntropy)")
