"""The shared body of every model: token features -> a (bi)directional recurrent stack.

Forward, for a batch of N sequences of at most T tokens:

    e_t = [ E[w_t] , U[w_t] , K[case_t] , C[form_t] ]   word embedding, a second trained word
                                     embedding (if tuned_word_dim), case pattern embedding (if
                                     case_dim), character features of the word form
    x_t = dropout(e_t)
    h   = RNN(x, lengths)               a stack of L bidirectional layers (dropout between them)
    y_t = dropout(h_t)                  (N, T, W), zero past each length

E stacks the trained rows ``embed.weight`` and, with pretrained vectors, the rows
``embed.fixed`` of words met only in the vectors file (never trained: ``fixed_words``). U has
rows for the training words only (a file-only word reads ``<unk>``'s): with frozen pretrained
vectors in E, it is what training adapts, while E keeps every word in the file's space; word
dropout then replaces w_t by ``<unk>`` in U alone (E still reads the word, as it does for a
word of the file that training never saw).
Backward runs the same chain in reverse: dy -> dropout' -> RNN.backward -> dx -> dropout' ->
split into dE, dU, dK (each scattered into the table rows used; none for E with
``freeze_embeddings``) and dC (summed over every position of each distinct form, then through
the character network).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from birnn._checks import check_choice, check_int, describe
from birnn.data.casing import CASES
from birnn.layers import prefixed
from birnn.layers.chars import CharFeatures
from birnn.layers.dropout import Dropout, word_dropout
from birnn.layers.embedding import INITS, Embedding, scatter_add_rows
from birnn.models.batch import Chars, TokenBatch
from birnn.modules import GRU, LSTM, RNN

Array = NDArray[np.floating]
CELLS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}
UNK = 1  # every word vocabulary reserves 0 for padding and 1 for the unknown word
CHAR_INIT = "uniform"  # how character embeddings are drawn by default (see RESULTS.md)


@dataclass
class EncoderConfig:
    vocab_size: int  # word ids, padding (0) and unknown (1) included
    word_dim: int = 100  # width of the word embedding
    char_vocab_size: int = 0  # 0: no character features
    char_dim: int = 30  # width of a character embedding
    char_hidden: int = 50  # per direction of the character BiLSTM (features: 2 * char_hidden)
    cell: str = "lstm"  # "lstm" | "gru" | "rnn"
    hidden: int = 128  # per direction of the main recurrent stack
    layers: int = 2  # recurrent layers
    bidirectional: bool = True  # False: a left-to-right baseline with the same everything else
    dropout: float = 0.33  # on the embeddings, between recurrent layers, and on the output
    word_dropout: float = 0.0  # probability that a training token's word id becomes unknown
    # alpha: a word seen c times in training becomes unknown with probability alpha / (alpha + c),
    # so rare words often do and the model learns what to do with words it has never seen
    rare_word_dropout: float = 0.0
    case_dim: int = 0  # width of the case pattern embedding (birnn.data.casing); 0: none
    tuned_word_dim: int = 0  # width of a second, always trained word embedding (U); 0: none
    # the last fixed_words word ids are words of a pretrained vectors file that training never
    # saw: their vectors (embed.fixed) are kept as the file has them, never trained
    fixed_words: int = 0
    freeze_embeddings: bool = False  # True: the word embeddings are never trained
    word_init: str = "uniform"  # word embeddings drawn U(-sqrt(3/d), sqrt(3/d)) | "normal" N(0, 1)
    char_init: str = CHAR_INIT  # character embeddings: "uniform" | "normal" (see RESULTS.md)

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}; received {self.cell!r}")
        for name in ("vocab_size", "word_dim", "hidden", "layers"):
            check_int(name, getattr(self, name), 1)
        for name in ("case_dim", "tuned_word_dim", "fixed_words"):
            check_int(name, getattr(self, name), 0)
        if self.fixed_words > self.vocab_size - 2:
            raise ValueError(
                f"fixed_words must leave <pad> and <unk> trainable: at most {self.vocab_size - 2} "
                f"of vocab_size {self.vocab_size}; received {self.fixed_words}"
            )
        for name in ("word_init", "char_init"):
            check_choice(name, getattr(self, name), INITS)
        for name in ("dropout", "word_dropout"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1); received {value!r}")
        if not self.rare_word_dropout >= 0.0:
            raise ValueError(f"rare_word_dropout must be >= 0; received {self.rare_word_dropout!r}")

    @property
    def output_size(self) -> int:
        return self.hidden * (2 if self.bidirectional else 1)


def as_encoder_config(value: EncoderConfig | dict[str, Any]) -> EncoderConfig:
    """A model config's ``encoder`` field, also when it comes from JSON as a plain dict."""
    return EncoderConfig(**value) if isinstance(value, dict) else value


