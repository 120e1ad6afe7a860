"""Reading texts to predict on: one text per line (what ``birnn predict --input`` reads).

``text_lines`` streams them (a file of any size); ``read_texts`` returns them all, split into
words on whitespace. How raw text becomes tokens otherwise is ``birnn.data.tokenize``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from birnn.data._files import Span, as_path, numbered_lines
from birnn.data.errors import DataError, located
from birnn.data.formats import refuse_other


def text_lines(path: str | Path, span: Span | None = None) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` for each non-blank line of ``path``: the line up to its first TAB.

    A labelled file reads too: what follows the first TAB (a label, an answer) is ignored, so a
    fill-in-the-blank data file gives its sentences. ``DataError`` (``"{path}:{line}: ..."``)
    for a line without words before its first TAB, or (``"{path}: ..."``) a file without any
    text or one that is a CoNLL-U or column file (those hold words, not texts). ``span``: only
    that piece of the file (a piece without texts is then no error: ``no_texts`` is the
    caller's, for the whole file).
    """
    file = as_path(path)
    refuse_other(file, ("label_text", "tsv", "cloze"), "texts (one per line)",
                 {"conllu": "birnn predict reads it for a tagger",
                  "columns": "its first column holds the words: cut -f1"})  # fmt: skip
    found = False
    for number, line in numbered_lines(file, span):
        if not line.strip():
            continue
        text = line.split("\t")[0].strip()
        if not text:
            raise located(file, number, f"no words before the first TAB: {line[:80]!r}")
        found = True
        yield number, text
    if not found and span is None:
        raise no_texts(file)


def no_texts(path: Path) -> DataError:
    return located(path, None, "no texts (the file is empty or has only blank lines)")


def read_texts(path: str | Path) -> list[list[str]]:
    """The words of each text of ``path`` (``text_lines``), split on whitespace."""
    return [text.split() for _, text in text_lines(path)]
