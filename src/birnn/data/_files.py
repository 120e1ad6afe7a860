"""Opening a data file as numbered text lines: the one text-file reader behind every input.

Files are UTF-8 (a byte-order mark at the start is dropped); gzip-compressed files are recognised
by their magic bytes, whatever their name; ``\\r\\n`` line endings read like ``\\n``. Lines are
decoded one at a time so that a byte sequence that is not UTF-8 is a ``DataError`` naming its exact
line. The path ``-`` is standard input (``birnn predict --input -``), read as it arrives (once:
nothing looks at its content beforehand, so it is read as plain texts).

A ``Span`` reads one piece of an uncompressed file (``birnn.corpus`` cuts a large input into
pieces at line boundaries, one task each), its lines numbered as in the whole file.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from birnn._checks import describe
from birnn.data.errors import located

_GZIP_MAGIC = b"\x1f\x8b"


def as_path(path: Any) -> Path:
    """``path`` as a ``Path``; anything but a string or path-like object is a ``TypeError``."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike; received {describe(path)}")
    return Path(path)


STDIN = Path("-")


def existing_file(path: Any) -> Path:
    """``path`` as a ``Path`` naming a file; ``DataError`` ``"{path}: no such file"`` otherwise.

    For the command line, which reports a missing file like any other bad input (the readers
    themselves let ``open`` raise ``FileNotFoundError``).
    """
    file = as_path(path)
    if file != STDIN and not file.is_file():
        raise located(file, None, "no such file")
    return file


@dataclass(frozen=True)
class Span:
    """Bytes ``[start, end)`` of a file, cut at line boundaries; its first line is line
    ``first_line`` of the file."""

    start: int
    end: int
    first_line: int


def is_compressed(path: Path) -> bool:
    with open(path, "rb") as probe:
        return probe.read(2) == _GZIP_MAGIC


def _open_binary(path: Path) -> BinaryIO:
    if path == STDIN:
        stream = sys.stdin.buffer
        if not isinstance(stream, io.BufferedReader):  # pragma: no cover - a replaced stdin
            stream = io.BufferedReader(stream)  # type: ignore[arg-type]
        if stream.peek(2)[:2] == _GZIP_MAGIC:
            return gzip.open(stream, "rb")  # type: ignore[return-value]
        return stream
    if is_compressed(path):
        return gzip.open(path, "rb")  # type: ignore[return-value]  # a GzipFile reads bytes
    return open(path, "rb")


@contextlib.contextmanager
def _open_span(path: Path, span: Span) -> Iterator[Iterator[bytes]]:
    """The lines of ``span`` of the uncompressed file ``path``, as bytes."""

    def lines(binary: BinaryIO) -> Iterator[bytes]:
        position = span.start
        while position < span.end and (raw := binary.readline()):
            position += len(raw)
            yield raw

    with open(path, "rb") as binary:
        binary.seek(span.start)
        yield lines(binary)


def numbered_lines(path: Path, span: Span | None = None) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` pairs, 1-based, each line without its line ending; with
    ``span``, those of that piece of the (uncompressed) file."""
    first = 1 if span is None else span.first_line
    number = first - 1
    with _open_binary(path) if span is None else _open_span(path, span) as lines:
        try:
            for number, raw in enumerate(lines, start=first):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise located(path, number, f"not valid UTF-8 ({err.reason})") from err
                if number == 1:
                    line = line.removeprefix("\ufeff")
                yield number, line.rstrip("\r\n")
        except (OSError, EOFError, zlib.error) as err:  # a truncated or corrupt gzip stream
            raise located(path, number + 1, f"cannot read the file ({err})") from err
