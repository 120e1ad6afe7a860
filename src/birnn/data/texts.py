"""Reading texts to predict on: one text per line, split into words on whitespace."""

from __future__ import annotations

from pathlib import Path

from birnn.data._files import as_path, numbered_lines
from birnn.data.errors import located


def read_texts(path: str | Path) -> list[list[str]]:
    """The words of each non-blank line of ``path``, from its first TAB-separated cell.

    A labelled file reads too: what follows the first TAB (a label, an answer) is ignored, so a
    fill-in-the-blank data file gives its sentences. ``DataError`` (``"{path}:{line}: ..."``) for
    a line without words before its first TAB; ``"{path}: ..."`` for a file without any text.
    """
    file = as_path(path)
    texts = []
    for number, line in numbered_lines(file):
        if not line.strip():
            continue
        words = line.split("\t")[0].split()
        if not words:
            raise located(file, number, f"no words before the first TAB: {line[:80]!r}")
        texts.append(words)
    if not texts:
        raise located(file, None, "no texts (the file is empty or has only blank lines)")
    return texts
