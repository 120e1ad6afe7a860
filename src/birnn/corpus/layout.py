"""A corpus as files and tasks: which inputs, where each output goes, how a file is cut.

Inputs: glob patterns (``corpus/*.txt``, ``corpus/**/*.conllu``: ``**`` spans directories),
matched in sorted order, or a list of paths. Outputs keep the inputs' layout: each input's path
relative to ``base`` (a pattern's directory before its first wildcard; for a list, the inputs'
common directory) is its path under ``out_dir``, name included (``corpus/a/b.txt`` ->
``tagged/a/b.txt``), holding exactly what ``birnn predict --input corpus/a/b.txt`` prints.

Pieces: a file is one task, unless it is uncompressed and larger than ``chunk_bytes``: then it
is cut into pieces of about ``chunk_bytes`` at line boundaries (a CoNLL-U file at blank lines,
between sentences), one task each. A piece knows the number of its first line, so an error in
it names the line of the whole file. Each piece writes a hidden part file beside the output
(``.b.txt.part00001``); the parts are joined in order once all are written.
"""

from __future__ import annotations

import glob
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from birnn.data import DataError
from birnn.data._files import Span, _open_binary, as_path, existing_file, is_compressed
from birnn.data.errors import located

CHUNK_BYTES = 64 << 20  # a larger uncompressed input is cut into pieces of about this size
_WILDCARDS = set("*?[")
_BLOCK = 1 << 20  # bytes read at a time while cutting a file


@dataclass(frozen=True)
class Piece:
    """One task: ``source`` (or its ``span``) -> ``part``, which becomes (part of) ``target``."""

    source: Path
    target: Path
    span: Span | None  # None: the whole file
    index: int  # 0-based, among the pieces of ``source``
    count: int  # pieces of ``source``

    @property
    def part(self) -> Path:
        """Where the task writes: the target itself for a whole file, else a hidden part."""
        if self.count == 1:
            return self.target
        return self.target.with_name(f".{self.target.name}.part{self.index:05d}")


def expand(pattern: str) -> tuple[list[Path], Path]:
    """The files ``pattern`` matches (sorted) and the base of their layout."""
    parts = Path(pattern).parts
    fixed = [p for p in parts[: next((i for i, p in enumerate(parts) if _WILDCARDS & set(p)),
                                     len(parts))]]  # fmt: skip
    if len(fixed) == len(parts):  # no wildcard: one file
        path = existing_file(pattern)
        return [path], path.parent
    found = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    if not found:
        raise DataError(f"--input {pattern}: matches no file")
    return found, Path(*fixed) if fixed else Path(".")


def targets(sources: Sequence[Path], out_dir: Path, base: Path | None = None) -> list[Path]:
    """Each source's output under ``out_dir`` (module notes); ``base``: the inputs' common
    directory when None."""
    if base is None:
        base = Path(os.path.commonpath([s.resolve().parent for s in sources]))
    out = []
    for source in sources:
        try:
            relative = source.resolve().relative_to(base.resolve())
        except ValueError:
            raise ValueError(f"{source} is not under {base}, the base of the layout") from None
        out.append(out_dir / relative)
    if len(set(out)) < len(out):
        raise ValueError("two inputs would write the same output; give distinct files")
    return out


def pieces(source: Path, target: Path, chunk_bytes: int, sentences: bool) -> list[Piece]:
    """The tasks of one input: the whole file, or pieces cut at lines (``sentences``: at the
    blank lines between CoNLL-U sentences)."""
    source = as_path(source)
    size = source.stat().st_size
    if size <= chunk_bytes or is_compressed(source):
        return [Piece(source, target, None, 0, 1)]
    spans = cut(source, chunk_bytes, sentences)
    return [Piece(source, target, s, i, len(spans)) for i, s in enumerate(spans)]


def cut(source: Path, chunk_bytes: int, sentences: bool, most: int | None = None) -> list[Span]:
    """``source`` as pieces of about ``chunk_bytes``, each ending just after a line end
    (``sentences``: a blank line), with the number of the line each starts at; ``most``: at most
    that many, the last one running to the end.

    One pass over the file's bytes (a gzip file's uncompressed ones), a block at a time: the
    memory it takes does not grow with the file or the pieces.
    """
    spans: list[Span] = []
    start, line = 0, 1
    with _open_binary(source) as f:
        try:
            while True:
                last = most is not None and len(spans) == most - 1
                size, lines, ended = _advance(f, None if last else chunk_bytes)
                if not size:
                    break
                rest = [] if last or ended else [f.readline()]  # the line the read stopped in
                while sentences and not last and (raw := f.readline()):  # to the sentence's end
                    rest.append(raw)
                    if not raw.strip():
                        break
                size += sum(map(len, rest))
                lines += sum(raw.count(b"\n") for raw in rest)
                spans.append(Span(start, start + size, line))
                start, line = start + size, line + lines
        except (OSError, EOFError, zlib.error) as err:  # a truncated or corrupt gzip stream
            raise located(source, None, f"cannot read the file ({err})") from err
    return spans


def _advance(f: BinaryIO, size: int | None) -> tuple[int, int, bool]:
    """Read ``size`` bytes of ``f`` (None: all that is left): (bytes read, line ends among them,
    whether the last of them is a line end)."""
    done = lines = 0
    ended = True
    while size is None or done < size:
        block = f.read(_BLOCK if size is None else min(_BLOCK, size - done))
        if not block:
            break
        done, lines, ended = done + len(block), lines + block.count(b"\n"), block[-1:] == b"\n"
    return done, lines, ended
