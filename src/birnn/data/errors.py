"""The one error a reader raises for a bad data file."""

from __future__ import annotations


class DataError(ValueError):
    """A data file that cannot be read as the expected format.

    The message starts with ``"{path}:{line}: "`` (1-based line number) when one line is at fault,
    or ``"{path}: "`` when the file as a whole is (an empty file), so that an editor or a terminal
    can jump to the place. A subclass of ``ValueError``: code that catches bad input in general
    keeps working.
    """


def located(path: object, line: int | None, message: str) -> DataError:
    """A ``DataError`` whose message names the file and, if given, the 1-based line."""
    where = f"{path}:{line}" if line is not None else f"{path}"
    return DataError(f"{where}: {message}")
