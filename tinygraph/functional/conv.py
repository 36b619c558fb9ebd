"""2-D convolution (placeholder until the CNN-kernels work lands)."""


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    raise NotImplementedError("conv2d is not implemented yet")
