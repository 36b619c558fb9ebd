"""Adam and AdamW, exactly PyTorch's formulas.

For each parameter ``p`` with gradient ``g``, at step ``t = 1, 2, ...``::

    g = g + weight_decay * p                 (Adam: L2 penalty folded into the gradient)
    p = p * (1 - lr * weight_decay)          (AdamW instead: decoupled weight decay)
    m = beta1 * m + (1 - beta1) * g          first moment: a running mean of gradients
    v = beta2 * v + (1 - beta2) * g^2        second moment: a running mean of squared gradients
    v_max = max(v_max, v)                    (amsgrad only; then v_max replaces v below)
    p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

``m`` and ``v`` start at zero, so early on they are too small by a factor
``1 - beta^t``; dividing by it ("bias correction") undoes that.  Each coordinate's
step is its mean gradient divided by its typical size, so every weight moves by
roughly ``lr`` whatever the scale of its gradient.
"""

from __future__ import annotations

import math

import numpy as np

from .optimizer import Optimizer, check_numbers
from .sgd import _run_closure

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    _decoupled_weight_decay = False

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ):
        name = type(self).__name__
        check_numbers(name, lr=lr, eps=eps, weight_decay=weight_decay)
        if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__"):
            raise TypeError(f"{name}: betas must be a pair of numbers, got {betas!r}")
        check_numbers(name, **{f"betas[{i}]": b for i, b in enumerate(betas)})
        if lr < 0.0:
            raise ValueError(f"{name}: invalid learning rate lr={lr} (must be >= 0)")
        if eps < 0.0:
            raise ValueError(f"{name}: invalid eps={eps} (must be >= 0)")
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"{name}: betas must be two numbers in [0, 1), got {betas}")
        if weight_decay < 0.0:
            raise ValueError(f"{name}: invalid weight_decay={weight_decay} (must be >= 0)")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        super().__init__(params, defaults)

    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` (optional) recomputes and returns the loss."""
        loss = _run_closure(closure)
        decoupled = self._decoupled_weight_decay
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            weight_decay, amsgrad = group["weight_decay"], group["amsgrad"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.data
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {
                        "step": 0,
                        "exp_avg": np.zeros_like(p.data),
                        "exp_avg_sq": np.zeros_like(p.data),
                    }
                    if amsgrad:
                        state["max_exp_avg_sq"] = np.zeros_like(p.data)
                if weight_decay != 0:
                    if decoupled:
                        p.data *= 1 - lr * weight_decay
                    else:
                        g = g + weight_decay * p.data
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m += (1 - beta1) * (g - m)  # = beta1 m + (1 - beta1) g, written as PyTorch's lerp
                v *= beta2
                v += (1 - beta2) * g * g
                if amsgrad:
                    v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                step_size = lr / (1 - beta1**t)
                denom = np.sqrt(v) / math.sqrt(1 - beta2**t) + eps
                p.data -= step_size * m / denom
                p._bump_version()  # a graph that saved p's old values now refuses to backward
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p *= 1 - lr * weight_decay`` before the Adam
    step, instead of adding ``weight_decay * p`` to the gradient.  Default ``weight_decay=1e-2``."""

    _decoupled_weight_decay = True

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
