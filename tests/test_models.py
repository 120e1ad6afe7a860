"""Whole models (Tagger, Classifier, FillModel) against finite differences, and their contract.

Gradient checks go through ``model.loss_and_grads`` exactly as the trainer calls it, in float64,
on batches built the way the tasks build them (``tasks.*.TASK.encode`` + ``tasks.base.make_batch``):
ragged unsorted lengths including 1, unknown words with their own spellings, repeated words
(whose character features are shared by several positions). Every parameter gets a gradient and
a few sampled entries of each are compared. Parameters are re-drawn at random (biases included),
so zero initialisers cannot hide a missing term.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from birnn.data import BLANK, ClozeItem, LabelledText, TaggedSentence, Vocab
from birnn.data.casing import CASES
from birnn.models.batch import TokenBatch
from birnn.models.classifier import Classifier, ClassifierConfig
from birnn.models.encoder import EncoderConfig
from birnn.models.fill import FillConfig, FillModel
from birnn.models.tagger import Tagger, TaggerConfig
from birnn.tasks import classification, fill, tagging
from birnn.tasks.base import Encoded, FormTable, Vocabs, make_batch
from gradcheck import check_gradients

LENGTHS = [3, 1, 5, 4, 2]  # ragged, unsorted, with 1
KNOWN = ["the", "dog", "cat", "runs", "sees", "a", "big", "red", "bird", "eats"]
UNKNOWN = ["Zebra", "QUUX", "ox"]  # outside the word vocabulary: <unk>, each with its spelling
TAGS = ["DET", "NOUN", "VERB", "ADJ"]
LABELS = ["neg", "neu", "pos"]
ENTRIES = 3  # sampled entries per parameter array (every entry is in the directional check)
EPS = 1e-6


def sentences(rng: np.random.Generator, lengths: list[int]) -> list[list[str]]:
    pool = KNOWN + UNKNOWN
    out = [[pool[int(i)] for i in rng.integers(len(pool), size=n)] for n in lengths]
    out[2][1] = out[2][3] = "dog"  # a repeated form within one sentence
    out[3][0] = "Zebra"
    out[2][0] = "QUUX"  # two different unknown words in the batch (other case patterns too)
    return out


def vocabs(labels: list[str], chars: bool) -> Vocabs:
    words = Vocab.build([KNOWN])  # 12 ids with <pad> and <unk>
    char_vocab = Vocab.build_chars(KNOWN[:-2]) if chars else None  # some characters unknown
    return Vocabs(words, Vocab.build_labels(labels), char_vocab)


def encoder_config(v: Vocabs, **kw: Any) -> EncoderConfig:
    base = dict(
        vocab_size=len(v.words),
        word_dim=4,
        char_vocab_size=len(v.chars) if v.chars is not None else 0,
        char_dim=3,
        char_hidden=3,
        hidden=4,
        layers=2,
        dropout=0.0,
        word_dropout=0.0,
    )
    return EncoderConfig(**(base | kw))


def tag_batch(rng: np.random.Generator, chars: bool) -> tuple[Vocabs, Encoded, FormTable]:
    v = vocabs(TAGS, chars)
    records = [
        TaggedSentence(words, [TAGS[int(i)] for i in rng.integers(len(TAGS), size=len(words))])
        for words in sentences(rng, LENGTHS)
    ]
    forms = FormTable(v.chars)
    return v, tagging.TASK.encode(records, v, forms), forms


def label_batch(rng: np.random.Generator, chars: bool) -> tuple[Vocabs, Encoded, FormTable]:
    v = vocabs(LABELS, chars)
    records = [
        LabelledText(words, LABELS[int(rng.integers(len(LABELS)))])
        for words in sentences(rng, LENGTHS)
    ]
    forms = FormTable(v.chars)
    return v, classification.TASK.encode(records, v, forms), forms


def fill_batch(rng: np.random.Generator, chars: bool) -> tuple[Vocabs, Encoded, FormTable]:
    answers = ["dog", "cat", "bird", "ox"]
    items = []
    for words in sentences(rng, [n + 1 for n in LENGTHS]):  # the blank is one of the words
        b = int(rng.integers(len(words)))
        words[b] = BLANK
        items.append(ClozeItem(tuple(words), b, answers[int(rng.integers(4))], False, "t"))
    items[0] = ClozeItem((BLANK,), 0, "dog", False, "t")  # a one-word sentence: only the blank
    v = vocabs(answers, chars)
    forms = FormTable(v.chars)
    return v, fill.TASK.encode(items, v, forms), forms


def randomize(params: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """Every parameter random and non-zero (biases too), in place."""
    for p in params.values():
        p[...] = 0.6 * rng.standard_normal(p.shape)


def build(kind: str, chars: bool, seed: int = 0, **enc: Any) -> tuple[Any, TokenBatch]:
    """A float64 model of ``kind`` with random parameters, and one batch for it."""
    rng = np.random.default_rng(seed)
    head = enc.pop("head", "softmax")
    pooling = enc.pop("pooling", "final")
    if kind == "tagger":
        v, data, forms = tag_batch(rng, chars)
        model: Any = Tagger(
            TaggerConfig(encoder_config(v, **enc), len(v.labels), head), rng, np.float64
        )
    elif kind == "classifier":
        v, data, forms = label_batch(rng, chars)
        model = Classifier(
            ClassifierConfig(encoder_config(v, **enc), len(v.labels), pooling), rng, np.float64
        )
    else:
        v, data, forms = fill_batch(rng, chars)
        model = FillModel(FillConfig(encoder_config(v, **enc), len(v.labels)), rng, np.float64)
    randomize(model.params, rng)
    batch = make_batch(data, list(range(len(data))), forms, per_token=kind == "tagger")
    return model, batch


def gradcheck(
    model: Any, batch: TokenBatch, rng_seed: int = 3, untrained: frozenset[str] = frozenset()
) -> None:
    """Finite differences of ``loss_and_grads``'s loss against its gradients, every parameter
    but the ``untrained`` ones (which must get none).

    The closure gives the model a fresh Generator with the same seed on every call, so dropout
    masks (if any) are the same in every evaluation.
    """
    params = {name: p for name, p in model.params.items() if name not in untrained}
    assert params, "a model without parameters"
    assert all(p.dtype == np.float64 for p in params.values())
    loss, grads, _ = model.loss_and_grads(batch, np.random.default_rng(rng_seed))
    assert set(grads) == set(params), (sorted(grads), sorted(params))
    assert np.isfinite(loss)
    for name, g in grads.items():
        assert np.all(np.isfinite(g)), name

    def loss_fn() -> float:
        return model.loss_and_grads(batch, np.random.default_rng(rng_seed))[0]

    check_gradients(loss_fn, params, grads, max_entries=ENTRIES)
    check_directions(loss_fn, params, grads)


def check_directions(loss_fn, params, grads) -> None:
    """Every entry of every array at once: d loss along a random direction == <grad, direction>.

    The sampled check above pins single entries; this one sees every entry (a wrong gradient in
    an embedding row or a gate that the sample missed still moves the dot product).
    """
    rng = np.random.default_rng(99)
    for name, p in params.items():
        direction = rng.standard_normal(p.shape)
        orig = p.copy()
        try:
            p[...] = orig + EPS * direction
            plus = loss_fn()
            p[...] = orig - EPS * direction
            minus = loss_fn()
        finally:
            p[...] = orig
        numeric = (plus - minus) / (2 * EPS)
        analytic = float(np.sum(grads[name] * direction))
        assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-7), name


# -- gradient checks ---------------------------------------------------------------------------


def test_the_batch_is_what_the_checks_claim():
    _, batch = build("tagger", chars=True)
    assert batch.lengths.tolist() == LENGTHS
    assert batch.chars is not None
    unk = batch.words[batch.mask()] == 1
    assert unk.sum() >= 2  # unknown words present ...
    spellings = batch.chars.index[batch.mask()][unk]
    assert len(set(spellings.tolist())) >= 2  # ... with different spellings
    assert batch.chars.ids.shape[0] < batch.tokens  # repeated forms share character features


@pytest.mark.parametrize(
    "head, cell, bidirectional",
    [
        ("softmax", "lstm", True),
        ("crf", "gru", True),
        ("softmax", "gru", False),
        ("crf", "lstm", False),
    ],
)
def test_tagger_gradients(head, cell, bidirectional):
    model, batch = build("tagger", chars=True, head=head, cell=cell, bidirectional=bidirectional)
    expected = {"embed.weight", "out.weight", "out.bias"}
    assert expected <= set(model.params)
    assert any(k.startswith("chars.") for k in model.params)
    assert any(k.endswith("_l1_reverse") for k in model.params) == bidirectional
    assert any(k.startswith("crf.") for k in model.params) == (head == "crf")
    gradcheck(model, batch)


def test_tagger_gradients_rnn_cell_without_chars():
    model, batch = build("tagger", chars=False, cell="rnn", hidden=5, layers=1, head="crf")
    assert not any(k.startswith("chars.") for k in model.params)
    gradcheck(model, batch)


@pytest.mark.parametrize(
    "pooling, cell, bidirectional, chars",
    [
        ("final", "lstm", True, True),
        ("final", "gru", False, False),
        ("mean", "gru", True, False),
        ("max", "lstm", False, False),
        ("final+max", "gru", True, False),
    ],
)
def test_classifier_gradients(pooling, cell, bidirectional, chars):
    model, batch = build(
        "classifier", chars=chars, pooling=pooling, cell=cell, bidirectional=bidirectional
    )
    gradcheck(model, batch)


@pytest.mark.parametrize("cell, bidirectional", [("lstm", True), ("gru", False)])
def test_fill_gradients(cell, bidirectional):
    model, batch = build("fill", chars=True, cell=cell, bidirectional=bidirectional, hidden=3)
    assert batch.positions is not None and batch.lengths.min() == 1
    gradcheck(model, batch)


@pytest.mark.parametrize("kind", ["tagger", "classifier", "fill"])
def test_gradients_with_dropout_and_word_dropout_under_fixed_masks(kind):
    """The same Generator seed gives the same masks, so the training loss is a function too."""
    model, batch = build(
        kind, chars=kind == "tagger", dropout=0.3, word_dropout=0.3, bidirectional=True
    )
    a = model.loss_and_grads(batch, np.random.default_rng(1))[0]
    b = model.loss_and_grads(batch, np.random.default_rng(2))[0]
    assert a != b  # dropout is on ...
    gradcheck(model, batch)  # ... and its backward uses the forward's masks


@pytest.mark.parametrize("kind", ["tagger", "classifier", "fill"])
def test_gradients_with_case_features(kind):
    model, batch = build(kind, chars=kind != "fill", case_dim=3, dropout=0.2)
    assert model.params["case.weight"].shape == (len(CASES), 3)
    assert batch.casing is not None and len(set(batch.casing[batch.mask()].tolist())) >= 2
    gradcheck(model, batch)


def test_case_features_reach_the_output():
    """The same words in other capitals: other case ids, other scores (and the same without)."""
    model, batch = build("tagger", chars=False, case_dim=3)
    other = dataclasses.replace(batch, casing=np.where(batch.mask(), CASES.index("upper"), 0))
    y, _ = model.encoder.forward(batch)
    y_other, _ = model.encoder.forward(other)
    assert not np.allclose(y, y_other)
    plain, batch = build("tagger", chars=False)
    y, _ = plain.encoder.forward(batch)
    y_other, _ = plain.encoder.forward(dataclasses.replace(batch, casing=other.casing))
    np.testing.assert_array_equal(y, y_other)


@pytest.mark.parametrize("kind", ["tagger", "classifier"])
def test_fixed_words_read_their_rows_and_get_no_gradient(kind):
    """The last ids read ``embed.fixed`` (pretrained words training never saw): used in the
    forward pass, never trained; the others train as before."""
    model, batch = build(kind, chars=True, fixed_words=4)
    weight, fixed = model.params["embed.weight"], model.params["embed.fixed"]
    assert weight.shape[0] + fixed.shape[0] == model.config.encoder.vocab_size
    assert (batch.words >= weight.shape[0]).any()  # the batch reads fixed rows
    y, _ = model.encoder.forward(batch)
    fixed[...] += 1.0
    assert not np.allclose(model.encoder.forward(batch)[0], y)
    gradcheck(model, batch, untrained=frozenset({"embed.fixed"}))


def test_frozen_embeddings_get_no_gradient():
    model, batch = build("tagger", chars=True, fixed_words=2, freeze_embeddings=True)
    gradcheck(model, batch, untrained=frozenset({"embed.weight", "embed.fixed"}))


def test_a_tuned_word_table_beside_frozen_pretrained_vectors():
    """U: trained rows for the training words; file-only words (the last ids) read <unk>'s."""
    model, batch = build(
        "tagger", chars=True, fixed_words=3, freeze_embeddings=True, tuned_word_dim=2, case_dim=2
    )
    tuned = model.params["tuned.weight"]
    assert tuned.shape == (model.config.encoder.vocab_size - 3, 2)
    gradcheck(model, batch, untrained=frozenset({"embed.weight", "embed.fixed"}))
    _, grads, _ = model.loss_and_grads(batch, np.random.default_rng(0))
    file_only = batch.words[batch.mask()] >= tuned.shape[0]
    assert file_only.any() and np.any(grads["tuned.weight"][1])  # they train <unk>'s row


