"""Predicting on a corpus: many files, or a Dask bag of texts; in this process or on a Dask
cluster (``dask.distributed``, an optional extra: ``pip install 'birnn[dask]'``).

    birnn predict --model RUN --input 'corpus/*.txt' --out-dir tagged/ [--dask ADDRESS]

    birnn.predict_corpus(RUN, ["corpus/a.txt", "corpus/b.txt"], "tagged", client=client)
        -> [Path("tagged/a.txt"), Path("tagged/b.txt")]
    birnn.predict_corpus(RUN, bag)         -> a Dask bag of Predictions, one per text of ``bag``

Files: each input file (or piece of a large one: ``layout.py``) is one task; each output file
holds exactly what ``birnn predict --input FILE --output FORMAT`` prints, at the input's place
in the layout. A task writes under a temporary name and renames, so an output is complete or
absent, never half written. Dask runs a task again when it fails (``retries``) or when its
worker dies (the scheduler gives it to another). Each worker loads the model once
(``work.py``). An output that already exists is refused before anything runs.

Without a ``client`` the same tasks run here: shared among ``workers`` processes, this one and
forked ones (Linux; ``birnn._fork``), in turns in the inputs' order, each with ``threads`` divided
among them; the outputs are joined in the inputs' order once all ran, up to the first task that
failed, whose error is raised, and the outputs of later files are removed: what one process
leaves. One worker runs them one after the other.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from birnn import _fork
from birnn._checks import describe
from birnn.corpus import work
from birnn.corpus.layout import CHUNK_BYTES, Piece, pieces, targets
from birnn.data._files import as_path, existing_file
from birnn.predict_io import check_output, reads_conllu
from birnn.tasks.task import Task

RETRIES = 2  # more runs of a task that raised (a worker that dies does not count)


def predict_corpus(
    model: str | Path,
    corpus: Any,
    out_dir: str | Path | None = None,
    *,
    output: str = "tsv",
    pretokenized: bool = False,
    client: Any = None,
    threads: int = 1,
    base: str | Path | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    workers: int = 1,
) -> Any:
    """Predict with the model at ``model`` (a checkpoint or a run's ``--out``) on ``corpus``.

    ``corpus`` is a list of file paths, written to ``out_dir`` (the paths relative to ``base``,
    by default the inputs' common directory): returns the output paths, in the inputs' order.
    Or it is a Dask bag of texts (strings, or token lists with ``pretokenized``): returns the
    bag of their Predictions (lazy; ``out_dir`` must be None). ``client``: a
    ``distributed.Client`` to run the file tasks on (None: here); ``threads``: of each task
    (divided among ``workers``); files larger than ``chunk_bytes`` are cut into pieces;
    ``workers``: without a ``client``, the processes that share the tasks (module notes).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1; received {workers!r}")
    if workers > 1 and client is not None:
        raise ValueError("workers shares the tasks among processes here; with a client, the "
                         "cluster's workers run them")  # fmt: skip
    if workers > 1:
        _fork.need_fork(f"workers={workers}")
    ref = work.model_ref(model, max(1, threads // workers))
    if _is_bag(corpus):
        if out_dir is not None:
            raise ValueError("a bag of texts gives a bag of predictions: out_dir must be None")
        return corpus.map_partitions(work.predict_partition, ref, pretokenized)
    if isinstance(corpus, (str, Path)) or not isinstance(corpus, Sequence) or not corpus:
        raise TypeError(
            f"corpus must be a non-empty list of file paths or a Dask bag; received "
            f"{describe(corpus)}"
        )
    if out_dir is None:
        raise ValueError("out_dir is needed for a list of files (where the outputs go)")
    if isinstance(chunk_bytes, bool) or not isinstance(chunk_bytes, int) or chunk_bytes < 1:
        raise ValueError(f"chunk_bytes must be an integer >= 1; received {chunk_bytes!r}")
    task = work.predictor(ref).task  # loaded by model_ref
    check_output(task, output)
    sources = [existing_file(path) for path in corpus]
    outs = targets(sources, as_path(out_dir), None if base is None else as_path(base))
    _refuse_existing(outs)
    tasks = [pieces(s, t, chunk_bytes, reads_conllu(s, task)) for s, t in zip(sources, outs)]
    try:
        if client is None and workers > 1:
            _in_processes(tasks, ref, task, output, pretokenized, workers)
        elif client is None:
            _here(tasks, ref, task, output, pretokenized)
        else:
            _on_cluster(client, tasks, ref, task, output, pretokenized)
    finally:
        work.remove_leftovers(p for file in tasks for p in file)
    return outs


def _is_bag(value: Any) -> bool:
    bag = sys.modules.get("dask.bag")  # not imported: it cannot be a bag
    return bag is not None and isinstance(value, bag.Bag)


def _refuse_existing(outs: list[Path]) -> None:
    existing = [p for p in outs if p.exists()]
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise ValueError(
            f"{existing[0]} already exists{more}: outputs are never overwritten; remove them "
            "or choose another output directory"
        )


def _here(tasks: list[list[Piece]], ref: work.ModelRef, task: Task, output: str,
          pretokenized: bool) -> None:  # fmt: skip
    for file in tasks:
        texts = sum(work.predict_piece(ref, p, output, pretokenized) for p in file)
        work.join(file, texts, task)


def _in_processes(tasks: list[list[Piece]], ref: work.ModelRef, task: Task, output: str,
                  pretokenized: bool, workers: int) -> None:  # fmt: skip
    """The pieces of all files in turns among ``workers`` processes (this one takes pieces 0,
    workers, 2 * workers, ...); then each file joined, in the inputs' order, up to the first
    piece that failed: its error is raised."""
    flat = [p for file in tasks for p in file]
    jobs = [_fork.start(_share, ref, flat, k, workers, output, pretokenized)
            for k in range(1, min(workers, len(flat)))]  # fmt: skip
    try:
        counts, failed = _run_share(ref, flat, 0, workers, output, pretokenized)
        for process, receive in jobs:
            try:
                found, errors = receive.recv()
            except EOFError:
                raise _fork.died(process, "a process predicting the corpus") from None
            counts |= found
            failed |= errors
    finally:
        for process, receive in jobs:
            _fork.stop(process, receive)
    first = 0
    for at, file in enumerate(tasks):  # a piece that did not run follows one that failed
        indices = range(first, first + len(file))
        first += len(file)
        error = next((failed[i] for i in indices if i in failed), None)
        if error is not None:  # what one process leaves: the files before this one
            for later in tasks[at + 1 :]:
                if later[0].count == 1:  # written whole by its task, in this run
                    later[0].target.unlink(missing_ok=True)
            raise error
        work.join(file, sum(counts[i] for i in indices), task)


def _share(send: Any, ref: work.ModelRef, flat: list[Piece], start: int, step: int, output: str,
           pretokenized: bool) -> None:  # fmt: skip
    """A forked process's turns: sends back (texts of each piece, the error that stopped it)."""
    _fork.reply(send, _run_share(ref, flat, start, step, output, pretokenized))


def _run_share(ref: work.ModelRef, flat: list[Piece], start: int, step: int, output: str,
               pretokenized: bool) -> tuple[dict[int, int], dict[int, Exception]]:  # fmt: skip
    """Pieces ``start``, ``start + step``, ... of ``flat``, up to the first that fails."""
    counts: dict[int, int] = {}
    for i in range(start, len(flat), step):
        try:
            counts[i] = work.predict_piece(ref, flat[i], output, pretokenized)
        except Exception as err:  # raised in the inputs' order, by the parent
            return counts, {i: err}
    return counts, {}


def _on_cluster(client: Any, tasks: list[list[Piece]], ref: work.ModelRef, task: Task,
                output: str, pretokenized: bool) -> None:  # fmt: skip
    from distributed import KilledWorker

    futures = [[client.submit(work.predict_piece, ref, p, output, pretokenized, pure=False,
                              retries=RETRIES) for p in file] for file in tasks]  # fmt: skip
    try:
        for file, done in zip(tasks, futures):  # in the inputs' order, as they complete
            work.join(file, sum(f.result() for f in done), task)
    except KilledWorker as err:
        raise OSError(f"the Dask workers died running a task ({err}); is the model too big "
                      "for a worker's memory?") from err  # fmt: skip
    finally:
        client.cancel([f for done in futures for f in done])
