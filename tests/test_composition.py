"""Hand-stacked compositions equal the one-call modules.

The motivating question (shared/seeds/004): reproduce ``RNN(25, 50, 4, batch_first=True,
bidirectional=True)`` from unidirectional layers. The answer: at every layer both directions read
the same input, [h_fwd_t ; h_bwd_t] of the layer below *in time order*, and the backward direction
runs over each sequence reversed within its length, so its outputs must be flipped back before
they are concatenated.
"""

from __future__ import annotations

import unittest.mock
from typing import Any

import numpy as np
import pytest

import birnn
from gradcheck import check_finite_differences
from helpers import (
    TORCH_ATOL,
    TORCH_RTOL,
    assert_grads_close,
    assert_tree_close,
    make_module,
    make_problem,
    random_lengths,
    randomize_parameters,
    requires_torch,
    torch_reference,
    tree_leaves,
    tree_map,
)

CLOSE = dict(rtol=TORCH_RTOL, atol=TORCH_ATOL)


def layer_state_dict(sd: dict[str, np.ndarray], k: int, suffix: str = "") -> dict:
    """Layer k, one direction of a big state_dict, renamed to a one-layer module's names."""
    out = {}
    for base in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):
        name = f"{base}_l{k}{suffix}"
        if name in sd:
            out[f"{base}_l0"] = sd[name]
    return out


def single(kind: str, input_size: int, hidden: int, sd: dict | None = None, **kw: Any) -> Any:
    m = getattr(birnn, kind)(input_size, hidden, dtype=np.float64, **kw)
    if sd is not None:
        m.load_state_dict(sd)
    return m


def forward_backward(m: Any, p: Any) -> tuple:
    out, state, tape = m.forward(p.x, p.hx, p.lengths)
    return (out, state, *m.backward(tape, p.g_out, p.g_state))


def assert_same_results(got: tuple, want: tuple) -> None:
    for a, b, name in zip(got[:4], want[:4], ["out", "state", "dx", "dhx"], strict=True):
        assert_tree_close(a, b, name=name, **CLOSE)
    assert_grads_close(got[4], want[4], **CLOSE)


# --------------------------------------------------------------------------------------------
# The question: RNN(25, 50, 4, batch_first=True, bidirectional=True) from unidirectional layers
# --------------------------------------------------------------------------------------------

IN_Q, H_Q, L_Q, N_Q, T_Q = 25, 50, 4, 5, 7
CFG_Q = dict(input_size=IN_Q, hidden_size=H_Q, num_layers=L_Q, batch_first=True, bidirectional=True)


def question_problem(ragged: bool, seed: int = 4):
    big = make_module("RNN", CFG_Q, seed=seed)
    p = make_problem(
        big,
        np.random.default_rng(seed),
        t=T_Q,
        n=N_Q,
        input_size=IN_Q,
        batch_first=True,
        ragged=ragged,
    )
    return big, p


@pytest.mark.parametrize("ragged", [False, True], ids=["full", "ragged"])
def test_question_with_bidirectional_and_stack(ragged):
    big, p = question_problem(ragged)
    layers = [
        birnn.Bidirectional(
            single("RNN", IN_Q if k == 0 else 2 * H_Q, H_Q),
            single("RNN", IN_Q if k == 0 else 2 * H_Q, H_Q),
        )
        for k in range(L_Q)
    ]
    stack = birnn.Stack(layers, batch_first=True)
    assert sorted(stack.state_dict()) == sorted(big.state_dict())
    stack.load_state_dict(big.state_dict())
    for name, value in big.state_dict().items():
        np.testing.assert_array_equal(stack.state_dict()[name], value, err_msg=name)
    assert_same_results(forward_backward(stack, p), forward_backward(big, p))


def by_hand(sd, x, h_fwd, h_bwd, lengths, *, flip_back: bool = True):
    """The answer in a few lines: unidirectional RNNs, flip_sequences and concatenate."""
    flip = lambda a: birnn.flip_sequences(a, lengths, batch_first=True)  # noqa: E731
    layer_in, finals = x, []
    for k in range(L_Q):
        width = layer_in.shape[-1]
        fwd = single("RNN", width, H_Q, layer_state_dict(sd, k), batch_first=True)
        bwd = single("RNN", width, H_Q, layer_state_dict(sd, k, "_reverse"), batch_first=True)
        out_f, h_f = fwd(layer_in, h_fwd[k : k + 1], lengths)
        out_b, h_b = bwd(flip(layer_in), h_bwd[k : k + 1], lengths)  # runs on reversed input
        layer_in = np.concatenate([out_f, flip(out_b) if flip_back else out_b], axis=-1)
        finals += [h_f[0], h_b[0]]
    return layer_in, np.stack(finals)


