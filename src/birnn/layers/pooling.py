"""Pooling over time: one vector per sequence from h (N, T, W), each sequence over its length.

Modes (one table, ``POOLS``: mode -> (forward, backward)), with L = lengths[n]::

    mean:   y[n] = (1/L) Σ_{t<L} h[n, t]                  dh[n, t] = dy[n] / L         (t < L)
    max:    y[n, w] = h[n, a[n, w], w],  a[n, w] = argmax_{t<L} h[n, t, w]  (first on ties)
                                                          dh[n, a[n, w], w] = dy[n, w]
    final:  y[n, w] = h[n, s[n, w], w] with s[n, w] = L-1 for w < split (the forward
            direction's last step) and s[n, w] = 0 for w >= split (the backward direction's
            last step, which is the first position)        dh[n, s[n, w], w] = dy[n, w]

For a bidirectional output laid out as ``[h_fwd | h_bwd]`` pass ``split = H_fwd`` so "final"
gives both directions' final states; ``split=None`` (unidirectional) means every feature is a
forward feature: y[n] = h[n, L-1]. Max and final both pick one time step per feature, so they
share the scatter in backward. Several modes joined by "+" (e.g. "final+max", "mean+max")
concatenate their results in that order: (N, k*W). dh is zero on padding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from birnn._checks import check_float_array, check_int, check_lengths, check_shape, describe

__all__ = ["POOLING_MODES", "POOLS", "Pooling", "PoolingCache"]


def _valid(lengths: NDArray[np.intp], steps: int) -> NDArray[np.bool_]:
    """(N, T, 1): True at t < lengths[n]."""
    return (np.arange(steps)[None, :] < lengths[:, None])[..., None]


# ---- mean -------------------------------------------------------------------------------------
def _mean(h: NDArray, lengths: NDArray[np.intp], split: int) -> tuple[NDArray, Any]:
    valid = _valid(lengths, h.shape[1])
    return np.sum(h * valid, axis=1) / lengths[:, None].astype(h.dtype), None


def _mean_backward(
    aux: Any, dy: NDArray, shape: tuple[int, ...], lengths: NDArray[np.intp]
) -> NDArray:
    valid = _valid(lengths, shape[1])
    return (dy / lengths[:, None].astype(dy.dtype))[:, None, :] * valid


# ---- one step per feature: max and final ------------------------------------------------------
def _take_steps(h: NDArray, steps: NDArray[np.intp]) -> tuple[NDArray, Any]:
    """y[n, w] = h[n, steps[n, w], w]; the steps are what backward needs."""
    return np.take_along_axis(h, steps[:, None, :], axis=1)[:, 0, :], steps


def _scatter_steps(
    steps: NDArray[np.intp], dy: NDArray, shape: tuple[int, ...], lengths: NDArray[np.intp]
) -> NDArray:
    """dh[n, steps[n, w], w] = dy[n, w], zero elsewhere."""
    dh = np.zeros(shape, dtype=dy.dtype)
    np.put_along_axis(dh, steps[:, None, :], dy[:, None, :], axis=1)
    return dh


def _max(h: NDArray, lengths: NDArray[np.intp], split: int) -> tuple[NDArray, Any]:
    masked = np.where(_valid(lengths, h.shape[1]), h, -np.inf)
    return _take_steps(h, np.argmax(masked, axis=1))  # argmax: first maximum on ties


def _final(h: NDArray, lengths: NDArray[np.intp], split: int) -> tuple[NDArray, Any]:
    steps = np.zeros((h.shape[0], h.shape[2]), dtype=np.intp)
    steps[:, :split] = (lengths - 1)[:, None]
    return _take_steps(h, steps)


Forward = Callable[[NDArray, NDArray[np.intp], int], tuple[NDArray, Any]]
Backward = Callable[[Any, NDArray, tuple[int, ...], NDArray[np.intp]], NDArray]

POOLS: dict[str, tuple[Forward, Backward]] = {
    "mean": (_mean, _mean_backward),
    "max": (_max, _scatter_steps),
    "final": (_final, _scatter_steps),
}
POOLING_MODES = tuple(POOLS)  # the single modes; Pooling also takes them joined by "+"


class PoolingCache(NamedTuple):
    shape: tuple[int, ...]  # h's shape (N, T, W)
    dtype: np.dtype  # h's dtype (dh has it too)
    lengths: NDArray[np.intp]
    aux: tuple[Any, ...]  # what each mode's backward needs, in mode order


class Pooling:
    """``y, cache = Pooling(mode, split).forward(h, lengths)``: h (N, T, W) -> y (N, k*W)."""

    def __init__(self, mode: str, split: int | None = None) -> None:
        if not isinstance(mode, str):
            raise TypeError(f"mode must be a string such as 'final'; received {describe(mode)}")
        self.modes = tuple(mode.split("+"))
        for m in self.modes:
            if m not in POOLS:
                raise ValueError(
                    f"mode must be one of {sorted(POOLS)} or several joined by '+'; "
                    f"received {mode!r}"
                )
        self.mode = mode
        self.split = None if split is None else check_int("split", split, 0)
        self.params: dict[str, NDArray] = {}

    def __repr__(self) -> str:
        return f"Pooling({self.mode!r}, split={self.split})"

    def output_size(self, width: int) -> int:
        """Width of the pooled vector for inputs of width ``width``."""
        return len(self.modes) * width

    def forward(self, h: Any, lengths: Any = None) -> tuple[NDArray, PoolingCache]:
        """h (N, T, W) float, lengths (N,) int in [1, T] (None: all T) -> (N, k*W)."""
        ha = np.asarray(h)
        if ha.dtype.kind != "f":
            raise TypeError(f"h must be an array of a floating dtype; received {describe(h)}")
        if ha.ndim != 3:
            raise ValueError(f"h must have shape (N, T, W) (batch-first); received {ha.shape}")
        n, steps, width = ha.shape
        if steps == 0:
            raise ValueError(f"h must have at least one time step; received shape {ha.shape}")
        lens = (
            np.full(n, steps, dtype=np.intp)
            if lengths is None
            else check_lengths(lengths, n, steps)
        )
        split = width if self.split is None else self.split
        if split > width:
            raise ValueError(
                f"split (the forward direction's width) must be <= the feature width {width}; "
                f"received split={split}"
            )
        outs, aux = [], []
        for m in self.modes:
            y, a = POOLS[m][0](ha, lens, split)
            outs.append(y)
            aux.append(a)
        y = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=1)
        return y, PoolingCache(ha.shape, ha.dtype, lens, tuple(aux))

    def backward(self, cache: PoolingCache, dy: Any) -> tuple[NDArray, dict[str, NDArray]]:
        n, _, width = cache.shape
        d = check_float_array("dy", dy, cache.dtype)
        check_shape("dy", d, (n, len(self.modes) * width))
        dh = np.zeros(cache.shape, dtype=cache.dtype)
        for k, (m, a) in enumerate(zip(self.modes, cache.aux)):
            dh += POOLS[m][1](a, d[:, k * width : (k + 1) * width], cache.shape, cache.lengths)
        return dh, {}
