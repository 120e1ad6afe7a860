"""A birnn recurrent module (``RNN``, ``GRU``, ``LSTM``, ``Bidirectional``, ``Stack``) as an ONNX
graph: layer by layer, each direction's chain as an ONNX operator, merged as birnn merges.

The graph runs time-major, like ONNX's recurrent operators (onnxruntime refuses their
``layout=1``): a batch-first module's input is transposed once on the way in and its output
once on the way out. For layer k, with y_{-1} = x::

    both directions alike, no projection:   Y = Op(y_{k-1}, direction="bidirectional")
                                            a, b = Y[:, 0], Y[:, 1]   (T, N, H) each
    otherwise (sizes differ, proj_size):    a = Op(y_{k-1}),  b = flip(Op(flip(y_{k-1})))
                                            flip = ReverseSequence within each length
    y_k = merge(a, b)                       concat | sum | mean | mul, as recurrent/merge.py

Final states come out in birnn's (and PyTorch's) chain order c = 2 k + d. Initial states are
the module's own (zeros: ONNX's default; a constant or learned vector: broadcast over the
batch) or, with ``initial_states=True``, graph inputs laid out like ``hx``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from birnn.onnx._graph import FLOAT, INT64, Dim, Graph, value
from birnn.onnx.operators import CellSpec, cell_spec, recurrent_op, scan_lstm
from birnn.recurrent.merge import MERGES
from birnn.recurrent.module import RecurrentModule

PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")

# merge mode -> how the graph combines a and b (recurrent/merge.py's forward column)
MERGE_OPS = {
    "concat": lambda g, a, b: g.op("Concat", a, b, axis=2),
    "sum": lambda g, a, b: g.op("Add", a, b),
    "mean": lambda g, a, b: g.op("Mul", g.op("Add", a, b), g.scalar(0.5)),
    "mul": lambda g, a, b: g.op("Mul", a, b),
}


@dataclass(frozen=True)
class LayerSpec:
    cells: list[CellSpec]  # per direction
    params: list[dict[str, NDArray]]  # per direction, PyTorch names without the layer suffix
    merge: str


def _suffix(k: int, d: int) -> str:
    return f"_l{k}{'_reverse' if d else ''}"


def describe(module: RecurrentModule) -> list[LayerSpec]:
    """The module's layers as the exporter sees them: cells, parameters, merge names."""
    weights = module.state_dict()
    layers = []
    for k, layer in enumerate(module.layers):
        params = [
            {n: weights[n + _suffix(k, d)] for n in PARAMS if n + _suffix(k, d) in weights}
            for d in range(layer.directions)
        ]
        merge = next(name for name, m in MERGES.items() if m is layer.merge)
        layers.append(LayerSpec([cell_spec(c) for c in layer.cells], params, merge))
    return layers


class Lengths:
    """The batch's lengths in the forms the operators want, made once per graph: int64 (N,)
    (ReverseSequence), int32 (sequence_lens), the batch size as a 1-D shape, the mask t < len."""

    def __init__(self, g: Graph, x: str, lengths: str) -> None:
        self.g = g
        self.int64 = lengths
        self.int32 = g.op("Cast", lengths, to=6)  # 6: INT32
        self.x = x  # a time-major (T, N, F) value
        self.batch = g.op("Shape", lengths)  # [N]
        self._mask: str | None = None

    def mask(self) -> str:
        """(T, N, 1) bool: t < len."""
        if self._mask is None:
            g = self.g
            steps = g.op("Gather", g.op("Shape", self.x), g.const(np.array(0, np.int64)))
            t = g.op("Range", g.const(np.array(0, np.int64)), steps, g.const(np.array(1, np.int64)))
            less = g.op(
                "Less", g.op("Unsqueeze", t, g.ints(1)), g.op("Unsqueeze", self.int64, g.ints(0))
            )
            self._mask = g.op("Unsqueeze", less, g.ints(2))
        return self._mask

    def broadcast(self, vector: NDArray) -> str:
        """A (width,) vector repeated for every row: (1, N, width)."""
        g = self.g
        shape = g.op("Concat", g.ints(1), self.batch, g.ints(vector.size), axis=0)
        return g.op("Expand", g.const(vector.reshape(1, 1, -1).astype(np.float32)), shape)

    def flip(self, seq: str) -> str:
        """Each sequence of a time-major (T, N, F) value reversed within its length."""
        return self.g.op("ReverseSequence", seq, self.int64, batch_axis=1, time_axis=0)


