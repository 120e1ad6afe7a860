"""Reading pretrained word vectors: GloVe, word2vec and fastText files, streamed.

Formats (each may be gzip-compressed, recognised by its magic bytes as every data file is):

==================  =======================================================================
text (GloVe)        one ``word v1 ... vd`` line per word, space separated, no header
text with header    word2vec's text format and fastText's ``.vec``: a first line
                    ``count dim``, then the GloVe lines
word2vec binary     a ``count dim`` header line, then per word: the word's UTF-8 bytes, a
                    space, ``dim`` little-endian float32 values (and often a newline)
==================  =======================================================================

A text file whose first line is exactly two integers has a header; a file named ``*.bin``
(``*.bin.gz``) is word2vec binary. ``iter_vectors`` yields one ``(word, vector)`` at a time
and keeps only the set of words seen (to refuse duplicates), so a caller that keeps a few
vectors of a large file needs memory for those alone.

Every problem is a ``DataError`` naming the file and the line (the word's position in a
binary file): a line of the wrong width, a value that is not a finite number, a header whose
count or width the file contradicts, a word seen twice, an empty file, text that is not
UTF-8, a binary file that is not word2vec's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.typing import NDArray

from birnn.data._files import _open_binary, as_path, numbered_lines
from birnn.data.errors import DataError, located

__all__ = ["Vector", "iter_vectors", "read_vectors"]

Vector = tuple[str, NDArray[np.float32]]
_HEADER = re.compile(r"\s*(\d+)\s+(\d+)\s*")
_MAX_WORD_BYTES = 1 << 16  # a binary "word" longer than this: the file is not word2vec's


def is_binary(path: Path) -> bool:
    """word2vec's binary format, by the file name: ``*.bin`` or ``*.bin.gz``."""
    return path.name.lower().removesuffix(".gz").endswith(".bin")


def iter_vectors(path: str | Path) -> Iterator[Vector]:
    """Yield ``(word, vector)`` for every word of the file, in file order (float32 vectors of
    one width); ``DataError`` for a malformed file (see the module notes)."""
    file = as_path(path)
    seen: set[str] = set()
    reader = _binary(file) if is_binary(file) else _text(file)
    for where, word, vector in reader:
        if word in seen:
            raise located(file, where, f"the word {word!r} appears a second time")
        seen.add(word)
        yield word, vector
    if not seen:
        raise located(file, None, "no word vectors (the file is empty)")


def read_vectors(path: str | Path) -> tuple[list[str], NDArray[np.float32]]:
    """All the words of a (small) vectors file and their vectors as one (n, dim) array."""
    words, rows = [], []
    for word, vector in iter_vectors(path):
        words.append(word)
        rows.append(vector)
    return words, np.stack(rows)


def _header(line: str) -> tuple[int, int] | None:
    match = _HEADER.fullmatch(line)
    return (int(match[1]), int(match[2])) if match else None


def _values(file: Path, number: int, fields: list[str], dim: int) -> NDArray[np.float32]:
    if len(fields) != dim:
        raise located(file, number, f"{len(fields)} values; the vectors have {dim}")
    try:
        vector = np.array(fields, dtype=np.float32)
    except ValueError:
        bad = next(f for f in fields if not _is_number(f))
        raise located(file, number, f"the value {bad[:20]!r} is not a number") from None
    if not np.all(np.isfinite(vector)):
        raise located(file, number, "a value is not finite (inf, nan or out of float32 range)")
    return vector


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _text(file: Path) -> Iterator[tuple[int, str, NDArray[np.float32]]]:
    """GloVe lines, after a ``count dim`` header if the first line is one."""
    count: int | None = None  # the header's word count
    dim: int | None = None
    words = 0
    try:
        for number, line in numbered_lines(file):
            if number == 1 and (header := _header(line)) is not None:
                count, dim = header
                if dim < 1:
                    raise located(file, 1, f"the header {line!r} gives width {dim}")
                continue
            word, _, rest = line.rstrip().partition(" ")
            if not word:
                raise located(file, number, "no word at the start of the line")
            fields = rest.split(" ") if rest else []
            if dim is None:
                if not fields:
                    raise located(file, number, f"a word without values: {line[:40]!r}")
                dim = len(fields)  # GloVe: the first line sets the width
            if count is not None and words == count:
                raise located(file, number, f"more words than the header (line 1) gives: {count}")
            yield number, word, _values(file, number, fields, dim)
            words += 1
    except DataError as err:
        if count is not None and "UTF-8" in str(err):
            raise DataError(f"{err} (a word2vec binary file? name it *.bin)") from None
        raise
    if count is not None and words != count:
        raise located(file, None, f"the header (line 1) gives {count} words; the file has {words}")


