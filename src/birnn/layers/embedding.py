"""Embedding: a lookup table of row vectors, and its gradient as a scatter-add of rows."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from birnn._checks import (
    check_choice,
    check_dtype,
    check_float_array,
    check_int,
    check_rng,
    check_shape,
    describe,
)

__all__ = ["INITS", "Embedding", "EmbeddingCache", "check_ids", "scatter_add_rows"]


def _uniform(rng: np.random.Generator, shape: tuple[int, int]) -> NDArray:
    """U(-sqrt(3/dim), sqrt(3/dim)): variance 1/dim, a random row has expected norm^2 1."""
    bound = np.sqrt(3.0 / shape[1])
    return rng.uniform(-bound, bound, size=shape)


def _normal(rng: np.random.Generator, shape: tuple[int, int]) -> NDArray:
    """N(0, 1), PyTorch's ``nn.Embedding`` default: a random row has expected norm^2 dim."""
    return rng.standard_normal(shape)


# init name -> how the table is drawn (see RESULTS.md for what each does to which embedding)
INITS = {"uniform": _uniform, "normal": _normal}


def check_ids(name: str, ids: Any, num: int) -> NDArray[np.intp]:
    """An integer array whose entries all lie in [0, num)."""
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array; received {describe(ids)}")
    if arr.size and (arr.min() < 0 or arr.max() >= num):
        raise ValueError(
            f"{name} must be in [0, {num}); received min {arr.min()} and max {arr.max()}"
        )
    return arr.astype(np.intp, copy=False)


def scatter_add_rows(d_rows: NDArray, index: NDArray[np.intp], num_rows: int) -> NDArray:
    """The backward of a row gather ``rows = table[index]``.

    ``d_table[r] = Σ_{positions p with index[p] = r} d_rows[p]``: every row receives the sum of
    the gradients of all the places it was copied to. ``d_rows`` has shape index.shape + (F,).
    Computed by sorting the positions by row and summing runs (``np.add.reduceat``), which is
    much faster than ``np.add.at`` for many repeated rows.
    """
    width = d_rows.shape[-1]
    flat_index = index.reshape(-1)
    flat = d_rows.reshape(-1, width)
    out = np.zeros((num_rows, width), dtype=d_rows.dtype)
    if flat_index.size == 0:
        return out
    order = np.argsort(flat_index, kind="stable")
    sorted_index = flat_index[order]
    starts = np.flatnonzero(np.r_[True, sorted_index[1:] != sorted_index[:-1]])
    out[sorted_index[starts]] = np.add.reduceat(flat[order], starts, axis=0)
    return out


class EmbeddingCache(NamedTuple):
    ids: NDArray[np.intp]  # the looked-up ids, shape (...)


class Embedding:
    """``y[..., :] = table[ids[...], :]`` with ``table = [weight ; fixed]`` (rows stacked).

    Parameters: ``weight`` (num - fixed, dim), drawn by ``init``: ``"uniform"``
    U(-sqrt(3/dim), sqrt(3/dim)) (each entry has variance 1/dim, so a random vector has expected
    squared norm 1 whatever ``dim`` is) or ``"normal"`` N(0, 1). The row ``padding_idx`` (if
    given) starts at zero and never receives a gradient. With ``fixed`` > 0, the last ``fixed``
    ids read the rows of a second table ``fixed`` (fixed, dim) that never receives a gradient:
    pretrained vectors of words training never sees (``set_rows`` fills both tables).

    Backward (dy has shape ids.shape + (dim,))::

        d_weight[r] = Σ_{p: ids[p] = r} dy[p]        (0 for r = padding_idx; r < num - fixed)

    There is no input gradient (ids are integers): backward returns None for it.
    """

    def __init__(
        self,
        num: int,
        dim: int,
        rng: np.random.Generator,
        dtype: Any = np.float32,
        padding_idx: int | None = None,
        init: str = "uniform",
        fixed: int = 0,
    ) -> None:
        self.num = check_int("num", num, 1)
        self.dim = check_int("dim", dim, 1)
        check_rng(rng)
        self.dtype = check_dtype(dtype)
        self.init = check_choice("init", init, INITS)
        self.fixed = check_int("fixed", fixed, 0)
        if self.fixed >= self.num:
            raise ValueError(f"fixed must be < num ({self.num}); received {fixed}")
        if padding_idx is not None:
            padding_idx = check_int("padding_idx", padding_idx, 0)
            if padding_idx >= self.trainable:
                raise ValueError(
                    f"padding_idx must be in [0, {self.trainable}); received {padding_idx}"
                )
        self.padding_idx = padding_idx
        draw = INITS[self.init]
        weight = draw(rng, (self.trainable, self.dim)).astype(self.dtype)
        if padding_idx is not None:
            weight[padding_idx] = 0
        self.params: dict[str, NDArray] = {"weight": weight}
        if self.fixed:
            self.params["fixed"] = draw(rng, (self.fixed, self.dim)).astype(self.dtype)

    @property
    def trainable(self) -> int:
        """Ids below this read ``weight`` (and get gradients); the others read ``fixed``."""
        return self.num - self.fixed

    def __repr__(self) -> str:
        # the choices only when not the defaults: the common table reads as before
        init = "" if self.init == "uniform" else f", init={self.init!r}"
        fixed = f", fixed={self.fixed}" if self.fixed else ""
        return f"Embedding({self.num}, {self.dim}, padding_idx={self.padding_idx}{init}{fixed})"

    def set_rows(self, vectors: Any, where: Any) -> None:
        """``table[r] = vectors[r]`` for every id r with ``where[r]`` (not the padding row);
        vectors (num, dim), where (num,) bool."""
        v = check_float_array("vectors", vectors, self.dtype)
        check_shape("vectors", v, (self.num, self.dim))
        mask = np.asarray(where)
        if mask.dtype != np.bool_:
            raise TypeError(f"where must be a bool array; received {describe(where)}")
        check_shape("where", mask, (self.num,))
        if self.padding_idx is not None:
            mask = mask.copy()
            mask[self.padding_idx] = False
        n = self.trainable
        weight = self.params["weight"]
        weight[mask[:n]] = v[:n][mask[:n]]
        if self.fixed:
            fixed = self.params["fixed"]
            fixed[mask[n:]] = v[n:][mask[n:]]

    def forward(self, ids: Any) -> tuple[NDArray, EmbeddingCache]:
        """ids: integers in [0, num), any shape (...) -> vectors (..., dim) (a new array)."""
        index = check_ids("ids", ids, self.num)
        weight = self.params["weight"]
        if not self.fixed:
            return weight[index], EmbeddingCache(index)
        n = self.trainable
        y = np.empty((*index.shape, self.dim), dtype=weight.dtype)
        own = index < n
        y[own] = weight[index[own]]
        y[~own] = self.params["fixed"][index[~own] - n]
        return y, EmbeddingCache(index)

    def backward(self, cache: EmbeddingCache, dy: Any) -> tuple[None, dict[str, NDArray]]:
        d = check_float_array("dy", dy, self.dtype)
        check_shape("dy", d, (*cache.ids.shape, self.dim))
        if self.fixed:
            own = cache.ids < self.trainable  # rows of `fixed` get no gradient
            d_weight = scatter_add_rows(d[own], cache.ids[own], self.trainable)
        else:
            d_weight = scatter_add_rows(d, cache.ids, self.num)
        if self.padding_idx is not None:
            d_weight[self.padding_idx] = 0
        return None, {"weight": d_weight}
