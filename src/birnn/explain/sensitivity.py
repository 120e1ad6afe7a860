"""Sensitivity through time, per direction: how much each input position moves one score.

For output position p (a token, the blank, the text) and its predicted label c, the score
s = s[p, c] and every input position u (the recurrent stack's input x_u: word embedding and
character features)::

    forward[p, u]  = || ds/dx_u || through forward chains only     (exactly 0 for u > p)
    backward[p, u] = || ds/dx_u || through backward chains only    (exactly 0 for u < p)
    mixed[p, u]    = || the rest ||: paths that change direction between layers (L > 1)

computed with the model's own backward pass: d scores one-hot at (p, c), through the output
layer (and pooling), then the recurrent stack's backward with ``through`` stopping one
direction (``directions.path_gradients``). The P positions go in as P copies of the sentence,
row p seeded at p, so one backward per path gives every row of the maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from birnn.explain.directions import PathGradients, path_gradients
from birnn.explain.readout import ModelRun
from birnn.models.batch import Chars, TokenBatch

Array = NDArray[np.floating]


@dataclass(frozen=True)
class Sensitivity:
    """Maps (P, T): row i for output position ``positions[i]``, column u for input position u."""

    positions: list[int | None]  # output positions (None: the whole text)
    labels: list[int]  # the label whose score each row differentiates
    forward: Array
    backward: Array | None  # None: unidirectional
    mixed: Array | None  # None: one layer (no such path) or unidirectional
    gradients: PathGradients  # the vectors, (P, T, F) each


def repeat_batch(batch: TokenBatch, copies: int) -> TokenBatch:
    """``copies`` rows, each the first row of ``batch`` (its characters shared)."""
    one = np.zeros(copies, dtype=np.intp)
    chars = batch.chars
    if chars is not None:
        chars = Chars(chars.ids, chars.lengths, chars.index[one])
    return replace(
        batch,
        words=batch.words[one],
        lengths=batch.lengths[one],
        chars=chars,
        targets=None,
        positions=None if batch.positions is None else batch.positions[one],
    )


def _norms(g: Array) -> Array:
    return np.linalg.norm(g.astype(np.float64), axis=-1)


def _map(g: Array | None, length: int) -> Array | None:
    return None if g is None else _norms(g)[:, :length]


def sensitivity(run: ModelRun, labels: Sequence[int], positions: Sequence[int]) -> Sensitivity:
    """The maps of one sentence from ``run``, a model's run over copies of it
    (``repeat_batch``): row i differentiates the score of ``labels[i]`` at output position
    ``positions[i]`` (a tagger's token index; 0 for the one output of a classifier or fill
    model)."""
    rows = len(positions)
    if run.batch.size != rows or len(labels) != rows:
        raise ValueError(
            f"one copy of the sentence and one label per output position are needed; received "
            f"{run.batch.size} copies, {len(labels)} labels, {rows} positions"
        )
    length = int(run.batch.lengths[0])
    d_scores = np.zeros_like(run.scores)
    d_scores[np.arange(rows), list(positions), list(labels)] = 1
    paths = path_gradients(run.tape.owner, run.tape, run.backward(d_scores))
    if run.kind == "tag":
        out_positions: list[int | None] = [int(p) for p in positions]
    else:
        blank = run.batch.positions
        out_positions = [None if blank is None else int(blank[0])]
    return Sensitivity(
        positions=out_positions,
        labels=[int(c) for c in labels],
        forward=_norms(paths.forward)[:, :length],
        backward=_map(paths.backward, length),
        mixed=_map(paths.mixed, length),
        gradients=paths,
    )
