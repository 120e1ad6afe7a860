"""Fill in the blank: predict the word at a masked position from the words on both sides.

    y = Encoder(tokens)                     the blank is the token BLANK at position b
    s = y[b] @ W_out.T + b_out              (N, V) scores over the answer vocabulary
    loss = mean over sentences of -log softmax(s)[answer]

A bidirectional encoder's y[b] holds the forward chain's state (everything left of the blank,
and the blank token itself) and the backward chain's (everything right of it). A
unidirectional one sees only the left part: the demo shows what that costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.random import Generator

from birnn._checks import check_int
from birnn.functional import softmax
from birnn.layers import prefixed
from birnn.losses import softmax_cross_entropy
from birnn.models.base import EncoderModel
from birnn.models.batch import TokenBatch
from birnn.models.encoder import Array, EncoderConfig, as_encoder_config


@dataclass
class FillConfig:
    encoder: EncoderConfig
    num_answers: int  # size of the answer vocabulary

    def __post_init__(self) -> None:
        self.encoder = as_encoder_config(self.encoder)
        check_int("num_answers", self.num_answers, 2)


class FillModel(EncoderModel):
    """Scores over the answers from the encoder's features at each sentence's blank."""

    config: FillConfig

    def __init__(
        self, config: FillConfig, rng: Generator, dtype: Any = np.float32, word_counts: Any = None
    ) -> None:
        width = config.encoder.output_size
        super().__init__(config, config.num_answers, rng, dtype, word_counts, width)

    def loss_and_grads(
        self, batch: TokenBatch, rng: np.random.Generator
    ) -> tuple[float, dict[str, Array], int]:
        """Mean loss per blank, its gradients, and the number of blanks."""
        assert batch.targets is not None and batch.positions is not None
        with self.threads():  # every GEMM of the step, the encoder's chains side by side
            y, enc_cache = self.encoder.forward(batch, training=True, rng=rng)
            rows = np.arange(batch.size)
            scores, out_cache = self.out.forward(y[rows, batch.positions])
            loss, d_scores = softmax_cross_entropy(scores, batch.targets)
            d_blank, out_grads = self.out.backward(out_cache, d_scores)
            dy = np.zeros_like(y)
            dy[rows, batch.positions] = d_blank
            grads = prefixed("out", out_grads) | self.encoder.backward(enc_cache, dy)
        return float(loss), grads, batch.size

    def scores(self, batch: TokenBatch) -> Array:
        """(N, V) scores of every answer at each sentence's blank."""
        assert batch.positions is not None
        y, _ = self.encoder.forward(batch)
        scores, _ = self.out.forward(y[np.arange(batch.size), batch.positions])
        return scores

    def predict(self, batch: TokenBatch) -> list[int]:
        return self.scores(batch).argmax(axis=-1).tolist()

    def predict_probabilities(self, batch: TokenBatch) -> Array:
        """(N, V) softmax(s): each answer's probability at each sentence's blank."""
        return softmax(self.scores(batch).astype(np.float64))