def test_word_dropout_hides_words_from_the_tuned_table_only():
    model, batch = build("tagger", chars=False, fixed_words=3, tuned_word_dim=2, word_dropout=0.9)
    _, cache = model.encoder.forward(batch, training=True, rng=np.random.default_rng(0))
    pretrained, tuned = (c.ids for c in cache.tables)
    np.testing.assert_array_equal(pretrained, batch.words)
    dropped = tuned[batch.mask()] == 1
    assert dropped.mean() > 0.5
    plain, batch = build("tagger", chars=False, word_dropout=0.9)
    _, cache = plain.encoder.forward(batch, training=True, rng=np.random.default_rng(0))
    assert (cache.tables[0].ids[batch.mask()] == 1).mean() > 0.5  # without one: the word table


@pytest.mark.parametrize("init, std", [("uniform", 1 / np.sqrt(40)), ("normal", 1.0)])
def test_embedding_initialisations(init, std):
    enc = EncoderConfig(
        vocab_size=3000, word_dim=40, char_vocab_size=2000, char_dim=40, word_init=init,
        char_init=init, hidden=2, layers=1,
    )  # fmt: skip
    model = Tagger(TaggerConfig(enc, 3), np.random.default_rng(0))
    for name in ("embed.weight", "chars.embed.weight"):
        assert model.params[name][1:].std() == pytest.approx(std, rel=0.02), name


