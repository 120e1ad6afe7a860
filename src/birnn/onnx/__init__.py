"""ONNX export: run birnn's networks, and its trained models, with onnxruntime alone.

    import birnn, birnn.onnx
    m = birnn.LSTM(100, 128, num_layers=2, bidirectional=True, batch_first=True)
    birnn.onnx.export(m, "lstm.onnx")           # inputs x, lengths; outputs output, h_n, c_n
    birnn.onnx.export(m, "lstm.onnx", initial_states=True)   # also inputs h0, c0
    birnn.onnx.export(birnn.load("runs/pos"), "pos.onnx")    # a whole trained model (docs/ONNX.md)

Needs the optional packages ``onnx`` (and ``onnxruntime`` to run the result):
``pip install "birnn[onnx]"``. ``import birnn`` never imports them; this package imports onnx
only when ``export`` is called.

Files (one idea each): ``_graph.py`` the graph builder; ``operators.py`` gate reordering and the
ONNX operators of one chain (a ``Scan`` for proj_size); ``module.py`` a recurrent module;
``vocab.py`` strings to ids and back inside the graph; ``models.py`` taggers, classifiers and
fill-in-the-blank models; ``crf.py`` the CRF's Viterbi decoding and marginals; ``casing.py``
case patterns; ``command.py`` ``birnn export``. docs/ONNX.md says what each graph takes and gives.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from birnn._checks import describe

__all__ = ["export"]


def export(obj: Any, path: str | os.PathLike[str], *, initial_states: bool = False) -> Any:
    """Write ``obj`` as an ONNX model at ``path``; returns the ``onnx.ModelProto``.

    ``obj``: a recurrent module (``birnn.RNN``, ``GRU``, ``LSTM``, ``Bidirectional``, ``Stack``)
    or a trained model (``birnn.load(run)``'s ``Predictor``, or a ``pipeline.TaskModel``).
    ``initial_states=True`` (modules only) adds the initial states as inputs ``h0`` (``c0``).

    The file is written to a temporary name and renamed, so a failure leaves nothing behind.
    Raises TypeError for an object it cannot export, ImportError without the onnx package.
    """
    from birnn.pipeline import TaskModel
    from birnn.predictor import Predictor
    from birnn.recurrent.module import RecurrentModule

    if not isinstance(initial_states, bool):
        raise TypeError(f"initial_states must be a bool; received {describe(initial_states)}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file name (str or Path); received {describe(path)}")
    _require_onnx()
    if isinstance(obj, RecurrentModule):
        from birnn.onnx.module import module_proto

        proto = module_proto(obj, initial_states)
    elif isinstance(obj, (Predictor, TaskModel)):
        if initial_states:
            raise ValueError("initial_states is for recurrent modules; a whole model starts "
                             "from its own states")  # fmt: skip
        from birnn.onnx.models import model_proto

        proto = model_proto(obj.task_model if isinstance(obj, Predictor) else obj)
    else:
        raise TypeError(
            "obj must be a birnn recurrent module (RNN, GRU, LSTM, Bidirectional, Stack) or a "
            f"trained model (birnn.load(path)); received {describe(obj)}"
        )
    save(proto, Path(path))
    return proto


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
    except ImportError as err:
        raise ImportError(
            'ONNX export needs the onnx package: pip install "birnn[onnx]" (or onnx onnxruntime)'
        ) from err


def save(proto: Any, path: Path) -> None:
    """Write the model atomically: a temporary file beside ``path`` (flushed), then a rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(proto.SerializeToString())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(err, OSError):  # name the file asked for, not the temporary one
            raise OSError(err.errno, err.strerror, str(path)) from err
        raise