State = list[str | None]  # per state (h [, c]) of one chain: (1, N, width), None for zeros


def run_layer(
    g: Graph, spec: LayerSpec, x: str, lens: Lengths, init: list[State]
) -> tuple[str, list[list[str]]]:
    """One layer over time-major x: y (T, N, W) and each direction's final states (1, N, w)."""
    cells = spec.cells
    if len(cells) == 2 and cells[0] == cells[1] and not cells[0].proj:
        initial = [
            None if a is None or b is None else g.op("Concat", a, b, axis=0)
            for a, b in zip(init[0], init[1])
        ]
        y, finals = recurrent_op(g, cells[0], spec.params, x, lens.int32, initial, "bidirectional")
        halves = g.op("Split", y, g.ints(1, 1), outputs=2, axis=1)
        outs = [g.op("Squeeze", h, g.ints(1)) for h in halves]
        per_state = [g.op("Split", f, g.ints(1, 1), outputs=2, axis=0) for f in finals]
        chain_finals = [[states[d] for states in per_state] for d in range(2)]
    else:
        outs, chain_finals = [], []
        for d, (cell, params) in enumerate(zip(cells, spec.params)):
            seq = x if d == 0 else lens.flip(x)
            y, fin = _one_direction(g, cell, params, seq, lens, init[d])
            outs.append(y if d == 0 else lens.flip(y))
            chain_finals.append(fin)
    merged = outs[0] if len(outs) == 1 else MERGE_OPS[spec.merge](g, outs[0], outs[1])
    return merged, chain_finals


def _one_direction(
    g: Graph, cell: CellSpec, params: dict[str, NDArray], x: str, lens: Lengths, init: State
) -> tuple[str, list[str]]:
    """A forward chain over x (T, N, F): y (T, N, w) and its final states (1, N, width)."""
    if not cell.proj:
        y, finals = recurrent_op(g, cell, [params], x, lens.int32, list(init), "forward")
        return g.op("Squeeze", y, g.ints(1)), finals
    widths = (cell.output, cell.hidden)
    start = [
        g.op("Squeeze", lens.broadcast(np.zeros(w, np.float32)) if s is None else s, g.ints(0))
        for s, w in zip(init, widths)
    ]
    y, finals = scan_lstm(g, cell, params, x, lens.mask(), (start[0], start[1]))
    return y, [g.op("Unsqueeze", f, g.ints(0)) for f in finals]


def initial_states(
    g: Graph, module: RecurrentModule, lens: Lengths, given: list[State] | None
) -> list[State]:
    """Every chain's initial states (1, N, width): the graph's inputs when ``given``, else the
    module's ``init_state`` (zeros: None, ONNX's default)."""
    if given is not None:
        return given
    out: list[State] = []
    for k, d in module.chains:
        widths = module.layout.chain_widths[module.chains.index((k, d))]
        if module.init_state == "zeros":
            out.append([None] * len(widths))
        elif module.init_state == "learned":
            vectors = [module.params[f"{n}{_suffix(k, d)}"] for n in ("h0", "c0")[: len(widths)]]
            out.append([lens.broadcast(np.asarray(v)) for v in vectors])
        else:
            fill = float(module.init_state)
            out.append([lens.broadcast(np.full(w, fill, np.float32)) for w in widths])
    return out


def run_stack(
    g: Graph, module: RecurrentModule, x: str, lens: Lengths, given: list[State] | None = None
) -> tuple[str, list[list[str]]]:
    """Every layer in turn over time-major x: the top layer's y (T, N, W) and the final
    states of every chain (1, N, width), in chain order c = 2 k + d."""
    init = initial_states(g, module, lens, given)
    finals: list[list[str]] = []
    c = 0
    for spec in describe(module):
        directions = len(spec.cells)
        x, layer_finals = run_layer(g, spec, x, lens, init[c : c + directions])
        finals.extend(layer_finals)
        c += directions
    return x, finals


# ---- the graph of one module ------------------------------------------------------------------


