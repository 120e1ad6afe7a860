"""Data-parallel training over MPI on this machine: one epoch with K = 1, 2 ranks (1 thread each),
the allreduce of the model's gradient alone, and the model on paper for K machines.

    PYTHONPATH=src python3 benchmarks/mpi_scaling.py --sentences 1500 --ranks 1,2 \\
        --data ../shared/data/ud_english_ewt/en_ewt-ud-train.conllu.gz

Each run is ``mpiexec -n K python -m birnn.cli train --task tag`` (the default tagger: BiLSTM
2 x 128, char BiLSTM 50, batches of 32) on the first ``--sentences`` sentences for one epoch;
the epoch time is log.jsonl's (start-up and data reading excluded). Prints the epoch time,
tokens per second and the speed-up; then times ``Allreduce`` of a float32 buffer of the
model's size on 2 ranks (``--allreduce``, this script under mpiexec); then the CPU time of one
rank's share of a global batch of 32 for K = 1, 2, 4, 8, 16 (in this process: load-proof), and
from it the model on paper for K machines (``--paper-model``: count that model's parameters,
e.g. the full EWT tagger's, whose embedding is larger than the subset's).
``--equality`` prints instead how far 2 ranks end from one process (tests' tiny tagger).

(Not named distributed.py: that would hide dask's ``distributed`` from the scripts beside it.)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from birnn.data.conllu_reader import conllu_sentences  # noqa: E402
from birnn.pipeline import checkpoint_dir  # noqa: E402
from birnn.train.checkpoint import load_checkpoint  # noqa: E402


def mpiexec() -> str:
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else "mpiexec"


def subset(data: Path, count: int, into: Path) -> Path:
    blocks = []
    for s in conllu_sentences(data):
        blocks.append("\n".join(s.lines))
        if len(blocks) == count:
            break
    into.write_text("\n\n".join(blocks) + "\n\n", encoding="utf-8")
    return into


def train(ranks: int, data: Path, out: Path) -> dict:
    command = [mpiexec(), "-n", str(ranks), sys.executable, "-m", "birnn.cli", "train",
               "--task", "tag", "--train", str(data), "--epochs", "1", "--patience", "0",
               "--threads", "1", "--no-progress", "--out", str(out)]  # fmt: skip
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run(command, check=True, capture_output=True, env=env)
    record = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
    return {"wall": time.perf_counter() - start, **record}


def allreduce_seconds(size: int, repeats: int) -> None:
    """Under mpiexec: the mean time of one Allreduce of ``size`` float32 (rank 0 prints it)."""
    from birnn.distributed import world

    group = world()
    buffer = np.ones(size, dtype=np.float32)
    for _ in range(3):
        group.allreduce(buffer)  # warm up
    group.comm.Barrier()
    start = time.perf_counter()
    for _ in range(repeats):
        group.allreduce(buffer)
    seconds = (time.perf_counter() - start) / repeats
    if group.rank == 0:
        print(json.dumps({"allreduce_s": seconds, "bytes": 4 * size}))


def equality() -> None:
    """Max |2 ranks - 1 process| of the tiny tagger of the tests, after one step and epochs."""
    sys.path.insert(0, str(ROOT / "tests"))
    from birnn.train.parallel import SingleProcess
    from distributed_support import HERE, run, train_tiny

    print("| dtype | epochs | batch | sentences | max abs difference |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for epochs, batch, n in ((1, 16, 16), (1, 5, 16), (3, 5, 16), (1, 8, 200)):
        for dtype in ("float64", "float32"):
            with tempfile.TemporaryDirectory() as tmp:
                one = train_tiny(SingleProcess(), Path(tmp, "one"), epochs, batch,
                                 np.dtype(dtype), sentences=n)  # fmt: skip
                script = str(HERE / "distributed_support.py")
                code, _, err = run(2, [script, str(Path(tmp, "two")), str(epochs), str(batch),
                                       dtype, "softmax", str(n)])  # fmt: skip
                assert code == 0, err
                with np.load(Path(tmp, "two", "params.npz")) as two:
                    worst = max(float(np.abs(one[k] - two[k]).max()) for k in one)
            print(f"| {dtype} | {epochs} | {batch} | {n} | {worst:.1e} |", flush=True)


def shard_seconds(run: Path, data: Path, ranks: list[int], batch: int = 32) -> dict[int, float]:
    """CPU seconds of one rank's forward + backward on its share (batch / K sentences) of a
    global batch, mean over an epoch's batches: per-rank compute, whatever else the machine
    runs (CPU time, not wall time)."""
    from birnn import pipeline, set_num_threads
    from birnn.tasks.base import batches

    set_num_threads(1)  # as each rank of the runs above (birnn train --threads 1)
    tm = pipeline.load(run)
    encoded = tm.encode(pipeline.read(tm.task, data, tm.options))
    rng = np.random.default_rng(0)
    out = {}
    for k in ranks:
        shares = [b for b in batches(encoded, tm.forms, batch, np.random.default_rng(1), True,
                                     lambda rows, k=k: rows[::k]) if b is not None]  # fmt: skip
        tm.model.loss_and_grads(shares[0], rng)  # warm-up
        start = time.process_time()
        for share in shares:
            tm.model.loss_and_grads(share, rng)
        out[k] = (time.process_time() - start) / len(shares)
    return out


def optimizer_seconds(params: dict[str, np.ndarray], repeats: int = 10) -> float:
    """CPU seconds of one Adam step over ``params`` (every rank takes it whole, whatever K)."""
    from birnn import set_num_threads
    from birnn.optim.factory import make_optimizer

    set_num_threads(1)
    values = {name: np.array(a, dtype=np.float32) for name, a in params.items()}
    grads = {name: np.full_like(a, 1e-3) for name, a in values.items()}
    adam = make_optimizer("adam", values, lr=1e-3)
    adam.step(grads)  # warm-up
    start = time.process_time()
    for _ in range(repeats):
        adam.step(grads)
    return (time.process_time() - start) / repeats


def paper(params: int, shares: dict[int, float], update: float) -> None:
    """K machines, one rank each, a global batch of 32: a step costs one rank's share
    (``shares[K]``, measured), the optimizer's update (``update``, measured; the same on every
    rank) and a ring allreduce of the gradient, in which each rank sends and receives
    2 (K-1)/K of the buffer, in 2 (K-1) messages."""
    size = 4 * params
    print(f"\nmodel on paper: {params:,} parameters -> {size / 1e6:.1f} MB allreduced per step; "
          f"compute {1000 * shares[1]:.0f} ms per step of 32 sentences on 1 rank, Adam update "
          f"{1000 * update:.0f} ms")  # fmt: skip
    ks = [k for k in shares if k > 1]
    print("| link | " + " | ".join(f"K = {k}" for k in ks) + " |")
    print("| --- |" + " ---: |" * len(ks))
    for name, bandwidth, latency in (("10 Gb/s Ethernet", 1.25e9, 50e-6),
                                     ("100 Gb/s InfiniBand", 12.5e9, 5e-6)):  # fmt: skip
        cells = []
        for k in ks:
            comm = 2 * (k - 1) / k * size / bandwidth + 2 * (k - 1) * latency
            speedup = (shares[1] + update) / (shares[k] + update + comm)
            cells.append(f"{speedup:.2f}x ({1000 * comm:.0f} ms comm)")
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path)
    p.add_argument("--sentences", type=int, default=1500)
    p.add_argument("--ranks", default="1,2")
    p.add_argument("--paper-model", type=Path,
                   help="count the parameters of this trained model (e.g. the full EWT tagger) "
                   "for the model on paper; default: the one trained here")  # fmt: skip
    p.add_argument("--equality", action="store_true",
                   help="only: how far 2 ranks end from 1 process")  # fmt: skip
    p.add_argument("--allreduce", type=int, help=argparse.SUPPRESS)  # the timed child
    args = p.parse_args()
    if args.allreduce:
        allreduce_seconds(args.allreduce, 20)
        return
    if args.equality:
        equality()
        return
    tmp = Path(tempfile.mkdtemp(prefix="birnn-mpi-bench-"))
    try:
        data = subset(args.data, args.sentences, tmp / "train.conllu")
        runs = {k: train(k, data, tmp / f"k{k}") for k in map(int, args.ranks.split(","))}
        base = runs[min(runs)]["seconds"]
        print("| ranks | epoch s | tokens/s | speed-up | whole run s |")
        print("| ---: | ---: | ---: | ---: | ---: |")
        for k, r in runs.items():
            print(f"| {k} | {r['seconds']:.1f} | {r['items_per_s']:.0f} | "
                  f"{base / r['seconds']:.2f} | {r['wall']:.1f} |")  # fmt: skip
        counted = args.paper_model or tmp / f"k{min(runs)}"
        weights = load_checkpoint(checkpoint_dir(counted)).params
        params = sum(a.size for a in weights.values())
        child = [mpiexec(), "-n", "2", sys.executable, __file__, "--allreduce", str(params)]
        done = subprocess.run(child, check=True, capture_output=True, text=True)
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"\nallreduce of {measured['bytes'] / 1e6:.1f} MB on 2 ranks here (shared memory): "
              f"{1000 * measured['allreduce_s']:.1f} ms")  # fmt: skip
        shares = shard_seconds(tmp / f"k{min(runs)}", data, [1, 2, 4, 8, 16])
        print("\none rank's share of a global batch of 32 (CPU ms, forward + backward):")
        print("| K | sentences per rank | CPU ms | compute speed-up bound t(32) / t(32/K) |")
        print("| ---: | ---: | ---: | ---: |")
        for k, seconds in shares.items():
            print(f"| {k} | {32 // k} | {1000 * seconds:.0f} | {shares[1] / seconds:.2f} |")
        paper(params, shares, optimizer_seconds(weights))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
