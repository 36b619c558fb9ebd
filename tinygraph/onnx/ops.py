"""One ONNX translation per recorded op: ``CONVERTERS[op name](emitter, call)``.

Each converter reads what the graph recorded for one node (``call.params``: the keyword
arguments of ``Function.apply``, already checked and resolved by ``tinygraph.functional``;
the input shapes; the output shape) and writes ONNX nodes whose last output is ``call.output``.
With a dynamic batch, dim 0 of the output must stay the batch dim: a converter refuses
(``call.fail``) a reshape, transpose or reduction that would move or remove it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CONVERTERS", "Emitter", "ExportError"]


class ExportError(NotImplementedError):
    """An op, or an op's arguments, that ONNX export cannot translate."""


@dataclass
class Call:
    """One recorded node, as the converters see it."""

    op: str  # the op name, e.g. "conv2d"
    params: dict  # keyword arguments recorded by Function.apply
    inputs: list  # ONNX value names, one per recorded input
    shapes: list  # the recorded inputs' shapes
    dtype: np.dtype  # the first input's dtype
    out_shape: tuple
    output: str  # the ONNX value name to write
    where: str  # the module that made it, for error messages and node names
    batched: list  # per input: is its dim 0 the dynamic batch dim

    def fail(self, why: str):
        raise ExportError(f"tg.onnx.export: cannot export op {self.op!r} (from module {self.where}): {why}")


class Emitter:
    """Collects ONNX nodes and initializers, with unique readable names."""

    def __init__(self, opset: int):
        from onnx import helper, numpy_helper

        self.opset, self.helper, self.numpy_helper = opset, helper, numpy_helper
        self.nodes, self.initializers, self.taken = [], [], set()
        self.scope = "model"  # the module whose op is being translated (set by call)

    def fresh(self, base: str) -> str:
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name

    def call(self, node, inputs: list, output: str | None, where: str, batched: list) -> Call:
        """Describe ``node`` for its converter; nodes it writes are named after the module (``features.conv1``)."""
        self.scope = where.split("'")[1] if where.startswith("'") else "model"  # "'features.conv1' (Conv2d)"
        output = output or self.fresh(f"{self.scope}/{node.name}")
        shapes = [tuple(p.shape) for p in node.inputs]
        return Call(node.name, dict(node.params), inputs, shapes, node.inputs[0].dtype, tuple(node.output_shape),
                    output, where, batched)

    def node(self, op_type: str, inputs: list, output: str | None = None, scope: str | None = None, **attrs) -> str:
        """Append one node; returns its output's name (a fresh one unless ``output`` is given)."""
        scope = scope or self.scope
        output = output or self.fresh(f"{scope}/{op_type}")
        self.nodes.append(self.helper.make_node(op_type, inputs, [output], name=self.fresh(scope), **attrs))
        return output

    def initializer(self, array, name: str | None = None) -> str:
        """A constant tensor of the graph (a parameter, a buffer, or a literal like the 2 of ``x * 2``)."""
        name = self.fresh(name or "constant")
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def constant(self, value, dtype) -> str:
        return self.initializer(np.asarray(value, dtype=dtype), f"{self.scope}/constant")


# ------------------------------------------------------------------ layers
def conv2d(e: Emitter, c: Call):
    """ONNX pads are (top, left, bottom, right); the recorded padding is (top, left), and the bottom and
    right padding that matter follow from the recorded output size (``'same'`` pads unevenly)."""
    p = c.params
    (H, W), (kH, kW) = c.shapes[0][2:], c.shapes[1][2:]
    (sH, sW), (dH, dW), (top, left), (oH, oW) = p["stride"], p["dilation"], p["padding"], p["out_size"]
    bottom = max(0, (oH - 1) * sH + dH * (kH - 1) + 1 - H - top)
    right = max(0, (oW - 1) * sW + dW * (kW - 1) + 1 - W - left)
    e.node("Conv", c.inputs, c.output, kernel_shape=[kH, kW], strides=[sH, sW], dilations=[dH, dW],
           pads=[top, left, bottom, right], group=p["groups"])


