"""Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay).

Per parameter p with gradient g and its own step count t (steps in which p had a gradient), as
torch.optim.Adam / torch.optim.AdamW:

    p <- p * (1 - lr * weight_decay)          (AdamW: decay the weight, not the gradient)
    g <- g + weight_decay * p                 (Adam: L2 penalty through the gradient)
    m <- m + (1 - beta1) * (g - m)            (first moment, torch's lerp)
    v <- beta2 * v + (1 - beta2) * g * g      (second moment)
    p <- p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

State per parameter: ``exp_avg`` (m), ``exp_avg_sq`` (v) and ``step`` (t, an int64 scalar).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from birnn._checks import describe
from birnn.backend import native_library
from birnn.optim.base import Array, Optimizer, check_hyper


class Adam(Optimizer):
    """Adam; ``weight_decay=None`` is the class's default (Adam 0, AdamW 0.01, as torch)."""

    decoupled = False  # AdamW: weight decay applied to the weight instead of the gradient
    default_weight_decay = 0.0

    def __init__(
        self,
        params: Mapping[str, Array],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float | None = None,
    ):
        super().__init__(params, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair (beta1, beta2); received {describe(betas)}")
        self.betas = (
            check_hyper("betas[0]", betas[0], high=1.0),
            check_hyper("betas[1]", betas[1], high=1.0),
        )
        self.eps = check_hyper("eps", eps)
        if weight_decay is None:
            weight_decay = self.default_weight_decay
        self.weight_decay = check_hyper("weight_decay", weight_decay)

    def _entries(self, name: str, p: Array) -> dict[str, tuple[tuple[int, ...], str]]:
        return {
            f"exp_avg.{name}": (p.shape, "f"),
            f"exp_avg_sq.{name}": (p.shape, "f"),
            f"step.{name}": ((), "i"),
        }

    def _update(self, name: str, p: Array, g: Array) -> None:
        beta1, beta2 = self.betas
        if f"step.{name}" not in self._state:
            self._state[f"exp_avg.{name}"] = np.zeros_like(p)
            self._state[f"exp_avg_sq.{name}"] = np.zeros_like(p)
            self._state[f"step.{name}"] = np.array(0, dtype=np.int64)
        m = self._state[f"exp_avg.{name}"]
        v = self._state[f"exp_avg_sq.{name}"]
        step = self._state[f"step.{name}"]
        step += 1
        t = int(step)

        # The compiled loop does the same operations in one pass (bit for bit: optim.c).
        kernel = native_library()
        if kernel is not None:
            decay = (2 if self.decoupled else 1) if self.weight_decay else 0
            scalars = (
                1.0 - beta1, beta2, 1.0 - beta2, math.sqrt(1.0 - beta2**t), self.eps,
                self.lr / (1.0 - beta1**t), self.weight_decay, 1.0 - self.lr * self.weight_decay,
            )  # fmt: skip
            if kernel.adam_step(p, g, m, v, scalars, decay):
                return

        if self.weight_decay:
            if self.decoupled:
                p *= 1.0 - self.lr * self.weight_decay
            else:
                decayed = self._scratch_like(p, 0)
                np.multiply(p, self.weight_decay, out=decayed)
                decayed += g
                g = decayed

        work = self._scratch_like(p, 1)
        np.subtract(g, m, out=work)
        work *= 1.0 - beta1
        m += work
        np.multiply(g, g, out=work)
        work *= 1.0 - beta2
        v *= beta2
        v += work

        step_size = self.lr / (1.0 - beta1**t)
        np.sqrt(v, out=work)
        work /= math.sqrt(1.0 - beta2**t)
        work += self.eps
        np.divide(m, work, out=work)
        work *= step_size
        p -= work


class AdamW(Adam):
    """Adam with decoupled weight decay; ``weight_decay`` defaults to 0.01 (torch's)."""

    decoupled = True
    default_weight_decay = 0.01
