"""Train, load, evaluate and predict with a task's model: what the command line calls.

A ``TaskModel`` is a model together with its task, task options and vocabularies. ``create``
makes a fresh one from vocabularies (``task.build_vocabs``) and a typed ``EncoderConfig``: the
command line's way. ``build`` does both steps in one call, from the training records and a dict
of encoder settings.

A trained model is a checkpoint directory (``birnn.train.checkpoint``): the parameters in
``model.safetensors`` and, in ``config.json``, everything needed to rebuild the model around
them: the task and its options, the model config, and the vocabularies.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from birnn import transfer
from birnn._checks import describe
from birnn.data import DataError
from birnn.data._files import existing_file
from birnn.models.encoder import EncoderConfig
from birnn.tasks.base import Encoded, FormTable, Vocabs, batches, predict_all
from birnn.tasks.registry import TASKS
from birnn.tasks.task import Options, Task
from birnn.train.checkpoint import CheckpointError, assign_params, load_checkpoint
from birnn.train.config import TrainConfig
from birnn.train.parallel import Parallel, SingleProcess
from birnn.train.trainer import BEST, LAST, AroundStep, Trainer

FORMAT = "birnn-model/1"  # config.json's "format": a checkpoint from another program is refused
EVAL_BATCH = 256  # sequences per batch at evaluation and prediction
# padded tokens per batch there: 256 short sentences, fewer long ones (memory grows with both)
EVAL_TOKENS = 8192
# and padding at most this fraction of their real tokens, once 32 sentences long (the input
# projections run over padding: cutting there made tagging EWT's training text 1.49x -> 1.1x)
EVAL_PADDING = 0.1


@dataclass
class TaskModel:
    """A model of a task with what it needs to read text: task, options, vocabularies, forms."""

    task: Task
    model: Any  # the task's model class (Tagger, Classifier, FillModel)
    vocabs: Vocabs
    forms: FormTable
    options: Options

    def encode(self, records: list[Any]) -> Encoded:
        return self.task.encode(records, self.vocabs, self.forms)

    def predict(self, records: list[Any], data: Encoded | None = None) -> list[Any]:
        """Predicted strings: a tag list per sentence, or one label / answer per record.

        ``data``: ``records`` already encoded (a dev set scored after every epoch). To predict
        on texts, use ``birnn.load(path).predict(texts)``.
        """
        if isinstance(records, str) or not isinstance(records, (list, tuple)):
            raise TypeError(
                f"records must be a list of the task's records (pipeline.read, "
                f"task.unlabelled); received {describe(records)}; to predict on texts use "
                "birnn.load(path).predict(texts)"
            )
        if data is None:
            data = self.encode(records)
        ids = predict_all(
            self.model.predict,
            data,
            self.forms,
            EVAL_BATCH,
            self.task.per_token,
            EVAL_TOKENS,
            EVAL_PADDING,
            self.model.encoder.char_features,
        )
        if self.task.per_token:
            return [self.vocabs.labels.decode(row) for row in ids]
        return self.vocabs.labels.decode(ids)

    def evaluate(self, records: list[Any], data: Encoded | None = None) -> dict[str, Any]:
        """The task's metrics of the predictions on ``records``; ``"score"`` is the one to watch."""
        predicted = self.predict(records, data)
        return self.task.scores(records, predicted, self.vocabs, self.options)


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}; received {name!r}")
    return TASKS[name]


def read(task: Task, path: str | Path, options: Options) -> list[Any]:
    """The records of a labelled data file; ``DataError`` for a missing file or no records."""
    records = task.read(existing_file(path), options)
    if not records:
        raise DataError(f"{path}: no items")
    return records


def read_texts(task: Task, path: str | Path) -> list[Any]:
    """The records to predict on in an input file (``birnn predict --input``), unlabelled."""
    return [task.unlabelled(words) for words in task.read_texts(existing_file(path))]


def create(
    task: Task, vocabs: Vocabs, encoder: EncoderConfig, options: Options, seed: int = 0
) -> TaskModel:
    """A fresh model of ``task`` over ``vocabs`` (built from the training records).

    ``encoder``'s vocabulary sizes must be those of ``vocabs`` (``len(vocabs.words)`` and
    ``vocabs.char_vocab_size``); the rest of the model config comes from ``task.head``. The
    parameters are drawn from a generator seeded with ``seed``.
    """
    if not isinstance(encoder, EncoderConfig):
        raise TypeError(f"encoder must be an EncoderConfig; received {type(encoder).__name__}")
    sizes = {"vocab_size": len(vocabs.words), "char_vocab_size": vocabs.char_vocab_size}
    given = {name: getattr(encoder, name) for name in sizes}
    if given != sizes:
        raise ValueError(f"encoder must fit the vocabularies, {sizes}; received {given}")
    config = task.config(encoder=encoder, **task.head(options, vocabs))
    return _task_model(task, config, vocabs, options, seed)


