"""birnn's RNN / GRU / LSTM against torch.nn.RNN / GRU / LSTM (float64 forward and backward).

Every case loads the same random weights (non-zero biases larger than the default init) into
both, runs torch on packed sequences when lengths are given, and compares outputs, final states,
dx, dhx and every parameter gradient to ~1e-9 relative.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import birnn
from helpers import (
    F32_ATOL,
    F32_GRAD_ATOL,
    F32_GRAD_RTOL,
    F32_RTOL,
    TORCH_ATOL,
    TORCH_CLASSES,
    TORCH_RTOL,
    assert_grads_close,
    assert_tree_close,
    make_module,
    make_problem,
    poison_free_memory,
    random_lengths,
    torch_module,
    torch_reference,
    tree_map,
)

torch = pytest.importorskip("torch")  # the reference implementation (test extra)

INPUT, HIDDEN, PROJ = 4, 5, 3  # deliberately unequal
T, N = 6, 4

# name -> (class, extra constructor arguments)
CELLS: dict[str, tuple[str, dict[str, Any]]] = {
    "rnn_tanh": ("RNN", {"nonlinearity": "tanh"}),
    "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
    "gru": ("GRU", {}),
    "lstm": ("LSTM", {}),
    "lstm_proj": ("LSTM", {"proj_size": PROJ}),
}

# (batch_first, ragged lengths, hx given, d_state given): a pairwise covering array (every pair
# of factors sees all four combinations) plus the all-on row.
SCENARIOS = [
    (False, False, False, False),
    (False, True, True, True),
    (True, False, True, True),
    (True, True, False, True),
    (True, True, True, False),
    (True, True, True, True),
]


def scenario_id(s: tuple[bool, bool, bool, bool]) -> str:
    bf, ragged, hx, ds = s
    return "-".join(
        [
            "bf" if bf else "tm",
            "ragged" if ragged else "full",
            "hx" if hx else "nohx",
            "dstate" if ds else "nodstate",
        ]
    )


def config(cell: str, num_layers: int, bidirectional: bool, batch_first: bool) -> dict:
    _, extra = CELLS[cell]
    return dict(
        input_size=INPUT,
        hidden_size=HIDDEN,
        num_layers=num_layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
        **extra,
    )


def run_both(kind: str, cfg: dict, seed: int, **problem_kw: Any):
    """birnn forward+backward and the torch reference on one random problem."""
    m = make_module(kind, cfg, seed)
    rng = np.random.default_rng(seed)
    p = make_problem(
        m,
        rng,
        t=T,
        n=N,
        input_size=cfg["input_size"],
        batch_first=cfg.get("batch_first", False),
        **problem_kw,
    )
    out, state, tape = m.forward(p.x, p.hx, p.lengths, training=False)
    dx, dhx, grads = m.backward(tape, p.g_out, p.g_state)
    ref = torch_reference(kind, cfg, m.state_dict(), p.x, p.hx, p.lengths, p.g_out, p.g_state)
    return m, p, (out, state, dx, dhx, grads), ref


def assert_matches_reference(got, ref) -> None:
    out, state, dx, dhx, grads = got
    close = dict(rtol=TORCH_RTOL, atol=TORCH_ATOL)
    assert_tree_close(out, ref.out, name="out", **close)
    assert_tree_close(state, ref.state, name="state", **close)
    assert_tree_close(dx, ref.dx, name="dx", **close)
    assert_tree_close(dhx, ref.dhx, name="dhx", **close)
    assert_grads_close(grads, ref.grads, **close)


# --------------------------------------------------------------------------------------------
# The main sweep
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS, ids=scenario_id)
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_forward_and_backward_match_torch(cell, bidirectional, num_layers, scenario):
    batch_first, ragged, with_hx, with_d_state = scenario
    kind = CELLS[cell][0]
    cfg = config(cell, num_layers, bidirectional, batch_first)
    seed = 100 * num_layers + 10 * bidirectional + SCENARIOS.index(scenario)
    _, _, got, ref = run_both(
        kind, cfg, seed, ragged=ragged, with_hx=with_hx, with_d_state=with_d_state
    )
    assert_matches_reference(got, ref)


@pytest.mark.parametrize("which", ["h_only", "c_only"])
@pytest.mark.parametrize("proj", [0, PROJ], ids=["noproj", "proj"])
def test_lstm_partial_d_state_matches_torch(which, proj):
    """For LSTM either element of d_state may be None."""
    cfg = dict(input_size=INPUT, hidden_size=HIDDEN, num_layers=2, bidirectional=True)
    cfg["proj_size"] = proj
    m = make_module("LSTM", cfg, seed=7)
    p = make_problem(m, np.random.default_rng(7), t=T, n=N, input_size=INPUT)
    g_h, g_c = p.g_state
    d_state = (g_h, None) if which == "h_only" else (None, g_c)
    out, state, tape = m.forward(p.x, p.hx, p.lengths)
    got = (out, state, *m.backward(tape, p.g_out, d_state))
    ref = torch_reference("LSTM", cfg, m.state_dict(), p.x, p.hx, p.lengths, p.g_out, d_state)
    assert_matches_reference(got, ref)


@pytest.mark.parametrize("cell", ["rnn_tanh", "gru", "lstm", "lstm_proj"])
def test_no_bias_matches_torch(cell):
    kind = CELLS[cell][0]
    cfg = config(cell, num_layers=2, bidirectional=True, batch_first=False)
    cfg["bias"] = False
    _, _, got, ref = run_both(kind, cfg, seed=11)
    assert not any(name.startswith("bias") for name in got[4])
    assert_matches_reference(got, ref)


@pytest.mark.parametrize("cell", list(CELLS))
@settings(max_examples=4, deadline=None, database=None, derandomize=True)
@given(
    input_size=st.integers(1, 6),
    hidden_size=st.integers(2, 6),
    num_layers=st.integers(1, 3),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    t=st.integers(1, 7),
    n=st.integers(2, 5),
    seed=st.integers(0, 2**16),
)
def test_random_configurations_match_torch(
    cell, input_size, hidden_size, num_layers, bidirectional, batch_first, t, n, seed
):
    kind, extra = CELLS[cell]
    if "proj_size" in extra:
        extra = {"proj_size": hidden_size - 1}
    cfg = dict(
        input_size=input_size,
        hidden_size=hidden_size,
        num_layers=num_layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
        **extra,
    )
    m = make_module(kind, cfg, seed)
    p = make_problem(
        m,
        np.random.default_rng(seed),
        t=t,
        n=n,
        input_size=input_size,
        batch_first=batch_first,
    )
    out, state, tape = m.forward(p.x, p.hx, p.lengths)
    got = (out, state, *m.backward(tape, p.g_out, p.g_state))
    ref = torch_reference(kind, cfg, m.state_dict(), p.x, p.hx, p.lengths, p.g_out, p.g_state)
    assert_matches_reference(got, ref)


# --------------------------------------------------------------------------------------------
# float32
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_float32_forward_and_backward_match_torch(cell, bidirectional):
    kind = CELLS[cell][0]
    cfg = config(cell, num_layers=2, bidirectional=bidirectional, batch_first=True)
    m = make_module(kind, cfg, seed=3, dtype=np.float32)
    p = make_problem(
        m,
        np.random.default_rng(3),
        t=T,
        n=N,
        input_size=INPUT,
        batch_first=True,
        dtype=np.float32,
    )
    out, state, tape = m.forward(p.x, p.hx, p.lengths)
    assert out.dtype == np.float32
    assert all(s.dtype == np.float32 for s in (state if kind == "LSTM" else [state]))
    ref = torch_reference(
        kind, cfg, m.state_dict(), p.x, p.hx, p.lengths, p.g_out, p.g_state, dtype=torch.float32
    )
    assert_tree_close(out, ref.out, rtol=F32_RTOL, atol=F32_ATOL, name="out")
    assert_tree_close(state, ref.state, rtol=F32_RTOL, atol=F32_ATOL, name="state")
    dx, dhx, grads = m.backward(tape, p.g_out, p.g_state)
    assert dx.dtype == np.float32 and all(g.dtype == np.float32 for g in grads.values())
    tol = {"rtol": F32_GRAD_RTOL, "atol": F32_GRAD_ATOL}
    assert_tree_close(dx, ref.dx, name="dx", **tol)
    assert_tree_close(dhx, ref.dhx, name="dhx", **tol)
    assert_grads_close(grads, ref.grads, **tol)


# --------------------------------------------------------------------------------------------
# init_state (a constant and learned initial states are what torch's explicit hx gives)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["rnn_tanh", "gru", "lstm", "lstm_proj"])
def test_constant_init_state_equals_torch_with_constant_hx(cell):
    kind = CELLS[cell][0]
    cfg = config(cell, num_layers=2, bidirectional=True, batch_first=False)
    m = make_module(kind, {**cfg, "init_state": 0.5}, seed=21)
    p = make_problem(m, np.random.default_rng(21), t=T, n=N, input_size=INPUT, with_hx=False)
    out, state, tape = m.forward(p.x, None, p.lengths)
    got = (out, state, *m.backward(tape, p.g_out, p.g_state))
    hx = tree_map(lambda s: np.full_like(s, 0.5), state)
    ref = torch_reference(kind, cfg, m.state_dict(), p.x, hx, p.lengths, p.g_out, p.g_state)
    assert_matches_reference(got, ref)


@pytest.mark.parametrize("cell", ["rnn_tanh", "gru", "lstm", "lstm_proj"])
def test_learned_init_state_equals_torch_with_broadcast_hx(cell):
    kind = CELLS[cell][0]
    cfg = config(cell, num_layers=2, bidirectional=True, batch_first=True)
    m = make_module(kind, {**cfg, "init_state": "learned"}, seed=22)
    sd = m.state_dict()
    h_out = cfg.get("proj_size") or HIDDEN
    suffixes = [f"l{k}{d}" for k in range(2) for d in ("", "_reverse")]  # index 2*k + d
    for s in suffixes:
        assert sd[f"h0_{s}"].shape == (h_out,)
        assert np.any(sd[f"h0_{s}"] != 0)
        if kind == "LSTM":
            assert sd[f"c0_{s}"].shape == (HIDDEN,)
    p = make_problem(
        m, np.random.default_rng(22), t=T, n=N, input_size=INPUT, batch_first=True, with_hx=False
    )
    out, state, tape = m.forward(p.x, None, p.lengths)
    dx, dhx, grads = m.backward(tape, p.g_out, p.g_state)

    h0 = np.stack([np.broadcast_to(sd[f"h0_{s}"], (N, h_out)) for s in suffixes])
    hx = h0
    if kind == "LSTM":
        hx = (h0, np.stack([np.broadcast_to(sd[f"c0_{s}"], (N, HIDDEN)) for s in suffixes]))
    torch_sd = {k: v for k, v in sd.items() if not k.startswith(("h0_", "c0_"))}
    ref = torch_reference(kind, cfg, torch_sd, p.x, hx, p.lengths, p.g_out, p.g_state)

    close = dict(rtol=TORCH_RTOL, atol=TORCH_ATOL)
    assert_tree_close(out, ref.out, name="out", **close)
    assert_tree_close(state, ref.state, name="state", **close)
    assert_tree_close(dx, ref.dx, name="dx", **close)
    assert_tree_close(dhx, ref.dhx, name="dhx", **close)
    assert_grads_close({k: v for k, v in grads.items() if k in ref.grads}, ref.grads, **close)
    ref_dh = ref.dhx[0] if kind == "LSTM" else ref.dhx
    for i, s in enumerate(suffixes):
        assert_tree_close(grads[f"h0_{s}"], ref_dh[i].sum(axis=0), name=f"h0_{s}", **close)
        if kind == "LSTM":
            c_grad = ref.dhx[1][i].sum(axis=0)
            assert_tree_close(grads[f"c0_{s}"], c_grad, name=f"c0_{s}", **close)


@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_given_hx_overrides_learned_init_state(kind):
    cfg = dict(input_size=INPUT, hidden_size=HIDDEN, bidirectional=True)
    m = make_module(kind, {**cfg, "init_state": "learned"}, seed=23)
    p = make_problem(m, np.random.default_rng(23), t=T, n=N, input_size=INPUT)
    out, _, tape = m.forward(p.x, p.hx, p.lengths)
    _, _, grads = m.backward(tape, p.g_out, p.g_state)
    torch_sd = {k: v for k, v in m.state_dict().items() if not k.startswith(("h0_", "c0_"))}
    ref = torch_reference(kind, cfg, torch_sd, p.x, p.hx, p.lengths, p.g_out, p.g_state)
    assert_tree_close(out, ref.out, rtol=TORCH_RTOL, atol=TORCH_ATOL, name="out")
    for name in m.state_dict():
        if name.startswith(("h0_", "c0_")):
            np.testing.assert_array_equal(grads[name], 0.0, err_msg=name)


# --------------------------------------------------------------------------------------------
# state_dict
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", ["rnn_tanh", "gru", "lstm", "lstm_proj"])
def test_state_dict_round_trip_with_torch(cell, bidirectional, num_layers):
    kind = CELLS[cell][0]
    cfg = config(cell, num_layers, bidirectional, batch_first=False)
    torch.manual_seed(5)
    tm = TORCH_CLASSES[kind](**cfg, dtype=torch.float64)
    torch_sd = {k: v.detach().numpy().copy() for k, v in tm.state_dict().items()}

    m = getattr(birnn, kind)(**cfg, dtype=np.float64, seed=0)
    mine = m.state_dict()
    assert sorted(mine) == sorted(torch_sd), "names differ from torch's"
    assert sorted(m.params) == sorted(mine)
    for name, value in torch_sd.items():
        assert mine[name].shape == value.shape, name

    m.load_state_dict(torch_sd)
    back = m.state_dict()
    for name, value in torch_sd.items():
        np.testing.assert_array_equal(back[name], value, err_msg=name)

    # state_dict returns copies: writing to one does not touch the module
    first = next(iter(back))
    back[first][...] = 123.0
    assert not np.any(m.state_dict()[first] == 123.0)

    # and torch accepts birnn's state_dict (strict), giving the same forward
    tm2 = torch_module(kind, cfg, m.state_dict())
    x = np.random.default_rng(0).standard_normal((T, N, INPUT))
    with torch.no_grad():
        ref_out = tm2(torch.from_numpy(x))[0].numpy()
    out, _ = m(x)
    np.testing.assert_allclose(out, ref_out, rtol=TORCH_RTOL, atol=TORCH_ATOL)


def test_default_init_is_torch_like_uniform():
    """Default init: every parameter U(-1/sqrt(H), 1/sqrt(H)), seeded by ``seed``."""
    h = 16
    m1 = birnn.LSTM(INPUT, h, num_layers=2, bidirectional=True, dtype=np.float64, seed=1)
    m2 = birnn.LSTM(INPUT, h, num_layers=2, bidirectional=True, dtype=np.float64, seed=1)
    m3 = birnn.LSTM(INPUT, h, num_layers=2, bidirectional=True, dtype=np.float64, seed=2)
    bound = 1 / np.sqrt(h)
    for name, v in m1.state_dict().items():
        assert np.all(np.abs(v) <= bound), name
        assert np.std(v) > 0.3 * bound, name  # not constant
        np.testing.assert_array_equal(v, m2.state_dict()[name], err_msg=name)
    assert not np.array_equal(m1.state_dict()["weight_ih_l0"], m3.state_dict()["weight_ih_l0"])


# --------------------------------------------------------------------------------------------
# Final states versus outputs, padding
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", list(CELLS))
def test_full_length_final_states_are_output_ends(cell):
    kind = CELLS[cell][0]
    cfg = config(cell, num_layers=2, bidirectional=True, batch_first=False)
    m = make_module(kind, cfg, seed=31)
    x = np.random.default_rng(31).standard_normal((T, N, INPUT))
    out, state = m(x)
    h_n = state[0] if kind == "LSTM" else state
    h = cfg.get("proj_size") or HIDDEN
    assert out.shape == (T, N, 2 * h)
    np.testing.assert_array_equal(h_n[-2], out[-1, :, :h])
    np.testing.assert_array_equal(h_n[-1], out[0, :, h:])


@pytest.mark.parametrize("batch_first", [False, True], ids=["tm", "bf"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_ragged_final_states_are_taken_at_each_length(cell, batch_first):
    kind = CELLS[cell][0]
    cfg = config(cell, num_layers=2, bidirectional=True, batch_first=batch_first)
    m = make_module(kind, cfg, seed=32)
    rng = np.random.default_rng(32)
    x = rng.standard_normal((N, T, INPUT) if batch_first else (T, N, INPUT))
    lengths = random_lengths(rng, N, T)
    out, state = m(x, None, lengths)
    h_n = state[0] if kind == "LSTM" else state
    out_tm = out.transpose(1, 0, 2) if batch_first else out
    h = cfg.get("proj_size") or HIDDEN
    for b, length in enumerate(lengths):
        np.testing.assert_array_equal(h_n[-2, b], out_tm[length - 1, b, :h])
        np.testing.assert_array_equal(h_n[-1, b], out_tm[0, b, h:])


@pytest.mark.parametrize("batch_first", [False, True], ids=["tm", "bf"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_padded_positions_are_exactly_zero(cell, batch_first):
    kind = CELLS[cell][0]
    cfg = config(cell, num_layers=2, bidirectional=True, batch_first=batch_first)
    m = make_module(kind, cfg, seed=33)
    p = make_problem(
        m, np.random.default_rng(33), t=T, n=N, input_size=INPUT, batch_first=batch_first
    )
    out, _, tape = m.forward(p.x, p.hx, p.lengths)
    pad = ~np.broadcast_to(p.mask, out.shape)
    assert pad.any()
    assert np.all(out[pad] == 0.0)
    assert np.count_nonzero(out[~pad]) > out[~pad].size // 2  # the valid part is not blank
    dx, _, _ = m.backward(tape, p.g_out, p.g_state)
    assert np.all(dx[~np.broadcast_to(p.mask, dx.shape)] == 0.0)


@pytest.mark.parametrize("cell", ["rnn_tanh", "gru", "lstm"])
def test_gradients_arriving_at_padding_are_ignored(cell):
    """Outputs past a length are constant zeros, so upstream gradients there change nothing."""
    kind = CELLS[cell][0]
    cfg = config(cell, num_layers=2, bidirectional=True, batch_first=True)
    m = make_module(kind, cfg, seed=34)
    rng = np.random.default_rng(34)
    p = make_problem(m, rng, t=T, n=N, input_size=INPUT, batch_first=True)
    noisy = p.g_out + rng.standard_normal(p.g_out.shape) * ~p.mask
    _, _, tape = m.forward(p.x, p.hx, p.lengths)
    clean_res = m.backward(tape, p.g_out, p.g_state, retain_tape=True)
    noisy_res = m.backward(tape, noisy, p.g_state)
    for a, b, name in zip(clean_res[:2], noisy_res[:2], ["dx", "dhx"], strict=True):
        assert_tree_close(b, a, rtol=1e-12, atol=1e-14, name=name)
    assert_grads_close(noisy_res[2], clean_res[2], rtol=1e-12, atol=1e-14)


def test_padding_values_of_x_do_not_matter():
    cfg = config("lstm", num_layers=2, bidirectional=True, batch_first=False)
    m = make_module("LSTM", cfg, seed=35)
    rng = np.random.default_rng(35)
    p = make_problem(m, rng, t=T, n=N, input_size=INPUT)
    x2 = np.where(p.mask, p.x, 50.0 * rng.standard_normal(p.x.shape))
    out1, state1 = m(p.x, p.hx, p.lengths)
    out2, state2 = m(x2, p.hx, p.lengths)
    np.testing.assert_array_equal(out2, out1)
    assert_tree_close(state2, state1, rtol=0, atol=0, name="state")


@pytest.mark.parametrize("cell", list(CELLS))
def test_uninitialised_memory_never_reaches_results(cell):
    """Padded rows of per-step buffers must never be read, not even multiplied by zero."""
    kind = CELLS[cell][0]
    cfg = config(cell, num_layers=2, bidirectional=True, batch_first=False)
    m = make_module(kind, cfg, seed=36)
    p = make_problem(m, np.random.default_rng(36), t=T, n=N, input_size=INPUT)
    poison_free_memory()
    out, state, tape = m.forward(p.x, p.hx, p.lengths)
    poison_free_memory()
    got = (out, state, *m.backward(tape, p.g_out, p.g_state))
    ref = torch_reference(kind, cfg, m.state_dict(), p.x, p.hx, p.lengths, p.g_out, p.g_state)
    assert_matches_reference(got, ref)
