"""CUDA kernels (numba.cuda): the same families as ``kernels/cpu``, one GPU thread per output.

Importing this package imports ``numba.cuda`` (slow, and it needs the ``numba-cuda`` package), so
nothing outside ``tinygraph.cuda`` and the device code paths imports it: ``import tinygraph`` never
does.  Reading order for a learner:

* ``launch.py``      how a flat thread index becomes an element of an n-d array (strides, broadcasting)
* ``elementwise.py`` one thread per output element: ufuncs with NumPy broadcasting, copies, ``where``
* ``reduce.py``      sums/max/min: one thread per output, or one block per output with a shared-memory tree
* ``matmul.py``      the tiled matrix product: blocks stage tiles of A and B in shared memory
* ``array.py``       ``CudaArray``, the device array the Tensors hold; NumPy calls on it run the kernels above
* ``functions.py``   the NumPy functions (``np.sum``, ``np.where``, ``np.pad`` ...) it supports
* ``conv.py pool.py norm.py special.py``  the CNN kernels, same names and arguments as ``kernels/cpu``
* ``loss.py optim.py``  fused softmax cross-entropy and optimizer updates

Every kernel works under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set before numba is
imported): it runs the threads of one block at a time in Python, so it proves the indexing and
the results, not that a kernel compiles for a real GPU or how fast it runs.
"""
