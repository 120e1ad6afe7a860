"""A training run's output directory (``--out``): what is in it, who may write it, and how.

    best/  last/      checkpoints (``birnn.train.checkpoint``), written by the trainer
    log.jsonl         one line per epoch (``birnn.train.log``)
    results.json      dev and test metrics of the model in best/ (or last/), at the end
    run.json          every invocation that wrote here: command line, birnn version, data
                      files with their SHA-256
    .lock, .owner     the lock held by the one process writing here, and its PID

Rules (the command line follows them; ``Trainer`` alone only replaces the checkpoints late):

* one writer at a time: ``lock(out)`` takes an exclusive lock (``filelock``) or raises
  ``RunLocked`` naming the holder's PID;
* a run already there is never replaced by accident: ``check_out(out, resume, overwrite)``
  refuses unless ``overwrite``; and even then its checkpoints and log stay until the new run's first
  checkpoint is complete (the trainer replaces them only then);
* ``results.json`` describes the model that is there: ``discard_results`` removes it before a
  run changes best/ or last/, ``write_json`` writes the new one at the end by a rename;
* a run that stops before its first checkpoint (an error, Ctrl-C) leaves ``out`` as it was:
  ``run.json`` and ``results.json`` change only when the trainer is about to write
  (``Trainer.fit``'s ``before_writing``).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from birnn._atomic import replacing
from birnn.train.trainer import BEST, LAST, LOG

RESULTS, RUN, LOCK, OWNER = "results.json", "run.json", ".lock", ".owner"
RUN_FILES = (BEST, LAST, LOG, RESULTS)  # what shows that a run wrote to a directory


class RunLocked(ValueError):
    """Another process is writing to the same output directory."""


def holds_run(out: Path) -> list[str]:
    """The names of a run's files in ``out`` (empty: no run there)."""
    return [name for name in RUN_FILES if (out / name).exists()]


def check_out(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse an ``--out`` that is a file, or holds a run that this one would replace by
    accident; ``ValueError`` naming what to do."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out must be a directory, not a file: {out}")
    if resume:
        if not (out / LAST).exists() and not (out / f".{LAST}.old").exists():
            raise ValueError(f"--resume: there is no run to continue in {out} (no {LAST}/)")
        return
    if overwrite:
        return
    found = holds_run(out)
    if found:
        raise ValueError(
            f"--out {out} already holds a run ({', '.join(found)}): --resume continues it, "
            "--overwrite replaces it, or choose another --out"
        )


@contextlib.contextmanager
def lock(out: Path) -> Iterator[None]:
    """Hold the exclusive lock on ``out`` (created if needed); ``RunLocked`` if another holds it.

    The holder writes its PID into ``.owner`` (not into the lock file, which some versions of
    filelock truncate when they try it), and empties it when it lets go, so what a finished run
    leaves behind is always the same two empty files.
    """
    out.mkdir(parents=True, exist_ok=True)
    owner = out / OWNER
    held = FileLock(str(out / LOCK), timeout=0)
    try:
        held.acquire()
    except Timeout:
        holder = owner.read_text(encoding="utf-8").strip() if owner.exists() else ""
        who = f"process {holder}" if holder else "another process"
        raise RunLocked(
            f"--out {out} is in use by {who} (another birnn train); wait for it to finish "
            "or choose another --out"
        ) from None
    try:
        owner.write_text(f"{os.getpid()}\n", encoding="utf-8")
        yield
    finally:
        with contextlib.suppress(OSError):
            owner.write_text("", encoding="utf-8")
        held.release()


def discard_results(out: Path) -> None:
    """Remove ``results.json``: the run about to start changes the model it describes."""
    with contextlib.suppress(FileNotFoundError):
        (out / RESULTS).unlink()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_entry(argv: Sequence[str], data: dict[str, list[Path]]) -> dict[str, Any]:
    """What ``run.json`` records of this invocation: the command line, versions, and the data
    files (``data``: split -> paths) by absolute path and SHA-256, taken now, as they are read."""
    from birnn import __version__  # the package's, not a copy

    return {
        "command": list(argv),
        "cwd": os.getcwd(),
        "birnn": __version__,
        "python": sys.version.split()[0],
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "data": {
            split: [{"path": str(p.resolve()), "sha256": sha256(p)} for p in paths]
            for split, paths in data.items()
        },
    }


def record_run(out: Path, entry: dict[str, Any], fresh: bool) -> None:
    """Add ``entry`` (``run_entry``) to ``run.json``; a fresh run starts the list anew."""
    runs: list[Any] = []
    if not fresh and (out / RUN).is_file():
        try:
            runs = json.loads((out / RUN).read_text(encoding="utf-8")).get("runs", [])
        except (ValueError, AttributeError):
            runs = []  # an unreadable record is replaced rather than trusted
    write_json(out / RUN, {"runs": [*runs, entry]})


def write_json(path: Path, value: Any) -> None:
    """Atomically: a temporary file (flushed to disk), then a rename."""
    with replacing(path) as f:
        f.write(json.dumps(value, indent=2, sort_keys=True) + "\n")
