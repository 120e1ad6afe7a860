"""LSTM cell (PyTorch's ``nn.LSTM``), with optional output projection (``proj_size``).

Forward, one step; PyTorch's gate blocks are stacked i, f, g, o; rows are row vectors:

    a   = x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh          (N, 4H)
    i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)
    c   = f * c_prev + i * g
    r   = o * tanh(c)
    h   = r                       (or, with proj_size P:  h = r @ W_hr.T,  (N, P))

Backward, given dh (output gradient + carry from the next step) and dc_next (carry):

    dr    = dh                    (or dr = dh @ W_hr;   dW_hr += dh.T @ r)
    da_o  = dr * tanh(c) * o(1-o)
    dc    = dc_next + dr * o * (1 - tanh(c)**2)
    da_i  = dc * g * i(1-i)       da_f = dc * c_prev * f(1-f)       da_g = dc * i * (1-g**2)
    dc_prev = dc * f              dh_prev = da @ W_hh
    dW_ih = Σ da.T @ x    dW_hh = Σ da.T @ h_prev    db_ih = db_hh = Σ da

Internally the blocks are kept in the order i, f, o, g: the three sigmoid gates form one
contiguous slice.

Compiled mirror (no projection): ``lstm_forward`` / ``lstm_backward`` in
``birnn/_native/cells.h``; with ``proj_size`` the NumPy loop runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from birnn.cells.base import Array, Cell, Params, Step, Weights
from birnn.cells.sums import Sums, outer
from birnn.functional import dsigmoid_into, dtanh_into, sigmoid_from_half_tanh_

if TYPE_CHECKING:
    from birnn.recurrent.scan import ScanTape


class LSTMCell(Cell):
    gates = 4
    order = (0, 1, 3, 2)  # internal i, f, o, g  <-  PyTorch i, f, g, o: the sigmoids first

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, proj_size: int = 0):
        super().__init__(input_size, hidden_size, bias)
        self.proj_size = proj_size
        h = hidden_size
        self._blocks = tuple(slice(k * h, (k + 1) * h) for k in range(4))  # i, f, o, g
        self._sigmoids = slice(0, 3 * h)

    @property
    def output_size(self) -> int:
        return self.proj_size or self.hidden_size

    @property
    def state_sizes(self) -> tuple[int, ...]:
        return (self.output_size, self.hidden_size)

    def signature(self) -> tuple:
        return (*super().signature(), self.proj_size)

    @property
    def native_step(self) -> str | None:
        return None if self.proj_size else "lstm"

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = super().param_shapes()
        if self.proj_size:
            shapes["weight_hr"] = (self.proj_size, self.hidden_size)
        return shapes

    def extra_widths(self) -> dict[str, int]:
        # gates after their nonlinearity, internal order i, f, o, g; tanh(c) is not kept: the
        # backward step recomputes it from c (one tanh a unit costs less than its memory)
        widths = {"gates": 4 * self.hidden_size}
        if self.proj_size:
            widths["r"] = self.hidden_size
        return widths

    def grad_widths(self) -> dict[str, int]:
        widths = super().grad_widths()
        if self.proj_size:
            widths["dh"] = self.proj_size  # dh at each step, for dW_hr after the loop
        return widths

    def workspace(self, chains: int, batch: int, dtype: np.dtype) -> dict[str, Array]:
        h = self.hidden_size
        return {
            "h": np.empty((chains, batch, h), dtype=dtype),
            "h2": np.empty((chains, batch, h), dtype=dtype),
            "h3": np.empty((chains, batch, 3 * h), dtype=dtype),
            "tanh_c": np.empty((chains, batch, h), dtype=dtype),
        }

    def prepare_extra(self, params: list[Params], b_hh: Array) -> dict[str, Array]:
        if not self.proj_size:
            return {}
        w_hr = np.stack([p["weight_hr"] for p in params])  # (D, P, H)
        return {"w_hr": w_hr, "w_hr_t": w_hr.transpose(0, 2, 1)}

    def step(self, w: Weights, a: Array, s: Step) -> None:
        (h_prev, c_prev), (h, c), saved = s.prev, s.cur, s.saved
        gates, tanh_c = saved["gates"], s.scratch["tanh_c"][:, : h.shape[1]]
        bi, bf, bo, bg = self._blocks
        np.matmul(h_prev, w.w_hh_t, out=gates)
        gates += a
        gates[..., self._sigmoids] *= 0.5
        np.tanh(gates, out=gates)  # tanh(a/2) on the sigmoid gates, tanh(a_g) on g
        sigmoid_from_half_tanh_(gates[..., self._sigmoids])
        i, f, o, g = gates[..., bi], gates[..., bf], gates[..., bo], gates[..., bg]
        np.multiply(f, c_prev, out=c)
        ig = s.scratch["h"][:, : h.shape[1]]
        np.multiply(i, g, out=ig)
        c += ig
        np.tanh(c, out=tanh_c)
        if self.proj_size:
            np.multiply(o, tanh_c, out=saved["r"])
            np.matmul(saved["r"], w.extra["w_hr_t"], out=h)
        else:
            np.multiply(o, tanh_c, out=h)

    def step_back(self, w: Weights, s: Step) -> None:
        """Reads (dh, dc_next) from ``s.d_state``, overwrites them with (dh_prev, dc_prev)."""
        (_, c_prev), (_, c), (dh, dc_next), scratch = s.prev, s.cur, s.d_state, s.scratch
        n = dh.shape[1]
        gates, tanh_c = s.saved["gates"], np.tanh(c, out=scratch["tanh_c"][:, :n])
        da = s.grads["a"]
        bi, bf, bo, bg = self._blocks
        i, f, o, g = gates[..., bi], gates[..., bf], gates[..., bo], gates[..., bg]
        da_i, da_f, da_o, da_g = da[..., bi], da[..., bf], da[..., bo], da[..., bg]
        if self.proj_size:
            s.grads["dh"][...] = dh
            dr = scratch["h2"][:, :n]
            np.matmul(dh, w.extra["w_hr"], out=dr)
        else:
            dr = dh
        tmp = scratch["h"][:, :n]
        np.multiply(dr, tanh_c, out=da_o)
        dc = da_g  # da_g's slot is free until the very end: hold dc there
        np.multiply(dr, o, out=dc)
        dc *= dtanh_into(tanh_c, tmp)
        dc += dc_next
        np.multiply(dc, g, out=da_i)
        np.multiply(dc, c_prev, out=da_f)
        np.multiply(dc, f, out=dc_next)  # dc_prev
        dc *= i  # now dc * i, on its way to da_g
        da[..., self._sigmoids] *= dsigmoid_into(gates[..., self._sigmoids], scratch["h3"][:, :n])
        da_g *= dtanh_into(g, tmp)
        np.matmul(da, w.w_hh, out=dh)  # dh_prev

    def recurrent_sums(self, tape: ScanTape, grads: dict[str, Array]) -> Sums:
        """The default's dW_hh; with a projection also dW_hr = Σ_t dh_t^T r_t."""
        out = super().recurrent_sums(tape, grads)
        if self.proj_size:
            out["weight_hr"] = outer(grads["dh"][0], tape.extras["r"][0])
        return out

    def recurrent_grads(
        self, tape: ScanTape, grads: dict[str, Array], sums: dict[str, Array]
    ) -> dict[str, Array]:
        out = super().recurrent_grads(tape, grads, sums)
        if self.proj_size:
            out["weight_hr"] = sums["weight_hr"]
        return out
