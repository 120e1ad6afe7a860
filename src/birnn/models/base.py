"""What every model is built from: the shared ``Encoder`` and a ``Linear`` layer to its scores.

    y = Encoder(tokens)              (N, T, W) contextual features
    s = f(y) @ W_out.T + b_out       scores; f picks or pools the features (width ``width``)

A model adds what lies between (a pooling, the blank's position) and after (a CRF, its loss).
Parameters are one flat dict: the encoder's names, then ``out.weight`` and ``out.bias``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from numpy.random import Generator

from birnn.layers import prefixed
from birnn.layers.linear import Linear
from birnn.models.encoder import Array, Encoder


class EncoderModel:
    """An encoder for ``config.encoder`` and an output layer from ``width`` features (the
    encoder's output size, or what a pooling of it gives) to ``outputs`` scores.

    ``word_counts``: the training count of each word id, for the encoder's rare-word dropout.
    The encoder draws its parameters from ``rng`` first, then the output layer.
    """

    def __init__(
        self, config: Any, outputs: int, rng: Generator, dtype: Any, word_counts: Any, width: int
    ) -> None:
        self.config = config
        self.encoder = Encoder(config.encoder, rng, dtype, word_counts)
        self.out = Linear(width, outputs, rng, dtype=dtype)

    @property
    def params(self) -> dict[str, Array]:
        return self.encoder.params | prefixed("out", self.out.params)

    def threads(self) -> AbstractContextManager[None]:
        """The thread setting of a whole training step (``loss_and_grads`` enters it): the
        encoder's recurrent module's (``RecurrentModule.threads``), so that with a
        bidirectional encoder no GEMM of the step wakes NumPy's BLAS pool to spin against the
        chains running side by side."""
        return self.encoder.rnn.threads()
