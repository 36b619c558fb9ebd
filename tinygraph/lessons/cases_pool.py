"""Checks for lessons 04 (ReLU, max pooling) and 05 (average pooling)."""

from __future__ import annotations

import numpy as np

from . import references as ref
from .cases_conv import WRAPPED, out_len, wrapped
from .spec import Case, FunctionSpec, GradCase, Lesson, Mistake, rng_from

# ------------------------------------------------------------------ ReLU


def _relu_input(rng, shape):
    x = rng.standard_normal(shape)
    x.reshape(-1)[::5] = 0.0  # exact zeros: the kink, where the derivative is 0
    return x


relu_forward = FunctionSpec(
    "relu_forward",
    ref.relu_forward,
    lambda: [Case((np.array([-2.0, -0.5, 0.0, 0.5, 3.0]),), "a few numbers"),
             Case((_relu_input(np.random.default_rng(4), (2, 3, 4, 4)),), "an image batch")],
    lambda pick: Case((_relu_input(rng_from(pick), (pick(1, 3), pick(1, 3), pick(1, 5))),)),
    mistakes=[Mistake("relu keeps the positive values as they are: max(x, 0), not 0/1",
                      lambda x: (x > 0).astype(x.dtype))],
)


def _relu_backward_case(rng, shape, note=""):
    out = np.maximum(_relu_input(rng, shape), 0)
    return Case((rng.standard_normal(shape), out), note)


def _relu_gradchecks(student):
    x = np.random.default_rng(5).standard_normal((2, 3, 3))
    x += np.sign(x) * 0.1  # away from the kink, where finite differences are not defined
    return [GradCase(f"x {x.shape}", (x,), ref.relu_forward, lambda g, x_: (student(g, ref.relu_forward(x_)),))]


relu_backward = FunctionSpec(
    "relu_backward",
    ref.relu_backward,
    lambda: [_relu_backward_case(np.random.default_rng(6), (5,), "with zeros in out"),
             _relu_backward_case(np.random.default_rng(7), (2, 2, 3, 3))],
    lambda pick: _relu_backward_case(rng_from(pick), (pick(1, 3), pick(1, 6))),
    mistakes=[
        Mistake("relu'(x) is 0 at x = 0 (PyTorch's rule): pass the gradient only where out > 0, not out >= 0",
                lambda g, out: g * (out >= 0)),
        Mistake("the gradient stops where relu clipped: multiply by (out > 0)", lambda g, out: g.copy()),
        Mistake("the backward pass multiplies the INCOMING gradient by relu', it does not return relu' alone",
                lambda g, out: (out > 0).astype(g.dtype)),
    ],
    gradchecks=_relu_gradchecks,
    outputs=("grad_x",),
)

# ------------------------------------------------------------------ max pooling


def pool_case(x, k, stride=None, padding=(0, 0), dilation=(1, 1), note=""):
    stride = stride or k
    out_size = tuple(out_len(n, kk, s, p, d) for n, kk, s, p, d in zip(x.shape[2:], k, stride, padding, dilation))
    return Case((x, tuple(k), tuple(stride), tuple(padding), tuple(dilation), out_size), note)


def _max_fixed():
    rng = np.random.default_rng(8)
    return [
        pool_case(rng.standard_normal((1, 1, 4, 4)), (2, 2), note="2x2 windows, stride 2"),
        pool_case(rng.standard_normal((2, 2, 5, 5)), (3, 3), (1, 1), note="overlapping 3x3 windows, stride 1"),
        pool_case(-1 - rng.random((1, 2, 4, 4)), (3, 3), (2, 2), (1, 1), note="all inputs negative, padding 1"),
        pool_case(rng.standard_normal((1, 1, 7, 7)), (2, 2), (1, 1), (0, 0), (2, 2), note="dilation 2"),
        pool_case(np.ones((1, 1, 4, 4)), (2, 2), note="ties: every value equal"),
    ]


