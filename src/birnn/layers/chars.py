"""Character-level word features: a BiLSTM (or BiGRU) reads each word's characters.

Words never seen in training still get an informative vector from their spelling (suffixes,
capitals, digits), which is what lets a tagger tag them. The features are computed once per
*distinct* word form of a batch and gathered back to the token positions. The models' batches
carry exactly that (``birnn.models.batch.Chars``, made by ``gather_chars``): the character ids
of the U distinct forms and, for every token, the row of its form::

    chars = batch.chars                    # ids (U, Lmax), lengths (U,), index (N, T)
    feats, cache = char_features.forward(chars.ids, chars.lengths)   # (U, 2*hidden)
    token_feats = feats[chars.index]                                 # (N, T, 2*hidden)
    ...
    d_feats = scatter_add_rows(d_token_feats, chars.index, U)      # backward of the gather
    _, grads = char_features.backward(cache, d_feats)

(``scatter_add_rows`` is in ``birnn.layers.embedding``; ``unique_words`` makes such an index for
an array of word ids.) Padding positions point at a form too; their gradient is whatever the
caller sends there (zero when the loss masks them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from birnn._checks import (
    check_choice,
    check_dtype,
    check_float_array,
    check_int,
    check_lengths,
    check_rng,
    check_shape,
)
from birnn.layers._prefixed import prefixed
from birnn.layers.embedding import Embedding, EmbeddingCache
from birnn.modules import GRU, LSTM
from birnn.recurrent.module import RecurrentModule, Tape

__all__ = [
    "CELLS",
    "CharFeatures",
    "CharFeaturesCache",
    "CharGroup",
    "length_groups",
    "unique_words",
]

# forms a group at inference: 4096 at once fell out of cache (23 us a form, against 6 at 512)
INFERENCE_ROWS = 512

# cell name -> recurrent module class (single layer, bidirectional, batch-first)
CELLS: dict[str, Callable[..., RecurrentModule]] = {"lstm": LSTM, "gru": GRU}


def unique_words(ids: Any) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Distinct ids (sorted) and, for every position of ``ids``, the index of its id in them.

    ``uniq[inverse] == ids`` (same shape as ids), so per-word results computed once for each
    of ``uniq`` are gathered back with ``result[inverse]``.
    """
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"ids must be an integer array; received dtype {arr.dtype}")
    uniq, inverse = np.unique(arr.reshape(-1), return_inverse=True)
    return uniq.astype(np.intp), inverse.reshape(arr.shape).astype(np.intp)


class CharGroup(NamedTuple):
    """The forms of one length group, run through the network together."""

    rows: NDArray[np.intp]  # rows of the forms in the caller's (W, Lmax) array
    embed: EmbeddingCache
    tape: Tape | None  # the recurrent module's tape; None at inference (no backward)


class CharFeaturesCache(NamedTuple):
    groups: tuple[CharGroup, ...]
    words: int  # W


def length_groups(lengths: NDArray[np.intp], most: int | None = None) -> list[NDArray[np.intp]]:
    """The rows of ``lengths`` in groups of similar length: at most 8 characters, 9-16, 17-32, ...
    and, with ``most``, at most that many rows a group (a large group cut in pieces).

    Each group is padded to its own longest form, so a batch's padded character area stays
    within twice its real one (plus at most 8 per form): one 100-character URL no longer pads
    every other form of its batch to 100 steps (memory, and zeroing, of the whole tape).
    """
    group = np.maximum(0, np.ceil(np.log2(np.maximum(lengths, 1) / 8)).astype(np.intp))
    groups = [np.flatnonzero(group == g) for g in np.unique(group)]
    if most is None:
        return groups
    return [rows[i : i + most] for rows in groups for i in range(0, rows.size, most)]


