"""What one task does, on a Dask worker or in this process: load the model (once per process),
predict on one piece of the corpus, write it at once.

A task names its model by a ``ModelRef``: the checkpoint directory and the SHA-256 of its
``config.json`` (which records the SHA-256 of the weights, so it names the model's every
byte). Each process keeps the predictors it loaded, by reference: a worker loads a model once
for all its tasks, and a model replaced at the same path since (a long-lived cluster) is loaded
anew, never mixed up with the old one.
"""

from __future__ import annotations

import glob
import hashlib
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from birnn import backend, predict_io
from birnn._atomic import replacing
from birnn.corpus.layout import Piece
from birnn.pipeline import checkpoint_dir
from birnn.predictor import Prediction, Predictor
from birnn.predictor import load as load_predictor
from birnn.tasks.task import Task
from birnn.train.checkpoint import CONFIG_FILE, CheckpointError


@dataclass(frozen=True)
class ModelRef:
    path: str  # the checkpoint directory (a run's best/ or last/)
    sha256: str  # of its config.json
    threads: int  # of each task's BLAS calls and time loop (birnn.set_num_threads)


def model_ref(path: str | Path, threads: int = 1) -> ModelRef:
    """The reference the tasks load ``path`` (a checkpoint or a run's ``--out``) by.

    The model is loaded here, once: a bad one is refused as ``birnn predict`` refuses it,
    before any task, and this process's tasks use it (unless it changed while it was read).
    """
    directory = checkpoint_dir(path)
    before = _config_sha256(directory) if (directory / CONFIG_FILE).is_file() else None
    model = load_predictor(path)
    ref = ModelRef(str(directory.resolve()), _config_sha256(directory), threads)
    if ref.sha256 == before:
        _LOADED[ref] = model
    return ref


def _config_sha256(directory: Path) -> str:
    try:
        return hashlib.sha256((directory / CONFIG_FILE).read_bytes()).hexdigest()
    except OSError as err:
        raise CheckpointError(f"{directory}: not a model ({err.strerror or err})") from err


_LOADED: dict[ModelRef, Predictor] = {}  # this process's models (module notes)


def predictor(ref: ModelRef) -> Predictor:
    """The model of ``ref``, loaded on this process's first use of it."""
    backend.set_num_threads(ref.threads)
    found = _LOADED.get(ref)
    if found is None:
        found = load_predictor(ref.path)
        if _config_sha256(Path(ref.path)) != ref.sha256:
            raise CheckpointError(f"{ref.path}: the model changed while the corpus was tagged")
        _LOADED[ref] = found
    return found


def predict_piece(ref: ModelRef, piece: Piece, output: str, pretokenized: bool) -> int:
    """Write the predictions on ``piece`` to ``piece.part`` (atomically); returns its texts."""
    model = predictor(ref)
    texts = predict_io.texts_of(piece.source, model.task, pretokenized, piece.span)
    piece.part.parent.mkdir(parents=True, exist_ok=True)
    with replacing(piece.part) as f:
        return predict_io.write_predictions(f, model, texts, output)


def join(pieces: Sequence[Piece], texts: int, task: Task) -> None:
    """The parts of one file's ``pieces`` (all written) into its target, atomically, in order.

    ``texts``: how many the pieces held; none is the error of an empty file, as in one process
    (a whole file's task raises it itself).
    """
    first = pieces[0]
    if texts == 0:
        remove_parts(pieces)
        raise predict_io.empty(first.source, task)
    if first.count == 1:
        return  # the task wrote the target itself
    with replacing(first.target) as out:
        for piece in pieces:
            with open(piece.part, encoding="utf-8", newline="") as part:
                shutil.copyfileobj(part, out)
    remove_parts(pieces)


def remove_parts(pieces: Iterable[Piece]) -> None:
    """The hidden part files of ``pieces`` (of a file cut in several)."""
    for piece in pieces:
        if piece.count > 1:
            piece.part.unlink(missing_ok=True)


def remove_leftovers(pieces: Iterable[Piece]) -> None:
    """Parts, and the temporary files of tasks that died writing (a killed worker's)."""
    for piece in pieces:
        remove_parts([piece])
        for written in {piece.part, piece.target}:
            for tmp in written.parent.glob(f".{glob.escape(written.name)}.tmp-*"):
                tmp.unlink(missing_ok=True)


def predict_partition(texts: Iterable[Any], ref: ModelRef, pretokenized: bool) -> list[Prediction]:
    """The predictions on one partition of a Dask bag of texts (strings or token lists)."""
    found = predictor(ref).predict(list(texts), pretokenized=pretokenized)
    assert isinstance(found, list)
    return found
