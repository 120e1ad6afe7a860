"""The ``birnn`` command line: demo, train, evaluate, predict, explain.

Bad input (a malformed data file, an unreadable checkpoint, an unknown option value) ends the
program with one line on stderr and exit status 2, and overwrites nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from birnn import commands
from birnn.data import SCHEMES
from birnn.explain import command as explain_command
from birnn.models.encoder import CELLS
from birnn.models.tagger import HEADS
from birnn.optim import OPTIMIZERS
from birnn.tasks.registry import TASKS
from birnn.tasks.tagging import FORMATS

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (and exits 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _model_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--cell", choices=sorted(CELLS), default="lstm", help="recurrent cell")
    g.add_argument("--hidden", type=int, default=128, help="units per direction (default 128)")
    g.add_argument("--layers", type=int, default=2, help="recurrent layers (default 2)")
    g.add_argument("--unidirectional", action="store_true", help="left-to-right only")
    g.add_argument("--word-dim", type=int, default=100, help="word embedding width")
    g.add_argument("--char-dim", type=int, default=30, help="character embedding width")
    g.add_argument(
        "--char-hidden", type=int, default=50, help="char BiLSTM units per direction; 0: none"
    )
    g.add_argument("--dropout", type=float, default=0.33, help="dropout (default 0.33)")
    g.add_argument("--word-dropout", type=float, default=0.0, help="word -> <unk> rate")
    g.add_argument("--rare-word-dropout", type=float, default=0.0,
                   help="alpha: a word seen c times -> <unk> with p = alpha/(alpha+c)")  # fmt: skip
    g.add_argument("--head", choices=HEADS, default="softmax", help="tagger head")
    g.add_argument(
        "--pooling", default="final", help="classifier pooling: final | mean | max | final+max"
    )
    g.add_argument("--min-count", type=int, default=1, help="rarer words become <unk>")
    g.add_argument("--lowercase", action="store_true", help="lowercase words (not characters)")


def _training_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=20)
    g.add_argument("--batch-size", type=int, default=32)
    g.add_argument("--optimizer", choices=list(OPTIMIZERS), default="adam")
    g.add_argument("--lr", type=float, default=1e-3)
    g.add_argument("--momentum", type=float, default=0.9, help="sgd only")
    g.add_argument("--weight-decay", type=float, default=0.0)
    g.add_argument("--clip", type=float, default=5.0, help="global gradient norm; 0: off")
    g.add_argument(
        "--schedule", default="constant", help="constant | linear | exponential | cosine | plateau"
    )
    g.add_argument("--warmup", type=float, default=0.0, help="epochs of linear warmup")
    g.add_argument("--patience", type=int, default=5, help="early stopping; 0: never")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--resume", action="store_true", help="continue the run in --out")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")


def _data_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--format", choices=FORMATS, default="auto",
                   help="tagging input: CoNLL-U or CoNLL columns (auto: by file name)")  # fmt: skip
    g.add_argument("--column", default="upos", help="CoNLL-U column to tag (default upos)")
    g.add_argument("--scheme", choices=list(SCHEMES), default=None,
                   help="entity tag scheme of column files (entity F1)")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="birnn",
        description="Bidirectional recurrent networks: train and use taggers, classifiers "
        "and fill-in-the-blank models.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = sub.add_parser("demo", help="why bidirectionality matters, in under two minutes",
                          description="Generate a fill-in-the-blank task, train a unidirectional "
                          "and a bidirectional model on it, and compare them.")  # fmt: skip
    demo.add_argument("--train-size", type=int, default=6000, help="generated training items")
    demo.add_argument("--test-size", type=int, default=1200, help="generated test items")
    demo.add_argument("--epochs", type=int, default=8)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--save-data", type=Path, help="also write the generated items here (TSV)")
    demo.add_argument("--no-progress", action="store_true")

    train = sub.add_parser(
        "train",
        help="train a model on your data",
        description="Train a tagger, classifier or fill-in-the-blank model; checkpoints go to "
        "--out (best/ and last/), metrics to --out/log.jsonl.",
    )
    train.add_argument("--task", required=True, choices=sorted(TASKS))
    train.add_argument("--train", required=True, type=Path, nargs="+", help="training data file(s)")
    train.add_argument("--dev", type=Path, help="dev data: early stopping and best model")
    train.add_argument("--test", type=Path, help="test data, scored with the best model at the end")
    train.add_argument("--out", required=True, type=Path, help="output directory")
    _data_arguments(train)
    _model_arguments(train)
    _training_arguments(train)
    explain_command.add_train_option(train)

    evaluate = sub.add_parser("evaluate", help="score a trained model on labelled data",
                              description="Print the metrics of a trained model on a data file "
                              "(as JSON with --json).")  # fmt: skip
    evaluate.add_argument("--model", required=True, type=Path, help="model directory")
    evaluate.add_argument("--data", required=True, type=Path, help="labelled data file")
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON")

    predict = sub.add_parser("predict", help="tag or label text with a trained model",
                             description="Print predictions on stdout: tags as CoNLL-U or TSV, "
                             "labels and answers as TSV.")  # fmt: skip
    predict.add_argument("--model", required=True, type=Path, help="model directory")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="one text (whitespace-tokenised); fill: with one ___")
    source.add_argument("--input", type=Path, help="a file: one text per line, or CoNLL-U")
    predict.add_argument("--output", choices=["tsv", "conllu"], default="tsv",
                         help="tagging output format (default tsv)")  # fmt: skip

    explain_command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(commands.COMMANDS[args.command](args))
    except (ValueError, TypeError, OSError, FloatingPointError) as err:
        # DataError and CheckpointError are ValueErrors; FloatingPointError is a diverged
        # training run (an lr too high): one line, no traceback
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"birnn {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("birnn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
