"""``birnn predict --out-dir``: a corpus of files, here or on a Dask cluster (``--dask``).

    birnn predict --model RUN --input 'corpus/*.txt' --out-dir tagged/ --dask tcp://host:8786

``--input`` is then a glob pattern (quoted, so that birnn expands it: ``**`` spans
directories); each match gets its output under ``--out-dir`` at the same relative path
(``birnn.corpus``). Prints one line at the end: how many files and where.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from birnn._fork import default_workers
from birnn.corpus import predict_corpus
from birnn.corpus.layout import expand
from birnn.data._files import STDIN

CONNECT_TIMEOUT = 20  # seconds to reach the scheduler of --dask


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("a corpus of files (here, or on a Dask cluster)")
    g.add_argument("--out-dir", type=Path, metavar="DIR",
                   help="one output file per input file, at its relative path; --input is then "
                   "a glob pattern such as 'corpus/**/*.txt'")  # fmt: skip
    g.add_argument("--dask", metavar="ADDRESS",
                   help="the scheduler of a Dask cluster to run the tasks on (tcp://host:8786); "
                   "without it, this process runs them")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    if args.input is None or args.input == STDIN:
        raise ValueError("--out-dir reads files: give --input a file or a glob pattern")
    sources, base = expand(str(args.input))
    start = time.perf_counter()
    client = _client(args.dask) if args.dask else None
    try:
        outs = predict_corpus(args.model, sources, args.out_dir, output=args.output,
                              pretokenized=args.pretokenized, client=client,
                              threads=args.threads, base=base, workers=_workers(args))  # fmt: skip
    finally:
        if client is not None:
            client.close()
    print(f"wrote {len(outs)} files to {args.out_dir} in {time.perf_counter() - start:.1f} s")
    return 0


def _client(address: str) -> Any:
    try:
        from distributed import Client
    except ImportError as err:
        raise ImportError("--dask needs dask.distributed: pip install 'birnn[dask]'") from err
    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as err:
        raise OSError(f"--dask {address}: cannot reach the scheduler ({err})") from err


def _workers(args: argparse.Namespace) -> int:
    """--workers, else one process per thread (as many as there are cores at most) here, on
    Linux; with --dask, the cluster's."""
    if args.dask is not None:
        return 1
    return args.workers if args.workers is not None else default_workers(args.threads)


def check(args: argparse.Namespace) -> None:
    """--dask needs --out-dir, and runs its tasks on the cluster's workers."""
    if args.dask is not None and args.out_dir is None:
        raise ValueError("--dask runs a corpus of files: it needs --out-dir")
    if args.dask is not None and args.workers is not None:
        raise ValueError(f"--workers {args.workers} shares the tasks among processes here; "
                         "with --dask the cluster's workers run them")  # fmt: skip
