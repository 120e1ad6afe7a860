"""``birnn train`` under an MPI launcher: its one option group, and the strategy it trains with.

``mpirun -n K birnn train ...`` starts K copies of the same command; each finds out from its
environment that a launcher started it (``launched_size``) and trains as one rank of K
(``DataParallel``), in a worker process it forks and supervises (``supervise``). Rank 0 does
what a single ``birnn train`` does to ``--out``; the others only compute. Started any other
way, ``birnn train`` is the one process it always was.
"""

from __future__ import annotations

import argparse
from typing import Any

from birnn.distributed import supervisor
from birnn.distributed.group import TIMEOUT, world
from birnn.distributed.launcher import launched_size
from birnn.train.parallel import Parallel, SingleProcess


def add_train_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("distributed (under mpirun -n K: one rank per process)")
    g.add_argument("--peer-timeout", type=_seconds, default=TIMEOUT, metavar="SECONDS",
                   help="a rank silent this long counts as gone: the others stop, naming "
                   "it")  # fmt: skip


def supervise(args: argparse.Namespace) -> int | None:
    """Under an MPI launcher, this process becomes the supervisor of a worker it forks
    (``supervisor.py``): the worker's exit status once it has ended; None in the worker, and
    in a process no launcher started (it trains itself)."""
    if launched_size() is None:
        return None
    return supervisor.supervise(f"birnn {args.command}: error: ", args.peer_timeout)


def parallel(args: argparse.Namespace) -> Parallel:
    """The training strategy: the ranks of the MPI job that started this process, or this
    process alone."""
    if launched_size() is None:
        return SingleProcess()
    from birnn.distributed.data_parallel import DataParallel

    return DataParallel(world(args.peer_timeout, f"birnn {args.command}: error: "))


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds > 0; received {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds > 0; received {text}")
    return value


def ranks(parallel: Parallel) -> list[dict[str, Any]] | None:
    """What run.json records of an MPI job's processes (None for one process): each rank's
    host and PID, so that a launcher's message about a dead PID names its rank."""
    from birnn.distributed.data_parallel import DataParallel

    if not isinstance(parallel, DataParallel):
        return None
    processes = parallel.group.processes
    return [{"rank": r, "host": host, "pid": pid} for r, (host, pid) in enumerate(processes)]
