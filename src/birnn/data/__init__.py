"""Data for the training stack: records, readers, tag schemes, vocabularies and batching.

Readers return plain records (``TaggedSentence``, ``LabelledText``, ``ClozeItem``) and raise
``DataError`` (a ``ValueError``) whose message starts with ``"{path}:{line}: "`` for a bad file.
Every reader goes through one text-file reader (``_files.numbered_lines``: UTF-8 with or without
a byte-order mark, plain or gzip-compressed). See ``docs/TRAINING-DESIGN.md`` for how the parts
fit together.
"""

from birnn.data.batching import length_batches, pad
from birnn.data.classification import read_classification
from birnn.data.cloze import blank_out, read_cloze, write_cloze
from birnn.data.columns import read_columns
from birnn.data.conllu_reader import conllu_lines, is_conllu, read_conllu
from birnn.data.errors import DataError
from birnn.data.records import BLANK, ClozeItem, LabelledText, TaggedSentence
from birnn.data.tags import SCHEMES, convert, from_spans, split_tag, to_spans
from birnn.data.texts import read_texts
from birnn.data.vocab import PAD, UNK, Vocab

__all__ = [
    "BLANK",
    "PAD",
    "SCHEMES",
    "UNK",
    "ClozeItem",
    "DataError",
    "LabelledText",
    "TaggedSentence",
    "Vocab",
    "blank_out",
    "conllu_lines",
    "convert",
    "from_spans",
    "is_conllu",
    "length_batches",
    "pad",
    "read_classification",
    "read_cloze",
    "read_columns",
    "read_conllu",
    "read_texts",
    "split_tag",
    "to_spans",
    "write_cloze",
]