@dataclass
class EncoderCache:
    tables: list[Any]  # the caches of the word-level tables, in the order of ``_tables``
    chars: Any  # the character network's cache, or None
    char_index: NDArray[np.int64] | None
    unique_forms: int
    drop_in: Any
    rnn: Any  # the recurrent module's tape
    drop_out: Any


def _as_word_counts(counts: Any, vocab_size: int) -> NDArray[np.int64] | None:
    """``word_counts`` checked: ``None``, or one training count (an int >= 0) per word id."""
    if counts is None:
        return None
    arr = np.asarray(counts)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"word_counts must be integer counts; received {describe(counts)}")
    if arr.shape != (vocab_size,) or (arr.size and arr.min() < 0):
        raise ValueError(
            f"word_counts must hold one count >= 0 per word id, shape ({vocab_size},); "
            f"received {describe(counts)}"
        )
    return arr.astype(np.int64)


class Encoder:
    """The encoder of ``config``; ``word_counts``: the training count of each word id (the word
    vocabulary's ``counts``), which ``rare_word_dropout`` needs."""

    def __init__(
        self, config: EncoderConfig, rng: np.random.Generator, dtype: Any, word_counts: Any = None
    ):
        self.config = config
        self.dtype = np.dtype(dtype)
        c = config
        self.embed = Embedding(
            c.vocab_size, c.word_dim, rng, dtype, padding_idx=0, init=c.word_init,
            fixed=c.fixed_words,
        )  # fmt: skip
        self.chars = (
            CharFeatures(
                c.char_vocab_size, c.char_dim, c.char_hidden, rng, dtype=dtype, init=c.char_init
            )
            if c.char_vocab_size
            else None
        )
        # drawn only when used: models without them keep the initialisation they always had
        self.case = (
            Embedding(len(CASES), c.case_dim, rng, dtype, padding_idx=0) if c.case_dim else None
        )
        trained_words = c.vocab_size - c.fixed_words
        self.tuned = (
            Embedding(trained_words, c.tuned_word_dim, rng, dtype, padding_idx=0, init=c.word_init)
            if c.tuned_word_dim
            else None
        )
        width = c.word_dim + c.tuned_word_dim + c.case_dim
        width += 2 * c.char_hidden if self.chars else 0
        self.rnn = CELLS[c.cell](
            width,
            c.hidden,
            num_layers=c.layers,
            batch_first=True,
            dropout=c.dropout,
            bidirectional=c.bidirectional,
            dtype=dtype,
            seed=int(rng.integers(2**31)),
        )
        self.dropout = Dropout(c.dropout)
        self.word_counts = _as_word_counts(word_counts, c.vocab_size)

    def _drop_words(self, batch: TokenBatch, rng: Any) -> NDArray[np.int64]:
        words, alpha = batch.words, self.config.rare_word_dropout
        if self.config.word_dropout > 0:
            words = word_dropout(words, self.config.word_dropout, UNK, rng, where=batch.mask())
        if alpha > 0:
            if self.word_counts is None:
                raise ValueError(
                    "rare_word_dropout needs the training counts: build the model with "
                    "word_counts= (the word vocabulary's counts); received none"
                )
            counts = self.word_counts[words]
            drop = (rng.random(words.shape) * (alpha + counts) < alpha) & batch.mask()
            words = np.where(drop, UNK, words)
        return words

    def _tables(
        self, batch: TokenBatch | None = None, words: Any = None
    ) -> list[tuple[str, Embedding, Any]]:
        """The word-level tables in the order of e_t: (parameter prefix, table, the ids it reads
        in ``batch`` with word ids ``words``; None without a batch)."""
        # with a tuned table, word dropout hides a word from it alone: the pretrained table
        # still reads the word, as it does at prediction for a word training never saw
        pretrained = batch.words if self.tuned is not None and batch is not None else words
        out: list[tuple[str, Embedding, Any]] = [("embed", self.embed, pretrained)]
        if self.tuned is not None:
            ids = None if words is None else np.where(words < self.tuned.num, words, UNK)
            out.append(("tuned", self.tuned, ids))
        if self.case is not None:
            if batch is not None and batch.casing is None:
                raise ValueError("this model reads case patterns; the batch has none")
            out.append(("case", self.case, None if batch is None else batch.casing))
        return out

    @property
    def params(self) -> dict[str, Array]:
        out = prefixed("embed", self.embed.params)
        if self.tuned is not None:
            out |= prefixed("tuned", self.tuned.params)
        if self.case is not None:
            out |= prefixed("case", self.case.params)
        if self.chars is not None:
            out |= prefixed("chars", self.chars.params)
        return out | prefixed("rnn", self.rnn.params)

    def forward(
        self,
        batch: TokenBatch,
        training: bool = False,
        rng: np.random.Generator | None = None,
        keep_tape: bool = False,
    ) -> tuple[Array, EncoderCache]:
        """(N, T) tokens -> (N, T, W) contextual features, zero past each length.

        ``training=False`` records no tape (inference: a tape of every step of every layer
        would take gigabytes on a batch of long sentences, and nothing would read it), unless
        ``keep_tape``: inference whose backward is wanted (``birnn.explain``).
        """
        if training and rng is None:
            raise ValueError("training=True needs an rng for dropout")
        words = batch.words
        if training:
            words = self._drop_words(batch, rng)
        parts, table_caches = [], []
        for _, table, ids in self._tables(batch, words):
            v, table_cache = table.forward(ids)
            parts.append(v)
            table_caches.append(table_cache)
        char_cache = None
        if self.chars is not None:
            if batch.chars is None:
                raise ValueError("this model reads characters; the batch has none")
            feats = batch.chars.features
            if feats is not None and (training or keep_tape):
                raise ValueError(
                    "a batch with its character features computed (Chars.features) is for "
                    "inference only: training and keep_tape need the character network's tape"
                )
            if feats is None:
                feats, char_cache = self.chars.forward(
                    batch.chars.ids, batch.chars.lengths, training=training
                )
            parts.append(feats[batch.chars.index])
        x = np.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]
        # x and h are this call's own arrays: at inference dropout passes them on, no copies
        x, drop_in = self.dropout.forward(x, training, rng, copy=False)
        if training or keep_tape:
            h, _, tape = self.rnn.forward(x, lengths=batch.lengths, training=training, rng=rng)
        else:
            h, _ = self.rnn(x, lengths=batch.lengths)
            tape = None
        y, drop_out = self.dropout.forward(h, training, rng, copy=False)
        cache = EncoderCache(
            tables=table_caches,
            chars=char_cache,
            char_index=batch.chars.index if batch.chars is not None else None,
            unique_forms=int(batch.chars.ids.shape[0]) if batch.chars is not None else 0,
            drop_in=drop_in,
            rnn=tape,
            drop_out=drop_out,
        )
        return y, cache

    def char_features(self, chars: Chars) -> Array | None:
        """The character features (U, 2 * char_hidden) of ``chars``'s U forms, for inference
        (``birnn.models.batch.every_form``'s), or None for a model without them."""
        if self.chars is None:
            return None
        feats, _ = self.chars.forward(chars.ids, chars.lengths, training=False)
        return feats

    def backward(self, cache: EncoderCache, dy: Array) -> dict[str, Array]:
        dh, _ = self.dropout.backward(cache.drop_out, dy)
        dx, _, rnn_grads = self.rnn.backward(cache.rnn, dh)
        dx, _ = self.dropout.backward(cache.drop_in, dx)
        grads: dict[str, Array] = {}
        width = 0
        for (name, table, _), table_cache in zip(self._tables(), cache.tables):
            d_part = dx[..., width : width + table.dim]
            width += table.dim
            if name == "embed" and self.config.freeze_embeddings:
                continue
            grads |= prefixed(name, table.backward(table_cache, d_part)[1])
        if self.chars is not None:
            assert cache.char_index is not None
            d_feats = scatter_add_rows(dx[..., width:], cache.char_index, cache.unique_forms)
            _, char_grads = self.chars.backward(cache.chars, d_feats)
            grads |= prefixed("chars", char_grads)
        return grads | prefixed("rnn", rnn_grads)
