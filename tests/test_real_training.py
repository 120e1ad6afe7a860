"""Slow evaluations on the real data of ``../shared/data``: short trainings that must reach a
real score (``pytest -m slow`` runs them; CI skips them, see docs/TESTING.md).

Each is a cut-down version of a RESULTS.md command (fewer epochs or sentences), with a floor well
below what that command reaches but far above chance, so a training stack that stopped learning
(no clipping, lr 0, broken dropout, unshuffled batches, a wrong gradient) fails here.
"""

from __future__ import annotations

import pytest

from birnn import pipeline
from birnn.train import TrainConfig
from shared_data import shared_file

pytestmark = pytest.mark.slow


def test_sst2_polarity_after_three_epochs(tmp_path):
    """RESULTS.md's SST-2 model, three epochs: dev accuracy >= 0.75 (the full run: 0.80)."""
    task = pipeline.get_task("classify")
    train = pipeline.read(task, shared_file("sentiment_sst/stsa.binary.train"), {})
    dev = pipeline.read(task, shared_file("sentiment_sst/stsa.binary.dev"), {})
    encoder = {"hidden": 128, "layers": 1, "char_hidden": 0, "dropout": 0.5,
               "rare_word_dropout": 0.25}  # fmt: skip
    model = pipeline.build(task, train, encoder, {"pooling": "final+max"})
    config = TrainConfig(epochs=3, patience=0, schedule="cosine", lr=2e-3, seed=0)
    summary = pipeline.train(model, train, dev, config, tmp_path, progress=False)
    assert summary["best_dev_score"] >= 0.75, summary
    assert pipeline.load(tmp_path).evaluate(dev)["accuracy"] == summary["best_dev_score"]


def test_ewt_upos_from_three_thousand_sentences(tmp_path):
    """A small UPOS tagger (3,000 training sentences, two epochs): dev accuracy >= 0.85."""
    task = pipeline.get_task("tag")
    train = pipeline.read(task, shared_file("ud_english_ewt/en_ewt-ud-train.conllu.gz"), {})
    dev = pipeline.read(task, shared_file("ud_english_ewt/en_ewt-ud-dev.conllu.gz"), {})
    train, dev = train[:3000], dev[:500]
    encoder = {"hidden": 64, "layers": 1, "char_hidden": 32, "word_dim": 64,
               "rare_word_dropout": 0.25}  # fmt: skip
    model = pipeline.build(task, train, encoder, {}, lowercase=True)
    config = TrainConfig(epochs=2, patience=0, lr=2e-3, seed=0)
    summary = pipeline.train(model, train, dev, config, tmp_path, progress=False)
    assert summary["best_dev_score"] >= 0.85, summary
