"""Variable-length batches: sorting by length, active batch sizes, reversal within lengths.

A padded batch ``x`` of shape (T, N, F) holds N sequences; sequence b is valid at times
t < len[b]. The time loop works on the batch sorted by decreasing length, so that at step t the
sequences still running are exactly the first

    n_t = #{b : len[b] > t}

rows, and a step only touches ``[:n_t]`` (no padding waste, no masks).

The backward direction of a sequence reads x[len-1], x[len-2], ..., x[0]. Reversing each sequence
*within its length* (``flip``) turns that into an ordinary left-to-right scan whose active rows
are the same prefixes n_t, and padding stays at the end. The reversal is its own inverse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from birnn._checks import check_lengths


def _flip_index(lengths: NDArray[np.intp], steps: int) -> NDArray[np.intp]:
    """Flat row index into a (T*N, F) view: (t, b) reads time len[b]-1-t, or t in padding."""
    t = np.arange(steps)[:, None]
    source_t = np.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)
    return (source_t * lengths.size + np.arange(lengths.size)[None, :]).ravel()


@dataclass(frozen=True)
class Batch:
    """Lengths of a batch already sorted by decreasing length, and what the time loop derives."""

    lengths: NDArray[np.intp]  # (N,), non-increasing, each in [1, steps]
    steps: int  # T, the padded length
    batch_sizes: tuple[int, ...]  # n_t for t = 0..T-1
    full: bool  # every sequence has length T (no padding at all)
    flip_index: NDArray[np.intp] | None  # gather index for flip; None when full
    # (t0, t1, n): at steps t0 <= t < t1 rows n.. are padding (n < N), one entry per run of n_t
    padding: tuple[tuple[int, int, int], ...] = ()

    @classmethod
    def sorted(cls, lengths: NDArray[np.intp], steps: int) -> Batch:
        full = bool(np.all(lengths == steps))
        counts = np.bincount(lengths, minlength=steps + 1)  # how many sequences end after t steps
        batch_sizes = tuple(int(n) for n in lengths.size - np.cumsum(counts)[:steps])
        padding: list[tuple[int, int, int]] = []
        for t, n in enumerate(batch_sizes):
            if n == lengths.size:
                continue
            if padding and padding[-1][2] == n:
                padding[-1] = (padding[-1][0], t + 1, n)
            else:
                padding.append((t, t + 1, n))
        return cls(
            lengths=lengths,
            steps=steps,
            batch_sizes=batch_sizes,
            full=full,
            flip_index=None if full else _flip_index(lengths, steps),
            padding=tuple(padding),
        )

    @property
    def size(self) -> int:
        return int(self.lengths.size)

    def flip(self, x: NDArray, out: NDArray | None = None) -> NDArray:
        """Reverse each sequence of ``x`` (T, N, ...) within its length, into ``out`` if given."""
        if self.flip_index is None:
            flipped = x[::-1]
        else:
            flat = x.reshape(self.steps * self.size, -1)
            flipped = np.take(flat, self.flip_index, axis=0).reshape(x.shape)
        if out is None:
            return np.ascontiguousarray(flipped)
        out[...] = flipped
        return out

    def add_flipped(self, into: NDArray, x: NDArray) -> NDArray:
        """``into += flip(x)``, in place (no new array when the batch is full: the flip is a
        view); returns ``into``."""
        if self.flip_index is None:
            return np.add(into, x[::-1], out=into)
        return np.add(into, self.flip(x), out=into)

    def zero_padding(self, arr: NDArray) -> NDArray:
        """Set the padded entries of ``arr`` (..., T, N, W) to zero: rows n_t.. at each step t.

        The time loop writes only the running rows; what it leaves must read as zero (outputs
        past a length are 0, and weight-gradient GEMMs run over every row). Zeroing just these
        entries, not whole buffers, keeps memory traffic proportional to the padding.
        """
        for t0, t1, n in self.padding:
            arr[..., t0:t1, n:, :] = 0
        return arr

    def last(self, seq: NDArray) -> NDArray:
        """Rows of ``seq`` (..., T, N, F) at each sequence's own last step: (..., N, F), a
        copy. A ``seq`` of K < T steps is a ring (the compiled loop's inference states): step t
        in slot t % K."""
        held = seq.shape[-3]
        if held < self.steps:
            return seq[..., (self.lengths - 1) % held, np.arange(self.size), :]
        if self.full:  # every sequence ends at step T - 1: a slice, not a gather
            return seq[..., -1, :, :].copy()
        return seq[..., self.lengths - 1, np.arange(self.size), :]


def sort_by_length(lengths: NDArray[np.intp], steps: int) -> tuple[NDArray[np.intp] | None, Batch]:
    """Permutation putting the batch in decreasing length (None if already so) and its Batch."""
    if np.all(lengths[:-1] >= lengths[1:]):
        return None, Batch.sorted(lengths, steps)
    order = np.argsort(-lengths, kind="stable")
    return order, Batch.sorted(lengths[order], steps)


def flip_sequences(
    x: NDArray, lengths: NDArray | None = None, batch_first: bool = False
) -> NDArray:
    """Reverse each sequence of a padded batch within its length; padding stays at the end.

    ``x`` is (T, N, ...) or, with ``batch_first``, (N, T, ...). ``lengths`` (N,) may be in any
    order; None means every sequence is full length. Applying it twice gives ``x`` back.
    """
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(
            f"flip_sequences expects x with at least 2 dimensions; received shape {x.shape}"
        )
    time_major = np.swapaxes(x, 0, 1) if batch_first else x
    steps, size = time_major.shape[:2]
    if lengths is None:
        flipped = time_major[::-1]
    else:
        lens = check_lengths(lengths, size, steps)
        idx = _flip_index(lens, steps).reshape(steps, size) // size
        flipped = time_major[idx, np.arange(size)[None, :]]
    out = np.swapaxes(flipped, 0, 1) if batch_first else flipped
    return np.ascontiguousarray(out)