def batch_norm(e: Emitter, c: Call):
    if c.params["training"] or len(c.inputs) < 5:
        c.fail("batch statistics (training mode, or track_running_stats=False) have no ONNX inference form")
    x, weight, bias, mean, var = c.inputs
    e.node("BatchNormalization", [x, weight, bias, mean, var], c.output, epsilon=c.params["eps"])


def _pool_attrs(c: Call, dilation=(1, 1)) -> dict:
    """kernel, strides, symmetric pads, and ceil_mode when the recorded output size needs it."""
    p = c.params
    (H, W), (kH, kW), (sH, sW), (pH, pW) = c.shapes[0][-2:], p["kernel_size"], p["stride"], p["padding"]
    dH, dW = dilation
    floor_size = ((H + 2 * pH - dH * (kH - 1) - 1) // sH + 1, (W + 2 * pW - dW * (kW - 1) - 1) // sW + 1)
    return dict(kernel_shape=[kH, kW], strides=[sH, sW], pads=[pH, pW, pH, pW],
                ceil_mode=int(tuple(p["out_size"]) != floor_size))


def max_pool2d(e: Emitter, c: Call):
    _four_dims(c)
    e.node("MaxPool", c.inputs, c.output, dilations=list(c.params["dilation"]),
           **_pool_attrs(c, c.params["dilation"]))


def avg_pool2d(e: Emitter, c: Call):
    _four_dims(c)
    if c.params["divisor_override"] is not None:
        c.fail("divisor_override has no ONNX AveragePool equivalent")
    attrs = _pool_attrs(c)
    if attrs["ceil_mode"] and max(c.params["padding"]):
        c.fail("ceil_mode with padding: ONNX and PyTorch count the last window's padding differently")
    e.node("AveragePool", c.inputs, c.output, count_include_pad=int(c.params["count_include_pad"]), **attrs)


def adaptive_avg_pool2d(e: Emitter, c: Call):
    _four_dims(c)
    (H, W), (oH, oW) = c.shapes[0][2:], c.params["out_size"]
    if (oH, oW) == (1, 1):
        e.node("GlobalAveragePool", c.inputs, c.output)
    elif H % oH == 0 and W % oW == 0:  # equal, non-overlapping windows: plain average pooling
        e.node("AveragePool", c.inputs, c.output, kernel_shape=[H // oH, W // oW], strides=[H // oH, W // oW])
    else:
        c.fail(f"output size {(oH, oW)} does not divide the input's {(H, W)} (uneven adaptive windows)")


def _four_dims(c: Call):
    if len(c.shapes[0]) != 4:
        c.fail(f"ONNX pooling needs a batched (N, C, H, W) input, got shape {c.shapes[0]}")


def linear(e: Emitter, c: Call):
    """``x W^T + b``: one Gemm for (N, in) inputs; MatMul with the transposed weight otherwise."""
    if len(c.shapes[0]) == 2:
        e.node("Gemm", c.inputs, c.output, transB=1)
        return
    weight_t = e.node("Transpose", [c.inputs[1]], perm=[1, 0])
    if len(c.inputs) == 2:
        e.node("MatMul", [c.inputs[0], weight_t], c.output)
    else:
        e.node("Add", [e.node("MatMul", [c.inputs[0], weight_t]), c.inputs[2]], c.output)


# ------------------------------------------------------------------ activations
def _same_name(onnx_op: str, **fixed):
    def convert(e: Emitter, c: Call):
        e.node(onnx_op, c.inputs, c.output, **fixed)

    return convert


def leaky_relu(e: Emitter, c: Call):
    e.node("LeakyRelu", c.inputs, c.output, alpha=float(c.params["negative_slope"]))


def gelu(e: Emitter, c: Call):
    """x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), the exact form (``Gelu`` itself is ONNX only from opset 20)."""
    x, dt = c.inputs[0], c.dtype
    erf = e.node("Erf", [e.node("Div", [x, e.constant(np.sqrt(2.0), dt)])])
    half_x = e.node("Mul", [x, e.constant(0.5, dt)])
    e.node("Mul", [half_x, e.node("Add", [erf, e.constant(1.0, dt)])], c.output)


def softmax(onnx_op: str):
    def convert(e: Emitter, c: Call):
        e.node(onnx_op, c.inputs, c.output, axis=int(c.params["axis"]))

    return convert


# ------------------------------------------------------------------ shapes
def reshape(e: Emitter, c: Call):
    """With a dynamic batch the new shape starts with 0 ("keep dim 0"), so any batch size fits."""
    shape = list(c.params["shape"])
    if c.batched[0]:
        if not shape or shape[0] != c.shapes[0][0]:
            c.fail(
                f"reshape from {c.shapes[0]} to {tuple(shape)} changes dim 0, the batch dim; "
                "keep it (as Flatten does) or export with dynamic_batch=False"
            )
        shape[0] = 0
    e.node("Reshape", [c.inputs[0], e.constant(shape, np.int64)], c.output)


def permute(e: Emitter, c: Call):
    dims = [int(d) for d in c.params["dims"]]
    if c.batched[0] and dims[0] != 0:
        c.fail(f"permute {tuple(dims)} moves dim 0, the batch dim; export with dynamic_batch=False")
    e.node("Transpose", c.inputs, c.output, perm=dims)


def _reduce(onnx_op: str, axes_input_from: int):
    """ReduceSum takes its axes as an input from opset 13, ReduceMean only from opset 18."""

    def convert(e: Emitter, c: Call):
        axes = c.params["axes"]
        if c.batched[0] and (axes is None or 0 in axes):
            c.fail("a reduction over dim 0, the batch dim; export with dynamic_batch=False")
        keep = int(bool(c.params["keepdim"]))
        if axes is None:
            e.node(onnx_op, c.inputs, c.output, keepdims=keep)
        elif e.opset >= axes_input_from:
            e.node(onnx_op, [c.inputs[0], e.constant(list(axes), np.int64)], c.output, keepdims=keep)
        else:
            e.node(onnx_op, c.inputs, c.output, axes=list(axes), keepdims=keep)

    return convert


def power(e: Emitter, c: Call):
    """``x ** c`` (the exponent is a recorded number) or ``a ** b`` (two tensors)."""
    if len(c.inputs) == 1:
        e.node("Pow", [c.inputs[0], e.constant(c.params["exponent"], c.dtype)], c.output)
    else:
        e.node("Pow", c.inputs, c.output)


def cast(e: Emitter, c: Call):
    e.node("Cast", c.inputs, c.output, to=e.helper.np_dtype_to_tensor_dtype(np.dtype(c.params["dtype"])))


CONVERTERS = {
    "conv2d": conv2d,
    "batch_norm": batch_norm,
    "max_pool2d": max_pool2d,
    "avg_pool2d": avg_pool2d,
    "adaptive_avg_pool2d": adaptive_avg_pool2d,
    "Linear": linear,
    "MatMul": _same_name("MatMul"),
    "ReLU": _same_name("Relu"),
    "LeakyReLU": leaky_relu,
    "Sigmoid": _same_name("Sigmoid"),
    "Tanh": _same_name("Tanh"),
    "GELU": gelu,
    "Softmax": softmax("Softmax"),
    "LogSoftmax": softmax("LogSoftmax"),
    "Reshape": reshape,
    "Permute": permute,
    "Add": _same_name("Add"),
    "Sub": _same_name("Sub"),
    "Mul": _same_name("Mul"),
    "Div": _same_name("Div"),
    "Neg": _same_name("Neg"),
    "Exp": _same_name("Exp"),
    "Log": _same_name("Log"),
    "Sqrt": _same_name("Sqrt"),
    "Abs": _same_name("Abs"),
    "Maximum": _same_name("Max"),
    "Minimum": _same_name("Min"),
    "Pow": power,
    "Sum": _reduce("ReduceSum", 13),
    "Mean": _reduce("ReduceMean", 18),
    "Cast": cast,
    "Clone": _same_name("Identity"),
    "ToDevice": _same_name("Identity"),
}
