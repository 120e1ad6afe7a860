"""Linear-chain conditional random field: negative log-likelihood, exact gradient, Viterbi.

Symbols (one sequence of length L, tags y_0..y_{L-1} among C tags)::

    E[t, j]   emission score of tag j at step t (the network's output)
    A[i, j]   transitions: score of tag i followed by tag j
    s[j], e[j]  start and end scores

    score(y) = s[y_0] + Σ_{t<L} E[t, y_t] + Σ_{1<=t<L} A[y_{t-1}, y_t] + e[y_{L-1}]
    log Z    = log Σ_y exp(score(y))                        (over all C^L tag paths)
    nll      = log Z - score(gold)          loss = mean over the batch (or sum)

Forward algorithm (log space): α_0 = s + E_0, α_t[j] = logsumexp_i(α_{t-1}[i] + A[i, j]) + E_t[j],
log Z = logsumexp_j(α_{L-1}[j] + e[j]). Backward algorithm: β_{L-1} = e,
β_t[i] = logsumexp_j(A[i, j] + E_{t+1}[j] + β_{t+1}[j]). Marginals::

    μ_t[j]     = p(y_t = j)                = exp(α_t[j] + β_t[j] - log Z)
    ξ_t[i, j]  = p(y_{t-1} = i, y_t = j)   = exp(α_{t-1}[i] + A[i, j] + E_t[j] + β_t[j] - log Z)

Since ∂log Z/∂θ is the expected count of θ's feature, the gradient of nll is expected counts
minus gold counts (times d_loss and 1/N for the mean)::

    dE[t, j] = μ_t[j] - [y_t = j]               (t < L; 0 on padding)
    dA[i, j] = Σ_{1<=t<L} ξ_t[i, j] - [y_{t-1} = i, y_t = j]
    ds[j]    = μ_0[j] - [y_0 = j]                de[j] = μ_{L-1}[j] - [y_{L-1} = j]

Viterbi replaces logsumexp by max (and keeps the argmax as a back-pointer).
The batch is vectorised; only time is looped. Past its length a sequence's α is carried
unchanged, so α_{T-1} = α_{L-1} for every sequence.

Constraints (optional): ``allowed[i, j] = False`` forbids tag i followed by tag j,
``allowed_start[j] = False`` forbids starting with j, ``allowed_end[j] = False`` ending with j.
Forbidden scores become -inf: such paths have probability 0, are never decoded, their
parameters get zero gradient, and a gold path using one is rejected (its nll would be +inf).
``birnn.heads.constraints.scheme_constraints`` builds them for IOB1, IOB2 and BIOES tags.
``viterbi`` is the decoder on its own, for any scores (a softmax tagger's log-probabilities
under the same constraints).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from birnn._checks import (
    check_choice,
    check_dtype,
    check_float_array,
    check_int,
    check_lengths,
    check_rng,
    check_shape,
    describe,
)
from birnn.functional import logsumexp

__all__ = ["CRF", "CRFCache", "viterbi"]

REDUCTIONS = ("mean", "sum")


class CRFCache(NamedTuple):
    emissions: NDArray  # (N, T, C)
    tags: NDArray[np.intp]  # (N, T), padding replaced by 0
    lengths: NDArray[np.intp]  # (N,)
    alpha: NDArray  # (N, T, C) forward log-scores, carried past each length
    log_z: NDArray  # (N,)
    transitions: NDArray  # (C, C) as used (copies; -inf where forbidden)
    start: NDArray  # (C,)
    end: NDArray  # (C,)
    scale: float  # 1/N for the mean, 1 for the sum


def _bool_array(name: str, value: Any, shape: tuple[int, ...]) -> NDArray[np.bool_] | None:
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.dtype != np.bool_:
        raise TypeError(f"{name} must be a boolean array; received {describe(value)}")
    check_shape(name, arr, shape)
    return arr.copy()


def _forbid(scores: NDArray, allowed: NDArray[np.bool_] | None) -> NDArray:
    """A copy of scores with -inf where not allowed."""
    return scores.copy() if allowed is None else np.where(allowed, scores, -np.inf)


class CRF:
    """Linear-chain CRF over ``num_tags`` tags; parameters ``transitions`` (C, C) ([i, j]: tag i
    followed by tag j), ``start`` (C,) and ``end`` (C,), initialised U(-0.1, 0.1)."""

    def __init__(
        self,
        num_tags: int,
        rng: np.random.Generator,
        dtype: Any = np.float32,
        allowed: Any = None,
        allowed_start: Any = None,
        allowed_end: Any = None,
    ) -> None:
        c = self.num_tags = check_int("num_tags", num_tags, 1)
        check_rng(rng)
        self.dtype = check_dtype(dtype)
        self.allowed = _bool_array("allowed", allowed, (c, c))
        self.allowed_start = _bool_array("allowed_start", allowed_start, (c,))
        self.allowed_end = _bool_array("allowed_end", allowed_end, (c,))
        self.params: dict[str, NDArray] = {
            "transitions": rng.uniform(-0.1, 0.1, (c, c)).astype(self.dtype),
            "start": rng.uniform(-0.1, 0.1, c).astype(self.dtype),
            "end": rng.uniform(-0.1, 0.1, c).astype(self.dtype),
        }

    def __repr__(self) -> str:
        masks = (self.allowed, self.allowed_start, self.allowed_end)
        constrained = any(m is not None for m in masks)
        return f"CRF({self.num_tags}, constrained={constrained})"

    # ---- shared pieces -----------------------------------------------------------------------
    def _scores(self) -> tuple[NDArray, NDArray, NDArray]:
        """(A, s, e) as used: copies of the parameters with -inf where forbidden."""
        return (
            _forbid(self.params["transitions"], self.allowed),
            _forbid(self.params["start"], self.allowed_start),
            _forbid(self.params["end"], self.allowed_end),
        )

    def _inputs(self, emissions: Any, lengths: Any) -> tuple[NDArray, NDArray[np.intp]]:
        em = check_float_array("emissions", emissions, self.dtype)
        if em.ndim != 3 or em.shape[2] != self.num_tags or em.shape[1] < 1:
            raise ValueError(
                f"emissions must have shape (N, T, {self.num_tags}) with T >= 1; "
                f"received shape {em.shape}"
            )
        return em, check_lengths(lengths, em.shape[0], em.shape[1])

    @staticmethod
    def _alpha(em: NDArray, lengths: NDArray[np.intp], a: NDArray, s: NDArray) -> NDArray:
        """α (N, T, C): α_0 = s + E_0, α_t = logsumexp_i(α_{t-1}[i] + A[i, :]) + E_t (t < L)."""
        alpha = np.empty_like(em)
        alpha[:, 0] = s + em[:, 0]
        for t in range(1, em.shape[1]):
            nxt = logsumexp(alpha[:, t - 1, :, None] + a, axis=1) + em[:, t]
            alpha[:, t] = np.where((t < lengths)[:, None], nxt, alpha[:, t - 1])
        return alpha

    @staticmethod
    def _beta(em: NDArray, lengths: NDArray[np.intp], a: NDArray, e: NDArray) -> NDArray:
        """β (N, T, C): β_t = e for t >= L-1,
        else β_t[i] = logsumexp_j(A[i, j] + E_{t+1}[j] + β_{t+1}[j])."""
        beta = np.empty_like(em)
        beta[:, -1] = e
        for t in range(em.shape[1] - 2, -1, -1):
            rec = logsumexp(a + (em[:, t + 1] + beta[:, t + 1])[:, None, :], axis=2)
            beta[:, t] = np.where((t < lengths - 1)[:, None], rec, e)
        return beta

    @staticmethod
    def _transition_scores(
        y: NDArray[np.intp],
        lengths: NDArray[np.intp],
        valid: NDArray[np.bool_],
        scores: tuple[NDArray, NDArray, NDArray],
    ) -> NDArray:
        """s[y_0] + Σ_{1<=t<L} A[y_{t-1}, y_t] + e[y_{L-1}] per sequence (y 0 on padding)."""
        a, s, e = scores
        pair = a[y[:, :-1], y[:, 1:]]  # (N, T-1): A[y_{t-1}, y_t]
        ends = s[y[:, 0]] + e[y[np.arange(y.shape[0]), lengths - 1]]
        return ends + np.sum(np.where(valid[:, 1:], pair, 0), axis=1)

    def transition_scores(self, tags: Any, lengths: Any) -> NDArray:
        """The part of each path's score that is not emissions, (N,):
        s[y_0] + Σ_{1<=t<L} A[y_{t-1}, y_t] + e[y_{L-1}] (-inf on a forbidden step).

        tags (N, T) int in [0, C) at valid positions (padding may hold anything); lengths (N,).
        """
        y = np.asarray(tags)
        if y.dtype.kind not in "iu" or y.ndim != 2 or y.shape[1] < 1:
            raise TypeError(f"tags must be an (N, T) integer array; received {describe(tags)}")
        lens = check_lengths(lengths, y.shape[0], y.shape[1])
        valid = np.arange(y.shape[1])[None, :] < lens[:, None]
        counted = y[valid]
        if counted.size and (counted.min() < 0 or counted.max() >= self.num_tags):
            raise ValueError(
                f"tags must be in [0, {self.num_tags}) at valid positions; "
                f"received min {counted.min()} and max {counted.max()}"
            )
        y = np.where(valid, y, 0).astype(np.intp)
        return self._transition_scores(y, lens, valid, self._scores())

    # ---- loss --------------------------------------------------------------------------------
    def nll(
        self, emissions: Any, tags: Any, lengths: Any, reduction: str = "mean"
    ) -> tuple[float, CRFCache]:
        """-log p(tags | emissions), averaged over the batch ("mean") or summed ("sum").

        emissions (N, T, C) float; tags (N, T) int in [0, C) at valid positions (padding may hold
        anything, e.g. -1); lengths (N,) int in [1, T].
        """
        em, lens = self._inputs(emissions, lengths)
        check_choice("reduction", reduction, REDUCTIONS)
        y = np.asarray(tags)
        if y.dtype.kind not in "iu":
            raise TypeError(f"tags must be an integer array; received {describe(tags)}")
        check_shape("tags", y, em.shape[:2])
        n, steps, c = em.shape
        valid = np.arange(steps)[None, :] < lens[:, None]
        counted = y[valid]
        if counted.size and (counted.min() < 0 or counted.max() >= c):
            raise ValueError(
                f"tags must be in [0, {c}) at valid positions; "
                f"received min {counted.min()} and max {counted.max()}"
            )
        y = np.where(valid, y, 0).astype(np.intp)
        a, s, e = self._scores()
        alpha = self._alpha(em, lens, a, s)
        log_z = logsumexp(alpha[:, -1] + e, axis=1)

        gold = self._transition_scores(y, lens, valid, (a, s, e))
        gold = gold + np.sum(np.take_along_axis(em, y[..., None], 2)[..., 0] * valid, axis=1)
        if not np.all(np.isfinite(gold)):
            bad = np.flatnonzero(~np.isfinite(gold)).tolist()
            raise ValueError(f"tags of sequences {bad} use a forbidden start, transition or end")

        scale = 1.0 / max(n, 1) if reduction == "mean" else 1.0
        loss = float(np.sum(log_z - gold, dtype=np.float64)) * scale
        return loss, CRFCache(em, y, lens, alpha, log_z, a, s, e, scale)

    def backward(self, cache: CRFCache, d_loss: float = 1.0) -> tuple[NDArray, dict[str, NDArray]]:
        """(d_emissions (N, T, C), zero on padding; grads keyed like params): expected counts
        under the model minus the gold counts, times d_loss (and 1/N for the mean)."""
        em, y, lens, alpha, log_z, a, _, e, scale = cache
        n, steps, c = em.shape
        k = self.dtype.type(float(d_loss) * scale)
        valid = (np.arange(steps)[None, :] < lens[:, None])[..., None]
        beta = self._beta(em, lens, a, e)
        mu = np.exp(alpha + beta - log_z[:, None, None]) * valid  # unary marginals
        gold = np.zeros_like(em)
        np.put_along_axis(gold, y[..., None], valid.astype(em.dtype), axis=2)

        d_trans = np.zeros((c, c), dtype=em.dtype)
        for t in range(1, steps):
            xi = np.exp(
                alpha[:, t - 1, :, None]
                + a
                + (em[:, t] + beta[:, t])[:, None, :]
                - log_z[:, None, None]
            )  # (N, C, C) pairwise marginals
            d_trans += np.tensordot(valid[:, t, 0].astype(em.dtype), xi, axes=1)
        pairs = (y[:, :-1] * c + y[:, 1:])[valid[:, 1:, 0]]
        d_trans -= np.bincount(pairs, minlength=c * c).reshape(c, c).astype(em.dtype)

        rows = np.arange(n)
        last = gold[rows, lens - 1]
        grads = {
            "transitions": k * d_trans,
            "start": k * np.sum(mu[:, 0] - gold[:, 0], axis=0),
            "end": k * np.sum(mu[rows, lens - 1] - last, axis=0),
        }
        return k * (mu - gold), grads

    # ---- inference ---------------------------------------------------------------------------
    def marginals(self, emissions: Any, lengths: Any) -> NDArray:
        """p(y_t = j | emissions) = exp(α_t[j] + β_t[j] - log Z), (N, T, C) in the emissions'
        dtype; rows sum to 1 at valid steps, 0 on padding.

        Computed in float64 whatever the dtype: α and β grow with the sentence (thousands on
        long ones), and float32's rounding of α + β - log Z there costs up to ~1e-3 of
        probability."""
        em, lens = self._inputs(emissions, lengths)
        em64 = em.astype(np.float64)
        a, s, e = (x.astype(np.float64) for x in self._scores())
        alpha = self._alpha(em64, lens, a, s)
        log_z = logsumexp(alpha[:, -1] + e, axis=1)
        beta = self._beta(em64, lens, a, e)
        valid = (np.arange(em.shape[1])[None, :] < lens[:, None])[..., None]
        return (np.exp(alpha + beta - log_z[:, None, None]) * valid).astype(em.dtype)

    def decode(self, emissions: Any, lengths: Any) -> NDArray[np.intp]:
        """Viterbi: the highest-scoring tag path of each sequence, (N, T) with -1 on padding.

        ``[row[:L].tolist() for row, L in zip(paths, lengths)]`` gives lists of tag indices.
        """
        em, lens = self._inputs(emissions, lengths)
        return viterbi(em, lens, *self._scores())


def viterbi(
    emissions: NDArray, lengths: NDArray[np.intp], a: NDArray, s: NDArray, e: NDArray
) -> NDArray[np.intp]:
    """argmax over tag paths y of s[y_0] + Σ_t E[t, y_t] + Σ_t A[y_{t-1}, y_t] + e[y_{L-1}]:
    (N, T) tag indices, -1 on padding; -inf entries of (A, s, e) are never used unless every
    path needs one. ``emissions`` (N, T, C) and ``lengths`` (N,) are trusted (checked by the
    caller)."""
    em, lens = emissions, lengths
    n, steps, c = em.shape
    delta = s + em[:, 0]  # best score of a path ending in each tag
    back = np.zeros((steps, n, c), dtype=np.intp)  # back[t, n, j]: best tag before j at t
    for t in range(1, steps):
        cand = delta[:, :, None] + a  # (N, C_prev, C)
        back[t] = np.argmax(cand, axis=1)
        best = np.take_along_axis(cand, back[t][:, None, :], axis=1)[:, 0] + em[:, t]
        delta = np.where((t < lens)[:, None], best, delta)
    rows = np.arange(n)
    tag = np.argmax(delta + e, axis=1)  # the tag at each sequence's last step L-1
    paths = np.full((n, steps), -1, dtype=np.intp)
    for t in range(steps - 1, -1, -1):
        if t < steps - 1:
            tag = np.where(t < lens - 1, back[t + 1][rows, tag], tag)
        paths[:, t] = np.where(t < lens, tag, -1)
    return paths
