"""A sequence classifier: encoder -> pooling over time -> softmax over labels.

y = Encoder(tokens)                     (N, T, W)
p = pool(y, lengths)                    (N, W):  "final" = [h_fwd at len-1, h_bwd at 0], the
                                        final states of both directions at each true end;
                                        "mean" or "max" over the real steps; modes
                                        joined by "+" concatenate: (N, k*W)
s = p @ W_out.T + b_out                 (N, C)
loss = mean over sentences of -log softmax(s)[label]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.random import Generator

from birnn._checks import check_int
from birnn.functional import softmax
from birnn.layers import prefixed
from birnn.layers.dropout import Dropout
from birnn.layers.pooling import POOLING_MODES, Pooling
from birnn.losses import softmax_cross_entropy
from birnn.models.base import EncoderModel
from birnn.models.batch import TokenBatch
from birnn.models.encoder import Array, EncoderConfig, as_encoder_config


@dataclass
class ClassifierConfig:
    encoder: EncoderConfig
    num_labels: int  # size of the label vocabulary
    pooling: str = "final"  # "final" | "mean" | "max", or several joined by "+" ("final+max")

    def __post_init__(self) -> None:
        self.encoder = as_encoder_config(self.encoder)
        if not isinstance(self.pooling, str) or not set(self.pooling.split("+")) <= set(
            POOLING_MODES
        ):
            raise ValueError(
                f"pooling must be one of {sorted(POOLING_MODES)} or several joined by '+' "
                f"(e.g. 'final+max'); received {self.pooling!r}"
            )
        check_int("num_labels", self.num_labels, 2)


class Classifier(EncoderModel):
    """Scores over the labels from the encoder's features pooled over time (then dropout)."""

    config: ClassifierConfig

    def __init__(
        self,
        config: ClassifierConfig,
        rng: Generator,
        dtype: Any = np.float32,
        word_counts: Any = None,
    ) -> None:
        enc = config.encoder
        self.pool = Pooling(config.pooling, split=enc.hidden if enc.bidirectional else None)
        self.dropout = Dropout(enc.dropout)
        width = self.pool.output_size(enc.output_size)
        super().__init__(config, config.num_labels, rng, dtype, word_counts, width)

    def _scores(
        self, batch: TokenBatch, training: bool, rng: np.random.Generator | None
    ) -> tuple[Array, tuple[Any, ...]]:
        y, enc_cache = self.encoder.forward(batch, training=training, rng=rng)
        pooled, pool_cache = self.pool.forward(y, batch.lengths)
        pooled, drop_cache = self.dropout.forward(pooled, training, rng)
        scores, out_cache = self.out.forward(pooled)
        return scores, (enc_cache, pool_cache, drop_cache, out_cache)

    def loss_and_grads(
        self, batch: TokenBatch, rng: np.random.Generator
    ) -> tuple[float, dict[str, Array], int]:
        """Mean loss per sentence, its gradients, and the number of sentences."""
        assert batch.targets is not None
        with self.threads():  # every GEMM of the step, the encoder's chains side by side
            scores, (enc_cache, pool_cache, drop_cache, out_cache) = self._scores(batch, True, rng)
            loss, d_scores = softmax_cross_entropy(scores, batch.targets)
            d_pooled, out_grads = self.out.backward(out_cache, d_scores)
            d_pooled, _ = self.dropout.backward(drop_cache, d_pooled)
            dy, _ = self.pool.backward(pool_cache, d_pooled)
            grads = prefixed("out", out_grads) | self.encoder.backward(enc_cache, dy)
        return float(loss), grads, batch.size

    def predict(self, batch: TokenBatch) -> list[int]:
        scores, _ = self._scores(batch, False, None)
        return scores.argmax(axis=-1).tolist()

    def predict_probabilities(self, batch: TokenBatch) -> Array:
        """(N, C) softmax(s): each label's probability for each sentence."""
        scores, _ = self._scores(batch, False, None)
        return softmax(scores.astype(np.float64))
