"""What every task shares: vocabularies, turning records into id lists, and batching.

A task (tagging, classification, fill-in-the-blank) reads its records, builds vocabularies from
the training records only, encodes every split with them, and cuts batches of similar length.
Word ids come from the word vocabulary (unknown words -> ``<unk>``); characters are kept per
distinct surface *form* (``FormTable``), so an unknown word still brings its own spelling.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from birnn.backend import chain_threads
from birnn.data import Vocab, length_batches, pad
from birnn.data.casing import case_id
from birnn.models.batch import (
    Chars,
    FormChars,
    IntArray,
    TokenBatch,
    every_form,
    for_batch,
    gather_chars,
)


@dataclass
class Vocabs:
    words: Vocab
    labels: Vocab  # tags, class labels or answers
    chars: Vocab | None = None  # None: the model reads no characters

    @property
    def char_vocab_size(self) -> int:
        """``EncoderConfig.char_vocab_size`` for these vocabularies: 0 without characters."""
        return len(self.chars) if self.chars is not None else 0

    def to_json(self) -> dict[str, Any]:
        out = {"words": self.words.to_json(), "labels": self.labels.to_json()}
        return out | ({"chars": self.chars.to_json()} if self.chars is not None else {})

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Vocabs:
        chars = Vocab.from_json(data["chars"]) if data.get("chars") is not None else None
        return cls(Vocab.from_json(data["words"]), Vocab.from_json(data["labels"]), chars)


def make_vocabs(
    texts: Sequence[Sequence[str]],
    labels: Iterable[str],
    min_count: int,
    lowercase: bool,
    chars: bool,
) -> Vocabs:
    """Vocabularies from the training split only: words, labels, and characters if wanted."""
    words = Vocab.build(texts, min_count=min_count, lowercase=lowercase)
    char_vocab = Vocab.build_chars(w for text in texts for w in text) if chars else None
    return Vocabs(words, Vocab.build_labels(labels), char_vocab)


class FormTable:
    """Every distinct word form met so far -> an id, its character ids and, with ``cases``, its
    case pattern (``birnn.data.casing``; ``cases`` is None without: a model that reads none
    need not compute them, a tenth of encoding a text)."""

    def __init__(self, chars: Vocab | None, cases: bool = True):
        self.chars = chars
        self.ids: dict[str, int] = {}
        self.spellings: list[list[int]] = []
        self.cases: list[int] | None = [] if cases else None

    def encode(self, words: Sequence[str]) -> list[int]:
        """Each word's form id, a new form added for each word not met before."""
        get, add = self.ids.get, self._add
        return [form if (form := get(w)) is not None else add(w) for w in words]

    def _add(self, word: str) -> int:
        form = self.ids[word] = len(self.spellings)
        self.spellings.append(self.chars.encode(list(word)) if self.chars else [])
        if self.cases is not None:
            self.cases.append(case_id(word))
        return form


@dataclass
class Encoded:
    """One split as id lists: words and forms per sequence, and the targets."""

    words: list[list[int]]
    forms: list[list[int]]
    targets: list[Any] | None  # per sequence: tag ids (list), a label id, or an answer id;
    # None: texts to predict on (``Task.encode(..., targets=False)``)
    positions: list[int] | None = None  # fill-in-the-blank: the blank of each sequence

    def __len__(self) -> int:
        return len(self.words)

    @property
    def lengths(self) -> IntArray:
        return np.array([len(w) for w in self.words], dtype=np.int64)


def encode_words(
    sentences: Iterable[Sequence[str]], vocabs: Vocabs, forms: FormTable
) -> tuple[list[list[int]], list[list[int]]]:
    """Per sentence, its word ids and its form ids: every word of ``sentences`` looked up at
    once, not in calls per sentence (about 10% faster on EWT's training file), then cut per
    sentence."""
    sentences = [s if isinstance(s, list) else list(s) for s in sentences]
    flat = list(itertools.chain.from_iterable(sentences))
    word_ids, form_ids = vocabs.words.encode(flat), forms.encode(flat)
    ends = list(itertools.accumulate(map(len, sentences)))
    starts = [0, *ends[:-1]]
    return (
        [word_ids[a:b] for a, b in zip(starts, ends)],
        [form_ids[a:b] for a, b in zip(starts, ends)],
    )


