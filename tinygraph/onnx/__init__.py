"""Export a model to ONNX, to open it in Netron or run it elsewhere: ``tg.onnx.export(model, x, "m.onnx")``.

    import tinygraph as tg
    model = tg.models.LeNet5()
    tg.onnx.export(model, tg.randn(1, 1, 28, 28), "lenet.onnx")   # then open lenet.onnx in https://netron.app

There is no second description of the network to keep in step: ``export`` runs the model once
in eval mode on ``example_input`` and walks the graph that autodiff records anyway (every node
knows its op, its inputs and its arguments: "the graph is data"), translating node by node
(``tinygraph/onnx/ops.py``).  Parameters and buffers keep their state-dict names, and every
ONNX node is named after the module that made it (``features.conv1``), so the drawing in
Netron reads like ``print(model)``.

The ``onnx`` package is an optional extra: ``pip install "tinygraph[onnx]"``.
"""

from __future__ import annotations

import os

from ..atomic import write_atomically
from ..autograd import _topological_order, enable_grad
from ..nn.module import evaluating
from ..tensor import Tensor, as_tensor
from .ops import CONVERTERS, ExportError, Emitter

__all__ = ["ExportError", "export"]

#: the oldest opset whose operators the converters write (Softmax's one-axis meaning starts there)
MIN_OPSET = 13


def _require_onnx():
    try:
        import onnx
    except ImportError as e:
        raise ImportError(
            'tg.onnx.export needs the onnx package, an optional extra: pip install "tinygraph[onnx]" '
            "(or pip install onnx)"
        ) from e
    return onnx


def export(model, example_input, path, opset: int = 17, dynamic_batch: bool = True, check: bool = True):
    """Write ``model``'s eval-mode computation on inputs like ``example_input`` to ``path`` as ONNX.

    Args:
        model: a ``tg.nn.Module`` returning a Tensor (or a tuple of Tensors)
        example_input: a float Tensor or array, e.g. ``(1, 1, 28, 28)``; its values do not matter
        path: where to write the ``.onnx`` file (atomically)
        opset: the ONNX operator set version (13 or newer; 17 by default)
        dynamic_batch: dim 0 of the input and outputs is the symbolic ``batch``, so the file
            runs on any batch size; reshapes must then keep dim 0 (as ``Flatten`` does)
        check: run ``onnx.checker.check_model`` (with shape inference) before writing

    Returns the ``onnx.ModelProto``.  Raises :class:`ExportError` naming the op and the module
    it came from when the graph holds an op that has no ONNX translation here, and ImportError
    when the ``onnx`` package is missing.  The model's own train/eval modes are restored afterwards.
    """
    onnx = _require_onnx()
    from onnx import helper

    from .. import __version__

    if not MIN_OPSET <= opset <= onnx.defs.onnx_opset_version():
        raise ValueError(
            f"tg.onnx.export: opset={opset} is not supported; use {MIN_OPSET} to {onnx.defs.onnx_opset_version()} "
            "(the newest the installed onnx package knows)"
        )
    x = as_tensor(example_input)
    if x.dtype.kind != "f":
        raise TypeError(f"tg.onnx.export: example_input must be floating point, got dtype {x.dtype}")
    if dynamic_batch and x.ndim == 0:
        raise ValueError("tg.onnx.export: dynamic_batch=True needs an example_input with a batch dim (dim 0)")
    traced, outputs, owners = _trace(model, x)
    emitter = Emitter(opset)
    output_names = ["output"] if len(outputs) == 1 else [f"output{i}" for i in range(len(outputs))]
    emitter.taken.update(["input", *output_names])
    names = {id(t): name for name, t in model.state_dict(keep_vars=True).items()}
    batched = _translate(emitter, traced, outputs, output_names, owners, names, dynamic_batch)

    def value_info(name, t):
        shape = list(t.shape)
        if name in batched:
            shape[0] = "batch"
        return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(t.dtype), shape)

    graph = helper.make_graph(
        emitter.nodes,
        type(model).__name__,
        [value_info("input", traced)],
        [value_info(name, t) for t, name in zip(outputs, output_names)],
        initializer=emitter.initializers,
    )
    opset_id = helper.make_opsetid("", opset)
    proto = helper.make_model(graph, opset_imports=[opset_id], producer_name="tinygraph", producer_version=__version__)
    proto.ir_version = helper.find_min_ir_version_for([opset_id])
    proto.doc_string = f"{type(model).__name__} exported by tinygraph {__version__} from its recorded graph"
    if check:
        onnx.checker.check_model(proto, full_check=True)
    write_atomically(os.fspath(path), lambda f: f.write(proto.SerializeToString()), "tg.onnx.export")
    return proto


