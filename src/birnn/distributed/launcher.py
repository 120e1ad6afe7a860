"""What an MPI launcher (``mpirun``, ``mpiexec``) tells the processes it starts, through their
environment: how many there are and which one each is; and the exit status a rank stopped by a
failure ends with."""

from __future__ import annotations

import os

# the variables of the launchers in use: MPICH (and Intel MPI), Open MPI, MVAPICH
SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK")
EXIT_FAILED = 2  # the exit status of a rank stopped by a failure (birnn's status for errors)


def launched_size() -> int | None:
    """The number of processes when this one was started by an MPI launcher, else None."""
    return _from_launcher(SIZE_VARIABLES)


def launched_rank() -> int | None:
    """This process's rank when it was started by an MPI launcher, else None."""
    return _from_launcher(RANK_VARIABLES)


def _from_launcher(names: tuple[str, ...]) -> int | None:
    for name in names:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return None
