"""Pooling over time ("mean", "max", "final", combinations): values against per-sequence loops,
"final" against a bidirectional LSTM's own final states, gradients against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import birnn
from birnn.layers import POOLING_MODES, Pooling
from gradcheck import check_gradients, upstream
from helpers import random_lengths

N, T, W, SPLIT = 5, 6, 7, 3


def reference(mode: str, h: np.ndarray, lengths: np.ndarray, split: int | None) -> np.ndarray:
    """One sequence at a time, over its valid steps only."""
    rows = []
    for hn, length in zip(h, lengths):
        valid = hn[:length]
        if mode == "mean":
            rows.append(valid.mean(axis=0))
        elif mode == "max":
            rows.append(valid.max(axis=0))
        else:
            s = W if split is None else split
            rows.append(np.concatenate([valid[-1, :s], valid[0, s:]]))
    return np.array(rows)


def problem(seed: int):
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((N, T, W))
    lengths = random_lengths(rng, N, T)
    h[np.arange(T)[None, :] >= lengths[:, None]] = 50.0  # padding that would win a max
    return rng, h, lengths


@pytest.mark.parametrize("mode", ["mean", "max", "final"])
@pytest.mark.parametrize("split", [None, SPLIT])
def test_pooling_values_and_gradients(mode, split):
    rng, h, lengths = problem(0)
    pool = Pooling(mode, split=split)
    y, cache = pool.forward(h, lengths)
    np.testing.assert_allclose(y, reference(mode, h, lengths, split), rtol=1e-14, atol=1e-14)
    g = upstream(rng, y.shape)
    dh, grads = pool.backward(cache, g)
    assert grads == {} and dh.shape == h.shape
    assert not np.any(dh[np.arange(T)[None, :] >= lengths[:, None]])  # zero on padding
    check_gradients(lambda: float(np.sum(pool.forward(h, lengths)[0] * g)), {"h": h}, {"h": dh})


@pytest.mark.parametrize("mode", ["final+max", "mean+max", "max+mean+final"])
def test_combined_modes_concatenate(mode):
    rng, h, lengths = problem(1)
    pool = Pooling(mode, split=SPLIT)
    y, cache = pool.forward(h, lengths)
    parts = [reference(m, h, lengths, SPLIT) for m in mode.split("+")]
    np.testing.assert_allclose(y, np.concatenate(parts, axis=1), rtol=1e-14, atol=1e-14)
    assert y.shape == (N, pool.output_size(W))
    g = upstream(rng, y.shape)
    dh, _ = pool.backward(cache, g)
    check_gradients(lambda: float(np.sum(pool.forward(h, lengths)[0] * g)), {"h": h}, {"h": dh})


def test_max_gradient_goes_to_the_first_of_tied_maxima():
    h = np.array([[[1.0, 2.0], [3.0, 2.0], [3.0, 0.0], [9.0, 9.0]]])  # t=3 is padding
    pool = Pooling("max")
    y, cache = pool.forward(h, np.array([3]))
    np.testing.assert_array_equal(y, [[3.0, 2.0]])
    dh, _ = pool.backward(cache, np.array([[1.0, 10.0]]))
    np.testing.assert_array_equal(dh[0], [[0, 10], [1, 0], [0, 0], [0, 0]])


def test_final_is_both_directions_final_states_of_a_bilstm():
    rng = np.random.default_rng(2)
    lstm = birnn.LSTM(3, (4, 2), batch_first=True, bidirectional=True, dtype=np.float64, seed=3)
    x = rng.standard_normal((N, T, 3))
    lengths = random_lengths(rng, N, T)
    out, (h_n, _) = lstm(x, None, lengths)
    y, _ = Pooling("final", split=4).forward(out, lengths)
    np.testing.assert_allclose(y, np.concatenate(h_n, axis=1), rtol=1e-14, atol=1e-14)
    uni = birnn.GRU(3, 5, batch_first=True, dtype=np.float64, seed=4)
    out, h_n = uni(x, None, lengths)
    y, _ = Pooling("final").forward(out, lengths)
    np.testing.assert_allclose(y, h_n[0], rtol=1e-14, atol=1e-14)


def test_no_lengths_means_every_step_and_dtype_is_kept():
    h = np.random.default_rng(5).standard_normal((2, 3, 4)).astype(np.float32)
    y, cache = Pooling("mean").forward(h)
    np.testing.assert_allclose(y, h.mean(axis=1), rtol=1e-6)
    assert y.dtype == np.float32
    assert Pooling("mean").backward(cache, np.ones((2, 4)))[0].dtype == np.float32
    assert set(POOLING_MODES) == {"mean", "max", "final"}


def test_pooling_bad_input():
    h = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"one of.*'avg'"):
        Pooling("avg")
    with pytest.raises(ValueError, match=r"'final\+sum'"):
        Pooling("final+sum")
    with pytest.raises(TypeError, match=r"string"):
        Pooling(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[1, 3\].*max 4"):
        Pooling("mean").forward(h, np.array([1, 4]))
    with pytest.raises(ValueError, match=r"shape \(2,\).*\(3,\)"):
        Pooling("mean").forward(h, np.array([1, 2, 3]))
    with pytest.raises(ValueError, match=r"\(N, T, W\).*\(3, 4\)"):
        Pooling("mean").forward(h[0])
    with pytest.raises(TypeError, match=r"floating"):
        Pooling("max").forward(h.astype(int))
    with pytest.raises(ValueError, match=r"split=5"):
        Pooling("final", split=5).forward(h, np.array([1, 2]))
    _, cache = Pooling("final+max").forward(h, np.array([1, 2]))
    with pytest.raises(ValueError, match=r"\(2, 8\).*\(2, 4\)"):
        Pooling("final+max").backward(cache, np.zeros((2, 4)))
