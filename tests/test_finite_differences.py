"""Central finite differences (float64) for what torch has no counterpart of.

Merge modes, per-direction hidden sizes, constant and learned initial states, the original
(reset-before-matmul) GRU, dropout with fixed masks and deep ragged stacks; plus the tape
contract: backward is a pure function of the tape.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import birnn
from gradcheck import FD_ATOL, check_finite_differences
from helpers import (
    assert_grads_close,
    assert_tree_close,
    make_module,
    make_problem,
    tree_leaves,
    tree_map,
)

INPUT, HIDDEN, PROJ = 3, 4, 2
T, N = 5, 3
KINDS = ["RNN", "GRU", "LSTM"]


def problem(m: Any, seed: int, **kw: Any):
    return make_problem(
        m, np.random.default_rng(seed), t=T, n=N, input_size=kw.pop("input_size", INPUT), **kw
    )


def fd(m: Any, p: Any, **kw: Any):
    return check_finite_differences(m, p.x, p.hx, p.lengths, p.g_out, p.g_state, **kw)


# --------------------------------------------------------------------------------------------
# Merge modes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("merge", ["concat", "sum", "mean", "mul"])
@pytest.mark.parametrize("kind", KINDS)
def test_merge_modes(kind, merge):
    cfg = dict(input_size=INPUT, hidden_size=HIDDEN, bidirectional=True, merge=merge)
    m = make_module(kind, cfg, seed=1)
    p = problem(m, seed=1)
    out, _ = m(p.x, p.hx, p.lengths)
    assert out.shape == (T, N, 2 * HIDDEN if merge == "concat" else HIDDEN)
    fd(m, p)


def test_lstm_projection_with_mul_merge():
    cfg = dict(input_size=INPUT, hidden_size=HIDDEN, proj_size=PROJ, bidirectional=True)
    m = make_module("LSTM", {**cfg, "merge": "mul"}, seed=2)
    p = problem(m, seed=2, batch_first=False)
    out, _ = m(p.x, p.hx, p.lengths)
    assert out.shape == (T, N, PROJ)
    fd(m, p)


# --------------------------------------------------------------------------------------------
# Per-direction hidden sizes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", KINDS)
def test_per_direction_hidden_sizes(kind, num_layers):
    a, b = 3, 5
    cfg = dict(input_size=INPUT, hidden_size=(a, b), num_layers=num_layers, bidirectional=True)
    m = make_module(kind, cfg, seed=3)
    p = problem(m, seed=3)
    out, state = m(p.x, p.hx, p.lengths)
    assert out.shape == (T, N, a + b)
    hs = state[0] if kind == "LSTM" else state
    assert isinstance(hs, list) and len(hs) == 2 * num_layers
    assert [h.shape for h in hs] == [(N, a), (N, b)] * num_layers
    if kind == "LSTM":
        assert [c.shape for c in state[1]] == [(N, a), (N, b)] * num_layers
    if num_layers == 2:
        assert m.state_dict()["weight_ih_l1"].shape[1] == a + b
    fd(m, p, max_entries=20)


# --------------------------------------------------------------------------------------------
# Initial states
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_constant_init_state(kind):
    cfg = dict(input_size=INPUT, hidden_size=HIDDEN, bidirectional=True, init_state=0.5)
    m = make_module(kind, cfg, seed=4)
    p = problem(m, seed=4, with_hx=False)
    _, state = m(p.x, None, p.lengths)
    hx_used = tree_map(lambda s: np.full_like(s, 0.5), state)
    # the constant really is used: it differs from passing zeros explicitly
    out_const, _ = m(p.x, None, p.lengths)
    out_zero, _ = m(p.x, tree_map(np.zeros_like, state), p.lengths)
    out_half, _ = m(p.x, hx_used, p.lengths)
    np.testing.assert_allclose(out_const, out_half, rtol=1e-13, atol=1e-15)
    assert not np.allclose(out_const, out_zero)
    fd(m, p, hx_used=hx_used)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", KINDS)
def test_learned_init_state(kind, bidirectional):
    cfg = dict(
        input_size=INPUT,
        hidden_size=HIDDEN,
        num_layers=2,
        bidirectional=bidirectional,
        init_state="learned",
    )
    m = make_module(kind, cfg, seed=5)
    learned = sorted(k for k in m.params if k.startswith(("h0_", "c0_")))
    dirs = ["", "_reverse"] if bidirectional else [""]
    expected = [f"h0_l{k}{d}" for k in range(2) for d in dirs]
    if kind == "LSTM":
        expected += [f"c0_l{k}{d}" for k in range(2) for d in dirs]
    assert learned == sorted(expected)
    p = problem(m, seed=5, with_hx=False)
    d = 2 if bidirectional else 1
    names = [f"l{k}{s}" for k in range(2) for s in dirs]  # state index 2*k + d
    h0 = np.stack([np.broadcast_to(m.params[f"h0_{s}"], (N, HIDDEN)) for s in names])
    hx_used = h0
    if kind == "LSTM":
        hx_used = (h0, np.stack([np.broadcast_to(m.params[f"c0_{s}"], (N, HIDDEN)) for s in names]))
    assert tree_leaves(hx_used)[0].shape == (d * 2, N, HIDDEN)
    _, dhx, grads = fd(m, p, hx_used=hx_used)
    for i, s in enumerate(names):  # the learned vector is shared by the batch
        dh = dhx[0] if kind == "LSTM" else dhx
        assert_tree_close(grads[f"h0_{s}"], dh[i].sum(axis=0), rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------------------------
# GRU variants
# --------------------------------------------------------------------------------------------


def gru_reset_before_reference(sd: dict[str, np.ndarray], x: np.ndarray, h: np.ndarray):
    """One-layer unidirectional original GRU written out step by step (no lengths)."""
    w_ir, w_iz, w_in = np.split(sd["weight_ih_l0"], 3)
    w_hr, w_hz, w_hn = np.split(sd["weight_hh_l0"], 3)
    b_ir, b_iz, b_in = np.split(sd["bias_ih_l0"], 3)
    b_hr, b_hz, b_hn = np.split(sd["bias_hh_l0"], 3)

    def sigmoid(a: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-a))

    outs = []
    for x_t in x:
        r = sigmoid(x_t @ w_ir.T + b_ir + h @ w_hr.T + b_hr)
        z = sigmoid(x_t @ w_iz.T + b_iz + h @ w_hz.T + b_hz)
        n = np.tanh(x_t @ w_in.T + b_in + (r * h) @ w_hn.T + b_hn)
        h = (1.0 - z) * n + z * h
        outs.append(h)
    return np.stack(outs), h


def test_gru_reset_before_matmul_forward_matches_equations():
    cfg = dict(input_size=INPUT, hidden_size=HIDDEN, reset_after=False)
    m = make_module("GRU", cfg, seed=6)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((T, N, INPUT))
    h0 = rng.standard_normal((1, N, HIDDEN))
    out, h_n = m(x, h0)
    ref_out, ref_h = gru_reset_before_reference(m.state_dict(), x, h0[0])
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(h_n[0], ref_h, rtol=1e-12, atol=1e-13)
    # and it is a different function from PyTorch's (reset_after=True) GRU
    other = birnn.GRU(**cfg | {"reset_after": True}, dtype=np.float64)
    other.load_state_dict(m.state_dict())
    assert not np.allclose(other(x, h0)[0], out)


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_gru_reset_before_matmul(bidirectional, num_layers):
    cfg = dict(
        input_size=INPUT,
        hidden_size=HIDDEN,
        num_layers=num_layers,
        bidirectional=bidirectional,
        reset_after=False,
    )
    m = make_module("GRU", cfg, seed=7)
    fd(m, problem(m, seed=7), max_entries=20)


# --------------------------------------------------------------------------------------------
# Dropout with fixed masks
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_with_fixed_masks(kind):
    num_layers = 3
    cfg = dict(
        input_size=INPUT,
        hidden_size=HIDDEN,
        num_layers=num_layers,
        bidirectional=True,
        dropout=0.4,
    )
    m = make_module(kind, cfg, seed=8)
    p = problem(m, seed=8)

    m.rng = np.random.default_rng(99)
    out_a, _, tape_a = m.forward(p.x, p.hx, p.lengths, training=True)
    m.rng = np.random.default_rng(99)
    out_b, _, tape_b = m.forward(p.x, p.hx, p.lengths, training=True)
    m.rng = np.random.default_rng(100)
    out_c, _, _ = m.forward(p.x, p.hx, p.lengths, training=True)
    np.testing.assert_array_equal(out_a, out_b)
    assert not np.allclose(out_a, out_c), "another seed should give other masks"

    # one mask per layer boundary (an entry for the last layer, if any, is None: no dropout)
    masks = tape_a.masks
    assert len(masks) in (num_layers - 1, num_layers)
    assert all(mk is None for mk in masks[num_layers - 1 :])
    for mask_a, mask_b in zip(masks[: num_layers - 1], tape_b.masks, strict=False):
        assert isinstance(mask_a, np.ndarray)
        np.testing.assert_array_equal(mask_a, mask_b)
        assert np.any(mask_a == 0) and np.any(mask_a != 0)

    # inactive when not training: equals the same weights without dropout
    out_eval, _, tape_eval = m.forward(p.x, p.hx, p.lengths, training=False)
    assert all(mk is None for mk in tape_eval.masks)
    plain = getattr(birnn, kind)(**{**cfg, "dropout": 0.0}, dtype=np.float64)
    plain.load_state_dict(m.state_dict())
    np.testing.assert_array_equal(out_eval, plain(p.x, p.hx, p.lengths)[0])
    assert not np.allclose(out_a, out_eval)

    fd(m, p, training=True, rng_seed=99, max_entries=12)


# --------------------------------------------------------------------------------------------
# Deep ragged stacks
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_first", [False, True], ids=["tm", "bf"])
@pytest.mark.parametrize("kind", KINDS)
def test_three_layers_ragged(kind, batch_first):
    cfg = dict(
        input_size=INPUT,
        hidden_size=HIDDEN,
        num_layers=3,
        bidirectional=True,
        batch_first=batch_first,
    )
    m = make_module(kind, cfg, seed=9)
    p = problem(m, seed=9, batch_first=batch_first)
    assert p.lengths is not None and 1 in p.lengths and T in p.lengths
    fd(m, p, max_entries=12)


def test_finite_differences_can_fail():
    """The checker is not vacuous: a wrong upstream gradient is caught."""
    cfg = dict(input_size=INPUT, hidden_size=HIDDEN, bidirectional=True)
    m = make_module("GRU", cfg, seed=10)
    p = problem(m, seed=10)

    class Scaled:  # backward reports 1.01 x the true gradients
        params = m.params

        def forward(self, *args, **kw):
            return m.forward(*args, **kw)

        def backward(self, tape, d_out, d_state=None):
            dx, dhx, grads = m.backward(tape, d_out, d_state)
            return 1.01 * dx, tree_map(lambda a: 1.01 * a, dhx), grads

    with pytest.raises(AssertionError):
        fd(Scaled(), p)


# --------------------------------------------------------------------------------------------
# The tape is the only state
# --------------------------------------------------------------------------------------------


def assert_results_equal(a, b) -> None:
    dx_a, dhx_a, g_a = a
    dx_b, dhx_b, g_b = b
    np.testing.assert_array_equal(dx_a, dx_b)
    assert_tree_close(dhx_a, dhx_b, rtol=0, atol=0, name="dhx")
    assert_grads_close(g_a, g_b, rtol=0, atol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_a_retained_tape_backpropagates_again_identically_then_is_consumed(kind):
    """backward() consumes its tape (the compiled LSTM and GRU steps write the gradients over
    the gates), on every backend alike; retain_tape=True keeps it for the next backward."""
    cfg = dict(input_size=INPUT, hidden_size=HIDDEN, num_layers=2, bidirectional=True)
    m = make_module(kind, {**cfg, "dropout": 0.3}, seed=11)
    p = problem(m, seed=11)
    g_out, g_state = p.g_out.copy(), tree_map(np.copy, p.g_state)
    _, _, tape = m.forward(p.x, p.hx, p.lengths, training=True)
    first = m.backward(tape, p.g_out, p.g_state, retain_tape=True)
    second = m.backward(tape, p.g_out, p.g_state, retain_tape=True)
    last = m.backward(tape, p.g_out, p.g_state)
    assert_results_equal(first, second)
    assert_results_equal(first, last)
    assert first[0] is not second[0]
    np.testing.assert_array_equal(p.g_out, g_out)  # upstream gradients not modified
    assert_tree_close(p.g_state, g_state, rtol=0, atol=0, name="d_state")
    assert np.any(first[0] != 0)
    with pytest.raises(ValueError, match=r"consumed by an earlier backward.*retain_tape=True"):
        m.backward(tape, p.g_out, p.g_state)


@pytest.mark.parametrize("kind", KINDS)
def test_backward_depends_only_on_its_tape(kind):
    cfg = dict(input_size=INPUT, hidden_size=HIDDEN, num_layers=2, bidirectional=True)
    m = make_module(kind, cfg, seed=12)
    p1 = problem(m, seed=12)
    p2 = problem(m, seed=13)
    _, _, tape1 = m.forward(p1.x, p1.hx, p1.lengths)
    _, _, tape2 = m.forward(p2.x, p2.hx, p2.lengths)  # a later forward must not disturb tape1
    late = m.backward(tape1, p1.g_out, p1.g_state)
    _, _, tape1_again = m.forward(p1.x, p1.hx, p1.lengths)
    fresh = m.backward(tape1_again, p1.g_out, p1.g_state)
    assert_results_equal(late, fresh)
    other = m.backward(tape2, p2.g_out, p2.g_state)
    assert not np.allclose(other[2]["weight_hh_l0"], late[2]["weight_hh_l0"], atol=FD_ATOL)


# --------------------------------------------------------------------------------------------
# Padded rows of per-step buffers are never read
# --------------------------------------------------------------------------------------------

POISON_CASES = {
    "gru_reset_before": ("GRU", {"reset_after": False}),
    "lstm_proj_mul": ("LSTM", {"proj_size": PROJ, "merge": "mul"}),
    "rnn_mean": ("RNN", {"merge": "mean"}),
    "gru_sizes": ("GRU", {"hidden_size": (3, 5)}),
    "lstm_learned": ("LSTM", {"init_state": "learned"}),
    "gru_dropout": ("GRU", {"dropout": 0.3}),
}


@pytest.mark.parametrize("case", list(POISON_CASES))
def test_uninitialised_memory_never_reaches_gradients(case):
    """With NaN in freed memory, ragged batches still give exact (finite-difference) gradients:
    a padded row of an ``np.empty`` buffer must not be read, even to be multiplied by zero."""
    kind, extra = POISON_CASES[case]
    cfg = dict(input_size=INPUT, hidden_size=HIDDEN, num_layers=2, bidirectional=True)
    m = make_module(kind, {**cfg, **extra}, seed=14)
    p = problem(m, seed=14)
    training = "dropout" in extra
    fd(m, p, poison=True, training=training, rng_seed=5 if training else None, max_entries=8)
