"""Data parallelism over MPI ranks: the trainer's strategy (``birnn.train.parallel``) for K
processes that together take the steps one process would take.

Every rank holds the whole model and draws the same global batches (the trainer's Generator,
seeded alike everywhere, only orders batches). Rank r takes rows ``r, r + K, r + 2K, ...`` of
each global batch (``shard``), runs the model's own forward and backward on them, and one
``Allreduce`` per step sums, in one flat buffer::

    [ n_r * g_r  (every parameter, flattened) | has_r (one per parameter) | n_r * L_r | n_r ]

where ``L_r`` and ``g_r`` are rank r's mean loss and its gradient over its ``n_r`` items
(tokens for a tagger). Then with ``N = sum n_r``::

    L = sum n_r L_r / N        g = sum n_r g_r / N

which is the loss and gradient of the mean over the global batch: what one process computes
on the whole batch, up to the order of the additions (float64: ~1e-16 relative). Clipping
(the global norm of ``g``) and the optimizer step then run on every rank on identical numbers,
so the parameters stay identical without being sent. A parameter without a gradient on every
rank (``has`` sums to 0) gets none, as in one process; a rank with an empty share (a last
batch smaller than K) adds zeros.

Randomness. The model draws dropout from ``default_rng(SeedSequence(seed, spawn_key=(rank,
step)))``: one stream per rank and optimizer step, so the ranks drop different units, and a
resumed run (which knows its step) draws what an uninterrupted one would. With dropout off no
draw happens and the result does not depend on them.

Dev scoring: each rank predicts its ``shard`` of the dev records; ``unshard`` gathers the
predictions back into order on every rank, so every rank computes the same score and makes
the same early-stopping decision. Rank 0 alone writes (``writes``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from birnn._checks import describe
from birnn.distributed.group import Group
from birnn.optim.base import Array
from birnn.train.parallel import Local

T = TypeVar("T")


class DataParallel:
    """Training on the ``size`` ranks of ``group`` (``birnn.distributed.world()``)."""

    def __init__(self, group: Group):
        if not isinstance(group, Group):
            raise TypeError(f"group must be a birnn.distributed Group; received {describe(group)}")
        self.group = group
        self.rank, self.world_size = group.rank, group.size
        self.writes = self.rank == 0
        self._buffer: Array | None = None  # the allreduce buffer, reused every step

    def __repr__(self) -> str:
        return f"DataParallel(rank={self.rank}, world_size={self.world_size})"

    def model_rng(self, rng: np.random.Generator, seed: int, step: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(self.rank, step)))

    def combine(self, local: Local | None, params: Mapping[str, Array]) -> Local:
        """The global batch's loss, gradients and item count (module notes). The gradients
        are views into one buffer, valid until the next call."""
        names = list(params)
        sizes = [params[name].size for name in names]
        buffer = self._buffer_for(params, sum(sizes) + len(names) + 2)
        grads = {} if local is None else local[1]
        count = 0 if local is None else local[2]
        offset = 0
        for k, (name, size) in enumerate(zip(names, sizes)):
            g = grads.get(name)
            part = buffer[offset : offset + size]
            if g is None:
                part[:] = 0
            else:
                np.multiply(g.reshape(-1), count, out=part)
            buffer[sum(sizes) + k] = g is not None
            offset += size
        buffer[-2] = 0.0 if local is None else local[0] * count
        buffer[-1] = count
        self.group.allreduce(buffer)

        total = round(float(buffer[-1]))
        out: dict[str, Array] = {}
        offset = 0
        for k, (name, size) in enumerate(zip(names, sizes)):
            if buffer[sum(sizes) + k] > 0:
                part = buffer[offset : offset + size]
                part /= total
                out[name] = part.reshape(params[name].shape)
            offset += size
        return float(buffer[-2]) / total, out, total

    def _buffer_for(self, params: Mapping[str, Array], length: int) -> Array:
        dtype = np.result_type(*params.values())
        if self._buffer is None or self._buffer.size != length or self._buffer.dtype != dtype:
            self._buffer = np.empty(length, dtype=dtype)
        return self._buffer

    def shard(self, items: Sequence[T]) -> Sequence[T]:
        return items[self.rank :: self.world_size]

    def unshard(self, part: Sequence[T]) -> list[T]:
        parts = self.group.allgather(list(part))
        out: list[T] = []
        for i in range(max(len(p) for p in parts)):
            out.extend(p[i] for p in parts if i < len(p))
        return out

    def share(self, value: Any) -> Any:
        return self.group.broadcast(value if self.writes else None)
