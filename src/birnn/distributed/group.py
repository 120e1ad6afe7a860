"""The processes of an MPI job (``mpirun -n K ...``) as training sees them: rank, size, and the
three collectives it needs (a sum of arrays, a gather and a broadcast of Python values).

``world(timeout)`` starts MPI once per process (mpi4py, imported only here: ``import birnn``
never needs it) and a ``Watchdog`` (watchdog.py) that ends the process when a peer dies or
hangs: the collectives themselves block, as MPI's do, and stay as fast.

MPI is one per process, so the world is too: ``world()`` returns the same ``Group`` every time,
and ``report(line)`` (how the command line writes its error line) goes through its watchdog's
one-line rule once it exists. At a clean exit every rank meets the others (a barrier: a rank
that finished early waits, watched, for the others), stops its watchdog and finalises MPI; a
rank that reported a failure leaves without finalising (its peers are gone or going).
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import sys
from types import TracebackType
from typing import Any

from birnn.distributed.launcher import launched_size
from birnn.distributed.watchdog import Watchdog
from birnn.optim.base import check_hyper

TIMEOUT = 30.0  # seconds of silence after which a peer counts as gone (birnn train --peer-timeout)
PREFIX = "birnn: error: "  # how the line naming a silent peer starts
INSTALL_HINT = "pip install 'birnn[mpi]' (mpi4py and MPICH)"


class Group:
    """This process's place in the MPI world: ``rank`` of ``size``, and the collectives."""

    def __init__(self, timeout: float = TIMEOUT, prefix: str = PREFIX):
        timeout = check_hyper("timeout", timeout)
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds; received {timeout:g}")
        MPI = _import_mpi()
        if MPI.Query_thread() < MPI.THREAD_MULTIPLE:
            raise RuntimeError(
                "the MPI library does not support threads (MPI_THREAD_MULTIPLE), which the "
                f"watchdog needs; {INSTALL_HINT}"
            )
        self._mpi = MPI
        self.comm = MPI.COMM_WORLD.Dup()  # the training's collectives
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        # (host, PID) of every rank: what a launcher's message about a dead process names
        self.processes: list[tuple[str, int]] = self.comm.allgather((socket.gethostname(),
                                                                     os.getpid()))  # fmt: skip
        self.watchdog = Watchdog(MPI.COMM_WORLD.Dup(), timeout, prefix)
        self._closed = False
        # MPICH's launcher, told not to clean up after a failed process, sends SIGUSR1 to the
        # others, whose default action is to die without a word: the watchdog names the rank
        if signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL:
            signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        self._excepthook = sys.excepthook
        sys.excepthook = self._uncaught
        self.watchdog.start()
        atexit.register(self.close)

    def __repr__(self) -> str:
        return f"Group(rank={self.rank}, size={self.size})"

    @property
    def timeout(self) -> float:
        return self.watchdog.timeout

    def allreduce(self, buffer: Any) -> None:
        """Sum ``buffer`` (a contiguous NumPy array) over the ranks, in place."""
        self.comm.Allreduce(self._mpi.IN_PLACE, buffer, op=self._mpi.SUM)

    def allgather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (pickled), in rank order, on every rank."""
        return list(self.comm.allgather(value))

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (the others pass anything, e.g. None)."""
        return self.comm.bcast(value, root=0)

    def close(self) -> None:
        """A clean finish (see the module notes); called at exit, and safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self.watchdog.reported:
            return  # a failure: the peers are gone or going, a barrier would wait for nobody
        self.comm.Barrier()  # watched: a rank that dies now still ends the others
        self.watchdog.stop()
        self.comm.Barrier()  # nobody beats any more
        self.watchdog.comm.Free()
        self.comm.Free()
        if not self._mpi.Is_finalized():
            self._mpi.Finalize()

    def _uncaught(
        self, kind: type[BaseException], err: BaseException, tb: TracebackType | None
    ) -> None:
        """An exception nobody caught (a Python script): its traceback, then a FAIL to the
        others, which stop without a word, instead of waiting for this rank forever."""
        self._excepthook(kind, err, tb)
        self.watchdog.tell_peers(f"rank {self.rank}: {kind.__name__}: {err}")


_WORLD: Group | None = None


def world(timeout: float = TIMEOUT, prefix: str = PREFIX) -> Group:
    """This process's ``Group``, started on the first call (later calls may change the timeout
    and the prefix of the line that names a silent peer)."""
    global _WORLD
    if _WORLD is None:
        _WORLD = Group(timeout, prefix)
    else:
        _WORLD.watchdog.timeout = check_hyper("timeout", timeout)
        _WORLD.watchdog.prefix = prefix
    return _WORLD


def report(line: str) -> None:
    """Write an error line on stderr: at once in a single process; under MPI by the watchdog's
    rule (one line for the whole job, from the lowest rank that has one), which may end this
    process instead."""
    if _WORLD is None:
        print(line, file=sys.stderr)
    else:
        _WORLD.watchdog.report(line)


def _import_mpi() -> Any:
    try:
        import mpi4py
    except ImportError as err:
        size = launched_size()
        where = f"birnn runs as one of {size} MPI processes, but " if size else ""
        raise ImportError(f"{where}mpi4py is not installed: {INSTALL_HINT}") from err
    # before MPI starts: birnn finalises it itself (not after a failure, where that would hang)
    mpi4py.rc.finalize = False
    mpi4py.rc.thread_level = "multiple"
    from mpi4py import MPI

    return MPI
