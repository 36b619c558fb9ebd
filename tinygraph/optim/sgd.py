"""Stochastic gradient descent with momentum, exactly PyTorch's rule.

For each parameter ``p`` with gradient ``g``, every step::

    g = g + weight_decay * p                        (L2 penalty, if weight_decay)
    b = g                              on the first step (no dampening yet)
    b = momentum * b + (1 - dampening) * g          afterwards
    g = g + momentum * b  if nesterov  else  b
    p = p - lr * g

Momentum keeps a running direction, so steps add up along a consistent slope and
cancel along directions where the gradient flips sign.
"""

from __future__ import annotations

from .optimizer import Optimizer, check_numbers, required

__all__ = ["SGD"]


class SGD(Optimizer):
    def __init__(
        self,
        params,
        lr=required,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ):
        check_numbers("SGD", lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay)
        if lr is not required and lr < 0.0:
            raise ValueError(f"SGD: invalid learning rate lr={lr} (must be >= 0)")
        if momentum < 0.0:
            raise ValueError(f"SGD: invalid momentum={momentum} (must be >= 0)")
        if weight_decay < 0.0:
            raise ValueError(f"SGD: invalid weight_decay={weight_decay} (must be >= 0)")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                f"SGD: nesterov momentum needs momentum > 0 and dampening = 0, "
                f"got momentum={momentum}, dampening={dampening}"
            )
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` (optional) recomputes and returns the loss."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            weight_decay, nesterov = group["weight_decay"], group["nesterov"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.data
                if weight_decay != 0:
                    g = g + weight_decay * p.data
                if momentum != 0:
                    state = self.state.get(p)
                    if state is None:  # first step: the buffer starts as the gradient itself
                        buf = g.copy()
                        self.state[p] = {"momentum_buffer": buf}
                    else:
                        buf = state["momentum_buffer"]
                        buf *= momentum
                        buf += g if dampening == 0 else (1 - dampening) * g
                    g = g + momentum * buf if nesterov else buf
                p.data -= lr * g  # in place: views of p.data (state_dict) stay valid
                p._bump_version()  # a graph that saved p's old values now refuses to backward
        return loss


def _run_closure(closure):
    if closure is None:
        return None
    from ..autograd import enable_grad

    with enable_grad():
        return closure()
