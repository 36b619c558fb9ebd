"""``tg.nn.functional`` is ``tg.functional`` (PyTorch users write ``import torch.nn.functional as F``)."""

from ..functional import *  # noqa: F401,F403
from ..functional import __all__  # noqa: F401
