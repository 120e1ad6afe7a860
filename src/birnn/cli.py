"""The ``birnn`` command line: demo, train, evaluate, predict, explain, export.

Each subcommand is one block below (``_demo``, ``_train``, ...), listed in ``SUBCOMMANDS``;
every one gets the common options (``--threads``) from ``_subcommand``. What a command does is
in ``commands.py``.

Whatever goes wrong ends the program with one line on stderr, never a traceback (``main``):
bad input, unreadable files, a full disk, running out of memory: exit status 2; Ctrl-C: 130.
An existing file is never left half written (checkpoints and JSON files are replaced by
renames). A closed output pipe (``birnn predict ... | head``) ends the program quietly.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from birnn import __version__, backend, commands, distributed
from birnn.corpus import command as corpus_command
from birnn.data import SCHEMES
from birnn.distributed import command as distributed_command
from birnn.explain import command as explain_command
from birnn.layers.embedding import INITS
from birnn.models.encoder import CELLS, CHAR_INIT
from birnn.models.tagger import HEADS
from birnn.onnx import command as export_command
from birnn.optim import OPTIMIZERS
from birnn.tasks.registry import TASKS
from birnn.tasks.tagging import FORMATS
from birnn.transfer import DEFAULT_MAX_WORDS

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (and exits 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """--help shows every option's default."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1; received {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1; received {value}")
    return value


def _subcommand(sub: Any, name: str, help: str, description: str) -> argparse.ArgumentParser:
    """A subcommand's parser, with the options every command has."""
    p: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=description, formatter_class=_Help
    )
    g = p.add_argument_group("common")
    g.add_argument("--threads", type=_positive_int, default=backend.default_num_threads(),
                   help="threads of every BLAS call and of the time loop")  # fmt: skip
    return p


# -- the subcommands --------------------------------------------------------------------------


