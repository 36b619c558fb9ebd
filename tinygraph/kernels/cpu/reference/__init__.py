"""The reference kernel set: the textbook loops of every CPU kernel family, one module per family.

``tg.use_kernels("reference")`` runs these instead of the fast kernels.  Each function is the
formula written out as nested loops (no blocking, no threads, no scratch buffers), compiled
with Numba (``njit(cache=True)``) so that a small network still trains in seconds.  They are
also the oracle the tests hold the fast kernels to.

A student's module given to ``tg.use_kernels(module)`` provides any of these functions under
the same names and signatures (see each module's docstring); the rest come from here.
"""

from . import activation, conv, norm, pool

__all__ = ["activation", "conv", "norm", "pool"]
