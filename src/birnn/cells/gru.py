"""GRU cell, in PyTorch's form (reset after the recurrent product) or the original one.

Gate blocks are stacked r, z, n as in PyTorch. Rows are row vectors.

``reset_after=True`` (PyTorch ``nn.GRU``; ONNX ``linear_before_reset=1``; Keras
``reset_after=True``), forward:

    a    = x @ W_ih.T + b_ih                                   (N, 3H)
    hh   = h_prev @ W_hh.T + b_hh                              (N, 3H)
    r = σ(a_r + hh_r)    z = σ(a_z + hh_z)
    n = tanh(a_n + r * hh_n)            <- b_hn sits inside the reset product
    h = (1 - z) * n + z * h_prev  =  n + z * (h_prev - n)

backward, given dh (output gradient + carry):

    da_n  = dh * (1 - z) * (1 - n**2)
    da_z  = dh * (h_prev - n) * z(1-z)
    da_r  = da_n * hh_n * r(1-r)
    dhh   = [da_r, da_z, da_n * r]
    dh_prev = dh * z + dhh @ W_hh
    dW_ih = Σ da.T @ x     db_ih = Σ da     dW_hh = Σ dhh.T @ h_prev     db_hh = Σ dhh

``reset_after=False`` (Cho et al. 2014, d2l; ONNX ``linear_before_reset=0``), forward:

    r, z as above;   n = tanh(a_n + (r * h_prev) @ W_hn.T + b_hn);   h as above

backward:

    da_n, da_z as above;   d(rh) = da_n @ W_hn;   da_r = d(rh) * h_prev * r(1-r)
    dh_prev = dh * z + d(rh) * r + [da_r, da_z] @ W_h{r,z}
    dW_h{r,z} = Σ [da_r, da_z].T @ h_prev    dW_hn = Σ da_n.T @ (r * h_prev)    db_hh = db_ih = Σ da
"""

from __future__ import annotations

import numpy as np

from birnn.cells.base import Array, Cell, Params, Weights, sum_outer, sum_outer_prev
from birnn.functional import dsigmoid_into, dtanh_into, sigmoid_from_half_tanh_


