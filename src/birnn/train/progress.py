"""Progress display on stderr: a tqdm bar per epoch when tqdm is installed, else nothing.

tqdm is part of the ``train`` extra; without it (or with ``enabled=False``) training runs the
same, silently. The bar shows the running mean loss and items per second.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any

try:
    from tqdm import tqdm
except ImportError:  # pragma: no cover - tqdm is an extra
    tqdm = None


class EpochBar:
    """Iterate over one epoch's batches; ``show`` updates the figures on the bar."""

    def __init__(self, batches: Iterable[Any], total: int, desc: str, enabled: bool):
        self._bar = None
        self._batches = batches
        if enabled and tqdm is not None:
            self._bar = tqdm(
                batches, total=total, desc=desc, unit="batch", file=sys.stderr, leave=False
            )

    def __iter__(self) -> Iterator[Any]:
        return iter(self._bar if self._bar is not None else self._batches)

    def show(self, loss: float, items_per_s: float) -> None:
        if self._bar is not None:
            self._bar.set_postfix(
                {"loss": f"{loss:.4f}", "items/s": f"{items_per_s:.0f}"}, refresh=False
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def report(line: str, enabled: bool) -> None:
    """One summary line per epoch on stderr (kept clear of a live bar)."""
    if not enabled:
        return
    if tqdm is not None:
        tqdm.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr, flush=True)
