"""The training log: one JSON object per epoch, appended as a line and flushed to disk at once.

A resumable run records the log's size in bytes with each checkpoint (``position``), and the
SHA-256 of those bytes (``sha256``), so a log that is not the one the checkpoint was saved with
is recognised. Resuming truncates the log back to that size, dropping the lines of epochs the
checkpoint does not cover (written after it, before a crash), so the log ends up equal to that
of an uninterrupted run.

NumPy scalars are written as plain numbers; NaN and infinities (not JSON) are written as null.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from birnn._checks import describe


class MetricsLog:
    """Append-only JSON-lines file at ``path``."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    @property
    def position(self) -> int:
        """The log's size in bytes (0 when the file does not exist yet)."""
        return self.path.stat().st_size if self.path.exists() else 0

    def reset(self) -> None:
        """Start an empty log (a fresh run)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(b"")

    def append(self, record: Mapping[str, Any]) -> int:
        """Append ``record`` as one line, flushed and fsynced; returns the new position."""
        if not isinstance(record, Mapping):
            raise TypeError(f"record must be a dict; received {describe(record)}")
        line = json.dumps(_plain(dict(record)), allow_nan=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
            return f.tell()

    def truncate(self, position: int) -> None:
        """Drop everything after byte ``position`` (a value ``position`` returned earlier)."""
        size = self.position
        if position > size:
            raise ValueError(
                f"{self.path}: the log holds {size} bytes but the checkpoint expects at least "
                f"{position}; was it edited or replaced?"
            )
        with open(self.path, "r+b") as f:
            f.truncate(position)
            f.flush()
            os.fsync(f.fileno())

    def sha256(self, position: int) -> str:
        """The SHA-256 of the log's first ``position`` bytes (ValueError if it holds fewer)."""
        data = self.path.read_bytes() if self.path.exists() else b""
        if len(data) < position:
            raise ValueError(
                f"{self.path}: the log holds {len(data)} bytes but the checkpoint expects at "
                f"least {position}; was it edited or replaced?"
            )
        return hashlib.sha256(data[:position]).hexdigest()

    def read(self) -> list[dict[str, Any]]:
        """All records, in order."""
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]


def _plain(value: Any) -> Any:
    """JSON-ready copy: NumPy scalars to Python numbers, non-finite floats to None."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
