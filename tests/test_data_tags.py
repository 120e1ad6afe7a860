"""Tag schemes: reading spans the conlleval way, writing them in each scheme, converting."""

from __future__ import annotations

import numpy as np
import pytest

from birnn.data import SCHEMES, convert, from_spans, split_tag, to_spans


def test_split_tag_uses_the_first_hyphen_only():
    assert split_tag("B-creative-work") == ("B", "creative-work")
    assert split_tag("O") == ("O", "")


@pytest.mark.parametrize(
    ("tags", "spans"),
    [
        (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 2), ("LOC", 3, 4)]),
        # conlleval: I- after O starts an entity, in IOB2 as in IOB1
        (["O", "I-PER", "I-PER", "O"], [("PER", 1, 3)]),
        (["I-PER"], [("PER", 0, 1)]),
        # a change of type closes one entity and opens another, whatever the prefix
        (["B-PER", "I-LOC", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 3)]),
        (["I-PER", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 2)]),
        # B- after I- of the same type: two entities (IOB1's use of B)
        (["I-ORG", "I-ORG", "B-ORG", "I-ORG"], [("ORG", 0, 2), ("ORG", 2, 4)]),
        (["O", "O"], []),
        ([], []),
        (["B-creative-work", "I-creative-work"], [("creative-work", 0, 2)]),
    ],
)
def test_to_spans_iob(tags, spans):
    assert to_spans(tags, "iob2") == spans
    assert to_spans(tags, "iob1") == spans


@pytest.mark.parametrize(
    ("tags", "spans"),
    [
        (["S-PER", "S-PER"], [("PER", 0, 1), ("PER", 1, 2)]),
        (["B-LOC", "I-LOC", "E-LOC", "S-LOC"], [("LOC", 0, 3), ("LOC", 3, 4)]),
        # E- ends an entity: what follows starts a new one, even I- or E- of the same type
        (["B-X", "E-X", "I-X", "E-X"], [("X", 0, 2), ("X", 2, 4)]),
        (["B-X", "E-X", "E-X"], [("X", 0, 2), ("X", 2, 3)]),
        (["S-X", "I-X", "E-X"], [("X", 0, 1), ("X", 1, 3)]),
        # E- after O is a one-word entity; B- without E- runs until O or the end
        (["O", "E-X", "O"], [("X", 1, 2)]),
        (["B-X", "I-X"], [("X", 0, 2)]),
        (["B-X", "I-X", "O", "B-Y"], [("X", 0, 2), ("Y", 3, 4)]),
        (["B-X", "S-X", "B-X", "B-X"], [("X", 0, 1), ("X", 1, 2), ("X", 2, 3), ("X", 3, 4)]),
    ],
)
def test_to_spans_bioes(tags, spans):
    assert to_spans(tags, "bioes") == spans


@pytest.mark.parametrize(
    ("scheme", "tags"),
    [
        ("iob2", ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]),
        ("iob1", ["I-PER", "I-PER", "B-PER", "O", "I-LOC"]),
        ("bioes", ["B-PER", "E-PER", "S-PER", "O", "S-LOC"]),
    ],
)
def test_from_spans_writes_each_scheme(scheme, tags):
    spans = [("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 5)]
    assert from_spans(spans, 5, scheme) == tags
    assert to_spans(tags, scheme) == spans


def test_iob1_uses_b_only_between_adjacent_entities_of_one_type():
    spans = [("PER", 0, 1), ("LOC", 1, 2), ("LOC", 2, 4)]
    assert from_spans(spans, 4, "iob1") == ["I-PER", "I-LOC", "B-LOC", "I-LOC"]


def _random_spans(rng: np.random.Generator, length: int) -> list[tuple[str, int, int]]:
    spans, t = [], 0
    while t < length:
        if rng.random() < 0.4:
            end = min(length, t + int(rng.integers(1, 4)))
            spans.append((str(rng.choice(["PER", "LOC", "creative-work"])), t, end))
            t = end
        else:
            t += 1
    return spans


def test_round_trips_between_all_schemes():
    rng = np.random.default_rng(0)
    for _ in range(300):
        length = int(rng.integers(0, 12))
        spans = _random_spans(rng, length)
        for a in SCHEMES:
            tags = from_spans(spans, length, a)
            assert to_spans(tags, a) == spans
            for b in SCHEMES:
                assert convert(tags, a, b) == from_spans(spans, length, b)
                assert convert(convert(tags, a, b), b, a) == tags


def test_convert_repairs_ill_formed_iob2_the_conlleval_way():
    assert convert(["O", "I-PER", "I-LOC"], "iob2", "iob2") == ["O", "B-PER", "B-LOC"]
    assert convert(["O", "I-PER", "I-PER"], "iob2", "bioes") == ["O", "B-PER", "E-PER"]


@pytest.mark.parametrize("tag", ["X-foo", "B", "B-", "E-PER", "S-PER", "per", ""])
def test_tags_outside_the_scheme_are_refused(tag):
    with pytest.raises(ValueError, match=r"tags\[1\].*not valid in IOB2"):
        to_spans(["O", tag], "iob2")


def test_bad_arguments_name_what_was_received():
    with pytest.raises(ValueError, match=r"scheme.*'iobes'"):
        to_spans(["O"], "iobes")
    with pytest.raises(ValueError, match="to_scheme"):
        convert(["O"], "iob2", "bio")
    with pytest.raises(ValueError, match="overlap"):
        from_spans([("A", 0, 2), ("B", 1, 3)], 3)
    with pytest.raises(ValueError, match=r"\('A', 2, 5\)"):
        from_spans([("A", 2, 5)], 4)
    with pytest.raises(ValueError, match=r"tags\[0\].*received 3"):
        to_spans([3], "iob2")  # type: ignore[list-item]
