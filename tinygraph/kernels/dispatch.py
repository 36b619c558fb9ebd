"""Which kernels run: the dispatch table and the kernel-set switch (``tg.use_kernels``, ``tg.set_kernels``).

The table maps (device, kernel set, family) to an imported module::

    cpu  fast       conv, pool, norm, activation, special  ->  tinygraph/kernels/cpu/<family>.py
    cpu  reference  conv, pool, norm, activation           ->  tinygraph/kernels/cpu/reference/<family>.py
    cuda (any set)  conv, pool, norm, activation, special  ->  tinygraph/kernels/cuda/<family>.py

The ``fast`` set is the default.  ``reference`` runs the textbook loops (compiled with Numba,
nothing else); a family without a reference twin (``special``) keeps its one implementation.
A student's object or module can stand in for the reference: ``tg.use_kernels(my_module)``
takes each function the module provides under a reference name (see ``INTERFACE``) and the
reference for the rest, and checks the shape of everything the student's functions return.

The setting is global (``set_kernels``, or ``TINYGRAPH_KERNELS`` read at import) and can be
overridden for a block of code in the current thread (``use_kernels``, a context manager).
The CUDA kernels run for device arrays whatever the setting: the sets are CPU kernel sets.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import inspect
import os
import types

import numpy as np

from .cpu import activation as fast_activation
from .cpu import conv as fast_conv
from .cpu import norm as fast_norm
from .cpu import pool as fast_pool
from .cpu import special as fast_special
from .cpu.reference import activation as reference_activation
from .cpu.reference import conv as reference_conv
from .cpu.reference import norm as reference_norm
from .cpu.reference import pool as reference_pool

__all__ = ["use_kernels", "set_kernels", "get_kernels", "kernels_for", "INTERFACE", "ENV_VARIABLE"]

ENV_VARIABLE = "TINYGRAPH_KERNELS"

#: The CPU kernel sets by name: family -> module.
CPU_KERNELS = {
    "fast": {
        "conv": fast_conv,
        "pool": fast_pool,
        "norm": fast_norm,
        "activation": fast_activation,
        "special": fast_special,
    },
    "reference": {
        "conv": reference_conv,
        "pool": reference_pool,
        "norm": reference_norm,
        "activation": reference_activation,
        "special": fast_special,  # erf has no loop of ours to show: NumPy has none, Numba's math.erf is the reference
    },
}
KERNEL_SETS = tuple(CPU_KERNELS)


def _conv_out(x, weight, bias, stride, padding, dilation, groups, out_size):
    return (x.shape[0], weight.shape[0]) + tuple(out_size)


def _pooled(x, *args):
    return x.shape[:2] + tuple(args[-1])


#: The functions of each family a kernel set provides: name -> (arguments, result, expected result shape(s)).
#: The shape function takes the call's arguments; a tuple of shapes means a tuple of arrays is returned.
INTERFACE = {
    "conv": {
        "conv2d_forward": (
            "x, weight, bias, stride, padding, dilation, groups, out_size",
            "out: (N, C_out, OH, OW)",
            _conv_out,
        ),
        "conv2d_backward_input": (
            "grad_out, weight, stride, padding, dilation, groups, in_size",
            "grad_x: (N, C_in, H, W)",
            lambda g, w, s, p, d, groups, in_size: (g.shape[0], w.shape[1] * groups) + tuple(in_size),
        ),
        "conv2d_backward_weight": (
            "x, grad_out, stride, padding, dilation, groups, kernel_size",
            "grad_w: (C_out, C_in // groups, kH, kW)",
            lambda x, g, s, p, d, groups, k: (g.shape[1], x.shape[1] // groups) + tuple(k),
        ),
        "conv2d_bias_grad": ("grad_out", "grad_b: (C_out,)", lambda g: (g.shape[1],)),
    },
    "pool": {
        "max_pool2d_forward": (
            "x, kernel_size, stride, padding, dilation, out_size",
            "(out, argmax): two (N, C, OH, OW) arrays, argmax int64",
            lambda x, k, s, p, d, out_size: (_pooled(x, out_size), _pooled(x, out_size)),
        ),
        "max_pool2d_backward": (
            "grad_out, argmax, in_size",
            "grad_x: (N, C, H, W)",
            lambda g, a, in_size: _pooled(g, in_size),
        ),
        "avg_pool2d_forward": (
            "x, kernel_size, stride, padding, out_size, count_include_pad, divisor_override",
            "out: (N, C, OH, OW)",
            lambda x, k, s, p, out_size, *rest: _pooled(x, out_size),
        ),
        "avg_pool2d_backward": (
            "grad_out, in_size, kernel_size, stride, padding, count_include_pad, divisor_override",
            "grad_x: (N, C, H, W)",
            lambda g, in_size, *rest: _pooled(g, in_size),
        ),
        "adaptive_avg_pool2d_forward": ("x, out_size", "out: (N, C, OH, OW)", _pooled),
        "adaptive_avg_pool2d_backward": ("grad_out, in_size", "grad_x: (N, C, H, W)", _pooled),
    },
    "norm": {
        "batch_norm_stats": (
            "x",
            "(mean, var): two float64 (C,) arrays",
            lambda x: ((x.shape[1],), (x.shape[1],)),
        ),
        "batch_norm_forward": ("x, mean, inv_std, weight, bias", "y: (N, C, L)", lambda x, *rest: x.shape),
        "batch_norm_backward": (
            "grad_out, x, mean, inv_std, weight, batch_stats",
            "(dx: (N, C, L), dweight: (C,), dbias: (C,))",
            lambda g, x, *rest: (x.shape, (x.shape[1],), (x.shape[1],)),
        ),
    },
    "activation": {
        "relu_forward": ("x", "out: the shape of x", lambda x: x.shape),
        "relu_backward": ("grad, out", "grad_x: the shape of out", lambda grad, out: out.shape),
    },
}

#: What each result array is converted to, where the dtype is fixed (else: the first array argument's).
_RESULT_DTYPES = {"max_pool2d_forward": (None, np.int64), "batch_norm_stats": (np.float64, np.float64)}


def _parse(name, setting: str) -> str:
    """A kernel set's name, checked: ValueError naming ``setting`` and the allowed values otherwise."""
    if not isinstance(name, str) or name.strip().lower() not in CPU_KERNELS:
        allowed = " or ".join(repr(n) for n in KERNEL_SETS)
        raise ValueError(f"{setting}: unknown kernel set {name!r}; expected {allowed}")
    return name.strip().lower()


