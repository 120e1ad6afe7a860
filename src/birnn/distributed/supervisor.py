"""Under an MPI launcher, ``birnn train`` is two processes per rank: the one the launcher
started, which only supervises, and the worker it forks, which trains.

Why: a worker killed outright (SIGKILL: ``kill -9``, the kernel's out-of-memory killer) can say
nothing, and MPICH's launcher kills every other process of the job the moment one dies, too
fast for any peer to notice. The supervisor is still alive: it writes the one line naming the
rank, then exits with status 2 (and the launcher ends the job)::

    birnn train: error: rank 1 of 2 died of SIGKILL (kill -9, or the kernel's out-of-memory killer)

A worker that ends any other way (done, or a failure it reported itself: watchdog.py) gives its
exit status to the supervisor, which exits with it, silently. Signals sent to the supervisor
(SIGINT from the launcher on Ctrl-C, SIGTERM, SIGHUP, SIGQUIT) are passed on to the worker,
which handles them as a single process would; SIGUSR1 (MPICH's notice that a peer died) is
ignored, as the worker ignores it (group.py). A worker whose supervisor is gone (a launcher
that killed only the process it started) ends itself: ``orphaned()``, checked by the watchdog.
"""

from __future__ import annotations

import os
import signal
import sys

from birnn.distributed.launcher import EXIT_FAILED, launched_rank, launched_size

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
HOW = {signal.SIGKILL: " (kill -9, or the kernel's out-of-memory killer)"}
_supervisor: int | None = None  # in a worker: its supervisor's PID


def supervise(prefix: str) -> int | None:
    """Fork the worker. In the worker: None (go on). In the supervisor: once the worker has
    ended, its exit status, after the line naming the rank if a signal killed it."""
    global _supervisor
    parent = os.getpid()
    worker = os.fork()
    if worker == 0:
        _supervisor = parent
        return None
    for number in FORWARDED:
        signal.signal(number, lambda received, frame: os.kill(worker, received))
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    _, status = os.waitpid(worker, 0)  # retried after each forwarded signal (PEP 475)
    if not os.WIFSIGNALED(status):
        return os.WEXITSTATUS(status)
    number = signal.Signals(os.WTERMSIG(status))
    print(f"{prefix}rank {launched_rank()} of {launched_size()} died of {number.name}"
          f"{HOW.get(number, '')}", file=sys.stderr, flush=True)  # fmt: skip
    return EXIT_FAILED


def orphaned() -> bool:
    """Whether this process is a worker whose supervisor has gone."""
    return _supervisor is not None and os.getppid() != _supervisor