def _max_draw(pick):
    k = (pick(1, 3), pick(1, 3))
    stride, dilation = (pick(1, 3), pick(1, 3)), (pick(1, 2), pick(1, 2))
    padding = (pick(0, k[0] // 2), pick(0, k[1] // 2))  # PyTorch: padding at most half the kernel
    H = pick(max(1, dilation[0] * (k[0] - 1) + 1 - 2 * padding[0]), 7)
    W = pick(max(1, dilation[1] * (k[1] - 1) + 1 - 2 * padding[1]), 7)
    return pool_case(rng_from(pick).standard_normal((pick(1, 2), pick(1, 2), H, W)), k, stride, padding, dilation)


def _zero_padding(x, k, stride, padding, dilation, out_size):
    pH, pW = padding
    if pH == pW == 0:
        return None
    xp = np.pad(x, ((0, 0), (0, 0), (pH, pH), (pW, pW)))
    return ref.max_pool2d_forward(xp, k, stride, (0, 0), dilation, out_size)


def _wrapped_max(x, k, stride, padding, dilation, out_size):
    xw = wrapped(x, padding)
    return None if xw is None else ref.max_pool2d_forward(xw, k, stride, (0, 0), dilation, out_size)


def _window_index(args, expected, got):
    """argmax given as the tap's number inside its window (0 .. kH*kW - 1) instead of ih*W + iw."""
    try:
        argmax = np.asarray(got[1])
        k = args[1]
        return (np.allclose(got[0], expected[0]) and argmax.shape == expected[1].shape
                and not np.array_equal(argmax, expected[1]) and argmax.max() < k[0] * k[1])
    except Exception:
        return False


def _last_tie(args, expected, got):
    x = args[0]
    try:
        return (np.unique(x).size < x.size and np.allclose(got[0], expected[0])
                and not np.array_equal(np.asarray(got[1]), expected[1]))
    except Exception:
        return False


max_pool2d_forward = FunctionSpec(
    "max_pool2d_forward",
    ref.max_pool2d_forward,
    _max_fixed,
    _max_draw,
    outputs=("out", "argmax"),
    mistakes=[
        Mistake("padding must never win a max: treat it as -inf (skip taps outside the input), not as 0",
                _zero_padding, only=("out",)),
        Mistake(WRAPPED, _wrapped_max, only=("out",)),
        Mistake("argmax is the winner's flat index in the input PLANE, ih * W + iw, not its place in the window",
                test=_window_index),
        Mistake("on ties keep the FIRST maximum in row-by-row order: replace the best only when strictly larger",
                test=_last_tie),
    ],
)


def _max_backward_case(case: Case, rng):
    out, argmax = ref.max_pool2d_forward(*case.args)
    return Case((rng.standard_normal(out.shape), argmax, case.args[0].shape[2:]), case.note)


def _overwrite(grad_out, argmax, in_size):
    grad_x = np.zeros(grad_out.shape[:2] + tuple(in_size))
    flat = grad_x.reshape(grad_out.shape[:2] + (-1,))
    for n in range(grad_out.shape[0]):
        for c in range(grad_out.shape[1]):
            for o, i in zip(grad_out[n, c].reshape(-1), argmax[n, c].reshape(-1)):
                if i >= 0:
                    flat[n, c, i] = o
    return grad_x


def _max_gradchecks(student):
    case = pool_case(np.random.default_rng(9).standard_normal((1, 2, 5, 5)), (3, 3), (2, 2), (1, 1))
    _, k, stride, padding, dilation, out_size = case.args
    forward = lambda x_: ref.max_pool2d_forward(x_, k, stride, padding, dilation, out_size)[0]  # noqa: E731

    def backward(g, x_):
        argmax = ref.max_pool2d_forward(x_, k, stride, padding, dilation, out_size)[1]
        return (student(g, argmax, x_.shape[2:]),)

    return [GradCase("x (1, 2, 5, 5), 3x3 windows, stride 2, padding 1", (case.args[0],), forward, backward)]


max_pool2d_backward = FunctionSpec(
    "max_pool2d_backward",
    ref.max_pool2d_backward,
    lambda: [_max_backward_case(c, np.random.default_rng(10)) for c in _max_fixed()],
    lambda pick: _max_backward_case(_max_draw(pick), rng_from(pick)),
    outputs=("grad_x",),
    mistakes=[Mistake("windows overlap, so one input can win several of them: ADD (+=) their gradients, "
                      "do not overwrite", _overwrite)],
    gradchecks=_max_gradchecks,
)

LESSON_04 = Lesson("04", "relu_maxpool", "ReLU and max pooling, forward and backward (the argmax routing)",
                   [relu_forward, relu_backward, max_pool2d_forward, max_pool2d_backward], minutes=40)


# ------------------------------------------------------------------ average pooling


def avg_case(x, k, stride=None, padding=(0, 0), count_include_pad=True, divisor_override=0, note=""):
    stride = stride or k
    out_size = tuple(out_len(n, kk, s, p, 1) for n, kk, s, p in zip(x.shape[2:], k, stride, padding))
    return Case((x, tuple(k), tuple(stride), tuple(padding), out_size, count_include_pad, divisor_override), note)


def _avg_fixed():
    rng = np.random.default_rng(11)
    return [
        avg_case(rng.standard_normal((1, 1, 4, 4)), (2, 2), note="2x2 windows, stride 2"),
        avg_case(rng.standard_normal((2, 2, 5, 5)), (3, 3), (1, 1), note="overlapping windows"),
        avg_case(rng.standard_normal((1, 1, 4, 4)), (3, 3), (2, 2), (1, 1), True, note="padding, count_include_pad"),
        avg_case(rng.standard_normal((1, 1, 4, 4)), (3, 3), (2, 2), (1, 1), False,
                 note="padding, count_include_pad=False"),
        avg_case(rng.standard_normal((1, 1, 4, 4)), (2, 2), divisor_override=3, note="divisor_override=3"),
    ]


def _avg_draw(pick):
    k = (pick(1, 3), pick(1, 3))
    stride, padding = (pick(1, 3), pick(1, 3)), (pick(0, k[0] // 2), pick(0, k[1] // 2))
    H, W = pick(max(1, k[0] - 2 * padding[0]), 7), pick(max(1, k[1] - 2 * padding[1]), 7)
    x = rng_from(pick).standard_normal((pick(1, 2), pick(1, 2), H, W))
    return avg_case(x, k, stride, padding, bool(pick(0, 1)), pick(0, 1) * pick(1, 5))


def _flip_count(fn):
    def compute(*args):
        args = list(args)
        i = 5  # count_include_pad is the 6th argument of both avg-pool functions
        if args[i + 1] or max(args[3]) == 0:
            return None
        args[i] = not args[i]
        return fn(*args)

    return compute


COUNT_HINT = (
    "the divisor near the border: count_include_pad=True counts the padding taps of the window, False only "
    "the taps inside the input (and divisor_override, when not 0, replaces both)"
)

avg_pool2d_forward = FunctionSpec(
    "avg_pool2d_forward",
    ref.avg_pool2d_forward,
    _avg_fixed,
    _avg_draw,
    mistakes=[
        Mistake(COUNT_HINT, _flip_count(ref.avg_pool2d_forward)),
        Mistake("divisor_override, when not 0, is the divisor of every window",
                lambda *a: None if not a[6] else ref.avg_pool2d_forward(*a[:6], 0)),
    ],
)


def _avg_backward_case(case: Case, rng):
    x, k, stride, padding, out_size, count_include_pad, divisor_override = case.args
    grad_out = rng.standard_normal(x.shape[:2] + tuple(out_size))
    return Case((grad_out, x.shape[2:], k, stride, padding, count_include_pad, divisor_override), case.note)


def _avg_gradchecks(student):
    case = avg_case(np.random.default_rng(12).standard_normal((1, 1, 5, 5)), (3, 3), (2, 2), (1, 1), False)
    _, k, stride, padding, out_size, cip, div = case.args
    forward = lambda x_: ref.avg_pool2d_forward(x_, k, stride, padding, out_size, cip, div)  # noqa: E731
    backward = lambda g, x_: (student(g, x_.shape[2:], k, stride, padding, cip, div),)  # noqa: E731
    return [GradCase("x (1, 1, 5, 5), 3x3 windows, stride 2, padding 1, count_include_pad=False",
                     (case.args[0],), forward, backward)]


def _flip_count_backward(*args):
    args = list(args)
    if args[6] or max(args[4]) == 0:
        return None
    args[5] = not args[5]
    return ref.avg_pool2d_backward(*args)


avg_pool2d_backward = FunctionSpec(
    "avg_pool2d_backward",
    ref.avg_pool2d_backward,
    lambda: [_avg_backward_case(c, np.random.default_rng(13)) for c in _avg_fixed()],
    lambda pick: _avg_backward_case(_avg_draw(pick), rng_from(pick)),
    outputs=("grad_x",),
    mistakes=[Mistake(COUNT_HINT, _flip_count_backward)],
    gradchecks=_avg_gradchecks,
)


def _adaptive_case(x, out_size, note=""):
    return Case((x, tuple(out_size)), note)


def _adaptive_floor_end(x, out_size):
    """Windows ending at floor((i+1)*H/OH) instead of ceil: they never overlap and can miss pixels."""
    N, C, H, W = x.shape
    OH, OW = out_size
    out = np.zeros((N, C, OH, OW))
    for oh in range(OH):
        h0, h1 = oh * H // OH, max((oh + 1) * H // OH, oh * H // OH + 1)
        for ow in range(OW):
            w0, w1 = ow * W // OW, max((ow + 1) * W // OW, ow * W // OW + 1)
            out[:, :, oh, ow] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return out


adaptive_avg_pool2d_forward = FunctionSpec(
    "adaptive_avg_pool2d_forward",
    ref.adaptive_avg_pool2d_forward,
    lambda: [_adaptive_case(np.random.default_rng(14).standard_normal((1, 2, 4, 4)), (2, 2), "windows that tile"),
             _adaptive_case(np.random.default_rng(15).standard_normal((1, 1, 5, 7)), (3, 2), "overlapping windows"),
             _adaptive_case(np.random.default_rng(16).standard_normal((2, 1, 3, 3)), (1, 1), "global average")],
    lambda pick: _adaptive_case(rng_from(pick).standard_normal((1, pick(1, 2), pick(1, 7), pick(1, 7))),
                                (pick(1, 4), pick(1, 4))),
    mistakes=[Mistake("window i runs from floor(i*H/OH) to ceil((i+1)*H/OH) - 1: the end rounds UP, so "
                      "neighbouring windows may overlap", _adaptive_floor_end)],
)


def _adaptive_backward_case(case, rng):
    x, out_size = case.args
    return Case((rng.standard_normal(x.shape[:2] + out_size), x.shape[2:]), case.note)


adaptive_avg_pool2d_backward = FunctionSpec(
    "adaptive_avg_pool2d_backward",
    ref.adaptive_avg_pool2d_backward,
    lambda: [_adaptive_backward_case(c, np.random.default_rng(17)) for c in adaptive_avg_pool2d_forward.fixed()],
    lambda pick: _adaptive_backward_case(adaptive_avg_pool2d_forward.draw(pick), rng_from(pick)),
    outputs=("grad_x",),
    gradchecks=lambda student: [GradCase(
        "x (1, 1, 5, 7), out_size (3, 2)", (np.random.default_rng(18).standard_normal((1, 1, 5, 7)),),
        lambda x_: ref.adaptive_avg_pool2d_forward(x_, (3, 2)), lambda g, x_: (student(g, x_.shape[2:]),))],
)

LESSON_05 = Lesson("05", "avg_pool", "average pooling: windows, padding and divisors; adaptive pooling",
                   [avg_pool2d_forward, avg_pool2d_backward, adaptive_avg_pool2d_forward, adaptive_avg_pool2d_backward],
                   minutes=30)
