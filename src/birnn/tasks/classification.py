"""Sentence classification: one label per text (``label text`` lines or TSV).

Scores: accuracy ("score") and macro-F1 over the labels. A gold label never seen in training
counts as an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from birnn.data import LabelledText, Vocab, read_classification
from birnn.metrics import classification_scores
from birnn.tasks.base import Encoded, FormTable, Vocabs, encode_words, make_vocabs


def read(path: str | Path) -> list[LabelledText]:
    return read_classification(path)


def build_vocabs(train: list[LabelledText], min_count: int, lowercase: bool, chars: bool) -> Vocabs:
    return make_vocabs(
        [t.words for t in train], (t.label for t in train), min_count, lowercase, chars
    )


def encode(texts: list[LabelledText], vocabs: Vocabs, forms: FormTable) -> Encoded:
    words, form_ids = encode_words((t.words for t in texts), vocabs, forms)
    labels = vocabs.labels.encode([t.label for t in texts])
    return Encoded(words, form_ids, labels)


def scores(gold: list[LabelledText], predicted: list[str], labels: Vocab) -> dict[str, Any]:
    gold_ids = labels.encode([t.label for t in gold])
    pred_ids = labels.encode(predicted)
    s = classification_scores(pred_ids, gold_ids, len(labels))
    return {"accuracy": s.accuracy, "macro_f1": s.macro_f1, "items": len(gold), "score": s.accuracy}
