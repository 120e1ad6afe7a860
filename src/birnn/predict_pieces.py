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

Where processes are not forked (``birnn._fork``: Linux only), one process predicts the file.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, TextIO

from birnn import _fork, backend, predict_io
from birnn.corpus.layout import cut
from birnn.data._files import STDIN, Span, content_size
from birnn.predictor import Predictor

MIN_BYTES = 1 << 20  # smaller files (as stored) are predicted in one process, unless told


def workers_for(path: Path, requested: int | None, threads: int) -> int:
    """How many processes predict ``path``: ``requested`` (``--workers``), else one per thread
    (as many as there are cores at most) for a file of at least MIN_BYTES, else one."""
    if requested is not None:
        if requested > 1 and path == STDIN:
            raise ValueError(f"--workers {requested} cuts a file: give --input a file, not -")
        if requested > 1:
            _fork.need_fork(f"--workers {requested}")
        return requested
    if path == STDIN or not path.is_file() or path.stat().st_size < MIN_BYTES:
        return 1
    return _fork.default_workers(threads)


def write_pieces(
    stream: TextIO,
    predictor: Predictor,
    path: Path,
    output: str,
    pretokenized: bool,
    workers: int,
    threads: int,
    add: Callable[[int], None] = lambda n: None,
) -> int:
    """Predict on the file ``path`` in ``workers`` processes and write the output to ``stream``
    in the file's order (module notes); returns the number of texts. ``add(n)``: n more texts
    predicted, in any of the processes (a progress bar)."""
    task = predictor.task
    size = content_size(path)
    spans = cut(path, max(1, -(-size // workers)), predict_io.reads_conllu(path, task), workers)
    each = max(1, threads // max(len(spans), 1))
    stream.flush()  # a forked process must not inherit (and print again) unwritten output
    sys.stderr.flush()
    before = backend.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="birnn-predict-") as tmp:
        jobs: list[_Job] = []
        try:
            for i, span in enumerate(spans[1:], 1):
                part = Path(tmp) / f"part{i:05d}"
                args = (predictor, path, span, part, output, pretokenized, each)
                jobs.append(_Job(path, span, part, *_fork.start(_piece, *args)))
            backend.set_num_threads(each)
            count = 0
            if spans:
                texts = predict_io.texts_of(path, task, pretokenized, spans[0])
                count = predict_io.write_predictions(
                    stream, predictor, texts, output, True, lambda n: _tally(jobs, n, add)
                )
            for job in jobs:  # in the file's order, reading every pipe while waiting
                while job.last is None:
                    wait([j.receive for j in jobs if j.last is None])
                    _tally(jobs, 0, add)
                count += job.collect(stream)
        finally:
            backend.set_num_threads(before)
            for job in jobs:
                _fork.stop(job.process, job.receive)
    if count == 0:
        raise predict_io.empty(path, task)
    return count


@dataclass
class _Job:
    """A forked process predicting one piece into ``part``, and the pipe it reports on:
    ("texts", n) as it goes, then ("done", texts) or ("error", the exception)."""

    source: Path
    span: Span
    part: Path
    process: BaseProcess
    receive: Connection
    last: tuple[str, Any] | None = None  # its ("done" | "error" | "died", ...), once received

    def pending(self, add: Callable[[int], None]) -> None:
        """Count the texts it reported since (``add``), without waiting; note its last message,
        or ("died", None) if it stopped without one."""
        while self.last is None and self.receive.poll():
            try:
                kind, value = self.receive.recv()
            except EOFError:
                self.last = ("died", None)
                return
            if kind == "texts":
                add(value)
            else:
                self.last = (kind, value)

    def collect(self, stream: TextIO) -> int:
        """Its output copied to ``stream``, once it finished; its texts (module notes)."""
        assert self.last is not None
        kind, value = self.last
        if kind == "died":
            what = f"{self.source}: the process predicting the piece from line"
            raise _fork.died(self.process, f"{what} {self.span.first_line}")
        if kind == "error":
            raise value
        with open(self.part, encoding="utf-8", newline="") as f:
            shutil.copyfileobj(f, stream)
        stream.flush()
        self.part.unlink()
        return int(value)


def _tally(jobs: list[_Job], texts: int, add: Callable[[int], None]) -> None:
    """This process's ``texts`` and what the others reported since (a chunk's end)."""
    add(texts)
    for job in jobs:
        job.pending(add)


def _piece(send: Connection, predictor: Predictor, path: Path, span: Span, part: Path,
           output: str, pretokenized: bool, threads: int) -> None:  # fmt: skip
    """A forked process: predict on ``span`` of ``path`` into ``part``, reporting on ``send``
    (``_Job``)."""
    try:
        backend.set_num_threads(threads)
        texts = predict_io.texts_of(path, predictor.task, pretokenized, span)
        with open(part, "w", encoding="utf-8", newline="") as f:
            report = lambda n: send.send(("texts", n))  # noqa: E731 - one line, one use
            done = predict_io.write_predictions(f, predictor, texts, output, progress=report)
        message: tuple[str, Any] = ("done", done)
    except Exception as err:  # every error goes back to the parent, as it is
        message = ("error", err)
    _fork.reply(send, message)
