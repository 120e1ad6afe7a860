"""birnn.explain at the level of a recurrent module: the exact split of its output by direction,
the gradient paths through each direction (zero structure, finite differences), and the
per-step state gradients the backward hands to ``state_grad_hook`` (against PyTorch)."""

from __future__ import annotations

import numpy as np
import pytest

import birnn
from birnn.explain import path_gradients, split_output
from gradcheck import check_gradients
from helpers import make_module, random_lengths, requires_torch, torch

KINDS = ("RNN", "GRU", "LSTM")


def _run(m, rng, t=6, n=4, dtype=np.float64):
    x = rng.standard_normal((t, n, m.input_size)).astype(dtype)
    lengths = random_lengths(rng, n, t)
    out, _, tape = m.forward(x, lengths=lengths)
    return x, lengths, out, tape


@pytest.mark.parametrize("merge", ["concat", "sum", "mean"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-6), (np.float64, 1e-12)])
def test_output_is_the_sum_of_its_direction_parts(merge, layers, dtype, tol):
    rng = np.random.default_rng(0)
    for kind in KINDS:
        config = dict(input_size=3, hidden_size=4, num_layers=layers, bidirectional=True)
        m = make_module(kind, config | {"merge": merge}, seed=1, dtype=dtype)
        _, _, out, tape = _run(m, rng, dtype=dtype)
        split = split_output(m, tape)
        np.testing.assert_allclose(split.forward + split.backward, out, rtol=0, atol=tol)
        assert split.merge == merge and split.layers == layers
        # each part is one chain's: the backward part of the last valid step of a sequence is
        # the backward chain's first state, the forward part its forward chain's last
        h_fwd, h_bwd = m.direction_states(tape)
        assert not np.allclose(split.forward, 0) and not np.allclose(split.backward, 0)
        if merge == "concat":
            np.testing.assert_array_equal(split.forward[..., :4], h_fwd)
            np.testing.assert_array_equal(split.backward[..., 4:], h_bwd)
            assert np.all(split.forward[..., 4:] == 0) and np.all(split.backward[..., :4] == 0)


def test_unidirectional_output_is_all_forward():
    m = make_module("LSTM", dict(input_size=3, hidden_size=4), seed=1)
    _, _, out, tape = _run(m, np.random.default_rng(0))
    split = split_output(m, tape)
    np.testing.assert_array_equal(split.forward, out)
    assert split.merge is None and np.all(split.backward == 0)


def test_the_multiplying_merge_has_no_split():
    m = make_module("GRU", dict(input_size=3, hidden_size=4, bidirectional=True, merge="mul"), 1)
    _, _, _, tape = _run(m, np.random.default_rng(0))
    with pytest.raises(ValueError, match="'mul' multiplies the directions"):
        split_output(m, tape)
    assert path_gradients(m, tape, np.ones(tape.out_shape)).mixed is None  # paths still exist


def _one_output_gradient(rng, out, lengths):
    """d_out nonzero at one step t_n per sequence (< its length): row n differentiates the
    output at t_n only."""
    d = np.zeros_like(out)
    steps = np.array([rng.integers(0, n) for n in lengths])
    for row, t in enumerate(steps):
        d[t, row] = rng.standard_normal(out.shape[-1])
    return d, steps


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layers", [1, 3])
def test_each_path_reaches_only_its_own_side(kind, layers, birnn_backend):
    rng = np.random.default_rng(2)
    m = make_module(kind, dict(input_size=3, hidden_size=4, num_layers=layers,
                               bidirectional=True), seed=3)  # fmt: skip
    _, lengths, out, tape = _run(m, rng, t=7, n=5)
    d_out, steps = _one_output_gradient(rng, out, lengths)
    paths = path_gradients(m, tape, d_out)
    full, _, _ = m.backward(tape, d_out)
    for row, t in enumerate(steps):
        assert np.all(paths.forward[t + 1 :, row] == 0)  # exactly: nothing after t
        assert np.all(paths.backward[:t, row] == 0)  # exactly: nothing before t
        assert np.any(paths.forward[: t + 1, row] != 0) and np.any(paths.backward[t:, row] != 0)
    np.testing.assert_allclose(paths.full, full, rtol=0, atol=1e-12)
    total = paths.forward + paths.backward + (0 if paths.mixed is None else paths.mixed)
    np.testing.assert_allclose(total, full, rtol=0, atol=1e-12)
    if layers == 1:
        assert paths.mixed is None
    else:  # mixed paths change direction between layers: they reach both sides
        assert np.abs(paths.mixed).max() > 1e-3


