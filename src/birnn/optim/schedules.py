"""Learning-rate schedules: lr factor as a function of training progress measured in epochs.

A schedule is called with ``t``, the number of epochs completed when a step starts: the trainer
passes ``t = epoch + i / n`` for batch ``i`` (0-based) of ``n`` in epoch ``epoch`` (0-based), and
sets ``lr = base_lr * schedule(t)``. Measuring in epochs means a schedule needs no step count in
advance; fractions make warmup and decay smooth within an epoch.

    constant      1                                    (after an optional linear warmup)
    linear        1 -> final, linearly from warmup to total     (0 -> 1 during warmup)
    exponential   gamma ** floor(t)                    (decay once per epoch: lr * gamma**epoch)
    cosine        final + (1 - final) * (1 + cos(pi * s)) / 2,  s = (t - warmup) / (total - warmup)
    plateau       multiply by ``factor`` when the dev score has not improved for more than
                  ``patience`` epochs (torch's ReduceLROnPlateau, mode "max"); needs a dev score

Warmup is ``min(1, t / warmup)``, so the very first step of a warmed-up run has lr 0 (as in
transformers' warmup schedules). Each schedule is a small dataclass; ``config()`` gives a JSON
dict that ``make_schedule(**config)`` turns back into the same schedule. Only ``plateau`` has
state (``state_dict()`` / ``load_state_dict()``, JSON as well), fed by ``observe(score)``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from birnn._checks import check_int, describe
from birnn.optim.base import check_hyper


class Schedule:
    """Base of all schedules: ``schedule(t) -> lr factor``; stateless unless it overrides."""

    name: ClassVar[str]
    needs_score: ClassVar[bool] = False  # reads the dev score through observe()

    def __call__(self, t: float) -> float:
        raise NotImplementedError

    def observe(self, score: float) -> None:
        """The dev score after an epoch (higher is better); only stateful schedules use it."""

    def config(self) -> dict[str, Any]:
        """JSON-serialisable arguments and ``"name"``: ``make_schedule(**config())`` rebuilds it."""
        fields = dataclasses.fields(self)  # type: ignore[arg-type]
        args = {f.name: getattr(self, f.name) for f in fields if f.init}
        return {"name": self.name, **args}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"schedule {self.name!r} has no state; received {describe(state)}")


def _warmup_factor(t: float, warmup: float) -> float:
    return min(1.0, t / warmup) if warmup > 0.0 else 1.0


def _check_total(total: Any, warmup: float) -> float:
    total = check_hyper("total", total)
    if total <= warmup:
        raise ValueError(f"total must be > warmup ({warmup}) epochs; received {total}")
    return total


@dataclass(frozen=True)
class Constant(Schedule):
    name: ClassVar[str] = "constant"
    warmup: float = 0.0  # epochs of linear warmup from 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "warmup", check_hyper("warmup", self.warmup))

    def __call__(self, t: float) -> float:
        return _warmup_factor(t, self.warmup)


@dataclass(frozen=True)
class Linear(Schedule):
    name: ClassVar[str] = "linear"
    total: float  # epochs at which the factor reaches `final` (the trainer passes its epochs)
    warmup: float = 0.0  # epochs of linear warmup from 0
    final: float = 0.0  # factor at `total` and after

    def __post_init__(self) -> None:
        object.__setattr__(self, "warmup", check_hyper("warmup", self.warmup))
        object.__setattr__(self, "total", _check_total(self.total, self.warmup))
        object.__setattr__(self, "final", check_hyper("final", self.final))

    def __call__(self, t: float) -> float:
        if t < self.warmup:
            return _warmup_factor(t, self.warmup)
        return self._decay(min(1.0, (t - self.warmup) / (self.total - self.warmup)))

    def _decay(self, s: float) -> float:
        """The factor at fraction s in [0, 1] of the way from the warmup's end to ``total``."""
        return 1.0 + (self.final - 1.0) * s


@dataclass(frozen=True)
class Exponential(Schedule):
    name: ClassVar[str] = "exponential"
    gamma: float = 0.9  # factor applied once per completed epoch

    def __post_init__(self) -> None:
        gamma = check_hyper("gamma", self.gamma)
        if gamma == 0.0:
            raise ValueError("gamma must be > 0; received 0.0")
        object.__setattr__(self, "gamma", gamma)

    def __call__(self, t: float) -> float:
        return float(self.gamma ** math.floor(t))


@dataclass(frozen=True)
class Cosine(Linear):
    """As Linear, but the factor follows half a cosine from 1 down to ``final``."""

    name: ClassVar[str] = "cosine"

    def _decay(self, s: float) -> float:
        return self.final + (1.0 - self.final) * 0.5 * (1.0 + math.cos(math.pi * s))


@dataclass
class ReduceOnPlateau(Schedule):
    name: ClassVar[str] = "plateau"
    needs_score: ClassVar[bool] = True
    factor: float = 0.5  # multiplies the lr factor on a plateau
    patience: int = 2  # epochs without improvement tolerated before reducing
    min_factor: float = 0.0  # the lr factor never goes below this
    # state (saved with the trainer): current factor, best score so far, epochs since it
    current: float = field(default=1.0, init=False)
    best: float | None = field(default=None, init=False)
    bad_epochs: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.factor = check_hyper("factor", self.factor, high=1.0)
        self.patience = check_int("patience", self.patience, 0)
        self.min_factor = check_hyper("min_factor", self.min_factor)

    def __call__(self, t: float) -> float:
        return self.current

    def observe(self, score: float) -> None:
        if self.best is None or score > self.best:
            self.best, self.bad_epochs = float(score), 0
            return
        self.bad_epochs += 1
        if self.bad_epochs > self.patience:
            self.current = max(self.current * self.factor, self.min_factor)
            self.bad_epochs = 0

    def state_dict(self) -> dict[str, Any]:
        return {"current": self.current, "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or set(state) != {"current", "best", "bad_epochs"}:
            raise ValueError(
                "plateau schedule state must be a dict with keys current, best, bad_epochs; "
                f"received {describe(state)}"
            )
        current = check_hyper("current", state["current"])
        best = None if state["best"] is None else check_hyper("best", state["best"], -math.inf)
        bad_epochs = check_int("bad_epochs", state["bad_epochs"], 0)
        self.current, self.best, self.bad_epochs = current, best, bad_epochs


SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls for cls in (Constant, Linear, Exponential, Cosine, ReduceOnPlateau)
}


def schedule_arguments(name: str) -> tuple[str, ...]:
    """The keyword arguments schedule ``name`` takes."""
    cls = _lookup(name)
    return tuple(f.name for f in dataclasses.fields(cls) if f.init)  # type: ignore[arg-type]


def make_schedule(name: str, **kwargs: Any) -> Schedule:
    """The schedule called ``name`` (a key of ``SCHEDULES``) with its arguments."""
    cls = _lookup(name)
    accepted = schedule_arguments(name)
    unexpected = sorted(set(kwargs) - set(accepted))
    if unexpected:
        raise TypeError(
            f"schedule {name!r} takes arguments {list(accepted)}; received unexpected {unexpected}"
        )
    required = [
        f.name
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.init and f.default is dataclasses.MISSING and f.name not in kwargs
    ]
    if required:
        raise TypeError(f"schedule {name!r} needs arguments {required}")
    return cls(**kwargs)


def _lookup(name: str) -> type[Schedule]:
    if not isinstance(name, str) or name not in SCHEDULES:
        raise ValueError(f"schedule must be one of {sorted(SCHEDULES)}; received {describe(name)}")
    return SCHEDULES[name]
