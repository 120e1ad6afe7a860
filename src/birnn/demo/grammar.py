"""A generated fill-in-the-blank language, where the blank often depends on what comes *after* it.

    i am ___ hungry .                                       -> very / not (either is fine English)
    i am ___ hungry , and i can eat half a pig .            -> very (the right context decides)

Every item is one sentence with exactly one blank (``BLANK``) and the one word that belongs
there: a ``ClozeItem``, the fill-in-the-blank task's record (``birnn.data``). The sentence
families fall in two groups:

* **right-context** families: the words left of the blank are the same for every answer, and
  only the words to its right decide it (an intensity decided by what follows, "a"/"an" decided
  by the next word, "is"/"are" decided by a number that follows, "is"/"was" decided by a later
  time word). A left-to-right model cannot do better than guessing among the answers there.
* **left-context** families: the answer follows from the words before the blank (verb agreement
  with the subject, the next word of a counting sequence).

Everything is drawn from an explicit ``numpy.random.Generator``, so a seed fixes the data set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from birnn.data import BLANK, ClozeItem

Family = Callable[[np.random.Generator], tuple[list[str], str]]

_SUBJECTS = [("i", "am", "i"), ("you", "are", "you"), ("we", "are", "we"), ("they", "are", "they"),
             ("he", "is", "he"), ("she", "is", "she"), ("my brother", "is", "he"),
             ("my sister", "is", "she"), ("the kids", "are", "they")]  # fmt: skip

# how hungry: the continuation decides
_HUNGER = {
    "very": ["and {p} can eat half a pig", "so {p} will order two pizzas",
             "and {p} could eat a horse", "because {p} skipped breakfast and lunch"],
    "not": ["so {p} will skip lunch", "because {p} just had a big meal",
            "and {p} will not eat anything", "so {p} will leave the cake for later"],
    "slightly": ["so a small snack will do", "so {p} will just have an apple",
                 "and a few crackers will be enough"],
}  # fmt: skip

_VOWEL_NOUNS = ["apple", "egg", "orange", "umbrella", "owl", "elephant", "idea", "onion", "igloo"]
_CONSONANT_NOUNS = ["book", "car", "dog", "pear", "banana", "cup", "hat", "tree", "letter"]
_VOWEL_ADJS = ["old", "ugly", "odd", "empty", "enormous"]
_CONSONANT_ADJS = ["big", "small", "red", "new", "strange"]
_PLACES = ["table", "shelf", "floor", "roof", "bench"]
_NUMBERS_ONE = ["one", "a single"]
_NUMBERS_MANY = ["two", "three", "four", "many", "some"]
_PAST_WORDS = ["yesterday", "last week", "last night", "two days ago"]
_HABIT_WORDS = ["every day", "every morning", "most weekends", "on sundays"]
_NOUNS_BY_NUMBER = [("dog", "dogs"), ("cat", "cats"), ("bird", "birds"), ("car", "cars")]
_SEQUENCES = [["one", "two", "three", "four", "five", "six", "seven"],
              ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
              ["january", "february", "march", "april", "may", "june", "july"]]  # fmt: skip


T = TypeVar("T")


def _pick(rng: np.random.Generator, options: Sequence[T]) -> T:
    return options[int(rng.integers(len(options)))]


def _hunger(rng: np.random.Generator) -> tuple[list[str], str]:
    subject, verb, pronoun = _pick(rng, _SUBJECTS)
    answer = _pick(rng, sorted(_HUNGER))
    tail = _pick(rng, _HUNGER[answer]).format(p=pronoun)
    return f"{subject} {verb} {BLANK} hungry , {tail} .".split(), answer


def _article(rng: np.random.Generator) -> tuple[list[str], str]:
    subject = _pick(rng, ["i", "she", "we", "the boy", "my mother"])
    verb = _pick(rng, ["saw", "found", "wanted", "drew", "bought"])
    noun = _pick(rng, _VOWEL_NOUNS + _CONSONANT_NOUNS)
    phrase = [noun]
    if rng.random() < 0.5:
        phrase.insert(0, _pick(rng, _VOWEL_ADJS + _CONSONANT_ADJS))
    answer = "an" if phrase[0][0] in "aeiou" else "a"
    tail = _pick(rng, ["today", "at the market", "in the garden", "on the way home"])
    return f"{subject} {verb} {BLANK} {' '.join(phrase)} {tail} .".split(), answer


def _there_is(rng: np.random.Generator) -> tuple[list[str], str]:
    singular, plural = _pick(rng, _NOUNS_BY_NUMBER)
    place = _pick(rng, _PLACES)
    if rng.random() < 0.5:
        number, noun, answer = _pick(rng, _NUMBERS_ONE), singular, "is"
    else:
        number, noun, answer = _pick(rng, _NUMBERS_MANY), plural, "are"
    return f"there {BLANK} {number} {noun} on the {place} .".split(), answer


def _tense(rng: np.random.Generator) -> tuple[list[str], str]:
    subject, present, _ = _pick(rng, _SUBJECTS)
    where = _pick(rng, ["in the park", "at home", "near the river", "with our friends"])
    if rng.random() < 0.5:
        when, answer = _pick(rng, _PAST_WORDS), "was" if present in ("am", "is") else "were"
    else:
        when, answer = _pick(rng, _HABIT_WORDS), present
    return f"{subject} {BLANK} {where} {when} .".split(), answer


def _agreement(rng: np.random.Generator) -> tuple[list[str], str]:
    singular, plural = _pick(rng, _NOUNS_BY_NUMBER)
    adjective = _pick(rng, ["very loud", "quite small", "always hungry", "too old", "asleep"])
    if rng.random() < 0.5:
        return f"the {singular} {BLANK} {adjective} .".split(), "is"
    return f"the {plural} {BLANK} {adjective} .".split(), "are"


def _sequence(rng: np.random.Generator) -> tuple[list[str], str]:
    seq = _pick(rng, _SEQUENCES)
    start = int(rng.integers(0, 3))
    stop = start + int(rng.integers(3, 5))
    words = seq[start:stop]
    answer = words[-1]
    words[-1] = BLANK
    return [*words, "and", "so", "on", "."], answer


# name -> (generator, needs right context)
FAMILIES: dict[str, tuple[Family, bool]] = {
    "hunger": (_hunger, True),
    "article": (_article, True),
    "there_is": (_there_is, True),
    "tense": (_tense, True),
    "agreement": (_agreement, False),
    "sequence": (_sequence, False),
}


def generate(count: int, rng: np.random.Generator) -> list[ClozeItem]:
    """``count`` items, the families in turn (so every family gets its share), in random order."""
    if not isinstance(count, int | np.integer) or count < 1:
        raise ValueError(f"count must be a positive integer; received {count!r}")
    names = list(FAMILIES)
    items = []
    for k in range(count):
        name = names[k % len(names)]
        make, needs_right = FAMILIES[name]
        words, answer = make(rng)
        items.append(ClozeItem(tuple(words), words.index(BLANK), answer, needs_right, family=name))
    order = rng.permutation(count)
    return [items[i] for i in order]
