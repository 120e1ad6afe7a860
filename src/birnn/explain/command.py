"""``birnn explain``: the command line of ``birnn.explain`` (one self-contained block; cli.py
adds the parser with ``add_parser`` and runs ``run``).

    birnn explain --model RUN --text "..." | --input FILE  [--position T] [--rows] [--json]
                  [--html FILE] [--plot PREFIX]
    birnn explain --model RUN --gradients [DATA]  [--batch-size N] [--plot PREFIX] [--json]
    birnn explain --trace [--seed N] [--steps T]

Everything is computed and checked before any file is written; bad input is a ValueError (one
line on stderr, exit status 2, from cli.py).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from birnn import pipeline
from birnn.data import DataError
from birnn.data._files import existing_file
from birnn.explain import html, text
from birnn.explain.explanation import Explanation, explain
from birnn.explain.gradients import (
    GradientFlow,
    GradientTrace,
    TrainingTrace,
    describe_chain,
    read_trace,
)
from birnn.explain.trace import trace
from birnn.tasks.base import make_batch

TRACE_FILE = "gradients.jsonl"  # what ``birnn train --trace-gradients`` writes into --out
TRACE_EVERY = 50  # default steps between traced training steps


ABOUT = (  # the subcommand's help line and description
    "see what each direction did: attribution, sensitivity, gradient flow",
    "Split a trained model's scores exactly into forward, backward and bias parts, map each "
    "output's sensitivity to every word through each direction, record the gradient through "
    "time per chain, or trace the seeds' tiny BiRNN step by step.",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``birnn explain`` (cli.py makes the parser with the common ones)."""
    p.add_argument("--model", type=Path, help="model directory (a training run's --out)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--text", help="one text (whitespace-tokenised); fill: with one ___")
    what.add_argument("--input", type=Path, help="a file: one text per line, or CoNLL-U")
    what.add_argument("--gradients", nargs="?", const="", metavar="DATA",
                      help="dL/dh_t per chain on the first batch of labelled DATA; without "
                      f"DATA, the trace in RUN/{TRACE_FILE} (train --trace-gradients)")  # fmt: skip
    what.add_argument(
        "--trace", action="store_true", help="the seeds' tiny BiRNN, every number, checked"
    )
    p.add_argument("--position", type=int, help="tagger: the token whose sensitivity to show")
    p.add_argument("--rows", action="store_true", help="print every sensitivity value")
    p.add_argument("--json", action="store_true", help="print the explanation as JSON")
    p.add_argument("--html", type=Path, help="also write a self-contained HTML page here")
    p.add_argument("--plot", metavar="PREFIX", help="also write PNGs PREFIX-*.png (matplotlib)")
    p.add_argument("--batch-size", type=int, default=32, help="--gradients: items in the batch")
    p.add_argument("--seed", type=int, default=0, help="--trace: the tiny problem's seed")
    p.add_argument("--steps", type=int, default=4, help="--trace: sequence length")


def add_train_option(p: Any) -> None:
    """``birnn train --trace-gradients [EVERY]``."""
    p.add_argument("--trace-gradients", nargs="?", const=TRACE_EVERY, type=int, metavar="EVERY",
                   help=f"record dL/dh_t per chain every EVERY steps (default {TRACE_EVERY}) "
                   f"into --out/{TRACE_FILE} (see birnn explain --gradients)")  # fmt: skip


def training_trace(args: argparse.Namespace, task_model: Any) -> TrainingTrace | None:
    """The trace for ``birnn train --trace-gradients`` (its ``around_step`` goes to the
    trainer; ``save_to(--out/gradients.jsonl)`` when the run first writes), or None."""
    if args.trace_gradients is None:
        return None
    every = args.trace_gradients
    if every < 1:
        raise ValueError(f"--trace-gradients must be >= 1 (steps); received {every}")
    return TrainingTrace(task_model.model.encoder.rnn, every)


# ---- writing, after everything is computed ------------------------------------------------------


def _writable(path: Path, option: str) -> Path:
    if path.is_dir():
        raise ValueError(f"{option} must name a file; {path} is a directory")
    if not path.parent.is_dir():
        raise ValueError(f"{option}: the directory {path.parent} does not exist")
    return path


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _plots() -> Any:
    try:
        from birnn.explain import plots

        plots.pyplot()
    except ImportError as err:
        raise ValueError(f"--plot: {err}") from err
    return plots


def _outputs(args: argparse.Namespace) -> tuple[Path | None, str | None]:
    html_path = _writable(args.html, "--html") if args.html is not None else None
    prefix = None
    if args.plot is not None:
        _writable(Path(f"{args.plot}-x.png"), "--plot")
        _plots()
        prefix = args.plot
    return html_path, prefix


# ---- the three modes -----------------------------------------------------------------------------