@requires_torch
@pytest.mark.parametrize("ragged", [False, True], ids=["full", "ragged"])
def test_question_by_hand_with_flip_sequences(ragged):
    big, p = question_problem(ragged)
    sd = big.state_dict()
    h_fwd, h_bwd = p.hx[0::2], p.hx[1::2]  # hx index 2*k + d
    out, h_n = by_hand(sd, p.x, h_fwd, h_bwd, p.lengths)
    big_out, big_h = big(p.x, p.hx, p.lengths)
    assert_tree_close(out, big_out, name="out", **CLOSE)
    assert_tree_close(h_n, big_h, name="h_n", **CLOSE)
    ref = torch_reference("RNN", CFG_Q, sd, p.x, p.hx, p.lengths)  # and PyTorch agrees
    assert_tree_close(out, ref.out, name="out vs torch", **CLOSE)
    assert_tree_close(h_n, ref.state, name="h_n vs torch", **CLOSE)


def test_question_naive_concatenation_breaks_from_the_second_layer():
    """Concatenating the backward outputs without flipping them back (the question's first try)
    reproduces layer 0 but not the layers above it."""
    big, p = question_problem(ragged=True)
    sd = big.state_dict()
    _, h_n = by_hand(sd, p.x, p.hx[0::2], p.hx[1::2], p.lengths, flip_back=False)
    _, big_h = big(p.x, p.hx, p.lengths)
    assert_tree_close(h_n[:2], big_h[:2], name="layer 0", **CLOSE)
    for i in range(2, 2 * L_Q):
        assert not np.allclose(h_n[i], big_h[i], rtol=1e-3, atol=1e-3), f"h_n[{i}]"


# --------------------------------------------------------------------------------------------
# Stack and Bidirectional against the one-call modules
# --------------------------------------------------------------------------------------------

INPUT, HIDDEN, PROJ, T, N = 3, 5, 2, 6, 4
CELLS: dict[str, tuple[str, dict[str, Any]]] = {
    "rnn_tanh": ("RNN", {}),
    "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
    "gru": ("GRU", {}),
    "gru_reset_before": ("GRU", {"reset_after": False}),
    "lstm": ("LSTM", {}),
    "lstm_proj": ("LSTM", {"proj_size": PROJ}),
}


