"""What each ``birnn`` command does, given its parsed arguments (the parser is in cli.py)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from birnn import pipeline
from birnn.data import DataError, write_cloze
from birnn.demo import run as demo_run
from birnn.demo.grammar import generate
from birnn.explain import command as explain_command
from birnn.models.encoder import EncoderConfig
from birnn.tasks.base import Vocabs
from birnn.train.config import TrainConfig

C = TypeVar("C")


def demo(args: argparse.Namespace) -> int:
    for name in ("train_size", "test_size", "epochs"):
        if getattr(args, name) < 1:
            raise ValueError(
                f"--{name.replace('_', '-')} must be >= 1; received {getattr(args, name)}"
            )
    if args.save_data is not None:
        rng = np.random.default_rng(args.seed)  # the same draws as run(): same items
        write_cloze(generate(args.train_size, rng), f"{args.save_data}.train.tsv")
        write_cloze(generate(args.test_size, rng), f"{args.save_data}.test.tsv")
    demo_run.run(
        args.train_size, args.test_size, args.epochs, args.seed, progress=not args.no_progress
    )
    return 0


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The task options (saved with the model: evaluate and predict read data the same way)."""
    return {
        "format": args.format,
        "column": args.column,
        "scheme": args.scheme,
        "head": args.head,
        "pooling": args.pooling,
        "seed": args.seed,
    }


def _from_args(config: type[C], args: argparse.Namespace, **fields: Any) -> C:
    """The config dataclass ``config`` from the options named after its fields (``--word-dim``
    sets ``word_dim``), and ``fields``; a field without an option keeps its default."""
    names = {f.name for f in dataclasses.fields(config)}  # type: ignore[arg-type]
    given = {name: value for name, value in vars(args).items() if name in names}
    return config(**(given | fields))


def _encoder_config(args: argparse.Namespace, vocabs: Vocabs) -> EncoderConfig:
    """The encoder the options describe, sized for ``vocabs``."""
    return _from_args(
        EncoderConfig,
        args,
        vocab_size=len(vocabs.words),
        char_vocab_size=vocabs.char_vocab_size,
        bidirectional=not args.unidirectional,
    )


def train(args: argparse.Namespace) -> int:
    task = pipeline.get_task(args.task)
    options = _options(args)
    # everything is read and checked before anything is written to --out
    config = _from_args(TrainConfig, args)
    train_records = [r for path in args.train for r in pipeline.read(task, path, options)]
    dev = pipeline.read(task, args.dev, options) if args.dev else None
    test = pipeline.read(task, args.test, options) if args.test else None
    if dev is None and config.needs_dev_score:
        raise ValueError(f"--schedule {args.schedule} follows the dev score: it needs --dev")
    chars = args.char_hidden > 0
    vocabs = task.build_vocabs(train_records, args.min_count, args.lowercase, chars)
    model = pipeline.create(task, vocabs, _encoder_config(args, vocabs), options, args.seed)
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out must be a directory; {args.out} is a file")
    around_step = explain_command.training_trace(args, model)
    summary = pipeline.train(
        model, train_records, dev, config, args.out, args.resume, not args.no_progress,
        around_step,
    )  # fmt: skip
    results: dict[str, Any] = {"train": summary}
    best = pipeline.load(args.out) if dev is not None else model
    if dev is not None:
        results["dev"] = best.evaluate(dev)
    if test is not None:
        results["test"] = best.evaluate(test)
    _write_json(args.out / "results.json", results)
    for split in ("dev", "test"):
        if split in results:
            print(f"{split}: {_summary_line(results[split])}")
    print(f"trained {summary['epochs']} epochs in {summary['train_seconds']:.0f} s; "
          f"model in {args.out}")  # fmt: skip
    return 0


def evaluate(args: argparse.Namespace) -> int:
    model = pipeline.load(args.model)
    records = pipeline.read(model.task, args.data, model.options)
    metrics = model.evaluate(records)
    if args.json:
        print(json.dumps(metrics, indent=2, sort_keys=True))
    else:
        print(_summary_line(metrics))
        for name, s in sorted(metrics.get("per_type", {}).items()):
            print(f"  {name:<16} P {100 * s['precision']:5.1f}  R {100 * s['recall']:5.1f}  "
                  f"F1 {100 * s['f1']:5.1f}  ({s['support']})")  # fmt: skip
    return 0


def predict(args: argparse.Namespace) -> int:
    model = pipeline.load(args.model)
    task = model.task
    if args.text is not None:
        words = args.text.split()
        if not words:
            raise DataError("--text: the text is empty (no words)")
        records = [task.unlabelled(words)]
    else:
        records = pipeline.read_texts(task, args.input)
    predicted = model.predict(records)
    options = model.options | {"output": args.output}
    for line in task.lines(records, predicted, options):
        print(line)
    return 0


def _summary_line(metrics: dict[str, Any]) -> str:
    keys = [k for k in ("accuracy", "precision", "recall", "f1", "macro_f1",
                        "accuracy_right_context") if k in metrics]  # fmt: skip
    return "  ".join(f"{k} {100 * metrics[k]:.2f}" for k in keys)


def _write_json(path: Path, value: Any) -> None:
    """Atomically: a temporary file, then a rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": demo,
    "train": train,
    "evaluate": evaluate,
    "predict": predict,
    "explain": explain_command.run,
}
