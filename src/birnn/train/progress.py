"""Progress on stderr: tqdm bars, and one summary line per training epoch.

Bars are drawn only when ``enabled`` and stderr is a terminal (a redirected log gets no ``\\r``
updates); summary lines (``report``) are always written. The training bar shows the running
mean loss and items per second; the prediction bar counts texts. tqdm is imported only where
a bar is drawn: its import is about a tenth of a second of every command's start.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def _tqdm() -> Any:
    from tqdm import tqdm

    return tqdm


def on_terminal() -> bool:
    """Whether stderr is a terminal (where a live bar makes sense)."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


class EpochBar:
    """Iterate over one epoch's batches; ``show`` updates the figures on the bar."""

    def __init__(self, batches: Iterable[Any], total: int, desc: str, enabled: bool):
        self._bar = None
        self._batches = batches
        if enabled and on_terminal():
            self._bar = _tqdm()(
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


def counted(items: Iterable[T], unit: str, enabled: bool) -> Iterator[T]:
    """``items``, counted on a bar (total unknown: a stream) while they pass."""
    if not (enabled and on_terminal()):
        yield from items
        return
    with tally(unit, True) as add:
        for item in items:
            yield item
            add(1)


@contextlib.contextmanager
def tally(unit: str, enabled: bool) -> Iterator[Callable[[int], None]]:
    """``add(n)``: n more ``unit`` on a bar (total unknown), or nothing where no bar is drawn."""
    if not (enabled and on_terminal()):
        yield lambda n: None
        return
    with _tqdm()(unit=f" {unit}", file=sys.stderr, leave=False) as bar:
        yield bar.update


def report(line: str) -> None:
    """One line on stderr (kept clear of a live bar)."""
    if on_terminal():
        _tqdm().write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr, flush=True)
