"""A token tagger: encoder -> per-token scores -> softmax or a linear-chain CRF.

    y = Encoder(tokens)              (N, T, W)
    s = y @ W_out.T + b_out          (N, T, C) emission scores
    softmax head:  loss = mean over real tokens of -log softmax(s_t)[tag_t]
    CRF head:      loss = (sum over sentences of -log p(tags | s)) / tokens   (forward algorithm)

Prediction takes the argmax tag per token (softmax) or the best whole path (CRF, Viterbi).
With an entity ``scheme`` (and the tag names) only valid tag sequences come out
(``birnn.heads.constraints``): the CRF's forbidden starts, transitions and ends score -inf in
training and decoding, and the softmax head decodes with Viterbi over its log-probabilities
under the same masks (the most probable valid sequence of independent token choices).
Its probabilities: softmax(s_t)[tag_t] per token, or with the CRF the marginal
p(y_t = tag_t | s) (forward-backward), the probability that the token's tag is the one on the
best path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.random import Generator

from birnn._checks import check_int, describe
from birnn.data.tags import SCHEMES
from birnn.functional import log_softmax
from birnn.heads.constraints import Constraints, scheme_constraints
from birnn.heads.crf import CRF, viterbi
from birnn.layers import prefixed
from birnn.losses import softmax_cross_entropy
from birnn.models.base import EncoderModel
from birnn.models.batch import TokenBatch
from birnn.models.encoder import Array, EncoderConfig, as_encoder_config

HEADS = ("softmax", "crf")


@dataclass
class TaggerConfig:
    encoder: EncoderConfig
    num_tags: int  # size of the tag vocabulary
    head: str = "softmax"  # "softmax" (independent tokens) | "crf" (best whole tag path)
    scheme: str | None = None  # "iob1" | "iob2" | "bioes": decode valid sequences only
    tags: list[str] | None = None  # the tag names in id order (what the scheme constrains)

    def __post_init__(self) -> None:
        self.encoder = as_encoder_config(self.encoder)
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}; received {self.head!r}")
        check_int("num_tags", self.num_tags, 1)
        if self.scheme is not None:
            if self.scheme not in SCHEMES:
                raise ValueError(
                    f"scheme must be one of {sorted(SCHEMES)} or None; received {self.scheme!r}"
                )
            if not isinstance(self.tags, list) or len(self.tags) != self.num_tags:
                raise ValueError(
                    f"a scheme needs the names of the {self.num_tags} tags (tags=[...]); "
                    f"received {describe(self.tags)}"
                )

    def constraints(self) -> Constraints | None:
        """The scheme's masks over the tags, or None without a scheme."""
        if self.scheme is None:
            return None
        assert self.tags is not None
        return scheme_constraints(self.tags, self.scheme)


class Tagger(EncoderModel):
    """Emission scores per token from the encoder's features, then a softmax or a CRF head."""

    config: TaggerConfig

    def __init__(
        self, config: TaggerConfig, rng: Generator, dtype: Any = np.float32, word_counts: Any = None
    ) -> None:
        width = config.encoder.output_size
        super().__init__(config, config.num_tags, rng, dtype, word_counts, width)
        m = self.masks = config.constraints()
        masks = (
            {}
            if m is None
            else {"allowed": m.allowed, "allowed_start": m.start, "allowed_end": m.end}
        )
        self.crf = CRF(config.num_tags, rng, dtype, **masks) if config.head == "crf" else None

    @property
    def params(self) -> dict[str, Array]:
        out = super().params
        return out | prefixed("crf", self.crf.params) if self.crf is not None else out

    def loss_and_grads(
        self, batch: TokenBatch, rng: np.random.Generator
    ) -> tuple[float, dict[str, Array], int]:
        """Mean loss per real token, the gradients of that loss, and the number of tokens."""
        assert batch.targets is not None
        with self.threads():  # every GEMM of the step, the encoder's chains side by side
            y, enc_cache = self.encoder.forward(batch, training=True, rng=rng)
            scores, out_cache = self.out.forward(y)
            tokens = batch.tokens
            grads: dict[str, Array] = {}
            if self.crf is None:
                loss, d_scores = softmax_cross_entropy(scores, batch.targets, batch.mask())
            else:
                # the CRF's loss is a mean over sentences; rescale it to a mean over tokens
                per_sentence, crf_cache = self.crf.nll(scores, batch.targets, batch.lengths)
                scale = batch.size / tokens
                loss = per_sentence * scale
                d_scores, crf_grads = self.crf.backward(crf_cache, scale)
                grads |= prefixed("crf", crf_grads)
            dy, out_grads = self.out.backward(out_cache, d_scores)
            grads |= prefixed("out", out_grads)
            grads |= self.encoder.backward(enc_cache, dy)
        return float(loss), grads, tokens

    def _emissions(self, batch: TokenBatch) -> Array:
        y, _ = self.encoder.forward(batch)
        scores, _ = self.out.forward(y)
        return scores

    def _best(self, scores: Array, lengths: Any) -> Any:
        """(N, T) tag ids: the Viterbi paths (CRF, or softmax under the scheme's masks) or each
        token's argmax."""
        if self.crf is not None:
            return self.crf.decode(scores, lengths)
        if self.masks is None:
            return scores.argmax(-1)
        a, s, e = (np.where(m, 0.0, -np.inf) for m in self.masks)
        return viterbi(log_softmax(scores), np.asarray(lengths, dtype=np.intp), a, s, e)

    def predict(self, batch: TokenBatch) -> list[list[int]]:
        """The predicted tag ids of each sentence (its real tokens only)."""
        best = self._best(self._emissions(batch), batch.lengths)
        return [best[i, :n].tolist() for i, n in enumerate(batch.lengths)]

    def predict_probabilities(self, batch: TokenBatch) -> list[tuple[list[int], list[float]]]:
        """Per sentence: the predicted tag ids and the probability of each (module notes)."""
        scores = self._emissions(batch)
        best = self._best(scores, batch.lengths)
        at_best = np.maximum(best, 0)[..., None]
        if self.crf is not None:
            p = self.crf.marginals(scores, batch.lengths)
            chosen = np.take_along_axis(p, at_best, axis=-1)[..., 0]
        else:  # softmax's value at the chosen tag alone: exp of the gathered log-softmax
            chosen = np.exp(np.take_along_axis(log_softmax(scores.astype(np.float64)), at_best,
                                               axis=-1)[..., 0])  # fmt: skip
        return [(best[i, :n].tolist(), chosen[i, :n].tolist()) for i, n in enumerate(batch.lengths)]
