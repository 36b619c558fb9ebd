"""The Tensor: an n-dimensional array that remembers how it was computed.

A Tensor wraps a NumPy array (``.data``).  When it was produced by an operation on
tensors that require gradients, ``._ctx`` points at that operation's graph node
(a :class:`~tinygraph.autograd.Function`), which points at its inputs, and so on
back to the leaves.  ``backward()`` walks that graph in reverse.

The methods here are thin: each names the op and forwards to the Function that
implements it (``tinygraph/ops``) or to ``tinygraph.functional``.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

# Modules, not names: the op modules import autograd, which imports this module, so whichever is
# imported first sees the others half-built. Their classes are looked up when an op runs.
from . import autograd, dtypes
from .cuda import canonical_device, is_cuda_array, move
from .hooks import RemovableHandle
from .ops import elementwise as elementwise_ops
from .ops import matmul as matmul_ops
from .ops import reduce as reduce_ops
from .ops import shape as shape_ops
from .random import default_generator

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
float16 = np.dtype(np.float16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)

_default_dtype = float32

MaxResult = namedtuple("MaxResult", ["values", "indices"])
_WRITEABLE = namedtuple("Flags", ["writeable"])(True)  # device arrays have no NumPy flags: writeable


def get_default_dtype() -> np.dtype:
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Set the dtype of tensors made from Python floats (float32 unless changed)."""
    global _default_dtype
    dtype = dtypes.as_dtype(dtype, "set_default_dtype")
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dtype}")
    _default_dtype = dtype


def _is_float(dtype) -> bool:
    return np.dtype(dtype).kind == "f"


def _to_array(data, dtype=None) -> np.ndarray:
    """Convert user data to an array with PyTorch's dtype rules.

    Python floats become the default dtype (float32); Python ints become int64;
    NumPy arrays keep their dtype unless ``dtype`` is given.  A (nested) list may hold
    one-element Tensors, as in PyTorch.
    """
    if dtype is not None:
        dtype = dtypes.as_dtype(dtype, "tensor")
    if isinstance(data, Tensor):
        array = data.data
    elif isinstance(data, np.ndarray) or is_cuda_array(data):
        array = data
    else:
        array = _nested_to_array(data)
        # PyTorch's defaults apply only without an explicit dtype: going through float32 on the
        # way to a requested float64 would lose digits
        if dtype is None and array.dtype == np.float64 and not isinstance(data, np.floating):
            array = array.astype(_default_dtype)
        elif dtype is None and array.dtype.kind in "iu" and array.dtype != np.uint8:
            array = array.astype(np.int64)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"tensor: cannot make a tensor from {type(data).__name__} of dtype {array.dtype} "
            "(expected numbers: bool, integer or floating point)"
        )
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    return array


def _nested_to_array(data) -> np.ndarray:
    """``np.asarray(data)`` with the errors a user can act on: ragged lists, lists of Tensors."""
    try:
        array = np.asarray(data)
    except ValueError:
        array = None
    if array is not None and array.dtype != object and not _starts_with_tensor(data):
        return array
    if isinstance(data, (list, tuple)):
        data = _tensors_to_values(data)
        try:
            array = np.asarray(data)
        except ValueError as err:
            raise ValueError(
                f"tensor: cannot make a tensor from a ragged {type(data).__name__}: nested lists must have the "
                f"same length at each depth ({err})"
            ) from None
    if array.dtype == object:
        kinds = sorted({type(v).__name__ for v in np.ravel(array)})
        raise TypeError(f"tensor: cannot make a tensor from a {type(data).__name__} holding {', '.join(kinds)}")
    return array


def _starts_with_tensor(data) -> bool:
    """Whether the first innermost entry of nested lists is a Tensor (NumPy would stack multi-element
    ones through ``__array__``, where PyTorch refuses them)."""
    while isinstance(data, (list, tuple)) and data:
        data = data[0]
    return isinstance(data, Tensor)


