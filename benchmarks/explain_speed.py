"""How long ``birnn.explain.explain`` takes for one sentence: attribution and every sensitivity
map (a tagger: one row per token, so T backward seeds per path).

With ``--model RUN`` it explains with a trained model; without, it builds one of the same shape
as RESULTS.md's EWT tagger (100-wide lowercased words, character BiLSTM 64 per direction, two
BiLSTM layers of 160 per direction, 18 tags) with random weights: the time does not depend on
the values. The sentence is ``--tokens`` words drawn from the model's vocabulary. After one
warm-up call, ``--repeats`` calls are timed; the median and the fastest wall time are printed,
and the median CPU time of the process: on a machine shared with other jobs, the CPU time of a
one-thread run (OMP_NUM_THREADS=1) is close to what its wall time would be on a quiet one.

    PYTHONPATH=src python3 benchmarks/explain_speed.py [--model RUN] [--tokens 40]
"""

from __future__ import annotations

import os

THREADS = int(os.environ.setdefault("OMP_NUM_THREADS", "2"))
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(THREADS))

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from birnn import (  # noqa: E402
    EncoderConfig,
    get_backend,
    pipeline,
)
from birnn.data import TaggedSentence  # noqa: E402
from birnn.explain import explain  # noqa: E402
from birnn.tasks.registry import TASKS  # noqa: E402


def ewt_shaped_model() -> pipeline.TaskModel:
    """A tagger of the EWT recipe's shape over a generated vocabulary (random weights)."""
    rng = np.random.default_rng(0)
    letters = list("abcdefghijklmnopqrstuvwxyz")
    words = ["".join(rng.choice(letters, int(rng.integers(2, 9)))) for _ in range(19000)]
    tags = [f"T{i}" for i in range(18)]
    records = [
        TaggedSentence(list(rng.choice(words, 20)), list(rng.choice(tags, 20))) for _ in range(1000)
    ]
    task = TASKS["tag"]
    vocabs = task.build_vocabs(records, min_count=1, lowercase=True, chars=True)
    encoder = EncoderConfig(
        vocab_size=len(vocabs.words),
        char_vocab_size=vocabs.char_vocab_size,
        hidden=160,
        char_hidden=64,
    )
    return pipeline.create(task, vocabs, encoder, {"head": "softmax"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a trained tagger (default: EWT-shaped, random weights)")
    parser.add_argument("--tokens", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    model = pipeline.load(args.model) if args.model else ewt_shaped_model()
    vocabulary = [w for w in model.vocabs.words.tokens if not w.startswith("<")]
    rng = np.random.default_rng(1)
    words = list(rng.choice(vocabulary, args.tokens))
    explain(model, words)  # warm-up: workspaces, BLAS threads
    times, cpu = [], []
    for _ in range(args.repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        explain(model, words)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    print(
        f"explain, {args.tokens} tokens, {'trained' if args.model else 'EWT-shaped'} tagger, "
        f"backend {get_backend()}, {THREADS} threads: median {statistics.median(times):.3f} s, "
        f"fastest {min(times):.3f} s over {args.repeats} calls; CPU time median "
        f"{statistics.median(cpu):.3f} s"
    )


if __name__ == "__main__":
    main()
