"""Shared test settings.

One hypothesis profile for the whole suite: few examples (the machine running CI is small and
every example of a gradient property runs many forward passes) and no deadline (the first call
of a Numba kernel compiles it, which would trip hypothesis' per-example time limit).
Run more examples locally with ``pytest --hypothesis-profile=thorough``.
"""

from hypothesis import settings

settings.register_profile("tinygraph", max_examples=25, deadline=None)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile("tinygraph")
