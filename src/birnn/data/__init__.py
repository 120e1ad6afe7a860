"""Data for the training stack: readers, tag schemes, vocabularies and batching.

Readers return plain records (``TaggedSentence``, ``LabelledText``) and raise ``DataError``
(a ``ValueError``) whose message starts with ``"{path}:{line}: "`` for a bad file. See
``docs/TRAINING-DESIGN.md`` for how the parts fit together.
"""

from birnn.data.batching import length_batches, pad, pad_chars
from birnn.data.classification import read_classification
from birnn.data.columns import read_columns
from birnn.data.conllu_reader import read_conllu
from birnn.data.errors import DataError
from birnn.data.records import LabelledText, TaggedSentence
from birnn.data.tags import SCHEMES, convert, from_spans, split_tag, to_spans
from birnn.data.vocab import PAD, UNK, Vocab

__all__ = [
    "PAD",
    "SCHEMES",
    "UNK",
    "DataError",
    "LabelledText",
    "TaggedSentence",
    "Vocab",
    "convert",
    "from_spans",
    "length_batches",
    "pad",
    "pad_chars",
    "read_classification",
    "read_columns",
    "read_conllu",
    "split_tag",
    "to_spans",
]
