"""Sentence classification: one label per text (``label text`` lines or TSV).

Scores: accuracy ("score") and macro-F1 over the labels. A gold label never seen in training
counts as an error. Predictions come out as ``label<TAB>text`` lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from birnn.data import LabelledText, Vocab, read_classification
from birnn.metrics import classification_scores
from birnn.models.classifier import Classifier, ClassifierConfig
from birnn.tasks.task import Options, Task


def lines(records: list[LabelledText], predicted: list[str], options: Options) -> Iterator[str]:
    for record, label in zip(records, predicted):
        yield f"{label}\t{' '.join(record.words)}"


def scores(gold: list[LabelledText], predicted: list[str], labels: Vocab) -> dict[str, Any]:
    gold_ids = labels.encode([t.label for t in gold])
    pred_ids = labels.encode(predicted)
    s = classification_scores(pred_ids, gold_ids, len(labels))
    return {"accuracy": s.accuracy, "macro_f1": s.macro_f1, "items": len(gold), "score": s.accuracy}


TASK = Task(
    name="classify",
    per_token=False,
    model=Classifier,
    config=ClassifierConfig,
    read=lambda path, options: read_classification(path),
    gold=lambda text: text.label,
    head=lambda options, vocabs: {
        "num_labels": len(vocabs.labels),
        "pooling": options.get("pooling", "final"),
    },
    scores=lambda gold, predicted, vocabs, options: scores(gold, predicted, vocabs.labels),
    unlabelled=lambda words: LabelledText(words, ""),
    lines=lines,
)

__all__ = ["TASK", "lines", "scores"]
