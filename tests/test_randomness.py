"""Everything random in training, checked statistically on large draws: feature dropout, dropout
between recurrent layers, word dropout, rare-word dropout (alpha / (alpha + c) per count c) and
the shuffling of batches.

A rate is checked as a binomial proportion: the observed fraction lies within 5 standard
errors of the expected probability (a false alarm about once in 1.7 million runs; the draws are
seeded anyway, so a run is repeatable).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import birnn
from birnn import pipeline
from birnn.data import TaggedSentence, length_batches
from birnn.layers import Dropout, word_dropout
from birnn.models.batch import TokenBatch
from birnn.models.encoder import UNK, Encoder, EncoderConfig
from birnn.tasks.base import batches
from birnn.train import TrainConfig


def assert_rate(hits: np.ndarray, p: float, what: str = "") -> None:
    """The mean of the boolean draws ``hits`` is p within 5 standard errors."""
    n = hits.size
    assert n > 0
    se = np.sqrt(p * (1 - p) / n)
    observed = float(np.mean(hits))
    assert abs(observed - p) <= 5 * se + 1e-12, f"{what}: {observed} over {n} draws, expected {p}"


# -- feature dropout -----------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.1, 0.3, 0.8])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dropout_keeps_each_unit_with_probability_1_minus_p_and_rescales(p, dtype):
    x = np.random.default_rng(0).uniform(0.5, 2.0, (400, 500)).astype(dtype)
    y, cache = Dropout(p).forward(x, training=True, rng=np.random.default_rng(1))
    kept = y != 0
    assert_rate(kept, 1 - p, "kept")
    scale = dtype(1.0) / dtype(1.0 - p)
    np.testing.assert_array_equal(y[kept], x[kept] * scale)  # exactly x / (1 - p)
    np.testing.assert_array_equal(cache.mask, kept * scale)
    # so the expected output is the input: the mean ratio y / x is 1 (standard error
    # sqrt(p / (1 - p) / n))
    ratio = (y / x).astype(np.float64)
    assert abs(ratio.mean() - 1.0) <= 5 * np.sqrt(p / (1 - p) / x.size)


@pytest.mark.parametrize("cell", [birnn.LSTM, birnn.GRU, birnn.RNN])
def test_dropout_between_recurrent_layers(cell):
    """Each layer's output but the last is multiplied by keep / (1 - p), keep ~ Bernoulli(1 - p),
    and the next layer reads exactly that product."""
    p, hidden, features = 0.3, 40, 6
    rng = np.random.default_rng(2)
    big = cell(
        features, hidden, num_layers=2, bidirectional=True, dropout=p, dtype=np.float64, seed=3
    )
    x = rng.standard_normal((30, 50, features))  # (T, N, F), full lengths: one layout
    out, _, tape = big.forward(x, training=True, rng=np.random.default_rng(4))
    first, last = tape.masks
    assert last is None  # no dropout after the last layer
    assert first.shape == (30, 50, 2 * hidden)
    kept = first != 0
    assert_rate(kept, 1 - p, "kept between layers")
    np.testing.assert_array_equal(first[kept], 1.0 / (1.0 - p))

    # the same network by hand, two one-layer modules, layer 1 reading layer 0's output * mask
    layers = [cell(n, hidden, bidirectional=True, dtype=np.float64) for n in (features, 2 * hidden)]
    state = big.state_dict()
    for k, layer in enumerate(layers):
        layer.load_state_dict(
            {
                name.replace(f"_l{k}", "_l0"): value
                for name, value in state.items()
                if f"_l{k}" in name
            }
        )
    y0, _ = layers[0](x)
    y1, _ = layers[1](y0 * first)
    np.testing.assert_allclose(out, y1, rtol=1e-12, atol=1e-12)
    inference, _ = big(x)
    np.testing.assert_allclose(inference, layers[1](y0)[0], rtol=1e-12, atol=1e-12)


# -- word dropout and rare-word dropout ------------------------------------------------------------

COUNTS = np.array([0, 0, 1, 2, 3, 5, 10, 40, 200])  # <pad>, <unk>, then words seen c times


def encoder(word_dropout: float = 0.0, rare_word_dropout: float = 0.0) -> Encoder:
    config = EncoderConfig(
        vocab_size=len(COUNTS),
        word_dim=2,
        hidden=2,
        layers=1,
        dropout=0.0,
        word_dropout=word_dropout,
        rare_word_dropout=rare_word_dropout,
    )
    return Encoder(config, np.random.default_rng(0), np.float64, word_counts=COUNTS)


def token_batch(rng: np.random.Generator) -> TokenBatch:
    lengths = rng.integers(1, 81, 500)
    words = rng.integers(2, len(COUNTS), (500, 80))
    words[np.arange(80)[None, :] >= lengths[:, None]] = 0
    return TokenBatch(words, lengths)


def dropped_ids(enc: Encoder, batch: TokenBatch, seed: int) -> np.ndarray:
    """The word ids the encoder's embedding looked up in one training forward."""
    _, cache = enc.forward(batch, training=True, rng=np.random.default_rng(seed))
    return cache.tables[0].ids  # the word table is the first (Encoder._tables)