def _explain(args: argparse.Namespace) -> int:
    html_path, prefix = _outputs(args)
    model = pipeline.load(args.model)
    task = model.task
    if args.text is not None:
        texts = [args.text.split()]
        if not texts[0]:
            raise DataError("--text: the text is empty (no words)")
    else:
        texts = task.read_texts(existing_file(args.input))
        if not texts:
            raise DataError(f"{args.input}: no texts")
    positions = None if args.position is None else [args.position]
    explanations = [explain(model, words, positions) for words in texts]
    if html_path is not None:
        page = html.page(explanations)

        def write(path: Path) -> None:
            path.write_text(page, encoding="utf-8")

        _atomic(html_path, write)
    if prefix is not None:
        _write_explanation_plots(explanations[0], prefix)
    if args.json:
        print(json.dumps([text.to_json(e) for e in explanations], indent=1))
        return 0
    for i, e in enumerate(explanations):
        if i:
            print()
        for line in text.lines(e, rows=args.rows or args.position is not None):
            print(line)
    return 0


def _write_explanation_plots(e: Explanation, prefix: str) -> None:
    """The first text's pictures: PREFIX-attribution.png and PREFIX-sensitivity.png."""
    plots = _plots()
    _atomic(Path(f"{prefix}-attribution.png"), lambda p: plots.attribution(e, p))
    _atomic(Path(f"{prefix}-sensitivity.png"), lambda p: plots.sensitivity(e, p))


def _flow_lines(flows: list[GradientFlow], names: list[str]) -> list[str]:
    out = ["mean ||dL/dh|| at step k of each chain (forward: t = k; backward: t = len - 1 - k)"]
    longest = max(f.norms.shape[1] for f in flows)
    ks = [k for k in (0, 1, 2, 5, 10, 20, 40, 80) if k < longest]
    out.append(f"{'':<14}{'chain':<18}" + "".join(f"{'k=' + str(k):>10}" for k in ks))
    for f, name in zip(flows, names):
        for c, chain in enumerate(f.chains):
            values = "".join(
                f"{f.norms[c, k]:>10.3g}" if k < f.norms.shape[1] and f.counts[k] else f"{'-':>10}"
                for k in ks
            )
            out.append(f"{name:<14}{describe_chain(chain):<18}{values}")
    return out


def _gradients(args: argparse.Namespace) -> int:
    for name in ("html", "position"):
        if getattr(args, name) is not None:
            raise ValueError(f"--gradients shows no text: it takes no --{name}")
    _, prefix = _outputs(args)
    model = pipeline.load(args.model)
    if args.gradients:
        if args.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1; received {args.batch_size}")
        records = pipeline.read(model.task, args.gradients, model.options)
        data = model.encode(records[: args.batch_size])
        batch = make_batch(data, list(range(len(data))), model.forms, model.task.per_token)
        traced = GradientTrace(model.model.encoder.rnn)
        with traced.attached():
            model.model.loss_and_grads(batch, np.random.default_rng(args.seed))
        flows, names = traced.flows, [f"batch of {len(data)}"]
    else:
        where = args.model / TRACE_FILE
        if not where.is_file():
            raise ValueError(
                f"{where}: no gradient trace (train with --trace-gradients, or give "
                "--gradients DATA)"
            )
        recorded = read_trace(where)
        if not recorded:
            raise ValueError(f"{where}: the trace is empty")
        epochs = sorted({w["epoch"] for w, _ in recorded})
        picked = sorted({epochs[round(i * (len(epochs) - 1) / 4)] for i in range(5)})
        flows = [GradientFlow.combine([f for w, f in recorded if w["epoch"] == e]) for e in picked]
        names = [f"epoch {e}" for e in picked]
    if args.json:
        print(json.dumps([f.to_json() | {"name": n} for f, n in zip(flows, names)], indent=1))
    else:
        for line in _flow_lines(flows, names):
            print(line)
    if prefix is not None:
        plots = _plots()
        path = Path(f"{prefix}-gradients.png")
        _atomic(path, lambda p: plots.gradient_flow(flows, names, p))
        print(f"wrote {path}")
    return 0


def _trace(args: argparse.Namespace) -> int:
    for name in ("model", "html", "plot", "position"):
        if getattr(args, name) is not None:
            raise ValueError(f"--trace builds its own tiny model; it takes no --{name}")
    if not 1 <= args.steps <= 50:
        raise ValueError(f"--steps must be in [1, 50]; received {args.steps}")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0; received {args.seed}")
    result = trace(args.seed, args.steps)
    for line in result.lines:
        print(line)
    return 0 if result.ok else 1


def run(args: argparse.Namespace) -> int:
    if args.trace:
        return _trace(args)
    if args.model is None:
        raise ValueError("--model is required (or --trace for the tiny step-by-step example)")
    if args.gradients is not None:
        return _gradients(args)
    if args.text is None and args.input is None:
        raise ValueError("give --text, --input or --gradients (or --trace)")
    return _explain(args)
