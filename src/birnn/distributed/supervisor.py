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

A worker that stays stopped (SIGSTOP: hung, as far as its peers can tell) longer than the peer
timeout plus ``GRACE`` is killed, and the supervisor exits with status 2 silently: by then the
peers' watchdogs have named this rank and stopped, and MPICH's launcher does not always end
the stopped rank's processes itself (about 1 job in 4 here stayed open without this).
"""

from __future__ import annotations

import os
import signal
import sys
import time

from birnn.distributed.launcher import EXIT_FAILED, launched_rank, launched_size

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
GRACE = 5.0  # seconds beyond the peer timeout a stopped worker is given before it is killed
POLL = 0.2  # seconds between looks at a stopped worker
HOW = {signal.SIGKILL: " (kill -9, or the kernel's out-of-memory killer)"}
_supervisor: int | None = None  # in a worker: its supervisor's PID


def supervise(prefix: str, peer_timeout: float) -> int | None:
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
    status = _wait(worker, peer_timeout + GRACE)
    if status is None:  # stopped past the peers' patience: they have named this rank
        os.kill(worker, signal.SIGKILL)
        os.waitpid(worker, 0)
        return EXIT_FAILED
    if not os.WIFSIGNALED(status):
        return os.WEXITSTATUS(status)
    number = signal.Signals(os.WTERMSIG(status))
    print(f"{prefix}rank {launched_rank()} of {launched_size()} died of {number.name}"
          f"{HOW.get(number, '')}", file=sys.stderr, flush=True)  # fmt: skip
    return EXIT_FAILED


def _wait(worker: int, patience: float) -> int | None:
    """The worker's wait status once it has ended, or None once it has stayed stopped for
    ``patience`` seconds. (os.waitpid is retried after each forwarded signal, PEP 475.)"""
    while True:
        _, status = os.waitpid(worker, os.WUNTRACED)
        if not os.WIFSTOPPED(status):
            return status
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            time.sleep(POLL)
            pid, status = os.waitpid(worker, os.WNOHANG | os.WCONTINUED | os.WUNTRACED)
            if pid and not os.WIFSTOPPED(status) and not os.WIFCONTINUED(status):
                return status  # ended (a stopped process can still be killed)
            if pid and os.WIFCONTINUED(status):
                break  # running again: wait as before
        else:
            return None


def orphaned() -> bool:
    """Whether this process is a worker whose supervisor has gone."""
    return _supervisor is not None and os.getppid() != _supervisor