def make_batch(
    data: Encoded,
    rows: Sequence[int],
    forms: FormTable,
    per_token: bool,
    every: FormChars | None = None,
) -> TokenBatch:
    """The TokenBatch of the sequences ``rows`` of ``data``; ``every``: its characters are
    those of ``every_form`` (with their features), not the batch's own distinct forms."""
    words, lengths = pad([data.words[i] for i in rows])
    cases = forms.cases
    casing = (
        pad([[cases[f] for f in data.forms[i]] for i in rows])[0] if cases is not None else None
    )
    chars = None
    if forms.chars is not None:
        form_ids, _ = pad([data.forms[i] for i in rows])
        if every is not None:
            chars = for_batch(every, form_ids, lengths)
        else:
            chars = gather_chars(form_ids, lengths, forms.spellings)
    targets = None
    if data.targets is not None and per_token:
        targets, _ = pad([data.targets[i] for i in rows], pad=-1)
    elif data.targets is not None:
        targets = np.array([data.targets[i] for i in rows], dtype=np.int64)
    positions = (
        np.array([data.positions[i] for i in rows], dtype=np.int64)
        if data.positions is not None
        else None
    )
    return TokenBatch(words, lengths.astype(np.int64), chars, targets, positions, casing)


def predict_all(
    predict: Any,
    data: Encoded,
    forms: FormTable,
    batch_size: int,
    per_token: bool,
    max_tokens: int | None = None,
    max_padding: float | None = None,
    char_features: Callable[[Chars], NDArray[np.floating] | None] | None = None,
) -> list[Any]:
    """``predict(batch)`` over all of ``data`` in batches of similar length, in data order.

    Batches hold at most ``batch_size`` sequences and ``max_tokens`` padded tokens, and pad at
    most ``max_padding`` of their tokens (``length_batches``). ``char_features`` (the model's
    ``Encoder.char_features``) computes the character features of every form of ``data`` once,
    for all batches, instead of each batch running the character network over its own forms
    (which many batches share). With 2 or more threads, each layer's two directions run side by
    side (``chain_threads``)."""
    out: list[Any] = [None] * len(data)
    with chain_threads():
        every = None
        if char_features is not None and forms.chars is not None and len(data):
            every = every_form(data.forms, forms.spellings)
            feats = char_features(every.chars)
            every = replace(every, features=feats) if feats is not None else None
        groups = length_batches(
            data.lengths, batch_size, shuffle=False, max_tokens=max_tokens, max_padding=max_padding
        )
        for group in groups:
            rows = group[::-1].tolist()  # longest first: the recurrent module keeps the order
            batch = make_batch(data, rows, forms, per_token, every)
            for i, p in zip(rows, predict(batch)):
                out[i] = p
    return out


def batches(
    data: Encoded,
    forms: FormTable,
    batch_size: int,
    rng: np.random.Generator | None = None,
    per_token: bool = False,
    shard: Callable[[Sequence[int]], Sequence[int]] | None = None,
) -> list[TokenBatch | None]:
    """Batches of similar length; shuffled with ``rng``, in length order without one.

    ``shard(rows)``: this process's rows of each batch (data parallelism,
    ``birnn.train.parallel``); a batch of which it keeps none is None.
    """
    groups = length_batches(data.lengths, batch_size, rng, shuffle=rng is not None)
    rows = [list(g) for g in groups] if shard is None else [list(shard(list(g))) for g in groups]
    return [make_batch(data, r, forms, per_token) if r else None for r in rows]
