"""``CudaArray``: the array a Tensor holds on device ``'cuda'``, speaking NumPy's protocols.

The foundation's Functions are written with NumPy calls on ``.data`` (``np.exp(x)``, ``a * b``,
``x.sum(axis, keepdims=True)``, ``np.matmul(a, b)`` ...).  A CudaArray implements NumPy's two
dispatch protocols so that the very same lines run GPU kernels when ``.data`` is a CudaArray:

* ``__array_ufunc__``: ``np.exp(x)``, ``x + y``, ``np.maximum(x, 0)``, ``np.add.at(...)``,
  ``np.matmul`` -> the elementwise kernels (``elementwise.py``) or the tiled matmul (``matmul.py``).
* ``__array_function__``: ``np.sum``, ``np.where``, ``np.transpose``, ``np.concatenate``,
  ``np.pad`` ... -> the implementations in ``functions.py``, registered with ``@_implements``.

Data layout: a CudaArray is a C-contiguous 1-d numba device buffer (``_flat``) plus a ``shape``
and a ``dtype``.  ``reshape`` is a view sharing the buffer (as NumPy's on a contiguous array);
every other shape change (transpose, broadcast_to, basic indexing) COPIES into a new contiguous
array, with a gather kernel that reads the source through strides.  So kernels only ever see
contiguous buffers plus (offset, strides) triples, and the one place that knows about strides is
``launch.element_offset``.

Rules:

* Anything not supported raises ``NotImplementedError`` naming the operation and "on device
  'cuda'".  Nothing is ever copied to the host behind your back: ``np.asarray(cuda_array)``
  raises; ``copy_to_host()`` (or ``Tensor.to('cpu')``) is the explicit way out.  Converting a
  one-element array to a Python number (``item()``, ``float()``, ``bool()``) copies that element.
* Python numbers, NumPy scalars and 0-d NumPy arrays are accepted as scalars (like PyTorch's 0-d
  CPU tensors); a host array with dimensions mixed with a device array is an error.
* Result dtypes are NumPy's own (``ufunc.resolve_dtypes``, NEP 50 promotion: ``float32 * 0.5``
  stays float32).
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from ..indexing import is_basic_index
from . import elementwise
from . import reduce as _reduce
from .launch import broadcast_strides, contiguous_strides, kernel_shape, kernel_strides
from .matmul import matmul as _matmul_launch

__all__ = ["CudaArray", "to_device", "empty", "zeros", "full", "is_cuda_array"]

DEVICE = "cuda"


def _unsupported(what: str) -> NotImplementedError:
    return NotImplementedError(
        f"{what} is not supported on device 'cuda' (tinygraph.kernels.cuda.array.CudaArray); "
        "move the tensor to the host explicitly with .to('cpu') if that is what you want"
    )


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def _normalize_shape(shape, size: int, op: str) -> tuple:
    """``reshape`` arguments -> a tuple of ints, with one -1 inferred; errors like NumPy's."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    shape = tuple(int(n) for n in shape)
    known = _prod(n for n in shape if n != -1)
    if shape.count(-1) > 1 or any(n < -1 for n in shape):
        raise ValueError(f"{op}: invalid shape {shape} on device 'cuda'")
    if -1 in shape:
        if known == 0 or size % known:
            raise ValueError(f"{op}: cannot reshape array of size {size} into shape {shape}")
        shape = tuple(size // known if n == -1 else n for n in shape)
    if _prod(shape) != size:
        raise ValueError(f"{op}: cannot reshape array of size {size} into shape {shape}")
    return shape


def _normalize_axes(axis, ndim: int, op: str) -> tuple:
    """``axis`` (None, int or tuple, negatives allowed) -> a sorted tuple of distinct axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        a = int(a)
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise np.exceptions.AxisError(f"{op}: axis {a} is out of bounds for array of dimension {ndim}")
        out.append(a % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: duplicate value in 'axis' ({axis})")
    return tuple(sorted(a for a in out if a < ndim))


class CudaArray(np.lib.mixins.NDArrayOperatorsMixin):
    """An n-d array in GPU memory: a contiguous numba device buffer, a shape and a dtype.

    Arithmetic operators, comparisons and ``@`` go through ``__array_ufunc__`` (NumPy's
    ``NDArrayOperatorsMixin`` maps ``a + b`` to ``np.add(a, b)``), so they follow the same
    broadcasting and dtype rules as the NumPy calls.
    """

    __slots__ = ("_flat", "shape", "dtype")
    device = DEVICE

    def __init__(self, flat, shape: tuple, dtype=None):
        self._flat = flat  # 1-d numba device array of prod(shape) elements, C order
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(flat.dtype if dtype is None else dtype)

    # ------------------------------------------------------------------ metadata
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return _prod(self.shape)

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    @property
    def strides(self) -> tuple:
        """Byte strides, as ndarray.strides (always C-contiguous)."""
        return tuple(s * self.itemsize for s in contiguous_strides(self.shape))

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object (a 0-d CudaArray)")
        return self.shape[0]

    def __repr__(self) -> str:
        # no values: showing them would need a copy to the host
        return f"CudaArray(shape={self.shape}, dtype={self.dtype})"

    def device_array(self):
        """The numba device array, shaped (shares memory): hand it to your own ``@cuda.jit`` kernels."""
        return self._flat.reshape(self.shape) if self.shape else self._flat

    @property
    def __cuda_array_interface__(self):
        return self.device_array().__cuda_array_interface__

    # ------------------------------------------------------- leaving the device
    def copy_to_host(self) -> np.ndarray:
        """The values as a new NumPy array (the explicit device -> host copy)."""
        return self._flat.copy_to_host().reshape(self.shape)

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            f"cannot convert a CudaArray {self.shape} {self.dtype} on device 'cuda' to a NumPy array implicitly; "
            "call .copy_to_host() (Tensor: .to('cpu')) to copy it to the host"
        )

    def item(self):
        """The single value as a Python number (copies one element to the host)."""
        if self.size != 1:
            raise ValueError(f"item(): can only convert an array of size 1, this one has shape {self.shape}")
        return self._flat[0:1].copy_to_host()[0].item()

    def tolist(self):
        return self.copy_to_host().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.size != 1:
            raise ValueError(f"the truth value of a CudaArray with shape {self.shape} is ambiguous")
        return bool(self.item())

    # --------------------------------------------------------------- operands
    def _operand(self, out_shape: tuple):
        """(flat buffer, offset, strides) reading this array broadcast to ``out_shape``."""
        strides = broadcast_strides(self.shape, contiguous_strides(self.shape), out_shape)
        return self._flat, 0, kernel_strides(strides)

    # --------------------------------------------------------------- reshaping
    def reshape(self, *shape, order="C"):
        if order != "C":
            raise _unsupported(f"reshape(order={order!r})")
        shape = _normalize_shape(shape, self.size, "reshape")
        return CudaArray(self._flat, shape, self.dtype)

    def ravel(self):
        return self.reshape(-1)

    flatten = ravel

    def squeeze(self, axis=None):
        axes = _normalize_axes(axis, self.ndim, "squeeze") if axis is not None else None
        if axes is not None and any(self.shape[a] != 1 for a in axes):
            raise ValueError(f"squeeze: cannot select an axis to squeeze out which has size not equal to one ({axis})")
        keep = [n for i, n in enumerate(self.shape) if not (n == 1 and (axes is None or i in axes))]
        return self.reshape(tuple(keep))

    def _strided_copy(self, shape: tuple, offset: int, strides: tuple, dtype=None):
        """A new contiguous array whose element i is ``self._flat[offset + element_offset(i, shape, strides)]``."""
        out = empty(shape, self.dtype if dtype is None else dtype)
        elementwise.unary("positive", out._flat, kernel_shape(shape), (self._flat, offset, kernel_strides(strides)))
        return out

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        axes = tuple(reversed(range(self.ndim))) if not axes else tuple(int(a) % max(self.ndim, 1) for a in axes)
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError(f"transpose: axes {axes} don't match array of dimension {self.ndim}")
        strides = contiguous_strides(self.shape)
        return self._strided_copy(tuple(self.shape[a] for a in axes), 0, tuple(strides[a] for a in axes))

    @property
    def T(self):
        return self.transpose()

    def swapaxes(self, axis1: int, axis2: int):
        axes = list(range(self.ndim))
        a, b = int(axis1) % self.ndim, int(axis2) % self.ndim
        axes[a], axes[b] = axes[b], axes[a]
        return self.transpose(tuple(axes))

    def astype(self, dtype, copy: bool = True, **kwargs):
        if kwargs:
            raise _unsupported(f"astype({', '.join(kwargs)}=...)")
        dtype = np.dtype(dtype)
        if dtype == self.dtype and not copy:
            return self
        return self._strided_copy(self.shape, 0, contiguous_strides(self.shape), dtype)

    def copy(self, order="C"):
        return self.astype(self.dtype, copy=True)

    def fill(self, value) -> None:
        self[...] = value

    # ----------------------------------------------------------------- indexing
    def __getitem__(self, index):
        view = _basic_view(self.shape, index)
        if view is not None:
            offset, strides, shape = view
            return self._strided_copy(shape, offset, strides)
        offsets = _advanced_offsets(self.shape, index)
        out = empty(offsets.shape, self.dtype)
        elementwise.gather(out._flat, self._flat, _upload(offsets))
        return out

    def __setitem__(self, index, value):
        view = _basic_view(self.shape, index)
        if view is not None:
            offset, strides, shape = view
            src = _as_operand(value, "setitem")
            _check_fits(src, shape, "setitem")
            elementwise.scatter(
                self._flat, (offset, kernel_strides(strides)), kernel_shape(shape), src.read(shape, self.dtype),
                _prod(shape),
            )
            return
        offsets = _advanced_offsets(self.shape, index)
        src = _as_operand(value, "setitem")
        _check_fits(src, offsets.shape, "setitem")
        elementwise.scatter_offsets(
            self._flat, _upload(offsets), src.read(offsets.shape, self.dtype), kernel_shape(offsets.shape)
        )

    # --------------------------------------------------------------- reductions
    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        _no_out(out, "sum")
        result_dtype = np.dtype(dtype) if dtype is not None else np.empty(0, self.dtype).sum().dtype
        x = self.astype(result_dtype, copy=False)
        return _reduction("sum", x, axis, keepdims, result_dtype)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        _no_out(out, "mean")
        result_dtype = np.dtype(dtype) if dtype is not None else np.empty(1, self.dtype).mean().dtype
        axes = _normalize_axes(axis, self.ndim, "mean")
        count = _prod(self.shape[a] for a in axes)
        total = self.astype(result_dtype, copy=False).sum(axis=axes, keepdims=keepdims)
        return np.true_divide(total, np.asarray(count, dtype=result_dtype)) if count else total * np.nan

    def max(self, axis=None, out=None, keepdims=False):
        _no_out(out, "max")
        return _reduction("max", self, axis, keepdims, self.dtype)

    def min(self, axis=None, out=None, keepdims=False):
        _no_out(out, "min")
        return _reduction("min", self, axis, keepdims, self.dtype)

    def argmax(self, axis=None, out=None, keepdims=False):
        _no_out(out, "argmax")
        return _arg_reduction("argmax", self, axis, keepdims)

    def argmin(self, axis=None, out=None, keepdims=False):
        _no_out(out, "argmin")
        return _arg_reduction("argmin", self, axis, keepdims)

    def all(self, axis=None, out=None, keepdims=False):
        _no_out(out, "all")
        return _reduction("min", self.astype(bool, copy=False), axis, keepdims, np.dtype(bool), identity=True)

    def any(self, axis=None, out=None, keepdims=False):
        _no_out(out, "any")
        return _reduction("max", self.astype(bool, copy=False), axis, keepdims, np.dtype(bool), identity=False)

    # ---------------------------------------------------------------- protocols
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        name = ufunc.__name__
        if method == "at" and name == "add":
            return _add_at(*inputs)
        if method == "reduce" and name in ("add", "maximum", "minimum"):
            x = inputs[0]
            axis = kwargs.pop("axis", 0)
            keepdims = kwargs.pop("keepdims", False)
            if kwargs:
                raise _unsupported(f"np.{name}.reduce({', '.join(kwargs)}=...)")
            return {"add": x.sum, "maximum": x.max, "minimum": x.min}[name](axis=axis, keepdims=keepdims)
        if method != "__call__":
            raise _unsupported(f"np.{name}.{method}")
        out = kwargs.pop("out", None)
        if kwargs:
            raise _unsupported(f"np.{name}({', '.join(kwargs)}=...)")
        operands = [_operand_or_none(x) for x in inputs]
        if any(o is None for o in operands):
            return NotImplemented  # e.g. a Tensor on the other side: let it handle the operator
        if out is not None:
            out = out[0] if isinstance(out, tuple) else out
            if not isinstance(out, CudaArray):
                raise TypeError(f"np.{name}: out= must be a CudaArray on device 'cuda', got {type(out).__name__}")
        if name == "matmul":
            return _matmul(operands[0], operands[1], out)
        if name == "invert" and all(o.dtype == np.bool_ for o in operands):
            name = "logical_not"  # ~mask on booleans is logical not
        if name in elementwise.UNARY and len(operands) == 1:
            return _map(name, ufunc, operands, out)
        if name in elementwise.BINARY and len(operands) == 2:
            return _map(name, ufunc, operands, out)
        raise _unsupported(f"np.{name}")

    def __array_function__(self, func, types, args, kwargs):
        impl = _FUNCTIONS.get(func)
        if impl is None:
            raise _unsupported(f"np.{func.__name__}")
        return impl(*args, **kwargs)


# ===================================================================== constructors


def empty(shape, dtype=np.float32) -> CudaArray:
    shape = tuple(int(n) for n in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    dtype = np.dtype(dtype)
    return CudaArray(cuda.device_array(_prod(shape), dtype=dtype), shape, dtype)


def full(shape, value, dtype=np.float32) -> CudaArray:
    out = empty(shape, dtype)
    out[...] = value
    return out


def zeros(shape, dtype=np.float32) -> CudaArray:
    return full(shape, 0, dtype)


def to_device(array) -> CudaArray:
    """Copy a NumPy array (or anything ``np.asarray`` accepts) to the GPU."""
    if isinstance(array, CudaArray):
        return array
    host = np.asarray(array)
    flat = np.ascontiguousarray(host.reshape(-1))  # (np.ascontiguousarray alone would make a 0-d array 1-d)
    return CudaArray(cuda.to_device(flat), host.shape, host.dtype)


def is_cuda_array(x) -> bool:
    return isinstance(x, CudaArray)


# ================================================================= operands and scalars
_constants: dict = {}


def _constant(value, dtype: np.dtype):
    """A one-element device array holding ``value`` (cached: scalars in ``x * 0.5`` are not re-uploaded)."""
    host = np.array([value], dtype=dtype)
    key = (dtype.str, host.tobytes())
    flat = _constants.get(key)
    if flat is None:
        if len(_constants) > 512:
            _constants.clear()
        flat = _constants[key] = cuda.to_device(host)
    return flat


class _Scalar:
    """A host scalar operand; ``spec`` is what NumPy's dtype resolution sees (python type = weak)."""

    __slots__ = ("value", "spec", "dtype")

    def __init__(self, value, spec):
        self.value, self.spec = value, spec
        self.dtype = np.dtype(type(value)) if isinstance(spec, type) else spec

    def read(self, shape: tuple, dtype=None):
        flat = _constant(self.value, np.dtype(dtype) if dtype is not None else self.dtype)
        return flat, 0, (0,) * len(kernel_shape(shape))


class _Array:
    __slots__ = ("array", "spec", "dtype", "shape")

    def __init__(self, array: CudaArray):
        self.array, self.spec, self.dtype, self.shape = array, array.dtype, array.dtype, array.shape

    def read(self, shape: tuple, dtype=None):
        a = self.array if dtype is None or dtype == self.dtype else self.array.astype(dtype)
        return a._operand(shape)


def _operand_or_none(x):
    if isinstance(x, CudaArray):
        return _Array(x)
    if isinstance(x, np.generic):  # first: np.float64 is also a Python float, but a "strong" one
        return _Scalar(x, x.dtype)
    if isinstance(x, bool):
        return _Scalar(x, np.dtype(bool))
    if isinstance(x, (int, float)):
        return _Scalar(x, type(x))  # Python numbers are "weak": float32 * 0.5 stays float32
    if isinstance(x, np.ndarray):
        if x.ndim == 0:
            return _Scalar(x[()], x.dtype)
        raise TypeError(
            f"cannot mix a host NumPy array of shape {x.shape} with a CudaArray on device 'cuda'; "
            "move it with tinygraph.cuda.to_device (Tensor: .to('cuda')) first"
        )
    return None


def _as_operand(x, op: str):
    o = _operand_or_none(x)
    if o is None:
        raise TypeError(f"{op}: cannot use a {type(x).__name__} as a value on device 'cuda'")
    return o


def _check_fits(src, shape: tuple, op: str) -> None:
    """A value written into a view of ``shape`` must broadcast to exactly that shape."""
    if isinstance(src, _Array) and (len(src.shape) > len(shape) or np.broadcast_shapes(src.shape, shape) != shape):
        raise ValueError(f"{op}: could not broadcast a value of shape {src.shape} into shape {shape}")


def _no_out(out, op: str) -> None:
    if out is not None:
        raise _unsupported(f"{op}(out=...)")


def _broadcast_shape(name: str, operands) -> tuple:
    shapes = [o.shape for o in operands if isinstance(o, _Array)]
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(
            f"np.{name}: operands could not be broadcast together with shapes {' '.join(map(str, shapes))}"
        ) from None


def _reads(operands, shape: tuple, dtypes):
    """Kernel operand triples; scalars are converted to the ufunc loop's input dtype."""
    reads = []
    for o, dt in zip(operands, dtypes):
        reads.append(o.read(shape, dt) if isinstance(o, _Scalar) else o.read(shape))
    return reads


def _prepare_out(name: str, out, shape: tuple, dtype: np.dtype) -> CudaArray:
    if out is None:
        return empty(shape, dtype)
    if out.shape != shape:
        raise ValueError(f"np.{name}: out has shape {out.shape}, but the result has shape {shape}")
    if not np.can_cast(dtype, out.dtype, casting="same_kind"):
        raise TypeError(f"np.{name}: cannot cast the result dtype {dtype} to out's dtype {out.dtype}")
    return out


def _unalias(operands, out, shape: tuple):
    """An input that shares ``out``'s buffer but is read with other strides is copied first.

    ``a += b`` with ``b`` a reshaped view of ``a`` would otherwise let a thread read an element
    that another thread already overwrote.
    """
    if out is None:
        return operands
    plain = kernel_strides(contiguous_strides(shape))
    fixed = []
    for o in operands:
        if isinstance(o, _Array) and o.array._flat is out._flat and o.array._operand(shape)[2] != plain:
            o = _Array(o.array.copy())
        fixed.append(o)
    return fixed


def _map(name: str, ufunc, operands, out):
    """Run an elementwise ufunc: resolve dtypes as NumPy would, broadcast, launch."""
    dtypes = ufunc.resolve_dtypes(tuple(o.spec for o in operands) + (None,))
    shape = _broadcast_shape(name, operands)
    result = _prepare_out(name, out, shape, dtypes[-1])
    operands = _unalias(operands, out, shape)
    reads = _reads(operands, shape, dtypes[:-1])
    if len(operands) == 1:
        elementwise.unary(name, result._flat, kernel_shape(shape), reads[0])
    else:
        elementwise.binary(name, result._flat, kernel_shape(shape), reads[0], reads[1])
    return result


# ======================================================================== indexing


_is_basic = is_basic_index  # shared with the host's GetItem (kernels/indexing.py)


def _basic_view(shape: tuple, index):
    """``(offset, strides, shape)`` in elements of ``x[index]`` for a basic index, else None.

    NumPy does the work (and raises its usual IndexError): we index a fake array with the same
    shape whose byte strides equal our element strides (itemsize 1), over a 1-byte buffer that
    is never read, and read the offset and strides off the resulting view.
    """
    if not _is_basic(index):
        return None
    base = np.zeros(1, dtype=np.uint8)
    fake = np.lib.stride_tricks.as_strided(base, shape=shape, strides=contiguous_strides(shape), writeable=False)
    view = fake[index]
    if not isinstance(view, np.ndarray):  # all-integer index: NumPy returns a scalar; ask for a 0-d view
        view = fake[(index if isinstance(index, tuple) else (index,)) + (Ellipsis,)]
    offset = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    return offset, view.strides, view.shape


def _advanced_offsets(shape: tuple, index) -> np.ndarray:
    """Element offsets (host int64 array) selected by an advanced index made of host arrays."""
    items = index if isinstance(index, tuple) else (index,)
    if any(isinstance(item, CudaArray) for item in items):
        raise _unsupported("indexing with a device array (boolean mask or integer array)")
    return np.arange(_prod(shape), dtype=np.int64).reshape(shape)[index]


def _upload(offsets: np.ndarray):
    """Offsets (any layout, e.g. a strided view from a basic index) -> a flat int64 device array."""
    return cuda.to_device(np.ascontiguousarray(offsets.reshape(-1)))


def _add_at(target, index, values):
    """``np.add.at(target, index, values)``: ``target[index] += values``, repeated indices accumulate."""
    if not isinstance(target, CudaArray):
        raise TypeError("np.add.at: the target must be a CudaArray when the values are on device 'cuda'")
    offsets = _advanced_offsets(target.shape, index)
    src = _as_operand(values, "np.add.at")
    elementwise.scatter_add(
        target._flat, _upload(offsets), src.read(offsets.shape, target.dtype), kernel_shape(offsets.shape)
    )


# ====================================================================== reductions


def _reduced_shape(shape: tuple, axes: tuple, keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if d in axes else n for d, n in enumerate(shape))
    return tuple(n for d, n in enumerate(shape) if d not in axes)


def _reduction(name: str, x: CudaArray, axis, keepdims: bool, dtype, identity=None) -> CudaArray:
    axes = _normalize_axes(axis, x.ndim, name)
    out_shape = _reduced_shape(x.shape, axes, keepdims)
    count = _prod(x.shape[a] for a in axes)
    if count == 0:
        if name == "sum":
            return zeros(out_shape, dtype)
        if identity is not None:
            return full(out_shape, identity, dtype)
        raise ValueError(f"zero-size array to reduction operation {name} which has no identity")
    out = empty(out_shape, dtype)
    if out.size:
        _reduce.reduce(name, out._flat, x._flat, kernel_shape(x.shape), axes)
    return out


def _arg_reduction(name: str, x: CudaArray, axis, keepdims: bool) -> CudaArray:
    if axis is None:
        shape = (1,) * x.ndim if keepdims else ()
        x, axes = x.reshape(-1), (0,)
    else:
        if isinstance(axis, (tuple, list)):
            raise TypeError(f"{name}: axis must be an int or None")
        axes = _normalize_axes(axis, x.ndim, name)
        shape = _reduced_shape(x.shape, axes, keepdims)
    if x.shape[axes[0]] == 0:
        raise ValueError(f"attempt to get {name} of an empty sequence")
    out = empty(shape, np.int64)
    if out.size:
        _reduce.reduce(name, out._flat, x._flat, kernel_shape(x.shape), axes)
    return out


# ========================================================================= matmul


def _matmul(a, b, out):
    """``np.matmul`` with its 1-d promotion rules, on the tiled kernel."""
    if not (isinstance(a, _Array) and isinstance(b, _Array)):
        raise ValueError("np.matmul: scalar operands are not allowed (as in NumPy)")
    a, b = a.array, b.array
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("np.matmul: input operands must have at least 1 dimension")
    squeeze = []
    if a.ndim == 1:
        a = a.reshape(1, a.shape[0])
        squeeze.append(-2)
    if b.ndim == 1:
        b = b.reshape(b.shape[0], 1)
        squeeze.append(-1)
    n, k = a.shape[-2:]
    k2, m = b.shape[-2:]
    if k != k2:
        raise ValueError(f"np.matmul: inner dimensions differ: {a.shape} @ {b.shape} ({k} != {k2})")
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"np.matmul: batch dimensions of {a.shape} @ {b.shape} do not broadcast") from None
    dtype = np.matmul.resolve_dtypes((a.dtype, b.dtype, None))[-1]
    a, b = a.astype(dtype, copy=False), b.astype(dtype, copy=False)
    full_shape = batch + (n, m)
    result_shape = tuple(s for i, s in enumerate(full_shape) if i - len(full_shape) not in squeeze)
    result = _prepare_out("matmul", out, result_shape, dtype)
    if result.dtype != dtype:
        raise _unsupported(f"np.matmul(out=...) with out dtype {result.dtype} != {dtype}")
    batch_k = kernel_shape(batch)
    a_strides = kernel_strides(broadcast_strides(a.shape[:-2], contiguous_strides(a.shape)[:-2], batch))
    b_strides = kernel_strides(broadcast_strides(b.shape[:-2], contiguous_strides(b.shape)[:-2], batch))
    if k == 0:
        result[...] = 0
    else:
        _matmul_launch(result._flat, a._flat, b._flat, n, k, m, batch_k, a_strides, b_strides)
    return result


# ================================================================== NumPy functions
# ``np.sum(x)``, ``np.where(...)`` ... on a CudaArray call the implementation registered here by
# ``functions.py`` (imported at the bottom of this module).

_FUNCTIONS: dict = {}


def _implements(*funcs):
    def register(impl):
        for f in funcs:
            _FUNCTIONS[f] = impl
        return impl

    return register


from . import functions  # noqa: E402,F401  (registers the implementations of the NumPy functions)