# -- what the trainer and the tasks rely on ----------------------------------------------------


@pytest.mark.parametrize("kind", ["tagger", "classifier", "fill"])
def test_loss_and_grads_contract(kind):
    model, batch = build(kind, chars=True)
    loss, grads, count = model.loss_and_grads(batch, np.random.default_rng(0))
    assert isinstance(loss, float) and loss > 0
    assert set(grads) == set(model.params)
    for name, g in grads.items():
        assert g.shape == model.params[name].shape and g.dtype == np.float64, name
    # the trainer weighs a batch's mean loss by its count: tokens for a tagger, else sentences
    assert count == (batch.tokens if kind == "tagger" else batch.size)
    # the padding row of the embedding never learns
    np.testing.assert_array_equal(grads["embed.weight"][0], 0.0)


def test_tagger_loss_is_a_mean_over_tokens_for_both_heads():
    """Doubling every sentence (same tokens twice) must not change a per-token mean loss."""
    for head in ("softmax", "crf"):
        model, batch = build("tagger", chars=False, head=head)
        twice = TokenBatch(
            np.concatenate([batch.words, batch.words]),
            np.concatenate([batch.lengths, batch.lengths]),
            None,
            np.concatenate([batch.targets, batch.targets]),
        )
        rng = np.random.default_rng(0)
        once = model.loss_and_grads(batch, rng)[0]
        double = model.loss_and_grads(twice, rng)[0]
        assert double == pytest.approx(once, rel=1e-12), head


