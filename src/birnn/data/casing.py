"""The case pattern and shape of a word: what lower-cased word embeddings would lose.

Each word gets one of ``CASES`` (id 0 is padding), decided in this order:

=========  ===============================================================================
url        starts with ``http:``, ``https:`` or ``www.``
mention    ``@`` followed by something (a Twitter user name)
hashtag    ``#`` followed by something
number     digits, perhaps with punctuation, no letters: ``2017``, ``3.5``, ``1,000``
alnum      letters and digits: ``3pm``, ``A4``, ``mp3``
punct      no letter and no digit: ``,``, ``...``, ``:)``
other      letters without case (Chinese, Arabic, ...)
lower      every cased letter lower case: ``the``, ``don't``
upper      every cased letter upper case, at least two of them: ``USA``, ``NASA``
title      the first cased letter upper case, the others lower case: ``Paris``, ``I``
mixed      any other mixture: ``iPhone``, ``McDonald``, ``eBay``
=========  ===============================================================================

The model learns one small vector per pattern (``EncoderConfig.case_dim``), concatenated to
the word embedding, so a tagger can read capitals even from lower-cased word embeddings.
"""

from __future__ import annotations

__all__ = ["CASES", "case_id"]

CASES = (
    "<pad>",
    "url",
    "mention",
    "hashtag",
    "number",
    "alnum",
    "punct",
    "other",
    "lower",
    "upper",
    "title",
    "mixed",
)
_ID = {name: i for i, name in enumerate(CASES)}


def case_pattern(word: str) -> str:
    """The name of ``word``'s pattern among ``CASES`` (see the module notes)."""
    lowered = word.lower()
    if lowered.startswith(("http:", "https:", "www.")):
        return "url"
    if len(word) > 1 and word[0] == "@":
        return "mention"
    if len(word) > 1 and word[0] == "#":
        return "hashtag"
    letters = [c for c in word if c.isalpha()]
    digits = any(c.isdigit() for c in word)
    if not letters:
        return "number" if digits else "punct"
    if digits:
        return "alnum"
    cased = [c for c in letters if c.islower() or c.isupper()]
    if not cased:
        return "other"
    upper = [c.isupper() for c in cased]
    if not any(upper):
        return "lower"
    if all(upper):
        return "upper" if len(cased) > 1 else "title"
    if upper[0] and not any(upper[1:]):
        return "title"
    return "mixed"


def case_id(word: str) -> int:
    """The id of ``word``'s pattern: its index in ``CASES`` (never 0, the padding id)."""
    return _ID[case_pattern(word)]
