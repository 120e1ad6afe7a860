"""Building blocks of the models around the recurrent core: each with a hand-derived backward.

See docs/TRAINING-DESIGN.md for the forward/backward/cache convention they all follow.
"""

from birnn.layers._prefixed import prefixed
from birnn.layers.chars import CharFeatures, CharFeaturesCache, unique_words
from birnn.layers.dropout import Dropout, DropoutCache, word_dropout
from birnn.layers.embedding import Embedding, EmbeddingCache, scatter_add_rows
from birnn.layers.linear import Linear, LinearCache
from birnn.layers.pooling import POOLING_MODES, POOLS, Pooling, PoolingCache

__all__ = [
    "POOLING_MODES",
    "POOLS",
    "CharFeatures",
    "CharFeaturesCache",
    "Dropout",
    "DropoutCache",
    "Embedding",
    "EmbeddingCache",
    "Linear",
    "LinearCache",
    "Pooling",
    "PoolingCache",
    "prefixed",
    "scatter_add_rows",
    "unique_words",
    "word_dropout",
]