@pytest.mark.parametrize("alpha", [0.25, 1.0, 4.0])
def test_rare_word_dropout_replaces_a_word_seen_c_times_with_probability_alpha_over_alpha_plus_c(
    alpha,
):
    batch = token_batch(np.random.default_rng(5))
    ids = dropped_ids(encoder(rare_word_dropout=alpha), batch, seed=6)
    mask = batch.mask()
    np.testing.assert_array_equal(ids[~mask], 0)  # padding stays padding
    changed = ids != batch.words
    np.testing.assert_array_equal(ids[changed], UNK)
    for word in range(2, len(COUNTS)):
        at = (batch.words == word) & mask
        c = COUNTS[word]
        assert_rate(changed[at], alpha / (alpha + c), f"word seen {c} times")


def test_word_dropout_and_rare_word_dropout_together():
    """A token survives both: kept with probability (1 - rate) * c / (alpha + c)."""
    rate, alpha = 0.2, 2.0
    batch = token_batch(np.random.default_rng(7))
    ids = dropped_ids(encoder(word_dropout=rate, rare_word_dropout=alpha), batch, seed=8)
    mask = batch.mask()
    np.testing.assert_array_equal(ids[~mask], 0)
    for word in range(2, len(COUNTS)):
        at = (batch.words == word) & mask
        c = COUNTS[word]
        assert_rate(ids[at] == word, (1 - rate) * c / (alpha + c), f"word seen {c} times")


@pytest.mark.parametrize("rate", [0.05, 0.3, 0.7])
def test_word_dropout_rate_on_eligible_positions_only(rate):
    rng = np.random.default_rng(9)
    ids = rng.integers(2, 50, (300, 100))
    eligible = rng.random(ids.shape) < 0.8
    out = word_dropout(ids, rate, 1, np.random.default_rng(10), where=eligible)
    changed = out != ids
    np.testing.assert_array_equal(out[changed], 1)
    assert not changed[~eligible].any()
    assert_rate(changed[eligible], rate, "word dropout")
    encoder_ids = dropped_ids(encoder(word_dropout=rate), token_batch(rng), seed=11)
    assert_rate(encoder_ids[encoder_ids != 0] == UNK, rate, "encoder word dropout")


def test_inference_drops_nothing():
    batch = token_batch(np.random.default_rng(12))
    enc = encoder(word_dropout=0.5, rare_word_dropout=3.0)
    _, cache = enc.forward(batch)
    np.testing.assert_array_equal(cache.tables[0].ids, batch.words)


# -- shuffling -------------------------------------------------------------------------------------


def test_length_batches_shuffle_membership_and_order_uniformly():
    """Every sentence lands in the first batch with probability batch_size / N; each epoch's
    batches cover every sentence once; successive epochs differ."""
    n, size, draws = 40, 4, 1500
    lengths = np.random.default_rng(13).integers(1, 30, n)
    rng = np.random.default_rng(14)
    first = np.zeros(n)
    previous = None
    for _ in range(draws):
        groups = length_batches(lengths, size, rng, pool=2)
        assert sorted(np.concatenate(groups).tolist()) == list(range(n))
        first[groups[0]] += 1
        order = np.concatenate(groups).tolist()
        assert order != previous
        previous = order
    p = size / n
    se = np.sqrt(p * (1 - p) / draws)
    assert np.all(np.abs(first / draws - p) <= 5 * se), first / draws


def test_task_batches_are_shuffled_with_the_generator_and_sorted_without():
    data = pipeline.get_task("tag")
    records = [TaggedSentence(["w"] * k, ["X"] * k) for k in range(1, 61)]
    vocabs = data.build_vocabs(records, 1, False, chars=False)
    task_model = pipeline.create(
        data,
        vocabs,
        birnn.EncoderConfig(vocab_size=len(vocabs.words), word_dim=2, hidden=2, layers=1),
        {},
    )
    encoded = task_model.encode(records)
    rng = np.random.default_rng(15)
    epochs = [
        [b.lengths.tolist() for b in batches(encoded, task_model.forms, 6, rng, True)]
        for _ in range(3)
    ]
    assert len({str(e) for e in epochs}) == 3  # a new order every epoch
    for e in epochs:
        assert sorted(x for b in e for x in b) == list(range(1, 61))
    in_order = [b.lengths.tolist() for b in batches(encoded, task_model.forms, 6, None, True)]
    assert [x for b in in_order for x in b] == list(range(1, 61))


def test_training_sees_shuffled_batches(tmp_path):
    """What the model receives from pipeline.train: all sentences once per epoch, in batches
    whose order and membership change from epoch to epoch."""
    records = [
        TaggedSentence([f"w{k}", "x"] * (1 + k % 5), ["A", "B"] * (1 + k % 5)) for k in range(48)
    ]
    task_model = pipeline.build(
        pipeline.get_task("tag"),
        records,
        {"word_dim": 2, "hidden": 2, "layers": 1, "dropout": 0.0},
        {},
    )
    model = task_model.model
    seen: list[list[tuple[int, ...]]] = []
    real = model.loss_and_grads

    def recording(batch, rng):
        seen.append([tuple(row[:n]) for row, n in zip(batch.words.tolist(), batch.lengths)])
        return real(batch, rng)

    model.loss_and_grads = recording
    config = TrainConfig(epochs=3, batch_size=4, patience=0, seed=0)
    pipeline.train(task_model, records, None, config, tmp_path, progress=False)
    per_epoch = len(seen) // 3
    epochs = [seen[i * per_epoch : (i + 1) * per_epoch] for i in range(3)]
    everything = Counter(tuple(w) for w in task_model.encode(records).words)
    for e in epochs:
        assert Counter(s for b in e for s in b) == everything
    assert epochs[0] != epochs[1] != epochs[2]
    memberships = [{frozenset(b) for b in e} for e in epochs]
    assert memberships[0] != memberships[1]
