"""Forked processes that report back through a pipe: what ``birnn predict`` of a file in pieces
(``predict_pieces.py``) and a corpus predicted here (``birnn.corpus``) share.

Fork, not spawn: the child starts with the parent's loaded model and imports, in milliseconds.
It is taken only where it is the platform's own way to start processes (Linux): elsewhere
(macOS's system libraries, Windows) the work stays in one process.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any


def can_fork() -> bool:
    """Whether processes are started by forking here (Linux)."""
    return sys.platform.startswith("linux")


def default_workers(threads: int) -> int:
    """The processes to share work among when the user did not say: one per thread, as many as
    there are cores at most; one where processes are not forked."""
    return min(threads, os.cpu_count() or 1) if can_fork() else 1


def need_fork(what: str) -> None:
    """Refuse ``what`` (several processes asked for) where processes are not forked."""
    if not can_fork():
        raise ValueError(f"{what} needs Linux (processes started by fork); this is {sys.platform}")


def start(target: Callable[..., None], *args: Any) -> tuple[BaseProcess, Connection]:
    """A forked process running ``target(send, *args)``, and the end of the pipe that reads
    what it sends (EOF once it is gone)."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(target, send, *args), daemon=True)
    process.start()
    send.close()  # the child's end; kept open here, it would hide the child's death
    return process, receive


def _child(target: Callable[..., None], send: Connection, *args: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops us
    target(send, *args)
    send.close()


def reply(send: Connection, message: tuple[Any, ...]) -> None:
    """Send ``message``; an exception in it that cannot be pickled goes as a RuntimeError with
    its type and text."""
    try:
        send.send(message)
    except Exception as err:  # pickling can raise anything
        send.send(tuple(_plain(m, err) for m in message))


def _plain(value: Any, err: Exception) -> Any:
    if isinstance(value, BaseException):
        return RuntimeError(f"{type(value).__name__}: {value} ({err})")
    if isinstance(value, dict):
        return {k: _plain(v, err) for k, v in value.items()}
    return value


def stop(process: BaseProcess, receive: Connection) -> None:
    """End ``process`` (if it still runs) and close its pipe."""
    if process.is_alive():
        process.terminate()
    process.join()
    receive.close()


def died(process: BaseProcess, what: str) -> OSError:
    """The error for a process that stopped without its last message."""
    process.join()
    return OSError(f"{what} stopped without finishing (exit status {process.exitcode})")
