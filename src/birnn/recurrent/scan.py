"""The time loop: runs a cell over time, forward and backward, for D chains at once.

The batch is sorted by decreasing length (``Batch``), so at step t only the first n_t rows are
still running and every array access is a prefix slice ``[:, t, :n_t]``. A reverse direction has
already had its input reversed within lengths, so it is scanned left to right like any other.

Forward (one chain):   s_t = cell(a_t, s_{t-1}),  s_{-1} = s_init,   t = 0 .. len-1
Backward (BPTT):       ds_t = dout_t + carry_t;   cell.step_back turns ds_t into carry_{t-1}

Final states and their gradients are each sequence's own last step, t = len - 1. A sequence
that ends at step t joins the backward loop there: its final-state gradient seeds the carry.

With the native backend (``birnn.set_backend``) the same loops run compiled (``birnn._native``):
the arrays below are allocated here either way, and the kernel fills exactly what the NumPy
loop would, so everything after the loop is shared. Its LSTM and GRU steps work in place
(``Kernel.in_place``): the forward writes the gates over the input projections, and the backward
writes d(pre-activation) over the gates, so one (D, T, N, G*H) array of the tape serves all
three. That backward consumes the tape, as PyTorch frees a graph: ``retain=True`` keeps it
(the backward then works on a copy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from birnn import backend
from birnn.cells import sums
from birnn.cells.base import Cell, Step, Weights
from birnn.cells.sums import Sums
from birnn.recurrent.sequence import Batch
from birnn.recurrent.workspace import Workspace

Array = NDArray[np.floating]


@dataclass
class ScanTape:
    """What the backward loop needs from a forward scan."""

    states: tuple[Array, ...]  # per state (h, c): (D, T, N, width), the state after each step
    init: tuple[Array, ...]  # per state: (D, N, width), the state before step 0
    extras: dict[str, Array]  # cell-specific per-step values, (D, T, N, width)

    def chain(self, j: int) -> ScanTape:
        """Chain j alone, as the tape of a one-chain scan (views, nothing copied)."""
        return ScanTape(
            states=tuple(s[j : j + 1] for s in self.states),
            init=tuple(s[j : j + 1] for s in self.init),
            extras={name: v[j : j + 1] for name, v in self.extras.items()},
        )


def scan_forward(
    cell: Cell,
    w: Weights,
    inputs: list[Array],
    init: tuple[Array, ...],
    batch: Batch,
    keep_tape: bool = True,
    ws: Workspace | None = None,
    *,
    out: Array | None = None,
    reversed_inputs: tuple[int, ...] = (),
) -> ScanTape:
    """Run ``cell`` over the D chains' inputs, ``inputs[j]`` (T*N, F[+1]) in scan order.

    First the input projections of every step, one GEMM per chain, a_j = inputs[j] @ w_ih_t[j]
    (D, T, N, G*H), then the loop (the compiled loop's inference may project each step's rows
    at that step instead, into one step's room: ``birnn._native``). The compiled loop does both
    per chain, so that with the chains side by side each chain's GEMM runs on its own thread
    too.

    With ``keep_tape=False`` (inference) the per-step extras share one buffer and every array
    comes from the workspace ``ws``: the tape is only good for reading the states before the
    next call. With ``keep_tape=True`` the tape's arrays come from ``ws.tapes`` (when given).

    The compiled loop also takes, for inference (``Kernel.forward``): inputs of width F
    without the ones column (it adds the biases at each step), ``out`` (T, N, D*H) to
    write each chain's h into, in time order (the concat merge), and ``reversed_inputs``: the
    chains whose input is given in time order, to be scanned flipped per sequence.
    """
    chains, gates = len(inputs), w.w_ih_t.shape[-1]
    steps, size = batch.steps, batch.size
    dtype = inputs[0].dtype
    pool = ws if not keep_tape else None
    tapes = ws.tapes if keep_tape and ws is not None else None
    kernel = backend.native_kernel(cell, dtype)
    threads = backend.get_num_threads()
    in_place = kernel.in_place(cell) if kernel is not None else []
    shape = (chains, steps, size, gates)
    if in_place and keep_tape:  # the tape's gates, written over the input projections
        a = tapes.get(shape, dtype, zero=False) if tapes is not None else np.empty(shape, dtype)
    else:  # inference may need one step of them: the loop projects each step's rows
        room = steps
        if kernel is not None and not keep_tape:
            room = kernel.input_steps(cell, w, batch, inputs[0].shape[1], threads, keep_tape)
        a = (ws or Workspace()).get("a", (chains, room, size, gates), dtype)

    def new(name: str, shape: tuple[int, ...]) -> Array:
        if pool is not None:
            out = pool.get(name, shape, dtype)
        elif tapes is not None:
            out = tapes.get(shape, dtype, zero=False)
        else:
            out = np.empty(shape, dtype=dtype)
        # the loop writes the running rows only; the padding must read as zero, in the outputs
        # and in the extras too (some weight gradients multiply them by a zero gradient)
        return batch.zero_padding(out) if out.shape[1] == steps else out

    # with the outputs copied out (inference, ``out``) the loop keeps two steps' states, a ring
    # (``Batch.last`` finds each sequence's final states in it)
    held = min(2, steps) if out is not None else steps
    states = tuple(
        new(f"state{s}", (chains, held, size, width)) for s, width in enumerate(cell.state_sizes)
    )
    kept = steps if keep_tape else 1
    extras = {
        name: a if in_place and name == in_place[0][0] else new(name, (chains, kept, size, width))
        for name, width in cell.extra_widths().items()
    }
    if kernel is not None:
        kernel.forward(cell, w, inputs, a, init, states, extras, batch, threads, ws, keep_tape, out,
                       reversed_inputs)  # fmt: skip
        if in_place and keep_tape:  # the projections' GEMM also wrote the padding rows
            batch.zero_padding(a)
        return ScanTape(states=states, init=init, extras=extras)
    if out is not None or reversed_inputs:
        raise ValueError("internal: out and reversed_inputs need the compiled loop")
    for j, x in enumerate(inputs):
        np.matmul(x, w.w_ih_t[j], out=a[j].reshape(steps * size, gates))
    scratch = cell.workspace(chains, size, dtype)
    for t, n in enumerate(batch.batch_sizes):
        prev = tuple(s[:, t - 1, :n] for s in states) if t else tuple(s[:, :n] for s in init)
        cur = tuple(s[:, t, :n] for s in states)
        k = t if keep_tape else 0
        saved = {e: v[:, k, :n] for e, v in extras.items()}
        cell.step(w, a[:, t, :n], Step(prev, cur, saved, scratch))
    return ScanTape(states=states, init=init, extras=extras)


def scan_backward(
    cell: Cell,
    w: Weights,
    tape: ScanTape,
    d_out: Array | None,
    d_final: tuple[Array | None, ...],
    batch: Batch,
    ws: Workspace | None = None,
    record: Array | None = None,
    retain: bool = False,
    after: Callable[[dict[str, Array]], list[tuple[Sums, dict[str, Array]]]] | None = None,
) -> tuple[dict[str, Array], tuple[Array, ...], list[dict[str, Array]]]:
    """Backpropagation through time, then the GEMMs over all steps that ``after`` declares.

    ``d_out`` (D, T, N, R) is the gradient arriving at each step's output h_t (None: none);
    ``d_final`` per state, (D, N, width) or None, the gradient at the final states.
    Returns the per-step gradients the cell keeps (``grads["a"]``: d pre-activation, zero on
    padding) and the gradients at the initial states. Both live in ``ws`` when one is given.

    ``record`` (D, T, N, R), zeros: filled with ds_t = dL/dh_t, the whole gradient at each
    step's state h (its output's and the carry from step t + 1), for tracing the gradient
    through time; the NumPy loop runs then (the compiled one keeps no per-step carry).

    The compiled loop writes the gradients over the tape's in-place slots (``Kernel.in_place``)
    unless ``retain``: the tape cannot be backpropagated through again after that.

    ``after(grads)`` declares each chain's sums on the per-step gradients (``birnn.cells.sums``:
    the layer's parameter and input gradients) before the loop runs, with the rooms some of
    them go to (the others go to ``ws``); the third value returned is each chain's sums,
    computed. The compiled loop runs a chain's right after its steps, on
    its thread; the NumPy one after the loop, the chains side by side where the compiled loop's
    would be (``backend.per_chain``).
    """
    chains, steps, size, _ = tape.states[0].shape
    dtype = tape.states[0].dtype
    if ws is None:
        ws = Workspace()
    kernel = backend.native_kernel(cell, dtype) if record is None else None
    in_place = {g: e for e, g in kernel.in_place(cell)} if kernel is not None else {}
    # zero on padding: the loop writes the running rows only. d(pre-activation) "a" takes the
    # buffer of the input projections (``Layer.forward``'s "a", consumed by the forward scan):
    # one buffer of that size per layer, not two. The compiled in-place steps find the extras
    # in their gradients' arrays: the tape's own (consumed), or a copy (``retain``)
    grads = {}
    for name, width in cell.grad_widths().items():
        if name in in_place and not retain:
            grads[name] = tape.extras[in_place[name]]
            continue
        shape = (chains, steps, size, width)
        grads[name] = batch.zero_padding(ws.get(name if name == "a" else f"d_{name}", shape, dtype))
        if name in in_place:
            np.copyto(grads[name], tape.extras[in_place[name]])
    carry = tuple(
        ws.get(f"carry{s}", (chains, size, width), dtype, zero=True)
        for s, width in enumerate(cell.state_sizes)
    )
    declared = after(grads) if after is not None else []
    # the sums go to the workspace unless the caller gave them a room (an array that leaves):
    # a fresh array of their size page-faults at each call
    outs = [
        {
            name: given[name]
            if name in given
            else ws.get(f"sum{j}.{name}", sums.shape(terms), dtype)
            for name, terms in chain.items()
        }
        for j, (chain, given) in enumerate(declared)
    ]
    if kernel is not None:
        threads = backend.get_num_threads()
        after_loop = [(chain, out) for (chain, _), out in zip(declared, outs)]
        kernel.backward(cell, w, tape, d_out, d_final, grads, carry, batch, threads, ws,
                        after=after_loop)  # fmt: skip
        return grads, carry, outs
    scratch = cell.workspace(chains, size, dtype)
    sizes = (*batch.batch_sizes, 0)
    for t in range(steps - 1, -1, -1):
        n, ending = sizes[t], sizes[t + 1]
        if ending < n:  # rows n_{t+1}..n_t take their last step here: seed with final grads
            for c, df in zip(carry, d_final):
                if df is not None:
                    c[:, ending:n] = df[:, ending:n]
        d_state = tuple(c[:, :n] for c in carry)
        if d_out is not None:
            np.add(d_state[0], d_out[:, t, :n], out=d_state[0])
        if record is not None:
            record[:, t, :n] = d_state[0]
        prev = (
            tuple(s[:, t - 1, :n] for s in tape.states) if t else tuple(s[:, :n] for s in tape.init)
        )
        cur = tuple(s[:, t, :n] for s in tape.states)
        saved = {e: v[:, t, :n] for e, v in tape.extras.items()}
        at_t = {g: v[:, t, :n] for g, v in grads.items()}
        cell.step_back(w, Step(prev, cur, saved, scratch, d_state, at_t))
    if not declared:
        return grads, carry, []
    return grads, carry, backend.per_chain(lambda j: sums.run(declared[j][0], outs[j]), len(outs))
