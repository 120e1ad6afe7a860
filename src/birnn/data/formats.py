"""Recognising what a data file is from its first lines, so a reader can refuse data meant for
another task or format and say so (``DataError`` with the file and line) instead of reading
nonsense: a CoNLL-U file as a classifier's ``label text`` lines, with labels ``#`` and ``1-2``.

The kinds, and how each is told apart (``recognise`` looks at the first ``SAMPLE`` lines):

=============  ==========================================================================
``conllu``     a word line of exactly ten TAB-separated cells whose first is an ID (``3``,
               ``1-2``, ``8.1``)
``columns``    CoNLL column files (one word per line, blank lines between sentences): every
               line has the same number (>= 2) of cells, the first cell is one token on
               nine lines in ten, and blank lines cut the lines into blocks of >= 2 on average
``cloze``      fill-in-the-blank lines: a TAB, and (on half the lines or more) the blank
               ``___`` in the first cell
``tsv``        classification TSV: 2 or 3 TAB-separated cells, texts of several words
               (and at least ``FEW`` lines, as for ``label_text``)
``label_text`` lines without a TAB, of 3 words or more on average, whose number of words
               varies (no one number on four lines in five): ``LABEL text``, or sentences
=============  ==========================================================================

A file that fits none of them (a one-sentence column file, a file of a few identical lines) is
not recognised, and every reader reads it as it would: recognition only ever adds a refusal
where the evidence is clear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from birnn.data._files import STDIN, numbered_lines
from birnn.data.errors import located
from birnn.data.records import BLANK

SAMPLE = 200  # non-blank lines looked at
FEW = 5  # fewer lines are not evidence enough of a TSV or text file
_ID = re.compile(r"\d+([-.]\d+)?")

DESCRIPTIONS = {
    "conllu": "a CoNLL-U file (ten TAB-separated columns, ID first)",
    "columns": "a CoNLL column file (one word per line, blank lines between sentences)",
    "cloze": "fill-in-the-blank data (sentence with ___ <TAB> answer)",
    "tsv": "classification data (text <TAB> label)",
    "label_text": "classification data or plain sentences (one text per line)",
}
TASK_OF = {  # the command that reads each kind
    "conllu": "--task tag",
    "columns": "--task tag",
    "cloze": "--task fill",
    "tsv": "--task classify",
    "label_text": "--task classify (or --task fill: plain sentences)",
}


@dataclass(frozen=True)
class Recognised:
    kind: str  # a key of DESCRIPTIONS
    line: int  # the 1-based line that shows it


def recognise(path: Path) -> Recognised | None:
    """The kind of data in ``path`` (see the module notes), or None when it is not clear.

    Standard input (``-``) is never looked at: it can be read only once.
    """
    if path == STDIN:
        return None
    lines: list[tuple[int, str]] = []
    blocks = [0]  # lines per blank-line-separated block
    for number, line in numbered_lines(path):
        if not line.strip():
            if blocks[-1]:
                blocks.append(0)
            continue
        if line.startswith("#"):  # CoNLL-U comments say nothing about the other kinds
            continue
        first_cells = line.split("\t")
        if len(first_cells) == 10 and _ID.fullmatch(first_cells[0]):
            return Recognised("conllu", number)
        lines.append((number, line))
        blocks[-1] += 1
        if len(lines) == SAMPLE:
            break
    if not lines:
        return None
    first = lines[0][0]
    tabbed = all("\t" in line for _, line in lines)
    cells = [line.split("\t") if "\t" in line else line.split() for _, line in lines]
    if tabbed and sum(BLANK in c[0].split() for c in cells) >= 0.5 * len(cells):
        return Recognised("cloze", first)
    widths = {len(c) for c in cells}
    blocks = [b for b in blocks if b]
    if (
        len(widths) == 1
        and min(widths) >= 2
        and len(blocks) >= 2
        and len(lines) >= 2 * len(blocks)
        and sum(len(c[0].split()) == 1 for c in cells) >= 0.9 * len(cells)
        and not all(c[0].isdigit() for c in cells)
    ):
        return Recognised("columns", first)
    if len(cells) < FEW:
        return None
    if tabbed and widths <= {2, 3} and len(widths) == 1:
        several = sum(len(c[-2].split()) > 1 for c in cells)
        return Recognised("tsv", first) if several >= 0.5 * len(cells) else None
    counts = [len(c) for c in cells]
    modal = max(counts.count(w) for w in widths)
    if (
        not any("\t" in line for _, line in lines)
        and sum(counts) >= 3 * len(counts)
        and modal < 0.8 * len(counts)
    ):
        return Recognised("label_text", first)
    return None


def refuse_other(
    path: Path, accepted: tuple[str, ...], reading: str, hints: dict[str, str] | None = None
) -> None:
    """``DataError`` if ``path`` is recognisably of a kind other than ``accepted``.

    ``reading``: what the caller reads, for the message ("classification data"); ``hints``:
    kind -> how to read such a file instead, where the task's own name is not the answer.
    """
    found = recognise(path)
    if found is None or found.kind in accepted:
        return
    hint = (hints or {}).get(found.kind, f"birnn train {TASK_OF[found.kind]} reads it")
    raise located(
        path, found.line, f"this looks like {DESCRIPTIONS[found.kind]}, not {reading}; {hint}"
    )


def is_conllu_data(path: Path) -> bool:
    """Whether ``path`` is CoNLL-U, by its name (``*.conllu[.gz]``) or else by its content:
    what ``--format auto`` goes by."""
    from birnn.data.conllu_reader import is_conllu  # the name rule, kept with the reader

    if is_conllu(path):
        return True
    found = recognise(path)
    return found is not None and found.kind == "conllu"
