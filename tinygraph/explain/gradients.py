"""Explanations read off the input gradient: saliency, guided backprop and the FGSM attack.

All three backpropagate one number per image to the pixels.  Saliency and guided backprop
push the target's *logit* back (Simonyan et al. 2014; Springenberg et al. 2015); FGSM pushes
the *loss* back and steps the image along the gradient's sign to raise it (Goodfellow et al.
2015).  The batch is backpropagated in one pass: in eval mode images do not interact, so
the gradient of ``sum_n logit[n, target_n]`` with respect to image n is that image's own.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..autograd import _topological_order
from ..functional.activation import ReLU as ReLUOp
from ..nn.layers import ReLU
from ..tensor import Tensor
from ._common import check_images, check_logits, check_model, explaining, host, leaf, one_hot, resolve_target

__all__ = ["saliency", "guided_backprop", "fgsm"]


def _input_gradient(model, x, target, fn: str, loss=None, before_backward=None) -> np.ndarray:
    """The gradient of one number per image with respect to that image: ``(N, C, H, W)``.

    By default the number is ``logit[n, target_n]``; ``loss(logits, target)`` replaces it by a
    scalar to differentiate (summed over images).  ``before_backward(logits)`` runs after the
    forward pass, e.g. to check the recorded graph.
    """
    check_model(model, fn)
    data = check_images(x, fn)
    with explaining(model):
        xt = leaf(data, model)
        logits = model(xt)
        check_logits(logits, fn, data.shape[0])
        chosen = resolve_target(target, logits, fn)
        if before_backward is not None:
            before_backward(logits)
        if loss is None:
            logits.backward(one_hot(chosen, logits))
        else:
            loss(logits, Tensor._wrap(chosen)).backward()
    return host(xt.grad.data)


def saliency(model, x, target=None) -> np.ndarray:
    """Vanilla gradient saliency (Simonyan et al. 2014): how much each pixel moves the target's score.

    ``map[n, i, j] = max over channels c of |d logit[n, target_n] / d x[n, c, i, j]|``

    Args:
        model: a ``tg.nn.Module`` returning logits ``(N, classes)``.
        x: images ``(N, C, H, W)`` (Tensor or array).
        target: int, ``(N,)`` ints, or None for each image's predicted class.

    Returns:
        ``(N, H, W)`` non-negative array.
    """
    return np.abs(_input_gradient(model, x, target, "saliency")).max(axis=1)


def guided_backprop(model, x, target=None) -> np.ndarray:
    """Guided backpropagation (Springenberg et al. 2015): the input gradient of the target's logit,
    but every ReLU passes gradient back only where its input AND the incoming gradient are positive.

    A plain ReLU's backward is ``grad_in = grad_out * (input > 0)``; guided backprop makes it
    ``grad_in = max(grad_out, 0) * (input > 0)``.  Negative gradients (evidence *against* the
    class) are cut at every layer, which leaves sharp, image-like pictures of the features that
    speak *for* it.  Implemented with a forward hook on every ``tg.nn.ReLU`` module that puts a
    gradient hook (``Tensor.register_hook``) on its output, clipping the gradient to ``>= 0``
    before the ReLU's own backward multiplies it by ``input > 0``.

    Returns:
        ``(N, C, H, W)``, the guided gradient of ``logit[n, target_n]`` with respect to ``x[n]``.

    A ReLU applied outside a ``tg.nn.ReLU`` module (``x.relu()`` in a ``forward``) cannot be
    guided: the graph is checked and such a model is a ValueError.
    """
    fn = "guided_backprop"
    guided = []  # the ReLU outputs whose gradient is clipped

    def positive_part(grad):
        return np.maximum(grad.data, 0)

    def guide(module, inputs, output):
        output.register_hook(positive_part)
        guided.append(output)

    def check_every_relu_is_guided(logits):
        relu_nodes = sum(1 for node in _topological_order(logits) if isinstance(node, ReLUOp))
        guided_nodes = len({id(t._ctx) for t in guided if t._ctx is not None})
        if relu_nodes > guided_nodes:
            raise ValueError(
                f"{fn}: the model applies relu outside tg.nn.ReLU modules ({relu_nodes} relu ops in the graph, "
                f"{guided_nodes} in nn.ReLU modules); guided backprop can only guide nn.ReLU layers, so use "
                "nn.ReLU() modules in the model's forward"
            )

    relus = [m for m in check_model(model, fn).modules() if isinstance(m, ReLU)]
    handles = [m.register_forward_hook(guide) for m in relus]
    try:
        return _input_gradient(model, x, target, fn, before_backward=check_every_relu_is_guided)
    finally:
        for handle in handles:
            handle.remove()


def fgsm(model, x, target, eps: float, clamp=None) -> Tensor:
    """The fast gradient sign method (Goodfellow et al. 2015): one step that raises the loss most per pixel.

    ``x_adv = x + eps * sign(d cross_entropy(model(x), target) / d x)``, then clamped to
    ``clamp = (lo, hi)`` when given (e.g. ``(0, 1)`` for images in [0, 1]).  Every pixel moves
    by exactly ``eps`` (or 0 where the gradient is 0), so the change is at most ``eps`` in the
    max norm, often invisible, yet enough to change the prediction.

    Args:
        model: a ``tg.nn.Module`` returning logits ``(N, classes)``.
        x: images ``(N, C, H, W)``.
        target: the true labels, an int or ``(N,)`` ints (None: the predicted class).
        eps: the step size, ``>= 0``.
        clamp: None or ``(lo, hi)``.

    Returns:
        the adversarial images, a Tensor ``(N, C, H, W)`` of x's dtype that does not require grad.
    """
    fn = "fgsm"
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.integer, np.floating)) or not np.isfinite(eps):
        raise TypeError(f"{fn}: eps must be a finite number, got {eps!r}")
    if eps < 0:
        raise ValueError(f"{fn}: eps must be >= 0 (the size of the step), got {eps}")
    if clamp is not None:
        if not isinstance(clamp, (tuple, list)) or len(clamp) != 2 or not clamp[0] < clamp[1]:
            raise ValueError(f"{fn}: clamp must be None or (lo, hi) with lo < hi, got {clamp!r}")
    data = check_images(x, fn)
    # the summed loss: the sign is the mean's, and each image's gradient is its own loss's
    grad = _input_gradient(model, data, target, fn, loss=lambda z, t: F.cross_entropy(z, t, reduction="sum"))
    adversarial = data + eps * np.sign(grad)
    if clamp is not None:
        adversarial = np.clip(adversarial, clamp[0], clamp[1])
    return Tensor(adversarial.astype(data.dtype, copy=False))
