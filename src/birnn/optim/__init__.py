"""Optimizers, gradient clipping and learning-rate schedules (see docs/TRAINING-DESIGN.md).

Optimizers update a model's flat parameter dict in place and match torch.optim step for step.
"""

from birnn.optim.adam import Adam, AdamW
from birnn.optim.base import Optimizer
from birnn.optim.clip import clip_grad_norm
from birnn.optim.factory import OPTIMIZERS, make_optimizer
from birnn.optim.schedules import (
    SCHEDULES,
    Constant,
    Cosine,
    Exponential,
    Linear,
    ReduceOnPlateau,
    Schedule,
    make_schedule,
    schedule_arguments,
)
from birnn.optim.sgd import SGD

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "SGD",
    "Adam",
    "AdamW",
    "Constant",
    "Cosine",
    "Exponential",
    "Linear",
    "Optimizer",
    "ReduceOnPlateau",
    "Schedule",
    "clip_grad_norm",
    "make_optimizer",
    "make_schedule",
    "schedule_arguments",
]
