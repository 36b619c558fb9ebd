"""tinygraph.kernels.cpu._parallel.serial_when_small: two builds of one kernel, outputs allocated by NumPy."""

import numpy as np
import pytest
from numba import njit, prange

from tinygraph.kernels.cpu import _parallel


@_parallel.serial_when_small(outputs=lambda x, scale: (np.empty_like(x),))
@njit(parallel=True, cache=False)
def _scaled(x, scale, out):
    for i in prange(x.size):
        out[i] = x[i] * scale
    return out


def test_both_builds_fill_numpy_allocated_outputs_with_positional_or_keyword_arguments():
    x = np.arange(5.0)
    for build in (_scaled.serial, _scaled.parallel, _scaled):
        np.testing.assert_array_equal(build(x, 2.0), 2 * x)
        np.testing.assert_array_equal(build(x, scale=3.0), 3 * x)


def test_unknown_keyword_is_a_clear_error():
    with pytest.raises(TypeError, match="unexpected keyword arguments \\['bogus'\\]"):
        _scaled.serial(np.arange(3.0), 2.0, bogus=1)