def one_row(batch: TokenBatch, i: int) -> TokenBatch:
    """Row ``i`` of ``batch`` on its own, cut to its length (no padding at all)."""
    n = int(batch.lengths[i])
    chars = None
    if batch.chars is not None:
        c = batch.chars
        chars = type(c)(c.ids, c.lengths, c.index[i : i + 1, :n])
    return TokenBatch(
        batch.words[i : i + 1, :n],
        batch.lengths[i : i + 1],
        chars,
        None if batch.targets is None else batch.targets[i : i + 1],
        None if batch.positions is None else batch.positions[i : i + 1],
    )


@pytest.mark.parametrize(
    "kind, extra",
    [
        ("tagger", {"head": "softmax"}),
        ("tagger", {"head": "crf"}),
        ("classifier", {"pooling": "final"}),
        ("classifier", {"pooling": "mean"}),
        ("classifier", {"pooling": "max", "bidirectional": False}),
        ("fill", {}),
    ],
)
def test_predictions_do_not_depend_on_the_rest_of_the_batch(kind, extra):
    """A sentence is predicted the same alone or padded next to longer ones (and features too)."""
    model, batch = build(kind, chars=True, **extra)
    together = model.predict(batch)
    assert len(together) == batch.size
    y_all, _ = model.encoder.forward(batch)
    for i in range(batch.size):
        alone = one_row(batch, i)
        assert model.predict(alone) == [together[i]], i
        y_one, _ = model.encoder.forward(alone)
        n = int(batch.lengths[i])
        np.testing.assert_allclose(y_one[0], y_all[i, :n], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(y_all[i, n:], 0.0)  # zero past each length
    if kind == "tagger":
        assert [len(p) for p in together] == LENGTHS
        assert all(0 <= t < model.config.num_tags for p in together for t in p)
    else:
        assert all(isinstance(p, int) for p in together)


@pytest.mark.parametrize("pooling", ["final", "mean", "max", "final+max"])
def test_classifier_pools_what_it_says(pooling):
    """final: [forward state at the last word, backward state at the first]; mean/max: words."""
    model, batch = build("classifier", chars=False, pooling=pooling, hidden=3)
    y, _ = model.encoder.forward(batch)
    h = model.config.encoder.hidden
    pooled = []
    for mode in pooling.split("+"):
        rows = []
        for i, n in enumerate(batch.lengths):
            words = y[i, :n]
            rows.append({"final": np.concatenate([words[-1, :h], words[0, h:]]),
                         "mean": words.mean(axis=0), "max": words.max(axis=0)}[mode])  # fmt: skip
        pooled.append(np.stack(rows))
    p = np.concatenate(pooled, axis=1)
    expected = p @ model.out.params["weight"].T + model.out.params["bias"]
    scores, _ = model._scores(batch, False, None)
    np.testing.assert_allclose(scores, expected, rtol=1e-12, atol=1e-12)
    assert model.predict(batch) == expected.argmax(axis=1).tolist()


def test_fill_scores_read_the_blank_position():
    model, batch = build("fill", chars=True)
    assert batch.positions is not None
    y, _ = model.encoder.forward(batch)
    at_blank = y[np.arange(batch.size), batch.positions]
    expected = at_blank @ model.out.params["weight"].T + model.out.params["bias"]
    np.testing.assert_allclose(model.scores(batch), expected, rtol=1e-12, atol=1e-12)


def test_predict_is_deterministic_and_ignores_dropout():
    model, batch = build("tagger", chars=True, dropout=0.5, word_dropout=0.5)
    y1, _ = model.encoder.forward(batch)
    y2, _ = model.encoder.forward(batch)
    np.testing.assert_array_equal(y1, y2)
    assert model.predict(batch) == model.predict(batch)


def test_float32_is_the_default_dtype():
    v = vocabs(TAGS, chars=True)
    model = Tagger(TaggerConfig(encoder_config(v), len(TAGS), "crf"), np.random.default_rng(0))
    assert {p.dtype for p in model.params.values()} == {np.dtype(np.float32)}


def test_same_seed_same_parameters():
    v = vocabs(LABELS, chars=False)
    cfg = ClassifierConfig(encoder_config(v), len(LABELS))
    a = Classifier(cfg, np.random.default_rng(4)).params
    b = Classifier(cfg, np.random.default_rng(4)).params
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)


