"""Vocabularies inside the graph: strings to ids and ids back to strings (ai.onnx.ml
``LabelEncoder``, which onnxruntime runs on string tensors of any shape).

    ids   = LabelEncoder(tokens; keys = the vocabulary's tokens, values = their ids,
                         default = <unk>'s id)          birnn's ``Vocab.index``
    names = LabelEncoder(ids; keys = ids, values = tokens, default = "")   ``Vocab.decode``

A vocabulary that falls back to the lower-cased form (``fallback_lowercase``: a cased one
with pretrained vectors) looks each token up as it is, then folded where that found nothing::

    ids = Where(exact >= 0, exact, LabelEncoder(lower(tokens)))   exact: default -1

A lower-casing vocabulary (``--lowercase``) folds its input first with ``StringNormalizer``
(LOWER) in the locale ``C.UTF-8``, which glibc systems have (onnxruntime refuses to load the
model where that locale is missing). Its folding is Python's ``str.lower``, which birnn uses,
for every code point but "İ" ("i̇" in Python, "i" here), and without Python's word-final sigma
("ΟΔΟΣ" -> "οδος" in Python, "οδοσ" here); the vocabulary's own tokens are already folded.
"""

from __future__ import annotations

import numpy as np

from birnn.data.vocab import Vocab
from birnn.onnx._graph import ML, Graph

LOCALE = "C.UTF-8"  # a UTF-8 locale with Unicode case mappings that glibc always has


def lookup(g: Graph, strings: str, vocab: Vocab, extra: dict[str, int] | None = None) -> str:
    """int64 ids of a string tensor (any shape); tokens outside ``vocab`` get <unk>'s id (-1
    for a vocabulary without one). ``extra``: more keys, e.g. {"": -1} to spot padding."""
    default = -1 if vocab.unk_index is None else vocab.unk_index
    if vocab.lowercase:
        return _encode(g, _lower(g, strings), vocab, extra, default)
    if not vocab.fallback_lowercase:
        return _encode(g, strings, vocab, extra, default)
    exact = _encode(g, strings, vocab, extra, -1)
    found = g.op("GreaterOrEqual", exact, g.const(np.array(0, np.int64)))
    return g.op("Where", found, exact, _encode(g, _lower(g, strings), vocab, extra, default))


def _encode(g: Graph, strings: str, vocab: Vocab, extra: dict[str, int] | None,
            default: int) -> str:  # fmt: skip
    """One ``LabelEncoder`` from the vocabulary's tokens (and ``extra``) to their ids."""
    keys = vocab.tokens + list(extra or {})
    values = list(range(len(vocab))) + list((extra or {}).values())
    return g.op("LabelEncoder", strings, domain=ML, keys_strings=keys, values_int64s=values,
                default_int64=default)  # fmt: skip


def names(g: Graph, ids: str, vocab: Vocab) -> str:
    """The tokens of int64 ids (any shape); -1 (padding) gives ""."""
    return g.op("LabelEncoder", ids, domain=ML, keys_int64s=list(range(len(vocab))),
                values_strings=vocab.tokens, default_string="")  # fmt: skip


def marks(g: Graph, strings: str, token: str) -> str:
    """int64 1 where the string tensor holds ``token``, else 0 (the blank of a fill model)."""
    return g.op("LabelEncoder", strings, domain=ML, keys_strings=[token], values_int64s=[1],
                default_int64=0)  # fmt: skip


def _lower(g: Graph, strings: str) -> str:
    """StringNormalizer takes a 1-D tensor: flatten, fold, and give the shape back."""
    flat = g.op("Reshape", strings, g.ints(-1))
    folded = g.op("StringNormalizer", flat, case_change_action="LOWER", locale=LOCALE)
    return g.op("Reshape", folded, g.op("Shape", strings))
