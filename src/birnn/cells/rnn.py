"""Elman RNN cell (PyTorch's ``nn.RNN``), tanh or relu.

Forward, one step (rows are row vectors):

    h = act(x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)

Backward, given dh (output gradient + carry from the next step):

    da      = dh * act'(h)          (tanh: 1 - h**2;  relu: [h > 0])
    dh_prev = da @ W_hh
    dW_ih = Σ da.T @ x    dW_hh = Σ da.T @ h_prev    db_ih = db_hh = Σ da

Compiled mirror: ``rnn_forward`` / ``rnn_backward`` in ``birnn/_native/cells.h``.
"""

from __future__ import annotations

import numpy as np

from birnn.cells.base import Array, Cell, Step, Weights
from birnn.functional import ACTIVATIONS


class RNNCell(Cell):
    gates = 1

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh"
    ):
        super().__init__(input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity
        self._act, self._dact = ACTIVATIONS[nonlinearity]

    def signature(self) -> tuple:
        return (*super().signature(), self.nonlinearity)

    @property
    def native_step(self) -> str:
        return f"rnn_{self.nonlinearity}"

    def workspace(self, chains: int, batch: int, dtype: np.dtype) -> dict[str, Array]:
        return {"h": np.empty((chains, batch, self.hidden_size), dtype=dtype)}

    def step(self, w: Weights, a: Array, s: Step) -> None:
        (h_prev,), (h,) = s.prev, s.cur
        np.matmul(h_prev, w.w_hh_t, out=h)
        h += a
        self._act(h)

    def step_back(self, w: Weights, s: Step) -> None:
        """Reads dh from ``s.d_state`` and overwrites it with dh_prev."""
        (h,), (dh,) = s.cur, s.d_state
        da = s.grads["a"]
        np.multiply(dh, self._dact(h, s.scratch["h"][:, : h.shape[1]]), out=da)
        np.matmul(da, w.w_hh, out=dh)