# -- configs refuse bad values, naming them ----------------------------------------------------


def test_configs_refuse_bad_values():
    v = vocabs(TAGS, chars=False)
    enc = encoder_config(v)
    with pytest.raises(ValueError, match="'foo'"):
        TaggerConfig(enc, 4, head="foo")
    with pytest.raises(ValueError, match="'avg'"):
        ClassifierConfig(enc, 3, pooling="avg")
    with pytest.raises(ValueError, match="'final\\+sum'"):
        ClassifierConfig(enc, 3, pooling="final+sum")
    with pytest.raises(ValueError, match="num_labels"):
        ClassifierConfig(enc, 1)
    with pytest.raises(ValueError, match="num_answers"):
        FillConfig(enc, 1)
    with pytest.raises(ValueError, match="'cnn'"):
        EncoderConfig(vocab_size=5, cell="cnn")
    with pytest.raises(ValueError, match="hidden"):
        EncoderConfig(vocab_size=5, hidden=0)
    with pytest.raises(ValueError, match="dropout"):
        EncoderConfig(vocab_size=5, dropout=1.0)


def test_configs_rebuild_from_their_dicts():
    """What a checkpoint stores (dataclasses.asdict) builds the same config again."""
    v = vocabs(LABELS, chars=True)
    cfg = ClassifierConfig(encoder_config(v, cell="gru"), 3, pooling="final+max")
    again = ClassifierConfig(**dataclasses.asdict(cfg))
    assert again == cfg and isinstance(again.encoder, EncoderConfig)