def _tensors_to_values(items):
    """Replace one-element Tensors in nested lists by their values; other Tensors are an error (as PyTorch)."""
    out = []
    for item in items:
        if isinstance(item, Tensor):
            if item.data.size != 1:
                shapes = ", ".join(str(tuple(t.shape)) for t in items if isinstance(t, Tensor))
                raise ValueError(
                    f"tensor: got a list of Tensors of shapes {shapes}; only one-element tensors can be list "
                    "entries, as in PyTorch (join tensors with tg.stack or tg.cat)"
                )
            values = item.data.copy_to_host() if item.device == "cuda" else item.data
            item = values.reshape(())
        elif isinstance(item, (list, tuple)):
            item = _tensors_to_values(item)
        out.append(item)
    return out


def _check_device(device) -> str | None:
    """'cpu', 'cuda' or None; for 'cuda', a clear RuntimeError saying why when it cannot be used."""
    device = canonical_device(device)
    if device == "cuda":
        from . import cuda

        cuda.require(f"device={device!r}")
    return device


def _on_device(array, device):
    """``array`` moved to ``device`` (None: left where it is)."""
    return array if device is None else move(array, device)


def _as_array(x, dtype=None):
    """NumPy returns scalars from full reductions; make them 0-d arrays.  Device arrays stay as they are."""
    return x if is_cuda_array(x) else np.asarray(x, dtype=dtype)


