"""The supervisor of an MPI rank (``birnn.distributed.supervisor``) without a launcher: a
forked worker that ends, is killed, or stays stopped. Runs in a child interpreter, since the
supervisor forks and the worker here ends its own process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs os.fork")

WORKER = {
    "ends": "sys.exit(3)",
    "killed": "os.kill(os.getpid(), signal.SIGKILL)",
    "stopped": "os.kill(os.getpid(), signal.SIGSTOP); time.sleep(60); sys.exit(0)",
}


def supervised(worker: str, peer_timeout: float) -> subprocess.CompletedProcess:
    script = textwrap.dedent(f"""
        import os, signal, sys, time
        from birnn.distributed import supervisor
        supervisor.GRACE = 0.5
        status = supervisor.supervise("birnn train: error: ", {peer_timeout})
        if status is None:  # the worker
            {worker}
        print("supervisor exits with", status, flush=True)
        sys.exit(status)
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=30)  # fmt: skip


def test_a_worker_stopped_past_the_peer_timeout_is_killed_and_the_rank_exits_2_silently():
    start = time.monotonic()
    done = supervised(WORKER["stopped"], peer_timeout=0.5)
    took = time.monotonic() - start
    assert done.returncode == 2, done
    assert done.stderr == "", done.stderr  # the peers named this rank already
    assert 1.0 <= took < 20, took


@pytest.mark.parametrize(("worker", "code", "line"), [
    ("ends", 3, ""),
    ("killed", 2, "rank"),  # no launcher: "rank None of None died of SIGKILL"
])  # fmt: skip
def test_the_supervisor_passes_on_how_its_worker_ended(worker, code, line):
    done = supervised(WORKER[worker], peer_timeout=30)
    assert done.returncode == code, done
    assert (line in done.stderr) if line else done.stderr == "", done.stderr
