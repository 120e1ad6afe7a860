"""Opening a data file as numbered text lines: the one text-file reader behind every input.

Files are UTF-8 (a byte-order mark at the start is dropped); gzip-compressed files are recognised
by their magic bytes, whatever their name; ``\\r\\n`` line endings read like ``\\n``. Lines are
decoded one at a time so that a byte sequence that is not UTF-8 is a ``DataError`` naming its exact
line. The path ``-`` is standard input (``birnn predict --input -``), read as it arrives (once:
nothing looks at its content beforehand, so it is read as plain texts).
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from collections.abc import Iterator
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


def _open_binary(path: Path) -> BinaryIO:
    if path == STDIN:
        stream = sys.stdin.buffer
        if not isinstance(stream, io.BufferedReader):  # pragma: no cover - a replaced stdin
            stream = io.BufferedReader(stream)  # type: ignore[arg-type]
        if stream.peek(2)[:2] == _GZIP_MAGIC:
            return gzip.open(stream, "rb")  # type: ignore[return-value]
        return stream
    with open(path, "rb") as probe:
        compressed = probe.read(2) == _GZIP_MAGIC
    if compressed:
        return gzip.open(path, "rb")  # type: ignore[return-value]  # a GzipFile reads bytes
    return open(path, "rb")


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` pairs, 1-based, each line without its line ending."""
    number = 0
    with _open_binary(path) as binary:
        try:
            for number, raw in enumerate(binary, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise located(path, number, f"not valid UTF-8 ({err.reason})") from err
                if number == 1:
                    line = line.removeprefix("\ufeff")
                yield number, line.rstrip("\r\n")
        except (OSError, EOFError, zlib.error) as err:  # a truncated or corrupt gzip stream
            raise located(path, number + 1, f"cannot read the file ({err})") from err
