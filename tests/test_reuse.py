"""Results never alias memory a later call reuses (modules keep a workspace between calls)."""

from __future__ import annotations

import numpy as np
import pytest

import birnn

CELLS = [birnn.RNN, birnn.GRU, birnn.LSTM]


def _state_copy(state):
    if isinstance(state, tuple):
        return tuple(s.copy() for s in state)
    return state.copy()


LENGTHS = {"full": None, "sorted": [6, 5, 3, 2, 1], "unsorted": [6, 2, 5, 1, 3]}


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("lengths", LENGTHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_first", [False, True])
def test_inference_results_survive_the_next_call(cls, bidirectional, lengths, dtype, batch_first):
    """Outputs and states are the caller's, whatever the layout and order of the batch (the
    layers below the top one write their outputs into a workspace at inference)."""
    rng = np.random.default_rng(0)
    m = cls(3, 4, num_layers=2, bidirectional=bidirectional, dtype=dtype, seed=1,
            batch_first=batch_first)  # fmt: skip
    x1, x2 = rng.standard_normal((2, 6, 5, 3)).astype(dtype)
    if batch_first:
        x1, x2 = np.ascontiguousarray(x1.swapaxes(0, 1)), np.ascontiguousarray(x2.swapaxes(0, 1))
    lengths = None if LENGTHS[lengths] is None else np.array(LENGTHS[lengths])
    out1, state1 = m(x1, lengths=lengths)
    kept_out, kept_state = out1.copy(), _state_copy(state1)
    m(x2, lengths=lengths)
    np.testing.assert_array_equal(out1, kept_out)
    for a, b in zip(np.atleast_1d(state1), np.atleast_1d(kept_state)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls", CELLS)
def test_tapes_used_out_of_order_give_the_same_gradients(cls):
    rng = np.random.default_rng(2)
    m = cls(3, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=3)
    x1, x2 = rng.standard_normal((2, 6, 5, 3))
    lengths = np.array([6, 2, 5, 1, 3])
    g = rng.standard_normal((6, 5, 8))
    _, _, tape1 = m.forward(x1, lengths=lengths, training=True)
    dx1, _, grads1 = m.backward(tape1, g)
    _, _, tape2 = m.forward(x2, lengths=lengths, training=True)
    m(x2)  # an inference call in between reuses the workspace
    _, _, tape1_again = m.forward(x1, lengths=lengths, training=True)
    dx2, _, _ = m.backward(tape2, g)
    dx1_again, _, grads1_again = m.backward(tape1_again, g)
    np.testing.assert_array_equal(dx1, dx1_again)
    for name in grads1:
        np.testing.assert_array_equal(grads1[name], grads1_again[name])
    assert not np.allclose(dx1, dx2)  # the two tapes really differ


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_changing_outputs_in_place_does_not_touch_the_tape(cls, bidirectional):
    rng = np.random.default_rng(4)
    m = cls(3, 4, bidirectional=bidirectional, dtype=np.float64, seed=5)
    x = rng.standard_normal((6, 5, 3))
    out, state, tape = m.forward(x)
    g = rng.standard_normal(out.shape)
    expected = m.backward(tape, g, retain_tape=True)
    out *= 0.0  # a caller reusing its output buffer
    (state[0] if isinstance(state, tuple) else state)[...] = 0.0
    again = m.backward(tape, g)
    np.testing.assert_array_equal(expected[0], again[0])
    for name in expected[2]:
        np.testing.assert_array_equal(expected[2][name], again[2][name])


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("batch_first", [False, True])
def test_changing_the_input_after_forward_does_not_reach_backward(cls, batch_first):
    """The tape keeps the layers' inputs (not copies of them per direction): the caller's own x
    must still be copied, or writing to it between forward and backward would change dW_ih."""
    rng = np.random.default_rng(4)
    m = cls(3, 4, num_layers=2, bidirectional=True, batch_first=batch_first, dtype=np.float64)
    x = rng.standard_normal((5, 6, 3))
    d_out = rng.standard_normal((5, 6, 8))
    _, _, tape = m.forward(x, training=True)
    expected = m.backward(tape, d_out)[2]
    _, _, tape = m.forward(x, training=True)
    x[...] = 0
    for name, grad in m.backward(tape, d_out)[2].items():
        np.testing.assert_array_equal(grad, expected[name], err_msg=name)


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("lengths", LENGTHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stacked_inference_equals_the_numpy_loop(cls, lengths, dtype):
    """Layers in a row share the workspace: a layer's output written there must not be the
    room the next layer writes its own output into while reading it (three layers: the rooms
    alternate)."""
    from birnn import backend

    rng = np.random.default_rng(4)
    m = cls(3, 4, num_layers=3, bidirectional=True, dtype=dtype, seed=5)
    x = rng.standard_normal((6, 5, 3)).astype(dtype)
    lens = None if LENGTHS[lengths] is None else np.array(LENGTHS[lengths])
    out, state = m(x, lengths=lens)
    saved = backend._settings.backend
    try:
        birnn.set_backend("numpy")
        want_out, want_state = m(x, lengths=lens)
    finally:
        backend._settings.backend = saved
    tol = 2e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, want_out, rtol=0, atol=tol)
    for got, want in zip(np.atleast_1d(state), np.atleast_1d(want_state)):
        np.testing.assert_allclose(got, want, rtol=0, atol=tol)
