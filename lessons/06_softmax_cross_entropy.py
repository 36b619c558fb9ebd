"""Lesson 06: softmax, log-softmax (stably), cross-entropy, and its gradient softmax - one_hot.

THE IDEA
    A classifier's last layer outputs one score ("logit") per class.  Softmax turns a row of
    logits into probabilities: exponentiate (all positive) and divide by the sum (they add up
    to 1).  Cross-entropy is the loss: minus the log of the probability the model gave to the
    right class.  Its gradient with respect to the logits is strikingly simple:
    softmax - one_hot(label): push the right class's logit up, every other one down, each by
    how much probability it has.

    Stability: exp(1000) overflows to inf, and inf / inf is nan.  Softmax does not change when
    the same number is subtracted from every logit of a row, so subtract the row's max first:
    the largest exponent is then exp(0) = 1.  For log-softmax, do not take log(softmax(x))
    (log(0) = -inf for a very unlikely class); use  (x - max) - log(sum(exp(x - max))).

THE FORMULAS (shapes)
    logits: (N, C)     labels: (N,) ints in 0..C-1
    softmax(x)[n, c]     = exp(x[n, c] - m[n]) / sum_k exp(x[n, k] - m[n]),  m[n] = max_k x[n, k]
    log_softmax(x)[n, c] = x[n, c] - m[n] - log(sum_k exp(x[n, k] - m[n]))
    cross_entropy        = mean over n of  -log_softmax(x)[n, labels[n]]         (a float)
    cross_entropy_backward: d cross_entropy / d logits = (softmax(x) - one_hot(labels)) / N   (N, C)

A WORKED EXAMPLE
    logits [[1, 2, 3]], label 2:
    softmax     = [0.0900, 0.2447, 0.6652]
    log_softmax = [-2.4076, -1.4076, -0.4076]
    cross_entropy = 0.4076;  gradient = [0.0900, 0.2447, -0.3348]
    logits [[1000, 1001, 1002]] give the same softmax: only differences matter.

WHERE IT IS USED
    tg.functional.softmax / log_softmax / cross_entropy: the loss every classifier in the
    examples trains with.

YOUR TASK
    Write the four functions (NumPy arrays in; softmax and log_softmax return (N, C) arrays,
    cross_entropy a float, cross_entropy_backward an (N, C) array).

    python -m tinygraph.lessons check 06

AFTER IT PASSES
    Read Softmax and LogSoftmax in tinygraph/functional/activation.py and
    SoftTargetCrossEntropy in tinygraph/functional/loss.py.
"""

import numpy as np  # noqa: F401


def softmax(logits):
    """(N, C) probabilities, each row summing to 1."""
    raise NotImplementedError("lesson 06: implement softmax")


def log_softmax(logits):
    """(N, C) log-probabilities, computed without overflow."""
    raise NotImplementedError("lesson 06: implement log_softmax")


def cross_entropy(logits, labels):
    """The mean over the batch of -log p(right class): a float."""
    raise NotImplementedError("lesson 06: implement cross_entropy")


def cross_entropy_backward(logits, labels):
    """d cross_entropy / d logits: (N, C)."""
    raise NotImplementedError("lesson 06: implement cross_entropy_backward")
