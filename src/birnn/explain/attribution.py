"""Which direction decided: each prediction's score split exactly, beside its runner-up's.

For an output position (a token, the blank, the whole text) with predicted label c and
runner-up r (the next best score; for a CRF, the best path with another tag there)::

    s[c] = forward[c] + backward[c] + bias[c]          (readout.py: exact, not an estimate)
    margin = s[c] - s[r] = Δforward + Δbackward + Δbias

so the margin's parts say how much each direction pushed the prediction past its rival:
``decided_by`` is the largest part; ``forward_share`` = Δf+ / (Δf+ + Δb+) with x+ = max(x, 0)
(None when neither direction favoured the prediction).

A CRF tagger predicts the best whole path y* (Viterbi). Its score splits as

    score(y) = Σ_t E[t, y_t] + transitions(y),  E[t, j] = forward + backward + bias (per step),
    transitions(y) = start[y_0] + Σ_t A[y_{t-1}, y_t] + end[y_{L-1}]

and the runner-up at token t is the best path whose tag at t differs (Viterbi with that one
emission forbidden); the path margin then has a fourth part, the transitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from birnn.explain.readout import ModelRun
from birnn.heads.crf import CRF

Array = NDArray[np.floating]
PARTS = ("forward", "backward", "bias")


@dataclass(frozen=True)
class Split:
    """One score and its exact parts: ``score == sum(parts.values())`` (to rounding)."""

    label: str
    index: int  # the label's id
    score: float
    parts: dict[str, float]  # forward, backward, bias (a CRF path: + transitions)
    detail: dict[str, float] = field(default_factory=dict)  # classifier: per pooling, direction


@dataclass(frozen=True)
class Decision:
    """The prediction at one output position, its runner-up, and (CRF) the two paths."""

    position: int | None  # token index (tagger, the blank); None: the whole text (classifier)
    predicted: Split  # for a CRF: the emission score of the predicted tag at this token
    runner_up: Split | None  # None: a single label, or no allowed alternative
    # CRF only: the best path, and the best path with another tag here
    path: Split | None = None
    path_runner_up: Split | None = None

    @property
    def margin(self) -> dict[str, float]:
        """Each part of (prediction - runner-up): for a CRF the whole paths' margin."""
        best, rival = (
            (self.path, self.path_runner_up) if self.path is not None
            else (self.predicted, self.runner_up)
        )  # fmt: skip
        if rival is None:
            return dict(best.parts)
        return {k: best.parts[k] - rival.parts[k] for k in best.parts}

    @property
    def decided_by(self) -> str:
        m = self.margin
        return max(m, key=lambda k: m[k])

    @property
    def forward_share(self) -> float | None:
        m = self.margin
        f, b = max(m["forward"], 0.0), max(m["backward"], 0.0)
        return f / (f + b) if f + b > 0 else None


def _split(run: ModelRun, row: int, p: int, c: int, labels: list[str]) -> Split:
    parts = {
        "forward": float(run.parts["forward"][row, p, c]),
        "backward": float(run.parts["backward"][row, p, c]),
        "bias": float(run.bias[c]),
    }
    detail = {k: float(v[row, p, c]) for k, v in run.detail.items()}
    return Split(labels[c], c, float(run.scores[row, p, c]), parts, detail)


def softmax_decisions(run: ModelRun, labels: list[str], row: int = 0) -> list[Decision]:
    """Argmax label and runner-up at every output position of ``run``'s row ``row``."""
    count = int(run.batch.lengths[row]) if run.kind == "tag" else 1
    out = []
    for p in range(count):
        order = np.argsort(-run.scores[row, p], kind="stable")
        best = _split(run, row, p, int(order[0]), labels)
        rival = _split(run, row, p, int(order[1]), labels) if order.size > 1 else None
        position = p if run.kind == "tag" else _position(run, row)
        out.append(Decision(position, best, rival))
    return out


def _position(run: ModelRun, row: int) -> int | None:
    positions = run.batch.positions
    return int(positions[row]) if positions is not None else None


def _path_split(
    run: ModelRun, crf: CRF, labels: list[str], row: int, tags: NDArray[np.intp], t: int
) -> Split:
    """A whole tag path's score, split: the emissions' parts summed along it, and its
    transitions; labelled with its tag at token t."""
    steps = np.arange(tags.size)
    parts = {k: float(np.sum(run.parts[k][row, steps, tags], dtype=np.float64)) for k in PARTS[:2]}
    parts["bias"] = float(np.sum(run.bias[tags], dtype=np.float64))
    parts["transitions"] = float(crf.transition_scores(tags[None, :], np.array([tags.size]))[0])
    emissions = float(np.sum(run.scores[row, steps, tags], dtype=np.float64))
    tag = int(tags[t])
    return Split(labels[tag], tag, emissions + parts["transitions"], parts)


def crf_decisions(run: ModelRun, crf: CRF, labels: list[str], row: int = 0) -> list[Decision]:
    """The Viterbi path of row ``row`` and, per token, the best path with another tag there."""
    n = int(run.batch.lengths[row])
    emissions = run.scores[row : row + 1, :n]
    best = crf.decode(emissions, np.array([n]))[0]
    # copy t has the predicted tag's emission at token t forbidden
    knocked = np.repeat(emissions, n, axis=0)
    knocked[np.arange(n), np.arange(n), best] = -np.inf
    rivals = crf.decode(knocked, np.full(n, n))
    out = []
    for t in range(n):
        rival = rivals[t]
        path = _path_split(run, crf, labels, row, best, t)
        other = _path_split(run, crf, labels, row, rival, t)
        # no allowed path avoids the predicted tag here (one tag, or constraints)
        found = rival[t] != best[t] and np.isfinite(other.score)
        out.append(
            Decision(
                position=t,
                predicted=_split(run, row, t, int(best[t]), labels),
                runner_up=_split(run, row, t, int(rival[t]), labels) if found else None,
                path=path,
                path_runner_up=other if found else None,
            )
        )
    return out


def decisions(run: ModelRun, labels: list[str], crf: CRF | None = None) -> list[Decision]:
    """The decisions of row 0 of ``run``: CRF paths for a CRF tagger, else argmax labels."""
    if crf is not None:
        return crf_decisions(run, crf, labels)
    return softmax_decisions(run, labels)
