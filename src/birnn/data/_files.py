"""Opening a data file as numbered text lines: the one text-file reader behind every input.

Files are UTF-8 (a byte-order mark at the start is dropped); gzip-compressed files are recognised
by their magic bytes, whatever their name; ``\\r\\n`` line endings read like ``\\n``. Lines are
decoded a block at a time, and a byte sequence that is not UTF-8 is a ``DataError`` naming its
exact line. The path ``-`` is standard input (``birnn predict --input -``), read as it arrives
(once: nothing looks at its content beforehand, so it is read as plain texts).

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
from birnn.data.errors import DataError, located

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


def content_size(path: Path) -> int:
    """The bytes ``path`` holds once uncompressed: a gzip file's from its trailer, which keeps
    its last member's size modulo 2**32 (an estimate for a file of several members or of more
    than 4 GiB, which is all that cutting a file into pieces of about equal size needs)."""
    size = path.stat().st_size
    if not is_compressed(path):
        return size
    with open(path, "rb") as f:
        f.seek(max(size - 4, 0))
        return int.from_bytes(f.read(4), "little")


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


BLOCK = 1 << 16  # bytes asked of the file at a time


@contextlib.contextmanager
def _open_span(path: Path, span: Span) -> Iterator[BinaryIO]:
    """The file ``path`` at the start of ``span`` (the caller stops at its end); a gzip file is
    decompressed up to there (``span`` counts its uncompressed bytes)."""
    with _open_binary(path) as binary:
        binary.seek(span.start)
        yield binary


def _blocks(binary: BinaryIO, size: int | None) -> Iterator[bytes]:
    """The next ``size`` bytes of ``binary`` (None: all), as blocks of whole lines (the last
    may lack its line end). ``read1`` takes what is there: standard input is read as it
    arrives, each line passed on once complete."""
    pending: list[bytes] = []
    left = size
    while left is None or left > 0:
        data = binary.read1(BLOCK if left is None else min(BLOCK, left))  # type: ignore[attr-defined]
        if not data:
            break
        if left is not None:
            left -= len(data)
        cut = data.rfind(b"\n") + 1
        if not cut:  # no line ends yet: a long line
            pending.append(data)
            continue
        yield b"".join([*pending, data[:cut]])
        pending = [data[cut:]]
    if rest := b"".join(pending):
        yield rest


def numbered_lines(path: Path, span: Span | None = None) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` pairs, 1-based, each line without its line ending; with
    ``span``, those of that piece of the (uncompressed) file.

    Blocks of lines are decoded at once (a line at a time took half of reading EWT); a block
    that is not UTF-8 is decoded again line by line: the lines before the first bad one come
    out, then the ``DataError`` naming it."""
    number = 0 if span is None else span.first_line - 1
    with _open_binary(path) if span is None else _open_span(path, span) as binary:
        try:
            for block in _blocks(binary, None if span is None else span.end - span.start):
                lines, error = _decoded(path, block, number)
                if error is None and lines[-1] == "":  # the block ends with a line end
                    lines.pop()
                if number == 0 and lines:
                    lines[0] = lines[0].removeprefix("\ufeff")
                for line in lines:
                    number += 1
                    yield number, line.rstrip("\r")
                if error is not None:
                    raise error
        except (OSError, EOFError, zlib.error) as err:  # a truncated or corrupt gzip stream
            raise located(path, number + 1, f"cannot read the file ({err})") from err


def _decoded(path: Path, block: bytes, before: int) -> tuple[list[str], DataError | None]:
    """The lines of ``block`` (``before`` lines precede it) and None or, if one is not UTF-8,
    the lines before it and the ``DataError`` naming it."""
    try:
        return block.decode("utf-8").split("\n"), None
    except UnicodeDecodeError:
        pass
    lines = []
    for number, raw in enumerate(block.split(b"\n"), start=before + 1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            error = located(path, number, f"not valid UTF-8 ({err.reason})")
            error.__cause__ = err
            return lines, error
    raise AssertionError("internal: the block decoded line by line")  # pragma: no cover
