"""Whole models, birnn against the same architecture written plainly in PyTorch: training epochs,
tagging a corpus, peak memory.

The models are RESULTS.md's recipes:

* ``tagger`` (UD English EWT, UPOS): lowercased word embeddings (100) + a character BiLSTM
  (embeddings 30, 64 units per direction, run once per distinct word form of a batch) ->
  dropout 0.33 -> 2-layer BiLSTM (160 per direction, dropout 0.33 between) -> dropout ->
  linear -> softmax over tags; ``--head crf`` puts a linear-chain CRF on top instead.
* ``classifier`` (SST-2): word embeddings (100) -> dropout 0.5 -> 1-layer BiLSTM (128) ->
  pooling "final+max" -> dropout -> linear -> softmax.

Both libraries train on the same batches (birnn's own, length-bucketed, seed 0), with Adam
(lr 2e-3) and the gradient norm clipped at 5; the loss is the mean over tokens (tagger) or
sentences (classifier). torch packs each batch (``pack_padded_sequence``), as one would write it.

Each measurement runs in a fresh child process (so peak resident memory is that library's
alone, its own libraries included), alternating birnn and torch ``--runs`` times; the table
gives medians and the birnn/torch ratio. Modes: ``train`` (``--batches`` batches, default one
epoch), ``predict`` (tag the training sentences with a trained model ``--run``: birnn through
``birnn predict ... --output conllu`` as a user runs it, torch through the same architecture in
inference mode, batches of 256 sentences; both times include reading and encoding the file).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=src python3 benchmarks/whole_model.py
    PYTHONPATH=src python3 benchmarks/whole_model.py --model classifier --runs 3
    PYTHONPATH=src python3 benchmarks/whole_model.py --model tagger --head crf --batches 100
    PYTHONPATH=src python3 benchmarks/whole_model.py --mode predict --run runs/ewt-upos

Threads: 2 for both (torch.set_num_threads, NumPy's BLAS), unless ``--threads`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = {
    "tagger": DATA / "ud_english_ewt" / "en_ewt-ud-train.conllu.gz",
    "classifier": DATA / "sentiment_sst" / "stsa.binary.train",
}
LR, CLIP, BATCH, EVAL_BATCH = 2e-3, 5.0, 32, 256


# -- the data, as birnn reads and batches it (both libraries get these batches) ----------------


def load_batches(model: str, limit: int | None) -> tuple[Any, Any, list[Any], list[Any]]:
    """(birnn TaskModel, encoded data, training batches, the records)."""
    import numpy as np

    from birnn import pipeline
    from birnn.tasks.base import batches

    task = pipeline.get_task("tag" if model == "tagger" else "classify")
    records = pipeline.read(task, FILES[model], {})
    if model == "tagger":
        encoder = dict(word_dim=100, char_dim=30, char_hidden=64, hidden=160, layers=2)
        encoder |= dict(dropout=0.33, rare_word_dropout=0.25)
    else:
        encoder = dict(word_dim=100, char_hidden=0, hidden=128, layers=1, dropout=0.5)
        encoder |= dict(rare_word_dropout=0.25)
    options = {"head": ARGS.head} if model == "tagger" else {"pooling": "final+max"}
    task_model = pipeline.build(task, records, encoder, options, lowercase=model == "tagger")
    data = task_model.encode(records)
    train = batches(data, task_model.forms, BATCH, np.random.default_rng(0), task.per_token)
    return task_model, data, train[:limit] if limit else train, records


# -- birnn ---------------------------------------------------------------------------------------


def birnn_train(task_model: Any, train: list[Any]) -> float:
    import numpy as np

    from birnn.optim import Adam, clip_grad_norm

    model = task_model.model
    params = model.params
    optimizer = Adam(params, lr=LR)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for batch in train:
        _, grads, _ = model.loss_and_grads(batch, rng)
        clip_grad_norm(grads, CLIP)
        optimizer.step(grads)
    return time.perf_counter() - start


def birnn_predict(run: str, path: Path) -> float:
    """``birnn predict --model RUN --input PATH --output conllu``, as a user runs it (reading,
    streaming, writing CoNLL-U), output discarded."""
    import contextlib

    from birnn.cli import main

    start = time.perf_counter()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        workers = [] if ARGS.workers is None else ["--workers", str(ARGS.workers)]
        code = main(["predict", "--model", run, "--input", str(path), "--output", "conllu",
                     "--threads", str(ARGS.threads), *workers])  # fmt: skip
    if code != 0:
        sys.exit(f"birnn predict exited with {code}")
    return time.perf_counter() - start


# -- the same models in PyTorch ------------------------------------------------------------------


def torch_model(task_model: Any) -> Any:
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    cfg = task_model.model.config
    enc = cfg.encoder

    class CharFeatures(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(enc.char_vocab_size, enc.char_dim, padding_idx=0)
            self.rnn = nn.LSTM(enc.char_dim, enc.char_hidden, batch_first=True, bidirectional=True)

        def forward(self, ids: Any, lengths: Any) -> Any:
            packed = pack_padded_sequence(
                self.embed(ids), lengths, batch_first=True, enforce_sorted=False
            )
            _, (h_n, _) = self.rnn(packed)
            return torch.cat([h_n[0], h_n[1]], dim=1)

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(enc.vocab_size, enc.word_dim, padding_idx=0)
            self.chars = CharFeatures() if enc.char_vocab_size else None
            width = enc.word_dim + (2 * enc.char_hidden if self.chars else 0)
            self.rnn = nn.LSTM(
                width, enc.hidden, enc.layers, batch_first=True, bidirectional=True,
                dropout=enc.dropout if enc.layers > 1 else 0.0,
            )  # fmt: skip
            self.drop = nn.Dropout(enc.dropout)
            self.tagger = hasattr(cfg, "num_tags")
            labels = cfg.num_tags if self.tagger else cfg.num_labels
            pooled = 2 * enc.hidden * (1 if self.tagger else 2)  # final + max for the classifier
            self.out = nn.Linear(pooled, labels)
            self.crf = (
                nn.Parameter(torch.zeros(labels, labels))
                if getattr(cfg, "head", "") == "crf"
                else None
            )

        def features(self, b: Any) -> Any:
            x = self.embed(b["words"])
            if self.chars is not None:
                feats = self.chars(b["char_ids"], b["char_lengths"])
                x = torch.cat([x, feats[b["char_index"]]], dim=-1)
            packed = pack_padded_sequence(
                self.drop(x), b["lengths"], batch_first=True, enforce_sorted=False
            )
            out, (h_n, _) = self.rnn(packed)
            y, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
            if self.tagger:
                return self.drop(y)
            final = torch.cat([h_n[-2], h_n[-1]], dim=1)
            masked = y.masked_fill(~b["mask"][..., None], float("-inf"))
            return self.drop(torch.cat([final, masked.max(dim=1).values], dim=1))

        def loss(self, b: Any) -> Any:
            scores = self.out(self.features(b))
            if not self.tagger:
                return nn.functional.cross_entropy(scores, b["targets"])
            if self.crf is None:
                return nn.functional.cross_entropy(scores[b["mask"]], b["targets"][b["mask"]])
            return crf_nll(scores, b["targets"], b["mask"], self.crf) / b["mask"].sum()

        def predict(self, b: Any) -> Any:
            return self.out(self.features(b)).argmax(-1)

    def crf_nll(scores: Any, tags: Any, mask: Any, trans: Any) -> Any:
        """sum over sentences of log Z - score(gold path): the forward algorithm, plainly."""
        steps = scores.shape[1]
        alpha = scores[:, 0]
        gold = scores[:, 0].gather(1, tags[:, :1].clamp(min=0)).squeeze(1)
        for t in range(1, steps):
            m = mask[:, t]
            nxt = torch.logsumexp(alpha[:, :, None] + trans[None], dim=1) + scores[:, t]
            alpha = torch.where(m[:, None], nxt, alpha)
            prev, cur = tags[:, t - 1].clamp(min=0), tags[:, t].clamp(min=0)
            step = trans[prev, cur] + scores[:, t].gather(1, cur[:, None]).squeeze(1)
            gold = gold + torch.where(m, step, torch.zeros_like(step))
        return (torch.logsumexp(alpha, dim=1) - gold).sum()

    return Model()


def torch_batch(batch: Any) -> dict[str, Any]:
    import torch

    b = {
        "words": torch.from_numpy(batch.words),
        "lengths": torch.from_numpy(batch.lengths),
        "mask": torch.from_numpy(batch.mask()),
    }
    if batch.targets is not None:
        b["targets"] = torch.from_numpy(batch.targets)
    if batch.chars is not None:
        b["char_ids"] = torch.from_numpy(batch.chars.ids)
        b["char_lengths"] = torch.from_numpy(batch.chars.lengths)
        b["char_index"] = torch.from_numpy(batch.chars.index)
    return b


def torch_train(task_model: Any, train: list[Any]) -> float:
    import torch

    torch.manual_seed(0)
    model = torch_model(task_model)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    converted = [torch_batch(b) for b in train]  # outside the timing: birnn's batches are too
    model.train()
    start = time.perf_counter()
    for b in converted:
        optimizer.zero_grad()
        model.loss(b).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
    return time.perf_counter() - start


def torch_predict(task_model: Any, path: Path) -> float:
    """Read and encode ``path`` (birnn's readers), then the torch model over it in batches."""
    import torch

    from birnn import pipeline
    from birnn.data.batching import length_batches
    from birnn.tasks.base import make_batch

    model = torch_model(task_model).eval()
    start = time.perf_counter()
    records = pipeline.read(task_model.task, path, task_model.options)
    data = task_model.encode(records)
    groups = list(length_batches(data.lengths, EVAL_BATCH, shuffle=False))
    with torch.inference_mode():
        for group in groups:
            batch = make_batch(data, list(group), task_model.forms, task_model.task.per_token)
            model.predict(torch_batch(batch)).numpy()
    return time.perf_counter() - start


# -- one child process: one library, one measurement ---------------------------------------------


def child() -> None:
    if ARGS.library == "torch":
        import torch

        torch.set_num_threads(ARGS.threads)
    else:
        import birnn

        birnn.set_num_threads(ARGS.threads)  # birnn's own default is 1 thread
    if ARGS.mode == "train":
        task_model, _, train, _ = load_batches(ARGS.model, ARGS.batches)
        tokens = sum(b.tokens for b in train)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        run = birnn_train if ARGS.library == "birnn" else torch_train
        seconds = run(task_model, train)
    else:  # tag the training file with the trained model --run (torch: the same architecture)
        from birnn import pipeline

        task_model = pipeline.load(ARGS.run)
        records = pipeline.read(task_model.task, FILES[ARGS.model], task_model.options)
        tokens = sum(len(r.words) for r in records)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        del records
        if ARGS.library == "birnn":
            del task_model  # the command loads its own
            seconds = birnn_predict(ARGS.run, FILES[ARGS.model])
        else:
            seconds = torch_predict(task_model, FILES[ARGS.model])
    # birnn predict's pieces (predict_pieces.py): plus the largest forked process, which shares
    # the model's pages with this one (an upper bound of the two together)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak += resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"seconds": seconds, "tokens": tokens, "peak_mib": peak / 1024,
                      "rise_mib": (peak - base) / 1024}))  # fmt: skip


