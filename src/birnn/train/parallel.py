"""How the trainer shares its work with other processes: the strategy it is given.

The trainer asks its strategy seven things, and nothing else about other processes::

    writes                    whether this process writes the log, checkpoints and progress lines
    world_size                how many processes train together (kept in trainer.json: a run
                              resumes with as many)
    model_rng(rng, seed, step)    the Generator the model draws from at optimizer step ``step``
                              (dropout, word dropout); ``rng`` is the trainer's (batch order)
    combine(local, params)    the global batch's (loss, grads, count), from this process's
                              ``model.loss_and_grads`` on its share of it (None: an empty share)
    shard(items)              this process's share of a sequence: the rows of a global batch,
                              the dev records
    unshard(part)             every process's ``part`` (results on ``shard(items)``), in the order
                              of ``items``
    share(value)              the writer's ``value``, on every process (a resumed state, the log)

``SingleProcess`` (the default) is one process doing everything: the model draws from the
trainer's own Generator, as it always has, and every answer is the question.
``birnn.distributed.DataParallel`` is the same interface over MPI ranks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np

from birnn.optim.base import Array

T = TypeVar("T")
Local = tuple[float, Mapping[str, Array], int]  # what model.loss_and_grads returns


class Parallel(Protocol):
    writes: bool
    world_size: int

    def model_rng(self, rng: np.random.Generator, seed: int, step: int) -> np.random.Generator: ...

    def combine(self, local: Local | None, params: Mapping[str, Array]) -> Local: ...

    def shard(self, items: Sequence[T]) -> Sequence[T]: ...

    def unshard(self, part: Sequence[T]) -> list[T]: ...

    def share(self, value: T | None) -> T: ...


class SingleProcess:
    """Training in this process alone."""

    writes = True
    world_size = 1

    def model_rng(self, rng: np.random.Generator, seed: int, step: int) -> np.random.Generator:
        return rng

    def combine(self, local: Local | None, params: Mapping[str, Array]) -> Local:
        if local is None:
            raise ValueError("an empty batch: train_batches must not yield None in one process")
        return local

    def shard(self, items: Sequence[T]) -> Sequence[T]:
        return items

    def unshard(self, part: Sequence[T]) -> list[T]:
        return list(part)

    def share(self, value: T | None) -> T:
        assert value is not None  # the writer's value: this process is the writer
        return value


def check_parallel(parallel: Any) -> Parallel:
    """``parallel`` if it has the strategy's interface; TypeError naming what it lacks."""
    names = ("writes", "world_size", "model_rng", "combine", "shard", "unshard", "share")
    missing = [name for name in names if not hasattr(parallel, name)]
    if missing:
        raise TypeError(
            f"parallel must be a training strategy (SingleProcess, DataParallel); "
            f"received {type(parallel).__name__}, without {', '.join(missing)}"
        )
    return parallel  # type: ignore[no-any-return]
