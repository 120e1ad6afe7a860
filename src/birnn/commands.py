"""What each ``birnn`` command does, given its parsed arguments (the parser is in cli.py)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from birnn import pipeline, predict_io, transfer
from birnn.corpus import command as corpus_command
from birnn.data import DataError, write_cloze
from birnn.data._files import existing_file
from birnn.data.pretrained import Pretrained
from birnn.demo import run as demo_run
from birnn.demo.grammar import generate
from birnn.distributed import command as distributed_command
from birnn.explain import command as explain_command
from birnn.models.encoder import EncoderConfig
from birnn.onnx import command as export_command
from birnn.predict_io import Text
from birnn.predict_pieces import workers_for, write_pieces
from birnn.predictor import load as load_predictor
from birnn.tasks.base import Vocabs
from birnn.tasks.task import Task
from birnn.train import outdir
from birnn.train.config import TrainConfig
from birnn.train.progress import counted, tally

C = TypeVar("C")
OUTPUTS = predict_io.OUTPUTS  # predict --output


def _warn(args: argparse.Namespace, message: str) -> None:
    print(f"birnn {args.command}: warning: {message}", file=sys.stderr)


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


# -- train ------------------------------------------------------------------------------------


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The task options (saved with the model: evaluate and predict read data the same way)."""
    return {
        "format": args.format,
        "column": args.column,
        "scheme": args.scheme,
        "head": args.head,
        "pooling": args.pooling,
        "seed": args.seed,
        "constraints": not args.no_constraints,
    }


def _from_args(config: type[C], args: argparse.Namespace, **fields: Any) -> C:
    """The config dataclass ``config`` from the options named after its fields (``--word-dim``
    sets ``word_dim``), and ``fields``; a field without an option keeps its default."""
    names = {f.name for f in dataclasses.fields(config)}  # type: ignore[arg-type]
    given = {name: value for name, value in vars(args).items() if name in names}
    return config(**(given | fields))


def _encoder_config(
    args: argparse.Namespace, vocabs: Vocabs, vectors: Pretrained | None
) -> EncoderConfig:
    """The encoder the options describe, sized for ``vocabs`` (and the pretrained vectors)."""
    words = {"word_dim": 100 if args.word_dim is None else args.word_dim}
    if vectors is not None:
        words = transfer.encoder_fields(vectors, args.word_dim, "--word-dim")
    return _from_args(
        EncoderConfig,
        args,
        vocab_size=len(vocabs.words),
        char_vocab_size=vocabs.char_vocab_size,
        bidirectional=not args.unidirectional,
        **words,
    )


def _pretrained(
    args: argparse.Namespace, vocabs: Vocabs, splits: dict[str, list[Any]],
    say: Callable[[str], None],
) -> tuple[Vocabs, Pretrained | None, dict[str, Any] | None]:  # fmt: skip
    """--embeddings: the vocabularies with the file's words, the vectors and their report
    (``say``: how the report's line is printed)."""
    if args.embeddings is None:
        return vocabs, None, None
    if args.embeddings_max_words < 0:
        raise ValueError(
            f"--embeddings-max-words must be >= 0; received {args.embeddings_max_words}"
        )
    path = existing_file(args.embeddings)
    vocabs, vectors = transfer.with_vectors(vocabs, path, args.embeddings_max_words)
    report = transfer.vector_report(vectors, splits)
    say(transfer.describe_vectors(report))
    return vocabs, vectors, report


def _warn_unseen(args: argparse.Namespace, task: Task, vocabs: Vocabs, path: Path,
                 records: list[Any]) -> None:  # fmt: skip
    """One warning line when ``records`` hold gold labels the model has never seen."""
    unseen = task.unseen_labels(records, vocabs)
    if unseen:
        names = ", ".join(sorted(unseen)[:5]) + (", ..." if len(unseen) > 5 else "")
        what = "tokens" if task.per_token else "items"
        _warn(args, f"{path}: {len(unseen)} labels never seen in training ({names}) on "
                    f"{sum(unseen.values())} {what}, scored as errors")  # fmt: skip


def _silent(line: str) -> None:
    """What a rank > 0 of an MPI job prints: nothing (rank 0 prints the same line)."""


