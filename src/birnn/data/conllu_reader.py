"""Reading CoNLL-U files (Universal Dependencies) as tagged sentences.

CoNLL-U has ten tab-separated columns per word line (ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL
DEPS MISC), ``#`` comment lines before each sentence and a blank line after it. Tagging works on
*syntactic words*, the lines with an integer ID, so two kinds of line are skipped:

* multiword-token ranges (ID ``1-2``): the surface token ("don't") whose words follow it;
* empty nodes (ID ``8.1``): enhanced-dependency nodes that are not in the text.

The file is split into lines here, so that every error can name its line; the ``conllu`` package
(a dependency) parses the ID column with the format's own grammar. ``conllu_sentences`` reads
one sentence at a time and keeps each block's lines as they are, so that ``birnn predict`` can
write a CoNLL-U file back with only the predicted column changed. Missing values stay as
the ``"_"`` the file holds (EWT has no missing UPOS; XPOS is ``"_"`` in some treebanks).

``conllu_lines`` writes the other way: a tagged sentence as word lines, the tags in one column.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from birnn._checks import check_choice
from birnn.data._files import Span, as_path, numbered_lines
from birnn.data.errors import located
from birnn.data.formats import refuse_other
from birnn.data.records import TaggedSentence
from birnn.data.tags import SCHEMES, check_tag

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
    except ImportError as err:  # pragma: no cover - a dependency of birnn
        raise ImportError("read_conllu needs the 'conllu' package: pip install conllu") from err
    return parse_id_value, ParseException


@dataclass
class ConlluSentence:
    """One sentence block as it stands in the file, and its syntactic words.

    ``lines`` are all its lines (comments, multiword ranges and empty nodes included), without
    the blank line that ends it; ``rows[i]`` is the index in ``lines`` of word ``i + 1``.
    """

    lines: list[str]
    words: list[str]
    tags: list[str]  # the column read, one per word
    rows: list[int]
    start: int  # the file line of lines[0]

    def with_column(self, column: str, values: Sequence[str]) -> list[str]:
        """``lines`` with ``column`` of each word line replaced by ``values`` (one per word):
        every comment, every other column and every other line kept as it is."""
        at = FIELDS.index(check_choice("column", column, TAG_COLUMNS))
        out = list(self.lines)
        for row, value in zip(self.rows, values, strict=True):
            cells = out[row].split("\t", at + 1)  # the columns after it stay one piece
            cells[at] = value
            out[row] = "\t".join(cells)
        return out


def conllu_sentences(
    path: str | Path, column: str = "upos", scheme: str | None = None, span: Span | None = None
) -> Iterator[ConlluSentence]:
    """The sentences of a CoNLL-U file, one at a time (a stream: any size of file).

    The checks of ``read_conllu``, as each line is reached; ``scheme`` (iob1, iob2, bioes) is
    checked on every tag of ``column``, with the line of a tag outside it. ``span``: only that
    piece of the file (cut between sentences).
    """
    column = check_choice("column", column, TAG_COLUMNS)
    if scheme is not None:
        scheme = check_choice("scheme", scheme, SCHEMES)
    file = as_path(path)
    refuse_other(file, ("conllu",), "a CoNLL-U file", {"columns": "read it with --format columns"})
    parse_id, parse_exception = _id_parser()
    at, width = FIELDS.index(column), len(FIELDS)
    # the open block's lists, bound to locals (this loop reads every line of every file)
    lines: list[str] | None = None
    words: list[str] = []
    tags: list[str] = []
    rows: list[int] = []
    start = 0
    for number, line in numbered_lines(file, span):
        if not line or line.isspace():
            if lines is not None:
                yield _finished(file, ConlluSentence(lines, words, tags, rows, start))
                lines = None
            continue
        if lines is None:
            lines, words, tags, rows, start = [], [], [], [], number
        lines.append(line)
        if line[0] == "#":
            continue
        cells = line.split("\t")
        if len(cells) != width:
            raise located(
                file,
                number,
                f"expected {width} tab-separated columns "
                f"({' '.join(FIELDS).upper()}); found {len(cells)}",
            )
        expected = len(words) + 1
        # the ID most lines hold is the next word's, which the grammar accepts as it stands
        word_id = expected if cells[0] == str(expected) else None
        if word_id is None:
            try:
                word_id = parse_id(cells[0])
            except parse_exception as err:
                raise located(file, number, f"invalid ID: {err}") from err
        if isinstance(word_id, tuple):  # a multiword range (1, "-", 2) or empty node (8, ".", 1)
            continue
        if word_id != expected:
            raise located(file, number, f"expected word ID {expected}; found {cells[0]!r}")
        form, tag = cells[1], cells[at]
        if not form or not tag:
            empty = "FORM" if not form else column.upper()
            raise located(file, number, f"empty {empty} column (CoNLL-U writes '_' for none)")
        if scheme is not None:
            problem = check_tag(tag, scheme)
            if problem is not None:
                raise located(file, number, f"{column.upper()} column: {problem}")
        rows.append(len(lines) - 1)
        words.append(form)
        tags.append(tag)
    if lines is not None:
        yield _finished(file, ConlluSentence(lines, words, tags, rows, start))


def _finished(file: Path, block: ConlluSentence) -> ConlluSentence:
    if not block.words:
        raise located(
            file,
            block.start,
            "a sentence without words (only comments, multiword tokens or empty nodes)",
        )
    return block


def read_conllu(
    path: str | Path, column: str = "upos", scheme: str | None = None
) -> list[TaggedSentence]:
    """The sentences of a CoNLL-U file (plain or gzip-compressed) with the tags of ``column``.

    ``column`` is one of lemma, upos, xpos, feats, head, deprel, deps, misc; ``scheme`` (iob1,
    iob2, bioes, or None for any tag) is checked on each of its tags. Raises ``DataError``
    (``"{path}:{line}: ..."``) for a word line without exactly ten tab-separated columns, an
    invalid ID, word IDs that do not run 1, 2, 3, ... within a sentence, an empty FORM or tag,
    a tag outside the scheme, or a sentence without words; ``"{path}: ..."`` for a file without
    sentences, or one that is recognisably of another kind (``birnn.data.formats``).
    """
    sentences = [TaggedSentence(s.words, s.tags) for s in conllu_sentences(path, column, scheme)]
    if not sentences:
        raise located(path, None, "no sentences (the file is empty or has only blank lines)")
    return sentences
