"""length_batches and pad: coverage, length grouping, determinism, padding layout."""

from __future__ import annotations

import numpy as np
import pytest

from birnn.data import length_batches, pad

LENGTHS = np.random.default_rng(3).integers(1, 60, size=1000)


def _covers_everything_once(batches, n):
    every = np.sort(np.concatenate(batches))
    np.testing.assert_array_equal(every, np.arange(n))


def test_every_sentence_once_and_batch_sizes():
    batches = length_batches(LENGTHS, 32, np.random.default_rng(0))
    _covers_everything_once(batches, LENGTHS.size)
    assert max(b.size for b in batches) == 32
    assert all(b.dtype == np.intp for b in batches)


def test_same_seed_same_batches_other_seed_other_batches():
    a = length_batches(LENGTHS, 32, np.random.default_rng(5))
    b = length_batches(LENGTHS, 32, np.random.default_rng(5))
    c = length_batches(LENGTHS, 32, np.random.default_rng(6))
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and len(a) == len(b)
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_grouping_by_length_pads_far_less_than_random_batches():
    def padding(batches):
        return sum(LENGTHS[b].max() * b.size - LENGTHS[b].sum() for b in batches)

    rng = np.random.default_rng(0)
    grouped = length_batches(LENGTHS, 32, rng)
    random = np.array_split(rng.permutation(LENGTHS.size), len(grouped))
    assert padding(grouped) < 0.2 * padding(random)


def test_without_shuffle_batches_run_from_short_to_long():
    batches = length_batches(LENGTHS, 100, shuffle=False)
    _covers_everything_once(batches, LENGTHS.size)
    ordered = np.concatenate([LENGTHS[b] for b in batches])
    assert np.all(np.diff(ordered) >= 0)


def test_token_budget():
    lengths = [5, 1, 9, 3, 3, 20]
    batches = length_batches(lengths, 10, shuffle=False, max_tokens=10)
    assert [b.tolist() for b in batches] == [[1, 3, 4], [0], [2], [5]]  # 20 > 10: alone
    rng_batches = length_batches(LENGTHS, 64, np.random.default_rng(1), max_tokens=400)
    _covers_everything_once(rng_batches, LENGTHS.size)
    assert all(b.size == 1 or LENGTHS[b].max() * b.size <= 400 for b in rng_batches)


def test_padding_budget_cuts_batches_once_they_are_large_enough():
    from birnn.data.batching import PADDING_BATCH_MIN

    # PADDING_BATCH_MIN + 1 sentences of length 1, then as many of length 2: without the budget
    # one batch (2x padding on half of it); with it cut where the lengths change
    n = PADDING_BATCH_MIN + 1
    lengths = [1] * n + [2] * n
    assert len(length_batches(lengths, 256, shuffle=False)) == 1
    batches = length_batches(lengths, 256, shuffle=False, max_padding=0.1)
    _covers_everything_once(batches, 2 * n)
    assert [sorted(set(np.asarray(lengths)[b])) for b in batches] == [[1], [2]]
    # a small batch is not cut for padding: its product would run slowly
    small = [1] * 4 + [9] * 4
    assert len(length_batches(small, 256, shuffle=False, max_padding=0.1)) == 1
    for random in (
        length_batches(LENGTHS, 64, shuffle=False, max_padding=0.25),
        length_batches(LENGTHS, 64, np.random.default_rng(2), max_padding=0.25),
    ):
        _covers_everything_once(random, LENGTHS.size)
        for b in random:
            if b.size > PADDING_BATCH_MIN:
                assert LENGTHS[b].max() * b.size <= 1.25 * LENGTHS[b].sum()
    with pytest.raises(ValueError, match=r"max_padding must be a finite number >= 0\.0"):
        length_batches(lengths, 4, shuffle=False, max_padding=-0.5)
    with pytest.raises(TypeError, match="max_padding must be a number; received 'a'"):
        length_batches(lengths, 4, shuffle=False, max_padding="a")  # type: ignore[arg-type]


def test_pad_is_batch_first_with_lengths():
    ids, lengths = pad([[4, 5, 6], [7], [8, 9]], pad=0)
    np.testing.assert_array_equal(ids, [[4, 5, 6], [7, 0, 0], [8, 9, 0]])
    np.testing.assert_array_equal(lengths, [3, 1, 2])
    assert ids.dtype == np.int64


def test_bad_input_names_what_was_received():
    with pytest.raises(TypeError, match=r"rng must be a numpy.random.Generator.*received 3"):
        length_batches([1, 2], 2, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size must be >= 1; received 0"):
        length_batches([1, 2], 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="lengths must all be >= 1; received 0 at index 1"):
        length_batches([1, 0], 2, np.random.default_rng(0))
    with pytest.raises(TypeError, match="lengths"):
        length_batches([1.5], 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="sequence 1 is empty"):
        pad([[1], []])
    with pytest.raises(ValueError, match="non-empty"):
        pad([])
