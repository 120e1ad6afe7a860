"""GRU cell in its original form (Cho et al. 2014; d2l): the reset gate applied before the
recurrent product.

``birnn.GRU(..., reset_after=False)``; ONNX ``linear_before_reset=0``. Same parameter names and
shapes as PyTorch's GRU (``GRUCell``, ``gru.py``); gate blocks r, z, n. Rows are row vectors.

Forward:

    a = x @ W_ih.T + b_ih + b_hh                               (N, 3H), every bias additive
    r = σ(a_r + h_prev @ W_hr.T)    z = σ(a_z + h_prev @ W_hz.T)
    n = tanh(a_n + (r * h_prev) @ W_hn.T)
    h = n + z * (h_prev - n)

Backward, given dh (output gradient + carry):

    da_n = dh * (1 - z) * (1 - n**2)     da_z = dh * (h_prev - n) * z(1-z)
    d(rh) = da_n @ W_hn                  da_r = d(rh) * h_prev * r(1-r)
    dh_prev = dh * z + d(rh) * r + [da_r, da_z] @ W_h{r,z}
    dW_h{r,z} = Σ [da_r, da_z].T @ h_prev    dW_hn = Σ da_n.T @ (r * h_prev)
    dW_ih = Σ da.T @ x    db_ih = db_hh = Σ da

Compiled mirror: ``gru_before_forward`` / ``gru_before_backward`` in ``birnn/_native/cells.h``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from birnn.cells.base import Array, Step, Weights
from birnn.cells.gru import GRUBase
from birnn.cells.sums import Sums, outer, outer_prev
from birnn.functional import sigmoid_from_half_tanh_

if TYPE_CHECKING:
    from birnn.recurrent.scan import ScanTape


class OriginalGRUCell(GRUBase):
    """The original GRU (reset before the recurrent product); see the module docstring."""

    @property
    def native_step(self) -> str:
        return "gru_before"

    def extra_widths(self) -> dict[str, int]:
        h = self.hidden_size
        return {"gates": 3 * h, "rh": h}  # the gates after their nonlinearity, and r * h_prev

    def step(self, w: Weights, a: Array, s: Step) -> None:
        (h_prev,), (h,) = s.prev, s.cur
        hs = self.hidden_size
        gates, rh = s.saved["gates"], s.saved["rh"]
        rz, n = gates[..., : 2 * hs], gates[..., 2 * hs :]
        np.matmul(h_prev, w.w_hh_t[..., : 2 * hs], out=rz)
        rz += a[..., : 2 * hs]
        rz *= 0.5
        np.tanh(rz, out=rz)
        sigmoid_from_half_tanh_(rz)
        np.multiply(gates[..., :hs], h_prev, out=rh)
        np.matmul(rh, w.w_hh_t[..., 2 * hs :], out=n)
        n += a[..., 2 * hs :]
        self._update(h_prev, gates, n, h)

    def step_back(self, w: Weights, s: Step) -> None:
        """Reads dh from ``s.d_state`` and overwrites it with dh_prev."""
        (h_prev,), (dh,) = s.prev, s.d_state
        nrows, hs = dh.shape[1], self.hidden_size
        gates, da = s.saved["gates"], s.grads["a"]
        direct = s.scratch["h"][:, :nrows]
        self._update_back(h_prev, gates, dh, da, direct)
        d_rh = dh  # dh is consumed: its buffer holds d(rh), (N, H)
        np.matmul(da[..., 2 * hs :], w.w_hh[:, 2 * hs :], out=d_rh)
        np.multiply(d_rh, h_prev, out=da[..., :hs])  # da_r, before σ'
        d_rh *= gates[..., :hs]  # the path through r * h_prev
        direct += d_rh
        self._gates_back(gates, da, s.scratch["h2"][:, :nrows])
        np.matmul(da[..., : 2 * hs], w.w_hh[:, : 2 * hs], out=dh)
        dh += direct

    def recurrent_sums(self, tape: ScanTape, grads: dict[str, Array]) -> Sums:
        """dW_h{r,z} = Σ_t da_{r,z,t}^T h_{t-1},  dW_hn = Σ_t da_{n,t}^T (r * h_prev)_t."""
        hs, da = self.hidden_size, grads["a"][0]
        return {
            "weight_hh_rz": outer_prev(da[..., : 2 * hs], tape.states[0][0], tape.init[0][0]),
            "weight_hh_n": outer(da[..., 2 * hs :], tape.extras["rh"][0]),
        }

    def recurrent_grads(
        self, tape: ScanTape, grads: dict[str, Array], sums: dict[str, Array]
    ) -> dict[str, Array]:
        """dW_hh from ``recurrent_sums``, db_hh = Σ_t da_t (every bias is additive)."""
        out = {"weight_hh": np.concatenate([sums["weight_hh_rz"], sums["weight_hh_n"]])}
        if self.bias:
            out["bias_hh"] = grads["a"][0].sum(axis=(0, 1))
        return out