def _from_environment():
    value = os.environ.get(ENV_VARIABLE)
    return "fast" if value is None or not value.strip() else _parse(value, f"environment variable {ENV_VARIABLE}")


_global_setting = _from_environment()  # a set's name or a student's KernelSet
_block_setting = contextvars.ContextVar("tinygraph_kernels", default=None)  # use_kernels' override


def get_kernels():
    """The kernel set now in effect: ``'fast'``, ``'reference'``, or the object given to ``use_kernels``."""
    setting = _block_setting.get() or _global_setting
    return setting if isinstance(setting, str) else setting.source


def set_kernels(kernels):
    """Choose the CPU kernels for the whole process: ``'fast'`` (default), ``'reference'``, or a student's
    object/module (as ``use_kernels``).  Returns the previous setting, so it can be restored."""
    global _global_setting
    previous = _global_setting if isinstance(_global_setting, str) else _global_setting.source
    _global_setting = _resolve(kernels, "tg.set_kernels")
    return previous


@contextlib.contextmanager
def use_kernels(kernels):
    """Within the block (in this thread), run the given CPU kernels, then go back to the setting before.

    ``kernels``: ``'reference'`` (the textbook loops), ``'fast'``, or an object or module providing
    some of the reference functions under their names (``tinygraph/kernels/cpu/reference/``): what
    it provides is used, the reference for the rest.

        with tg.use_kernels("reference"):
            loss = model(x).mean(); loss.backward()
    """
    token = _block_setting.set(_resolve(kernels, "tg.use_kernels"))
    try:
        yield
    finally:
        _block_setting.reset(token)


def kernels_for(array, family: str):
    """The kernels of ``family`` ('conv', 'pool', 'norm', 'activation', 'special') for ``array``'s device.

    CPU arrays get the set now in effect; device arrays the CUDA kernels.
    """
    if getattr(type(array), "device", None) == "cuda":
        return _cuda_kernels()[family]
    setting = _block_setting.get() or _global_setting
    if isinstance(setting, str):
        return CPU_KERNELS[setting][family]
    return setting.families[family]


def _cuda_kernels():
    """The CUDA table, imported on first use (importing numba.cuda takes half a second)."""
    from .cuda import activation, conv, norm, pool, special

    return {"conv": conv, "pool": pool, "norm": norm, "activation": activation, "special": special}


# ---------------------------------------------------------------------------- a student's kernels


class KernelSet:
    """A student's functions, family by family, with the reference standing in for what is missing."""

    def __init__(self, source, families):
        self.source = source
        self.families = families