def _demo(sub: Any) -> None:
    p = _subcommand(sub, "demo", "why bidirectionality matters, in under two minutes",
                    "Generate a fill-in-the-blank task, train a unidirectional and a "
                    "bidirectional model on it, and compare them.")  # fmt: skip
    p.add_argument("--train-size", type=int, default=6000, help="generated training items")
    p.add_argument("--test-size", type=int, default=1200, help="generated test items")
    p.add_argument("--epochs", type=int, default=8, help="training epochs of each model")
    p.add_argument("--seed", type=int, default=0, help="seeds the data and the training")
    p.add_argument("--save-data", type=Path, help="also write the generated items here (TSV)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _pretrained_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("pretrained knowledge, case features, initialisation, constraints")
    g.add_argument(
        "--embeddings",
        type=Path,
        metavar="PATH",
        help="pretrained word vectors: GloVe, word2vec or fastText text (.gz too), "
        "word2vec binary (*.bin)",
    )
    g.add_argument(
        "--embeddings-max-words",
        type=int,
        default=DEFAULT_MAX_WORDS,
        metavar="N",
        help="how many of the file's first words the model keeps beyond the training words "
        "(each costs 4 * dim bytes in the model)",
    )
    g.add_argument(
        "--freeze-embeddings", action="store_true", help="never train the word embeddings"
    )
    g.add_argument(
        "--tuned-word-dim",
        type=int,
        default=0,
        metavar="N",
        help="a second, always trained word embedding of width N (with --freeze-embeddings: "
        "frozen pretrained vectors plus trained ones); 0: none",
    )
    g.add_argument(
        "--init-from",
        type=Path,
        metavar="RUN_DIR",
        help="start the encoder from another run's (a fill model trained on unlabelled text)",
    )
    g.add_argument(
        "--case-dim",
        type=int,
        default=0,
        help="width of the case pattern embedding (Title, UPPER, ...); 0: none",
    )
    g.add_argument(
        "--word-init",
        choices=sorted(INITS),
        default="uniform",
        help="random word embeddings: uniform U(+-sqrt(3/d)) or normal N(0, 1)",
    )
    g.add_argument(
        "--char-init",
        choices=sorted(INITS),
        default=CHAR_INIT,
        help="random character embeddings",
    )
    g.add_argument(
        "--no-constraints",
        action="store_true",
        help="with --scheme: let the tagger emit invalid tag sequences",
    )


def _train(sub: Any) -> None:
    p = _subcommand(sub, "train", "train a model on your data",
                    "Train a tagger, classifier or fill-in-the-blank model; checkpoints go to "
                    "--out (best/ and last/), metrics to --out/log.jsonl, the command line and "
                    "the data files' SHA-256 to --out/run.json.")  # fmt: skip
    p.add_argument("--task", required=True, choices=sorted(TASKS), help="what to learn")
    p.add_argument("--train", required=True, type=Path, nargs="+", help="training data file(s)")
    p.add_argument("--dev", type=Path, help="dev data: early stopping and best model")
    p.add_argument("--test", type=Path, help="test data, scored with the best model at the end")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (kept until the new run's first "
                   "checkpoint is complete)")  # fmt: skip

    g = p.add_argument_group("data")
    g.add_argument("--format", choices=FORMATS, default="auto",
                   help="tagging data: CoNLL-U or columns (auto: by name or content)")  # fmt: skip
    g.add_argument("--column", default="upos", help="CoNLL-U column to tag")
    g.add_argument("--scheme", choices=list(SCHEMES), default=None,
                   help="entity tag scheme (entity F1); checked on every tag read")  # fmt: skip

    g = p.add_argument_group("model")
    g.add_argument("--cell", choices=sorted(CELLS), default="lstm", help="recurrent cell")
    g.add_argument("--hidden", type=int, default=128, help="units per direction")
    g.add_argument("--layers", type=int, default=2, help="recurrent layers")
    g.add_argument("--unidirectional", action="store_true", help="left-to-right only")
    g.add_argument(
        "--word-dim", type=int, help="word embedding width (default 100; --embeddings: the file's)"
    )
    g.add_argument("--char-dim", type=int, default=30, help="character embedding width")
    g.add_argument("--char-hidden", type=int, default=50,
                   help="char BiLSTM units per direction; 0: none")  # fmt: skip
    g.add_argument("--dropout", type=float, default=0.33, help="dropout")
    g.add_argument("--word-dropout", type=float, default=0.0, help="word -> <unk> rate")
    g.add_argument("--rare-word-dropout", type=float, default=0.0,
                   help="alpha: a word seen c times -> <unk> with p = alpha/(alpha+c)")  # fmt: skip
    g.add_argument("--head", choices=HEADS, default="softmax", help="tagger head")
    g.add_argument("--pooling", default="final",
                   help="classifier pooling: final | mean | max | final+max")  # fmt: skip
    g.add_argument("--min-count", type=int, default=1, help="rarer words become <unk>")
    g.add_argument("--lowercase", action="store_true", help="lowercase words (not characters)")

    _pretrained_arguments(p)

    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=20, help="most passes over the training data")
    g.add_argument("--batch-size", type=int, default=32, help="items per batch")
    g.add_argument("--optimizer", choices=list(OPTIMIZERS), default="adam", help="optimizer")
    g.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    g.add_argument("--momentum", type=float, default=0.9, help="sgd only")
    g.add_argument("--weight-decay", type=float, default=0.0, help="weight decay")
    g.add_argument("--clip", type=float, default=5.0, help="global gradient norm; 0: off")
    g.add_argument("--schedule", default="constant",
                   help="constant | linear | exponential | cosine | plateau")  # fmt: skip
    g.add_argument("--warmup", type=float, default=0.0, help="epochs of linear warmup")
    g.add_argument("--patience", type=int, default=5, help="early stopping; 0: never")
    g.add_argument("--seed", type=int, default=0, help="seeds everything random")
    g.add_argument("--resume", action="store_true", help="continue the run in --out")
    g.add_argument("--no-progress", action="store_true",
                   help="no progress bars (the one line per epoch stays)")  # fmt: skip
    explain_command.add_train_option(g)
    distributed_command.add_train_options(p)


