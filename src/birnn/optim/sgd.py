"""Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay.

Per parameter p with gradient g, as torch.optim.SGD (no dampening):

    g <- g + weight_decay * p                        (if weight_decay)
    b <- g                  on p's first gradient    (momentum buffer)
    b <- momentum * b + g   afterwards
    g <- g + momentum * b   (nesterov)   or   g <- b   (classical momentum)
    p <- p - lr * g
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from birnn.optim.base import Array, Optimizer, check_hyper


class SGD(Optimizer):
    def __init__(
        self,
        params: Mapping[str, Array],
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ):
        super().__init__(params, lr)
        self.momentum = check_hyper("momentum", momentum)
        self.weight_decay = check_hyper("weight_decay", weight_decay)
        if not isinstance(nesterov, bool):
            raise TypeError(f"nesterov must be a bool; received {nesterov!r}")
        if nesterov and self.momentum == 0.0:
            raise ValueError("nesterov=True needs momentum > 0; received momentum=0")
        self.nesterov = nesterov

    def _entries(self, name: str, p: Array) -> dict[str, tuple[tuple[int, ...], str]]:
        return {f"momentum_buffer.{name}": (p.shape, "f")} if self.momentum else {}

    def _update(self, name: str, p: Array, g: Array) -> None:
        if self.weight_decay:
            decayed = self._scratch_like(p, 0)
            np.multiply(p, self.weight_decay, out=decayed)
            decayed += g
            g = decayed
        if self.momentum:
            key = f"momentum_buffer.{name}"
            buf = self._state.get(key)
            if buf is None:
                buf = self._state[key] = g.astype(p.dtype, copy=True)
            else:
                buf *= self.momentum
                buf += g
            if self.nesterov:
                ahead = self._scratch_like(p, 1)
                np.multiply(buf, self.momentum, out=ahead)
                ahead += g
                g = ahead
            else:
                g = buf
        change = self._scratch_like(p, 1)
        np.multiply(g, self.lr, out=change)
        p -= change
