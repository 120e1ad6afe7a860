"""Train, load, evaluate and predict with a task's model: what the command line calls.

A trained model is a checkpoint directory (``birnn.train.checkpoint``): the parameters in
``model.safetensors`` and, in ``config.json``, everything needed to rebuild the model around
them: the task and its options, the model config, and the vocabularies.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from birnn.data import DataError
from birnn.models.encoder import EncoderConfig
from birnn.tasks.base import Encoded, FormTable, Vocabs, batches, predict_all
from birnn.tasks.registry import TASKS, Options, Task
from birnn.train.checkpoint import CheckpointError, assign_params, load_checkpoint
from birnn.train.config import TrainConfig
from birnn.train.trainer import BEST, LAST, Trainer

FORMAT = "birnn-model/1"  # config.json's "format": a checkpoint from another program is refused
EVAL_BATCH = 256  # sequences per batch at evaluation and prediction


@dataclass
class Loaded:
    """A model with what it needs to read text: task, options, vocabularies, form table."""

    task: Task
    model: Any
    vocabs: Vocabs
    forms: FormTable
    options: Options

    def encode(self, records: list[Any]) -> Encoded:
        return self.task.encode(records, self.vocabs, self.forms)

    def predict(self, records: list[Any], data: Encoded | None = None) -> list[Any]:
        """Predicted strings: a tag list per sentence, or one label / answer per record.

        ``data``: ``records`` already encoded (a dev set scored after every epoch).
        """
        if data is None:
            data = self.encode(records)
        ids = predict_all(self.model.predict, data, self.forms, EVAL_BATCH, self.task.per_token)
        if self.task.per_token:
            return [self.vocabs.labels.decode(row) for row in ids]
        return self.vocabs.labels.decode(ids)

    def evaluate(self, records: list[Any], data: Encoded | None = None) -> dict[str, Any]:
        predicted = self.predict(records, data)
        return self.task.scores(records, predicted, self.vocabs, self.options)


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}; received {name!r}")
    return TASKS[name]


def read(task: Task, path: str | Path, options: Options) -> list[Any]:
    if not Path(path).is_file():
        raise DataError(f"{path}: no such file")
    records = task.read(path, options)
    if not records:
        raise DataError(f"{path}: no items")
    return records


def build(
    task: Task,
    train: list[Any],
    encoder: dict[str, Any],
    options: Options,
    min_count: int = 1,
    lowercase: bool = False,
    seed: int = 0,
) -> Loaded:
    """A fresh model for ``train``'s vocabularies; ``encoder`` holds EncoderConfig fields."""
    chars = encoder.get("char_hidden", 0) > 0
    vocabs = task.build_vocabs(train, min_count, lowercase, chars)
    enc = dict(encoder)
    enc.update(
        vocab_size=len(vocabs.words),
        char_vocab_size=len(vocabs.chars) if vocabs.chars is not None else 0,
    )
    config = task.config(encoder=EncoderConfig(**enc), **task.head(options, vocabs))
    model = task.model(config, np.random.default_rng(seed))
    model.encoder.word_counts = vocabs.words.counts
    return Loaded(task, model, vocabs, FormTable(vocabs.chars), dict(options))


def checkpoint_config(loaded: Loaded) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "task": loaded.task.name,
        "options": loaded.options,
        "model": dataclasses.asdict(loaded.model.config),
        "vocabs": loaded.vocabs.to_json(),
    }


def load(path: str | Path) -> Loaded:
    """Rebuild a trained model from its checkpoint directory.

    ``path`` is a checkpoint, or a training run's ``--out``: its ``best/`` (trained with dev
    data), else its ``last/`` (trained without: there is no best).
    """
    path = Path(path)
    if (path / BEST).is_dir():
        path = path / BEST
    elif (path / LAST).is_dir():
        path = path / LAST
    ckpt = load_checkpoint(path)
    cfg = ckpt.config
    if cfg.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not a birnn model (config.json format {cfg.get('format')!r})"
        )
    try:
        task = get_task(cfg["task"])
        vocabs = Vocabs.from_json(cfg["vocabs"])
        model = task.model(task.config(**cfg["model"]), np.random.default_rng(0))
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: config.json does not describe a model: {err}") from err
    assign_params(model.params, ckpt.params, str(path))
    return Loaded(task, model, vocabs, FormTable(vocabs.chars), cfg["options"])


def train(
    loaded: Loaded,
    train_records: list[Any],
    dev_records: list[Any] | None,
    config: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train with the generic Trainer; returns the fit summary and the training time.

    ``resume=True`` continues ``out_dir/last``, which must hold this very model: same task,
    options, model config and vocabularies (vocabularies rebuilt from other training data would
    give the saved embeddings to other words).
    """
    if resume:
        _check_resumable(loaded, Path(out_dir) / LAST)
    train_data = loaded.encode(train_records)

    def train_batches(rng: np.random.Generator) -> list[Any]:
        return batches(train_data, loaded.forms, config.batch_size, rng, loaded.task.per_token)

    evaluate: Callable[[Any], dict[str, Any]] | None = None
    if dev_records is not None:
        dev_data = loaded.encode(dev_records)
        evaluate = lambda model: loaded.evaluate(dev_records, dev_data)  # noqa: E731
    trainer = Trainer(
        loaded.model,
        config,
        out_dir,
        evaluate=evaluate,
        checkpoint_config=checkpoint_config(loaded),
        progress=progress,
    )
    start = time.perf_counter()
    result = trainer.fit(train_batches, resume=resume)
    return {
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "best_dev_score": result.best_score,
        "stopped_early": result.stopped_early,
        "train_seconds": time.perf_counter() - start,
    }


def _check_resumable(loaded: Loaded, path: Path) -> None:
    saved = load_checkpoint(path).config
    now = json.loads(json.dumps(checkpoint_config(loaded)))  # as config.json holds it
    changed = sorted(k for k in set(now) | set(saved) if now.get(k) != saved.get(k))
    if changed:
        raise ValueError(
            f"cannot resume {path}: this run's {', '.join(changed)} differ from the saved ones "
            "(resume with the same training data and model options)"
        )
