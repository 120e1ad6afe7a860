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


def _real(forms: IntArray, lengths: IntArray) -> NDArray[np.bool_]:
    """(N, T): True at the real positions of the padded ids ``forms`` with ``lengths``."""
    return np.arange(forms.shape[1])[None, :] < lengths[:, None]


def gather_chars(forms: IntArray, lengths: IntArray, form_chars: Sequence[Sequence[int]]) -> Chars:
    """The batch's distinct forms (ids into ``form_chars``, the char ids of every known form)."""
    mask = _real(forms, lengths)
    unique, inverse = np.unique(forms[mask], return_inverse=True)
    index = np.zeros(forms.shape, dtype=np.int64)
    index[mask] = inverse
    ids, char_lengths = pad([form_chars[f] for f in unique])
    return Chars(ids=ids, lengths=char_lengths.astype(np.int64), index=index)


@dataclass(frozen=True)
class FormChars:
    """The characters of every distinct form of some data, and their features once computed
    (``Encoder.char_features``): what ``for_batch`` hands to each of its batches."""

    chars: Chars  # the forms' characters (``index`` empty: no positions)
    rows: IntArray  # (F,) for each form id, its row in ``chars`` (-1: not among them)
    features: NDArray[np.floating] | None = None  # (U, feature width), once computed


def every_form(forms: Sequence[Sequence[int]], form_chars: Sequence[Sequence[int]]) -> FormChars:
    """The characters of every distinct form in the sequences ``forms`` (ids into
    ``form_chars``, the char ids of every known form)."""
    used = np.unique(np.concatenate([np.asarray(f, dtype=np.int64) for f in forms]))
    rows = np.full(len(form_chars), -1, dtype=np.int64)
    rows[used] = np.arange(used.size)
    ids, char_lengths = pad([form_chars[f] for f in used])
    no_positions = np.zeros((0, 0), dtype=np.int64)
    return FormChars(Chars(ids, char_lengths.astype(np.int64), no_positions), rows)


def for_batch(table: FormChars, forms: IntArray, lengths: IntArray) -> Chars:
    """The Chars of a batch of padded form ids ``forms`` (N, T) with ``lengths``: ``table``'s
    forms and features (computed), each position's row in them."""
    index = np.where(_real(forms, lengths), table.rows[forms], 0)
    return replace(table.chars, index=index, features=table.features)
