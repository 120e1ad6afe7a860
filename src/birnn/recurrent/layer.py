"""One recurrent layer: one or two directions over the same input, merged at each step.

Forward, for input x (T, N, F) with lengths (batch sorted by decreasing length):

    a_fwd = [x, 1] @ [W_ih, b].T           one GEMM over all steps, the bias as a column of ones
                                            (``scan_forward`` does these GEMMs, chain by chain)
    a_bwd = [flip(x), 1] @ [W_ih', b'].T   flip = reverse each sequence within its length
    h_fwd = scan(a_fwd)    h_bwd' = scan(a_bwd)    (two independent chains)
    y_t   = merge(h_fwd_t, flip(h_bwd')_t)

so the backward chain starts at each sequence's own last step (t = len - 1), never on padding.
When both directions have the same kind of cell and size, their scans run as the two chains of
one time loop, sharing every NumPy call.

Backward: one loss, one gradient dy; the merge splits it between the directions, each chain
backpropagates through time on its own, and both input gradients add up into dx:

    dx = da_fwd @ W_ih + flip(da_bwd @ W_ih')

and each direction's cell turns its per-step gradients into every parameter gradient it has
(``Cell.grad_sums``, ``Cell.param_grads``): the layer knows nothing cell-specific. These
GEMMs over all steps are declared before the backward loop, which runs each chain's right
after its steps (``birnn.cells.sums``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
from numpy.typing import NDArray

from birnn import backend
from birnn.cells.base import Cell, Params, Weights
from birnn.cells.sums import Sums, rows
from birnn.recurrent.merge import MERGES
from birnn.recurrent.scan import ScanTape, scan_backward, scan_forward
from birnn.recurrent.sequence import Batch
from birnn.recurrent.states import MaybeState, State
from birnn.recurrent.workspace import Workspace

Array = NDArray[np.floating]


@dataclass
class LayerTape:
    x: Array  # (T, N, F) the layer's input (the backward pass rebuilds each direction's view)
    scans: list[tuple[Weights, ScanTape]]  # per group of directions scanned together


class Layer:
    """``cells[d]`` and ``params[d]`` for direction d (0 forward, 1 backward), and a merge mode."""

    def __init__(self, cells: list[Cell], params: list[Params], merge: str = "concat"):
        self.cells = cells
        self.params = params
        self.merge = MERGES[merge]
        same = len({c.signature() for c in cells}) == 1
        self.groups = [list(range(len(cells)))] if same else [[d] for d in range(len(cells))]
        self.workspaces = [Workspace() for _ in self.groups]

    @property
    def directions(self) -> int:
        return len(self.cells)

    @property
    def input_size(self) -> int:
        return self.cells[0].input_size

    @property
    def output_size(self) -> int:
        widths = [c.output_size for c in self.cells]
        return widths[0] if len(widths) == 1 else self.merge.width(widths[0], widths[1])

    def forward(
        self,
        x: Array,
        batch: Batch,
        init: list[State],
        keep_tape: bool = True,
        output_room: str | None = None,
    ) -> tuple[Array, list[State], LayerTape]:
        """x (T, N, F) -> y (T, N, W), each direction's final states, tape.

        ``keep_tape=False`` (inference): the tape is only good for reading the outputs before
        the next call, and its arrays live in the workspaces; y may live there too, in the
        room of that name, given ``output_room`` (an output only the next layer reads: a
        fresh array of that size costs a page fault per 4 KiB written)."""
        if not keep_tape and self._merges_in_loop(x.dtype):
            return self._infer_merged(x, batch, init, output_room)
        inputs = [self._scan_input(x, batch, d) for d in range(self.directions)]
        scans: list[tuple[Weights, ScanTape]] = []
        finals: list[State] = [()] * self.directions
        for group, ws in zip(self.groups, self.workspaces):
            cell = self.cells[group[0]]
            # without a tape nothing outlives the call: the weights' layout can live in ws
            alloc = None if keep_tape else partial(ws.get, dtype=x.dtype)
            w = cell.prepare([self.params[d] for d in group], alloc)
            chain_inputs = [inputs[d] for d in group]
            tape = scan_forward(cell, w, chain_inputs, _stacked(init, group), batch, keep_tape, ws)
            scans.append((w, tape))
            for j, d in enumerate(group):
                finals[d] = _finals(tape, batch, j)
        # the states belong to the tape (or the workspace): what leaves the layer is a copy
        y = self._merged(self._outputs(scans, batch, flip=False), batch)
        return y, finals, LayerTape(x=x, scans=scans)

    def _merges_in_loop(self, dtype: np.dtype) -> bool:
        """Whether inference can leave the concat merge to the compiled loop: two directions
        scanned as the two chains of one loop, merged by concat."""
        return (
            len(self.groups) == 1
            and self.directions == 2
            and self.merge is MERGES["concat"]
            and backend.native_kernel(self.cells[0], dtype) is not None
        )

    def _infer_merged(
        self, x: Array, batch: Batch, init: list[State], output_room: str | None = None
    ) -> tuple[Array, list[State], LayerTape]:
        """Inference with copies fewer: both chains are given x itself without a ones column
        (the loop adds the biases at each step; where it projects each step it reads x
        backwards for the backward chain, else it projects a flipped copy), and the loop
        writes each direction's h straight into its half of y, in time order (no merge)."""
        cell, ws = self.cells[0], self.workspaces[0]
        steps, size, feat = x.shape
        w = cell.prepare(self.params, partial(ws.get, dtype=x.dtype))
        flat = x.reshape(steps * size, feat)
        shape = (steps, size, 2 * cell.output_size)
        y = ws.get(output_room, shape, x.dtype) if output_room else np.empty(shape, x.dtype)
        batch.zero_padding(y)
        tape = scan_forward(cell, w, [flat, flat], _stacked(init, [0, 1]), batch, False, ws,
                            out=y, reversed_inputs=(1,))  # fmt: skip
        return y, [_finals(tape, batch, j) for j in range(2)], LayerTape(x=x, scans=[(w, tape)])

    def _merged(self, outputs: list[Array], batch: Batch) -> Array:
        """y from each direction's states in scan order (the backward one not yet flipped)."""
        if self.directions == 1:
            return outputs[0].copy()
        if self.merge is not MERGES["concat"]:
            return self.merge.forward(outputs[0], batch.flip(outputs[1]))
        # concat: each half written in place, the flip included (no flipped copy in between)
        fwd, bwd = outputs
        y = np.empty((*fwd.shape[:2], fwd.shape[2] + bwd.shape[2]), fwd.dtype)
        y[..., : fwd.shape[2]] = fwd
        batch.flip(bwd, out=y[..., fwd.shape[2] :])
        return y

    def _scan_input(self, x: Array, batch: Batch, d: int) -> Array:
        """Direction d's input in scan order as (T*N, F), with a ones column if it has biases
        (so one GEMM adds the bias in the forward and gives db in the backward). It lives in
        the workspace: the forward pass builds it for the input projections, the backward pass
        again for the weight gradients, and the tape keeps only x."""
        steps, size, feat = x.shape
        if not self.cells[d].bias:
            return (x if d == 0 else batch.flip(x)).reshape(steps * size, feat)
        shape = (steps * size, feat + 1)
        out = self.workspaces[0].get(f"x{d}", shape, x.dtype)
        view = out.reshape(steps, size, feat + 1)
        if d == 0:
            view[..., :feat] = x
        else:
            batch.flip(x, out=view[..., :feat])
        out[:, feat] = 1
        return out

    def _outputs(
        self, scans: list[tuple[Weights, ScanTape]], batch: Batch, flip: bool = True
    ) -> list[Array]:
        """Each direction's h in time order (the backward one flipped unless ``flip=False``)."""
        out: list[Array] = [np.empty(0)] * self.directions
        for group, (_, tape) in zip(self.groups, scans):
            for j, d in enumerate(group):
                out[d] = tape.states[0][j]
        if self.directions == 2 and flip:
            out[1] = batch.flip(out[1])
        return out

    def states(self, tape: LayerTape, batch: Batch) -> list[Array]:
        """Each direction's states h (T, N, R) in time order, as ``forward`` recorded them."""
        return self._outputs(tape.scans, batch)

    def backward(
        self,
        tape: LayerTape,
        dy: Array,
        d_final: list[MaybeState],
        batch: Batch,
        through: list[Array] | None = None,
        record: bool = False,
        retain: bool = False,
    ) -> tuple[Array, list[State], list[Params], list[Array]]:
        """dy (T, N, W) -> dx (T, N, F), gradients at each direction's initial states and
        parameters, and with ``record`` each direction's dL/dh_t (T, N, R) in time order
        (``scan_backward``; [] without).

        ``through[d]`` (N,): a weight per row on the gradient entering direction d (1 lets it
        pass, 0 stops it), so that dx holds only the paths through the chosen directions; the
        parameter gradients are then not computed (each direction's dict is empty).

        Without ``retain`` the compiled loop overwrites the tape's gates (``scan_backward``).
        """
        if self.directions == 1:
            d_h = [dy]
        else:
            values = self._outputs(tape.scans, batch, flip=self.merge.needs_values)
            d_fwd, d_bwd = self.merge.backward(dy, *values)
            d_h = [d_fwd, d_bwd]  # d_bwd in time order: flipped as it is stacked below
        if through is not None:
            d_h = [d * w[None, :, None] for d, w in zip(d_h, through)]
        d_x: list[Array] = [np.empty(0)] * self.directions
        d_init: list[State] = [()] * self.directions
        grads: list[Params] = [{}] * self.directions
        state_grads: list[Array] = [np.empty(0)] * self.directions if record else []
        for group, (w, scan), ws in zip(self.groups, tape.scans, self.workspaces):
            cell = self.cells[group[0]]
            d_out = ws.get("d_out", (len(group), *d_h[group[0]].shape), dy.dtype)
            for j, d in enumerate(group):  # each chain's gradient in its scan order
                if d == 1:
                    batch.flip(d_h[d], out=d_out[j])
                else:
                    d_out[j] = d_h[d]
            d_fin = tuple(
                _stack_or_none([d_final[d][s] for d in group], scan.init[s].shape[1:])
                for s in range(len(scan.init))
            )
            kept = np.zeros(scan.states[0].shape, dy.dtype) if record else None
            after = partial(self._chain_sums, group, w, scan, tape.x, batch, through)
            step_grads, carry, sums = scan_backward(
                cell, w, scan, d_out, d_fin, batch, ws, kept, retain, after
            )
            steps, size, feat = tape.x.shape
            for j, d in enumerate(group):
                if through is None:
                    at_j = {name: g[j : j + 1] for name, g in step_grads.items()}
                    grads[d] = self.cells[d].param_grads(scan.chain(j), at_j, sums[j])
                dx_j = sums[j].get("dx")
                d_x[d] = (
                    np.zeros((steps, size, feat), dy.dtype)  # a stopped direction
                    if dx_j is None
                    else dx_j.reshape(steps, size, feat)
                )
                d_init[d] = tuple(c[j].copy() for c in carry)  # carry is workspace memory
                if kept is not None:
                    state_grads[d] = kept[j] if d == 0 else batch.flip(kept[j])
        dx = d_x[0] if self.directions == 1 else batch.add_flipped(d_x[0], d_x[1])
        return dx, d_init, grads, state_grads

    def _chain_sums(
        self,
        group: list[int],
        w: Weights,
        scan: ScanTape,
        x: Array,
        batch: Batch,
        through: list[Array] | None,
        step_grads: dict[str, Array],
    ) -> list[tuple[Sums, dict[str, Array]]]:
        """Each chain's GEMMs over all steps at once (``birnn.cells.sums``), declared on the
        per-step gradients before the backward loop fills them: its parameter gradients (none
        with ``through``) and its part of dx, da @ W_ih, in scan order (none for a stopped
        direction)."""
        out = []
        for j, d in enumerate(group):
            declared: Sums = {}
            if through is None:
                at_j = {name: g[j : j + 1] for name, g in step_grads.items()}
                x_d = self._scan_input(x, batch, d)
                declared = self.cells[d].grad_sums(x_d, scan.chain(j), at_j)
            rooms = {}
            if through is None or np.any(through[d]):
                declared["dx"] = [(rows(step_grads["a"][j]), w.w_ih[j])]
                # the forward direction's part leaves as dx (the backward one's is added into
                # it, ``backward``); the backward one's stays in the workspace
                if d == 0:
                    rooms["dx"] = np.empty((x.shape[0] * x.shape[1], x.shape[2]), x.dtype)
            out.append((declared, rooms))
        return out


def _stack_or_none(values: list[Array | None], shape: tuple[int, ...]) -> Array | None:
    """Stack chains' gradients; None if none arrives, zeros for the chains that get none."""
    if all(v is None for v in values):
        return None
    ref = next(v for v in values if v is not None)
    return np.stack([np.zeros(shape, dtype=ref.dtype) if v is None else v for v in values])


def _stacked(init: list[State], group: list[int]) -> State:
    """The initial states of a group's directions as the chains of one scan: (D, N, width)."""
    return tuple(np.stack([init[d][s] for d in group]) for s in range(len(init[0])))


def _finals(tape: ScanTape, batch: Batch, j: int) -> State:
    """Chain j's final states: each sequence's row at its own last step (copies)."""
    return tuple(batch.last(s[j]) for s in tape.states)
