"""birnn.pipeline: build -> train -> checkpoint -> load, and scoring through the task table.

The data are tiny generated languages with a learnable pattern (part of speech by word class,
sentiment by a cue word, the demo's cloze grammar), so a few epochs on a few dozen sentences
train a model that clearly learned something, in well under a second per run.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from birnn import EncoderConfig, pipeline
from birnn.data import DataError, LabelledText, TaggedSentence, write_cloze
from birnn.demo.grammar import generate
from birnn.tasks import fill, tagging
from birnn.train.checkpoint import CheckpointError
from birnn.train.config import TrainConfig
from cli_support import LEXICON, pos_sentences

ENCODER = {"word_dim": 8, "hidden": 8, "layers": 1, "char_dim": 4, "char_hidden": 4,
           "dropout": 0.1, "cell": "lstm"}  # fmt: skip


def sentiment_texts(count: int, seed: int) -> list[LabelledText]:
    rng = np.random.default_rng(seed)
    cues = {"pos": ["good", "great", "fine"], "neg": ["bad", "awful", "dull"]}
    filler = ["the", "movie", "was", "really", "plot", "and"]
    out = []
    for i in range(count):
        label = ("neg", "pos")[i % 2]
        words = [filler[int(j)] for j in rng.integers(len(filler), size=int(rng.integers(1, 5)))]
        words.insert(int(rng.integers(len(words) + 1)), cues[label][int(rng.integers(3))])
        out.append(LabelledText(words, label))
    return out


def train(
    task: str,
    train_records: list[Any],
    dev: list[Any] | None,
    out: Path,
    epochs: int = 4,
    options: dict[str, Any] | None = None,
    **encoder: Any,
) -> tuple[pipeline.TaskModel, dict[str, Any]]:
    loaded = pipeline.build(
        pipeline.get_task(task), train_records, ENCODER | encoder, options or {}, seed=1
    )
    config = TrainConfig(epochs=epochs, batch_size=8, lr=0.05, patience=0, seed=0)
    summary = pipeline.train(loaded, train_records, dev, config, out, progress=False)
    return loaded, summary


def same_params(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def log_records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


# -- build, train, save, load ------------------------------------------------------------------


def test_tagger_trains_checkpoints_and_loads_to_the_same_predictions(tmp_path):
    train_set, dev = pos_sentences(48, seed=0), pos_sentences(16, seed=1)
    loaded, summary = train("tag", train_set, dev, tmp_path, epochs=5)
    assert summary["epochs"] == 5 and not summary["stopped_early"]
    log = log_records(tmp_path)
    assert [r["epoch"] for r in log] == [1, 2, 3, 4, 5]
    assert summary["best_dev_score"] == max(r["dev_score"] for r in log)
    assert summary["best_dev_score"] >= 0.9, log  # the pattern was learned
    assert log[-1]["train_loss"] < log[0]["train_loss"]

    # last/ holds exactly the in-memory model: same parameters, same predictions
    last = pipeline.load(tmp_path / "last")
    assert type(last.model) is type(loaded.model)
    assert last.model.config == loaded.model.config
    assert last.vocabs.to_json() == loaded.vocabs.to_json()
    assert same_params(last.model.params, loaded.model.params)
    unseen = [
        TaggedSentence("the zebra eats a qüince .".split(), ["_"] * 6),  # unknown words, chars
        TaggedSentence(["dog"], ["_"]),
    ]
    assert last.predict(dev + unseen) == loaded.predict(dev + unseen)
    assert last.evaluate(dev) == loaded.evaluate(dev)

    # the run directory loads its best/: it reproduces the dev score logged at the best epoch
    best = pipeline.load(tmp_path)
    assert best.evaluate(dev)["score"] == log[summary["best_epoch"] - 1]["dev_score"]
    assert best.options == loaded.options


@pytest.mark.parametrize("task", ["classify", "fill"])
def test_a_run_without_dev_loads_from_its_out_directory(tmp_path, task):
    """No dev data: no best/; the run directory still loads (its last/)."""
    if task == "classify":
        records, options = sentiment_texts(40, seed=0), {"pooling": "mean"}
    else:
        records, options = generate(60, np.random.default_rng(0)), {}
    loaded, summary = train(task, records, None, tmp_path, epochs=2, options=options)
    assert summary["best_epoch"] is None
    assert not (tmp_path / "best").exists()
    again = pipeline.load(tmp_path)
    assert same_params(again.model.params, loaded.model.params)
    predicted = again.predict(records)
    assert predicted == loaded.predict(records)
    scores = again.evaluate(records)
    gold = [r.label if task == "classify" else r.answer for r in records]
    assert scores["score"] == pytest.approx(np.mean([p == g for p, g in zip(predicted, gold)]))
    assert scores["items"] == len(records)


def test_classifier_learns_a_cue_word(tmp_path):
    train_set, dev = sentiment_texts(48, seed=0), sentiment_texts(20, seed=1)
    _, summary = train("classify", train_set, dev, tmp_path, epochs=6,
                       options={"pooling": "max"}, bidirectional=True)  # fmt: skip
    assert summary["best_dev_score"] >= 0.85, log_records(tmp_path)
    assert pipeline.load(tmp_path).predict(dev) == pipeline.load(tmp_path / "best").predict(dev)


def test_fill_scores_split_right_and_left_context(tmp_path):
    items = generate(60, np.random.default_rng(3))
    loaded = pipeline.build(pipeline.get_task("fill"), items, ENCODER, {})
    scores = loaded.evaluate(items)
    right = [it for it in items if it.needs_right]
    predicted = loaded.predict(items)
    hits = [p == it.answer for p, it in zip(predicted, items)]
    assert scores["accuracy"] == pytest.approx(np.mean(hits))
    assert scores["accuracy_right_context"] == pytest.approx(
        np.mean([h for h, it in zip(hits, items) if it.needs_right])
    )
    assert 0 < len(right) < len(items)


def test_create_with_a_typed_config_is_the_model_build_makes():
    """The command line's two steps (vocabularies, then an EncoderConfig sized by them)."""
    task, records = pipeline.get_task("tag"), pos_sentences(20, seed=0)
    built = pipeline.build(task, records, ENCODER | {"rare_word_dropout": 0.5}, {"head": "crf"})
    vocabs = task.build_vocabs(records, 1, False, chars=True)
    encoder = EncoderConfig(
        vocab_size=len(vocabs.words), char_vocab_size=vocabs.char_vocab_size, rare_word_dropout=0.5,
        **ENCODER,
    )  # fmt: skip
    created = pipeline.create(task, vocabs, encoder, {"head": "crf"})
    assert created.model.config == built.model.config
    assert same_params(created.model.params, built.model.params)
    # the training counts reach the encoder through the model's constructor
    np.testing.assert_array_equal(created.model.encoder.word_counts, vocabs.words.counts)
    np.testing.assert_array_equal(built.model.encoder.word_counts, vocabs.words.counts)


