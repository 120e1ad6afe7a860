"""How the ranks of an MPI job notice that one of them died or hung, and who says so.

A blocking MPI collective (``Allreduce``, ``Bcast``) never returns when a peer is gone, and a
thread blocked inside one cannot be interrupted. So each rank runs a ``Watchdog`` thread beside
its training, with messages of its own on a private communicator (a duplicate of the world, so
they never match a collective of the training):

    BEAT   (tag 1, empty)     "I am alive": sent to every peer every ``interval`` seconds
    FAIL   (tag 2, one line)  "I am stopping with this error": sent once by a rank that stops

The thread keeps, for each peer, when it last heard anything from it. It ends its process
(``os._exit(EXIT_FAILED)``: the blocked main thread cannot be unwound) when

* a peer has been *silent* for ``timeout`` seconds: killed, stopped (SIGSTOP), its machine or
  network gone. It reports ``rank p of K stopped answering: ...``;
* a peer sent FAIL: that peer reports its own error; this rank stops without a word;
* this rank was sent SIGTERM (``kill PID``, a batch system ending the job): it reports
  ``rank r of K was terminated (SIGTERM)``. The signal's C-level handler writes to a pipe the
  thread watches (``signal.set_wakeup_fd``), so it is seen even while the main thread is
  blocked in a collective, where a Python handler would never run.

A rank killed outright (SIGKILL: ``kill -9``, the kernel's out-of-memory killer) can say
nothing: the peers' watchdogs name it after ``timeout``, unless the launcher ends the job first
(MPICH's ``mpirun`` does, at once); ``birnn train``'s supervisor process names it then
(supervisor.py). A worker whose supervisor is gone ends itself.

The report rule keeps it to one line for the whole job, however many ranks see the failure.
A rank that has something to report (its own error, or a silent peer) writes it unless a
lower-numbered rank reports too: rank 0 writes at once; rank r > 0 first waits up to
``GRACE`` seconds and stops without a word if a FAIL from a lower rank arrives meanwhile (that
rank saw the same failure, or the same bad input). Only then does a rank write its line and
send FAIL to the others, in that order: a launcher that kills the whole job as soon as one
process exits (MPICH's and Open MPI's do) must not stop the writer before it has written.

A live rank always beats, whatever its main thread does (NumPy, BLAS and MPI release the GIL),
so ``timeout`` only has to exceed a network hiccup, not the longest step or checkpoint.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time
from typing import Any

from birnn.distributed.launcher import EXIT_FAILED
from birnn.distributed.supervisor import orphaned

INTERVAL = 0.5  # seconds between heartbeats (and between looks at what arrived)
GRACE = 2.0  # seconds a rank > 0 waits for a lower rank's FAIL before it reports
BEAT, FAIL = 1, 2  # message tags


class Watchdog:
    """Heartbeats to and from every peer of ``comm`` (an mpi4py communicator of its own)."""

    def __init__(self, comm: Any, timeout: float, prefix: str, interval: float = INTERVAL):
        from mpi4py import MPI

        self._mpi = MPI
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.peers = [p for p in range(self.size) if p != self.rank]
        self.timeout = timeout
        self.prefix = prefix  # starts the line about a silent peer ("birnn train: error: ")
        self.interval = interval
        now = time.monotonic()
        self._heard = {p: now for p in self.peers}
        self._sends: list[tuple[Any, bytes]] = []  # pending requests and their buffers
        self._sending = threading.Lock()  # both threads send (beats; a FAIL)
        self._lock = threading.Lock()  # one report at a time (main thread or watchdog)
        self._reporting = False  # a report is under way: FAILs from higher ranks are its echo
        self.reported = False  # this rank reported a failure: no MPI_Finalize
        self._stop = threading.Event()
        self._signals = _watch_sigterm()  # the read end of the wakeup pipe, or None
        self._thread = threading.Thread(target=self._run, name="birnn-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """End the thread (a clean finish); pending heartbeats are completed or cancelled."""
        self._stop.set()
        if self._signals is not None:
            os.write(self._signals[1], b"\0")  # wakes the thread's wait at once
        self._thread.join()
        if self._signals is not None and threading.current_thread() is threading.main_thread():
            _unwatch_sigterm(self._signals)
            self._signals = None
        self._flush(1.0)
        for request, _ in self._sends:
            request.Free()  # a beat nobody took in: let MPI drop it
        self._sends.clear()

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._watch()
        except Exception as err:  # an MPI error here: without a watchdog the job could hang
            self.report(f"{self.prefix}the watchdog of rank {self.rank} failed: {err}")
            _exit()

    def _watch(self) -> None:
        while not self._stop.is_set():
            if orphaned():
                _exit()  # the launcher ended this rank's supervisor: the job is over
            self._send(BEAT, b"")
            self._receive()
            silent = self._silent()
            if silent is not None and not self._reporting:
                waited = time.monotonic() - self._heard[silent]
                self.report(f"{self.prefix}rank {silent} of {self.size} stopped answering: "
                            f"nothing heard from it for {waited:.0f} s (killed, stopped or "
                            "cut off)")  # fmt: skip
                _exit()
            if self._terminated():
                self.report(f"{self.prefix}rank {self.rank} of {self.size} was terminated "
                            "(SIGTERM)")  # fmt: skip
                _exit()

    def _terminated(self) -> bool:
        """Wait ``interval`` (or until ``stop``); whether SIGTERM arrived meanwhile."""
        if self._signals is None:
            self._stop.wait(self.interval)
            return False
        ready, _, _ = select.select([self._signals[0]], [], [], self.interval)
        if not ready:
            return False
        received = os.read(self._signals[0], 64)  # one byte per signal: its number
        return signal.SIGTERM in received and not self._stop.is_set()

    def _send(self, tag: int, payload: bytes) -> None:
        with self._sending:
            self._sends = [(r, b) for r, b in self._sends if not r.Test()]
            if tag == BEAT and len(self._sends) > 4 * len(self.peers):
                return  # a peer takes nothing in: no use piling up more beats for it
            for peer in self.peers:
                request = self.comm.Isend([payload, self._mpi.BYTE], dest=peer, tag=tag)
                self._sends.append((request, payload))

    def _flush(self, seconds: float) -> None:
        """Wait up to ``seconds`` for the messages sent to be on their way."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self._sending:
                self._sends = [(r, b) for r, b in self._sends if not r.Test()]
                if not self._sends:
                    return
            time.sleep(0.01)

    def _receive(self) -> None:
        status = self._mpi.Status()
        while self.comm.Iprobe(source=self._mpi.ANY_SOURCE, tag=self._mpi.ANY_TAG, status=status):
            source, tag = status.Get_source(), status.Get_tag()
            data = bytearray(status.Get_count(self._mpi.BYTE))
            self.comm.Recv([data, self._mpi.BYTE], source=source, tag=tag)
            self._heard[source] = time.monotonic()
            if tag == FAIL and (not self._reporting or source < self.rank):
                _exit()  # that rank reports (see the module notes)

    def _silent(self) -> int | None:
        now = time.monotonic()
        late = [p for p in self.peers if now - self._heard[p] > self.timeout]
        return min(late) if late else None

    # -- reporting ----------------------------------------------------------------------------

    def report(self, line: str) -> None:
        """Write ``line`` on stderr by the rule of the module notes, then tell the peers.

        Called by the main thread for its own error, or by the watchdog for a silent peer. It
        may end the process instead (a lower rank reports); it returns once the line is written
        and the FAILs are sent (or a second has passed).
        """
        with self._lock:
            if self._reporting:
                return
            self._reporting = True
        if self.rank > 0:
            deadline = time.monotonic() + GRACE
            while time.monotonic() < deadline:
                if threading.current_thread() is self._thread:
                    self._receive()  # the thread itself is reporting: it must look
                time.sleep(0.05)
        sys.stdout.flush()
        print(line, file=sys.stderr, flush=True)
        self.tell_peers(line)

    def tell_peers(self, line: str) -> None:
        """Send FAIL (``line``) to every peer, without writing anything; they stop quietly."""
        self._reporting = self.reported = True
        self._send(FAIL, line.encode("utf-8", "replace"))
        self._flush(1.0)


def _watch_sigterm() -> tuple[int, int] | None:
    """A pipe the C-level signal handler writes each signal's number to (``set_wakeup_fd``),
    with SIGTERM handled so that it does not end the process at once; None where this
    process already handles SIGTERM or a wakeup fd (a program of its own), or off the main
    thread (where neither can be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return None
    read, write = os.pipe()
    os.set_blocking(write, False)  # the handler must never block
    previous = signal.set_wakeup_fd(write)
    if previous != -1:  # not ours to replace
        signal.set_wakeup_fd(previous)
        os.close(read)
        os.close(write)
        return None
    signal.signal(signal.SIGTERM, lambda number, frame: None)  # the watchdog acts on it
    return read, write


def _unwatch_sigterm(pipe: tuple[int, int]) -> None:
    """Undo ``_watch_sigterm`` (a clean finish, on the main thread)."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for fd in pipe:
        os.close(fd)


def _exit() -> None:
    """End the process at once, from any thread (a thread blocked in MPI cannot be unwound)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_FAILED)
