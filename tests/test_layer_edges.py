"""Word dropout's and the models' boundaries, by name, and the dtype every model defaults to
(what mutation testing found unpinned)."""

from __future__ import annotations

import numpy as np
import pytest

from birnn.layers import word_dropout
from birnn.metrics import accuracy
from birnn.models.classifier import Classifier, ClassifierConfig
from birnn.models.encoder import EncoderConfig
from birnn.models.fill import FillConfig, FillModel
from birnn.models.tagger import Tagger, TaggerConfig
from refusals import assert_refused, exactly

IDS = np.arange(2, 8).reshape(2, 3)

WORD_DROPOUT_REFUSALS = [
    (lambda: word_dropout(IDS, 1.5, 1, np.random.default_rng(0)), ValueError,
     "rate must be in [0, 1); received 1.5"),
    (lambda: word_dropout(IDS, 0.1, -1, np.random.default_rng(0)), ValueError,
     "unk_id must be >= 0; received -1"),
    (lambda: word_dropout(IDS, 0.1, 1, np.random.default_rng(0), where=np.ones(3, bool)),
     ValueError, "where must have shape (2, 3); received shape (3,)"),
]  # fmt: skip


@pytest.mark.parametrize("case", range(len(WORD_DROPOUT_REFUSALS)))
def test_word_dropout_refuses_by_name(case):
    assert_refused(*WORD_DROPOUT_REFUSALS[case])


def test_word_dropout_rate_zero_draws_nothing_and_unk_may_be_zero():
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    np.testing.assert_array_equal(word_dropout(IDS, 0.0, 1, rng), IDS)
    assert rng.bit_generator.state == before
    out = word_dropout(IDS, 0.9, 0, np.random.default_rng(1))
    assert set(np.unique(out[out != IDS])) == {0}


def encoder() -> EncoderConfig:
    return EncoderConfig(vocab_size=6, word_dim=3, hidden=2, layers=1)


@pytest.mark.parametrize(
    "model",
    [
        lambda: Tagger(TaggerConfig(encoder(), 3), np.random.default_rng(0)),
        lambda: Classifier(ClassifierConfig(encoder(), 2), np.random.default_rng(0)),
        lambda: FillModel(FillConfig(encoder(), 2), np.random.default_rng(0)),
    ],
)
def test_every_model_defaults_to_float32(model):
    assert {p.dtype for p in model().params.values()} == {np.dtype(np.float32)}


def test_head_sizes_are_refused_by_name_and_two_is_enough():
    assert FillConfig(encoder(), 2).num_answers == 2
    assert ClassifierConfig(encoder(), 2).num_labels == 2
    for call, message in [
        (lambda: FillConfig(encoder(), 1), "num_answers must be >= 2; received 1"),
        (lambda: ClassifierConfig(encoder(), 1), "num_labels must be >= 2; received 1"),
        (lambda: TaggerConfig(encoder(), 0), "num_tags must be >= 1; received 0"),
    ]:
        with pytest.raises(ValueError, match=exactly(message)):
            call()


def test_metric_arrays_are_named_when_ragged():
    with pytest.raises(ValueError, match=r"^pred must be a rectangular array"):
        accuracy([[1], [1, 2]], [[1], [1]])
    with pytest.raises(ValueError, match=r"^gold must be a rectangular array"):
        accuracy([[1], [1]], [[1], [1, 2]])


def test_add_flipped_adds_each_sequence_reversed_within_its_length_in_place():
    from birnn.recurrent.sequence import Batch

    rng = np.random.default_rng(0)
    for lengths in ([4, 4, 4], [4, 3, 1]):
        batch = Batch.sorted(np.array(lengths, dtype=np.intp), 4)
        into, x = rng.standard_normal((2, 4, 3, 2))
        expected = into + batch.flip(x)
        out = batch.add_flipped(into, x)
        assert out is into
        np.testing.assert_array_equal(into, expected)
