"""The task table: one entry per task, so the command line has no per-task branches.

Each entry says how to read a file, build vocabularies, encode records, which model and config
class to use, how to score predictions, and how to write them out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from birnn.models.classifier import Classifier, ClassifierConfig
from birnn.models.fill import FillConfig, FillModel
from birnn.models.tagger import Tagger, TaggerConfig
from birnn.tasks import classification, fill, tagging
from birnn.tasks.base import Vocabs

Options = dict[str, Any]  # the task's own options: format, column, scheme, head, pooling, seed


@dataclass(frozen=True)
class Task:
    name: str
    per_token: bool  # one target per token (tagging) or one per sequence
    model: type
    config: type
    read: Callable[[str | Path, Options], list[Any]]
    build_vocabs: Callable[[list[Any], int, bool, bool], Vocabs]
    encode: Callable[..., Any]
    head: Callable[[Options, Vocabs], dict[str, Any]]  # the model config beyond the encoder
    scores: Callable[[list[Any], list[Any], Vocabs, Options], dict[str, Any]]
    unlabelled: Callable[[list[str]], Any]  # words of raw text -> a record to predict on
    lines: Callable[[list[Any], list[Any], Options], Iterator[str]]  # predictions, formatted
    text: Callable[[Any], list[str]]  # the words of a record


def _tag_lines(records: list[Any], predicted: list[Any], options: Options) -> Iterator[str]:
    """CoNLL-U (the predicted tag in its column) or TSV (word<TAB>tag, a blank line between)."""
    conllu = options.get("output", "tsv") == "conllu"
    columns = ["id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc"]
    where = columns.index(options.get("column", "upos")) if conllu else 0
    for record, tags in zip(records, predicted):
        for i, (word, tag) in enumerate(zip(record.words, tags), 1):
            if conllu:
                row = [str(i), word] + ["_"] * 8
                row[where] = tag
                yield "\t".join(row)
            else:
                yield f"{word}\t{tag}"
        yield ""


def _label_lines(records: list[Any], predicted: list[Any], options: Options) -> Iterator[str]:
    for record, label in zip(records, predicted):
        yield f"{label}\t{' '.join(record.words)}"


def _fill_lines(records: list[Any], predicted: list[Any], options: Options) -> Iterator[str]:
    for record, answer in zip(records, predicted):
        yield f"{' '.join(record.words)}\t{answer}"


def _tag_options(options: Options) -> tagging.TaggingOptions:
    return tagging.TaggingOptions(
        format=options.get("format", "auto"),
        column=options.get("column", "upos"),
        scheme=options.get("scheme"),
    )


def _unlabelled_fill(words: list[str]) -> Any:
    if words.count(fill.BLANK) != 1:
        raise ValueError(
            f"a fill-in-the-blank text needs exactly one {fill.BLANK}; received {words}"
        )
    return fill.ClozeItem(tuple(words), words.index(fill.BLANK), "", False, "input")


TASKS: dict[str, Task] = {
    "tag": Task(
        name="tag",
        per_token=True,
        model=Tagger,
        config=TaggerConfig,
        read=lambda path, o: tagging.read(path, _tag_options(o)),
        build_vocabs=tagging.build_vocabs,
        encode=tagging.encode,
        head=lambda o, v: {"num_tags": len(v.labels), "head": o.get("head", "softmax")},
        scores=lambda gold, pred, v, o: tagging.scores(gold, pred, o.get("scheme")),
        unlabelled=lambda words: tagging.TaggedSentence(words, ["_"] * len(words)),
        lines=_tag_lines,
        text=lambda r: list(r.words),
    ),
    "classify": Task(
        name="classify",
        per_token=False,
        model=Classifier,
        config=ClassifierConfig,
        read=lambda path, o: classification.read(path),
        build_vocabs=classification.build_vocabs,
        encode=classification.encode,
        head=lambda o, v: {"num_labels": len(v.labels), "pooling": o.get("pooling", "final")},
        scores=lambda gold, pred, v, o: classification.scores(gold, pred, v.labels),
        unlabelled=lambda words: classification.LabelledText(words, ""),
        lines=_label_lines,
        text=lambda r: list(r.words),
    ),
    "fill": Task(
        name="fill",
        per_token=False,
        model=FillModel,
        config=FillConfig,
        read=lambda path, o: fill.read(path, seed=o.get("seed", 0)),
        build_vocabs=fill.build_vocabs,
        encode=fill.encode,
        head=lambda o, v: {"num_answers": len(v.labels)},
        scores=lambda gold, pred, v, o: fill.scores(gold, pred),
        unlabelled=_unlabelled_fill,
        lines=_fill_lines,
        text=lambda r: list(r.words),
    ),
}
