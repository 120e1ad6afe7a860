"""``birnn predict --input FILE`` on several cores: the file cut into pieces, one process each,
the output printed in the file's order.

Why processes rather than threads: most of tagging a corpus is Python that holds the GIL
(reading the lines, encoding the words, the character network's bookkeeping, writing the lines
back), while the compiled time loop is a third of it. One process with two threads keeps the
second core idle through all that Python; two processes of one thread each keep both busy.
Measured on EWT's training text (12,544 sentences, 2 cores): 2.7-3.1 s as two processes
against 5.1 s as one (BENCHMARKS.md).

How:

* This process cuts the file (``birnn.corpus.layout.cut``: at the blank lines between CoNLL-U
  sentences, else at line ends; a gzip file is read through once for that), then forks one
  process for every piece but the first, each with ``threads // pieces`` threads (at least 1).
  Forking hands each the loaded model without reading it again.
* This process predicts the first piece straight onto the output, as one process would; each
  other process writes its piece to a file in a temporary directory, which is copied to the
  output in its turn and removed.
* Errors: a piece's error (a bad line, named by its line in the whole file) is raised here once
  the pieces before it are printed, as one process prints the texts before a bad line; the
  processes still running are stopped. A process that dies without a word (killed, out of
  memory) is an ``OSError``. The temporary directory goes in every case.

The tags are those one process gives. The probabilities can differ in float32's last digit: a
piece's texts share their batches with other texts than in one process, and OpenBLAS rounds a
row of a product differently with the number of rows (``tests/test_corpus.py``).

Fork is taken where it is the platform's own way to start processes (Linux); elsewhere one
process predicts the whole file.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TextIO

from birnn import backend, predict_io
from birnn.corpus.layout import cut
from birnn.data._files import STDIN, Span, content_size
from birnn.predict_io import Text
from birnn.predictor import Predictor

MIN_BYTES = 1 << 20  # smaller files (as stored) are predicted in one process, unless told


def can_fork() -> bool:
    """Whether processes are started by forking here (Linux)."""
    return sys.platform.startswith("linux")


def workers_for(path: Path, requested: int | None, threads: int) -> int:
    """How many processes predict ``path``: ``requested`` (``--workers``), else one per thread
    (as many as there are cores at most) for a file of at least MIN_BYTES, else one."""
    if requested is not None:
        if requested > 1 and path == STDIN:
            raise ValueError(f"--workers {requested} cuts a file: give --input a file, not -")
        if requested > 1 and not can_fork():
            raise ValueError(f"--workers {requested} needs Linux (processes started by fork); "
                             f"this is {sys.platform}")  # fmt: skip
        return requested
    if threads < 2 or path == STDIN or not can_fork() or not path.is_file():
        return 1
    if path.stat().st_size < MIN_BYTES:
        return 1
    return min(threads, os.cpu_count() or 1)


def write_pieces(
    stream: TextIO,
    predictor: Predictor,
    path: Path,
    output: str,
    pretokenized: bool,
    workers: int,
    threads: int,
    counted: Callable[[Iterable[Text]], Iterator[Text]] = iter,
) -> int:
    """Predict on the file ``path`` in ``workers`` processes and write the output to ``stream``
    in the file's order (module notes); returns the number of texts. ``counted`` wraps this
    process's texts (a progress bar)."""
    task = predictor.task
    size = content_size(path)
    chunk = max(1, -(-size // workers))
    spans = cut(path, chunk, predict_io.reads_conllu(path, task), most=workers)
    each = max(1, threads // max(len(spans), 1))
    stream.flush()  # a forked process must not inherit (and print again) unwritten output
    sys.stderr.flush()
    before = backend.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="birnn-predict-") as tmp:
        started: list[tuple[multiprocessing.process.BaseProcess, Connection, Path, Span]] = []
        try:
            context = multiprocessing.get_context("fork")
            for i, span in enumerate(spans[1:], 1):
                part = Path(tmp) / f"part{i:05d}"
                receive, send = context.Pipe(duplex=False)
                process: multiprocessing.process.BaseProcess = context.Process(
                    target=_piece,
                    args=(send, predictor, path, span, part, output, pretokenized, each),
                    daemon=True,
                )
                process.start()
                send.close()  # the child's end: EOF here once the child is gone
                started.append((process, receive, part, span))
            backend.set_num_threads(each)
            count = 0
            if spans:
                texts = predict_io.texts_of(path, task, pretokenized, spans[0])
                count = predict_io.write_predictions(stream, predictor, counted(texts), output,
                                                     flush=True)  # fmt: skip
            for process, receive, part, span in started:
                count += _collect(process, receive, part, span, path, stream)
        finally:
            backend.set_num_threads(before)
            for process, receive, _, _ in started:
                if process.is_alive():
                    process.terminate()
                process.join()
                receive.close()
    if count == 0:
        raise predict_io.empty(path, task)
    return count


def _piece(send: Connection, predictor: Predictor, path: Path, span: Span, part: Path,
           output: str, pretokenized: bool, threads: int) -> None:  # fmt: skip
    """A forked process: predict on ``span`` of ``path`` into ``part``; send back ("done",
    texts) or ("error", the exception)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops us
    try:
        backend.set_num_threads(threads)
        texts = predict_io.texts_of(path, predictor.task, pretokenized, span)
        with open(part, "w", encoding="utf-8", newline="") as f:
            reply: tuple[str, Any] = ("done", predict_io.write_predictions(f, predictor, texts,
                                                                           output))  # fmt: skip
    except Exception as err:  # every error goes back to the parent, as it is
        reply = ("error", err)
    try:
        send.send(reply)
    except Exception as err:  # an exception that cannot be pickled
        send.send(("error", RuntimeError(f"{type(reply[1]).__name__}: {reply[1]} ({err})")))
    send.close()


def _collect(process: multiprocessing.process.BaseProcess, receive: Connection, part: Path,
             span: Span, path: Path, stream: TextIO) -> int:  # fmt: skip
    """Wait for one piece's process; copy its output to ``stream``; its texts."""
    try:
        kind, value = receive.recv()
    except EOFError:
        process.join()
        raise OSError(
            f"{path}: the process predicting the piece from line {span.first_line} stopped "
            f"without finishing (exit status {process.exitcode})"
        ) from None
    if kind == "error":
        raise value
    with open(part, encoding="utf-8", newline="") as f:
        shutil.copyfileobj(f, stream)
    stream.flush()
    part.unlink()
    return int(value)
