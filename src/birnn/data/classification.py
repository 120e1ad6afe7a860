"""Reading sentence classification files: one labelled text per line.

Two layouts, one per file:

* ``"label_text"``: ``LABEL<space>text`` (the SST files of Kim 2014: ``1 a stirring , funny ...``);
  the label is the first whitespace-separated field, the text the rest of the line.
* ``"tsv"``: tab-separated, by the number of cells of the file's first line:
  three cells are ``id<TAB>text<TAB>label`` (Poem Sentiment), two are ``text<TAB>label``.
  Every line must have that number of cells. There is no header line.

``format="auto"`` picks ``"tsv"`` when the first non-blank line contains a TAB, ``"label_text"``
otherwise. Texts are split into tokens on whitespace, nothing more (SST is already tokenised);
labels stay strings (``"-1"``, ``"0"``, ``"pos"``). Blank lines are skipped. A file that is
recognisably CoNLL-U, a CoNLL column file or fill-in-the-blank data is refused
(``birnn.data.formats``): read as labelled texts it would give labels like ``#``, ``1-2``, ``O``.
"""

from __future__ import annotations

from pathlib import Path

from birnn._checks import check_choice
from birnn.data._files import as_path, numbered_lines
from birnn.data.errors import located
from birnn.data.formats import refuse_other
from birnn.data.records import LabelledText

FORMATS = frozenset({"auto", "label_text", "tsv"})
_TSV_LAYOUTS = {3: "id<TAB>text<TAB>label", 2: "text<TAB>label"}


def _label_text(line: str) -> tuple[str, str]:
    parts = line.split(None, 1)
    if len(parts) < 2:
        raise ValueError(
            "expected 'LABEL text' (a label, whitespace, then the text); "
            f"found only {line.strip()!r}"
        )
    return parts[0], parts[1]


def read_classification(path: str | Path, format: str = "auto") -> list[LabelledText]:
    """The labelled texts of a classification file (see the module notes for the layouts).

    ``DataError`` (``"{path}:{line}: ..."``) for a line without a label or a text, or a TSV line
    whose number of cells differs from the first line's (or is not 2 or 3); ``"{path}: ..."``
    for a file without any line.
    """
    format = check_choice("format", format, FORMATS)
    file = as_path(path)
    refuse_other(file, ("tsv", "label_text"), "classification data (label text, or TSV)")
    texts: list[LabelledText] = []
    cells_per_line: tuple[int, int] | None = None  # TSV: (cells, line) of the first line
    for number, line in numbered_lines(file):
        if not line.strip():
            continue
        if format == "auto":
            format = "tsv" if "\t" in line else "label_text"
        if format == "label_text":
            try:
                label, text = _label_text(line)
            except ValueError as err:
                raise located(file, number, str(err)) from err
        else:
            cells = [cell.strip() for cell in line.split("\t")]
            if cells_per_line is None:
                if len(cells) not in _TSV_LAYOUTS:
                    raise located(
                        file,
                        number,
                        "expected 3 tab-separated cells "
                        "(id, text, label) or 2 (text, label); "
                        f"found {len(cells)}",
                    )
                cells_per_line = (len(cells), number)
            elif len(cells) != cells_per_line[0]:
                n, first = cells_per_line
                raise located(
                    file,
                    number,
                    f"expected {n} tab-separated cells "
                    f"({_TSV_LAYOUTS[n]}) like line {first}; found {len(cells)}",
                )
            text, label = cells[-2], cells[-1]
            if not label or not text.strip():
                missing = "label" if not label else "text"
                raise located(file, number, f"empty {missing} cell")
        texts.append(LabelledText(text.split(), label))
    if not texts:
        raise located(file, None, "no texts (the file is empty or has only blank lines)")
    return texts
