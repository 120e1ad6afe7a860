"""GRU cell in PyTorch's form: the reset gate applied after the recurrent product.

This is ``nn.GRU`` (ONNX ``linear_before_reset=1``, Keras ``reset_after=True``). The original
form of Cho et al. 2014, reset before the product, is ``OriginalGRUCell`` (``gru_original.py``);
both share ``GRUBase``. Gate blocks are stacked r, z, n as in PyTorch. Rows are row vectors.

Forward:

    a    = x @ W_ih.T + b_ih                                   (N, 3H)
    hh   = h_prev @ W_hh.T + b_hh                              (N, 3H)
    r = σ(a_r + hh_r)    z = σ(a_z + hh_z)
    n = tanh(a_n + r * hh_n)            <- b_hn sits inside the reset product
    h = (1 - z) * n + z * h_prev  =  n + z * (h_prev - n)

Backward, given dh (output gradient + carry):

    da_n  = dh * (1 - z) * (1 - n**2)
    da_z  = dh * (h_prev - n) * z(1-z)
    da_r  = da_n * hh_n * r(1-r)
    dhh   = [da_r, da_z, da_n * r]
    dh_prev = dh * z + dhh @ W_hh
    dW_ih = Σ da.T @ x     db_ih = Σ da     dW_hh = Σ dhh.T @ h_prev     db_hh = Σ dhh

The tape keeps of hh and dhh only their n blocks, hh_n and dhh_n = da_n * r: their r and z
blocks are not needed (the gates hold r, z) or equal da's.

Compiled mirror: ``gru_forward`` / ``gru_backward`` in ``birnn/_native/cells.h``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from birnn.cells.base import Array, Cell, Params, Step, Weights
from birnn.cells.sums import Sums, outer_prev
from birnn.functional import dsigmoid_into, dtanh_into, sigmoid_from_half_tanh_

if TYPE_CHECKING:
    from birnn.recurrent.scan import ScanTape


class GRUBase(Cell):
    """What both GRU forms share: the gates r, z, n, the update h = n + z (h_prev - n) and its
    backward (da_z, da_n and the direct path dh * z)."""

    gates = 3
    order = (0, 1, 2)

    def workspace(self, chains: int, batch: int, dtype: np.dtype) -> dict[str, Array]:
        h = self.hidden_size
        return {
            "h": np.empty((chains, batch, h), dtype=dtype),
            "h2": np.empty((chains, batch, 2 * h), dtype=dtype),
        }

    def _update(self, h_prev: Array, gates: Array, n_pre: Array, h: Array) -> None:
        """n = tanh(n_pre) in place (n_pre is the n block of ``gates``); h = n + z (h_prev - n)."""
        hs = self.hidden_size
        n = np.tanh(n_pre, out=n_pre)
        np.subtract(h_prev, n, out=h)
        h *= gates[..., hs : 2 * hs]
        h += n

    def _update_back(
        self, h_prev: Array, gates: Array, dh: Array, da: Array, direct: Array
    ) -> None:
        """da_z = dh (h_prev - n) (times z' later), da_n = dh (1 - z) (1 - n**2),
        direct = dh * z. Consumes ``dh`` (left as scratch)."""
        hs = self.hidden_size
        z, n = gates[..., hs : 2 * hs], gates[..., 2 * hs :]
        da_z, da_n = da[..., hs : 2 * hs], da[..., 2 * hs :]
        np.subtract(h_prev, n, out=da_z)
        da_z *= dh
        np.multiply(dh, z, out=direct)
        np.subtract(dh, direct, out=da_n)
        da_n *= dtanh_into(n, dh)

    def _gates_back(self, gates: Array, da: Array, scratch: Array) -> None:
        """da_{r,z} *= σ'  (from the gates' outputs)."""
        hs = self.hidden_size
        da[..., : 2 * hs] *= dsigmoid_into(gates[..., : 2 * hs], scratch)


class GRUCell(GRUBase):
    """PyTorch's GRU (reset after the recurrent product); see the module docstring."""

    @property
    def native_step(self) -> str:
        return "gru"

    def extra_widths(self) -> dict[str, int]:
        h = self.hidden_size
        # the gates after their nonlinearity, and hh_n = h_prev @ W_hn.T + b_hn (the backward
        # needs only the n block of hh: r and z are in the gates)
        return {"gates": 3 * h, "hh_n": h}

    def grad_widths(self) -> dict[str, int]:
        # dhh_n = da_n * r: the n block of dhh (its r and z blocks are those of da)
        return {**super().grad_widths(), "hh_n": self.hidden_size}

    def workspace(self, chains: int, batch: int, dtype: np.dtype) -> dict[str, Array]:
        # hh (forward) and dhh (backward) of the running rows, whole, for one step
        hh = np.empty((chains, batch, 3 * self.hidden_size), dtype=dtype)
        return {**super().workspace(chains, batch, dtype), "hh": hh}

    def additive_hh_bias(self, b_hh: Array) -> Array:
        additive = b_hh.copy()
        additive[:, 2 * self.hidden_size :] = 0  # b_hn is multiplied by r: not additive
        return additive

    def prepare_extra(self, params: list[Params], b_hh: Array) -> dict[str, Array]:
        return {"b_hn": b_hh[:, None, 2 * self.hidden_size :]}  # (D, 1, H)

    def step(self, w: Weights, a: Array, s: Step) -> None:
        (h_prev,), (h,) = s.prev, s.cur
        hs = self.hidden_size
        gates, hh_n = s.saved["gates"], s.saved["hh_n"]
        hh = s.scratch["hh"][:, : h.shape[1]]
        rz, n = gates[..., : 2 * hs], gates[..., 2 * hs :]
        np.matmul(h_prev, w.w_hh_t, out=hh)
        np.add(hh[..., 2 * hs :], w.extra["b_hn"], out=hh_n)
        np.add(a[..., : 2 * hs], hh[..., : 2 * hs], out=rz)
        rz *= 0.5
        np.tanh(rz, out=rz)
        sigmoid_from_half_tanh_(rz)
        np.multiply(gates[..., :hs], hh_n, out=n)  # r * hh_n
        n += a[..., 2 * hs :]
        self._update(h_prev, gates, n, h)

    def step_back(self, w: Weights, s: Step) -> None:
        """Reads dh from ``s.d_state`` and overwrites it with dh_prev."""
        (h_prev,), (dh,) = s.prev, s.d_state
        nrows, hs = dh.shape[1], self.hidden_size
        gates, da, dhh_n = s.saved["gates"], s.grads["a"], s.grads["hh_n"]
        direct, dhh = s.scratch["h"][:, :nrows], s.scratch["hh"][:, :nrows]
        self._update_back(h_prev, gates, dh, da, direct)
        da_n = da[..., 2 * hs :]
        np.multiply(da_n, s.saved["hh_n"], out=da[..., :hs])  # da_r, before σ'
        self._gates_back(gates, da, s.scratch["h2"][:, :nrows])
        np.multiply(da_n, gates[..., :hs], out=dhh_n)
        dhh[..., : 2 * hs] = da[..., : 2 * hs]
        dhh[..., 2 * hs :] = dhh_n
        np.matmul(dhh, w.w_hh, out=dh)
        dh += direct

    def recurrent_sums(self, tape: ScanTape, grads: dict[str, Array]) -> Sums:
        """dW_hh = Σ_t dhh_t^T h_{t-1}, with dhh = [da_r, da_z, dhh_n]: the r, z rows and the n
        rows as two sums."""
        h, init = tape.states[0][0], tape.init[0][0]
        rz, n = self._hh_rows(grads)
        return {"weight_hh_rz": outer_prev(rz, h, init), "weight_hh_n": outer_prev(n, h, init)}

    def recurrent_grads(
        self, tape: ScanTape, grads: dict[str, Array], sums: dict[str, Array]
    ) -> dict[str, Array]:
        """dW_hh from ``recurrent_sums``, db_hh = Σ_t dhh_t."""
        out = {"weight_hh": np.concatenate([sums["weight_hh_rz"], sums["weight_hh_n"]])}
        if self.bias:
            out["bias_hh"] = np.concatenate([g.sum(axis=(0, 1)) for g in self._hh_rows(grads)])
        return out

    def _hh_rows(self, grads: dict[str, Array]) -> tuple[Array, Array]:
        """The gradients at W_hh h's r, z rows and at its n rows, (T, N, 2H) and (T, N, H)."""
        return grads["a"][0][..., : 2 * self.hidden_size], grads["hh_n"][0]
