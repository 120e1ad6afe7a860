"""Peak memory, total time and time to the first output line of ``birnn predict`` over inputs of
growing size: streaming keeps memory independent of the input.

    PYTHONPATH=src python3 benchmarks/predict_memory.py --model runs/ewt-upos \\
        --sentences ../shared/data/ud_english_ewt/en_ewt-ud-train.conllu.gz --repeats 1,10

The input is the sentences of a CoNLL-U file as text (one per line, tokens separated by
spaces, read with --pretokenized), repeated ``r`` times for each ``r`` of ``--repeats``. Each
size runs in a child process; its peak resident memory comes from ``wait4``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from birnn.data import read_conllu


def measure(command: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(seconds to the first output line, seconds in all, peak RSS in kB) of ``command``."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, env=env)
    assert child.stdout is not None
    child.stdout.readline()
    first = time.perf_counter() - start
    for _ in child.stdout:
        pass
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed")
    return first, time.perf_counter() - start, usage.ru_maxrss


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, type=Path)
    p.add_argument("--sentences", required=True, type=Path, help="a CoNLL-U file")
    p.add_argument("--repeats", default="1,10", help="input sizes, in copies of the sentences")
    p.add_argument("--src", type=Path, default=Path("src"), help="the birnn to run (its src/)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    lines = [" ".join(s.words) + "\n" for s in read_conllu(args.sentences)]
    env = {**os.environ, "PYTHONPATH": str(args.src.resolve())}
    print("| sentences | first line s | total s | peak RSS MB |")
    print("| ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        for r in (int(x) for x in args.repeats.split(",")):
            path = Path(tmp) / f"input-{r}.txt"
            path.write_text("".join(lines) * r, encoding="utf-8")
            command = [
                sys.executable,
                "-m",
                "birnn.cli",
                "predict",
                "--model",
                str(args.model),
                "--input",
                str(path),
                "--pretokenized",
                "--threads",
                str(args.threads),
            ]
            first, total, peak = measure(command, env)  # fmt: skip
            print(f"| {r * len(lines):,} | {first:.2f} | {total:.1f} | {peak / 1024:.0f} |")


if __name__ == "__main__":
    main()