def train(args: argparse.Namespace) -> int:
    if (status := distributed_command.supervise(args)) is not None:
        return status  # under mpirun: this process watched the rank's worker, which has ended
    parallel = distributed_command.parallel(args)  # under mpirun: this rank's share of the work
    say: Callable[[str], None] = print if parallel.writes else _silent  # rank 0 alone speaks
    task = pipeline.get_task(args.task)
    options = _options(args)
    out: Path = args.out
    # everything is read and checked before anything is written to --out
    if parallel.writes:
        outdir.check_out(out, args.resume, args.overwrite)
    config = _from_args(TrainConfig, args)
    train_records = [r for path in args.train for r in pipeline.read(task, path, options)]
    dev = pipeline.read(task, args.dev, options) if args.dev else None
    test = pipeline.read(task, args.test, options) if args.test else None
    if dev is None and config.needs_dev_score:
        raise ValueError(f"--schedule {args.schedule} follows the dev score: it needs --dev")
    chars = args.char_hidden > 0
    vocabs = task.build_vocabs(train_records, args.min_count, args.lowercase, chars)
    splits = {"train": train_records} | {k: v for k, v in (("dev", dev), ("test", test)) if v}
    vocabs, vectors, vector_report = _pretrained(args, vocabs, splits, say)
    for path, records in ((args.dev, dev), (args.test, test)):
        if records is not None and parallel.writes:
            _warn_unseen(args, task, vocabs, path, records)
    model = pipeline.create(
        task, vocabs, _encoder_config(args, vocabs, vectors), options, args.seed
    )
    if vectors is not None:
        transfer.use_vectors(model, vectors)
    if args.init_from is not None:
        say(str(pipeline.init_from(model, args.init_from)))
    data = {"train": list(args.train)} | {
        split: [getattr(args, split)] for split in ("dev", "test") if getattr(args, split)
    }
    run = outdir.run_entry(["birnn", *args.argv], data)
    if (ranks := distributed_command.ranks(parallel)) is not None:
        run["ranks"] = ranks  # under mpirun
    trace = explain_command.training_trace(args, model)  # --trace-gradients
    if trace is not None and parallel.world_size > 1:
        raise ValueError("--trace-gradients traces one process: run it without mpirun")
    if not parallel.writes:  # a rank > 0 of an MPI job computes its share, and that is all
        pipeline.train(model, train_records, dev, config, out, args.resume, False,
                       parallel=parallel)  # fmt: skip
        return 0

    def before_writing() -> None:  # the run is about to change --out: first these
        outdir.record_run(out, run, fresh=not args.resume)
        outdir.discard_results(out)
        if trace is not None:
            trace.save_to(out / explain_command.TRACE_FILE, append=args.resume)

    with outdir.lock(out):
        outdir.check_out(out, args.resume, args.overwrite)  # no other run came in between
        summary = pipeline.train(model, train_records, dev, config, out, args.resume,
                                 not args.no_progress, before_writing=before_writing,
                                 around_step=trace.around_step if trace else None,
                                 parallel=parallel)  # fmt: skip
        results: dict[str, Any] = {"train": summary}
        if vector_report is not None:
            results["embeddings"] = vector_report
        best = pipeline.load(out) if dev is not None else model
        if dev is not None:
            results["dev"] = best.evaluate(dev)
        if test is not None:
            results["test"] = best.evaluate(test)
        outdir.write_json(out / outdir.RESULTS, results)
    for split in ("dev", "test"):
        if split in results:
            print(f"{split}: {_summary_line(results[split])}")
    print(f"trained {summary['epochs']} epochs in {summary['train_seconds']:.0f} s; "
          f"model in {out}")  # fmt: skip
    return 0


# -- evaluate ---------------------------------------------------------------------------------


def evaluate(args: argparse.Namespace) -> int:
    model = pipeline.load(args.model)
    records = pipeline.read(model.task, args.data, model.options)
    _warn_unseen(args, model.task, model.vocabs, args.data, records)
    metrics = model.evaluate(records)
    if args.json:
        print(json.dumps(metrics, indent=2, sort_keys=True))
    else:
        print(_summary_line(metrics))
        for name, s in sorted(metrics.get("per_type", {}).items()):
            print(f"  {name:<16} P {100 * s['precision']:5.1f}  R {100 * s['recall']:5.1f}  "
                  f"F1 {100 * s['f1']:5.1f}  ({s['support']})")  # fmt: skip
    return 0


def _summary_line(metrics: dict[str, Any]) -> str:
    keys = [k for k in ("accuracy", "precision", "recall", "f1", "macro_f1",
                        "accuracy_right_context") if k in metrics]  # fmt: skip
    return "  ".join(f"{k} {100 * metrics[k]:.2f}" for k in keys)


# -- predict ----------------------------------------------------------------------------------


def _texts(args: argparse.Namespace, task: Task) -> Iterator[Text]:
    """What ``predict`` reads, as a stream: --text, a CoNLL-U file, or one text per line."""
    if args.text is None:
        yield from predict_io.texts_of(existing_file(args.input), task, args.pretokenized)
        return
    found = list(predict_io.split(args.text, task, args.pretokenized))
    if not found:
        raise DataError("--text: the text is empty (no words)")
    yield from found


def predict(args: argparse.Namespace) -> int:
    corpus_command.check(args)
    if args.out_dir is not None:  # a corpus of files, here or on a Dask cluster
        return corpus_command.run(args)
    if args.workers is not None and args.text is not None:
        raise ValueError(f"--workers {args.workers} cuts a file: give --input, not --text")
    predictor = load_predictor(args.model)
    predict_io.check_output(predictor.task, args.output)
    workers = 1 if args.text is not None else workers_for(args.input, args.workers, args.threads)
    with predict_io.fewer_collections():
        if workers > 1:  # the file in pieces, one process each (predict_pieces.py)
            with tally("texts", not args.no_progress) as add:
                write_pieces(sys.stdout, predictor, existing_file(args.input), args.output,
                             args.pretokenized, workers, args.threads, add)  # fmt: skip
            return 0
        texts = counted(_texts(args, predictor.task), "texts", not args.no_progress)
        predict_io.write_predictions(sys.stdout, predictor, texts, args.output, flush=True)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": demo,
    "train": train,
    "evaluate": evaluate,
    "predict": predict,
    "explain": explain_command.run,
    "export": export_command.run,
}
