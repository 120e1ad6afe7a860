"""birnn's cells as ONNX's ``RNN``, ``GRU`` and ``LSTM`` operators: gate order, biases, attributes.

ONNX (opset 18) stacks the gate blocks of W [D, G*H, F], R [D, G*H, H] and B [D, 2*G*H] in its
own order; birnn keeps PyTorch's. Block k of ONNX's stack is block ``ONNX_BLOCKS[kind][k]`` of
PyTorch's::

    LSTM  ONNX i, o, f, c   <-  PyTorch i, f, g, o    (c is PyTorch's g)
    GRU   ONNX z, r, h      <-  PyTorch r, z, n
    RNN   one block

and B = [Wb ; Rb] is PyTorch's ``bias_ih`` then ``bias_hh``, reordered the same way. The
equations then agree term by term:

* LSTM: ONNX ``it = f(Xt*Wi^T + Ht-1*Ri^T + Wbi + Rbi)`` ... ``Ct = ft (.) Ct-1 + it (.) ct``,
  ``Ht = ot (.) h(Ct)`` is PyTorch's LSTM with f = sigmoid, g = h = tanh (the defaults); no
  peepholes (P omitted). ONNX has no projection: ``proj_size`` is exported by ``scan_lstm``.
* GRU: ONNX ``ht = g(Xt*Wh^T + (rt (.) (Ht-1*Rh^T + Rbh)) + Wbh)`` with
  ``linear_before_reset=1`` is PyTorch's n = tanh(W_in x + b_in + r * (W_hn h + b_hn));
  ``linear_before_reset=0``, ``ht = g(Xt*Wh^T + (rt (.) Ht-1)*Rh^T + Rbh + Wbh)``, is birnn's
  ``reset_after=False`` (the original GRU). Both end ``Ht = (1 - zt) (.) ht + zt (.) Ht-1``.
* RNN: ``Ht = f(Xt*Wi^T + Ht-1*Ri^T + Wbi + Rbi)`` with f = Tanh or Relu.

With ``sequence_lens``, a forward chain stops at each sequence's own length and Y is zero past
it, which is birnn's semantics; a backward chain is run by the same operator over each sequence
reversed within its length (``ReverseSequence``, birnn's ``flip_sequences``) whenever the two
directions cannot share one ``direction="bidirectional"`` operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from birnn.cells import GRUCell, LSTMCell, OriginalGRUCell, RNNCell
from birnn.onnx._graph import BOOL, FLOAT, Graph, value

ONNX_BLOCKS = {"LSTM": (0, 3, 1, 2), "GRU": (1, 0, 2), "RNN": (0,)}
ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu"}


@dataclass(frozen=True)
class CellSpec:
    """What the exporter needs to know of one cell (one direction of one layer)."""

    op: str  # "RNN" | "GRU" | "LSTM"
    hidden: int  # H
    output: int  # width of h: H, or the projection P
    bias: bool
    activation: str = "Tanh"  # RNN only
    linear_before_reset: int = 1  # GRU only: 1 PyTorch's form, 0 the original
    proj: int = 0  # LSTM only

    @property
    def states(self) -> int:
        return 2 if self.op == "LSTM" else 1


def cell_spec(cell: object) -> CellSpec:
    """The ONNX description of a birnn cell; an unknown cell class is refused (TypeError)."""
    if isinstance(cell, LSTMCell):
        return CellSpec("LSTM", cell.hidden_size, cell.output_size, cell.bias, proj=cell.proj_size)
    if isinstance(cell, OriginalGRUCell):
        return CellSpec("GRU", cell.hidden_size, cell.hidden_size, cell.bias, linear_before_reset=0)
    if isinstance(cell, GRUCell):
        return CellSpec("GRU", cell.hidden_size, cell.hidden_size, cell.bias)
    if isinstance(cell, RNNCell):
        act = ACTIVATIONS[cell.nonlinearity]
        return CellSpec("RNN", cell.hidden_size, cell.hidden_size, cell.bias, activation=act)
    raise TypeError(f"no ONNX operator for the cell {type(cell).__name__}")


def reorder(rows: NDArray, spec: CellSpec) -> NDArray:
    """Gate blocks (first axis, PyTorch's order) in ONNX's order."""
    blocks = np.split(rows, len(ONNX_BLOCKS[spec.op]), axis=0)
    return np.concatenate([blocks[k] for k in ONNX_BLOCKS[spec.op]], axis=0)


def onnx_weights(
    params: list[dict[str, NDArray]], spec: CellSpec
) -> tuple[NDArray, NDArray, NDArray | None]:
    """W, R and B (None without biases) of the directions ``params`` (PyTorch names without the
    layer suffix: ``weight_ih``, ...), stacked along ONNX's direction axis, float32."""
    w = np.stack([reorder(p["weight_ih"], spec) for p in params]).astype(np.float32)
    r = np.stack([reorder(p["weight_hh"], spec) for p in params]).astype(np.float32)
    if not spec.bias:
        return w, r, None
    b = [np.concatenate([reorder(p["bias_ih"], spec), reorder(p["bias_hh"], spec)]) for p in params]
    return w, r, np.stack(b).astype(np.float32)


def recurrent_op(
    g: Graph,
    spec: CellSpec,
    params: list[dict[str, NDArray]],
    x: str,
    lengths32: str,
    initial: list[str | None],
    direction: str,
) -> tuple[str, list[str]]:
    """One ONNX RNN/GRU/LSTM node over time-major x (T, N, F).

    ``params``: one dict per direction (two for "bidirectional"); ``initial``: initial_h and,
    for LSTM, initial_c, each (D, N, width) or None (zeros). Returns Y (T, D, N, H) and the
    final states [Y_h] or [Y_h, Y_c], each (D, N, width).
    """
    w, r, b = onnx_weights(params, spec)
    inputs = [x, g.const(w, "W"), g.const(r, "R"), "" if b is None else g.const(b, "B"), lengths32]
    inputs += ["" if s is None else s for s in initial]
    attrs: dict[str, Any] = {"direction": direction, "hidden_size": spec.hidden}
    directions = len(params)
    if spec.op == "RNN":
        attrs["activations"] = [spec.activation] * directions
    if spec.op == "GRU":
        attrs["linear_before_reset"] = spec.linear_before_reset
    while inputs[-1] == "":  # trailing omitted inputs are left out altogether
        inputs.pop()
    y, *finals = g.op(spec.op, *inputs, outputs=1 + spec.states, **attrs)
    return y, finals


def scan_lstm(
    g: Graph,
    spec: CellSpec,
    params: dict[str, NDArray],
    x: str,
    mask: str,
    initial: tuple[str, str],
) -> tuple[str, list[str]]:
    """A projected LSTM (``proj_size`` P > 0), one forward chain, as a ``Scan`` over time.

    ONNX's LSTM has no projection, so the step is written out, in PyTorch's gate order::

        a_t = x_t W_ih^T + b_ih + b_hh            (before the loop: one MatMul over all steps)
        i, f, g, o = split(a_t + h_{t-1} W_hh^T)  (sigmoid, sigmoid, tanh, sigmoid)
        c' = f * c_{t-1} + i * g        h' = (o * tanh(c')) W_hr^T
        h_t, c_t = (h', c') where t < len, else (h_{t-1}, c_{t-1});   y_t = h' or 0

    x (T, N, F); ``mask`` (T, N, 1) bool, t < len; ``initial`` h0 (N, P), c0 (N, H).
    Returns Y (T, N, P) and the final [h (N, P), c (N, H)].
    """
    h, p = spec.hidden, spec.output
    gates = g.op("MatMul", x, g.const(params["weight_ih"].T.astype(np.float32), "W_ih_t"))
    if spec.bias:
        bias = (params["bias_ih"] + params["bias_hh"]).astype(np.float32)
        gates = g.op("Add", gates, g.const(bias, "bias"))
    w_hh = g.const(params["weight_hh"].T.astype(np.float32), "W_hh_t")  # read by the body
    w_hr = g.const(params["weight_hr"].T.astype(np.float32), "W_hr_t")
    zero = g.scalar(0.0)

    b = g.sub()
    h_in, c_in, a_in, m_in = (b.name(n) for n in ("h", "c", "a", "m"))
    z = b.op("Add", a_in, b.op("MatMul", h_in, w_hh))
    i, f, gg, o = b.op("Split", z, b.ints(h, h, h, h), outputs=4, axis=1)
    i, f, o = (b.op("Sigmoid", v) for v in (i, f, o))
    c_new = b.op("Add", b.op("Mul", f, c_in), b.op("Mul", i, b.op("Tanh", gg)))
    h_new = b.op("MatMul", b.op("Mul", o, b.op("Tanh", c_new)), w_hr)
    h_out = b.op("Where", m_in, h_new, h_in)
    c_out = b.op("Where", m_in, c_new, c_in)
    y_out = b.op("Where", m_in, h_new, zero)
    body = b.body(
        "lstm_step",
        [value(h_in, FLOAT, ["N", p]), value(c_in, FLOAT, ["N", h]),
         value(a_in, FLOAT, ["N", 4 * h]), value(m_in, BOOL, ["N", 1])],
        [value(h_out, FLOAT, ["N", p]), value(c_out, FLOAT, ["N", h]),
         value(y_out, FLOAT, ["N", p])],
    )  # fmt: skip
    h_n, c_n, y = g.op("Scan", initial[0], initial[1], gates, mask, outputs=3, body=body,
                       num_scan_inputs=2)  # fmt: skip
    return y, [h_n, c_n]
