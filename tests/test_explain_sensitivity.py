"""Sensitivity maps of the models: through the forward chains an output never sees a word after
it, through the backward chains none before it (exactly zero), and the paths add up to the
gradient of the model's own score, which equals central finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from birnn import Classifier, ClassifierConfig, FillConfig, FillModel, Tagger, TaggerConfig
from birnn.explain import repeat_batch, run_model, sensitivity
from gradcheck import check_gradients
from test_explain_attribution import batch, encoder, model_scores


def _maps(model, b, positions):
    run = run_model(model, repeat_batch(b, len(positions)))
    rows = positions if isinstance(model, Tagger) else [0]
    labels = [int(np.argmax(run.scores[i, p])) for i, p in enumerate(rows)]
    return sensitivity(run, labels, rows), run


def _unique_words(b, rng):
    """The first sentence of ``b`` with distinct word ids (a word's embedding row is then the
    input of one position only)."""
    n = int(b.lengths[0])
    b.words[0, :n] = rng.permutation(np.arange(2, 30))[:n]
    return b


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("head", ["softmax", "crf"])
def test_a_taggers_maps_are_zero_on_the_far_side_and_sum_to_the_gradient(layers, head):
    rng = np.random.default_rng(0)
    model = Tagger(TaggerConfig(encoder(layers), 4, head=head), rng, np.float64)
    b = _unique_words(batch(rng, lengths=(6,)), rng)
    maps, _ = _maps(model, b, list(range(6)))
    for p in range(6):
        assert np.all(maps.forward[p, p + 1 :] == 0) and np.all(maps.forward[p, : p + 1] > 0)
        assert np.all(maps.backward[p, :p] == 0) and np.all(maps.backward[p, p:] > 0)
    assert (maps.mixed is None) == (layers == 1)
    if layers == 2:  # paths that switch direction reach both sides
        assert np.all(maps.mixed > 0)

    # the gradient of each output's score, against finite differences through the whole model
    # (the word embedding rows of the sentence are its inputs' first word_dim features)
    embed = model.encoder.embed.params["weight"]
    for p in (0, 3, 5):
        c = maps.labels[p]
        full = maps.gradients.full[p, :6, : embed.shape[1]]
        expected = np.zeros_like(embed)
        expected[b.words[0, :6]] = full

        def score(p=p, c=c) -> float:
            return float(model_scores(model, b)[0, p, c])

        check_gradients(score, {"E": embed}, {"E": expected}, max_entries=30, seed=p)


def test_a_fill_models_map_splits_at_the_blank():
    rng = np.random.default_rng(1)
    model = FillModel(FillConfig(encoder(2), 5), rng, np.float64)
    b = _unique_words(batch(rng, lengths=(7,), blanks=True), rng)
    b.positions[0] = 3
    maps, _ = _maps(model, b, [0])
    assert maps.positions == [3]
    assert np.all(maps.forward[0, 4:] == 0) and np.all(maps.forward[0, :4] > 0)
    assert np.all(maps.backward[0, :3] == 0) and np.all(maps.backward[0, 3:] > 0)
    embed = model.encoder.embed.params["weight"]
    expected = np.zeros_like(embed)
    expected[b.words[0, :7]] = maps.gradients.full[0, :7, : embed.shape[1]]
    c = maps.labels[0]
    check_gradients(lambda: float(model.scores(b)[0, c]), {"E": embed}, {"E": expected})


@pytest.mark.parametrize("pooling", ["final", "max+mean"])
def test_a_classifiers_map_equals_finite_differences(pooling):
    rng = np.random.default_rng(2)
    model = Classifier(ClassifierConfig(encoder(1), 3, pooling), rng, np.float64)
    b = _unique_words(batch(rng, lengths=(5,)), rng)
    maps, _ = _maps(model, b, [0])
    assert maps.positions == [None] and maps.mixed is None
    if pooling == "final":  # the forward chain's last state and the backward chain's first
        assert np.all(maps.forward > 0) and np.all(maps.backward > 0)
    embed = model.encoder.embed.params["weight"]
    expected = np.zeros_like(embed)
    expected[b.words[0, :5]] = maps.gradients.full[0, :5, : embed.shape[1]]
    c = maps.labels[0]
    check_gradients(lambda: float(model_scores(model, b)[0, 0, c]), {"E": embed}, {"E": expected})


def test_copies_and_labels_must_match():
    rng = np.random.default_rng(3)
    model = Tagger(TaggerConfig(encoder(1), 4), rng, np.float64)
    run = run_model(model, repeat_batch(batch(rng, lengths=(4,)), 2))
    with pytest.raises(ValueError, match="one copy of the sentence and one label per output"):
        sensitivity(run, [0, 1, 2], [0, 1, 2])
