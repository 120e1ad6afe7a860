"""Run on Dask workers by tests/test_corpus.py (``client.run``), so importable there: make each
worker's first corpus task fail half way through writing its output, as a full disk or a lost
network file system would, and undo it; list the models a worker keeps.
"""

from __future__ import annotations

from typing import Any

from birnn import predict_io

_REAL = predict_io.write_predictions


def fail_first_write() -> None:
    """This process's next ``write_predictions`` writes a few lines, then raises OSError."""

    def once(stream: Any, *args: Any, **kw: Any) -> int:
        predict_io.write_predictions = _REAL  # the retried task writes for real
        stream.write("half of an output\n")
        stream.flush()
        raise OSError("No space left on device (planted by the test)")

    predict_io.write_predictions = once


def restore() -> None:
    predict_io.write_predictions = _REAL


def loaded_models() -> list[str]:
    """The checkpoint directories of the models this process keeps for its tasks."""
    from birnn.corpus import work

    return sorted(ref.path for ref in work._LOADED)
