"""``tg.nn``: modules (layers with parameters), containers, initialisers and the residual block.

import tinygraph as tg
model = tg.nn.Sequential(tg.nn.Conv2d(1, 8, 3, padding=1), tg.nn.ReLU(), tg.nn.Flatten(),
                         tg.nn.Linear(8 * 8 * 8, 10))
logits = model(tg.randn(4, 1, 8, 8))          # (4, 10)
"""

from . import functional, init, utils
from .batchnorm import BatchNorm1d, BatchNorm2d
from .container import ModuleList, Sequential
from .layers import (
    GELU,
    AdaptiveAvgPool2d,
    AvgPool2d,
    Conv2d,
    Dropout,
    Dropout2d,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    MaxPool2d,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from .module import IncompatibleKeys, Module, RemovableHandle
from .parameter import Parameter
from .residual import BasicBlock
from .summary import ModelSummary, summary

__all__ = [
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BasicBlock",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "Dropout2d",
    "Flatten",
    "GELU",
    "Identity",
    "IncompatibleKeys",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MaxPool2d",
    "ModelSummary",
    "Module",
    "ModuleList",
    "Parameter",
    "ReLU",
    "RemovableHandle",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "functional",
    "init",
    "summary",
    "utils",
]