@pytest.mark.parametrize("kind", KINDS)
def test_each_chains_gradient_equals_finite_differences(kind):
    """One layer: the forward path's gradient is the derivative of the output when only the
    forward direction sees x perturbed (two unidirectional twins loading the layer's weights)."""
    rng = np.random.default_rng(4)
    m = make_module(kind, dict(input_size=3, hidden_size=4, bidirectional=True), seed=5)
    x, lengths, out, tape = _run(m, rng, t=5, n=3)
    g = rng.standard_normal(out.shape) * (np.arange(5)[:, None] < lengths[None, :])[..., None]
    paths = path_gradients(m, tape, g)
    sd = m.state_dict()
    twins = []
    for suffix in ("", "_reverse"):
        twin = getattr(birnn, kind)(3, 4, dtype=np.float64)
        twin.load_state_dict({k.replace(suffix, "") if suffix else k: v for k, v in sd.items()
                              if k.endswith("_l0" + suffix)})  # fmt: skip
        twins.append(twin)
    x_fwd, x_bwd = x.copy(), x.copy()

    def score() -> float:
        h_fwd, _ = twins[0](x_fwd, lengths=lengths)
        flipped, _ = twins[1](birnn.flip_sequences(x_bwd, lengths), lengths=lengths)
        merged = np.concatenate([h_fwd, birnn.flip_sequences(flipped, lengths)], axis=-1)
        return float(np.sum(merged * g))

    np.testing.assert_allclose(score(), float(np.sum(out * g)), rtol=1e-12)
    check_gradients(score, {"x_fwd": x_fwd, "x_bwd": x_bwd},
                    {"x_fwd": paths.forward, "x_bwd": paths.backward}, max_entries=40)  # fmt: skip


def test_through_is_checked():
    m = make_module("RNN", dict(input_size=3, hidden_size=4, bidirectional=True), seed=1)
    _, _, out, tape = _run(m, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"through must have shape \(2, 4\)"):
        m.backward(tape, np.ones_like(out), through=np.ones((2, 3)))
    with pytest.raises(TypeError, match="through must be an array of a floating dtype"):
        m.backward(tape, np.ones_like(out), through=np.ones((2, 4), dtype=int))


# ---- dL/dh_t per chain and step: the hook, against PyTorch's autograd on a per-step loop -------


def _torch_state_grads(m, x, lengths, g):
    """dL/dh_t of both chains of a one-layer bidirectional module, L = sum(out * g), by a
    per-step torch loop over each sequence (the cells of torch.nn, autograd on every h_t)."""
    cell_class = {"RNN": torch.nn.RNNCell, "GRU": torch.nn.GRUCell, "LSTM": torch.nn.LSTMCell}
    kind = type(m).__name__
    sd = m.state_dict()
    out = []
    for suffix in ("", "_reverse"):
        cell = cell_class[kind](x.shape[2], 4, dtype=torch.float64)
        cell.load_state_dict({k.replace("_l0" + suffix, ""): torch.tensor(v) for k, v in
                              sd.items() if k.endswith("_l0" + suffix)})  # fmt: skip
        grads = np.zeros((*x.shape[:2], 4))
        for n, length in enumerate(lengths):
            order = range(length) if not suffix else range(length - 1, -1, -1)
            h = torch.zeros(1, 4, dtype=torch.float64)
            c = torch.zeros(1, 4, dtype=torch.float64)
            states, loss = {}, 0
            for t in order:
                step = torch.tensor(x[t, n][None])
                if kind == "LSTM":
                    h, c = cell(step, (h, c))
                else:
                    h = cell(step, h)
                h.retain_grad()
                states[t] = h
                half = slice(0, 4) if not suffix else slice(4, 8)
                loss = loss + (h[0] * torch.tensor(g[t, n, half])).sum()
            loss.backward()
            for t, h_t in states.items():
                grads[t, n] = h_t.grad[0].numpy()
        out.append(grads)
    return out


@requires_torch
@pytest.mark.parametrize("kind", KINDS)
def test_the_hook_receives_dl_dh_of_every_step_of_every_chain(kind, birnn_backend):
    rng = np.random.default_rng(6)
    m = make_module(kind, dict(input_size=3, hidden_size=4, bidirectional=True), seed=7)
    x, lengths, out, tape = _run(m, rng, t=5, n=3)
    g = rng.standard_normal(out.shape)
    received = []
    m.state_grad_hook = lambda grads, lens: received.append((grads, lens))
    dx_traced, _, grads_traced = m.backward(tape, g, retain_tape=True)
    m.state_grad_hook = None
    dx, _, grads = m.backward(tape, g)
    ((state_grads, lens),) = received
    np.testing.assert_array_equal(lens, lengths)
    expected = _torch_state_grads(m, x, lengths, g)
    for got, want in zip(state_grads, expected):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dx_traced, dx, rtol=1e-12, atol=1e-13)  # tracing changes nothing
    for name in grads:
        np.testing.assert_allclose(grads_traced[name], grads[name], rtol=1e-12, atol=1e-13)
