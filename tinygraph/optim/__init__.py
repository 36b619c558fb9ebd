"""``tg.optim``: optimizers (SGD, Adam, AdamW), learning-rate schedules and gradient clipping.

opt = tg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
sched = tg.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
for x, y in loader:
    opt.zero_grad(); tg.functional.cross_entropy(model(x), y).backward(); opt.step()
sched.step()   # once per epoch
"""

from . import lr_scheduler
from .adam import Adam, AdamW
from .clip import clip_grad_norm_, clip_grad_value_
from .lr_scheduler import CosineAnnealingLR, ExponentialLR, LambdaLR, LRScheduler, MultiStepLR, StepLR
from .optimizer import Optimizer
from .sgd import SGD

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "MultiStepLR",
    "Optimizer",
    "StepLR",
    "clip_grad_norm_",
    "clip_grad_value_",
    "lr_scheduler",
]
