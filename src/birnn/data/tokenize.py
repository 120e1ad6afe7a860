"""Raw text into sentences and tokens: segtok's rules (the tokenizer flair uses), not our own.

``sentences("The dog barked. It ran.")`` -> ``[["The", "dog", "barked", "."], ["It", "ran",
"."]]``: sentences end at terminal punctuation (abbreviations such as "Mr." and "p.m." are
kept whole); words are split from punctuation ("dog." -> "dog", ".") and from English
contractions ("don't" -> "do", "n't", as in the Penn and UD treebanks). Hyphenated words and
numbers ("state-of-the-art", "3.50") stay one token, and so does the blank ``___``.

``pretokenized=True`` is the other way, for text already split: tokens are what whitespace
separates, and a text is one sentence.

segtok is imported on the first raw text (its import is ~0.06 s of every command's start).
"""

from __future__ import annotations


def sentences(text: str, pretokenized: bool = False) -> list[list[str]]:
    """The sentences of ``text``, each a list of tokens (none for a text of only spaces)."""
    if pretokenized:
        words = text.split()
        return [words] if words else []
    from segtok.segmenter import split_single
    from segtok.tokenizer import split_contractions, word_tokenizer

    found = (split_contractions(word_tokenizer(s)) for s in split_single(text))
    return [words for words in found if words]


def tokens(text: str, pretokenized: bool = False) -> list[str]:
    """The tokens of ``text``, all its sentences in one list."""
    return [word for sentence in sentences(text, pretokenized) for word in sentence]
