"""Checks for lessons 01-03: convolution forward, output sizes, convolution backward."""

from __future__ import annotations

import numpy as np

from . import references as ref
from .spec import Case, FunctionSpec, GradCase, Lesson, Mistake, rng_from


def out_len(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def conv_case(rng, N, C_in, C_out, H, W, k, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1,
              bias=True, note=""):
    """Arguments of ``conv2d_forward`` for the given geometry, with random float64 values."""
    x = rng.standard_normal((N, C_in, H, W))
    weight = rng.standard_normal((C_out, C_in // groups) + tuple(k))
    b = rng.standard_normal(C_out) if bias else None
    out_size = tuple(out_len(n, kk, s, p, d) for n, kk, s, p, d in zip((H, W), k, stride, padding, dilation))
    return Case((x, weight, b, tuple(stride), tuple(padding), tuple(dilation), groups, out_size), note)


def draw_geometry(pick):
    """A random small convolution: ``(N, C_in, C_out, H, W, k, stride, padding, dilation, groups)``."""
    groups = pick(1, 2)
    C_in, C_out = groups * pick(1, 2), groups * pick(1, 2)
    k = (pick(1, 3), pick(1, 3))
    stride, dilation, padding = (pick(1, 2), pick(1, 2)), (pick(1, 2), pick(1, 2)), (pick(0, 2), pick(0, 2))
    H = pick(max(1, dilation[0] * (k[0] - 1) + 1 - 2 * padding[0]), 6)
    W = pick(max(1, dilation[1] * (k[1] - 1) + 1 - 2 * padding[1]), 6)
    return pick(1, 2), C_in, C_out, H, W, k, stride, padding, dilation, groups


def _forward_fixed():
    rng = np.random.default_rng(1)
    return [
        conv_case(rng, 1, 1, 1, 4, 4, (3, 3), bias=False, note="one channel, no padding, no bias"),
        conv_case(rng, 1, 1, 1, 4, 5, (2, 3), note="with a bias"),
        conv_case(rng, 2, 3, 2, 5, 5, (3, 3), note="two images, three input channels"),
        conv_case(rng, 1, 2, 2, 7, 6, (3, 3), stride=(2, 2), note="stride 2"),
        conv_case(rng, 1, 1, 2, 4, 4, (3, 3), padding=(1, 1), note="padding 1 on every side"),
        conv_case(rng, 1, 1, 1, 5, 4, (3, 2), padding=(2, 1), note="different padding for rows and columns"),
        conv_case(rng, 1, 1, 1, 7, 7, (3, 3), dilation=(2, 2), note="dilation 2"),
        conv_case(rng, 1, 4, 4, 4, 4, (3, 3), padding=(1, 1), groups=2, note="groups 2"),
        conv_case(rng, 1, 3, 3, 5, 5, (3, 3), padding=(1, 1), groups=3, note="depthwise: groups = channels"),
    ]


def _forward_draw(pick):
    N, C_in, C_out, H, W, k, stride, padding, dilation, groups = draw_geometry(pick)
    return conv_case(rng_from(pick), N, C_in, C_out, H, W, k, stride, padding, dilation, groups, bias=bool(pick(0, 1)))


def _with(args, **changes):
    """``args`` of conv2d_forward / the backward functions with some geometry replaced."""
    names = ("stride", "padding", "dilation", "groups")
    args = list(args)
    first = len(args) - 5  # stride is the 5th argument from the end in all three signatures
    for name, value in changes.items():
        args[first + names.index(name)] = value
    return args


FLIPPED = (
    "your answer equals a convolution with the kernel flipped: deep-learning 'convolution' is "
    "cross-correlation, weight[co, ci, i, j] multiplies x[n, c, oh*sH - pH + i*dH, ow*sW - pW + j*dW] "
    "with i and j counting up from the window's top-left corner"
)
ONE_SIDE = (
    "your answer equals no padding at the top/left: padding is on both sides, so the input row of tap i "
    "is oh*stride - padding + i*dilation (rows outside 0..H-1 are zeros)"
)
OFF_BY_ONE = (
    "your windows are one row/column off: the input row of tap i is oh*stride - padding + i*dilation, "
    "exactly (check the '- padding' term)"
)
NO_DILATION = "your answer ignores dilation: the kernel's taps are dilation apart, + i*dilation, not + i"
NO_STRIDE = "your answer ignores the stride: output oh starts at input row oh*stride - padding"
GROUPS = (
    "with groups, output channel co sees only its group's input channels: g = co // (C_out // groups), "
    "input channel g*(C_in // groups) + ci"
)


def _geometry_mistakes(fn, flip):
    """The geometry mistakes of a function whose last five arguments are stride..size."""

    def padded(dh, dw):  # a negative padding shifts the windows the other way; the loops allow it
        return lambda *args: fn(*_with(args, padding=(args[-4][0] + dh, args[-4][1] + dw)))

    def unpadded(rows, cols):
        return lambda *args: fn(*_with(args, padding=(0 if rows else args[-4][0], 0 if cols else args[-4][1])))

    shifts = [(dh, dw) for dh in (-1, 0, 1) for dw in (-1, 0, 1) if (dh, dw) != (0, 0)]
    return (
        [Mistake(FLIPPED, compute=flip)]
        + [Mistake(ONE_SIDE, compute=unpadded(r, c)) for r, c in ((True, True), (True, False), (False, True))]
        + [Mistake(OFF_BY_ONE, compute=padded(dh, dw)) for dh, dw in shifts]
        + [
            Mistake(NO_DILATION, compute=lambda *a: fn(*_with(a, dilation=(1, 1)))),
            Mistake(NO_STRIDE, compute=lambda *a: fn(*_with(a, stride=(1, 1)))),
        ]
    )


WRAPPED = (
    "a negative index wraps around in NumPy: x[n, c, -1, 0] is the LAST row, not padding. Skip the taps "
    "with ih < 0 or ih >= H (and iw < 0 or iw >= W): the padding adds nothing"
)


def wrapped(x, padding):
    """``x`` with its last rows/columns copied in front: what reading x[..., -1, ...] as padding sees."""
    pH, pW = padding
    if pH == pW == 0 or pH > x.shape[2] or pW > x.shape[3]:
        return None
    x = np.concatenate([x[:, :, x.shape[2] - pH:], x], axis=2)
    return np.ascontiguousarray(np.concatenate([x[:, :, :, x.shape[3] - pW:], x], axis=3))


def _wrapped_forward(x, weight, bias, stride, padding, dilation, groups, out_size):
    xw = wrapped(x, padding)
    return None if xw is None else ref.conv2d_forward(xw, weight, bias, stride, (0, 0), dilation, groups, out_size)


def _flip_weight_forward(x, weight, *rest):
    return ref.conv2d_forward(x, weight[:, :, ::-1, ::-1].copy(), *rest)


def _first_group_forward(x, weight, bias, stride, padding, dilation, groups, out_size):
    if groups == 1:
        return None
    return ref.conv2d_forward(x[:, : weight.shape[1]].copy(), weight, bias, stride, padding, dilation, 1, out_size)


def _missing_bias(x, weight, bias, *rest):
    return None if bias is None else ref.conv2d_forward(x, weight, None, *rest)


conv2d_forward = FunctionSpec(
    "conv2d_forward",
    ref.conv2d_forward,
    _forward_fixed,
    _forward_draw,
    mistakes=_geometry_mistakes(ref.conv2d_forward, _flip_weight_forward)
    + [
        Mistake("your answer is missing the bias: add bias[co] to every output of channel co", _missing_bias),
        Mistake(WRAPPED, _wrapped_forward),
        Mistake(GROUPS, _first_group_forward),
    ],
)

LESSON_01 = Lesson("01", "conv_forward", "convolution forward: windows, stride, padding, dilation, groups",
                   [conv2d_forward], minutes=45)


# ------------------------------------------------------------------ lesson 02


def _size_draw(pick):
    k, s, d, p = pick(1, 7), pick(1, 4), pick(1, 3), pick(0, 3)
    return Case((pick(max(1, d * (k - 1) + 1 - 2 * p), 40), k, s, p, d))


def _size_fixed():
    return [
        Case((5, 3, 1, 0, 1), "no padding: a 3-wide kernel fits 3 times in 5"),
        Case((28, 5, 1, 2, 1), "LeNet's first layer: padding 2 keeps 28"),
        Case((7, 3, 2, 1, 1), "stride 2"),
        Case((8, 3, 2, 1, 1), "stride 2, the division does not come out even"),
        Case((10, 3, 1, 0, 2), "dilation 2: the kernel spans 5 pixels"),
        Case((4, 1, 3, 0, 1), "1x1 kernel, stride 3"),
    ]


conv_output_size = FunctionSpec(
    "conv_output_size",
    ref.conv_output_size,
    _size_fixed,
    _size_draw,
    outputs=("size",),
    examples=200,  # integer arithmetic: cheap, and off-by-one rounding shows only on some sizes
    read_after="tinygraph/functional/conv.py (conv2d_output_size, _output_size)",
    mistakes=[
        Mistake("padding goes on BOTH sides: size + 2*padding",
                lambda n, k, s, p, d: (n + p - d * (k - 1) - 1) // s + 1),
        Mistake("the kernel spans dilation*(kernel_size - 1) + 1 pixels, not kernel_size",
                lambda n, k, s, p, d: (n + 2 * p - (k - 1) - 1) // s + 1),
        Mistake("count the first window too: ... // stride + 1",
                lambda n, k, s, p, d: (n + 2 * p - d * (k - 1) - 1) // s),
        Mistake("a window that does not fit is dropped: round DOWN (floor division //), not up",
                lambda n, k, s, p, d: -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1),
    ],
)


def _same_draw(pick):
    return Case((pick(1, 8), pick(1, 3)))


same_padding = FunctionSpec(
    "same_padding",
    ref.same_padding,
    lambda: [Case((3, 1), "3x3"), Case((5, 1), "5x5"), Case((2, 1), "even kernel"), Case((3, 2), "dilation 2"),
             Case((4, 1), "even kernel: the odd row goes after")],
    _same_draw,
    outputs=("before", "after"),
    examples=50,
    mistakes=[
        Mistake("with an even total the extra row goes AFTER (bottom/right): before = total // 2",
                lambda k, d: (d * (k - 1) - d * (k - 1) // 2, d * (k - 1) // 2)),
        Mistake("the total padding is dilation*(kernel_size - 1): dilation spreads the kernel",
                lambda k, d: ((k - 1) // 2, (k - 1) - (k - 1) // 2)),
        Mistake("kernel_size // 2 on both sides is right only for odd kernels: the total must be "
                "dilation*(kernel_size - 1)", lambda k, d: (k // 2, k // 2)),
    ],
    read_after="tinygraph/functional/conv.py (conv2d_output_size, conv2d_padding)",
)

LESSON_02 = Lesson("02", "output_size", "the output-size formula and 'same' padding",
                   [conv_output_size, same_padding], minutes=15)


# ------------------------------------------------------------------ lesson 03


def _backward_args(case: Case, rng):
    """From a forward case: ``(x, weight, grad_out, geometry)``."""
    x, weight, _, stride, padding, dilation, groups, out_size = case.args
    grad_out = rng.standard_normal((x.shape[0], weight.shape[0]) + tuple(out_size))
    return x, weight, grad_out, (stride, padding, dilation, groups)


def _input_case(case, rng):
    x, weight, grad_out, geometry = _backward_args(case, rng)
    return Case((grad_out, weight) + geometry + (x.shape[2:],), case.note)


def _weight_case(case, rng):
    x, weight, grad_out, geometry = _backward_args(case, rng)
    return Case((x, grad_out) + geometry + (weight.shape[2:],), case.note)


def _flip_weight_input(grad_out, weight, *rest):
    return ref.conv2d_backward_input(grad_out, weight[:, :, ::-1, ::-1].copy(), *rest)


def _flip_result_weight(*args):
    return ref.conv2d_backward_weight(*args)[:, :, ::-1, ::-1]


def _first_image_weight(x, grad_out, *rest):
    return None if x.shape[0] == 1 else ref.conv2d_backward_weight(x[:1].copy(), grad_out[:1].copy(), *rest)


GRAD_CASE = dict(N=1, C_in=2, C_out=2, H=5, W=4, k=(3, 2), stride=(2, 1), padding=(1, 1), dilation=(1, 2), groups=2)


def _grad_geometry():
    g = GRAD_CASE
    case = conv_case(np.random.default_rng(3), g["N"], g["C_in"], g["C_out"], g["H"], g["W"], g["k"], g["stride"],
                     g["padding"], g["dilation"], g["groups"], bias=False)
    x, weight, _, stride, padding, dilation, groups, out_size = case.args
    return x, weight, (stride, padding, dilation, groups), out_size


def _input_gradchecks(student):
    x, weight, geometry, out_size = _grad_geometry()
    forward = lambda x_: ref.conv2d_forward(x_, weight, None, *geometry, out_size)  # noqa: E731
    backward = lambda g, x_: (student(g, weight, *geometry, x_.shape[2:]),)  # noqa: E731
    return [GradCase(f"x {x.shape}, weight {weight.shape}, stride, padding, dilation, groups = {geometry}",
                     (x,), forward, backward)]


def _weight_gradchecks(student):
    x, weight, geometry, out_size = _grad_geometry()
    forward = lambda w_: ref.conv2d_forward(x, w_, None, *geometry, out_size)  # noqa: E731
    backward = lambda g, w_: (student(x, g, *geometry, w_.shape[2:]),)  # noqa: E731
    return [GradCase(f"x {x.shape}, weight {weight.shape}, stride, padding, dilation, groups = {geometry}",
                     (weight,), forward, backward)]


def _from_forward(make):
    def fixed():
        rng = np.random.default_rng(2)
        return [make(case, rng) for case in _forward_fixed()]

    def draw(pick):
        return make(_forward_draw(pick), rng_from(pick))

    return fixed, draw


conv2d_backward_input = FunctionSpec(
    "conv2d_backward_input",
    ref.conv2d_backward_input,
    *_from_forward(_input_case),
    mistakes=_geometry_mistakes(ref.conv2d_backward_input, _flip_weight_input),
    gradchecks=_input_gradchecks,
    outputs=("grad_x",),
)

conv2d_backward_weight = FunctionSpec(
    "conv2d_backward_weight",
    ref.conv2d_backward_weight,
    *_from_forward(_weight_case),
    mistakes=_geometry_mistakes(ref.conv2d_backward_weight, _flip_result_weight)
    + [Mistake("one weight is used for every image: sum grad_out * x over the images n too", _first_image_weight)],
    gradchecks=_weight_gradchecks,
    outputs=("grad_weight",),
)

LESSON_03 = Lesson("03", "conv_backward", "convolution backward: the input and weight gradients",
                   [conv2d_backward_input, conv2d_backward_weight], minutes=45)
