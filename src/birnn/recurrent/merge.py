"""How a bidirectional layer combines its two directions at each time step: one table.

With a = forward state h_t, b = backward state h'_t (both already in time order):

    concat:  y = [a ; b]        da = dy[:, :Ha]     db = dy[:, Ha:]
    sum:     y = a + b          da = dy             db = dy
    mean:    y = (a + b) / 2    da = dy / 2         db = dy / 2
    mul:     y = a * b          da = dy * b         db = dy * a

Each mode's forward and backward sit side by side, so they cannot drift apart.

concat, sum and mean are *additive*: y = merge(a, 0) + merge(0, b) exactly, so whatever is
linear in y (an output layer's scores) splits exactly into a forward and a backward part
(``birnn.explain``); mul is not: its y has no such split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]


@dataclass(frozen=True)
class Merge:
    forward: Callable[[Array, Array], Array]
    backward: Callable[[Array, Array, Array], tuple[Array, Array]]
    width: Callable[[int, int], int]  # output width from the two directions' widths
    needs_values: bool = False  # backward reads a and b (not only their widths)
    additive: bool = True  # y = merge(a, 0) + merge(0, b) exactly


def _concat_backward(dy: Array, a: Array, b: Array) -> tuple[Array, Array]:
    split = a.shape[-1]
    return dy[..., :split], dy[..., split:]


def _mean_backward(dy: Array, a: Array, b: Array) -> tuple[Array, Array]:
    half = dy * 0.5
    return half, half


MERGES: dict[str, Merge] = {
    "concat": Merge(
        forward=lambda a, b: np.concatenate((a, b), axis=-1),
        backward=_concat_backward,
        width=lambda wa, wb: wa + wb,
    ),
    "sum": Merge(
        forward=lambda a, b: a + b,
        backward=lambda dy, a, b: (dy, dy),
        width=lambda wa, wb: wa,
    ),
    "mean": Merge(
        forward=lambda a, b: (a + b) * 0.5,
        backward=_mean_backward,
        width=lambda wa, wb: wa,
    ),
    "mul": Merge(
        forward=lambda a, b: a * b,
        backward=lambda dy, a, b: (dy * b, dy * a),
        width=lambda wa, wb: wa,
        needs_values=True,
        additive=False,
    ),
}