class Tensor:
    """An array with an optional gradient and a link to the op that produced it.

    Attributes:
        data:          the values, a NumPy array
        grad:          a Tensor of the same shape after ``backward()``, else None
        requires_grad: whether ops on this tensor are recorded for backpropagation
        grad_fn:       the graph node (Function) that produced it; None for leaves
    """

    __slots__ = (
        "data", "grad", "requires_grad", "_ctx", "_retains_grad", "name", "_hooks", "_version_counter", "__weakref__"
    )
    __array_priority__ = 1000  # so ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, dtype=None, name: str | None = None):
        array = _to_array(data, dtype)
        if requires_grad and not _is_float(array.dtype):
            raise RuntimeError(f"tensor: only floating-point tensors can require grad, got dtype {array.dtype}")
        self.data = array
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._ctx = None
        self._retains_grad = False
        self.name = name
        self._hooks = None  # gradient hooks, {handle id: fn}; see register_hook
        self._version_counter = autograd.VersionCounter()

    @classmethod
    def _wrap(cls, array: np.ndarray, requires_grad: bool = False) -> Tensor:
        """Fast constructor for op results: no conversion, no checks."""
        t = cls.__new__(cls)
        t.data = array
        t.grad = None
        t.requires_grad = requires_grad
        t._ctx = None
        t._retains_grad = False
        t.name = None
        t._hooks = None
        t._version_counter = autograd.VersionCounter()
        return t

    # ----------------------------------------------------------------- basics
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def device(self) -> str:
        """'cpu' (the data is a NumPy array) or 'cuda' (a CudaArray in GPU memory)."""
        return "cuda" if is_cuda_array(self.data) else "cpu"

    @property
    def _version(self) -> int:
        """How many in-place changes this tensor's values have had (checked by backward, as PyTorch's)."""
        return self._version_counter.value

    def _bump_version(self) -> None:
        """Record an in-place change of ``.data`` (optimizers and initialisers call this after writing)."""
        self._version_counter.value += 1

    @property
    def grad_fn(self):
        return self._ctx

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def T(self) -> Tensor:
        return self.permute(*reversed(range(self.ndim)))

    def size(self, dim: int | None = None):
        """``x.size()`` is the shape; ``x.size(d)`` the length of dimension ``d``."""
        if dim is None:
            return self.data.shape
        return self.data.shape[_normalize_dim(dim, self.ndim, "size")]

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        values = self.data.copy_to_host() if self.device == "cuda" else self.data  # printing needs the values
        body = np.array2string(values, precision=4, separator=", ", prefix="tensor(")
        extras = [] if self.device == "cpu" else ["device='cuda'"]
        if self.dtype not in (_default_dtype, int64, bool_):
            extras.append(f"dtype={self.dtype}")
        if self._ctx is not None:
            extras.append(f"grad_fn=<{self._ctx.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    __hash__ = object.__hash__  # identity, so tensors can be dict keys although == is elementwise

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(f"bool(): a tensor of shape {self.shape} with more than one value is ambiguous")
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only single-element integer tensors can be used as an index")
        return int(self.data)

    # ----------------------------------------------------- leaving the graph
    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (shares memory, like PyTorch; no graph)."""
        if self.requires_grad:
            raise RuntimeError("numpy(): call .detach().numpy() on a tensor that requires grad")
        if self.device == "cuda":
            raise TypeError("numpy(): the tensor is on device 'cuda'; copy it to the host with .cpu() first")
        return self.data

    def item(self):
        """The single value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted, this one has shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def detach(self) -> Tensor:
        """The same values, cut from the graph (no grad is recorded through it); in-place edits of either
        are seen by both, so they share the version counter, as in PyTorch."""
        out = Tensor._wrap(self.data, requires_grad=False)
        out._version_counter = self._version_counter
        return out

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and not _is_float(self.dtype):
            raise RuntimeError(f"requires_grad_: only floating-point tensors can require grad, got {self.dtype}")
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("requires_grad_(False) is only allowed on leaf tensors; use detach()")
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep theirs)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad(): the tensor does not require grad")
        self._retains_grad = True

    def register_hook(self, hook) -> RemovableHandle:
        """Call ``hook(grad)`` with this tensor's gradient during every ``backward()``, as in PyTorch.

        ``grad`` is a Tensor of this tensor's shape: the whole gradient dL/d(self), summed over
        every use of the tensor.  A hook that returns something other than None replaces it (a
        Tensor or array of the same shape), and the replacement is what flows further back, what
        ``retain_grad`` keeps and, for a leaf, what is added to ``.grad``.  Hooks run in the order
        registered.  Returns a handle whose ``remove()`` unregisters the hook.
        """
        if not callable(hook):
            raise TypeError(f"register_hook: hook must be callable, got {type(hook).__name__}")
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not require grad")
        if self._hooks is None:
            self._hooks = {}
        handle = RemovableHandle(self._hooks)
        self._hooks[handle.id] = hook
        return handle

    def zero_(self) -> Tensor:
        return self._inplace("zero_", 0, lambda a, b: b)

    def clone(self) -> Tensor:
        return elementwise_ops.Clone.apply(self)

    def to(self, device=None, dtype=None) -> Tensor:
        """``x.to('cuda')``, ``x.to('cpu')`` or ``x.to(tg.float64)``; also ``x.to(device, dtype)``.

        Moving is a copy, recorded in the graph: gradients flow back to the original device.
        """
        if device is not None and not isinstance(device, str) and dtype is None:
            device, dtype = None, device
        device = _check_device(device)
        out = self
        if device is not None and device != self.device:
            out = elementwise_ops.ToDevice.apply(self, device=device)
        if dtype is not None and dtypes.as_dtype(dtype, "to") != out.dtype:
            out = out.type(dtype)
        return out

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def type(self, dtype) -> Tensor:
        return elementwise_ops.Cast.apply(self, dtype=dtypes.as_dtype(dtype, "type"))

    def float(self) -> Tensor:
        return self.type(float32)

    def double(self) -> Tensor:
        return self.type(float64)

    def long(self) -> Tensor:
        return self.type(int64)

    def int(self) -> Tensor:
        """int32 values (truncated toward zero), outside the graph like every integer result."""
        return self.type(int32)

    def bool(self) -> Tensor:
        return self.type(bool_)

    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Compute gradients of this tensor w.r.t. every leaf that requires grad (see autograd.backward)."""
        autograd.backward(self, gradient, retain_graph=retain_graph)

    # ---------------------------------------------------------- arithmetic
    def _lift(self, other) -> Tensor:
        """A Python number or array on the other side of an operator becomes a constant tensor."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (bool, int, float, np.number)) and _is_float(self.dtype):
            return Tensor._wrap(np.asarray(other, dtype=self.dtype))
        return Tensor._wrap(_to_array(other))

    def _promoted(self, other, true_division: bool = False) -> tuple:
        """``(self, other)`` as tensors of the dtype PyTorch gives a binary op of them (``tinygraph.dtypes``).

        float32 + int64 is float32 (NumPy: float64), int32 tensor + 5 stays int32.  ``true_division``:
        ``/`` of integers gives the default float dtype.  Integer tensors never require grad, so the
        casts add nothing to backpropagate through.
        """
        if not isinstance(other, (Tensor, bool, int, float)):
            other = Tensor._wrap(_to_array(other))  # a list or array on the other side: a constant tensor
        dtype = dtypes.result_type(self, other)
        if true_division:
            dtype = dtypes.default_float_for(dtype)
        if not isinstance(other, Tensor):
            other = Tensor._wrap(np.asarray(other, dtype=dtype))
        return self._as_dtype(dtype), other._as_dtype(dtype)

    def _as_dtype(self, dtype) -> Tensor:
        return self if self.dtype == dtype else self.type(dtype)

    def _floating(self) -> Tensor:
        """Self for a floating op (exp, sqrt, ...): integer and bool tensors become the default float dtype."""
        return self._as_dtype(dtypes.default_float_for(self.dtype))

    def __add__(self, other):
        return elementwise_ops.Add.apply(*self._promoted(other))

    def __radd__(self, other):
        mine, theirs = self._promoted(other)
        return elementwise_ops.Add.apply(theirs, mine)

    def __sub__(self, other):
        return elementwise_ops.Sub.apply(*self._promoted(other))

    def __rsub__(self, other):
        mine, theirs = self._promoted(other)
        return elementwise_ops.Sub.apply(theirs, mine)

    def __mul__(self, other):
        return elementwise_ops.Mul.apply(*self._promoted(other))

    def __rmul__(self, other):
        mine, theirs = self._promoted(other)
        return elementwise_ops.Mul.apply(theirs, mine)

    def __truediv__(self, other):
        return elementwise_ops.Div.apply(*self._promoted(other, true_division=True))

    def __rtruediv__(self, other):
        mine, theirs = self._promoted(other, true_division=True)
        return elementwise_ops.Div.apply(theirs, mine)

    def __pow__(self, exponent):
        if isinstance(exponent, (int, np.integer)) and not isinstance(exponent, bool):
            return elementwise_ops.PowScalar.apply(self, exponent=int(exponent))  # int ** int stays int, as in PyTorch
        if isinstance(exponent, (float, np.floating)):
            return elementwise_ops.PowScalar.apply(self._floating(), exponent=float(exponent))
        return elementwise_ops.Pow.apply(*self._promoted(exponent))

    def __rpow__(self, base):
        mine, theirs = self._promoted(base)
        return elementwise_ops.Pow.apply(theirs, mine)

    def __neg__(self):
        return elementwise_ops.Neg.apply(self)

    def __pos__(self):
        return self

    def __matmul__(self, other):
        return matmul_ops.matmul(self, self._lift(other))

    def __rmatmul__(self, other):
        return matmul_ops.matmul(self._lift(other), self)

    def matmul(self, other) -> Tensor:
        return self.__matmul__(other)

    def add(self, other):
        return self + other

    def sub(self, other):
        return self - other

    def mul(self, other):
        return self * other

    def div(self, other):
        return self / other

    def pow(self, exponent):
        return self**exponent

    def neg(self):
        return -self

    # In-place updates, for optimizers and initialisers: they change .data only and are not recorded,
    # but they bump the version counter, so a backward that needs the old values raises.
    def _inplace(self, op_name, other, fn, index=Ellipsis):
        if self.requires_grad and autograd.is_grad_enabled():
            raise RuntimeError(
                f"{op_name}: in-place update of a tensor that requires grad; do it inside tg.no_grad()"
            )
        if not getattr(self.data, "flags", _WRITEABLE).writeable:
            raise RuntimeError(
                f"{op_name}: this tensor's values are read-only: it was made by expand() (several of its elements "
                "are one value in memory) or wraps a read-only array; clone() it first and change the clone"
            )
        value = other.data if isinstance(other, Tensor) else other
        current = self.data if index is Ellipsis else self.data[index]
        self.data[index] = fn(current, value)
        self._bump_version()
        return self

    def __iadd__(self, other):
        return self._inplace("+=", other, np.add)

    def __isub__(self, other):
        return self._inplace("-=", other, np.subtract)

    def __imul__(self, other):
        return self._inplace("*=", other, np.multiply)

    def __itruediv__(self, other):
        return self._inplace("/=", other, np.true_divide)

    def add_(self, other, alpha: float = 1.0):
        def add_scaled(a, b):
            return a + alpha * (b if is_cuda_array(b) else np.asarray(b, dtype=a.dtype))

        return self._inplace("add_", other, add_scaled)

    def mul_(self, other):
        return self._inplace("mul_", other, np.multiply)

    def copy_(self, other):
        """Copy values in, from either device (copy_ is an explicit copy, as in PyTorch)."""
        if isinstance(other, Tensor) and other.device != self.device:
            other = Tensor._wrap(move(other.data, self.device))
        if self.device == "cuda":
            return self._inplace("copy_", other, lambda a, b: b)  # device setitem broadcasts and casts
        return self._inplace("copy_", other, lambda a, b: np.broadcast_to(np.asarray(b, dtype=a.dtype), a.shape))

    def fill_(self, value):
        return self._inplace("fill_", value, lambda a, b: np.full_like(a, b))

    def clamp_(self, min=None, max=None):
        """Clip the values to ``[min, max]`` in place (either bound may be None)."""
        elementwise_ops.check_clamp_bounds(min, max)
        return self._inplace("clamp_", None, lambda a, b: np.clip(a, min, max))

    def __setitem__(self, index, value):
        """``x[index] = value``: an in-place change of the selected values (not recorded, as ``+=``)."""
        index = shape_ops._plain_index(index)
        return self._inplace("setitem", value, lambda a, b: b, index=index)

    # ----------------------------------------------------------- comparisons
    def _compare(self, other, fn) -> Tensor:
        other = other.data if isinstance(other, Tensor) else other
        return Tensor._wrap(_as_array(fn(self.data, other)))

    def __eq__(self, other):  # type: ignore[override]
        return self._compare(other, np.equal)

    def __ne__(self, other):  # type: ignore[override]
        return self._compare(other, np.not_equal)

    def __lt__(self, other):
        return self._compare(other, np.less)

    def __le__(self, other):
        return self._compare(other, np.less_equal)

    def __gt__(self, other):
        return self._compare(other, np.greater)

    def __ge__(self, other):
        return self._compare(other, np.greater_equal)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    # ------------------------------------------------------- unary math
    def exp(self):
        return elementwise_ops.Exp.apply(self._floating())

    def log(self):
        return elementwise_ops.Log.apply(self._floating())

    def sqrt(self):
        return elementwise_ops.Sqrt.apply(self._floating())

    def abs(self):
        return elementwise_ops.Abs.apply(self)

    def clamp(self, min=None, max=None):
        return elementwise_ops.clamp(self, min, max)

    clip = clamp

    def maximum(self, other):
        return elementwise_ops.Maximum.apply(*self._promoted(other))

    def minimum(self, other):
        return elementwise_ops.Minimum.apply(*self._promoted(other))

    def relu(self):
        from .functional import relu

        return relu(self)

    def sigmoid(self):
        from .functional import sigmoid

        return sigmoid(self)

    def tanh(self):
        from .functional import tanh

        return tanh(self)

    def softmax(self, dim: int = -1):
        from .functional import softmax

        return softmax(self, dim)

    def log_softmax(self, dim: int = -1):
        from .functional import log_softmax

        return log_softmax(self, dim)

    # ------------------------------------------------------- reductions
    def sum(self, dim=None, keepdim: bool = False):
        return reduce_ops.Sum.apply(self, axes=_normalize_dims(dim, self.ndim, "sum"), keepdim=keepdim)

    def mean(self, dim=None, keepdim: bool = False):
        self._require_floating("mean")
        return reduce_ops.Mean.apply(self, axes=_normalize_dims(dim, self.ndim, "mean"), keepdim=keepdim)

    def var(self, dim=None, keepdim: bool = False, unbiased: bool = True, correction: int | None = None):
        """Variance; divides by ``n - correction`` (``correction=1``, Bessel's, unless ``unbiased=False``)."""
        self._require_floating("var")
        if correction is None:
            correction = 1 if unbiased else 0
        axes = _normalize_dims(dim, self.ndim, "var")
        return reduce_ops.Var.apply(self, axes=axes, keepdim=keepdim, correction=correction)

    def std(self, dim=None, keepdim: bool = False, unbiased: bool = True, correction: int | None = None):
        """Standard deviation, with ``correction`` as in :meth:`var`; a constant row has gradient 0 (PyTorch's)."""
        self._require_floating("std")
        if correction is None:
            correction = 1 if unbiased else 0
        axes = _normalize_dims(dim, self.ndim, "std")
        return reduce_ops.Std.apply(self, axes=axes, keepdim=keepdim, correction=correction)

    def _require_floating(self, op: str) -> None:
        """PyTorch's mean/var/std refuse integer tensors rather than guess a result dtype."""
        if not _is_float(self.dtype):
            raise RuntimeError(
                f"{op}(): could not infer the output dtype: the input must be floating point, got {self.dtype} "
                f"(convert it first, e.g. x.float().{op}())"
            )

    def amax(self, dim=None, keepdim: bool = False):
        return reduce_ops.Max.apply(self, axes=_normalize_dims(dim, self.ndim, "amax"), keepdim=keepdim)

    def amin(self, dim=None, keepdim: bool = False):
        return reduce_ops.Min.apply(self, axes=_normalize_dims(dim, self.ndim, "amin"), keepdim=keepdim)

    def max(self, dim=None, keepdim: bool = False):
        """``x.max()``: the largest value.  ``x.max(dim)``: ``(values, indices)`` along ``dim``, as in PyTorch.

        A tuple ``dim`` returns the values only (like ``amax``).  The gradient of ``x.max(dim)``
        goes to the returned index (the first maximum on ties), as in PyTorch; ``x.max()`` and
        ``amax`` share it equally among ties.
        """
        if dim is None or isinstance(dim, (tuple, list)):
            return self.amax(dim, keepdim)
        return self._selected_extremum(reduce_ops.MaxAlong, self.argmax, dim, keepdim, "max")

    def min(self, dim=None, keepdim: bool = False):
        """Like :meth:`max`, for the smallest value."""
        if dim is None or isinstance(dim, (tuple, list)):
            return self.amin(dim, keepdim)
        return self._selected_extremum(reduce_ops.MinAlong, self.argmin, dim, keepdim, "min")

    def _selected_extremum(self, op, arg, dim, keepdim, name) -> MaxResult:
        """``(values, indices)`` along ``dim``: one arg-reduction gives the indices and the gradient's target."""
        axis = _normalize_dim(dim, self.ndim, name)
        index = arg(axis, keepdim=True)
        values = op.apply(self, index, axis=axis, keepdim=keepdim)
        return MaxResult(values, index if keepdim else index.squeeze(axis))

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return self._arg_reduce(np.argmax, dim, keepdim, "argmax")

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return self._arg_reduce(np.argmin, dim, keepdim, "argmin")

    def _arg_reduce(self, fn, dim, keepdim, name) -> Tensor:
        if dim is None:
            return Tensor._wrap(_as_array(fn(self.data), dtype=np.int64))
        axis = _normalize_dim(dim, self.ndim, name)
        return Tensor._wrap(fn(self.data, axis=axis, keepdims=keepdim).astype(np.int64))

    # ------------------------------------------------------- shape
    def reshape(self, *shape):
        return shape_ops.reshape(self, _shape_args(shape))

    def view(self, *shape):
        """Like :meth:`reshape`, but only where no copy is needed (PyTorch's rule); else a RuntimeError."""
        return shape_ops.view(self, _shape_args(shape))

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        return shape_ops.flatten(self, start_dim, end_dim)

    def squeeze(self, dim=None):
        return shape_ops.squeeze(self, dim)

    def unsqueeze(self, dim: int):
        return shape_ops.unsqueeze(self, dim)

    def permute(self, *dims):
        return shape_ops.permute(self, _shape_args(dims))

    def transpose(self, dim0: int, dim1: int):
        return shape_ops.transpose(self, dim0, dim1)

    def expand(self, *shape):
        return shape_ops.expand(self, _shape_args(shape))

    def __getitem__(self, index):
        return shape_ops.getitem(self, index)

    def contiguous(self):
        """Self when its values are laid out in row-major order, else a copy that is (then ``view`` works)."""
        flags = getattr(self.data, "flags", None)
        if flags is None or flags.c_contiguous:
            return self
        return elementwise_ops.Clone.apply(self)

    # ------------------------------------------------ NumPy and DLPack protocols
    def _exportable(self, what: str) -> np.ndarray:
        """``.data`` for handing to another library; the same refusals as ``numpy()`` (and PyTorch)."""
        if self.requires_grad:
            raise RuntimeError(f"{what}: the tensor requires grad; call .detach() first (as .detach().numpy())")
        if self.device == "cuda":
            raise TypeError(f"{what}: the tensor is on device 'cuda'; copy it to the host with .cpu() first")
        return self.data

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """``np.asarray(t)``: the tensor's own array (no copy) unless ``dtype``/``copy`` ask for one."""
        data = self._exportable("np.asarray(tensor)")
        if copy is False and dtype is not None and np.dtype(dtype) != data.dtype:
            raise ValueError(f"np.asarray(tensor): copy=False, but converting {data.dtype} to {dtype} needs a copy")
        array = data if dtype is None else data.astype(dtype, copy=False)
        return array.copy() if copy and array is data else array

    def __dlpack__(self, **kwargs):
        """A DLPack capsule sharing this CPU tensor's memory (``torch.from_dlpack(t)``, ``np.from_dlpack(t)``)."""
        return self._exportable("__dlpack__").__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple:
        return self._exportable("__dlpack_device__").__dlpack_device__()


