"""Reading CoNLL column files (CoNLL-2000/2003, WNUT-17): one word per line, tags in a column.

Each non-blank line holds the columns of one word; a line that is empty *or whitespace only*
ends the sentence (WNUT-17's training file separates sentences with lines holding a single TAB).
``-DOCSTART-`` lines (CoNLL-2003 document markers) end the sentence too and are otherwise
skipped. Every word line must have as many columns as the file's first word line, so a stray
space inside a token (with whitespace separation) or a missing tag is caught where it happens.

The separator is the one the corpora people download use: where the file's first word line
holds a TAB, columns are split on TABs only, so a token may contain a space (``ke s<TAB>O``, as
in a public Twitter NER corpus); otherwise on runs of whitespace (CoNLL-2003). A line whose
token is empty (``<TAB>O``) is an error naming the fix. A file that is recognisably CoNLL-U,
classification or fill-in-the-blank data is refused (``birnn.data.formats``).
"""

from __future__ import annotations

from pathlib import Path

from birnn._checks import check_choice, describe
from birnn.data._files import as_path, numbered_lines
from birnn.data.errors import located
from birnn.data.formats import refuse_other
from birnn.data.records import TaggedSentence
from birnn.data.tags import SCHEMES, check_tag

DOCSTART = "-DOCSTART-"


def _needed(col: int) -> int:
    """How many columns a line needs for index ``col`` (negative counts from the end)."""
    return col + 1 if col >= 0 else -col


def read_columns(
    path: str | Path,
    word_col: int = 0,
    tag_col: int = -1,
    scheme: str | None = "iob2",
    sep: str | None = None,
) -> list[TaggedSentence]:
    """The sentences of a column file: the word from ``word_col``, the tag from ``tag_col``.

    Columns are split as the file is written (``sep=None``: on TABs if its first word line has
    one, else on runs of whitespace; see the module notes) or on the exact string ``sep`` (e.g.
    ``"\\t"``); with a separator, each cell is stripped of surrounding whitespace.
    ``scheme`` ("iob1", "iob2" or "bioes") is checked on
    every tag: ``O`` or ``P-TYPE`` with a prefix the scheme has; ``scheme=None`` accepts any tag
    (POS or chunk files read as plain labels). The structure of a sequence (an IOB2 ``I-`` after
    ``O``) is not checked here: scores read it the way conlleval does (``birnn.data.tags``).

    ``DataError`` (``"{path}:{line}: ..."``) for a word line with too few columns or a different
    number of columns than the first word line, an empty word or tag, or a tag outside the
    scheme; ``"{path}: ..."`` for a file without sentences.
    """
    for name, col in (("word_col", word_col), ("tag_col", tag_col)):
        if isinstance(col, bool) or not isinstance(col, int):
            raise TypeError(f"{name} must be an int; received {describe(col)}")
    if word_col == tag_col:
        raise ValueError(f"word_col and tag_col must differ; received {word_col} for both")
    if scheme is not None:
        scheme = check_choice("scheme", scheme, SCHEMES)
    if sep is not None and (not isinstance(sep, str) or not sep):
        raise ValueError(
            f"sep must be None (any whitespace) or a non-empty str; received {describe(sep)}"
        )
    needed = max(_needed(word_col), _needed(tag_col), 2)
    file = as_path(path)
    refuse_other(file, ("columns",), "a CoNLL column file",
                 {"conllu": "read it with --format conllu"})  # fmt: skip
    sentences: list[TaggedSentence] = []
    words: list[str] = []
    tags: list[str] = []
    width: tuple[int, int] | None = None  # (columns, line) of the first word line
    splitter = sep

    def finish() -> None:
        if words:
            sentences.append(TaggedSentence(words.copy(), tags.copy()))
            words.clear()
            tags.clear()

    for number, line in numbered_lines(file):
        if not line.strip():
            finish()
            continue
        if splitter is None:  # the first word line decides: TABs only, or any whitespace ("")
            splitter = "\t" if "\t" in line else ""
        cells = line.split() if not splitter else [c.strip() for c in line.split(splitter)]
        if cells[0] == DOCSTART:
            finish()
            continue
        if len(cells) < needed:
            raise located(
                file,
                number,
                f"expected at least {needed} columns (word column "
                f"{word_col}, tag column {tag_col}); found {len(cells)}: {line!r}",
            )
        if width is None:
            width = (len(cells), number)
        elif len(cells) != width[0]:
            raise located(
                file,
                number,
                f"expected {width[0]} columns like line {width[1]}; found {len(cells)}: {line!r}",
            )
        word, tag = cells[word_col], cells[tag_col]
        if not word:
            raise located(
                file,
                number,
                f"empty token in column {word_col}: {line!r}; give it a value or delete the "
                f"line (e.g. sed -i '{number}d' {file})",
            )
        if not tag:
            raise located(file, number, f"empty tag: {line!r}")
        if scheme is not None:
            problem = check_tag(tag, scheme)
            if problem is not None:
                raise located(file, number, problem)
        words.append(word)
        tags.append(tag)
    finish()
    if not sentences:
        raise located(file, None, "no sentences (the file is empty or has only blank lines)")
    return sentences
