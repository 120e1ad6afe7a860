"""Tagging a generated corpus with ``birnn.predict_corpus``: in this process, and on a Dask
LocalCluster of 1 and 2 worker processes (1 thread each).

    PYTHONPATH=src python3 benchmarks/corpus_throughput.py --model runs/ewt-upos \\
        --sentences 200000 --files 100 --workers 1,2 --corpus /tmp/birnn-corpus

The corpus (written once under ``--corpus``, never in the repository) is ``--files`` text files
of one raw sentence per line, from the demo's generated language with each blank filled in.
Each configuration first tags one small file per worker (every worker loads the model: the
warm-up), then the whole corpus into a fresh directory; the figure is sentences per second of
the whole corpus, start-up excluded. Every run's outputs are checked to be the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import birnn  # noqa: E402
from birnn.demo.grammar import generate  # noqa: E402


def write_corpus(root: Path, sentences: int, files: int) -> list[Path]:
    done = root / "done"
    paths = [root / f"doc{i:04d}.txt" for i in range(files)]
    if done.exists() and done.read_text() == f"{sentences} {files}":
        return paths
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    per_file = -(-sentences // files)
    for i, path in enumerate(paths):
        n = min(per_file, sentences - i * per_file)
        lines = []
        for item in generate(n, rng):
            words = list(item.words)
            words[item.blank] = item.answer
            lines.append(" ".join(words))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done.write_text(f"{sentences} {files}")
    return paths


def digest(out_dir: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(out_dir.rglob("*")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def run(model: Path, paths: list[Path], workers: int | None, tmp: Path, sentences: int) -> str:
    client = cluster = None
    if workers:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0")  # fmt: skip
        client = Client(cluster)
    try:
        warm = tmp / f"warm-{workers}"
        birnn.predict_corpus(model, paths[: max(workers or 1, 1)], warm, client=client)
        out = tmp / f"out-{workers}"
        start = time.perf_counter()
        birnn.predict_corpus(model, paths, out, client=client)
        seconds = time.perf_counter() - start
    finally:
        if client is not None:
            client.close()
            cluster.close()
    where = f"Dask, {workers} worker{'s' if workers > 1 else ''}" if workers else "this process"
    load = os.getloadavg()[0]
    print(f"| {where} | {seconds:.1f} | {sentences / seconds:.0f} | {load:.1f} |", flush=True)
    return digest(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--sentences", type=int, default=200_000)
    p.add_argument("--files", type=int, default=100)
    p.add_argument("--workers", default="1,2", help="worker counts; 0: this process, no Dask")
    p.add_argument("--corpus", type=Path, default=Path(tempfile.gettempdir()) / "birnn-corpus")
    args = p.parse_args()
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]
    )
    paths = write_corpus(args.corpus, args.sentences, args.files)
    tmp = Path(tempfile.mkdtemp(prefix="birnn-corpus-out-"))
    try:
        print(f"{args.sentences} sentences in {args.files} files, model {args.model}")
        print("| where | s | sentences/s | load average after |")
        print("| --- | ---: | ---: | ---: |")
        digests = {run(args.model, paths, int(w), tmp, args.sentences)
                   for w in args.workers.split(",")}  # fmt: skip
        print("outputs identical across runs:", len(digests) == 1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
