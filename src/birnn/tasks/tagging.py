"""Token tagging: part-of-speech tags from CoNLL-U, or entity tags from CoNLL column files.

Scores: token accuracy always; with an entity scheme (iob1, iob2, bioes), entity-level
precision, recall and F1 per type and micro-averaged, as conlleval computes them. A gold tag
never seen in training counts as an error (no prediction equals it).

Predictions come out as TSV (``word<TAB>tag``, a blank line after each sentence) or, with the
option ``output="conllu"``, as CoNLL-U word lines with the tag in the column read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from birnn.data import (
    TaggedSentence,
    conllu_lines,
    convert,
    read_columns,
    read_conllu,
    read_texts,
)
from birnn.data.formats import is_conllu_data
from birnn.metrics import accuracy, span_f1
from birnn.models.tagger import Tagger, TaggerConfig
from birnn.tasks.base import Vocabs
from birnn.tasks.task import Options, Task

FORMATS = ("auto", "conllu", "columns")


@dataclass
class TaggingOptions:
    format: str = "auto"  # "conllu" | "columns" | "auto" (CoNLL-U by name or content)
    column: str = "upos"  # CoNLL-U column to predict
    scheme: str | None = None  # entity tag scheme of column files: "iob1" | "iob2" | "bioes"

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}; received {self.format!r}")

    @classmethod
    def of(cls, options: Options) -> TaggingOptions:
        """The tagging options among a task's options (the others are the models')."""
        return cls(
            format=options.get("format", "auto"),
            column=options.get("column", "upos"),
            scheme=options.get("scheme"),
        )


def read(path: str | Path, options: TaggingOptions) -> list[TaggedSentence]:
    """The tagged sentences of ``path``; with a scheme, every tag is checked as it is read and an
    ill-formed tag sequence (an IOB2 ``I-`` after ``O``) is rewritten as conlleval reads it (same
    spans, so the same entity scores), which is what a constrained tagger can learn and produce."""
    fmt = options.format
    if fmt == "auto":
        fmt = "conllu" if is_conllu_data(Path(path)) else "columns"
    if fmt == "conllu":
        sentences = read_conllu(path, column=options.column, scheme=options.scheme)
    else:
        sentences = read_columns(path, scheme=options.scheme)
    if options.scheme is None:
        return sentences
    scheme = options.scheme
    return [TaggedSentence(s.words, convert(s.tags, scheme, scheme)) for s in sentences]


def _texts(path: Path) -> list[list[str]]:
    """The sentences to tag: a CoNLL-U file's words, else one sentence per line."""
    return [s.words for s in read_conllu(path)] if is_conllu_data(path) else read_texts(path)


def _unlabelled(words: list[str]) -> TaggedSentence:
    return TaggedSentence(words, ["_"] * len(words))


def lines(
    records: list[TaggedSentence], predicted: list[list[str]], options: Options
) -> Iterator[str]:
    """CoNLL-U (the predicted tag in its column) or TSV (word<TAB>tag), a blank line between."""
    conllu = options.get("output", "tsv") == "conllu"
    column = options.get("column", "upos")
    for record, tags in zip(records, predicted):
        if conllu:
            yield from conllu_lines(record.words, tags, column)
        else:
            yield from (f"{word}\t{tag}" for word, tag in zip(record.words, tags))
        yield ""


def scores(
    gold: list[TaggedSentence], predicted: list[list[str]], scheme: str | None
) -> dict[str, Any]:
    """Metrics of predicted tag strings against the gold sentences; "score" is the one to watch."""
    flat_gold = [t for s in gold for t in s.tags]
    flat_pred = [t for p in predicted for t in p]
    acc = accuracy(flat_pred, flat_gold) if flat_gold else 0.0
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


def head(options: Options, vocabs: Vocabs) -> dict[str, Any]:
    """The tagger config beyond the encoder: with an entity scheme, the constraints of that
    scheme over the tags (unless the option ``constraints`` is False)."""
    scheme = options.get("scheme") if options.get("constraints", True) else None
    return {
        "num_tags": len(vocabs.labels),
        "head": options.get("head", "softmax"),
        "scheme": scheme,
        "tags": vocabs.labels.tokens if scheme is not None else None,
    }


TASK = Task(
    name="tag",
    per_token=True,
    model=Tagger,
    config=TaggerConfig,
    read=lambda path, options: read(path, TaggingOptions.of(options)),
    gold=lambda sentence: sentence.tags,
    head=lambda options, vocabs: head(options, vocabs),
    scores=lambda gold, predicted, vocabs, options: scores(gold, predicted, options.get("scheme")),
    unlabelled=_unlabelled,
    lines=lines,
    read_texts=_texts,
)

__all__ = ["TASK", "TaggingOptions", "lines", "read", "scores"]
