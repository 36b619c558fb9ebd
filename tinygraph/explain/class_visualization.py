"""Class visualization (Simonyan et al. 2014; Yosinski et al. 2015): the image a class's score likes most.

Gradient *ascent* on the image, the model fixed:

    I  <-  I + lr * g / mean|g|,   g = d/dI ( logit_target(jitter(I)) - l2 * ||I - centre||^2 )

(``centre`` is 0, or the middle of the ``clamp`` range.)  The raw objective is maximised by
high-frequency noise; three regularisers make the result look like something: the L2 penalty
keeps pixels near the centre, a random shift (``jitter``) of
the image before every step stops the ascent from exploiting exact pixel positions, and a
Gaussian blur every ``blur_every`` steps removes what remains of the high frequencies.
Dividing the step by the gradient's mean size makes ``lr`` a step in pixel units whatever
the logit's scale.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._common import check_logits, check_model, explaining, host, leaf, resolve_target

__all__ = ["ClassVisualization", "class_visualization", "gaussian_blur"]


class ClassVisualization(NamedTuple):
    """``image: (C, H, W)`` after the last step; ``history: (steps,)`` the target's logit at each step."""

    image: np.ndarray
    history: np.ndarray


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Blur every channel of ``image: (C, H, W)`` with a Gaussian of ``sigma`` pixels (edges reflected)."""
    radius = max(1, int(np.ceil(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    padded = np.pad(image, ((0, 0), (radius, radius), (radius, radius)), mode="reflect")
    h, w = image.shape[1:]
    rows = sum(t * padded[:, k : k + h, :] for k, t in enumerate(taps))  # blur down the columns
    return sum(t * rows[:, :, k : k + w] for k, t in enumerate(taps))  # then along the rows


def class_visualization(
    model,
    target: int,
    shape,
    steps: int = 200,
    lr: float = 0.05,
    l2: float = 1e-3,
    jitter: int = 2,
    blur_every: int = 10,
    blur_sigma: float = 0.5,
    clamp=None,
    seed: int = 0,
) -> ClassVisualization:
    """Synthesise an image that the model scores high for class ``target``.

    Args:
        model: a ``tg.nn.Module`` returning logits ``(1, classes)`` for one image.
        target: the class, an int.
        shape: ``(C, H, W)`` of the image the model takes.
        steps: ascent steps.
        lr: step size in pixel units (the step is the gradient divided by its mean magnitude).
        l2: weight of the L2 penalty ``l2 * ||I - centre||^2``.
        jitter: largest random shift in pixels, in each direction, before each step (0: none).
        blur_every: blur with ``blur_sigma`` after every this many steps (0: never).
        clamp: None or ``(lo, hi)``: keep pixels in the data's range, e.g. ``(0, 1)``.
        seed: seeds the starting noise and the jitter, so a call is reproducible.

    The image starts as small noise around 0, or around the middle of ``clamp``.

    Returns:
        ``ClassVisualization(image, history)``: ``image (C, H, W)``, and the target's logit at
        every step (``history (steps,)``), which rises as the ascent works.
    """
    fn = "class_visualization"
    check_model(model, fn)
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
        raise TypeError(f"{fn}: target must be an int (one class), got {target!r}")
    if not (isinstance(shape, (tuple, list)) and len(shape) == 3 and all(int(s) > 0 for s in shape)):
        raise ValueError(f"{fn}: shape must be (C, H, W) of one image, got {shape!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"{fn}: steps must be a positive int, got {steps!r}")
    if lr <= 0 or l2 < 0 or jitter < 0 or blur_every < 0 or blur_sigma <= 0:
        raise ValueError(
            f"{fn}: need lr > 0, l2 >= 0, jitter >= 0, blur_every >= 0, blur_sigma > 0; got "
            f"lr={lr}, l2={l2}, jitter={jitter}, blur_every={blur_every}, blur_sigma={blur_sigma}"
        )
    if clamp is not None and (not isinstance(clamp, (tuple, list)) or len(clamp) != 2 or not clamp[0] < clamp[1]):
        raise ValueError(f"{fn}: clamp must be None or (lo, hi) with lo < hi, got {clamp!r}")
    rng = np.random.default_rng(seed)
    dtype = next((p.dtype for p in model.parameters()), np.dtype(np.float32))
    centre = 0.0 if clamp is None else (clamp[0] + clamp[1]) / 2
    image = centre + 0.01 * rng.standard_normal(tuple(int(s) for s in shape))
    history = np.empty(int(steps))

    with explaining(model):
        for step in range(int(steps)):
            dy, dx = rng.integers(-jitter, jitter + 1, size=2) if jitter else (0, 0)
            shifted = np.roll(image, (dy, dx), axis=(1, 2))
            xt = leaf(shifted[None].astype(dtype), model)
            logits = model(xt)
            check_logits(logits, fn, 1)
            chosen = resolve_target(int(target), logits, fn)
            score = logits[0, int(chosen[0])]
            history[step] = float(host(score.data))
            score.backward()
            grad = np.roll(host(xt.grad.data)[0].astype(np.float64), (-dy, -dx), axis=(1, 2))  # undo the shift
            grad -= 2 * l2 * (image - centre)
            image = image + lr * grad / (np.abs(grad).mean() + 1e-12)
            if clamp is not None:
                image = np.clip(image, clamp[0], clamp[1])
            if blur_every and (step + 1) % blur_every == 0:
                image = gaussian_blur(image, blur_sigma)
    return ClassVisualization(image.astype(dtype), history)