def _trace(model, x: Tensor):
    """Run ``model`` once in eval mode on a copy of ``x``; returns the traced input, the outputs and the
    owning module of every recorded node (``id(node) -> "'features.conv1' (Conv2d)"``)."""
    # A fresh leaf that requires grad: every op that depends on the input is then recorded.
    traced = Tensor(x.data.copy(), requires_grad=True)
    owners: dict = {}
    with evaluating(model), enable_grad(), _module_scopes(model, owners):
        result = model(traced)
    outputs = list(result) if isinstance(result, (tuple, list)) else [result]
    if not outputs or not all(isinstance(t, Tensor) for t in outputs):
        raise TypeError(f"tg.onnx.export: the model must return a Tensor or a tuple of Tensors, got {type(result)}")
    return traced, outputs, owners


def _translate(emitter: Emitter, traced, outputs, output_names, owners, names, dynamic_batch) -> set:
    """Emit the nodes for every recorded op, inputs first; returns the values whose dim 0 is the batch."""
    values = {id(traced): "input"}  # id(leaf tensor) or id(graph node) -> ONNX value name
    batched = {"input"} if dynamic_batch else set()
    final = {id(t._ctx): name for t, name in zip(outputs, output_names) if t._ctx is not None}
    for node in _forward_order(outputs):
        where = owners.get(id(node), "the model")
        inputs = [_value(p, values, names, emitter) for p in node.inputs]
        converter = CONVERTERS.get(node.name)
        if converter is None:
            raise ExportError(
                f"tg.onnx.export: cannot export op {node.name!r} (from module {where}); "
                f"ops with an ONNX translation: {', '.join(sorted(CONVERTERS))}"
            )
        call = emitter.call(node, inputs, final.get(id(node)), where, [name in batched for name in inputs])
        converter(emitter, call)
        if any(call.batched):  # every converter keeps dim 0 in place (or refuses to export)
            batched.add(call.output)
        values[id(node)] = call.output
    for t, name in zip(outputs, output_names):  # an output that is a leaf, or that an earlier output already named
        source = _value(t, values, names, emitter)
        if source != name:
            emitter.node("Identity", [source], name, scope="output")
            if source in batched:
                batched.add(name)
    return batched


def _value(t: Tensor, values: dict, names: dict, emitter: Emitter) -> str:
    """The ONNX name of a node's input: an earlier node's output, the graph input, or an initializer."""
    key = id(t._ctx) if t._ctx is not None else id(t)
    if key not in values:  # a leaf seen for the first time: a parameter, a buffer or a constant
        data = t.data.copy_to_host() if hasattr(t.data, "copy_to_host") else t.data
        values[key] = emitter.initializer(data, names.get(id(t)))
    return values[key]


def _forward_order(outputs: list) -> list:
    """Every recorded node that leads to ``outputs``, each after the nodes that feed it."""
    order, seen = [], set()
    for t in outputs:  # nodes an earlier output already placed come earlier still: the order stays valid
        for node in reversed(_topological_order(t)):
            if id(node) not in seen:
                seen.add(id(node))
                order.append(node)
    return order


class _module_scopes:
    """Forward hooks that note, for every recorded node, the innermost module whose forward made it.

    A module's hook walks back from its output to its inputs; the nodes on the way that no inner
    module claimed first (inner hooks fire first) are its own, e.g. the ``+`` of a residual block.
    """

    def __init__(self, model, owners: dict):
        self.model, self.owners, self.handles = model, owners, []

    def __enter__(self):
        for name, module in self.model.named_modules():
            label = f"'{name}' ({type(module).__name__})" if name else f"{type(module).__name__} (the model itself)"
            self.handles.append(module.register_forward_hook(self._claimer(label)))
        return self

    def _claimer(self, label: str):
        def claim(module, inputs, output):
            stop = {id(t) for t in inputs if isinstance(t, Tensor)}
            outs = output if isinstance(output, (tuple, list)) else (output,)
            stack = [t for t in outs if isinstance(t, Tensor) and t._ctx is not None and id(t) not in stop]
            seen = set()
            while stack:
                node = stack.pop()._ctx
                if id(node) in seen:
                    continue
                seen.add(id(node))
                self.owners.setdefault(id(node), label)
                stack.extend(p for p in node.inputs if p._ctx is not None and id(p) not in stop)

        return claim

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
