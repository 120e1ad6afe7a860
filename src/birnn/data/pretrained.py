"""A word vocabulary with pretrained vectors: which word gets which vector, and coverage.

``attach_vectors(vocab, path, max_words)`` streams a vectors file (``birnn.data.embeddings``)
once and keeps only what the model will hold:

* for each word of the training vocabulary, the vector of its exact form, else of its
  lower-cased form (the vocabulary's own key: a ``lowercase`` vocabulary's tokens are lower
  case already); words the file lacks keep their random initialisation;
* the file's other words among its first ``max_words`` lines (the file's own order: most
  frequent first for GloVe, word2vec and fastText), appended to the vocabulary with count 0,
  so that a word never seen in training still reads its pretrained vector at prediction time
  instead of ``<unk>``. A cased vocabulary then also looks a word up by its lower-cased form
  when the exact form is missing (``Vocab.fallback_lowercase``): an unseen "Obama" finds the
  vector of "obama".

Memory and checkpoint size: ``max_words * dim`` float32 values beyond the training
vocabulary's (200,000 words of 50 values: 40 MB), plus the words in ``config.json``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from birnn._checks import check_int
from birnn.data.embeddings import iter_vectors
from birnn.data.vocab import Vocab

__all__ = ["Pretrained", "attach_vectors", "coverage"]

NONE, EXACT, LOWER = 0, 1, 2  # how a vocabulary entry found its vector


@dataclass
class Pretrained:
    """A vocabulary and a vector for each of its ids.

    ``vocab``: the training vocabulary (ids ``< trained``), then the file's other words.
    ``vectors`` (len(vocab), dim) float32: zero where ``found`` is False (no vector: the padding
    and unknown words, and training words the file lacks). ``how``: per id, ``EXACT`` (the
    file has the token itself), ``LOWER`` (its lower-cased form) or ``NONE``.
    """

    vocab: Vocab
    vectors: NDArray[np.float32]
    how: NDArray[np.int8]
    trained: int
    path: str

    @property
    def found(self) -> NDArray[np.bool_]:
        return self.how != NONE

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def fixed_words(self) -> int:
        """How many ids come from the file alone (``EncoderConfig.fixed_words``)."""
        return len(self.vocab) - self.trained

    def summary(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "dim": self.dim,
            "training_words": self.trained,
            "training_words_with_vector": int(self.found[: self.trained].sum()),
            "file_only_words": self.fixed_words,
        }


class _Rows:
    """A growing (n, dim) float32 array: memory for the rows kept, doubled as it fills."""

    def __init__(self, dim: int) -> None:
        self.data = np.empty((1024, dim), dtype=np.float32)
        self.size = 0

    def append(self, row: NDArray[np.float32]) -> None:
        if self.size == len(self.data):
            self.data = np.concatenate([self.data, np.empty_like(self.data)])
        self.data[self.size] = row
        self.size += 1

    def array(self) -> NDArray[np.float32]:
        return self.data[: self.size]


def attach_vectors(vocab: Vocab, path: str | Path, max_words: int | None = None) -> Pretrained:
    """``vocab`` with the vectors of ``path`` (see the module notes); ``max_words``: how many of
    the file's first lines may add a word (None: all of them; 0: none)."""
    if not isinstance(vocab, Vocab) or vocab.unk is None:
        raise TypeError(f"vocab must be a word Vocab (with <unk>); received {vocab!r}")
    if max_words is not None:
        max_words = check_int("max_words", max_words, 0)
    tokens = vocab.tokens
    ids = {t: i for i, t in enumerate(tokens) if t != vocab.pad}
    by_lower: dict[str, list[int]] = {}  # cased tokens, by their lower-cased form
    if not vocab.lowercase:
        for k, t in enumerate(tokens):
            if t != t.lower() and t != vocab.pad:
                by_lower.setdefault(t.lower(), []).append(k)
    how = np.zeros(len(tokens), dtype=np.int8)
    table: NDArray[np.float32] | None = None
    extra_words: list[str] = []
    extra: _Rows | None = None
    for rank, (word, vector) in enumerate(iter_vectors(path)):
        if table is None:
            table = np.zeros((len(tokens), len(vector)), dtype=np.float32)
            extra = _Rows(len(vector))
        assert extra is not None
        i = ids.get(word)
        if i is not None:
            table[i], how[i] = vector, EXACT
        for k in by_lower.get(word, ()):
            if how[k] == NONE:
                table[k], how[k] = vector, LOWER
        addable = max_words is None or rank < max_words
        if i is None and addable and (not vocab.lowercase or word == word.lower()):
            extra_words.append(word)
            extra.append(vector)
    assert table is not None and extra is not None  # iter_vectors yields at least one
    extended = Vocab(
        tokens + extra_words,
        counts=[*vocab.counts.tolist(), *([0] * len(extra_words))],
        unk=vocab.unk,
        pad=vocab.pad,
        lowercase=vocab.lowercase,
        fallback_lowercase=not vocab.lowercase or vocab.fallback_lowercase,
    )
    vectors = np.concatenate([table, extra.array()])
    how = np.concatenate([how, np.full(len(extra_words), EXACT, dtype=np.int8)])
    return Pretrained(extended, vectors, how, len(tokens), str(path))


def coverage(texts: Iterable[Sequence[str]], pretrained: Pretrained) -> dict[str, Any]:
    """How many tokens of ``texts`` read a pretrained vector: ``"vector"`` (share of tokens),
    of which ``"exact"`` by their own form and ``"lowercased"`` by their lower-cased form,
    and ``"in_training"``: the share whose word is in the training vocabulary."""
    vocab = pretrained.vocab
    tokens_of = vocab.tokens
    counts = {"tokens": 0, "vector": 0, "exact": 0, "in_training": 0}
    for text in texts:
        for token in text:
            i = vocab.index(token)
            counts["tokens"] += 1
            counts["in_training"] += int(i < pretrained.trained and i != vocab.unk_index)
            if pretrained.how[i] != NONE:
                counts["vector"] += 1
                counts["exact"] += int(pretrained.how[i] == EXACT and tokens_of[i] == token)
    n = max(counts["tokens"], 1)
    return {
        "tokens": counts["tokens"],
        "vector": counts["vector"] / n,
        "exact": counts["exact"] / n,
        "lowercased": (counts["vector"] - counts["exact"]) / n,
        "in_training": counts["in_training"] / n,
    }
