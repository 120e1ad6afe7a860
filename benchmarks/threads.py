"""Does a ``birnn train`` run keep its speed when the machine is shared?

    PYTHONPATH=src python3 benchmarks/threads.py --sentences 1500 --threads 1,2 \\
        --data ../shared/data/ud_english_ewt/en_ewt-ud-train.conllu.gz

For each thread count: the wall time of one run alone; of each of two runs started together;
and of one run while another program keeps one core busy (a Python loop). The ratios to the
run alone are the targets of issue 11: two together at most 2.5x, beside a busy core at most
1.5x. Each run is one epoch of the default tagger on the first ``--sentences`` sentences.
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

BUSY = "while True: pass"


def _write_subset(source: Path, count: int, target: Path) -> None:
    lines = []
    for s in read_conllu(source)[:count]:
        for i, (w, t) in enumerate(zip(s.words, s.tags), 1):
            lines.append("\t".join([str(i), w, "_", t, "_", "_", "_", "_", "_", "_"]))
        lines.append("")
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _start(data: Path, out: Path, threads: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "birnn.cli", "train", "--task", "tag", "--train", str(data),
               "--out", str(out), "--epochs", "1", "--overwrite", "--no-progress",
               "--threads", str(threads)]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _timed(runs: list[subprocess.Popen[bytes]], start: float) -> list[float]:
    times = []
    for run in runs:
        if run.wait() != 0:
            raise SystemExit("a training run failed")
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, type=Path, help="a CoNLL-U training file")
    p.add_argument("--sentences", type=int, default=1500)
    p.add_argument("--threads", default="1,2")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "train.conllu"
        _write_subset(args.data, args.sentences, data)
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        print("| threads | alone s | two together s (each) | ratio | one core busy s | ratio |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: |")
        for threads in (int(t) for t in args.threads.split(",")):
            start = time.perf_counter()
            (alone,) = _timed([_start(data, root / "a", threads)], start)
            start = time.perf_counter()
            pair = _timed([_start(data, root / "b", threads), _start(data, root / "c", threads)],
                          start)  # fmt: skip
            busy = subprocess.Popen([sys.executable, "-c", BUSY])
            try:
                start = time.perf_counter()
                (beside,) = _timed([_start(data, root / "d", threads)], start)
            finally:
                busy.kill()
                busy.wait()
            together = max(pair)
            print(f"| {threads} | {alone:.1f} | {pair[0]:.1f}, {pair[1]:.1f} | "
                  f"{together / alone:.2f} | {beside:.1f} | {beside / alone:.2f} |")  # fmt: skip
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
