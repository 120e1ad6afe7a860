"""What the readers return: one record per sentence (tagging) or per text (classification)."""

from __future__ import annotations

from dataclasses import dataclass


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