def parent() -> None:
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(ARGS.threads))
    env["OMP_NUM_THREADS"] = str(ARGS.threads)
    results: dict[str, list[dict[str, float]]] = {"birnn": [], "torch": []}
    for _ in range(ARGS.runs):
        for library in ("birnn", "torch"):
            command = [sys.executable, __file__, "--child", "--library", library, *sys.argv[1:]]
            out = subprocess.run(command, env=env, capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"{library} child failed:\n{out.stderr}")
            results[library].append(json.loads(out.stdout.splitlines()[-1]))
    med = {k: {f: statistics.median(r[f] for r in v) for f in v[0]} for k, v in results.items()}
    name = ARGS.model + (f" ({ARGS.head})" if ARGS.model == "tagger" else "")
    print(f"# {name}, {ARGS.mode}, {ARGS.threads} threads, medians of {ARGS.runs} runs each")
    print("| library | seconds | tokens/s | peak RSS MiB | runs (s) |")
    print("| --- | ---: | ---: | ---: | --- |")
    for library, m in med.items():
        runs = ", ".join(f"{r['seconds']:.1f}" for r in results[library])
        rate = m["tokens"] / m["seconds"]
        print(f"| {library} | {m['seconds']:.2f} | {rate:,.0f} | {m['peak_mib']:.0f} | {runs} |")
    ratio = med["birnn"]["seconds"] / med["torch"]["seconds"]
    memory = med["birnn"]["peak_mib"] / med["torch"]["peak_mib"]
    print(f"\nbirnn/torch: time {ratio:.2f}x, peak memory {memory:.2f}x")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=sorted(FILES), default="tagger")
    p.add_argument("--head", choices=["softmax", "crf"], default="softmax", help="tagger head")
    p.add_argument("--mode", choices=["train", "predict"], default="train")
    p.add_argument("--batches", type=int, default=None, help="train on the first N (default all)")
    p.add_argument("--runs", type=int, default=2, help="child runs per library, alternating")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--workers",
        type=int,
        help="predict: birnn predict --workers (default: its own, by file size)",
    )
    p.add_argument("--run", help="predict: a trained model of --model's kind (birnn train --out)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--library", choices=["birnn", "torch"], help=argparse.SUPPRESS)
    return p.parse_args()


if __name__ == "__main__":
    ARGS = parse()
    child() if ARGS.child else parent()
