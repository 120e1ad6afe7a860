"""Reading CoNLL-U files (Universal Dependencies) as tagged sentences.

CoNLL-U has ten tab-separated columns per word line (ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL
DEPS MISC), ``#`` comment lines before each sentence and a blank line after it. Tagging works on
*syntactic words*, the lines with an integer ID, so two kinds of line are skipped:

* multiword-token ranges (ID ``1-2``): the surface token ("don't") whose words follow it;
* empty nodes (ID ``8.1``): enhanced-dependency nodes that are not in the text.

The file is split into lines here, so that every error can name its line; the ``conllu`` package
(the ``train`` extra) parses the ID column with the format's own grammar. Missing values stay as
the ``"_"`` the file holds (EWT has no missing UPOS; XPOS is ``"_"`` in some treebanks).

``conllu_lines`` writes the other way: a tagged sentence as word lines, the tags in one column.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from birnn._checks import check_choice
from birnn.data._files import as_path, numbered_lines
from birnn.data.errors import located
from birnn.data.records import TaggedSentence

# the ten columns of a word line, in file order: the one list of them in birnn
FIELDS = ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")
TAG_COLUMNS = frozenset(FIELDS[2:])  # every column but ID and FORM can serve as the tag
SUFFIXES = (".conllu", ".conllu.gz")


def is_conllu(path: str | Path) -> bool:
    """Whether ``path`` names a CoNLL-U file, by its name alone: ``*.conllu`` or ``*.conllu.gz``.

    What ``--format auto`` and every other "CoNLL-U or not" choice go by.
    """
    return Path(path).name.endswith(SUFFIXES)


def conllu_lines(words: Sequence[str], tags: Sequence[str], column: str = "upos") -> Iterator[str]:
    """The word lines of one sentence: ID, FORM, the tag in ``column``, ``_`` everywhere else.

    What ``birnn predict --output conllu`` prints; ``read_conllu(..., column)`` reads it back.
    The blank line that ends the sentence is the caller's.
    """
    column = check_choice("column", column, TAG_COLUMNS)
    at = FIELDS.index(column)
    for number, (word, tag) in enumerate(zip(words, tags), 1):
        row = [str(number), word] + ["_"] * (len(FIELDS) - 2)
        row[at] = tag
        yield "\t".join(row)


def _id_parser() -> Any:
    try:
        from conllu.exceptions import ParseException
        from conllu.parser import parse_id_value
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "read_conllu needs the 'conllu' package: pip install 'birnn[train]'"
        ) from err
    return parse_id_value, ParseException


def read_conllu(path: str | Path, column: str = "upos") -> list[TaggedSentence]:
    """The sentences of a CoNLL-U file (plain or gzip-compressed) with the tags of ``column``.

    ``column`` is one of lemma, upos, xpos, feats, head, deprel, deps, misc. Raises ``DataError``
    (``"{path}:{line}: ..."``) for a word line without exactly ten tab-separated columns, an
    invalid ID, word IDs that do not run 1, 2, 3, ... within a sentence, an empty FORM or tag,
    or a sentence without words; and ``"{path}: ..."`` for a file without sentences.
    """
    column = check_choice("column", column, TAG_COLUMNS)
    file = as_path(path)
    parse_id, parse_exception = _id_parser()
    at = FIELDS.index(column)
    sentences: list[TaggedSentence] = []
    words: list[str] = []
    tags: list[str] = []
    block_start: int | None = None  # first line of the sentence being read

    def finish() -> None:
        if not words:
            raise located(
                file,
                block_start,
                "a sentence without words (only comments, multiword tokens or empty nodes)",
            )
        sentences.append(TaggedSentence(words.copy(), tags.copy()))
        words.clear()
        tags.clear()

    for number, line in numbered_lines(file):
        if not line.strip():
            if block_start is not None:
                finish()
                block_start = None
            continue
        if block_start is None:
            block_start = number
        if line.startswith("#"):
            continue
        cells = line.split("\t")
        if len(cells) != len(FIELDS):
            raise located(
                file,
                number,
                f"expected {len(FIELDS)} tab-separated columns "
                f"({' '.join(FIELDS).upper()}); found {len(cells)}",
            )
        try:
            word_id = parse_id(cells[0])
        except parse_exception as err:
            raise located(file, number, f"invalid ID: {err}") from err
        if isinstance(word_id, tuple):  # a multiword range (1, "-", 2) or empty node (8, ".", 1)
            continue
        if word_id != len(words) + 1:
            raise located(file, number, f"expected word ID {len(words) + 1}; found {cells[0]!r}")
        if not cells[1] or not cells[at]:
            empty = "FORM" if not cells[1] else column.upper()
            raise located(file, number, f"empty {empty} column (CoNLL-U writes '_' for none)")
        words.append(cells[1])
        tags.append(cells[at])
    if block_start is not None:
        finish()
    if not sentences:
        raise located(file, None, "no sentences (the file is empty or has only blank lines)")
    return sentences
