"""Vocab: specials, minimum counts, lower-casing, unknowns, labels, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from birnn.data import PAD, UNK, Vocab

SENTENCES = [["the", "cat", "sat"], ["The", "dog", "sat"], ["the", "end"]]


def test_word_vocab_order_specials_and_unknowns():
    v = Vocab.build(SENTENCES, min_count=2)
    assert v.tokens == [PAD, UNK, "sat", "the"]  # by count, ties in code point order
    assert (v.pad_index, v.unk_index) == (0, 1)
    assert v.encode(["the", "The", "zebra"]) == [3, 1, 1]
    assert v.decode([3, 2, 1]) == ["the", "sat", UNK]
    assert len(v) == 4
    assert v.count("sat") == 2 and v.count("cat") == 0 and v.count(PAD) == 0
    np.testing.assert_array_equal(v.counts, [0, 0, 2, 2])


def test_lowercase_folds_when_building_and_looking_up():
    v = Vocab.build(SENTENCES, min_count=2, lowercase=True)
    assert v.tokens == [PAD, UNK, "the", "sat"]  # "the" 3 times, "sat" twice
    assert v.index("THE") == v.index("the") == 2
    assert "The" in v and "zebra" not in v


def test_max_size_keeps_the_most_frequent():
    v = Vocab.build(SENTENCES, max_size=3)
    assert v.tokens == [PAD, UNK, "sat"]


def test_order_does_not_depend_on_the_order_of_the_data():
    assert Vocab.build(SENTENCES) == Vocab.build(SENTENCES[::-1])


def test_char_vocab():
    v = Vocab.build_chars(["ab", "ba", "Ac"], min_count=2)
    assert v.tokens == [PAD, UNK, "a", "b"]
    assert v.encode(list("abc")) == [2, 3, 1]
    assert Vocab.build_chars(["ab", "Ac"], lowercase=True).tokens == [PAD, UNK, "a", "b", "c"]


def test_label_vocab_encodes_unseen_labels_as_minus_one():
    v = Vocab.build_labels(["pos", "neg", "pos", "-1"])
    assert v.tokens == ["-1", "neg", "pos"]
    assert v.unk_index is None and v.pad_index is None
    assert v.encode(["neg", "mixed"]) == [1, -1]
    assert v.decode([2, -1]) == ["pos", "<unseen>"]


def test_json_round_trip_through_text():
    for v in (
        Vocab.build(SENTENCES, lowercase=True),
        Vocab.build_labels(["B-PER", "O"]),
        Vocab.build_chars(["xy"]),
    ):
        again = Vocab.from_json(json.loads(json.dumps(v.to_json())))
        assert again == v
        assert again.tokens == v.tokens and again.lowercase == v.lowercase
        np.testing.assert_array_equal(again.counts, v.counts)


def test_bad_input_names_what_was_received():
    with pytest.raises(ValueError, match="min_count must be >= 1; received 0"):
        Vocab.build(SENTENCES, min_count=0)
    with pytest.raises(TypeError, match="not strings; received 'the cat'"):
        Vocab.build(["the cat"])
    with pytest.raises(TypeError, match="token must be str; received 3"):
        Vocab.build(SENTENCES).index(3)  # type: ignore[arg-type]
    for vocab in (Vocab.build(SENTENCES), Vocab.build(SENTENCES, lowercase=True)):
        with pytest.raises(TypeError, match="token must be str; received 3"):
            vocab.encode(iter(["the", 3]))  # type: ignore[list-item]
    with pytest.raises(TypeError, match="one str"):
        Vocab.build(SENTENCES).encode("the")
    with pytest.raises(ValueError, match=r"ids must be in \[0, 8\) or -1; received 8"):
        Vocab.build(SENTENCES).decode([8])
    with pytest.raises(ValueError, match=r"keys.*received"):
        Vocab.from_json({"tokens": []})
    with pytest.raises(ValueError, match="at least one label"):
        Vocab.build_labels([])
    with pytest.raises(ValueError, match="unique"):
        Vocab(["a", "a"], unk=None, pad=None)
    with pytest.raises(ValueError, match="specials must contain"):
        Vocab.build(SENTENCES, specials=["<unk>"])


@pytest.mark.parametrize("kind", ["exact", "lowercase", "fallback"])
def test_a_list_is_looked_up_as_each_token_would_be(kind):
    """encode's whole-list lookup (every text read takes it) gives each token's own ``_find``
    result, unknowns included, whatever the vocabulary folds; decode's list path equals its
    number-by-number path."""
    tokens = ["The", "the", "THE", "Paris", "paris", "zebra", "", "ß", "İ"]
    v = Vocab([PAD, UNK, "the", "Paris", "ß"], lowercase=kind == "lowercase",
              fallback_lowercase=kind == "fallback")  # fmt: skip
    expected = []
    for t in tokens:
        found = v._find(t)
        expected.append(v.index(UNK) if found is None else found)
    assert v.encode(tokens) == expected
    assert v.encode(iter(tokens)) == expected
    ids = [*range(len(v)), 0]
    assert v.decode(ids) == v.decode(np.array(ids)) == [v.tokens[i] for i in ids]
    with pytest.raises(ValueError, match="ids must be in"):
        v.decode([0, len(v)])
