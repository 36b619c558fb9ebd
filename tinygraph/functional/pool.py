"""Pooling (placeholder until the CNN-kernels work lands)."""


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    raise NotImplementedError("max_pool2d is not implemented yet")


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    raise NotImplementedError("avg_pool2d is not implemented yet")


def adaptive_avg_pool2d(x, output_size):
    raise NotImplementedError("adaptive_avg_pool2d is not implemented yet")