def _resolve(kernels, setting):
    """A set's name (checked) or a KernelSet built from an object or module."""
    if isinstance(kernels, str):
        return _parse(kernels, setting)
    if isinstance(kernels, KernelSet):
        return kernels
    owner = getattr(kernels, "__name__", type(kernels).__name__)
    _reject_misnamed(kernels, owner, setting)
    families, provided = {}, []
    for family, functions in INTERFACE.items():
        reference = CPU_KERNELS["reference"][family]
        chosen = {}
        for name in functions:
            function = getattr(kernels, name, None)
            if function is None:
                chosen[name] = getattr(reference, name)
                continue
            if not callable(function):
                raise ValueError(f"{setting}: {owner}.{name} is not a function; expected {_signature(family, name)}")
            _check_signature(function, family, name, owner, setting)
            chosen[name] = _checked(function, family, name, owner)
            provided.append(name)
        extras = {n: getattr(reference, n) for n in getattr(reference, "__all__", ()) if n not in chosen}
        families[family] = types.SimpleNamespace(**chosen, **extras)
    if not provided:
        allowed = " or ".join(repr(n) for n in KERNEL_SETS)
        raise ValueError(
            f"{setting}: expected {allowed}, or an object or module providing kernel functions; "
            f"{owner} provides none of the kernel functions:\n{_all_signatures()}"
        )
    families["special"] = CPU_KERNELS["reference"]["special"]
    return KernelSet(kernels, families)


def _signature(family, name):
    arguments, result, _ = INTERFACE[family][name]
    return f"{name}({arguments}) -> {result}"


def _all_signatures():
    return "\n".join(f"  {_signature(f, n)}" for f, names in INTERFACE.items() for n in names)


def _public_functions(kernels):
    """Names of the callables ``kernels`` defines itself (a module's imports, such as ``np``, are not its own)."""
    module_name = kernels.__name__ if isinstance(kernels, types.ModuleType) else None
    names = []
    for name in dir(kernels):
        value = getattr(kernels, name, None)
        if name.startswith("_") or not callable(value) or isinstance(value, type):
            continue
        if module_name is not None and getattr(value, "__module__", None) != module_name:
            continue
        names.append(name)
    return names


def _reject_misnamed(kernels, owner, setting):
    """A function whose name is close to a kernel name but not one (``conv2d_fwd``, ``relu_forward_reference``)."""
    known = [n for names in INTERFACE.values() for n in names]
    for name in _public_functions(kernels):
        if name in known:
            continue
        close = difflib.get_close_matches(name.removesuffix("_reference"), known, n=1, cutoff=0.75)
        if close:
            family = next(f for f, names in INTERFACE.items() if close[0] in names)
            raise ValueError(
                f"{setting}: {owner}.{name} is not a kernel name; did you mean {_signature(family, close[0])}?"
            )


def _check_signature(function, family, name, owner, setting):
    """The function must accept the reference's positional arguments."""
    arguments = INTERFACE[family][name][0].split(", ")
    try:
        signature = inspect.signature(getattr(function, "py_func", function))
    except (TypeError, ValueError):  # a builtin without a signature: take it on trust
        return
    try:
        signature.bind(*arguments)
    except TypeError as err:
        raise ValueError(
            f"{setting}: {owner}.{name}{signature} does not take the kernel's arguments ({err}); "
            f"expected {_signature(family, name)}"
        ) from None


def _checked(function, family, name, owner):
    """``function`` whose results are checked against the expected shapes (and given the expected dtype)."""
    expected_shape = INTERFACE[family][name][2]
    dtypes = _RESULT_DTYPES.get(name)

    def call(*args):
        result = function(*args)
        expected = expected_shape(*args)
        if isinstance(expected[0], tuple):  # several arrays
            if not isinstance(result, (tuple, list)) or len(result) != len(expected):
                raise ValueError(
                    f"{owner}.{name} returned {type(result).__name__}, expected {len(expected)} arrays: "
                    f"{_signature(family, name)}"
                )
            return tuple(
                _array(r, e, i, args, dtypes, owner, family, name) for i, (r, e) in enumerate(zip(result, expected))
            )
        return _array(result, expected, 0, args, dtypes, owner, family, name)

    call.__name__, call.__doc__, call.__wrapped__ = name, function.__doc__, function
    return call


def _array(value, expected, index, args, dtypes, owner, family, name):
    dtype = (dtypes[index] if dtypes else None) or next(a.dtype for a in args if isinstance(a, np.ndarray))
    got = np.shape(value)
    if tuple(got) != tuple(expected):
        which = f"result {index} " if dtypes or index else ""
        raise ValueError(
            f"{owner}.{name} returned {which}of shape {tuple(got)}, expected {tuple(expected)}: "
            f"{_signature(family, name)}"
        )
    return np.ascontiguousarray(value, dtype=dtype)
