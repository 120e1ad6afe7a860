"""Batches of similar length, and padding to the batch-first layout.

RNN cost grows with the padded length T of a batch, so sentences of similar length go together.
For training the grouping must still be random, or every epoch would see the same batches in the
same order. ``length_batches`` does both, in the usual "pool then sort" way:

1. shuffle all indices with ``rng``;
2. cut them into pools of ``pool`` batches' worth of sentences;
3. sort each pool by length (stable) and cut it into batches;
4. shuffle the order of all batches with ``rng``.

Without shuffling (evaluation), all sentences are sorted by length and batched in that order.
The result depends only on the lengths and the state of ``rng``: the same seed gives the same
batches. A padded batch follows the training-stack convention (``docs/TRAINING-DESIGN.md``):
ids (N, T), lengths (N,) with every length in [1, T].
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from birnn._checks import check_int, check_real, describe


def _check_lengths(lengths: Any) -> NDArray[np.intp]:
    arr = np.asarray(lengths)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise TypeError(f"lengths must be a 1-D sequence of ints; received {describe(lengths)}")
    if arr.size and arr.min() < 1:
        raise ValueError(
            f"lengths must all be >= 1; received {int(arr.min())} at index {int(arr.argmin())}"
        )
    return arr.astype(np.intp)


PADDING_BATCH_MIN = 32  # a batch this small is not cut for padding: the product slows below


def _cut(
    order: NDArray[np.intp],
    lengths: NDArray[np.intp],
    batch_size: int,
    max_tokens: int | None,
    max_padding: float | None = None,
) -> list[NDArray[np.intp]]:
    """Consecutive batches of ``order`` (sorted by length): at most ``batch_size`` sentences and,
    if given, at most ``max_tokens`` padded tokens (count x longest length) and, once a batch
    holds ``PADDING_BATCH_MIN`` sentences, padded tokens at most (1 + ``max_padding``) x its
    real ones; never empty."""
    if max_tokens is None and max_padding is None:
        return [order[i : i + batch_size] for i in range(0, order.size, batch_size)]
    tokens = max_tokens if max_tokens is not None else np.inf
    slack = 1 + max_padding if max_padding is not None else np.inf
    batches = []
    start, real = 0, 0
    for i, index in enumerate(order):
        length = int(lengths[index])  # the longest so far: the order is by length
        count = i - start + 1
        padded = count * length
        if i > start and (
            count > batch_size
            or padded > tokens
            or (count > PADDING_BATCH_MIN and padded > slack * (real + length))
        ):
            batches.append(order[start:i])
            start, real = i, 0
        real += length
    if start < order.size:
        batches.append(order[start:])
    return batches


def length_batches(
    lengths: Sequence[int] | NDArray[np.integer],
    batch_size: int,
    rng: np.random.Generator | None = None,
    shuffle: bool = True,
    *,
    pool: int = 50,
    max_tokens: int | None = None,
    max_padding: float | None = None,
) -> list[NDArray[np.intp]]:
    """Index arrays, one per batch, covering every sentence exactly once.

    ``lengths[i]`` is the length of sentence i. Each batch holds at most ``batch_size``
    sentences and, if ``max_tokens`` is given, at most ``max_tokens`` padded tokens
    (sentences x longest length; a single sentence longer than that still gets a batch of its
    own) and, if ``max_padding`` is given, padded tokens at most (1 + ``max_padding``) times its
    real tokens once it holds ``PADDING_BATCH_MIN`` sentences (the input projections run over
    the padding too; the recurrent steps do not).

    With ``shuffle`` (training) the grouping and the batch order are random under ``rng``,
    which is required; without it, batches run from the shortest sentences to the longest and
    ``rng`` is not used. ``pool`` is how many batches' worth of sentences are sorted together:
    larger pools pad less, smaller pools are more random.
    """
    arr = _check_lengths(lengths)
    batch_size = check_int("batch_size", batch_size, 1)
    pool = check_int("pool", pool, 1)
    if max_tokens is not None:
        max_tokens = check_int("max_tokens", max_tokens, 1)
    if max_padding is not None:
        max_padding = check_real("max_padding", max_padding, 0.0)
    if not shuffle:
        order = np.argsort(arr, kind="stable").astype(np.intp)
        return _cut(order, arr, batch_size, max_tokens, max_padding)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator when shuffle=True; received {describe(rng)}"
        )
    order = rng.permutation(arr.size).astype(np.intp)
    size = batch_size * pool
    batches: list[NDArray[np.intp]] = []
    for start in range(0, order.size, size):
        chunk = order[start : start + size]
        chunk = chunk[np.argsort(arr[chunk], kind="stable")]
        batches.extend(_cut(chunk, arr, batch_size, max_tokens, max_padding))
    return [batches[i] for i in rng.permutation(len(batches))]


def pad(seqs: Sequence[Sequence[int]], pad: int = 0) -> tuple[NDArray[np.int64], NDArray[np.intp]]:
    """Id sequences as a batch-first array (N, T) filled with ``pad``, and their lengths (N,).

    T is the longest length. Every sequence needs at least one id (the stack's lengths are
    >= 1), so an empty one is a ``ValueError`` naming its position.
    """
    if isinstance(seqs, np.ndarray) or not isinstance(seqs, Sequence) or not seqs:
        raise ValueError(f"seqs must be a non-empty list of id lists; received {describe(seqs)}")
    lengths = np.array([len(s) for s in seqs], dtype=np.intp)
    if lengths.min() == 0:
        raise ValueError(
            f"every sequence needs at least one id; sequence {int(lengths.argmin())} is empty"
        )
    out = np.full((len(seqs), int(lengths.max())), pad, dtype=np.int64)
    # every id at once, in row order: what the mask selects of (N, T), row-major
    ids = np.fromiter(itertools.chain.from_iterable(seqs), np.int64, int(lengths.sum()))
    out[np.arange(out.shape[1]) < lengths[:, None]] = ids
    return out, lengths
