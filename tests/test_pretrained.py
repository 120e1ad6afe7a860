"""Pretrained vectors in a model: which word gets which vector, coverage, the unseen word that
reads its vector at prediction time, training with and without freezing, checkpoints; and
``init_from`` (another run's encoder).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from birnn import TrainConfig, pipeline
from birnn.data import TaggedSentence, Vocab
from birnn.data.pretrained import EXACT, LOWER, NONE, attach_vectors, coverage

DIM = 4
FILE_WORDS = ["the", "paris", "Paris", "nasa", "obama", "london", "dog", "cat", "sees", "."]
RNG = np.random.default_rng(5)
FILE_VECTORS = {w: RNG.standard_normal(DIM).astype(np.float32) for w in FILE_WORDS}


def vectors_file(tmp_path: Path, words=FILE_WORDS) -> Path:
    path = tmp_path / "vectors.txt"
    lines = [w + " " + " ".join(repr(float(x)) for x in FILE_VECTORS[w]) for w in words]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_exact_form_first_then_lowercased(tmp_path):
    vocab = Vocab.build([["Paris", "NASA", "the", "Zzz", "paris"]])
    got = attach_vectors(vocab, vectors_file(tmp_path), max_words=0)
    row = {t: i for i, t in enumerate(got.vocab.tokens)}
    np.testing.assert_array_equal(got.vectors[row["Paris"]], FILE_VECTORS["Paris"])  # exact
    np.testing.assert_array_equal(got.vectors[row["paris"]], FILE_VECTORS["paris"])
    np.testing.assert_array_equal(got.vectors[row["NASA"]], FILE_VECTORS["nasa"])  # lowercased
    assert got.how[row["Paris"]] == EXACT and got.how[row["NASA"]] == LOWER
    assert got.how[row["Zzz"]] == NONE and not got.vectors[row["Zzz"]].any()
    assert got.how[0] == got.how[1] == NONE  # <pad>, <unk>
    assert got.trained == len(vocab) and got.fixed_words == 0


def test_the_exact_form_wins_wherever_it_comes_in_the_file(tmp_path):
    vocab = Vocab.build([["Paris"]])
    got = attach_vectors(vocab, vectors_file(tmp_path, ["paris", "Paris"]), max_words=0)
    np.testing.assert_array_equal(got.vectors[2], FILE_VECTORS["Paris"])


def test_file_words_join_the_vocabulary_up_to_max_words(tmp_path):
    vocab = Vocab.build([["Paris", "dog"]])
    path = vectors_file(tmp_path)
    got = attach_vectors(vocab, path, max_words=6)  # the file's first six lines
    assert got.vocab.tokens[: len(vocab)] == vocab.tokens
    assert got.vocab.tokens[len(vocab) :] == ["the", "paris", "nasa", "obama", "london"]
    assert got.fixed_words == 5 and got.vectors.shape == (len(vocab) + 5, DIM)
    assert got.vocab.counts[len(vocab) :].tolist() == [0] * 5
    # a cased vocabulary now falls back to the lower-cased form: "Obama" finds "obama"
    assert got.vocab.index("Obama") == got.vocab.tokens.index("obama")
    assert got.vocab.index("Dog") == got.vocab.index("dog")
    everything = attach_vectors(vocab, path, max_words=None)
    assert everything.fixed_words == len(FILE_WORDS) - 2  # "Paris" and "dog" are trained rows


def test_a_lowercased_vocabulary_adds_lowercase_words_only(tmp_path):
    vocab = Vocab.build([["Dog"]], lowercase=True)
    got = attach_vectors(vocab, vectors_file(tmp_path), max_words=None)
    assert "Paris" not in got.vocab.tokens and "paris" in got.vocab.tokens
    np.testing.assert_array_equal(got.vectors[got.vocab.index("PARIS")], FILE_VECTORS["paris"])
    assert not got.vocab.fallback_lowercase  # it folds every lookup already


def test_coverage_counts_tokens_by_how_they_found_a_vector(tmp_path):
    vocab = Vocab.build([["Paris", "the", "Zzz"]])
    got = attach_vectors(vocab, vectors_file(tmp_path), max_words=None)
    texts = [["Paris", "THE", "Zzz", "obama"], ["Unknown", "the"]]
    c = coverage(texts, got)
    assert c["tokens"] == 6
    assert c["vector"] == pytest.approx(4 / 6)  # Paris, THE (lowercased), obama, the
    assert c["exact"] == pytest.approx(3 / 6)
    assert c["lowercased"] == pytest.approx(1 / 6)
    assert c["in_training"] == pytest.approx(4 / 6)  # Paris, THE, Zzz, the


def test_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="vocab must be a word Vocab"):
        attach_vectors(Vocab.build_labels(["a"]), vectors_file(tmp_path))
    with pytest.raises(ValueError, match="max_words must be >= 0"):
        attach_vectors(Vocab.build([["a"]]), vectors_file(tmp_path), max_words=-1)


# -- in a model --------------------------------------------------------------------------------

TAGS = {"the": "DET", "dog": "NOUN", "cat": "NOUN", "sees": "VERB", ".": "PUNCT"}
TRAIN = [
    TaggedSentence(s.split(), [TAGS[w] for w in s.split()])
    for s in ["the dog sees the cat .", "the cat sees the dog .", "the dog sees ."] * 4
]
ENCODER = {"hidden": 6, "layers": 1, "char_hidden": 0, "dropout": 0.0}


def tagger(tmp_path: Path, **kw) -> pipeline.TaskModel:
    task = pipeline.get_task("tag")
    return pipeline.build(task, TRAIN, ENCODER | kw, {}, embeddings=vectors_file(tmp_path))


def row_of(model: pipeline.TaskModel, word: str) -> np.ndarray:
    """The embedding row a word reads, looked up as the model's batches look it up."""
    ids = model.encode([TaggedSentence([word], ["DET"])]).words[0]
    return model.model.encoder.embed.forward(np.array(ids))[0][0]


