"""Loss functions: cross-entropy, negative log-likelihood, mean squared error."""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..cuda import device_of
from ..tensor import Tensor, as_tensor

_REDUCTIONS = ("mean", "sum", "none")


class SoftTargetCrossEntropy(Function):
    """Per-row loss ``-sum_c q_c log softmax(z)_c`` for logits ``z: (M, C)`` and target weights ``q: (M, C)``.

    Every cross-entropy variant (hard labels, class weights, label smoothing) is this
    formula with a different ``q``.  Its gradient is short: d/dz_k = (sum_c q_c) p_k - q_k.
    """

    op_name = "CrossEntropy"

    @staticmethod
    def forward(ctx, logits, q):
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        ctx.save_for_backward(log_p, q)
        # a masked class (logit -inf, log p = -inf) with no target weight adds 0, not 0 * -inf = nan
        with np.errstate(invalid="ignore"):
            return -np.where(q != 0, q * log_p, 0).sum(axis=1)

    @staticmethod
    def backward(ctx, grad):
        log_p, q = ctx.saved_arrays
        d_logits = q.sum(axis=1, keepdims=True) * np.exp(log_p) - q
        return grad[:, None] * d_logits, None


def _check_reduction(op: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _class_last(x: Tensor) -> Tensor:
    """``(N, C, d1, ...)`` -> ``(N*d1*..., C)`` so every loss works on rows of class scores."""
    if x.ndim == 2:
        return x
    dims = (0,) + tuple(range(2, x.ndim)) + (1,)
    return x.permute(*dims).reshape(-1, x.shape[1])


def _check_targets(op: str, input: Tensor, target: np.ndarray, ignore_index: int) -> None:
    if input.ndim < 1 or input.ndim == 1:
        raise ValueError(f"{op}: input must be (N, C) or (N, C, d1, ...), got shape {tuple(input.shape)}")
    expected = (input.shape[0],) + tuple(input.shape[2:])
    if target.shape != expected:
        raise ValueError(
            f"{op}: target of shape {target.shape} does not match input of shape {tuple(input.shape)}; "
            f"expected class indices of shape {expected}"
        )
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: class-index targets must be integers, got dtype {target.dtype}")
    num_classes = input.shape[1]
    if not target.size:
        return
    # ignored rows count as class 0 (always valid); no boolean-mask indexing, so this runs on either device
    # (for targets on the GPU, the two extremes are the only values copied to the host)
    safe = np.where(target != ignore_index, target, 0)
    lowest, highest = int(safe.min()), int(safe.max())
    if lowest < 0 or highest >= num_classes:
        raise ValueError(
            f"{op}: target holds class {lowest if lowest < 0 else highest}, "
            f"outside 0..{num_classes - 1} for input with {num_classes} classes"
        )


def _reduce(op: str, losses: Tensor, reduction: str, denominator):
    if reduction == "none":
        return losses
    total = losses.sum()
    if reduction == "sum":
        return total
    return total / denominator


def cross_entropy(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0):
    """Softmax + negative log-likelihood in one stable step, as ``torch.nn.functional.cross_entropy``.

    input:  (N, C) logits, or (N, C, d1, ...)
    target: (N,) class indices (int), or (N, d1, ...); or class probabilities shaped like ``input``
    weight: optional (C,) per-class weights; ``ignore_index`` targets contribute nothing.
    ``label_smoothing`` = eps mixes the one-hot target with the uniform distribution:
    q = (1 - eps) onehot + eps / C.  ``reduction='mean'`` divides by the summed weight of the used targets.
    """
    _check_reduction("cross_entropy", reduction)
    input = as_tensor(input)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if input.dtype.kind != "f":
        raise TypeError(f"cross_entropy: input must be floating-point logits, got dtype {input.dtype}")
    target_array = target.data if isinstance(target, Tensor) else np.asarray(target)
    if device_of(target_array) != input.device:
        raise RuntimeError(
            f"cross_entropy: input is on device {input.device!r} but target is on {device_of(target_array)!r}; "
            f"move the target with .to({input.device!r})"
        )
    num_classes = input.shape[1] if input.ndim >= 2 else 0
    class_weight = None if weight is None else as_tensor(weight).data.astype(input.dtype)
    if class_weight is not None and class_weight.shape != (num_classes,):
        raise ValueError(f"cross_entropy: weight must have shape ({num_classes},), got {class_weight.shape}")
    w = np.ones_like(input.data, shape=(num_classes,)) if class_weight is None else class_weight

    if target_array.dtype.kind == "f":  # soft targets: class probabilities
        if target_array.shape != input.shape:
            raise ValueError(
                f"cross_entropy: probability target of shape {target_array.shape} must match input {tuple(input.shape)}"
            )
        probs = _class_last(Tensor._wrap(target_array.astype(input.dtype))).data
        q = (probs * (1 - label_smoothing) + label_smoothing / num_classes) * w
        losses = SoftTargetCrossEntropy.apply(_class_last(input), q)
        losses = losses.reshape((input.shape[0],) + tuple(input.shape[2:]))
        return _reduce("cross_entropy", losses, reduction, float(input.data.size // num_classes))

    _check_targets("cross_entropy", input, target_array, ignore_index)
    labels = target_array.reshape(-1)
    if input.device == "cuda":  # q is built on the GPU from the labels there (kernels/cuda/loss.py)
        from ..kernels.cuda.loss import one_hot_targets

        q = one_hot_targets(labels, num_classes, w, ignore_index, label_smoothing)
        denominator = float(one_hot_targets(labels, num_classes, w, ignore_index, 0.0).sum())
    else:
        used = labels != ignore_index
        rows = np.arange(labels.size)
        q = np.zeros((labels.size, num_classes), dtype=input.dtype)
        q[rows[used], labels[used]] = (1 - label_smoothing) * w[labels[used]]
        if label_smoothing:
            q[used] += (label_smoothing / num_classes) * w
        denominator = float(w[labels[used]].sum())
    losses = SoftTargetCrossEntropy.apply(_class_last(input), q)
    losses = losses.reshape(target_array.shape)
    return _reduce("cross_entropy", losses, reduction, denominator)


def nll_loss(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean"):
    """Negative log-likelihood of the target class: ``-input[i, target[i]]`` (input holds log-probabilities).

    input: (N, C) or (N, C, d1, ...), target: (N,) or (N, d1, ...) class indices.
    """
    _check_reduction("nll_loss", reduction)
    input = as_tensor(input)
    target_array = target.data if isinstance(target, Tensor) else np.asarray(target)
    _check_targets("nll_loss", input, target_array, ignore_index)
    num_classes = input.shape[1]
    w = np.ones(num_classes, dtype=input.dtype) if weight is None else as_tensor(weight).data.astype(input.dtype)
    if w.shape != (num_classes,):
        raise ValueError(f"nll_loss: weight must have shape ({num_classes},), got {w.shape}")
    labels = target_array.reshape(-1)
    used = labels != ignore_index
    safe_labels = np.where(used, labels, 0)
    picked = _class_last(input)[np.arange(labels.size), safe_labels]  # gathers log p of each target class
    row_weight = np.where(used, w[safe_labels], 0).astype(input.dtype)
    losses = (-(picked * row_weight)).reshape(target_array.shape)
    return _reduce("nll_loss", losses, reduction, float(row_weight.sum()))


def mse_loss(input, target, reduction: str = "mean"):
    """Mean squared error ``mean((input - target)^2)``; shapes must match (no silent broadcasting)."""
    _check_reduction("mse_loss", reduction)
    input, target = as_tensor(input), as_tensor(target)
    if input.shape != target.shape:
        raise ValueError(
            f"mse_loss: input shape {tuple(input.shape)} and target shape {tuple(target.shape)} differ; "
            "broadcasting them is almost always a bug (e.g. (N, 1) against (N,)), so reshape one explicitly"
        )
    diff = input - target
    squared = diff * diff
    if reduction == "none":
        return squared
    return squared.sum() if reduction == "sum" else squared.mean()
