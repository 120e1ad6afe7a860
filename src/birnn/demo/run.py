"""``birnn demo``: a unidirectional and a bidirectional model on the generated cloze task.

Both models are the same but for the direction: word embeddings -> one LSTM layer (left-to-right,
or both ways) -> the state at the blank -> softmax over the answers. Both train with the same
trainer, data, seed and number of epochs. The bidirectional one reads the words after the blank,
so it solves the right-context families; the other can only guess there.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from birnn import pipeline
from birnn.data import ClozeItem
from birnn.demo.grammar import generate
from birnn.models.encoder import EncoderConfig
from birnn.tasks.base import Vocabs
from birnn.tasks.fill import TASK
from birnn.train.config import TrainConfig


def encoder_config(vocabs: Vocabs, bidirectional: bool) -> EncoderConfig:
    """The demo's small encoder: words only (no characters), one LSTM layer."""
    return EncoderConfig(
        vocab_size=len(vocabs.words),
        word_dim=32,
        char_hidden=0,
        hidden=64,
        layers=1,
        bidirectional=bidirectional,
        dropout=0.1,
    )


@dataclass
class DemoResult:
    name: str
    scores: dict[str, Any]
    predictions: list[str]
    seconds: float


def train_one(
    bidirectional: bool,
    train: list[ClozeItem],
    test: list[ClozeItem],
    epochs: int,
    seed: int,
    progress: bool,
) -> DemoResult:
    vocabs = TASK.build_vocabs(train, min_count=1, lowercase=False, chars=False)
    model = pipeline.create(TASK, vocabs, encoder_config(vocabs, bidirectional), {}, seed=seed)
    config = TrainConfig(epochs=epochs, batch_size=32, lr=3e-3, patience=0, seed=seed)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="birnn-demo-") as out:
        pipeline.train(model, train, None, config, out, progress=progress)
    seconds = time.perf_counter() - start
    predictions = model.predict(test)
    name = "bidirectional" if bidirectional else "unidirectional"
    scores = TASK.scores(test, predictions, model.vocabs, model.options)
    return DemoResult(name, scores, predictions, seconds)


def run(
    train_size: int = 6000,
    test_size: int = 1200,
    epochs: int = 8,
    seed: int = 0,
    progress: bool = True,
    examples: int = 6,
) -> list[DemoResult]:
    """Generate the data, train both models, print the comparison; returns both results."""
    rng = np.random.default_rng(seed)
    train, test = generate(train_size, rng), generate(test_size, rng)
    print(f"Generated {len(train)} training and {len(test)} test sentences, each with one blank.")
    print("Examples (the blank's answer on the right):")
    for item in train[:4]:
        print(f"    {' '.join(item.words):<60} -> {item.answer}")
    results = [train_one(bi, train, test, epochs, seed, progress) for bi in (False, True)]
    print()
    print(f"{'model':<16}{'all blanks':>12}{'right context':>15}{'left context':>14}{'train s':>9}")
    for r in results:
        s = r.scores
        print(
            f"{r.name:<16}{100 * s['accuracy']:>11.1f}%{100 * s['accuracy_right_context']:>14.1f}%"
            f"{100 * s['accuracy_left_context']:>13.1f}%{r.seconds:>9.1f}"
        )
    uni, bi = results
    shown = [i for i, item in enumerate(test) if item.needs_right][:examples]
    width = max((len(" ".join(test[i].words)) for i in shown), default=0)
    print()
    print("Blanks that need the words after them (unidirectional / bidirectional guess):")
    for i in shown:
        item = test[i]
        mark = "ok" if bi.predictions[i] == item.answer else "wrong"
        guesses = f"{uni.predictions[i]} / {bi.predictions[i]}"
        print(f"    {' '.join(item.words):<{width}}  {guesses:<18} ({mark}, answer: {item.answer})")
    return results
