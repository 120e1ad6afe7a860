"""The linear-chain CRF inside the graph: Viterbi decoding and the marginals, as ``Scan`` loops
over time that transcribe ``birnn.heads.crf`` (same symbols: emissions E, transitions A, start
s, end e; forbidden moves of a constrained CRF are -inf in A, s, e, as ``CRF._scores`` gives).

Viterbi (ties go to the lowest tag, as NumPy's and ONNX's ArgMax both do)::

    δ_0 = s + E_0;  for t >= 1, t < L:  back_t[j] = argmax_i δ_{t-1}[i] + A[i, j]
                                        δ_t[j] = max_i (δ_{t-1}[i] + A[i, j]) + E_t[j]
    y_{L-1} = argmax_j δ_{L-1}[j] + e[j];   y_t = back_{t+1}[y_{t+1}]   (t < L - 1)

Marginals μ_t[j] = exp(α_t[j] + β_t[j] - log Z), with α (forward) and β (backward) in log
space; past its length a sequence carries α unchanged and has β = e, exactly as birnn does.
Emissions are time-major (T, N, C). Every loop reads, at step t, what step t + 1 brings
(E_{t+1}, and whether t + 1 < L); the last step reads a padding step that no sequence has, so
each loop runs T times and never over an empty sequence (onnxruntime's Scan refuses those: T = 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from birnn.onnx._graph import BOOL, FLOAT, INT64, Graph, value
from birnn.onnx.module import Lengths

BIG = np.iinfo(np.int64).max


def _first(g: Graph, seq: str) -> str:
    """seq[0] of a time-major value."""
    return g.op("Gather", seq, g.const(np.array(0, np.int64)), axis=0)


def _next(g: Graph, seq: str, padding: str) -> str:
    """seq[1:] followed by one step of ``padding`` (a scalar): at t, what step t + 1 holds."""
    head = g.op("Slice", seq, g.ints(0), g.ints(1), g.ints(0))  # seq[:1], for its shape
    rest = g.op("Slice", seq, g.ints(1), g.ints(BIG), g.ints(0))
    return g.op("Concat", rest, g.op("Expand", padding, g.op("Shape", head)), axis=0)


def _logsumexp(g: Graph, x: str, axis: int) -> str:
    """log Σ exp over ``axis`` (dropped), shifted by the max, by 0 where the max is -inf (as
    ``birnn.functional.logsumexp``), so an all -inf slice gives -inf and not NaN."""
    axes = g.ints(axis)
    m = g.op("ReduceMax", x, axes, keepdims=1)
    m = g.op("Where", g.op("IsInf", m), g.scalar(0.0), m)
    total = g.op("ReduceSum", g.op("Exp", g.op("Sub", x, m)), axes, keepdims=1)
    return g.op("Squeeze", g.op("Add", g.op("Log", total), m), axes)


def _steps(g: Graph, em: str, lens: Lengths) -> tuple[str, str, str]:
    """E_0 (N, C); E_{t+1} (T, N, C) and t + 1 < L (T, N, 1), the last step padding."""
    em_next = _next(g, em, g.scalar(0.0))
    active = _next(g, lens.mask(), g.const(np.array(False)))
    return _first(g, em), em_next, active


def _crf_scores(g: Graph, scores: tuple[NDArray, ...]) -> tuple[str, str, str]:
    return tuple(g.const(v.astype(np.float32), n) for v, n in zip(scores, ("A", "s", "e")))  # type: ignore[return-value]


def viterbi(g: Graph, em: str, lens: Lengths, scores: tuple[NDArray, ...]) -> str:
    """The best tag path of each sequence, (N, T) int64, -1 on padding."""
    a, s, e = _crf_scores(g, scores)
    em0, em_next, active = _steps(g, em, lens)

    b = g.sub()  # step t: δ_t -> δ_{t+1}, back_{t+1}
    delta, em_t, m_t = (b.name(n) for n in ("delta", "em_t", "m_t"))
    cand = b.op("Add", b.op("Unsqueeze", delta, b.ints(2)), a)  # (N, C_prev, C)
    back = b.op("ArgMax", cand, axis=1, keepdims=0)
    best = b.op("Add", b.op("ReduceMax", cand, b.ints(1), keepdims=0), em_t)
    new = b.op("Where", m_t, best, delta)
    forward = b.body(
        "viterbi_forward",
        [value(delta, FLOAT, ["N", "C"]), value(em_t, FLOAT, ["N", "C"]),
         value(m_t, BOOL, ["N", 1])],
        [value(new, FLOAT, ["N", "C"]), value(back, INT64, ["N", "C"])],
    )  # fmt: skip
    last, backs = g.op("Scan", g.op("Add", em0, s), em_next, active, outputs=2, body=forward,
                       num_scan_inputs=2)  # fmt: skip
    tag = g.op("ArgMax", g.op("Add", last, e), axis=1, keepdims=1)  # (N, 1): y_{L-1}

    b = g.sub()  # step t, last to first: y_{t+1} -> y_t = back_{t+1}[y_{t+1}] if t + 1 < L
    y, back_t, m_t = (b.name(n) for n in ("y", "back_t", "m_t"))
    prev = b.op("Where", m_t, b.op("GatherElements", back_t, y, axis=1), y)
    out = b.op("Identity", prev)
    backward = b.body(
        "viterbi_backward",
        [value(y, INT64, ["N", 1]), value(back_t, INT64, ["N", "C"]), value(m_t, BOOL, ["N", 1])],
        [value(prev, INT64, ["N", 1]), value(out, INT64, ["N", 1])],
    )
    _, path = g.op("Scan", tag, backs, active, outputs=2, body=backward, num_scan_inputs=2,
                   scan_input_directions=[1, 1], scan_output_directions=[1])  # fmt: skip
    path = g.op("Where", lens.mask(), path, g.const(np.array(-1, np.int64)))  # (T, N, 1)
    return g.op("Transpose", g.op("Squeeze", path, g.ints(2)), perm=[1, 0])


def _safe_max(g: Graph, x: str, axis: int) -> str:
    """max over ``axis`` (kept), 0 where it is -inf: the shift of a log-space vector."""
    m = g.op("ReduceMax", x, g.ints(axis), keepdims=1)
    return g.op("Where", g.op("IsInf", m), g.scalar(0.0), m)


def marginals(g: Graph, em: str, lens: Lengths, scores: tuple[NDArray, ...]) -> str:
    """p(y_t = j | x), (N, T, C): rows sum to 1 on real tokens, 0 on padding.

    Since Σ_j exp(α_t[j] + β_t[j]) = Z at every t, μ_t = softmax_j(α_t + β_t): each α_t and
    β_t may be shifted by any constant. The loops shift them by their max at every step, so
    no value grows with the length and float32 keeps its precision on long sentences (birnn's
    ``CRF.marginals`` subtracts log Z at the end, and computes in float64 for that reason).
    """
    a, s, e = _crf_scores(g, scores)
    em0, em_next, active = _steps(g, em, lens)

    b = g.sub()  # α_{t+1}[j] = logsumexp_i(α_t[i] + A[i, j]) + E_{t+1}[j] if t + 1 < L
    alpha, em_t, m_t = (b.name(n) for n in ("alpha", "em_t", "m_t"))
    nxt = b.op("Add", _logsumexp(b, b.op("Add", b.op("Unsqueeze", alpha, b.ints(2)), a), 1), em_t)
    new = b.op("Where", m_t, b.op("Sub", nxt, _safe_max(b, nxt, 1)), alpha)
    out = b.op("Identity", new)
    body = b.body("crf_alpha", _step_inputs(alpha, em_t, m_t),
                  [value(new, FLOAT, ["N", "C"]), value(out, FLOAT, ["N", "C"])])  # fmt: skip
    alpha0 = g.op("Add", em0, s)
    alpha0 = g.op("Sub", alpha0, _safe_max(g, alpha0, 1))
    _, alphas = g.op("Scan", alpha0, em_next, active, outputs=2, body=body, num_scan_inputs=2)
    # [α_0, α_1 .. α_{T-1}, α after the padding step] without the last: (T, N, C)
    alphas = g.op("Concat", g.op("Unsqueeze", alpha0, g.ints(0)), alphas, axis=0)
    alphas = g.op("Slice", alphas, g.ints(0), g.ints(-1), g.ints(0))

    b = g.sub()  # β_t[i] = logsumexp_j(A[i, j] + E_{t+1}[j] + β_{t+1}[j]) if t + 1 < L, else e
    beta, em_t, m_t = (b.name(n) for n in ("beta", "em_t", "m_t"))
    rec = _logsumexp(b, b.op("Add", a, b.op("Unsqueeze", b.op("Add", em_t, beta), b.ints(1))), 2)
    new = b.op("Where", m_t, b.op("Sub", rec, _safe_max(b, rec, 1)), e)
    out = b.op("Identity", new)
    body = b.body("crf_beta", _step_inputs(beta, em_t, m_t),
                  [value(new, FLOAT, ["N", "C"]), value(out, FLOAT, ["N", "C"])])  # fmt: skip
    beta_end = g.op("Expand", e, g.op("Shape", em0))  # where the last step starts: e, (N, C)
    _, betas = g.op("Scan", beta_end, em_next, active, outputs=2, body=body, num_scan_inputs=2,
                    scan_input_directions=[1, 1], scan_output_directions=[1])  # fmt: skip
    mu = g.op("Softmax", g.op("Add", alphas, betas), axis=2)
    mu = g.op("Where", lens.mask(), mu, g.scalar(0.0))
    return g.op("Transpose", mu, perm=[1, 0, 2])


def _step_inputs(state: str, em_t: str, m_t: str) -> list[Any]:
    return [value(state, FLOAT, ["N", "C"]), value(em_t, FLOAT, ["N", "C"]),
            value(m_t, BOOL, ["N", 1])]  # fmt: skip
