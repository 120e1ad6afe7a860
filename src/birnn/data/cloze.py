"""Reading and writing fill-in-the-blank (cloze) files: one ``ClozeItem`` per line.

A cloze line is ``sentence with ___<TAB>answer``, the blank being the one token ``BLANK``; an
optional third cell ``right`` marks an item whose answer only the words after the blank decide
(``left``, or nothing, marks the others). A file of plain sentences (one per line, no TAB) works
too: one word per sentence of at least two words is hidden, chosen with a generator seeded by
``seed``, so the same file always gives the same items. One file holds one kind of line. A
file that is recognisably CoNLL column or classification TSV data is refused
(``birnn.data.formats``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from birnn.data._files import as_path, numbered_lines
from birnn.data.errors import located
from birnn.data.formats import refuse_other
from birnn.data.records import BLANK, ClozeItem


def _cloze_item(line: str) -> ClozeItem:
    cells = line.split("\t")
    words = cells[0].split()
    if len(cells) not in (2, 3) or words.count(BLANK) != 1 or not cells[1].strip():
        raise ValueError(
            f"expected 'sentence with one {BLANK}<TAB>answer[<TAB>right]'; received {line[:80]!r}"
        )
    right = len(cells) == 3 and cells[2].strip() == "right"
    return ClozeItem(tuple(words), words.index(BLANK), cells[1].strip(), right, "file")


def read_cloze(path: str | Path, seed: int = 0) -> list[ClozeItem]:
    """The items of a cloze file, or of a file of plain sentences (see the module notes).

    ``DataError`` (``"{path}:{line}: ..."``) for a cloze line without exactly one blank or
    without an answer; ``"{path}: ..."`` for a file that mixes the two kinds of line or has none.
    """
    file = as_path(path)
    refuse_other(file, ("cloze", "label_text"), "fill-in-the-blank data (or plain sentences)")
    items: list[ClozeItem] = []
    plain: list[list[str]] = []
    first: dict[bool, int] = {}  # cloze line or not -> the first line of that kind
    for number, line in numbered_lines(file):
        if not line.strip():
            continue
        cloze = "\t" in line
        first.setdefault(cloze, number)
        if not cloze:
            plain.append(line.split())
            continue
        try:
            items.append(_cloze_item(line))
        except ValueError as err:
            raise located(file, number, str(err)) from err
    if items and plain:
        raise located(
            file,
            None,
            f"mixes cloze lines (with a TAB, from line {first[True]}) and plain sentences "
            f"(from line {first[False]})",
        )
    if not items and not plain:
        raise located(file, None, "no items (the file is empty or has only blank lines)")
    return items or blank_out(plain, np.random.default_rng(seed))


def blank_out(sentences: Sequence[Sequence[str]], rng: np.random.Generator) -> list[ClozeItem]:
    """One item per sentence of at least two words: a random word becomes the blank."""
    items = []
    for words in sentences:
        if len(words) < 2:
            continue
        b = int(rng.integers(len(words)))
        hidden = (*words[:b], BLANK, *words[b + 1 :])
        items.append(ClozeItem(hidden, b, words[b], needs_right=False, family="text"))
    return items


def write_cloze(items: Sequence[ClozeItem], path: str | Path) -> None:
    """Cloze lines with the third cell (``right`` or ``left``): ``read_cloze`` reads them back."""
    with open(as_path(path), "w", encoding="utf-8") as f:
        for it in items:
            f.write(f"{' '.join(it.words)}\t{it.answer}\t{'right' if it.needs_right else 'left'}\n")
