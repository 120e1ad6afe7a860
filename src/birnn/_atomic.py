"""A file replaced at once: written under a temporary name beside it, flushed to disk, renamed.

A reader sees the old file or the complete new one, never a part; a writer stopped half way
leaves only its temporary file (``.<name>.tmp-<pid>-<random>``: unique, so two writers of the
same file, a task and its retry, never write into each other's).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


def temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[TextIO]:
    """A text file (UTF-8, ``\\n`` line ends) that becomes ``path`` when the block ends
    without an exception; on one, it is removed and ``path`` is left as it was."""
    tmp = temporary_name(path)
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
