"""What the MPI tests share: finding mpiexec, running birnn under it, and one tiny training run
that a test calls in-process (one process) and runs under ``mpiexec -n K`` as a script:

    mpiexec -n 2 python tests/distributed_support.py OUT EPOCHS BATCH DTYPE HEAD

trains a small BiLSTM tagger (characters on, dropout off) with ``Trainer`` and
``DataParallel``; rank 0 writes the parameters to OUT/params.npz, every rank the SHA-256 of its
own parameters to OUT/rank-R.sha256.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]  # as a script under mpiexec too

import birnn  # noqa: E402
from birnn.tasks.base import batches  # noqa: E402
from birnn.tasks.registry import TASKS  # noqa: E402
from birnn.train.parallel import Parallel, SingleProcess  # noqa: E402
from cli_support import pos_sentences  # noqa: E402


def mpiexec() -> str | None:
    """The launcher of the MPI library mpi4py uses: the venv's (the mpich wheel), else PATH's."""
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def _why_no_mpi() -> str | None:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "needs mpi4py and an MPI library: pip install '.[mpi]'"
    if mpiexec() is None:
        return "needs mpiexec (pip install mpich)"
    return None


requires_mpi = pytest.mark.skipif(_why_no_mpi() is not None, reason=str(_why_no_mpi()))


def environment() -> dict[str, str]:
    """This test process's environment, with birnn's sources importable by the ranks."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent / "src"), env.get("PYTHONPATH", "")])
    return env


def launch(ranks: int, args: Sequence[str], *, launcher: Sequence[str] = ()) -> subprocess.Popen:
    """``mpiexec -n ranks python args...``, its stdout and stderr captured."""
    command = [str(mpiexec()), *launcher, "-n", str(ranks), sys.executable, *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=environment())  # fmt: skip


def run(ranks: int, args: Sequence[str], timeout: float = 240, **kw: Any) -> tuple[int, str, str]:
    """``launch`` to the end: (exit status, stdout, stderr)."""
    process = launch(ranks, args, **kw)
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def birnn_train(ranks: int, options: str, **kw: Any) -> tuple[int, str, str]:
    return run(ranks, ["-m", "birnn.cli", "train", *options.split()], **kw)


def parent_pid(pid: int) -> int:
    """The PID of process ``pid``'s parent (/proc/PID/stat's fourth field)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def rank_pid(rank: int, marker: str, timeout: float = 60) -> int:
    """The PID of rank ``rank``'s worker (the process that trains, forked by the one the
    launcher started) in the job whose command line contains ``marker``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ranks: dict[int, int] = {}  # the processes of that rank: PID -> parent's PID
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                environ = (entry / "environ").read_bytes().split(b"\0")
                parent = parent_pid(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
            if marker.encode() in cmdline and f"PMI_RANK={rank}".encode() in environ:
                ranks[int(entry.name)] = parent
        workers = [pid for pid, parent in ranks.items() if parent in ranks]
        if workers:
            return workers[0]
        time.sleep(0.05)
    raise AssertionError(f"no worker of rank {rank} of a job with {marker!r} in its command line")


# -- the tiny training run ------------------------------------------------------------------------


def train_tiny(parallel: Parallel, out: Path, epochs: int, batch_size: int, dtype: Any,
               head: str = "softmax", sentences: int = 16,
               initial: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:  # fmt: skip
    """A small tagger trained with ``parallel``; returns its parameters (copies), and puts
    those it started from in ``initial``."""
    task = TASKS["tag"]
    records = pos_sentences(sentences, seed=0)
    vocabs = task.build_vocabs(records, 1, False, True)
    encoder = birnn.EncoderConfig(vocab_size=len(vocabs.words),
                                  char_vocab_size=vocabs.char_vocab_size, word_dim=6, char_dim=4,
                                  char_hidden=3, hidden=5, layers=2, dropout=0.0)  # fmt: skip
    config = birnn.TaggerConfig(encoder, num_tags=len(vocabs.labels), head=head)
    model = birnn.Tagger(config, np.random.default_rng(0), dtype=dtype)
    if initial is not None:
        initial.update({name: p.copy() for name, p in model.params.items()})
    from birnn.pipeline import TaskModel

    tm = TaskModel(task, model, vocabs, birnn.tasks.base.FormTable(vocabs.chars), {})
    data = tm.encode(records)
    train = birnn.TrainConfig(epochs=epochs, batch_size=batch_size, lr=0.01, clip=1.0,
                              patience=0, seed=3)  # fmt: skip

    def train_batches(rng: np.random.Generator) -> list[Any]:
        return batches(data, tm.forms, batch_size, rng, True, parallel.shard)

    trainer = birnn.Trainer(model, train, out, progress=False, parallel=parallel)
    trainer.fit(train_batches)
    return {name: p.copy() for name, p in model.params.items()}


def digest(params: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(params):
        h.update(name.encode())
        h.update(np.ascontiguousarray(params[name]).tobytes())
    return h.hexdigest()


def main(argv: Sequence[str]) -> None:
    from birnn.distributed import DataParallel, world

    out, epochs, batch_size, dtype, head, *sentences = argv
    parallel = DataParallel(world())
    params = train_tiny(
        parallel,
        Path(out),
        int(epochs),
        int(batch_size),
        np.dtype(dtype),
        head,
        int(sentences[0]) if sentences else 16,
    )
    Path(out, f"rank-{parallel.rank}.sha256").write_text(digest(params))
    if parallel.writes:
        np.savez(Path(out, "params.npz"), **params)


if __name__ == "__main__":
    main(sys.argv[1:])


__all__ = ["SingleProcess"]
