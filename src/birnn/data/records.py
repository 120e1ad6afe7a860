"""What the readers return: one record per sentence (tagging), per text (classification) or per
blank (fill in the blank)."""

from __future__ import annotations

from dataclasses import dataclass

BLANK = "___"  # the token that stands for the hidden word of a ClozeItem


@dataclass(frozen=True)
class TaggedSentence:
    """A sentence with one tag per word (POS tags, IOB/BIOES entity tags, ...)."""

    words: list[str]
    tags: list[str]  # tags[i] belongs to words[i]

    def __post_init__(self) -> None:
        if len(self.words) != len(self.tags):
            raise ValueError(
                f"a TaggedSentence needs one tag per word; received {len(self.words)} words "
                f"and {len(self.tags)} tags"
            )

    def __len__(self) -> int:
        return len(self.words)


@dataclass(frozen=True)
class LabelledText:
    """A text (already split into tokens) with one label for the whole text."""

    words: list[str]
    label: str

    def __len__(self) -> int:
        return len(self.words)


@dataclass(frozen=True)
class ClozeItem:
    """One sentence with a blank at ``blank``; ``answer`` is the word that belongs there.

    ``words[blank]`` is ``BLANK``. ``family`` says where the item comes from: a family of the
    demo's grammar, ``"file"`` (a cloze line), ``"text"`` (a word hidden in a plain sentence) or
    ``"input"`` (a text to predict on, without an answer).
    """

    words: tuple[str, ...]
    blank: int
    answer: str
    needs_right: bool  # True when only the words right of the blank decide the answer
    family: str