def test_create_refuses_an_encoder_that_does_not_fit_the_vocabularies():
    task, records = pipeline.get_task("classify"), sentiment_texts(10, seed=0)
    vocabs = task.build_vocabs(records, 1, False, chars=False)
    with pytest.raises(ValueError, match=r"fit the vocabularies.*received.*'vocab_size': 5"):
        pipeline.create(task, vocabs, EncoderConfig(vocab_size=5), {})
    with pytest.raises(TypeError, match="encoder must be an EncoderConfig; received dict"):
        pipeline.create(task, vocabs, {"vocab_size": len(vocabs.words)}, {})  # type: ignore[arg-type]


def test_a_loaded_model_has_the_training_counts(tmp_path):
    loaded, _ = train("tag", pos_sentences(12, seed=0), None, tmp_path, epochs=1)
    again = pipeline.load(tmp_path)
    np.testing.assert_array_equal(again.model.encoder.word_counts, loaded.vocabs.words.counts)


# -- labels never seen in training ---------------------------------------------------------------


def test_an_unseen_tag_at_evaluation_counts_as_an_error():
    train_set = pos_sentences(20, seed=0)
    loaded = pipeline.build(pipeline.get_task("tag"), train_set, ENCODER, {})
    dev = [
        *pos_sentences(5, seed=4),
        TaggedSentence(["wow", "the", "dog", "runs", "!"], ["INTJ", "DET", "NOUN", "VERB", "SYM"]),
    ]
    predicted = loaded.predict(dev)
    assert all(t in LEXICON or t == "PUNCT" for p in predicted for t in p)
    scores = loaded.evaluate(dev)
    gold = [t for s in dev for t in s.tags]
    flat = [t for p in predicted for t in p]
    assert scores["tokens"] == len(gold)  # the unseen tags are counted ...
    assert scores["accuracy"] == pytest.approx(np.mean([g == p for g, p in zip(gold, flat)]))
    assert scores["accuracy"] <= (len(gold) - 2) / len(gold)  # ... and always wrong


def test_an_unseen_entity_type_lowers_recall():
    gold = [TaggedSentence(["john", "in", "rome"], ["B-PER", "O", "B-LOC"]),
            TaggedSentence(["nato", "met"], ["B-ORG", "O"])]  # fmt: skip
    # the best a model that never saw ORG can do: every other tag right
    predicted = [["B-PER", "O", "B-LOC"], ["O", "O"]]
    scores = tagging.scores(gold, predicted, "iob2")
    assert scores["precision"] == 1.0
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["per_type"]["ORG"]["recall"] == 0.0 and scores["score"] == scores["f1"] < 1