def _evaluate(sub: Any) -> None:
    p = _subcommand(sub, "evaluate", "score a trained model on labelled data",
                    "Print the metrics of a trained model on a data file "
                    "(as JSON with --json).")  # fmt: skip
    p.add_argument("--model", required=True, type=Path, help="model directory (or a run's --out)")
    p.add_argument("--data", required=True, type=Path, help="labelled data file")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")


def _predict(sub: Any) -> None:
    p = _subcommand(sub, "predict", "tag or label text with a trained model",
                    "Print predictions on stdout as they are made: tags as TSV or CoNLL-U, "
                    "labels and answers as TSV, or one JSON object per text.")  # fmt: skip
    p.add_argument("--model", required=True, type=Path, help="model directory (or a run's --out)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="one text; fill in the blank: with one ___")
    source.add_argument("--input", type=Path,
                        help="a file (- for stdin): one text per line, or CoNLL-U")  # fmt: skip
    p.add_argument("--output", choices=commands.OUTPUTS, default="tsv",
                   help="tsv, conllu (taggers), or json (with probabilities)")  # fmt: skip
    p.add_argument("--pretokenized", action="store_true",
                   help="texts are tokens separated by spaces (no tokenizer, no sentence "
                   "splitting)")  # fmt: skip
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (shown only when stderr is a terminal)")  # fmt: skip
    p.add_argument("--workers", type=_positive_int, metavar="N",
                   help="processes that share an --input file, each predicting a piece of it, "
                   "or the files of --out-dir, with --threads divided among them (default: one "
                   "per thread, on Linux, for a file of 1 MiB or more or a corpus; 1: this "
                   "process alone)")  # fmt: skip
    corpus_command.add_arguments(p)


def _explain(sub: Any) -> None:
    explain_command.add_arguments(_subcommand(sub, "explain", *explain_command.ABOUT))


def _export(sub: Any) -> None:
    export_command.add_arguments(_subcommand(sub, "export", *export_command.ABOUT))


SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (
    _demo, _train, _evaluate, _predict, _explain, _export
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="birnn",
        description="Bidirectional recurrent networks: train and use taggers, classifiers "
        "and fill-in-the-blank models.",
    )
    parser.add_argument("--version", action="version", version=f"birnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in SUBCOMMANDS:
        add(sub)
    return parser


# -- running one -----------------------------------------------------------------------------


def _first_line(err: BaseException) -> str:
    text = str(err)
    if isinstance(err, OSError) and err.strerror:  # "[Errno 28] No space ...": drop the number
        text = err.strerror + (f": {err.filename}" if err.filename else "")
    return text.splitlines()[0] if text.strip() else type(err).__name__


def _silence_stdout() -> None:
    """After a closed pipe: send what is still buffered nowhere, so exit prints no error."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # run.json records the command line
    name = f"birnn {args.command}"

    def fail(message: str) -> int:
        distributed.report(f"{name}: error: {message}")  # under mpirun: one line for the job
        return EXIT_USAGE

    try:
        backend.set_num_threads(args.threads)
        return int(commands.COMMANDS[args.command](args))
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except KeyboardInterrupt:
        distributed.report(f"{name}: interrupted")
        return EXIT_INTERRUPTED
    except MemoryError as err:
        return fail(f"out of memory ({_first_line(err)}); try a smaller model or --batch-size")
    except (ValueError, TypeError, OSError, FloatingPointError, ImportError) as err:
        # DataError and CheckpointError are ValueErrors; FloatingPointError is a diverged
        # training run (an lr too high); OSError: a full disk, a permission, a missing file
        return fail(_first_line(err))
    except Exception as err:  # a bug in birnn: still one line, with where it happened
        tb = err.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f" at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}" if tb else ""
        return fail(f"internal error{where}: {type(err).__name__}: {_first_line(err)} "
                    "(please report it)")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