@pytest.mark.parametrize(
    ("model_class", "config_class"),
    [(Tagger, TaggerConfig), (Classifier, ClassifierConfig), (FillModel, FillConfig)],
)
def test_word_counts_come_in_through_the_constructor(model_class, config_class):
    """rare_word_dropout reads the training counts given to the model, checked on the way in."""
    v = vocabs(LABELS, chars=False)
    config = config_class(encoder_config(v, rare_word_dropout=1.0), len(LABELS))
    rng = np.random.default_rng(0)
    model = model_class(config, rng, word_counts=v.words.counts)
    np.testing.assert_array_equal(model.encoder.word_counts, v.words.counts)
    _, data, forms = label_batch(rng, False)
    batch = make_batch(data, [0, 1, 2], forms, per_token=False)
    model.encoder.forward(batch, training=True, rng=rng)  # rare words may now be dropped
    with pytest.raises(ValueError, match="rare_word_dropout needs the training counts"):
        model_class(config, rng).encoder.forward(batch, training=True, rng=rng)
    with pytest.raises(ValueError, match=rf"shape \({len(v.words)},\); received"):
        model_class(config, rng, word_counts=v.words.counts[:-1])
    with pytest.raises(TypeError, match="word_counts must be integer counts"):
        model_class(config, rng, word_counts=v.words.counts.astype(float))