def test_an_unseen_class_label_at_evaluation_counts_as_an_error():
    train_set = sentiment_texts(20, seed=0)
    loaded = pipeline.build(pipeline.get_task("classify"), train_set, ENCODER, {})
    dev = [*sentiment_texts(6, seed=5), LabelledText(["meh", "movie"], "neutral"),
           LabelledText(["so", "so"], "neutral")]  # fmt: skip
    predicted = loaded.predict(dev)
    assert set(predicted) <= {"neg", "pos"}
    scores = loaded.evaluate(dev)
    assert scores["items"] == len(dev)
    expected = np.mean([p == t.label for p, t in zip(predicted, dev)])
    assert scores["accuracy"] == pytest.approx(expected) and scores["score"] == scores["accuracy"]
    assert scores["accuracy"] <= 6 / 8
    assert scores["macro_f1"] == pytest.approx(macro_f1_by_hand(predicted, [t.label for t in dev]))


def macro_f1_by_hand(predicted: list[str], gold: list[str]) -> float:
    """Mean F1 over the classes seen in training that occur in gold or prediction."""
    f1s = []
    for label in ("neg", "pos"):
        right = sum(p == g == label for p, g in zip(predicted, gold))
        guessed, actual = predicted.count(label), gold.count(label)
        if guessed or actual:
            f1s.append(2 * right / (guessed + actual))
    return float(np.mean(f1s))


# -- fill-in-the-blank files ---------------------------------------------------------------------


def test_fill_items_survive_a_write_and_read(tmp_path):
    items = generate(30, np.random.default_rng(2))
    write_cloze(items, tmp_path / "items.tsv")
    again = fill.read(tmp_path / "items.tsv")
    assert [(it.words, it.blank, it.answer, it.needs_right) for it in again] == [
        (it.words, it.blank, it.answer, it.needs_right) for it in items
    ]


def test_plain_sentences_become_items_the_same_way_for_a_seed(tmp_path):
    path = tmp_path / "plain.txt"
    path.write_text("the dog runs fast\nshe saw an owl today\nhi\n", encoding="utf-8")
    a, b = fill.read(path, seed=3), fill.read(path, seed=3)
    assert a == b and len(a) == 2  # "hi" is too short to hide a word in
    for it, sentence in zip(a, ["the dog runs fast", "she saw an owl today"]):
        words = list(it.words)
        words[it.blank] = it.answer
        assert " ".join(words) == sentence


# -- loading refuses what is not a birnn model ---------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("saved")
    train("tag", pos_sentences(12, seed=0), None, out, epochs=1)
    return out / "last"


def test_load_refuses_a_missing_directory(tmp_path):
    with pytest.raises(CheckpointError, match="nowhere"):
        pipeline.load(tmp_path / "nowhere")


def test_load_refuses_garbage_files(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"not safetensors at all")
    (tmp_path / "config.json").write_text("{", encoding="utf-8")
    with pytest.raises(CheckpointError, match=re.escape(str(tmp_path))):
        pipeline.load(tmp_path)


def test_load_refuses_a_checkpoint_of_another_program(tmp_path, saved):
    shutil.copytree(saved, tmp_path / "other")
    config = tmp_path / "other" / "config.json"
    config.write_text(json.dumps({"format": "other-program/2", "layers": 3}), encoding="utf-8")
    with pytest.raises(CheckpointError, match="not a birnn"):
        pipeline.load(tmp_path / "other")


def test_load_refuses_a_config_that_describes_no_model(tmp_path, saved):
    shutil.copytree(saved, tmp_path / "broken")
    path = tmp_path / "broken" / "config.json"
    cfg = json.loads(path.read_text(encoding="utf-8"))
    cfg["model"]["encoder"]["cell"] = "transformer"
    path.write_text(json.dumps(cfg), encoding="utf-8")
    with pytest.raises(CheckpointError, match="transformer"):
        pipeline.load(tmp_path / "broken")


def test_load_refuses_parameters_that_do_not_fit_the_config(tmp_path, saved):
    shutil.copytree(saved, tmp_path / "mismatch")
    path = tmp_path / "mismatch" / "config.json"
    cfg = json.loads(path.read_text(encoding="utf-8"))
    cfg["model"]["encoder"]["hidden"] += 1
    path.write_text(json.dumps(cfg), encoding="utf-8")
    with pytest.raises(CheckpointError):
        pipeline.load(tmp_path / "mismatch")


def test_read_and_get_task_refuse_bad_input(tmp_path):
    with pytest.raises(ValueError, match="'parse'"):
        pipeline.get_task("parse")
    with pytest.raises(DataError, match=r"missing\.conllu"):
        pipeline.read(pipeline.get_task("tag"), tmp_path / "missing.conllu", {})
    with pytest.raises(DataError, match=r"missing\.txt: no such file"):
        pipeline.read_texts(pipeline.get_task("classify"), tmp_path / "missing.txt")


@pytest.mark.parametrize("task", ["tag", "classify", "fill"])
def test_read_texts_gives_unlabelled_records_of_the_task(tmp_path, task):
    path = tmp_path / "texts.txt"
    path.write_text("the ___ runs\nthe big ___ .\n", encoding="utf-8")
    records = pipeline.read_texts(pipeline.get_task(task), path)
    assert [list(r.words) for r in records] == [["the", "___", "runs"], ["the", "big", "___", "."]]
