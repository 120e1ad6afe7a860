"""Softmax cross-entropy with a mask: the loss of token and sequence classifiers.

With logits z (..., C), targets y and a mask m over the items (...), P = Σ m items counted::

    logp = log_softmax(z) = z - logsumexp(z)
    loss = (1/P) Σ_{items i: m_i} -logp[i, y_i]               ("mean"; "sum" drops 1/P)
    dz[i] = (m_i / P) * (softmax(z)[i] - onehot(y_i))          (exp(logp) = softmax(z))

the log-softmax derivative ``dz = dl - exp(logp) * Σ_k dl_k`` applied to dl = -onehot(y) m/P.
Stable for any finite logits (log-sum-exp subtracts the maximum). Targets at masked-out
positions are never read (they may be -1 or any padding value).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from birnn._checks import check_choice, check_shape, describe
from birnn.functional import log_softmax

__all__ = ["REDUCTIONS", "softmax_cross_entropy"]

REDUCTIONS = ("mean", "sum")


def softmax_cross_entropy(
    logits: Any,
    targets: Any,
    mask: Any = None,
    reduction: str = "mean",
) -> tuple[float, NDArray]:
    """Loss (a float) and its gradient w.r.t. ``logits`` (logits' shape and dtype).

    logits: float (..., C). targets: int (...), in [0, C) where ``mask`` is True. mask: bool
    (...) or None (every item counts). reduction: "mean" over the counted items (loss 0 and a
    zero gradient when none is counted) or "sum".
    """
    z = np.asarray(logits)
    if z.dtype.kind != "f":
        raise TypeError(f"logits must be an array of a floating dtype; received {describe(logits)}")
    if z.ndim < 1 or z.shape[-1] < 1:
        raise ValueError(f"logits must have shape (..., C) with C >= 1; received shape {z.shape}")
    classes = z.shape[-1]
    y = np.asarray(targets)
    if y.dtype.kind not in "iu":
        raise TypeError(f"targets must be an integer array; received {describe(targets)}")
    check_shape("targets", y, z.shape[:-1])
    if mask is None:
        m = np.ones(y.shape, dtype=bool)
    else:
        m = np.asarray(mask)
        if m.dtype != np.bool_:
            raise TypeError(f"mask must be a boolean array; received {describe(mask)}")
        check_shape("mask", m, y.shape)
    check_choice("reduction", reduction, REDUCTIONS)
    counted = y[m]
    if counted.size and (counted.min() < 0 or counted.max() >= classes):
        raise ValueError(
            f"targets must be in [0, {classes}) where counted (mask True); "
            f"received min {counted.min()} and max {counted.max()}"
        )
    safe = np.where(m, y, 0).astype(np.intp)  # masked-out targets: any valid index, weight 0
    logp = log_softmax(z)
    picked = np.take_along_axis(logp, safe[..., None], axis=-1)[..., 0]
    scale = 1.0 / max(int(counted.size), 1) if reduction == "mean" else 1.0
    loss = -float(np.sum(picked[m], dtype=np.float64)) * scale
    weight = (m * scale).astype(z.dtype)[..., None]
    dz = np.exp(logp)
    np.put_along_axis(dz, safe[..., None], np.take_along_axis(dz, safe[..., None], -1) - 1, -1)
    dz *= weight
    return loss, dz
