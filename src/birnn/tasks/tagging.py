"""Token tagging: part-of-speech tags from CoNLL-U, or entity tags from CoNLL column files.

Scores: token accuracy always; with an entity scheme (iob1, iob2, bioes), entity-level
precision, recall and F1 per type and micro-averaged, as conlleval computes them. A gold tag
never seen in training counts as an error (its id is -1, which no prediction equals).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from birnn.data import TaggedSentence, read_columns, read_conllu
from birnn.metrics import span_f1
from birnn.tasks.base import Encoded, FormTable, Vocabs, encode_words, make_vocabs

FORMATS = ("auto", "conllu", "columns")


@dataclass
class TaggingOptions:
    format: str = "auto"  # "conllu" | "columns" | "auto" (by the file name: *.conllu[.gz])
    column: str = "upos"  # CoNLL-U column to predict
    scheme: str | None = None  # entity tag scheme of column files: "iob1" | "iob2" | "bioes"

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}; received {self.format!r}")


def read(path: str | Path, options: TaggingOptions) -> list[TaggedSentence]:
    fmt = options.format
    if fmt == "auto":
        name = Path(path).name
        fmt = "conllu" if name.endswith((".conllu", ".conllu.gz")) else "columns"
    if fmt == "conllu":
        return read_conllu(path, column=options.column)
    return read_columns(path, scheme=options.scheme)


def build_vocabs(
    train: list[TaggedSentence], min_count: int, lowercase: bool, chars: bool
) -> Vocabs:
    return make_vocabs(
        [s.words for s in train], (t for s in train for t in s.tags), min_count, lowercase, chars
    )


def encode(sentences: list[TaggedSentence], vocabs: Vocabs, forms: FormTable) -> Encoded:
    words, form_ids = encode_words((s.words for s in sentences), vocabs, forms)
    tags = [vocabs.labels.encode(s.tags) for s in sentences]
    return Encoded(words, form_ids, tags)


def scores(
    gold: list[TaggedSentence], predicted: list[list[str]], scheme: str | None
) -> dict[str, Any]:
    """Metrics of predicted tag strings against the gold sentences; "score" is the one to watch."""
    flat_gold = [t for s in gold for t in s.tags]
    flat_pred = [t for p in predicted for t in p]
    acc = sum(g == p for g, p in zip(flat_gold, flat_pred)) / max(len(flat_gold), 1)
    out: dict[str, Any] = {"accuracy": acc, "tokens": len(flat_gold)}
    if scheme is None:
        return out | {"score": acc}
    spans = span_f1([s.tags for s in gold], predicted, scheme=scheme)
    per_type = {k: {"precision": v.precision, "recall": v.recall, "f1": v.f1, "support": v.support}
                for k, v in spans.per_type.items()}  # fmt: skip
    micro = spans.micro
    return out | {
        "precision": micro.precision,
        "recall": micro.recall,
        "f1": micro.f1,
        "per_type": per_type,
        "score": micro.f1,
    }


__all__ = ["TaggingOptions", "build_vocabs", "encode", "read", "scores"]
