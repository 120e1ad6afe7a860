"""Each model's scores as a linear readout of its encoder, split by direction.

Every model is encoder -> dropout -> a linear layer (after a pooling, or at the blank)::

    tagger:      s[n, t]  = W y[n, t] + b                 P = T output positions
    fill:        s[n, 0]  = W y[n, blank_n] + b           P = 1
    classifier:  s[n, 0]  = W pool(y[n]) + b              P = 1

At inference dropout is the identity, so y is the recurrent stack's output and splits exactly
as y = y_fwd + y_bwd (``directions.split_output``); W is linear, so each score is
``forward + backward + bias`` with forward = W y_fwd (at the same positions). A pooled unit u of
the classifier is one feature w of y taken at one step (final, max) or averaged (mean), so with
the concat merge it belongs to one direction: w < H forward, else backward; its part of the
score is W[:, u] pool(y)[u].

``ModelRun.backward`` maps d scores to d h, the gradient entering the recurrent stack, with the
model's own backward pieces (the linear layer, the pooling, the dropout), for the sensitivity
maps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from birnn._checks import describe
from birnn.explain.directions import split_output
from birnn.models.batch import TokenBatch
from birnn.models.classifier import Classifier
from birnn.models.fill import FillModel
from birnn.models.tagger import Tagger
from birnn.recurrent.module import Tape

Array = NDArray[np.floating]


@dataclass
class ModelRun:
    """One inference pass of a model over a batch, and its scores split by direction."""

    kind: str  # "tag" | "classify" | "fill"
    batch: TokenBatch
    scores: Array  # (N, P, C) the model's own scores
    parts: dict[str, Array]  # "forward", "backward": (N, P, C); scores = their sum + bias
    bias: Array  # (C,)
    tape: Tape  # the recurrent stack's tape
    backward: Callable[[Array], Array]  # d scores (N, P, C) -> dL/dh (N, T, W) into the stack
    layers: int  # recurrent layers
    merge: str | None  # the top layer's merge; None: unidirectional
    detail: dict[str, Array] = field(default_factory=dict)  # classifier: per pooling and direction


def _encode(model: Any, batch: TokenBatch) -> tuple[Array, Any]:
    return model.encoder.forward(batch, training=False, keep_tape=True)


def _at_positions(model: Tagger | FillModel, batch: TokenBatch, kind: str) -> ModelRun:
    """Tagger (every position) and fill (the blank): s = W y[positions] + b."""
    y, cache = _encode(model, batch)
    split = split_output(model.encoder.rnn, cache.rnn)
    rows = np.arange(y.shape[0])
    if kind == "fill":
        assert batch.positions is not None
        pos = batch.positions

        def pick(a: Array) -> Array:
            return a[rows, pos][:, None, :]
    else:

        def pick(a: Array) -> Array:
            return a

    scores, out_cache = model.out.forward(pick(y))
    weight = model.out.params["weight"]

    def backward(d_scores: Array) -> Array:
        d_picked, _ = model.out.backward(out_cache, d_scores)
        if kind == "fill":
            dy = np.zeros_like(y)
            dy[rows, pos] = d_picked[:, 0]
        else:
            dy = d_picked
        return model.encoder.dropout.backward(cache.drop_out, dy)[0]

    parts = {
        "forward": pick(split.forward) @ weight.T,
        "backward": pick(split.backward) @ weight.T,
    }
    return ModelRun(
        kind, batch, scores, parts, model.out.params["bias"], cache.rnn, backward,
        split.layers, split.merge,
    )  # fmt: skip


def _classifier(model: Classifier, batch: TokenBatch) -> ModelRun:
    y, cache = _encode(model, batch)
    split = split_output(model.encoder.rnn, cache.rnn)
    if split.merge not in (None, "concat"):
        raise ValueError(
            f"a classifier's pooled units split by direction only with the concat merge; "
            f"received merge {split.merge!r}"
        )
    pooled, pool_cache = model.pool.forward(y, batch.lengths)
    pooled, drop_cache = model.dropout.forward(pooled, False, None)
    scores, out_cache = model.out.forward(pooled)
    weight = model.out.params["weight"]
    width = y.shape[2]
    hidden = model.encoder.config.hidden
    unit = np.arange(pooled.shape[1]) % width  # the feature of y each pooled unit reads
    is_forward = unit < hidden if split.merge else np.ones(unit.size, dtype=bool)
    detail: dict[str, Array] = {}
    for k, mode in enumerate(model.pool.modes):
        block = np.arange(pooled.shape[1]) // width == k
        for name, own in (("forward", is_forward), ("backward", ~is_forward)):
            keep = block & own
            detail[f"{mode} {name}"] = ((pooled * keep) @ weight.T)[:, None, :]
    parts = {
        "forward": ((pooled * is_forward) @ weight.T)[:, None, :],
        "backward": ((pooled * ~is_forward) @ weight.T)[:, None, :],
    }

    def backward(d_scores: Array) -> Array:
        d_pooled, _ = model.out.backward(out_cache, d_scores[:, 0])
        d_pooled, _ = model.dropout.backward(drop_cache, d_pooled)
        dy, _ = model.pool.backward(pool_cache, d_pooled)
        return model.encoder.dropout.backward(cache.drop_out, dy)[0]

    return ModelRun(
        "classify", batch, scores[:, None, :], parts, model.out.params["bias"], cache.rnn,
        backward, split.layers, split.merge, detail,
    )  # fmt: skip


READOUTS: dict[type, Callable[[Any, TokenBatch], ModelRun]] = {
    Tagger: lambda model, batch: _at_positions(model, batch, "tag"),
    FillModel: lambda model, batch: _at_positions(model, batch, "fill"),
    Classifier: _classifier,
}


def run_model(model: Any, batch: TokenBatch) -> ModelRun:
    """``model`` (a Tagger, Classifier or FillModel) at inference over ``batch``, split."""
    readout = READOUTS.get(type(model))
    if readout is None:
        raise TypeError(
            f"model must be a Tagger, Classifier or FillModel; received {describe(model)}"
        )
    return readout(model, batch)
