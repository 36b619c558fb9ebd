"""Reverse-mode automatic differentiation: the whole engine on one screen.

Every differentiable operation is a subclass of :class:`Function` with two
static methods that sit next to each other, so the local derivative can be
read right under the forward formula::

    class Mul(Function):
        @staticmethod
        def forward(ctx, a, b):            # arrays in, array out
            ctx.save_for_backward(a, b)
            return a * b

        @staticmethod
        def backward(ctx, grad):           # dL/d(out) in, dL/d(inputs) out
            a, b = ctx.saved_arrays
            return grad * b, grad * a      # d(ab)/da = b, d(ab)/db = a

``Function.apply`` runs ``forward`` on raw arrays, wraps the result in a
Tensor and, when gradients are wanted, records the Function instance as the
node that produced it (``tensor._ctx``).  ``backward`` walks those nodes in
reverse topological order.  Gradients that flowed into a broadcast input are
summed back to its shape here, in one place, so no op has to care.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

__all__ = ["Function", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "backward"]


class VersionCounter:
    """How many times a tensor's values were changed in place (``+=``, ``zero_``, an optimizer step, ...).

    Shared by tensors that share values (``x`` and ``x.detach()``).  A Function that saved a tensor's
    values for backward remembers the count it saw; backward compares, so an edit in between is an
    error instead of a silently wrong gradient (PyTorch's ``x._version``).
    """

    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


def _buffer(array):
    """The array that owns ``array``'s memory (a NumPy view's ``base``, followed to the end)."""
    while isinstance(getattr(array, "base", None), np.ndarray):
        array = array.base
    return array


class _GradMode(threading.local):
    enabled = True


_grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    """True when new operations are recorded for backpropagation."""
    return _grad_mode.enabled


@contextlib.contextmanager
def set_grad_enabled(mode: bool):
    """Context manager that turns graph recording on or off (restored on exit)."""
    previous = _grad_mode.enabled
    _grad_mode.enabled = bool(mode)
    try:
        yield
    finally:
        _grad_mode.enabled = previous


def no_grad():
    """``with tg.no_grad():`` runs operations without recording a graph (inference, optimizer steps)."""
    return set_grad_enabled(False)


def enable_grad():
    """``with tg.enable_grad():`` turns recording back on inside a ``no_grad`` block."""
    return set_grad_enabled(True)


def sum_to_shape(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Undo NumPy broadcasting: sum ``grad`` over the axes that broadcasting created or stretched.

    If ``x`` of shape ``(3, 1)`` was broadcast to ``(2, 3, 4)``, every element of ``x`` was
    used 2*4 times, so its gradient is the sum of the upstream gradient over those copies.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad.reshape(shape)


class Function:
    """A node of the computation graph; subclass it to define a differentiable op.

    The instance itself is the ``ctx`` handed to ``forward`` and ``backward``: stash
    whatever the backward pass needs on it (``ctx.save_for_backward(...)`` for arrays,
    plain attributes for small values such as a stride).

    Attributes set by :meth:`apply`:
        inputs:            the input Tensors, in order (the graph's edges)
        needs_input_grad:  one bool per input, so backward can skip work
        params:            keyword arguments of the call, shown by ``tg.graph``
        output_shape:      shape of the result
    """

    __slots__ = (
        "inputs", "needs_input_grad", "params", "output_shape", "saved_arrays", "_freed", "_saved_versions", "__dict__"
    )

    #: the name shown in graphs and error messages; defaults to the class name
    op_name: str | None = None

    @staticmethod
    def forward(ctx, *arrays, **params):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def name(self) -> str:
        return self.op_name or type(self).__name__

    def save_for_backward(self, *arrays) -> None:
        """Keep arrays for the backward pass; they are freed after backward (unless retain_graph)."""
        self.saved_arrays = arrays

    @classmethod
    def apply(cls, *inputs, **params):
        """Run the op on Tensors (or plain numbers) and record it when gradients are wanted."""
        # This runs for every op, so it avoids generator expressions and imports (list comprehensions are faster).
        Tensor = tensor_module.Tensor
        tensors = [t if isinstance(t, Tensor) else tensor_module.as_tensor(t) for t in inputs]
        ctx = cls()
        ctx.needs_input_grad = tuple([t.requires_grad for t in tensors])
        ctx.params = params
        ctx.saved_arrays = ()
        ctx._freed = False
        ctx._saved_versions = ()
        if len(tensors) > 1:
            _check_same_device(cls, tensors)
        try:
            out_data = cls.forward(ctx, *[t.data for t in tensors], **params)
        except ValueError as err:
            if "could not be broadcast" not in str(err):
                raise
            # NumPy's message names neither the op nor which tensors; say both
            shapes = " and ".join(str(tuple(t.shape)) for t in tensors)
            raise ValueError(
                f"{ctx.name}: input shapes {shapes} do not broadcast (NumPy rules: aligned from the last dim, "
                "each pair of sizes must be equal or one of them 1)"
            ) from None
        if isinstance(out_data, np.generic):  # NumPy turns 0-d results into scalars; keep arrays
            out_data = np.asarray(out_data)
        # an integer or bool result has no gradient (argmax, comparisons, x.long()): it leaves the graph
        record = _grad_mode.enabled and any(ctx.needs_input_grad) and out_data.dtype.kind == "f"
        out = Tensor._wrap(out_data, requires_grad=record)
        if getattr(out_data, "base", None) is not None or any([out_data is t.data for t in tensors]):
            _share_version_counter(out, tensors)  # a view (reshape, x[1:3], permute, ...) or the input itself
        if record:
            ctx.inputs = tensors
            ctx.output_shape = out_data.shape
            out._ctx = ctx
            if ctx.saved_arrays:
                ctx._saved_versions = _versions_seen(ctx.saved_arrays, tensors, out)
        return out

    def _check_saved_versions(self) -> None:
        """Raise when a tensor whose values this node saved was changed in place since (see VersionCounter)."""
        for role, shape, counter, seen in self._saved_versions:
            if counter.value != seen:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: the {role} of shape {shape} saved by {self.name} is at version {counter.value}; "
                    f"expected version {seen} instead. Hint: it was changed in place (+=, zero_, copy_, fill_, "
                    "indexed assignment, an optimizer step, ...) after the forward pass used it; change a clone() "
                    "instead, or change it after backward()"
                )

    def __repr__(self) -> str:
        return f"<{self.name} node>"


def _share_version_counter(out, inputs) -> None:
    """A view and the tensor whose memory it shows count in-place changes together (as in PyTorch)."""
    buffer = _buffer(out.data)
    for t in inputs:
        if _buffer(t.data) is buffer:
            out._version_counter = t._version_counter
            return


def _versions_seen(saved_arrays, inputs, out) -> tuple:
    """``(role, shape, counter, version now)`` for each input or output whose memory a saved array uses."""
    buffers = {id(_buffer(a)) for a in saved_arrays if a is not None}
    seen = []
    for role, t in [(f"input {i}", t) for i, t in enumerate(inputs)] + [("output", out)]:
        if id(_buffer(t.data)) in buffers:
            seen.append((role, tuple(t.shape), t._version_counter, t._version_counter.value))
    return tuple(seen)


def _check_same_device(cls, tensors) -> None:
    # A 0-d CPU constant (the 2 in ``x * 2``) goes with a tensor on any device, as in PyTorch:
    # the device kernels take it as a scalar.
    devices = [t.device for t in tensors if not (t.ndim == 0 and t.device == "cpu" and not t.requires_grad)]
    device = devices[0] if devices else "cpu"
    for t in tensors:
        if t.device != device and not (t.ndim == 0 and t.device == "cpu" and not t.requires_grad):
            shapes = ", ".join(f"{tuple(t.shape)} on {t.device}" for t in tensors)
            raise RuntimeError(
                f"{cls.op_name or cls.__name__}: inputs are on different devices ({shapes}); "
                "move them to one device with .to(device) first"
            )


def _topological_order(root):
    """Nodes reachable from ``root``, each after every node that consumes its output.

    Iterative depth-first search with an explicit stack, so a chain of 100,000 ops
    does not hit Python's recursion limit.
    """
    order, visited = [], set()
    if root._ctx is None:
        return order
    stack = [(root._ctx, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in node.inputs:
            if parent._ctx is not None and id(parent._ctx) not in visited:
                stack.append((parent._ctx, False))
    order.reverse()  # root first
    return order


def backward(tensor, gradient=None, retain_graph: bool = False) -> None:
    """Backpropagate from ``tensor``: accumulate d(tensor)/d(leaf) into every leaf's ``.grad``.

    ``gradient`` is the upstream gradient dL/d(tensor); it may be omitted only for a
    single-element tensor (then it is 1).  Saved arrays are freed afterwards unless
    ``retain_graph=True``, so a second backward through the same graph is an error.
    """
    if not tensor.requires_grad:
        raise RuntimeError(
            "backward(): this tensor does not require grad and has no grad_fn; "
            "create the inputs with requires_grad=True, and do not call backward inside no_grad()"
        )
    if gradient is None:
        if tensor.data.size != 1:
            raise RuntimeError(
                f"backward(): grad can be implicitly created only for a single-element output, "
                f"but the output has shape {tuple(tensor.shape)}; pass gradient= of that shape"
            )
        seed = np.ones_like(tensor.data)  # on the output's device
    else:
        seed = gradient.data if isinstance(gradient, tensor_module.Tensor) else np.asarray(gradient)
        if tensor.device == "cuda" and not hasattr(seed, "copy_to_host"):
            raise RuntimeError(
                "backward(): the output is on device 'cuda' but gradient is on 'cpu'; move it with .to('cuda')"
            )
        if seed.shape != tensor.shape:
            raise RuntimeError(
                f"backward(): gradient has shape {seed.shape} but the output has shape {tuple(tensor.shape)}"
            )
        seed = seed.astype(tensor.dtype, copy=False)

    if tensor._ctx is None:  # a leaf: its gradient is the seed itself
        _accumulate_leaf(tensor, _run_hooks(tensor, seed) if tensor._hooks else seed)
        return

    grads = {id(tensor._ctx): seed}  # id(node) -> dL/d(node's output), not yet pushed further back
    # Tensors with hooks (register_hook) get their gradient once it is complete: a non-leaf's when its
    # node comes up in the walk (every consumer is done by then), a hooked leaf's after the walk.
    hooked = {}  # id(node) -> the hooked tensor that node produced
    hooked_leaves = {}  # id(leaf) -> (leaf, its gradient summed over its uses so far)
    if tensor._hooks:
        hooked[id(tensor._ctx)] = tensor
    elif tensor._retains_grad:
        _accumulate_leaf(tensor, seed)
    with no_grad():
        for node in _topological_order(tensor):
            if node._freed:
                raise RuntimeError(
                    f"backward(): trying to backward through the graph a second time ({node.name} "
                    "already freed its saved values); call backward(retain_graph=True) the first time"
                )
            out_grad = grads.pop(id(node), None)
            if out_grad is None:  # this node does not lead to the root along any path
                continue
            owner = hooked.pop(id(node), None) if hooked else None
            if owner is not None:
                out_grad = _run_hooks(owner, out_grad)
                if owner._retains_grad:
                    _accumulate_leaf(owner, out_grad)
            if node._saved_versions:
                node._check_saved_versions()
            in_grads = node.backward(node, out_grad)
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            for parent, needs, g in zip(node.inputs, node.needs_input_grad, in_grads):
                if not needs or g is None:
                    continue
                if g.shape != parent.shape:
                    g = sum_to_shape(g, parent.shape)
                if g.dtype != parent.dtype:
                    g = g.astype(parent.dtype)
                if parent._ctx is None:
                    if parent._hooks:
                        so_far = hooked_leaves.get(id(parent))
                        hooked_leaves[id(parent)] = (parent, g if so_far is None else so_far[1] + g)
                    else:
                        _accumulate_leaf(parent, g)
                else:
                    if parent._hooks:
                        hooked[id(parent._ctx)] = parent
                    elif parent._retains_grad:
                        _accumulate_leaf(parent, g)
                    key = id(parent._ctx)
                    grads[key] = grads[key] + g if key in grads else g
            if not retain_graph:
                node.saved_arrays = ()
                node._saved_versions = ()
                node._freed = True
                node.__dict__.clear()
        for leaf, g in hooked_leaves.values():
            _accumulate_leaf(leaf, _run_hooks(leaf, g))


def _run_hooks(tensor, grad):
    """Pass ``grad`` through ``tensor``'s hooks in order; a hook's non-None result replaces it."""
    for hook in tuple(tensor._hooks.values()):
        result = hook(tensor_module.Tensor._wrap(grad))
        if result is None:
            continue
        replacement = result.data if isinstance(result, tensor_module.Tensor) else result
        if tuple(replacement.shape) != tuple(grad.shape):
            raise RuntimeError(
                f"backward(): a hook on a tensor of shape {tuple(grad.shape)} returned a gradient of shape "
                f"{tuple(replacement.shape)}; a hook must return None or a gradient of the tensor's shape"
            )
        grad = replacement if replacement.dtype == grad.dtype else replacement.astype(grad.dtype)
    return grad


def _accumulate_leaf(leaf, g: np.ndarray) -> None:
    """Gradients add up across uses and across backward() calls, as in PyTorch."""
    if leaf.grad is None:
        leaf.grad = tensor_module.Tensor._wrap(g.astype(leaf.dtype, copy=True), requires_grad=False)
    else:
        total = leaf.grad.data + g
        leaf.grad.data = np.asarray(total) if isinstance(total, np.generic) else total  # 0-d + 0-d gives a scalar


# tensor.py imports this module and this module needs Tensor: importing the module object (not its names)
# works whichever of the two is imported first; its attributes are looked up when an op runs.
from . import tensor as tensor_module  # noqa: E402
