"""Each cell's backward step on its own: ``step_back``, ``grad_sums`` and ``param_grads`` against
central finite differences of ``step``, one time step, float64.

The module-level suites (torch equivalence, finite differences through whole stacks) catch a
broken cell too, but only through the time loop; here a change to one cell's backward fails a
test named after that cell. Two chains (D = 2) with different parameters, so a mix-up between
chains shows; random non-zero biases; random upstream gradients on every state.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from birnn.cells import sums
from birnn.cells.base import Cell, Step
from birnn.cells.gru import GRUCell
from birnn.cells.gru_original import OriginalGRUCell
from birnn.cells.lstm import LSTMCell
from birnn.cells.rnn import RNNCell
from birnn.recurrent.scan import ScanTape
from gradcheck import check_gradients, upstream

F, H, N, D = 3, 4, 5, 2
CELLS = {
    "rnn_tanh": lambda bias: RNNCell(F, H, bias, "tanh"),
    "rnn_relu": lambda bias: RNNCell(F, H, bias, "relu"),
    "gru": lambda bias: GRUCell(F, H, bias),
    "gru_original": lambda bias: OriginalGRUCell(F, H, bias),
    "lstm": lambda bias: LSTMCell(F, H, bias),
    "lstm_proj": lambda bias: LSTMCell(F, H, bias, proj_size=2),
}


def design(cell: Cell, x: np.ndarray) -> np.ndarray:
    """x (D, N, F) -> each chain's scan input (N, F[+1]), with the ones column of the bias."""
    return np.concatenate([x, np.ones((*x.shape[:2], 1))], axis=-1) if cell.bias else x


def forward(cell: Cell, params: list[dict[str, np.ndarray]], x: np.ndarray, prev: tuple) -> Any:
    """One step of D chains, as the time loop runs it: (weights, states after, saved values)."""
    w = cell.prepare(params)
    inputs = design(cell, x)
    a = np.stack([inputs[j] @ w.w_ih_t[j] for j in range(D)])
    cur = tuple(np.zeros((D, N, width)) for width in cell.state_sizes)
    saved = {name: np.zeros((D, N, width)) for name, width in cell.extra_widths().items()}
    cell.step(w, a, Step(prev, cur, saved, cell.workspace(D, N, np.dtype(np.float64))))
    return w, cur, saved


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_step_back_matches_finite_differences_of_step(name, bias):
    cell = CELLS[name](bias)
    rng = np.random.default_rng(7)
    params = [cell.init_params(rng, np.dtype(np.float64)) for _ in range(D)]
    for p in params:  # biases well away from zero and from each other (no hidden double counts)
        for key in ("bias_ih", "bias_hh"):
            if key in p:
                p[key][...] = rng.uniform(-1.5, 1.5, p[key].shape)
    x = rng.standard_normal((D, N, F))
    prev = tuple(rng.standard_normal((D, N, width)) for width in cell.state_sizes)
    g_states = tuple(upstream(rng, (D, N, width)) for width in cell.state_sizes)

    w, cur, saved = forward(cell, params, x, prev)
    d_state = tuple(g.copy() for g in g_states)  # in: dL/d(states at t); out: at t - 1
    grads = {name: np.zeros((D, N, width)) for name, width in cell.grad_widths().items()}
    scratch = cell.workspace(D, N, np.dtype(np.float64))
    cell.step_back(w, Step(prev, cur, saved, scratch, d_state, grads))
    one_step = ScanTape(
        states=tuple(s[:, None] for s in cur),
        init=prev,
        extras={k: v[:, None] for k, v in saved.items()},
    )
    inputs = design(cell, x)
    chain_grads = []
    for j in range(D):  # each chain's sums (birnn.cells.sums), then its gradients from them
        tape_j, at_j = one_step.chain(j), {k: v[j : j + 1, None] for k, v in grads.items()}
        declared = cell.grad_sums(inputs[j], tape_j, at_j)
        rooms = {name: np.empty(sums.shape(terms)) for name, terms in declared.items()}
        chain_grads.append(cell.param_grads(tape_j, at_j, sums.run(declared, rooms)))
    dx = np.stack([grads["a"][j] @ w.w_ih[j] for j in range(D)])

    def loss() -> float:
        _, states, _ = forward(cell, params, x, prev)
        return float(sum(np.sum(s * g) for s, g in zip(states, g_states)))

    arrays = {"x": x} | {f"prev{s}": p for s, p in enumerate(prev)}
    analytic = {"x": dx} | {f"prev{s}": d for s, d in enumerate(d_state)}
    for j in range(D):
        assert set(chain_grads[j]) == set(params[j])
        arrays |= {f"{key} chain {j}": v for key, v in params[j].items()}
        analytic |= {f"{key} chain {j}": v for key, v in chain_grads[j].items()}
    check_gradients(loss, arrays, analytic, max_entries=40)


def test_the_two_gru_forms_are_different_functions():
    """Same parameters, different equations: a test of one form cannot pass for the other."""
    rng = np.random.default_rng(3)
    after, before = GRUCell(F, H), OriginalGRUCell(F, H)
    params = [after.init_params(rng, np.dtype(np.float64)) for _ in range(D)]
    x, prev = rng.standard_normal((D, N, F)), (rng.standard_normal((D, N, H)),)
    h_after = forward(after, params, x, prev)[1][0]
    h_before = forward(before, params, x, prev)[1][0]
    assert np.abs(h_after - h_before).max() > 1e-3