def build(
    task: Task,
    train: list[Any],
    encoder: Mapping[str, Any],
    options: Options,
    min_count: int = 1,
    lowercase: bool = False,
    seed: int = 0,
    embeddings: str | Path | None = None,
    embeddings_max_words: int | None = transfer.DEFAULT_MAX_WORDS,
) -> TaskModel:
    """``create`` in one call: vocabularies from ``train``, then a model over them.

    ``encoder`` holds EncoderConfig fields but the vocabulary sizes, which come from the
    vocabularies; characters are read when it asks for ``char_hidden`` > 0. ``embeddings``: a
    pretrained word vectors file (``birnn.transfer``); the word width follows it, and up to
    ``embeddings_max_words`` of its words beyond the training words are kept.
    """
    chars = encoder.get("char_hidden", 0) > 0
    vocabs = task.build_vocabs(train, min_count, lowercase, chars)
    vectors = None
    fields = dict(encoder)
    if embeddings is not None:
        vocabs, vectors = transfer.with_vectors(vocabs, embeddings, embeddings_max_words)
        fields |= transfer.encoder_fields(vectors, fields.pop("word_dim", None))
    sizes = {"vocab_size": len(vocabs.words), "char_vocab_size": vocabs.char_vocab_size}
    model = create(task, vocabs, EncoderConfig(**{**fields, **sizes}), options, seed)
    if vectors is not None:
        transfer.use_vectors(model, vectors)
    return model


def init_from(task_model: TaskModel, run: str | Path) -> transfer.Transfer:
    """Start ``task_model``'s encoder from the encoder of the trained model in ``run``
    (``birnn.transfer.init_from``: names and shapes must match)."""
    return transfer.init_from(task_model, load(run), str(run))


def _task_model(task: Task, config: Any, vocabs: Vocabs, options: Options, seed: int) -> TaskModel:
    model = task.model(config, np.random.default_rng(seed), word_counts=vocabs.words.counts)
    forms = FormTable(vocabs.chars, cases=model.encoder.case is not None)
    return TaskModel(task, model, vocabs, forms, dict(options))


def checkpoint_config(task_model: TaskModel) -> dict[str, Any]:
    """What config.json holds: enough to rebuild ``task_model`` around its parameters."""
    return {
        "format": FORMAT,
        "task": task_model.task.name,
        "options": task_model.options,
        "model": dataclasses.asdict(task_model.model.config),
        "vocabs": task_model.vocabs.to_json(),
    }


def checkpoint_dir(path: str | Path) -> Path:
    """The checkpoint ``load`` reads for ``path``: a run's ``best/``, else its ``last/``, else
    ``path`` itself."""
    path = Path(path)
    for name in (BEST, LAST):
        if (path / name).is_dir():
            return path / name
    return path


def load(path: str | Path) -> TaskModel:
    """Rebuild a trained model from its checkpoint directory.

    ``path`` is a checkpoint, or a training run's ``--out``: its ``best/`` (trained with dev
    data), else its ``last/`` (trained without: there is no best).
    """
    path = checkpoint_dir(path)
    ckpt = load_checkpoint(path)
    cfg = ckpt.config
    if cfg.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not a birnn model (config.json format {cfg.get('format')!r})"
        )
    try:
        task = get_task(cfg["task"])
        vocabs = Vocabs.from_json(cfg["vocabs"])
        loaded = _task_model(task, task.config(**cfg["model"]), vocabs, cfg["options"], seed=0)
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: config.json does not describe a model: {err}") from err
    assign_params(loaded.model.params, ckpt.params, str(path))
    return loaded


def train(
    task_model: TaskModel,
    train_records: list[Any],
    dev_records: list[Any] | None,
    config: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    before_writing: Callable[[], None] | None = None,
    around_step: AroundStep | None = None,
    parallel: Parallel | None = None,
) -> dict[str, Any]:
    """Train with the generic Trainer; returns the fit summary and the training time.

    ``around_step``: the trainer's hook around each step (``birnn train --trace-gradients``).
    ``parallel``: the trainer's strategy (``birnn.distributed.DataParallel`` under mpirun):
    each process then takes its shard of every training batch and of the dev records.

    ``resume=True`` continues ``out_dir/last``, which must hold this very model: same task,
    options, model config and vocabularies (vocabularies rebuilt from other training data would
    give the saved embeddings to other words). ``before_writing``: see ``Trainer.fit``.
    """
    parallel = SingleProcess() if parallel is None else parallel
    if resume and parallel.writes:
        _check_resumable(task_model, Path(out_dir) / LAST)
    train_data = task_model.encode(train_records)

    def train_batches(rng: np.random.Generator) -> list[Any]:
        return batches(train_data, task_model.forms, config.batch_size, rng,
                       task_model.task.per_token, parallel.shard)  # fmt: skip

    evaluate: Callable[[Any], dict[str, Any]] | None = None
    if dev_records is not None:
        mine = list(parallel.shard(dev_records))  # all of them in one process
        dev_data = task_model.encode(mine)

        def evaluate(model: Any) -> dict[str, Any]:
            predicted = parallel.unshard(task_model.predict(mine, dev_data))
            return task_model.task.scores(dev_records, predicted, task_model.vocabs,
                                          task_model.options)  # fmt: skip

    trainer = Trainer(
        task_model.model,
        config,
        out_dir,
        evaluate=evaluate,
        checkpoint_config=checkpoint_config(task_model),
        progress=progress,
        around_step=around_step,
        parallel=parallel,
    )
    start = time.perf_counter()
    result = trainer.fit(train_batches, resume=resume, before_writing=before_writing)
    return {
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "best_dev_score": result.best_score,
        "stopped_early": result.stopped_early,
        "train_seconds": time.perf_counter() - start,
    }


def _check_resumable(task_model: TaskModel, path: Path) -> None:
    saved = load_checkpoint(path).config
    now = json.loads(json.dumps(checkpoint_config(task_model)))  # as config.json holds it
    changed = sorted(k for k in set(now) | set(saved) if now.get(k) != saved.get(k))
    if changed:
        raise ValueError(
            f"cannot resume {path}: this run's {', '.join(changed)} differ from the saved ones "
            "(resume with the same training data and model options)"
        )
