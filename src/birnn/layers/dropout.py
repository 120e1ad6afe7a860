"""Inverted dropout on features, and word dropout on token ids."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from birnn._checks import (
    check_float_array,
    check_int,
    check_probability,
    check_rng,
    check_shape,
    describe,
)
from birnn.functional import dropout_mask

__all__ = ["Dropout", "DropoutCache", "word_dropout"]


class DropoutCache(NamedTuple):
    mask: NDArray | None  # keep / (1 - p) in x's dtype; None when the layer was the identity
    shape: tuple[int, ...]


class Dropout:
    """Inverted dropout: ``y = x * mask`` with ``mask = keep / (1 - p)``, keep ~ Bernoulli(1 - p).

    Scaling by 1/(1 - p) in training keeps E[y] = x, so nothing changes at inference, where
    (like with p = 0) the layer is the identity and draws no random numbers. Backward::

        dx = dy * mask        (dx = dy for the identity)

    The mask (``birnn.functional.dropout_mask``) comes from the ``rng`` passed to forward and is
    kept in the cache.
    """

    def __init__(self, p: float) -> None:
        self.p = check_probability("p", p)
        self.params: dict[str, NDArray] = {}

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"

    def forward(
        self,
        x: Any,
        training: bool = False,
        rng: np.random.Generator | None = None,
        copy: bool = True,
    ) -> tuple[NDArray, DropoutCache]:
        """y = x * mask in training (``rng`` required when p > 0); y = x otherwise: a copy, or
        with ``copy=False`` x itself (a caller whose x is its own fresh array: inference then
        costs no pass over it)."""
        xa = np.asarray(x)
        if xa.dtype.kind != "f":
            raise TypeError(f"x must be an array of a floating dtype; received {describe(x)}")
        if not training or self.p == 0.0:
            return xa.copy() if copy else xa, DropoutCache(None, xa.shape)
        mask = dropout_mask(check_rng(rng), xa.shape, self.p, xa.dtype)
        return xa * mask, DropoutCache(mask, xa.shape)

    def backward(self, cache: DropoutCache, dy: Any) -> tuple[NDArray, dict[str, NDArray]]:
        d = np.asarray(dy)
        dtype = cache.mask.dtype if cache.mask is not None else d.dtype
        d = check_float_array("dy", dy, dtype)
        check_shape("dy", d, cache.shape)
        dx = d.copy() if cache.mask is None else d * cache.mask
        return dx, {}


def word_dropout(
    ids: Any,
    rate: float,
    unk_id: int,
    rng: np.random.Generator | None,
    where: Any = None,
) -> NDArray:
    """Replace each token id by ``unk_id`` with probability ``rate`` (a new array).

    Trains the model to tag words it has not seen, which at test time map to ``unk_id``.
    ``where``: an optional boolean array of ids' shape marking the positions that *may* be
    replaced (True: eligible, e.g. ``ids != pad_id`` so padding stays padding); positions where
    it is False are always kept as they are. ``rate = 0`` returns a copy and draws nothing.
    """
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"ids must be an integer array; received {describe(ids)}")
    rate = check_probability("rate", rate)
    unk = check_int("unk_id", unk_id, 0)
    generator = check_rng(rng)
    if where is not None:
        eligible = np.asarray(where)
        if eligible.dtype != np.bool_:
            raise TypeError(f"where must be a boolean array; received {describe(where)}")
        check_shape("where", eligible, arr.shape)
    out = arr.copy()
    if rate == 0.0:
        return out
    drop = generator.random(arr.shape) < rate
    if where is not None:
        drop &= eligible
    out[drop] = unk
    return out