def _binary(file: Path) -> Iterator[tuple[int, str, NDArray[np.float32]]]:
    """word2vec's binary format; the position of an error is the word's number (header = 1)."""
    with _open_binary(file) as f:
        first = f.readline(256)
        try:
            header = _header(first.decode("ascii"))
        except UnicodeDecodeError:
            header = None
        if header is None or header[1] < 1:
            if not first:
                return  # empty: iter_vectors reports it
            raise located(file, 1, "not a word2vec binary file (line 1 must be 'count dim')")
        count, dim = header
        stream = _Chunks(f)
        for number in range(2, count + 2):
            word = _binary_word(stream, file, number)
            if word is None:
                raise located(
                    file, None, f"the header gives {count} words; the file ends after {number - 2}"
                )
            data = stream.take(4 * dim)
            if len(data) != 4 * dim:
                raise located(file, number, f"the file ends inside the vector of {word!r}")
            vector = np.frombuffer(data, dtype="<f4").astype(np.float32)
            if not np.all(np.isfinite(vector)):
                raise located(file, number, f"a value of {word!r} is not finite")
            yield number, word, vector
        if stream.take(_CHUNK).strip():
            raise located(file, None, f"data after the {count} words the header gives")


_CHUNK = 1 << 20


class _Chunks:
    """A binary stream read in large chunks (one Python call per chunk, not per byte)."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.buf = b""
        self.pos = 0

    def _fill(self, needed: int) -> bool:
        """At least ``needed`` bytes buffered past ``pos``, unless the stream ends first."""
        while len(self.buf) - self.pos < needed:
            more = self.f.read(max(_CHUNK, needed))
            if not more:
                return False
            self.buf = self.buf[self.pos :] + more
            self.pos = 0
        return True

    def take(self, n: int) -> bytes:
        """The next ``n`` bytes (fewer at the end of the stream)."""
        self._fill(n)
        out = self.buf[self.pos : self.pos + n]
        self.pos += len(out)
        return out

    def until_space(self) -> bytes | None:
        """The bytes up to the next space (which is consumed); None when only whitespace is
        left; what is left, without a space, if none comes within ``_MAX_WORD_BYTES``."""
        while True:
            end = self.buf.find(b" ", self.pos, self.pos + _MAX_WORD_BYTES)
            if end >= 0:
                out = self.buf[self.pos : end]
                self.pos = end + 1
                return out
            if len(self.buf) - self.pos >= _MAX_WORD_BYTES or not self._fill(
                len(self.buf) - self.pos + 1
            ):
                rest = self.take(_MAX_WORD_BYTES)
                return rest if rest.strip() else None


def _binary_word(stream: _Chunks, file: Path, number: int) -> str | None:
    """The next word, without the newline that may end the previous vector; None at the end."""
    raw = stream.until_space()
    if raw is None:
        return None
    raw = raw.lstrip(b"\n")
    if not raw:
        raise located(file, number, "an empty word")
    if len(raw) >= _MAX_WORD_BYTES or b"\n" in raw:
        raise located(file, number, "not a word2vec binary file (no space after a word)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise located(file, number, f"the word is not valid UTF-8 ({err.reason})") from None
