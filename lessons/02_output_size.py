"""Lesson 02: how big is the output?  The output-size formula and 'same' padding.

THE IDEA
    Along one axis, an input of `size` pixels is padded with `padding` zeros at EACH end, so it
    is size + 2*padding long.  A kernel of k taps, `dilation` apart, spans dilation*(k - 1) + 1
    pixels.  The first window starts at 0, each next one `stride` later, and a window that does
    not fit entirely is dropped (round down).

THE FORMULA (one axis; the same for height and width)
    span = dilation * (kernel_size - 1) + 1
    out  = floor((size + 2*padding - span) / stride) + 1
         = (size + 2*padding - dilation*(kernel_size - 1) - 1) // stride + 1

    'same' padding (stride 1): the output keeps the input's size when the TOTAL padding is
    dilation*(kernel_size - 1).  When that total is odd, PyTorch puts the extra row at the END
    (bottom/right): before = total // 2, after = total - before.

A WORKED EXAMPLE
    LeNet's first layer: size 28, kernel 5, padding 2: (28 + 4 - 4 - 1) // 1 + 1 = 28.
    size 7, kernel 3, stride 2, padding 1: (7 + 2 - 2 - 1) // 2 + 1 = 4.
    size 10, kernel 3, dilation 2 (span 5), no padding: (10 - 4 - 1) // 1 + 1 = 6.
    'same' for kernel 4: total 3, before 1, after 2.   kernel 3, dilation 2: total 4, (2, 2).

WHERE IT IS USED
    tg.functional.conv2d computes out_size this way before calling the kernel of lesson 01;
    tg.nn.summary prints it for every layer; pooling uses the same formula.

YOUR TASK
    Write conv_output_size and same_padding (ints in, ints out).

    python -m tinygraph.lessons check 02

AFTER IT PASSES
    Read conv2d_output_size and conv2d_padding in tinygraph/functional/conv.py.
"""


def conv_output_size(size, kernel_size, stride, padding, dilation):
    """The output length (an int) along one axis; `padding` zeros are added at both ends."""
    raise NotImplementedError("lesson 02: implement conv_output_size")


def same_padding(kernel_size, dilation):
    """(before, after): the zeros to add at the start and the end so a stride-1 output keeps the size."""
    raise NotImplementedError("lesson 02: implement same_padding")
