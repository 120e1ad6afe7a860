"""The GEMMs after the backward loop, declared before they run.

Every parameter gradient of a chain, and its part of dx, is a sum over all steps at once of
matrix products (``Cell.grad_sums``): a named ``Terms`` list stands for

    out = Σ_i a_i @ b_i        (2-D a_i, b_i; the first product written, each later one
                                computed on its own and then added)

The terms are views of the per-step gradients and of the tape, so they can be declared before
the backward loop fills them. The compiled loop then runs them itself, on each chain's own
thread right after its steps (``scan_args.after`` in native.h); without it ``run`` does, with
NumPy. Both make the same BLAS calls in the same order, so both give the same numbers.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]
Terms = list[tuple[Array, Array]]
Sums = dict[str, Terms]


def outer(grad: Array, values: Array) -> Terms:
    """Σ over t and rows of grad_t^T values_t, for grad (T, N, A) and values (T, N, B): one
    product of (A, T*N) and (T*N, B)."""
    return [(rows(grad).T, rows(values))]


def rows(x: Array) -> Array:
    """x (..., W) as (rows, W), a view: a copy would be taken before the loop fills x."""
    out = x.reshape(-1, x.shape[-1])
    if not np.may_share_memory(out, x):
        raise ValueError(f"internal: rows of an array of strides {x.strides} are not a view")
    return out


def outer_prev(grad: Array, states: Array, init: Array) -> Terms:
    """Σ_t grad_t^T state_{t-1}, with state_{-1} = init (N, B): step 0 against init, then
    steps 1..T-1 against the states of 0..T-2. Padded rows of ``grad`` are zero: they add
    nothing."""
    terms = [(grad[0].T, init)]
    if grad.shape[0] > 1:
        terms += outer(grad[1:], states[:-1])
    return terms


def shape(terms: Terms) -> tuple[int, int]:
    """The shape of the sum."""
    a, b = terms[0]
    return a.shape[0], b.shape[1]


def run(sums: Sums, rooms: dict[str, Array]) -> dict[str, Array]:
    """Every sum with NumPy, each into its room; returns ``rooms``."""
    for name, ((a, b), *rest) in sums.items():
        total = np.matmul(a, b, out=rooms[name])
        for a, b in rest:
            total += a @ b
    return rooms