@pytest.mark.parametrize("batch_first", [False, True], ids=["tm", "bf"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_stack_equals_one_call_module(cell, bidirectional, batch_first):
    kind, extra = CELLS[cell]
    layers_n = 3
    cfg = dict(
        input_size=INPUT,
        hidden_size=HIDDEN,
        num_layers=layers_n,
        bidirectional=bidirectional,
        batch_first=batch_first,
        **extra,
    )
    big = make_module(kind, cfg, seed=5)
    width = (2 if bidirectional else 1) * (extra.get("proj_size") or HIDDEN)
    layers = []
    for k in range(layers_n):
        in_k = INPUT if k == 0 else width
        if bidirectional:
            fwd = single(kind, in_k, HIDDEN, batch_first=batch_first, **extra)
            bwd = single(kind, in_k, HIDDEN, batch_first=batch_first, **extra)
            layers.append(birnn.Bidirectional(fwd, bwd))
        else:
            layers.append(single(kind, in_k, HIDDEN, batch_first=batch_first, **extra))
    stack = birnn.Stack(layers, batch_first=batch_first)
    stack.load_state_dict(big.state_dict())
    p = make_problem(
        big, np.random.default_rng(5), t=T, n=N, input_size=INPUT, batch_first=batch_first
    )
    assert_same_results(forward_backward(stack, p), forward_backward(big, p))


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_stack_of_multilayer_modules_renumbers_layers(kind):
    cfg = dict(input_size=INPUT, hidden_size=HIDDEN, num_layers=3, bidirectional=True)
    big = make_module(kind, cfg, seed=6)
    stack = birnn.Stack(
        [
            getattr(birnn, kind)(INPUT, HIDDEN, 2, bidirectional=True, dtype=np.float64),
            getattr(birnn, kind)(2 * HIDDEN, HIDDEN, bidirectional=True, dtype=np.float64),
        ]
    )
    assert sorted(stack.state_dict()) == sorted(big.state_dict())
    stack.load_state_dict(big.state_dict())
    p = make_problem(big, np.random.default_rng(6), t=T, n=N, input_size=INPUT)
    assert_same_results(forward_backward(stack, p), forward_backward(big, p))


@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_stack_with_dropout_gradients(kind):
    layers = [
        birnn.Bidirectional(single(kind, INPUT, HIDDEN), single(kind, INPUT, HIDDEN)),
        single(kind, 2 * HIDDEN, HIDDEN),
    ]
    stack = birnn.Stack(layers, dropout=0.5, seed=3)
    rng = np.random.default_rng(7)
    randomize_parameters(stack, rng)
    p = make_problem(stack, rng, t=T, n=N, input_size=INPUT)
    stack.rng = np.random.default_rng(11)
    _, _, tape = stack.forward(p.x, p.hx, p.lengths, training=True)
    assert np.any(tape.masks[0] == 0)  # between the two layers
    assert all(mk is None for mk in tape.masks[1:])  # none after the last
    check_finite_differences(
        stack,
        p.x,
        p.hx,
        p.lengths,
        p.g_out,
        p.g_state,
        training=True,
        rng_seed=11,
        max_entries=20,
    )


def merge_by_hand(mode: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return {
        "concat": lambda: np.concatenate([a, b], axis=-1),
        "sum": lambda: a + b,
        "mean": lambda: (a + b) / 2,
        "mul": lambda: a * b,
    }[mode]()


@pytest.mark.parametrize("merge", ["concat", "sum", "mean", "mul"])
@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_bidirectional_is_two_directions_merged(kind, merge):
    cfg = dict(input_size=INPUT, hidden_size=HIDDEN, bidirectional=True, merge=merge)
    big = make_module(kind, cfg, seed=8)
    sd = big.state_dict()
    fwd = single(kind, INPUT, HIDDEN, layer_state_dict(sd, 0))
    bwd = single(kind, INPUT, HIDDEN, layer_state_dict(sd, 0, "_reverse"))
    bi = birnn.Bidirectional(fwd, bwd, merge=merge)
    p = make_problem(big, np.random.default_rng(8), t=T, n=N, input_size=INPUT)

    # by hand: the backward module runs over each sequence reversed within its length
    hx_f = tree_map(lambda s: s[0:1], p.hx)
    hx_b = tree_map(lambda s: s[1:2], p.hx)
    out_f, st_f = fwd(p.x, hx_f, p.lengths)
    out_b, st_b = bwd(birnn.flip_sequences(p.x, p.lengths), hx_b, p.lengths)
    out_hand = merge_by_hand(merge, out_f, birnn.flip_sequences(out_b, p.lengths))
    if kind == "LSTM":
        state_hand = tuple(np.concatenate([f, b]) for f, b in zip(st_f, st_b, strict=True))
    else:
        state_hand = np.concatenate([st_f, st_b])

    out_bi, state_bi = bi(p.x, p.hx, p.lengths)
    assert_tree_close(out_bi, out_hand, name="out", **CLOSE)
    assert_tree_close(state_bi, state_hand, name="state", **CLOSE)
    assert_same_results(forward_backward(bi, p), forward_backward(big, p))


def test_bidirectional_shares_parameter_arrays():
    fwd = single("GRU", INPUT, HIDDEN)
    bwd = single("GRU", INPUT, HIDDEN)
    bi = birnn.Bidirectional(fwd, bwd)
    assert np.shares_memory(bi.params["weight_ih_l0"], fwd.params["weight_ih_l0"])
    assert np.shares_memory(bi.params["bias_hh_l0_reverse"], bwd.params["bias_hh_l0"])
    x = np.random.default_rng(0).standard_normal((T, N, INPUT))
    before, _ = bi(x)
    bwd.params["weight_hh_l0"][...] += 0.25  # an in-place update of bwd is seen by bi
    after, _ = bi(x)
    np.testing.assert_array_equal(after[..., :HIDDEN], before[..., :HIDDEN])
    assert not np.allclose(after[..., HIDDEN:], before[..., HIDDEN:])


@requires_torch
@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_per_direction_sizes_are_two_independent_chains(kind):
    a, b = 3, 6
    cfg = dict(input_size=INPUT, hidden_size=(a, b), bidirectional=True)
    big = make_module(kind, cfg, seed=9)
    sd = big.state_dict()
    assert sd["weight_hh_l0"].shape[1] == a and sd["weight_hh_l0_reverse"].shape[1] == b
    p = make_problem(big, np.random.default_rng(9), t=T, n=N, input_size=INPUT)

    # against PyTorch: two unidirectional torch modules, the second on reversed sequences
    h_f, h_b = (p.hx[0][0], p.hx[0][1]) if kind == "LSTM" else p.hx
    c_f, c_b = (p.hx[1][0], p.hx[1][1]) if kind == "LSTM" else (None, None)

    def hx_of(h, c):
        return (h[None], c[None]) if kind == "LSTM" else h[None]

    def torch_chain(suffix, hidden, x, hx):
        sub = layer_state_dict(sd, 0, suffix)
        return torch_reference(
            kind, dict(input_size=INPUT, hidden_size=hidden), sub, x, hx, p.lengths
        )

    ref_f = torch_chain("", a, p.x, hx_of(h_f, c_f))
    ref_b = torch_chain("_reverse", b, birnn.flip_sequences(p.x, p.lengths), hx_of(h_b, c_b))
    out, state = big(p.x, p.hx, p.lengths)
    want_out = np.concatenate([ref_f.out, birnn.flip_sequences(ref_b.out, p.lengths)], axis=-1)
    assert_tree_close(out, want_out, name="out", **CLOSE)
    if kind == "LSTM":
        want_state = (
            [ref_f.state[0][0], ref_b.state[0][0]],
            [ref_f.state[1][0], ref_b.state[1][0]],
        )
    else:
        want_state = [ref_f.state[0], ref_b.state[0]]
    assert_tree_close(state, want_state, name="state", **CLOSE)

    # and against Bidirectional of two modules of those sizes, gradients included
    bi = birnn.Bidirectional(
        single(kind, INPUT, a, layer_state_dict(sd, 0)),
        single(kind, INPUT, b, layer_state_dict(sd, 0, "_reverse")),
    )
    assert_same_results(forward_backward(bi, p), forward_backward(big, p))


# --------------------------------------------------------------------------------------------
# flip_sequences
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_first", [False, True], ids=["tm", "bf"])
def test_flip_sequences_reverses_within_lengths(batch_first):
    rng = np.random.default_rng(10)
    x_tm = rng.standard_normal((T, N, 2))  # padding holds non-zero values too
    lengths = random_lengths(rng, N, T)
    x = x_tm.transpose(1, 0, 2) if batch_first else x_tm
    y = birnn.flip_sequences(x, lengths, batch_first=batch_first)
    y_tm = y.transpose(1, 0, 2) if batch_first else y
    for b, length in enumerate(lengths):
        np.testing.assert_array_equal(y_tm[:length, b], x_tm[:length, b][::-1])
        np.testing.assert_array_equal(y_tm[length:, b], x_tm[length:, b])  # padding stays
    np.testing.assert_array_equal(birnn.flip_sequences(y, lengths, batch_first=batch_first), x)
    assert not np.array_equal(y, x)


def test_flip_sequences_without_lengths_reverses_time():
    x = np.random.default_rng(11).standard_normal((T, N, 3))
    np.testing.assert_array_equal(birnn.flip_sequences(x), x[::-1])
    np.testing.assert_array_equal(
        birnn.flip_sequences(x.transpose(1, 0, 2), batch_first=True), x[::-1].transpose(1, 0, 2)
    )


@pytest.mark.parametrize("backend", ["native", "numpy"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_final_states_are_the_calls_state_without_the_outputs(kind, batch_first, backend):
    """``m.final_states(x, hx, lengths)`` is ``m(x, hx, lengths)[1]``, bit for bit (unsorted
    ragged lengths, initial states given, one and two layers), and assembles no output."""
    rng = np.random.default_rng(7)
    saved = birnn.backend._settings.backend
    birnn.set_backend(backend)
    try:
        for layers in (1, 2):
            m = getattr(birnn, kind)(4, 6, num_layers=layers, bidirectional=True,
                                     batch_first=batch_first, seed=layers)  # fmt: skip
            x = rng.standard_normal((5, 8, 4) if batch_first else (8, 5, 4))
            lengths = np.array([3, 8, 1, 8, 5])
            hx = tree_map(lambda s: rng.standard_normal(s.shape), m(x, lengths=lengths)[1])
            _, expected = m(x, hx, lengths)
            with unittest.mock.patch.object(type(m), "_to_caller", side_effect=AssertionError):
                got = m.final_states(x, hx, lengths)
            for want, have in zip(tree_leaves(expected), tree_leaves(got), strict=True):
                np.testing.assert_array_equal(have, want)
    finally:
        birnn.backend._settings.backend = saved
