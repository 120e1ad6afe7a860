"""The trainer's configuration: one typed dataclass, JSON both ways, checked on construction."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from birnn._checks import check_choice, check_int, describe
from birnn.optim import OPTIMIZERS, Optimizer, Schedule, make_optimizer, make_schedule
from birnn.optim.base import Array, check_hyper
from birnn.optim.schedules import SCHEDULES, schedule_arguments


@dataclass
class TrainConfig:
    epochs: int = 20  # most passes over the training batches (early stopping may end sooner)
    batch_size: int = 32  # items per batch, for the caller's batching; the trainer only records it
    lr: float = 1e-3  # base learning rate; the schedule multiplies it
    optimizer: str = "adam"  # "sgd", "adam" (L2 decay) or "adamw" (decoupled decay)
    weight_decay: float = 0.0  # weight decay of the optimizer (0 also for adamw unless set)
    momentum: float = 0.9  # sgd only: momentum (0 for plain SGD)
    nesterov: bool = False  # sgd only: Nesterov momentum
    clip: float = 5.0  # largest global L2 norm of the gradients; 0 turns clipping off
    schedule: str = "constant"  # lr schedule: constant | linear | exponential | cosine | plateau
    warmup: float = 0.0  # epochs of linear lr warmup (fractions allowed; constant/linear/cosine)
    schedule_args: dict[str, Any] = field(default_factory=dict)  # e.g. {"gamma": 0.9}
    patience: int = 5  # stop after this many epochs without a better dev score; 0: never
    seed: int = 0  # seeds the trainer's Generator: batch order, dropout, everything random

    def __post_init__(self) -> None:
        self.epochs = check_int("epochs", self.epochs, 1)
        self.batch_size = check_int("batch_size", self.batch_size, 1)
        self.lr = check_hyper("lr", self.lr)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        self.weight_decay = check_hyper("weight_decay", self.weight_decay)
        self.momentum = check_hyper("momentum", self.momentum)
        if not isinstance(self.nesterov, bool):
            raise TypeError(f"nesterov must be a bool; received {describe(self.nesterov)}")
        self.clip = check_hyper("clip", self.clip)
        self.warmup = check_hyper("warmup", self.warmup)
        if not isinstance(self.schedule_args, Mapping):
            raise TypeError(
                f"schedule_args must be a dict; received {describe(self.schedule_args)}"
            )
        self.schedule_args = dict(self.schedule_args)
        self.patience = check_int("patience", self.patience, 0)
        self.seed = check_int("seed", self.seed, 0)
        self.make_schedule()  # reject a bad schedule now, not after the first epoch

    def make_optimizer(self, params: Mapping[str, Array]) -> Optimizer:
        """The configured optimizer over ``params``."""
        kwargs: dict[str, Any] = {"lr": self.lr, "weight_decay": self.weight_decay}
        if self.optimizer == "sgd":
            kwargs.update(momentum=self.momentum, nesterov=self.nesterov)
        return make_optimizer(self.optimizer, params, **kwargs)

    @property
    def needs_dev_score(self) -> bool:
        """Whether the schedule follows the dev score (``plateau``): training then needs dev data.

        Asked of the schedule's class, so that ``make_schedule`` stays the one place that builds
        a schedule (the trainer, once per fit; ``__post_init__``, to check it).
        """
        return SCHEDULES[self.schedule].needs_score

    def make_schedule(self) -> Schedule:
        """The configured schedule: ``schedule_args``, plus ``total=epochs`` and ``warmup``."""
        kwargs = dict(self.schedule_args)
        accepted = schedule_arguments(self.schedule)
        if "total" in accepted:
            kwargs.setdefault("total", self.epochs)
        if self.warmup:
            if "warmup" not in accepted:
                raise ValueError(
                    f"schedule {self.schedule!r} has no warmup; received warmup={self.warmup}"
                )
            kwargs["warmup"] = self.warmup
        return make_schedule(self.schedule, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        if not isinstance(data, Mapping):
            raise TypeError(f"a TrainConfig must come from a dict; received {describe(data)}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; known: {sorted(known)}")
        return cls(**data)


def differences(a: TrainConfig, b: TrainConfig, ignore: tuple[str, ...] = ()) -> list[str]:
    """Names of the fields where ``a`` and ``b`` differ (floats compared exactly)."""
    return [
        f.name
        for f in dataclasses.fields(a)
        if f.name not in ignore and getattr(a, f.name) != getattr(b, f.name)
    ]
