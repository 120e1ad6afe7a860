"""A batch of token sequences, as the models read it: padded ids, lengths, and the characters of
the distinct word forms in the batch.

Character features are computed once per *distinct form* in a batch (a frequent word such as
"the" appears dozens of times in one batch), then gathered to every position. Forms are
identified by the caller's global form ids, so two different unknown words keep their own
characters even though both map to the unknown *word* id.

For prediction over many batches (``birnn.tasks.base.predict_all``) the features can instead be
computed once for every form of the data (``every_form``, then ``Encoder.char_features``) and
each batch carries them (``Chars.features``) with its positions' rows in them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from birnn.data.batching import pad

IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Chars:
    """The characters of the U distinct forms of a batch, and where each position finds its form."""

    ids: IntArray  # (U, L) character ids, 0-padded
    lengths: IntArray  # (U,) every value >= 1
    index: IntArray  # (N, T) row of ``ids`` for each position (0 on padding)
    # (U, F) the character features of each row, already computed (inference only), or None
    features: NDArray[np.floating] | None = None


@dataclass(frozen=True)
class TokenBatch:
    words: IntArray  # (N, T) word ids, 0 (padding id) past each length
    lengths: IntArray  # (N,)
    chars: Chars | None = None  # None when the model has no character features
    targets: IntArray | None = None  # task-specific: (N, T) tags (-1 on padding) or (N,) labels
    positions: IntArray | None = None  # fill-in-the-blank: the blank's position in each row
    casing: IntArray | None = None  # (N, T) case pattern ids (birnn.data.casing), 0 on padding

    @property
    def size(self) -> int:
        return int(self.words.shape[0])

    @property
    def tokens(self) -> int:
        return int(self.lengths.sum())

    def mask(self) -> NDArray[np.bool_]:
        """(N, T): True on real tokens."""
        return np.arange(self.words.shape[1])[None, :] < self.lengths[:, None]


def gather_chars(forms: IntArray, lengths: IntArray, form_chars: Sequence[Sequence[int]]) -> Chars:
    """The batch's distinct forms (ids into ``form_chars``, the char ids of every known form)."""
    mask = np.arange(forms.shape[1])[None, :] < lengths[:, None]
    unique, inverse = np.unique(forms[mask], return_inverse=True)
    index = np.zeros(forms.shape, dtype=np.int64)
    index[mask] = inverse
    ids, char_lengths = pad([form_chars[f] for f in unique])
    return Chars(ids=ids, lengths=char_lengths.astype(np.int64), index=index)


def every_form(forms: Sequence[Sequence[int]], form_chars: Sequence[Sequence[int]]) -> Chars:
    """The characters of every distinct form in the sequences ``forms`` (ids into
    ``form_chars``), for their features to be computed once; ``index`` (F,) is the row of each
    form id (-1: a form not among them), for ``for_batch``."""
    used = np.unique(np.concatenate([np.asarray(f, dtype=np.int64) for f in forms]))
    index = np.full(len(form_chars), -1, dtype=np.int64)
    index[used] = np.arange(used.size)
    ids, char_lengths = pad([form_chars[f] for f in used])
    return Chars(ids=ids, lengths=char_lengths.astype(np.int64), index=index)


def for_batch(table: Chars, forms: IntArray, lengths: IntArray) -> Chars:
    """``table`` (``every_form``, features computed) as the Chars of a batch of padded form ids
    ``forms`` (N, T) with ``lengths``: its rows, its features, each position's row."""
    mask = np.arange(forms.shape[1])[None, :] < lengths[:, None]
    return replace(table, index=np.where(mask, table.index[forms], 0))
