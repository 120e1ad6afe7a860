"""Starting a model from what was learnt elsewhere: pretrained word vectors, another run's encoder.

Pretrained vectors (``birnn train --embeddings PATH``)::

    vocabs, vectors = with_vectors(vocabs, PATH, max_words)   # the file's words join the vocabulary
    encoder = EncoderConfig(..., **encoder_fields(vectors, word_dim=None))
    model = pipeline.create(task, vocabs, encoder, options)
    use_vectors(model, vectors)                               # rows set from the file

Another run's encoder (``--init-from RUN_DIR``): ``init_from(model, pipeline.load(RUN_DIR))``
copies every encoder parameter whose name and shape match; the word and character embeddings
row by row, for the words (characters) both vocabularies hold. A parameter both models have
with different shapes means the encoders are not compatible: ``ValueError`` naming them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from birnn.data import Vocab
from birnn.data.pretrained import Pretrained, attach_vectors, coverage
from birnn.layers.embedding import Embedding
from birnn.tasks.base import Vocabs

__all__ = [
    "DEFAULT_MAX_WORDS",
    "Transfer",
    "describe_vectors",
    "encoder_fields",
    "init_from",
    "use_vectors",
    "vector_report",
    "with_vectors",
]

DEFAULT_MAX_WORDS = 100_000  # file words kept beyond the training vocabulary (see RESULTS.md)


def with_vectors(
    vocabs: Vocabs, path: str | Path, max_words: int | None = DEFAULT_MAX_WORDS
) -> tuple[Vocabs, Pretrained]:
    """``vocabs`` whose word vocabulary is extended by the file's words, and the vectors."""
    vectors = attach_vectors(vocabs.words, path, max_words)
    return dataclasses.replace(vocabs, words=vectors.vocab), vectors


def encoder_fields(
    vectors: Pretrained, word_dim: int | None = None, name: str = "word_dim"
) -> dict[str, int]:
    """The ``EncoderConfig`` fields the vectors decide: ``word_dim`` (a different ``word_dim``
    asked for is a ``ValueError``; ``name``: what the message calls it) and ``fixed_words``."""
    if word_dim is not None and word_dim != vectors.dim:
        raise ValueError(
            f"{name} {word_dim} conflicts with the {vectors.dim}-dimensional vectors of "
            f"{vectors.path} (leave {name} out: it follows the file)"
        )
    return {"word_dim": vectors.dim, "fixed_words": vectors.fixed_words}


def use_vectors(task_model: Any, vectors: Pretrained) -> None:
    """Set the word embedding rows of ``task_model`` that have a vector to it."""
    if task_model.vocabs.words != vectors.vocab:
        raise ValueError("the model's word vocabulary is not the one the vectors were attached to")
    embed: Embedding = task_model.model.encoder.embed
    embed.set_rows(vectors.vectors, vectors.found)


def vector_report(vectors: Pretrained, splits: Mapping[str, Iterable[Any]]) -> dict[str, Any]:
    """What was kept, and the coverage of each split's tokens (``splits``: name -> records)."""
    report = vectors.summary()
    report["coverage"] = {
        name: coverage((r.words for r in records), vectors) for name, records in splits.items()
    }
    return report


def describe_vectors(report: Mapping[str, Any]) -> str:
    """One line for the log: what was kept and how many tokens of each split read a vector."""
    cov = "; ".join(
        f"{name} {100 * c['vector']:.1f}% ({100 * c['exact']:.1f}% exact, "
        f"{100 * c['lowercased']:.1f}% lowercased)"
        for name, c in report["coverage"].items()
    )
    return (
        f"embeddings {report['path']}: dim {report['dim']}, "
        f"{report['training_words_with_vector']} of {report['training_words']} training words "
        f"found, {report['file_only_words']} more words kept; tokens with a vector: {cov}"
    )


# -- another run's encoder ------------------------------------------------------------------


@dataclass
class Transfer:
    """What ``init_from`` loaded: parameter names, and rows of the embedding tables."""

    source: str
    loaded: list[str] = field(default_factory=list)
    rows: dict[str, tuple[int, int]] = field(default_factory=dict)  # table -> (copied, of)
    fresh: list[str] = field(default_factory=list)  # not in the source: initialisation kept

    def __str__(self) -> str:
        rows = ", ".join(f"{n}: {c} of {t} rows" for n, (c, t) in self.rows.items())
        line = f"init-from {self.source}: loaded {len(self.loaded)} encoder parameters ({rows})"
        if self.fresh:
            line += f"; not in {self.source}, kept their initialisation: {', '.join(self.fresh)}"
        return line


def _rows_by_token(
    dst: Embedding, dst_vocab: Vocab, src: Embedding, src_vocab: Vocab
) -> tuple[int, int]:
    """Copy the source rows of every token both vocabularies hold (by its exact form)."""
    src_table = np.concatenate(
        [src.params["weight"], src.params.get("fixed", src.params["weight"][:0])]
    )
    src_ids = {t: i for i, t in enumerate(src_vocab.tokens)}
    rows: NDArray[np.floating] = np.zeros((dst.num, dst.dim), dtype=np.float32)
    where = np.zeros(dst.num, dtype=bool)
    for j, token in enumerate(dst_vocab.tokens):
        i = src_ids.get(token)
        if i is not None:
            rows[j], where[j] = src_table[i], True
    dst.set_rows(rows, where)
    return int(where.sum()), dst.num


def _tables(task_model: Any, source: Any) -> dict[str, tuple[Embedding, Vocab, Embedding, Vocab]]:
    """The embedding tables copied row by row: parameter prefix -> (ours, our vocabulary,
    theirs, their vocabulary)."""
    dst, src = task_model.model.encoder, source.model.encoder
    tables = {"embed": (dst.embed, task_model.vocabs.words, src.embed, source.vocabs.words)}
    if dst.chars is not None and src.chars is not None:
        ours, theirs = task_model.vocabs.chars, source.vocabs.chars
        tables["chars.embed"] = (dst.chars.embed, ours, src.chars.embed, theirs)
    return tables


def init_from(task_model: Any, source: Any, where: str = "the source run") -> Transfer:
    """Copy ``source``'s encoder into ``task_model``'s where names and shapes match (see the
    module notes); ``where`` names the source in messages."""
    tables = _tables(task_model, source)
    dst, src = task_model.model.encoder.params, source.model.encoder.params
    dense = [name for name in dst if name.rpartition(".")[0] not in tables]
    problems = [
        f"{name} {dst[name].shape} here, {src[name].shape} in {where}"
        for name in dense
        if name in src and src[name].shape != dst[name].shape
    ]
    problems += [
        f"{name} width {ours.dim} here, {theirs.dim} in {where}"
        for name, (ours, _, theirs, _) in tables.items()
        if ours.dim != theirs.dim
    ]
    if problems:
        raise ValueError(f"cannot start from {where}: its encoder differs: {'; '.join(problems)}")
    report = Transfer(where)
    for name, (ours, our_vocab, theirs, their_vocab) in tables.items():
        report.rows[name] = _rows_by_token(ours, our_vocab, theirs, their_vocab)
        report.loaded += [f"{name}.{key}" for key in ours.params]
    for name in dense:
        if name in src:
            dst[name][...] = src[name]
            report.loaded.append(name)
        else:
            report.fresh.append(name)
    return report
