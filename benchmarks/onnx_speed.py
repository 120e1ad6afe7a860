"""onnxruntime against birnn (and torch) on the exported networks; trained models checked on data.

Modules (``--configs``): the benchmark configs of bench.py (bidirectional, float32, full
lengths), each cell exported by ``birnn.onnx.export`` and run by onnxruntime with the same
number of threads as birnn and torch (2 unless OMP_NUM_THREADS says otherwise). Timing as in
bench.py: warm-up, alternating blocks, medians; onnxruntime is timed against birnn, then
against torch, and its column is the median of both sets. ``max err`` is the largest
|onnxruntime - birnn| over the outputs, relative to max |birnn|.

Trained models (``--model RUN --data FILE``): the run exported whole (``birnn export``), every
text of FILE run through onnxruntime in batches of similar length and through birnn's predictor:
the tags / labels must be identical, the probabilities within 1e-5; then the seconds each takes
for the whole file.

    PYTHONPATH=src python3 benchmarks/onnx_speed.py --cells lstm,gru,rnn --configs a,b,d,e
    PYTHONPATH=src python3 benchmarks/onnx_speed.py --model ../runs/ewt-upos \
        --data ../shared/data/ud_english_ewt/en_ewt-ud-dev.conllu.gz
"""

from __future__ import annotations

import os

THREADS = int(os.environ.setdefault("OMP_NUM_THREADS", "2"))
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(THREADS))

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (the shared configs, cases and alternating timer)
import birnn  # noqa: E402
import birnn.onnx  # noqa: E402


def session(path: Path) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


# ---- modules ------------------------------------------------------------------------------------


def module_row(cell: str, config: str, args: Any, tmp: Path) -> str:
    case = bench.Case(cell, bench.CONFIGS[config], ragged=False, seed=args.seed)
    path = tmp / f"{cell}-{config}.onnx"
    birnn.onnx.export(case.bm, path)
    sess = session(path)
    feeds = {"x": case.x, "lengths": np.full(case.x.shape[1], case.x.shape[0], np.int64)}

    def onnxruntime_infer() -> float:
        start = time.perf_counter()
        sess.run(["output"], feeds)
        return time.perf_counter() - start

    out, _ = case.bm(case.x)
    err = bench.rel_error(sess.run(["output"], feeds)[0], out)
    timer = bench.time_alternating
    ort_a, birnn_s, _ = timer(onnxruntime_infer, case.birnn_infer, args.warmup, args.repeats, 30)
    ort_b, torch_s, _ = timer(onnxruntime_infer, case.torch_infer, args.warmup, args.repeats, 30)
    o, b, t = (1e3 * statistics.median(s) for s in (ort_a + ort_b, birnn_s, torch_s))
    return (f"| {cell.upper()} | {config} | {o:.1f} | {b:.1f} | {t:.1f} | {o / b:.2f} | "
            f"{o / t:.2f} | {err:.1e} |")  # fmt: skip


# ---- trained models on data -------------------------------------------------------------------


def feeds_for(texts: list[list[str]], chars: bool) -> dict[str, np.ndarray]:
    """What docs/ONNX.md's snippet builds: tokens padded with "", characters one per entry."""
    t = max(map(len, texts))
    padded = [w + [""] * (t - len(w)) for w in texts]
    out = {"tokens": np.array(padded, dtype=object),
           "lengths": np.array([len(w) for w in texts], np.int64)}  # fmt: skip
    if chars:
        c = max(len(w) for words in texts for w in words)
        out["chars"] = np.array([[list(w) + [""] * (c - len(w)) for w in words]
                                 for words in padded], dtype=object)  # fmt: skip
    return out


def model_check(run: Path, data: Path, tmp: Path, batch: int) -> None:
    from birnn import pipeline
    from birnn.data import length_batches

    predictor = birnn.load(run)
    tm = predictor.task_model
    texts = [list(r.words) for r in pipeline.read(tm.task, data, tm.options)]  # labelled data
    path = tmp / "model.onnx"
    start = time.perf_counter()
    birnn.onnx.export(predictor, path)
    exported = time.perf_counter() - start
    sess = session(path)
    chars = "chars" in [i.name for i in sess.get_inputs()]
    lengths = np.array([len(t) for t in texts])
    groups = [list(g) for g in length_batches(lengths, batch, shuffle=False)]

    start = time.perf_counter()
    got: dict[int, Any] = {}
    for g in groups:
        outs = sess.run(None, feeds_for([texts[i] for i in g], chars))
        for row, i in enumerate(g):
            got[i] = [o[row] for o in outs]
    ort_s = time.perf_counter() - start
    start = time.perf_counter()
    want = predictor.predict(texts, pretokenized=True)  # token lists in, one Prediction each
    birnn_s = time.perf_counter() - start

    assert isinstance(want, list)
    mismatched, worst, not_argmax = 0, 0.0, 0
    for i, p in enumerate(want):
        n = len(texts[i])
        if tm.task.per_token:
            tags, names, probabilities = got[i]
            same = names[:n].tolist() == p.tags
            # decoded paths (CRF, or a scheme's constraints) are not each token's best tag
            not_argmax += tags[:n].tolist() != probabilities[:n].argmax(-1).tolist()
            chosen = probabilities[np.arange(n), tags[:n]]
            worst = max(worst, float(np.abs(chosen - np.array(p.probabilities)).max()))
        else:
            _, name, probabilities = got[i]
            same = name == p.label
            labels = tm.vocabs.labels
            top = {k: float(probabilities[labels.index(k)]) for k in p.probabilities}
            worst = max(worst, max(abs(top[k] - v) for k, v in p.probabilities.items()))
        mismatched += not same
    tokens = int(lengths.sum())
    decoded = f"{not_argmax} texts whose tags are not each token's most probable; "
    print(f"{run} on {data.name}: {len(texts)} texts, {tokens} tokens; export {exported:.1f} s; "
          f"{mismatched} texts decoded differently; max |p_onnx - p_birnn| = {worst:.1e}; "
          f"{decoded if tm.task.per_token else ''}"
          f"onnxruntime {ort_s:.2f} s, birnn predict {birnn_s:.2f} s "
          f"(batches of {batch}; {THREADS} threads)")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cells", default="lstm,gru,rnn")
    p.add_argument("--configs", default="")
    p.add_argument("--model", type=Path, action="append", default=[])
    p.add_argument("--data", type=Path, action="append", default=[])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=11)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--quiet",
        type=float,
        default=bench.QUIET,
        help="bench.py's QUIET: a timed block is rerun when other processes used more "
        "than this share of the CPUs (1: keep every block, on a machine never quiet)",
    )
    args = p.parse_args()
    bench.QUIET = args.quiet
    bench.torch.set_num_threads(THREADS)  # the three libraries get the same thread count
    birnn.set_num_threads(THREADS)
    with tempfile.TemporaryDirectory() as tmp:
        if args.configs:
            print(f"onnxruntime {ort.__version__}, {THREADS} threads, load {os.getloadavg()}")
            print("| cell | cfg | onnxruntime ms | birnn ms | torch ms | ort/birnn | ort/torch |"
                  " max err |\n|" + " --- |" * 2 + " ---: |" * 6)  # fmt: skip
            for config in args.configs.split(","):
                for cell in args.cells.split(","):
                    print(module_row(cell, config, args, Path(tmp)), flush=True)
        for run, data in zip(args.model, args.data, strict=True):
            model_check(run, data, Path(tmp), args.batch)


if __name__ == "__main__":
    main()