def _shape_args(args) -> tuple:
    """Accept both ``x.reshape(2, 3)`` and ``x.reshape((2, 3))``."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _normalize_dim(dim, ndim: int, op: str) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__}")
    rank = max(ndim, 1)
    if not -rank <= dim < rank:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dimensions")
    return int(dim) % rank


def _normalize_dims(dim, ndim: int, op: str):
    """``None`` (all axes), an int, or a tuple of ints -> a sorted tuple of non-negative axes or None."""
    if dim is None:
        return None
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    axes = tuple(sorted({_normalize_dim(d, ndim, op) for d in dims}))
    if len(axes) != len(dims):
        raise ValueError(f"{op}: dim {dim} names the same dimension twice")
    if ndim == 0:
        return None
    return axes


# --------------------------------------------------------------- factories
def as_tensor(data, dtype=None) -> Tensor:
    """A constant Tensor from anything array-like (no copy when already a Tensor of the dtype)."""
    if isinstance(data, Tensor) and (dtype is None or dtypes.as_dtype(dtype, "as_tensor") == data.dtype):
        return data
    return Tensor(data, dtype=dtype)


def tensor(data, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """Make a leaf Tensor from a number, a (nested) list or an array; copies the data.

    Floats become ``float32`` by default and ints ``int64``, as in PyTorch.
    """
    device = _check_device(device)
    if isinstance(data, Tensor):
        data = data.data
    array = _to_array(data, dtype)
    array = array.copy() if is_cuda_array(array) else np.array(array, copy=True)
    return Tensor(_on_device(array, device), requires_grad=requires_grad)


def _shape(size, op: str) -> tuple:
    shape = _shape_args(size)
    for n in shape:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"{op}: size must be non-negative ints, got {shape}")
    return tuple(int(n) for n in shape)


def _factory(op, values_fn, size, dtype, requires_grad, device):
    device = _check_device(device)
    dtype = dtypes.as_dtype(dtype, op) if dtype is not None else _default_dtype
    array = values_fn(_shape(size, op), dtype)  # made on the host (the seeded generator), then moved
    return Tensor(_on_device(array.astype(dtype, copy=False), device), requires_grad=requires_grad)


def zeros(*size, dtype=None, requires_grad=False, device=None) -> Tensor:
    return _factory("zeros", np.zeros, size, dtype, requires_grad, device)


def ones(*size, dtype=None, requires_grad=False, device=None) -> Tensor:
    return _factory("ones", np.ones, size, dtype, requires_grad, device)


def full(size, fill_value, dtype=None, requires_grad=False, device=None) -> Tensor:
    return _factory("full", lambda s, d: np.full(s, fill_value, dtype=d), (size,), dtype, requires_grad, device)


def empty(*size, dtype=None, requires_grad=False, device=None) -> Tensor:
    return _factory("empty", np.empty, size, dtype, requires_grad, device)


def randn(*size, dtype=None, requires_grad=False, device=None) -> Tensor:
    """Standard normal samples from the generator seeded by ``tg.manual_seed``."""
    return _factory("randn", lambda s, d: default_generator().standard_normal(s), size, dtype, requires_grad, device)


def rand(*size, dtype=None, requires_grad=False, device=None) -> Tensor:
    """Uniform samples in [0, 1) from the generator seeded by ``tg.manual_seed``."""
    return _factory("rand", lambda s, d: default_generator().random(s), size, dtype, requires_grad, device)


def randint(low, high, size, dtype=None, device=None) -> Tensor:
    device = _check_device(device)
    array = default_generator().integers(low, high, size=_shape((size,), "randint"))
    dtype = dtypes.as_dtype(dtype, "randint") if dtype is not None else int64
    return Tensor(_on_device(array.astype(dtype), device))


def randperm(n: int) -> Tensor:
    return Tensor(default_generator().permutation(n).astype(np.int64))


def arange(start, end=None, step=1, dtype=None, requires_grad=False, device=None) -> Tensor:
    """Like ``torch.arange``: ints give int64, any float gives the default float dtype."""
    device = _check_device(device)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    values = np.arange(start, end, step)
    if dtype is None:
        dtype = np.int64 if values.dtype.kind in "iu" else _default_dtype
    return Tensor(_on_device(values.astype(dtype), device), requires_grad=requires_grad)


def linspace(start, end, steps: int, dtype=None, requires_grad=False, device=None) -> Tensor:
    _check_device(device)
    return Tensor(np.linspace(start, end, steps).astype(dtype or _default_dtype), requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype=None, requires_grad=False, device=None) -> Tensor:
    _check_device(device)
    dtype = dtypes.as_dtype(dtype, "eye") if dtype is not None else _default_dtype
    return Tensor(np.eye(n, m, dtype=dtype), requires_grad=requires_grad)


def zeros_like(t: Tensor, dtype=None, requires_grad=False, device=None) -> Tensor:
    return zeros(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad, device=device or t.device)


def ones_like(t: Tensor, dtype=None, requires_grad=False, device=None) -> Tensor:
    return ones(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad, device=device or t.device)


def full_like(t: Tensor, fill_value, dtype=None, requires_grad=False, device=None) -> Tensor:
    return full(t.shape, fill_value, dtype=dtype or t.dtype, requires_grad=requires_grad, device=device or t.device)


def randn_like(t: Tensor, dtype=None, requires_grad=False, device=None) -> Tensor:
    return randn(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad, device=device or t.device)


def rand_like(t: Tensor, dtype=None, requires_grad=False, device=None) -> Tensor:
    return rand(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad, device=device or t.device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A Tensor sharing memory with ``array`` (writes through either show in the other), as ``torch.from_numpy``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"from_numpy: dtype {array.dtype} is not supported (bool, int, uint or float arrays only)")
    return Tensor._wrap(array)


def from_dlpack(obj) -> Tensor:
    """A Tensor sharing memory with any CPU array that speaks DLPack (a torch tensor, a NumPy array, ...)."""
    return from_numpy(np.from_dlpack(obj))