def test_an_unseen_word_reads_its_vector_at_prediction_after_training(tmp_path):
    model = tagger(tmp_path)
    enc = model.model.config.encoder
    assert enc.word_dim == DIM and enc.fixed_words == len(FILE_WORDS) - len(TAGS)
    np.testing.assert_array_equal(row_of(model, "obama"), FILE_VECTORS["obama"])
    np.testing.assert_array_equal(row_of(model, "dog"), FILE_VECTORS["dog"])
    pipeline.train(
        model, TRAIN, None, TrainConfig(epochs=3, lr=0.05), tmp_path / "run", progress=False
    )
    loaded = pipeline.load(tmp_path / "run")  # its last epoch: the model as trained
    np.testing.assert_array_equal(row_of(loaded, "Obama"), FILE_VECTORS["obama"])  # never trained
    assert not np.allclose(row_of(loaded, "dog"), FILE_VECTORS["dog"])  # fine-tuned
    assert not np.allclose(row_of(loaded, "obama"), row_of(loaded, "zebra"))  # <unk> differs
    sentence = [TaggedSentence("the obama sees .".split(), ["DET"] * 4)]
    assert loaded.predict(sentence) == model.predict(sentence)


def test_frozen_embeddings_keep_the_file_vectors(tmp_path):
    model = tagger(tmp_path, freeze_embeddings=True)
    pipeline.train(
        model, TRAIN, None, TrainConfig(epochs=2, lr=0.05), tmp_path / "run", progress=False
    )
    np.testing.assert_array_equal(row_of(model, "dog"), FILE_VECTORS["dog"])


def test_word_dim_follows_the_file_and_a_conflict_is_refused(tmp_path):
    assert tagger(tmp_path, word_dim=DIM).model.config.encoder.word_dim == DIM
    with pytest.raises(ValueError, match=f"word_dim 7 conflicts with the {DIM}-dimensional"):
        tagger(tmp_path, word_dim=7)


# -- init_from ---------------------------------------------------------------------------------

FILL_TEXT = ["the dog sees the cat .", "a bird sees the dog .", "the cat sees a bird ."] * 3


def test_init_from_copies_the_encoder_where_names_and_shapes_match(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("\n".join(FILL_TEXT) + "\n", encoding="utf-8")
    fill = pipeline.get_task("fill")
    enc = ENCODER | {"char_hidden": 3, "word_dim": 5}
    source = pipeline.build(fill, pipeline.read(fill, text, {}), enc, {}, seed=1)
    pipeline.train(
        source,
        pipeline.read(fill, text, {}),
        None,
        TrainConfig(epochs=1),
        tmp_path / "fill",
        progress=False,
    )
    task = pipeline.get_task("tag")
    model = pipeline.build(task, TRAIN, enc | {"case_dim": 0}, {}, seed=2)
    report = pipeline.init_from(model, tmp_path / "fill")
    src = pipeline.load(tmp_path / "fill")
    mine, theirs = model.model.encoder.params, src.model.encoder.params
    for name in mine:
        if name.startswith("rnn.") or name.startswith("chars.rnn."):
            np.testing.assert_array_equal(mine[name], theirs[name])
    for word in ("dog", "sees", "<unk>"):  # row by row, through both vocabularies
        np.testing.assert_array_equal(
            mine["embed.weight"][model.vocabs.words.index(word)],
            theirs["embed.weight"][src.vocabs.words.index(word)],
        )
    assert "embed.weight" in report.loaded and "rnn.weight_ih_l0" in report.loaded
    copied, total = report.rows["embed"]
    assert total == len(model.vocabs.words) and copied == total  # every tagger word is in FILL_TEXT
    assert "out.weight" not in report.loaded  # the encoder only
    assert str(tmp_path / "fill") in str(report) and "loaded" in str(report)


def test_init_from_an_incompatible_encoder_names_what_differs(tmp_path):
    task = pipeline.get_task("tag")
    source = pipeline.build(task, TRAIN, ENCODER | {"hidden": 5}, {})
    pipeline.train(source, TRAIN, None, TrainConfig(epochs=1), tmp_path / "other", progress=False)
    model = pipeline.build(task, TRAIN, ENCODER, {})
    before = {k: v.copy() for k, v in model.model.params.items()}
    with pytest.raises(ValueError, match=r"rnn.weight_hh_l0 \(24, 6\) here, \(20, 5\) in"):
        pipeline.init_from(model, tmp_path / "other")
    assert all(np.array_equal(before[k], v) for k, v in model.model.params.items())
