"""Embedding, Linear, Dropout, word dropout and character features: values, gradients against
finite differences (float64, random parameters and upstream gradients), and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import birnn
from birnn.layers import (
    CharFeatures,
    Dropout,
    Embedding,
    Linear,
    prefixed,
    scatter_add_rows,
    unique_words,
    word_dropout,
)
from birnn.layers.chars import length_groups
from gradcheck import check_gradients, upstream
from helpers import random_lengths


def weighted(g: np.ndarray):
    """The scalar loss sum(y * g) of an output y."""
    return lambda y: float(np.sum(y * g))


# ---- Embedding ------------------------------------------------------------------------------


def test_embedding_looks_up_rows_and_initialises_with_unit_expected_norm():
    rng = np.random.default_rng(0)
    emb = Embedding(50, 12, rng, padding_idx=3)
    w = emb.params["weight"]
    assert w.dtype == np.float32 and w.shape == (50, 12)
    assert np.all(np.abs(w) <= np.sqrt(3 / 12)) and not np.any(w[3])
    ids = rng.integers(0, 50, (4, 6))
    y, _ = emb.forward(ids)
    np.testing.assert_array_equal(y, w[ids])
    y[0, 0] = 99  # a new array, not a view of the table
    assert not np.any(w == 99)


def test_embedding_gradient_sums_repeated_rows_and_skips_padding():
    rng = np.random.default_rng(1)
    emb = Embedding(7, 5, rng, dtype=np.float64, padding_idx=0)
    emb.params["weight"][0] = rng.standard_normal(5)  # padding row non-zero: still no gradient
    ids = np.array([[1, 2, 1, 0], [6, 1, 0, 0], [2, 2, 5, 3]])  # repeats and padding
    y, cache = emb.forward(ids)
    g = upstream(rng, y.shape)
    d_none, grads = emb.backward(cache, g)
    assert d_none is None
    expected = np.zeros((7, 5))
    np.add.at(expected, ids, g)
    expected[0] = 0
    np.testing.assert_allclose(grads["weight"], expected, rtol=1e-14, atol=1e-14)
    assert not np.any(grads["weight"][[0, 4]])
    # the loss does depend on the padding row; the convention (as torch) freezes it
    emb_free = Embedding(7, 5, np.random.default_rng(1), dtype=np.float64)
    emb_free.params["weight"][:] = emb.params["weight"]
    _, free = emb_free.backward(emb_free.forward(ids)[1], g)
    loss = weighted(g)
    check_gradients(lambda: loss(emb_free.forward(ids)[0]), emb_free.params, free)


def test_scatter_add_rows_matches_add_at_on_any_shape():
    rng = np.random.default_rng(2)
    index = rng.integers(0, 9, (3, 4, 5))
    d = rng.standard_normal((3, 4, 5, 2))
    expected = np.zeros((11, 2))
    np.add.at(expected, index, d)
    np.testing.assert_allclose(scatter_add_rows(d, index, 11), expected, rtol=1e-13, atol=1e-14)
    assert scatter_add_rows(d[:0], index[:0], 4).shape == (4, 2)


def test_embedding_bad_input():
    emb = Embedding(5, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"\[0, 5\).*max 5"):
        emb.forward(np.array([1, 5]))
    with pytest.raises(ValueError, match=r"min -1"):
        emb.forward(np.array([-1, 2]))
    with pytest.raises(TypeError, match=r"integer.*float64"):
        emb.forward(np.array([1.0]))
    _, cache = emb.forward(np.array([[1, 2]]))
    with pytest.raises(ValueError, match=r"\(1, 2, 3\).*\(2, 3\)"):
        emb.backward(cache, np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"padding_idx"):
        Embedding(5, 3, np.random.default_rng(0), padding_idx=5)
    with pytest.raises(TypeError, match=r"Generator.*received 0"):
        Embedding(5, 3, 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"float32 or float64.*int64"):
        Embedding(5, 3, np.random.default_rng(0), dtype=np.int64)


# ---- Linear ---------------------------------------------------------------------------------


def test_linear_matches_torch_layout_and_init_bounds():
    rng = np.random.default_rng(3)
    lin = Linear(16, 5, rng)
    w, b = lin.params["weight"], lin.params["bias"]
    assert w.shape == (5, 16) and b.shape == (5,) and w.dtype == np.float32
    assert np.abs(w).max() <= 0.25 and np.abs(b).max() <= 0.25
    x = rng.standard_normal((2, 3, 16)).astype(np.float32)
    y, _ = lin.forward(x)
    np.testing.assert_allclose(y, x @ w.T + b, rtol=1e-5, atol=1e-6)
    assert set(Linear(4, 2, rng, bias=False).params) == {"weight"}


@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradients(bias):
    rng = np.random.default_rng(4)
    lin = Linear(6, 4, rng, dtype=np.float64, bias=bias)
    if bias:
        lin.params["bias"][:] = rng.uniform(0.5, 1.5, 4) * rng.choice([-1, 1], 4)
    x = rng.standard_normal((3, 5, 6))
    y, cache = lin.forward(x)
    g = upstream(rng, y.shape)
    dx, grads = lin.backward(cache, g)
    dx_again, _ = lin.backward(cache, g)  # backward reads only the cache
    np.testing.assert_array_equal(dx, dx_again)
    loss = weighted(g)
    check_gradients(lambda: loss(lin.forward(x)[0]), {"x": x, **lin.params}, {"x": dx, **grads})


def test_linear_bad_input():
    lin = Linear(3, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\).*\(4, 2\)"):
        lin.forward(np.zeros((4, 2), np.float32))
    with pytest.raises(TypeError, match=r"floating dtype"):
        lin.forward(np.zeros((4, 3), np.int64))
    _, cache = lin.forward(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(4, 2\).*\(4, 3\)"):
        lin.backward(cache, np.zeros((4, 3), np.float32))


# ---- Dropout --------------------------------------------------------------------------------


def test_dropout_is_inverted_and_the_identity_outside_training():
    x = np.random.default_rng(5).standard_normal((200, 50))
    drop = Dropout(0.3)
    y, cache = drop.forward(x, training=True, rng=np.random.default_rng(6))
    kept = y != 0
    assert 0.65 < kept.mean() < 0.75
    np.testing.assert_allclose(y[kept], x[kept] / 0.7, rtol=1e-14)
    np.testing.assert_array_equal(cache.mask != 0, kept)
    for layer, training in ((drop, False), (Dropout(0.0), True)):
        same, c = layer.forward(x, training=training)  # no rng needed
        np.testing.assert_array_equal(same, x)
        assert c.mask is None and same is not x
        np.testing.assert_array_equal(layer.backward(c, x)[0], x)
    y32, _ = drop.forward(x.astype(np.float32), True, np.random.default_rng(6))
    assert y32.dtype == np.float32


def test_dropout_gradient_with_a_fixed_mask():
    rng = np.random.default_rng(7)
    drop = Dropout(0.4)
    x = rng.standard_normal((3, 4, 5))
    y, cache = drop.forward(x, training=True, rng=np.random.default_rng(8))
    g = upstream(rng, y.shape)
    dx, grads = drop.backward(cache, g)
    assert grads == {}
    loss = weighted(g)
    check_gradients(
        lambda: loss(drop.forward(x, True, np.random.default_rng(8))[0]), {"x": x}, {"x": dx}
    )


def test_dropout_bad_input():
    for p in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=rf"\[0, 1\).*{p}"):
            Dropout(p)
    with pytest.raises(TypeError, match=r"float in"):
        Dropout("0.5")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Generator.*None"):
        Dropout(0.5).forward(np.zeros(3), training=True)
    with pytest.raises(TypeError, match=r"floating dtype"):
        Dropout(0.5).forward(np.zeros(3, np.int64))


def test_word_dropout_replaces_only_eligible_tokens_at_the_rate():
    rng = np.random.default_rng(9)
    ids = rng.integers(2, 100, (100, 40))
    ids[:, 30:] = 0  # padding
    out = word_dropout(ids, 0.25, 1, rng, where=ids != 0)
    changed = out != ids
    assert np.all(out[changed] == 1) and not np.any(changed[:, 30:])
    assert 0.22 < changed[:, :30].mean() < 0.28
    assert ids.min() >= 0 and np.all(ids[:, 30:] == 0)  # the input is untouched
    np.testing.assert_array_equal(word_dropout(ids, 0.0, 1, rng), ids)
    with pytest.raises(ValueError, match=r"\[0, 1\).*received 1"):
        word_dropout(ids, 1, 1, rng)
    with pytest.raises(TypeError, match=r"boolean.*int64"):
        word_dropout(ids, 0.1, 1, rng, where=ids)
    with pytest.raises(ValueError, match=r"where.*\(100, 40\).*\(3,\)"):
        word_dropout(ids, 0.1, 1, rng, where=np.ones(3, bool))
    with pytest.raises(TypeError, match=r"integer array"):
        word_dropout(ids.astype(float), 0.1, 1, rng)


# ---- Character features ---------------------------------------------------------------------


def test_unique_words_round_trip():
    ids = np.array([[5, 3, 5, 0], [3, 9, 0, 0]])
    uniq, inverse = unique_words(ids)
    np.testing.assert_array_equal(uniq, [0, 3, 5, 9])
    np.testing.assert_array_equal(uniq[inverse], ids)
    assert inverse.shape == ids.shape


def test_char_features_at_inference_record_no_tape():
    rng = np.random.default_rng(12)
    cf = CharFeatures(30, 4, 3, rng, dtype=np.float64)
    chars, lengths = rng.integers(0, 30, (5, 6)), random_lengths(rng, 5, 6)
    trained, _ = cf.forward(chars, lengths)
    inferred, cache = cf.forward(chars, lengths, training=False)
    np.testing.assert_array_equal(inferred, trained)
    assert all(group.tape is None for group in cache.groups)
    with pytest.raises(ValueError, match="training=False"):
        cf.backward(cache, np.ones_like(inferred))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_char_features_are_the_final_states_of_a_bidirectional_rnn(cell):
    rng = np.random.default_rng(10)
    cf = CharFeatures(30, 4, 3, rng, dtype=np.float64, cell=cell)
    chars = rng.integers(0, 30, (5, 6))
    lengths = random_lengths(rng, 5, 6)
    feats, _ = cf.forward(chars, lengths)
    assert feats.shape == (5, 6) == (5, cf.output_size)
    # each word alone, unpadded, through the same network
    for w in range(5):
        alone, _ = cf.forward(chars[w : w + 1, : lengths[w]], lengths[w : w + 1])
        np.testing.assert_allclose(feats[w], alone[0], rtol=1e-12, atol=1e-12)
    # forward half: the forward direction's output at the last character; backward half: the
    # backward direction's output at the first character
    out, _ = cf.rnn(cf.embed.forward(chars)[0], None, lengths)
    last = out[np.arange(5), lengths - 1, :3]
    np.testing.assert_allclose(feats[:, :3], last, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(feats[:, 3:], out[:, 0, 3:], rtol=1e-12, atol=1e-12)


def test_char_features_params_are_dotted_and_live():
    rng = np.random.default_rng(11)
    cf = CharFeatures(12, 4, 3, rng)
    expected = prefixed("embed", cf.embed.params) | prefixed("rnn", dict(cf.rnn.params))
    assert list(cf.params) == list(expected)
    assert "embed.weight" in cf.params and "rnn.weight_hh_l0_reverse" in cf.params
    for name, value in expected.items():
        assert cf.params[name] is value
    assert isinstance(cf.rnn, birnn.LSTM)
    # the recurrent seed comes from rng: the same rng state builds the same network
    again = CharFeatures(12, 4, 3, np.random.default_rng(11))
    for name in cf.params:
        np.testing.assert_array_equal(cf.params[name], again.params[name])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_char_features_gradients(cell):
    rng = np.random.default_rng(12)
    cf = CharFeatures(9, 3, 4, rng, dtype=np.float64, cell=cell)
    for name, value in cf.params.items():  # random, non-zero biases
        if ".bias" in name:
            value[:] = rng.uniform(0.5, 1.5, value.shape) * rng.choice([-1, 1], value.shape)
        else:
            value[:] = 0.5 * rng.standard_normal(value.shape)
    chars = rng.integers(0, 9, (4, 5))
    lengths = random_lengths(rng, 4, 5)
    feats, cache = cf.forward(chars, lengths)
    g = upstream(rng, feats.shape)
    d_none, grads = cf.backward(cache, g)
    assert d_none is None
    loss = weighted(g)
    check_gradients(lambda: loss(cf.forward(chars, lengths)[0]), cf.params, grads, max_entries=8)


def test_char_features_run_length_groups_as_one_network():
    """Forms of 1 to 40 characters fall into four length groups (<= 8, 9-16, 17-32, 33-64), each
    run padded to its own longest form: features and gradients are those of one padded run."""
    rng = np.random.default_rng(13)
    lengths = np.array([40, 3, 17, 9, 1, 33, 8, 16, 12, 25])
    assert [list(g) for g in length_groups(lengths)] == [[1, 4, 6], [3, 7, 8], [2, 9], [0, 5]]
    cf = CharFeatures(9, 3, 4, rng, dtype=np.float64)
    chars = rng.integers(0, 9, (10, 40))
    feats, cache = cf.forward(chars, lengths)
    assert len(cache.groups) == 4
    out, _ = cf.rnn(cf.embed.forward(chars)[0], None, lengths)  # one padded run of 40 steps
    np.testing.assert_allclose(feats[:, :4], out[np.arange(10), lengths - 1, :4], rtol=1e-12)
    np.testing.assert_allclose(feats[:, 4:], out[:, 0, 4:], rtol=1e-12)
    g = upstream(rng, feats.shape)
    d_none, grads = cf.backward(cache, g)
    assert d_none is None
    loss = weighted(g)
    check_gradients(lambda: loss(cf.forward(chars, lengths)[0]), cf.params, grads, max_entries=8)


def test_char_features_bad_input():
    cf = CharFeatures(9, 3, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"\[1, 5\].*max 6"):
        cf.forward(np.zeros((2, 5), np.int64), np.array([3, 6]))
    with pytest.raises(ValueError, match=r"2-D.*\(5,\)"):
        cf.forward(np.zeros(5, np.int64), np.array([3]))
    with pytest.raises(ValueError, match=r"\[0, 9\)"):
        cf.forward(np.full((2, 5), 9), np.array([3, 5]))
    with pytest.raises(ValueError, match=r"cell.*'rnn'"):
        CharFeatures(9, 3, 4, np.random.default_rng(0), cell="rnn")
    _, cache = cf.forward(np.zeros((2, 5), np.int64), np.array([3, 5]))
    with pytest.raises(ValueError, match=r"\(2, 8\).*\(2, 4\)"):
        cf.backward(cache, np.zeros((2, 4), np.float32))
