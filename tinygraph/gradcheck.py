"""Check analytic gradients against central finite differences, in float64.

For a function ``f`` of tensors and a random upstream gradient ``v`` (a random
``v`` catches errors that ``.sum()``, i.e. ``v = 1``, hides), the scalar
``L = sum(v * f(x))`` has ``dL/dx_i`` from backpropagation and, numerically,

    dL/dx_i ~= (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)

whose error is O(eps^2).  The two must agree to ``atol + rtol * |numeric|``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .autograd import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Raised by :func:`gradcheck` when analytic and numerical gradients disagree."""


@dataclass
class GradcheckResult:
    """What :func:`gradcheck` found; truthy when every gradient agreed.

    Attributes:
        ok:              all entries within tolerance
        max_abs_error:   the largest |analytic - numeric| over all inputs
        max_rel_error:   the largest |analytic - numeric| / max(|numeric|, tiny)
        worst_input:     index of the input holding the worst mismatch (relative to tolerance)
        worst_index:     the element index of it inside that input
        analytic, numeric: the two gradients at the worst element
    """

    ok: bool
    max_abs_error: float
    max_rel_error: float
    worst_input: int | None
    worst_index: tuple | None
    analytic: float
    numeric: float

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        if self.worst_input is None:
            return "gradcheck: no input requires grad"
        verdict = "passed" if self.ok else "FAILED"
        return (
            f"gradcheck {verdict}: max abs error {self.max_abs_error:.3g}, max rel error {self.max_rel_error:.3g}; "
            f"worst at input {self.worst_input}, index {self.worst_index}: "
            f"analytic {self.analytic:.10g} vs numeric {self.numeric:.10g}"
        )


def _as_float64_leaf(x):
    if isinstance(x, Tensor):
        data = x.data.astype(np.float64) if x.dtype.kind == "f" else x.data
        return Tensor(data.copy(), requires_grad=x.requires_grad and x.dtype.kind == "f")
    return x


def _scalar_objective(fn, inputs, upstream):
    outputs = fn(*inputs)
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    total = 0.0
    for out, v in zip(outputs, upstream):
        total = total + (out * v).sum() if isinstance(out, Tensor) and out.dtype.kind == "f" else total
    return total


def gradcheck(fn, *inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0,
              raise_exception: bool = True) -> GradcheckResult:
    """Compare ``fn``'s backpropagated gradients with central finite differences.

    fn:      a function of tensors returning a tensor (or a tuple of tensors)
    inputs:  tensors (those with ``requires_grad=True`` are checked) and any other arguments;
             float tensors are copied to float64 so rounding does not swamp the check
    Returns a :class:`GradcheckResult` (truthy on success); raises :class:`GradcheckError`
    naming the worst mismatch when ``raise_exception`` (the default).
    """
    inputs = [_as_float64_leaf(x) for x in inputs]
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is nothing to check")

    rng = np.random.default_rng(seed)
    with no_grad():
        probe = fn(*inputs)
    probe = probe if isinstance(probe, (tuple, list)) else (probe,)
    upstream = [rng.standard_normal(out.shape) if isinstance(out, Tensor) else None for out in probe]

    objective = _scalar_objective(fn, inputs, upstream)
    if not isinstance(objective, Tensor) or not objective.requires_grad:
        raise ValueError("gradcheck: the function's output does not depend on any input that requires grad")
    objective.backward()

    worst = GradcheckResult(True, 0.0, 0.0, None, None, 0.0, 0.0)
    worst_ratio = -1.0
    for i in checked:
        x = inputs[i]
        analytic = x.grad.data if x.grad is not None else np.zeros_like(x.data)
        numeric = np.zeros_like(x.data)
        flat = x.data.reshape(-1)  # a view: nudging it nudges x
        with no_grad():
            for j in range(flat.size):
                original = flat[j]
                flat[j] = original + eps
                plus = _scalar_objective(fn, inputs, upstream)
                flat[j] = original - eps
                minus = _scalar_objective(fn, inputs, upstream)
                flat[j] = original
                numeric.reshape(-1)[j] = (float(plus.data) - float(minus.data)) / (2 * eps)
        error = np.abs(analytic - numeric)
        ratio = error / (atol + rtol * np.abs(numeric))
        ratio = np.where(np.isnan(ratio), np.inf, ratio)  # a NaN on either side fails, never passes silently
        rel = error / np.maximum(np.abs(numeric), 1e-12)
        worst.max_abs_error = max(worst.max_abs_error, float(error.max(initial=0.0)))
        worst.max_rel_error = max(worst.max_rel_error, float(rel.max(initial=0.0)))
        if ratio.size and ratio.max() > worst_ratio:
            k = np.unravel_index(int(ratio.argmax()), ratio.shape)
            worst_ratio = float(ratio.max())
            worst.worst_input, worst.worst_index = i, tuple(int(n) for n in k)
            worst.analytic, worst.numeric = float(analytic[k]), float(numeric[k])
    worst.ok = worst_ratio <= 1.0
    if not worst.ok and raise_exception:
        raise GradcheckError(str(worst))
    return worst
