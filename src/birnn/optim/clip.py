"""Clipping the global gradient norm, as torch.nn.utils.clip_grad_norm_.

    total = sqrt(sum over arrays g of ||g||_2^2)     (one norm over all gradients)
    g <- g * min(1, max_norm / (total + 1e-6))       (in place, only when that factor is < 1)

The 1e-6 is torch's guard against a zero norm, kept so both clip to the same values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from birnn._checks import describe
from birnn.optim.base import Array, check_hyper

EPS = 1e-6  # torch's guard against division by a zero norm


def clip_grad_norm(grads: Mapping[str, Array | None], max_norm: float) -> float:
    """Scale ``grads`` in place so their global L2 norm is at most ``max_norm``.

    Returns the norm before clipping. None entries are skipped. A non-finite norm (a NaN or
    infinite gradient) is returned with the gradients left as they are, so the caller can notice.
    """
    if not isinstance(grads, Mapping):
        raise TypeError(f"grads must be a dict of name -> np.ndarray; received {describe(grads)}")
    max_norm = check_hyper("max_norm", max_norm)
    if max_norm == 0.0:
        raise ValueError("max_norm must be > 0; received 0.0")
    arrays = []
    for name, g in grads.items():
        if g is None:
            continue
        if not isinstance(g, np.ndarray) or g.dtype.kind != "f":
            raise TypeError(f"grads[{name!r}] must be a float np.ndarray; received {describe(g)}")
        arrays.append(g)
    # ravel() is a view for contiguous arrays; norm then is one dot product, no temporary
    total = math.hypot(*(float(np.linalg.norm(g.ravel())) for g in arrays))
    if not math.isfinite(total):
        return total
    coef = max_norm / (total + EPS)
    if coef < 1.0:
        for g in arrays:
            g *= coef
    return total
