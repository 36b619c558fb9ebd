"""Lesson 07: batch normalization: training, eval, the backward pass, running statistics.

THE IDEA
    Batch norm rescales every channel to mean 0 and variance 1 over the batch, then applies a
    learned scale (weight, gamma) and shift (bias, beta).  Layers after it see inputs of a
    steady scale, which makes deep networks train faster and with larger learning rates.

    In TRAINING the mean and variance are this batch's, and they depend on x: the backward
    pass must go through them too.  The layer also keeps RUNNING averages of them.  In EVAL
    (model.eval()) the running averages are used instead, constants, so a prediction does not
    depend on the rest of the batch.

    Two variances, a classic trap: the batch is normalised with the BIASED variance (divide by
    m), while the running variance is updated with the UNBIASED one (times m / (m - 1)), since
    it estimates the variance of all the data, as PyTorch does.

THE FORMULAS (shapes; images (N, C, H, W) are viewed as (N, C, L) with L = H*W; m = N*L)
    batch_norm_stats(x) -> mean, var: (C,)      mean = sum over n, l of x / m
                                                var  = sum over n, l of (x - mean)**2 / m   (biased)
    batch_norm_forward(x, mean, inv_std, weight, bias) -> y: (N, C, L)
        x_hat = (x - mean) * inv_std,  y = weight * x_hat + bias   (per channel; inv_std = 1/sqrt(var + eps))
    batch_norm_backward(grad_out, x, mean, inv_std, weight, batch_stats) -> dx, dweight, dbias
        dbias = sum(dy),  dweight = sum(dy * x_hat)         (sums over n and l, per channel)
        batch_stats=True:  dx = weight * inv_std / m * (m*dy - sum(dy) - x_hat * sum(dy * x_hat))
        batch_stats=False: dx = weight * inv_std * dy        (mean and inv_std were constants)
    update_running_stats(running_mean, running_var, mean, var, m, momentum) -> new mean, new var
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var  = (1 - momentum) * running_var  + momentum * var * m / (m - 1)

    Derive dx yourself if you can: x_hat depends on x directly, through mean, and through var.

A WORKED EXAMPLE (one channel, x = [1, 2, 3, 6], eps = 1e-5, weight 2, bias 1)
    mean 3, var (4 + 1 + 0 + 9) / 4 = 3.5, inv_std 0.5345
    x_hat = [-1.069, -0.5345, 0, 1.604],  y = [-1.138, -0.069, 1.0, 4.207]
    running stats from (0, 1), momentum 0.1, m = 4:  mean 0.3,  var 0.9 + 0.1 * 3.5 * 4/3 = 1.3667

WHERE IT IS USED
    tg.nn.BatchNorm2d after every convolution of DigitsCNN and SmallResNet (through
    tg.functional.batch_norm).

YOUR TASK
    Write the four functions.  The checker runs the backward pass against finite differences
    too, in training and in eval.

    python -m tinygraph.lessons check 07
    python -m tinygraph.lessons train 07

AFTER IT PASSES
    Read tinygraph/kernels/cpu/reference/norm.py (the references derive dx one node at a time, through
    var and then mean) and _update_running_stats in tinygraph/functional/norm.py.
"""

import numpy as np  # noqa: F401


def batch_norm_stats(x):
    """(mean, var), each (C,), of x: (N, C, L); var is the BIASED batch variance."""
    raise NotImplementedError("lesson 07: implement batch_norm_stats")


def batch_norm_forward(x, mean, inv_std, weight, bias):
    """y: (N, C, L) = weight * (x - mean) * inv_std + bias, per channel."""
    raise NotImplementedError("lesson 07: implement batch_norm_forward")


def batch_norm_backward(grad_out, x, mean, inv_std, weight, batch_stats):
    """(dx: (N, C, L), dweight: (C,), dbias: (C,))."""
    raise NotImplementedError("lesson 07: implement batch_norm_backward")


def update_running_stats(running_mean, running_var, mean, var, m, momentum):
    """(new_running_mean, new_running_var); leave the arguments unchanged."""
    raise NotImplementedError("lesson 07: implement update_running_stats")
