"""The demo's generated cloze language (birnn.demo.grammar).

What the demo's claim rests on: every item has exactly one blank; a seed fixes the data; in a
right-context family the words left of the blank never decide the answer (the same left context
occurs with several answers), while the whole sentence always does; in a left-context family
the left context alone decides it.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from birnn.data import BLANK, ClozeItem
from birnn.demo.grammar import FAMILIES, generate

RIGHT = sorted(name for name, (_, needs_right) in FAMILIES.items() if needs_right)
LEFT = sorted(name for name, (_, needs_right) in FAMILIES.items() if not needs_right)
SAMPLE = 600  # items drawn per family: enough to meet every left context with each answer


def family_items(name: str, count: int = SAMPLE, seed: int = 0) -> list[ClozeItem]:
    make, needs_right = FAMILIES[name]
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(count):
        words, answer = make(rng)
        items.append(ClozeItem(tuple(words), words.index(BLANK), answer, needs_right, name))
    return items


def answers_by(items: list[ClozeItem], key) -> dict[tuple[str, ...], set[str]]:
    seen: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for it in items:
        seen[key(it)].add(it.answer)
    return seen


def left_of(it: ClozeItem) -> tuple[str, ...]:
    return it.words[: it.blank]


def test_both_kinds_of_family_exist():
    assert len(RIGHT) >= 2 and len(LEFT) >= 1


def test_every_item_has_exactly_one_blank_and_a_real_answer():
    items = generate(300, np.random.default_rng(5))
    assert len(items) == 300
    for it in items:
        assert it.words.count(BLANK) == 1, it
        assert it.words[it.blank] == BLANK, it
        assert it.answer and it.answer != BLANK and " " not in it.answer, it
        assert all(w and " " not in w for w in it.words), it
        assert it.needs_right == FAMILIES[it.family][1], it


def test_generate_is_deterministic_for_a_seed():
    a = generate(120, np.random.default_rng(11))
    b = generate(120, np.random.default_rng(11))
    c = generate(120, np.random.default_rng(12))
    assert a == b
    assert a != c


def test_every_family_gets_its_share_in_random_order():
    items = generate(600, np.random.default_rng(1))
    counts = Counter(it.family for it in items)
    assert counts == dict.fromkeys(FAMILIES, 600 // len(FAMILIES))
    first = [it.family for it in items[: len(FAMILIES)]]
    assert first != list(FAMILIES)  # shuffled, not the families in turn


@pytest.mark.parametrize("name", RIGHT)
def test_right_context_families_are_undecidable_from_the_left(name):
    items = family_items(name)
    by_left = answers_by(items, left_of)
    assert any(len(a) > 1 for a in by_left.values()), f"{name}: the left context decides"
    # not just one unlucky context: almost every item's left part is shared by several answers
    ambiguous = sum(len(by_left[left_of(it)]) > 1 for it in items)
    assert ambiguous >= 0.95 * len(items), f"{name}: {ambiguous}/{len(items)} ambiguous"
    # ... and the best a left-to-right guesser can do stays well short of always right
    best_left_only = sum(max(Counter(it.answer for it in items if left_of(it) == left).values())
                         for left in by_left)  # fmt: skip
    assert best_left_only <= 0.8 * len(items), name


@pytest.mark.parametrize("name", RIGHT + LEFT)
def test_the_whole_sentence_decides_the_answer(name):
    by_sentence = answers_by(family_items(name), lambda it: it.words)
    assert all(len(a) == 1 for a in by_sentence.values()), name


@pytest.mark.parametrize("name", LEFT)
def test_left_context_families_are_decidable_from_the_left(name):
    items = family_items(name)
    by_left = answers_by(items, left_of)
    assert all(len(a) == 1 for a in by_left.values()), name
    assert len({it.answer for it in items}) > 1, f"{name}: a constant answer proves nothing"


@pytest.mark.parametrize("count", [0, -3, 2.5, "10"])
def test_generate_refuses_a_bad_count(count):
    with pytest.raises(ValueError, match="count"):
        generate(count, np.random.default_rng(0))