class CharFeatures:
    """Features (W, 2*hidden) of W words given as padded character ids (W, Lmax) and lengths.

    ``e = embed(chars)`` (W, Lmax, char_dim); a single-layer bidirectional recurrent layer
    runs over each word's true length; the feature is ``f = [h_fwd | h_bwd]``, where h_fwd is
    the forward direction's state after the last character and h_bwd the backward direction's
    state after the first character (its own last step): ``h_n[0]`` and ``h_n[1]``.

    Backward: the only gradient reaching the recurrent layer is on its final states,
    ``d h_n[0] = d_f[:, :hidden]`` and ``d h_n[1] = d_f[:, hidden:]`` (none on the outputs, none on
    an LSTM's final cell state); its input gradient ``de`` then goes to the embedding.

    Parameters, flat with dotted names sharing the sub-layers' live arrays: ``embed.weight``
    (num_chars, char_dim) and ``rnn.weight_ih_l0``, ``rnn.weight_hh_l0``, ``rnn.bias_ih_l0``,
    ``rnn.bias_hh_l0`` and their ``_reverse`` twins (PyTorch names). The recurrent layer's
    seed is drawn from ``rng``. The character padding value is irrelevant (never read past a
    word's length); ``padding_idx`` only keeps that embedding row at zero. ``init``: how the
    character embeddings are drawn (``birnn.layers.embedding.INITS``).
    """

    def __init__(
        self,
        num_chars: int,
        char_dim: int,
        hidden: int,
        rng: np.random.Generator,
        dtype: Any = np.float32,
        cell: str = "lstm",
        padding_idx: int | None = None,
        init: str = "uniform",
    ) -> None:
        self.hidden = check_int("hidden", hidden, 1)
        check_rng(rng)
        self.dtype = check_dtype(dtype)
        self.cell = check_choice("cell", cell, CELLS)
        self.embed = Embedding(num_chars, char_dim, rng, self.dtype, padding_idx, init=init)
        seed = int(rng.integers(0, 2**63 - 1))
        self.rnn = CELLS[cell](
            char_dim, self.hidden, batch_first=True, bidirectional=True, dtype=self.dtype, seed=seed
        )
        self.params: dict[str, NDArray] = {
            **prefixed("embed", self.embed.params),
            **prefixed("rnn", dict(self.rnn.params)),
        }

    @property
    def output_size(self) -> int:
        return 2 * self.hidden

    def __repr__(self) -> str:
        return (
            f"CharFeatures({self.embed.num}, {self.embed.dim}, {self.hidden}, cell={self.cell!r})"
        )

    def forward(
        self, chars: Any, lengths: Any, training: bool = True
    ) -> tuple[NDArray, CharFeaturesCache]:
        """chars: int (W, Lmax), lengths: int (W,) in [1, Lmax] -> features (W, 2*hidden).

        ``training=False`` records no tape (inference: nothing to backpropagate) and runs the
        forms ``INFERENCE_ROWS`` at most a call, however many there are."""
        arr = np.asarray(chars)
        if arr.ndim != 2:
            raise ValueError(
                f"chars must be a padded 2-D array (words, max_chars); received shape {arr.shape}"
            )
        lens = check_lengths(lengths, arr.shape[0], arr.shape[1])
        feats = np.empty((arr.shape[0], 2 * self.hidden), dtype=self.dtype)
        groups = []
        # inference cuts large groups (prediction sends every form of a chunk at once); training
        # keeps them whole, so that its gradient sums stay as they are
        for rows in length_groups(lens, None if training else INFERENCE_ROWS):
            e, embed_cache = self.embed.forward(arr[rows, : int(lens[rows].max())])
            tape = None
            if training:
                _, state, tape = self.rnn.forward(e, None, lens[rows], training=True)
            else:
                state = self.rnn.final_states(e, None, lens[rows])
            h_n = state[0] if isinstance(state, tuple) else state  # LSTM (h, c) | GRU h
            feats[rows, : self.hidden], feats[rows, self.hidden :] = h_n[0], h_n[1]
            groups.append(CharGroup(rows, embed_cache, tape))
        return feats, CharFeaturesCache(tuple(groups), arr.shape[0])

    def backward(self, cache: CharFeaturesCache, d_feats: Any) -> tuple[None, dict[str, NDArray]]:
        if any(g.tape is None for g in cache.groups):
            raise ValueError("this cache comes from forward(training=False): it has no tape")
        d = check_float_array("d_feats", d_feats, self.dtype)
        check_shape("d_feats", d, (cache.words, 2 * self.hidden))
        grads: dict[str, NDArray] = {}
        for group in cache.groups:
            assert group.tape is not None
            d_g = d[group.rows]
            d_h = np.stack([d_g[:, : self.hidden], d_g[:, self.hidden :]])  # (2, W_g, H)
            d_state = (d_h, None) if self.cell == "lstm" else d_h
            d_out = np.zeros(group.tape.out_shape, dtype=self.dtype)
            de, _, rnn_grads = self.rnn.backward(group.tape, d_out, d_state)
            _, embed_grads = self.embed.backward(group.embed, de)
            for name, g in {**prefixed("embed", embed_grads), **prefixed("rnn", rnn_grads)}.items():
                if name in grads:
                    grads[name] += g
                else:
                    grads[name] = g
        return None, grads
