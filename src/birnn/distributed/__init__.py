"""Training on several processes: data parallelism over MPI (``mpirun -n K birnn train ...``).

    group.py          the MPI world as training sees it (rank, size, three collectives);
                      ``world()`` starts it once per process
    watchdog.py       heartbeats between the ranks: a dead or hung rank is named, in one line,
                      and the others stop
    data_parallel.py  the trainer's strategy: shards of every batch, one allreduce per step,
                      a random stream per rank, rank 0 writes
    launcher.py       what mpirun tells each process (how many, which one)
    supervisor.py     under mpirun, ``birnn train`` forks its worker and watches it: a worker
                      killed outright (SIGKILL) is named in one line
    command.py        ``birnn train``'s option group for it

From Python (under ``mpirun -n K python script.py``)::

    from birnn.distributed import DataParallel, world
    trainer = birnn.Trainer(model, config, out, parallel=DataParallel(world()))

mpi4py (and an MPI library: ``pip install 'birnn[mpi]'``) is imported by ``world()`` only:
``import birnn`` and ``import birnn.distributed`` never need it.
"""

from birnn.distributed.data_parallel import DataParallel
from birnn.distributed.group import Group, report, world
from birnn.distributed.launcher import launched_size

__all__ = ["DataParallel", "Group", "launched_size", "report", "world"]