def _chain_names(module: RecurrentModule) -> list[str]:
    return [_suffix(k, d)[1:] for k, d in module.chains]  # "l0", "l0_reverse", ...


N: Dim = "batch"  # the graph's dynamic dimensions
T: Dim = "time"


def _uniform(module: RecurrentModule, s: int) -> bool:
    """Whether every chain's state s has one width (one tensor then, else one per chain)."""
    return len(set(module.layout.widths(s))) == 1


def _state_inputs(g: Graph, module: RecurrentModule, inputs: list[Any]) -> list[State]:
    """The graph inputs ``h0`` (``c0``), appended to ``inputs``, as every chain's (1, N, w)."""
    per_state: list[list[str]] = []
    for s, name in enumerate(("h", "c")[: module.num_states]):
        widths = module.layout.widths(s)
        if _uniform(module, s):
            inputs.append(value(f"{name}0", FLOAT, [len(widths), N, widths[0]]))
            parts = g.op("Split", f"{name}0", g.ints(*[1] * len(widths)), outputs=len(widths),
                         axis=0)  # fmt: skip
            per_state.append(parts if len(widths) > 1 else [parts])
        else:
            chains = [f"{name}0_{c}" for c in _chain_names(module)]
            inputs += [value(v, FLOAT, [N, w]) for v, w in zip(chains, widths)]
            per_state.append([g.op("Unsqueeze", v, g.ints(0)) for v in chains])
    return [[states[c] for states in per_state] for c in range(len(module.chains))]


def _state_outputs(g: Graph, module: RecurrentModule, finals: list[list[str]]) -> list[Any]:
    """The final states as graph outputs ``h_n`` (``c_n``), or one per chain."""
    outputs = []
    for s, name in enumerate(("h", "c")[: module.num_states]):
        widths = module.layout.widths(s)
        states = [chain[s] for chain in finals]
        if _uniform(module, s):
            g.output(g.op("Concat", *states, axis=0) if len(states) > 1 else states[0], f"{name}_n")
            outputs.append(value(f"{name}_n", FLOAT, [len(widths), N, widths[0]]))
            continue
        for state, w, chain in zip(states, widths, _chain_names(module)):
            g.output(g.op("Squeeze", state, g.ints(0)), f"{name}_n_{chain}")
            outputs.append(value(f"{name}_n_{chain}", FLOAT, [N, w]))
    return outputs


def module_graph(module: RecurrentModule, initial: bool) -> tuple[Graph, list[Any], list[Any]]:
    """The graph of ``module``, its inputs and outputs (value infos).

    Inputs: ``x`` (T, N, F) or (N, T, F) batch-first, float32; ``lengths`` (N,) int64 in
    [1, T]; with ``initial``, ``h0`` (and ``c0``) shaped like ``hx``: (C, N, width), or one input
    per chain (``h0_l0``, ``h0_l0_reverse``, ..., (N, width)) when chains differ in width.
    Outputs: ``output`` shaped like birnn's ``out``, ``h_n`` (and ``c_n``) like its states.
    """
    g = Graph()
    f, w = module.input_size, module.output_size
    inputs = [value("x", FLOAT, [N, T, f] if module.batch_first else [T, N, f]),
              value("lengths", INT64, [N])]  # fmt: skip
    x = g.op("Transpose", "x", perm=[1, 0, 2]) if module.batch_first else "x"
    given = _state_inputs(g, module, inputs) if initial else None
    y, finals = run_stack(g, module, x, Lengths(g, x, "lengths"), given)
    g.output(g.op("Transpose", y, perm=[1, 0, 2]) if module.batch_first else y, "output")
    outputs = [value("output", FLOAT, [N, T, w] if module.batch_first else [T, N, w])]
    return g, inputs, outputs + _state_outputs(g, module, finals)


def module_proto(module: RecurrentModule, initial: bool) -> Any:
    """The checked ONNX model of ``module`` (see ``module_graph``)."""
    from birnn.onnx._graph import model

    g, inputs, outputs = module_graph(module, initial)
    about = {"birnn.module": repr(module), "birnn.batch_first": str(module.batch_first)}
    return model(g, inputs, outputs, about, doc=f"birnn {module!r}")