class GRUCell(Cell):
    gates = 3
    order = (0, 1, 2)
    sigmoid_blocks = 2

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, reset_after: bool = True
    ):
        super().__init__(input_size, hidden_size, bias)
        self.reset_after = reset_after

    def signature(self) -> tuple:
        return (*super().signature(), self.reset_after)

    def extra_widths(self) -> dict[str, int]:
        h = self.hidden_size
        # reset_after keeps hh = h_prev @ W_hh.T + b_hh (its n part is needed); else r * h_prev
        return {"gates": 3 * h, "hh": 3 * h} if self.reset_after else {"gates": 3 * h, "rh": h}

    def grad_widths(self) -> dict[str, int]:
        widths = super().grad_widths()
        if self.reset_after:
            widths["hh"] = 3 * self.hidden_size  # dhh: differs from da in the n block
        return widths

    def workspace(self, chains: int, batch: int, dtype: np.dtype) -> dict[str, Array]:
        h = self.hidden_size
        return {
            "h": np.empty((chains, batch, h), dtype=dtype),
            "h2": np.empty((chains, batch, 2 * h), dtype=dtype),
        }

    def additive_hh_bias(self, b_hh: Array) -> Array:
        if not self.reset_after:
            return b_hh
        additive = b_hh.copy()
        additive[:, 2 * self.hidden_size :] = 0  # b_hn is multiplied by r: not additive
        return additive

    def prepare_extra(self, params: list[Params], b_hh: Array) -> dict[str, Array]:
        if not self.reset_after:
            return {}
        return {"b_hn": b_hh[:, None, 2 * self.hidden_size :]}  # (D, 1, H)

    def step(
        self,
        w: Weights,
        a: Array,
        prev: tuple[Array, ...],
        cur: tuple[Array, ...],
        ex: dict[str, Array],
        ws: dict[str, Array],
    ) -> None:
        (h_prev,), (h,) = prev, cur
        hs = self.hidden_size
        gates = ex["gates"]
        rz, n = gates[..., : 2 * hs], gates[..., 2 * hs :]
        r, z = gates[..., :hs], gates[..., hs : 2 * hs]
        if self.reset_after:
            hh = ex["hh"]
            np.matmul(h_prev, w.w_hh_t, out=hh)  # r, z columns pre-scaled by 1/2
            hh_n = hh[..., 2 * hs :]
            hh_n += w.extra["b_hn"]
            np.add(a[..., : 2 * hs], hh[..., : 2 * hs], out=rz)
        else:
            np.matmul(h_prev, w.w_hh_t[..., : 2 * hs], out=rz)
            rz += a[..., : 2 * hs]
        np.tanh(rz, out=rz)
        sigmoid_from_half_tanh_(rz)
        if self.reset_after:
            np.multiply(r, hh_n, out=n)
        else:
            np.multiply(r, h_prev, out=ex["rh"])
            np.matmul(ex["rh"], w.w_hh_t[..., 2 * hs :], out=n)
        n += a[..., 2 * hs :]
        np.tanh(n, out=n)
        np.subtract(h_prev, n, out=h)
        h *= z
        h += n

    def step_back(
        self,
        w: Weights,
        prev: tuple[Array, ...],
        cur: tuple[Array, ...],
        ex: dict[str, Array],
        dcur: tuple[Array, ...],
        grads: dict[str, Array],
        ws: dict[str, Array],
    ) -> None:
        """Reads dh from ``dcur`` and overwrites it with dh_prev."""
        (h_prev,), (dh,) = prev, dcur
        nrows, hs = dh.shape[1], self.hidden_size
        gates, da = ex["gates"], grads["a"]
        r, z, n = gates[..., :hs], gates[..., hs : 2 * hs], gates[..., 2 * hs :]
        da_r, da_z, da_n = da[..., :hs], da[..., hs : 2 * hs], da[..., 2 * hs :]
        scratch, scratch2 = ws["h"][:, :nrows], ws["h2"][:, :nrows]
        np.subtract(h_prev, n, out=da_z)
        da_z *= dh
        np.multiply(dh, z, out=scratch)  # dh * z: the direct path to h_prev
        np.subtract(dh, scratch, out=da_n)
        da_n *= dtanh_into(n, dh)  # dh is consumed: reuse it as scratch
        if self.reset_after:
            dhh = grads["hh"]
            np.multiply(da_n, ex["hh"][..., 2 * hs :], out=da_r)
            da[..., : 2 * hs] *= dsigmoid_into(gates[..., : 2 * hs], scratch2)
            dhh[..., : 2 * hs] = da[..., : 2 * hs]
            np.multiply(da_n, r, out=dhh[..., 2 * hs :])
            np.matmul(dhh, w.w_hh, out=dh)
        else:
            d_rh = dh  # reuse dh's buffer: (N, H)
            np.matmul(da_n, w.w_hh[:, 2 * hs :], out=d_rh)
            np.multiply(d_rh, h_prev, out=da_r)
            d_rh *= r  # the path through r * h_prev
            scratch += d_rh
            da[..., : 2 * hs] *= dsigmoid_into(gates[..., : 2 * hs], scratch2)
            np.matmul(da[..., : 2 * hs], w.w_hh[:, : 2 * hs], out=dh)
        dh += scratch

    def recurrent_grads(
        self,
        w: Weights,
        states: tuple[Array, ...],
        init: tuple[Array, ...],
        extras: dict[str, Array],
        grads: dict[str, Array],
    ) -> dict[str, Array]:
        hs = self.hidden_size
        if self.reset_after:
            dhh = grads["hh"]
            out = {"weight_hh": sum_outer_prev(dhh, states[0], init[0])}
            if self.bias:
                out["bias_hh"] = dhh.sum(axis=(1, 2))
            return out
        da = grads["a"]
        weight_hh = np.concatenate(
            [
                sum_outer_prev(da[..., : 2 * hs], states[0], init[0]),
                sum_outer(da[..., 2 * hs :], extras["rh"]),
            ],
            axis=1,
        )
        out = {"weight_hh": weight_hh}
        if self.bias:
            out["bias_hh"] = da.sum(axis=(1, 2))
        return out
