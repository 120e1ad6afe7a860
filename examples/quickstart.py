"""Why bidirectionality matters, in one minute and a hundred lines of NumPy.

Task: read a sequence of random tokens and, at every position t, name the token that comes
*next* (x[t+1]; at a sequence's last position, the answer is "end"). A left-to-right network
has not seen x[t+1] yet and can only guess; a bidirectional one has, through its backward
chain. Both are trained the same way: one softmax readout, one loss, and the gradient of that
loss flows back through the readout into both directions of the birnn module (``m.backward``).

Run:  python examples/quickstart.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import birnn

VOCAB, END = 6, 6  # tokens 0..5 and the class "end of sequence"


def make_batch(rng: np.random.Generator, size: int, steps: int) -> tuple[np.ndarray, ...]:
    lengths = rng.integers(3, steps + 1, size)
    tokens = rng.integers(0, VOCAB, (steps, size))
    x = np.zeros((steps, size, VOCAB), dtype=np.float32)
    x[np.arange(steps)[:, None], np.arange(size)[None, :], tokens] = 1.0
    valid = np.arange(steps)[:, None] < lengths[None, :]
    x *= valid[..., None]
    target = np.full((steps, size), END)
    target[:-1] = tokens[1:]
    target[lengths - 1, np.arange(size)] = END  # the last valid position
    return x, lengths, target, valid


def train(bidirectional: bool, steps: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    m = birnn.GRU(VOCAB, 24, bidirectional=bidirectional, seed=seed)
    width = 48 if bidirectional else 24
    w_out = rng.normal(0, 0.1, (width, VOCAB + 1)).astype(np.float32)
    b_out = np.zeros(VOCAB + 1, dtype=np.float32)
    params = {**m.params, "w_out": w_out, "b_out": b_out}
    moments = {k: (np.zeros_like(p), np.zeros_like(p)) for k, p in params.items()}
    lr, beta1, beta2 = 0.01, 0.9, 0.999
    for it in range(1, steps + 1):
        x, lengths, target, valid = make_batch(rng, 32, 12)
        out, _, tape = m.forward(x, lengths=lengths, training=True)
        logits = out @ w_out + b_out
        logits -= logits.max(axis=-1, keepdims=True)
        prob = np.exp(logits)
        prob /= prob.sum(axis=-1, keepdims=True)
        # softmax cross-entropy, mean over valid positions: dL/dlogits = (p - onehot) / count
        d_logits = prob.copy()
        steps_, size_ = target.shape
        d_logits[np.arange(steps_)[:, None], np.arange(size_)[None, :], target] -= 1.0
        d_logits *= valid[..., None] / valid.sum()
        grads = {"w_out": out.reshape(-1, width).T @ d_logits.reshape(-1, VOCAB + 1),
                 "b_out": d_logits.sum(axis=(0, 1))}
        _, _, rnn_grads = m.backward(tape, d_logits @ w_out.T)
        grads.update(rnn_grads)
        for k, p in params.items():  # Adam, updating every parameter in place
            m1, m2 = moments[k]
            m1 *= beta1
            m1 += (1 - beta1) * grads[k]
            m2 *= beta2
            m2 += (1 - beta2) * grads[k] ** 2
            p -= lr * (m1 / (1 - beta1**it)) / (np.sqrt(m2 / (1 - beta2**it)) + 1e-8)
    x, lengths, target, valid = make_batch(np.random.default_rng(seed + 1), 512, 12)
    out, _ = m(x, lengths=lengths)
    predicted = (out @ w_out + b_out).argmax(axis=-1)
    return float((predicted == target)[valid].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps per model")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for bidirectional in (False, True):
        start = time.perf_counter()
        acc = train(bidirectional, args.steps, args.seed)
        kind = "bidirectional " if bidirectional else "unidirectional"
        print(f"{kind} GRU: accuracy {acc:6.1%} on held-out sequences "
              f"({time.perf_counter() - start:.1f} s)")
    print(f"(chance is about {1 / VOCAB:.0%} wherever the next token is needed)")


if __name__ == "__main__":
    main()
