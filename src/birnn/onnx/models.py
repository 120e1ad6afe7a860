"""Whole trained models as ONNX graphs: strings in, tags or labels (ids and names) out.

Inputs (N texts, padded to T tokens and L characters; the padding is ""):

    tokens   (N, T) string       the words, as birnn's tokenizer gives them
    lengths  (N,) int64          the number of real tokens of each text, in [1, T]
    chars    (N, T, L) string    each token's characters, one per entry (models with character
                                 features only: ONNX has no operator that splits a string)

The encoder, as ``birnn.models.encoder`` (inference: dropout is the identity)::

    w   = LabelEncoder(tokens)            word ids (<unk> outside the vocabulary; vocab.py)
    e_t = [ E[w_t] ; U[u_t] ; K[case_t] ; charBiRNN(chars_t) ]
          E: trained rows then fixed ones (pretrained vectors); U: the tuned table (if any),
          u_t = w_t for training words, else <unk>; K: case patterns (if any; casing.py);
          the character network's final states [h_fwd ; h_bwd] (if any)
    y   = RNN stack over e                (module.py), zero past each length

and the heads on top (``birnn.models.tagger`` / ``classifier`` / ``fill``)::

    tagger      s = y W^T + b       tags = argmax_j s (softmax) | Viterbi (CRF; and a softmax
                                    head with a scheme, over log softmax(s)); -1 on padding
                                    probabilities = softmax(s) | the CRF's marginals, (N, T, C),
                                    0 on padding
    classifier  p = pool(y)         final (forward at L-1, backward at 0) | mean | max, joined by +
    fill        p = y[blank]        the position of the token ``___``
                s = p W^T + b       label = argmax s; probabilities = softmax(s) (N, C)

Outputs: ``tags`` / ``label`` (int64 ids), ``tag_names`` / ``label_name`` (strings, "" on
padding) and ``probabilities``. The vocabularies, the task and its options also travel in the
model's metadata (``birnn.vocabs``, JSON), for anyone who wants them outside the graph.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from birnn.data.casing import CASES
from birnn.data.records import BLANK
from birnn.onnx import vocab
from birnn.onnx._graph import FLOAT, INT64, STRING, Graph, model, value
from birnn.onnx.casing import case_ids
from birnn.onnx.crf import marginals, viterbi
from birnn.onnx.module import Lengths, run_stack

N, T, L = "batch", "time", "chars"


def _linear(g: Graph, x: str, layer: Any) -> str:
    """x @ W^T + b over the last axis (``birnn.layers.Linear``)."""
    w = g.const(layer.params["weight"].T.astype(np.float32), "W_out_t")
    return g.op("Add", g.op("MatMul", x, w), g.const(layer.params["bias"].astype(np.float32), "b"))


SHORT = 16  # characters: most words are shorter; the character network's short pass stops here


def char_features(g: Graph, chars: Any, char_vocab: Any, tokens: str) -> str:
    """(N, T, 2 H) features of every token from its characters (``birnn.layers.CharFeatures``:
    an embedding, then a one-layer BiRNN whose final states are the feature).

    As in birnn, the network runs once per distinct form of the batch (``Unique`` over the
    tokens), and the features are gathered back to every position. onnxruntime's recurrent
    operators run every row for the longest one's steps, and one URL makes L hundreds of
    characters; so the network runs twice: over every form's first SHORT characters (exact for
    the forms no longer than that), and over the k longest forms whole, whose features replace
    their short ones (k: how many are longer than SHORT, at least 1 so no pass is empty)."""
    ids = vocab.lookup(g, "chars", char_vocab, extra={"": -1})  # "" is padding: -1
    present = g.op("Cast", g.op("GreaterOrEqual", ids, g.const(np.array(0, np.int64))), to=INT64)
    counts = g.op("ReduceSum", present, g.ints(2), keepdims=0)  # (N, T) characters per token
    # a padding token has none; give it one step (its features are never read)
    counts = g.op("Reshape", g.op("Max", counts, g.const(np.array(1, np.int64))), g.ints(-1))
    ids = g.op("Max", ids, g.const(np.array(0, np.int64)))
    width = g.op("Slice", g.op("Shape", ids), g.ints(2), g.ints(3))  # [L]
    ids = g.op("Reshape", ids, g.op("Concat", g.ints(-1), width, axis=0))  # (N*T, L)
    _, first, inverse, _ = g.op("Unique", g.op("Reshape", tokens, g.ints(-1)), outputs=4, sorted=0)
    ids = g.op("Gather", ids, first, axis=0)  # (U, L): each distinct form once
    counts = g.op("Gather", counts, first, axis=0)

    table = g.const(chars.embed.params["weight"].astype(np.float32), "char_embedding")
    short = g.const(np.array(SHORT, np.int64))
    feats = _char_network(g, chars, table, g.op("Slice", ids, g.ints(0), g.ints(SHORT), g.ints(1)),
                          g.op("Min", counts, short))  # fmt: skip
    many = g.op("ReduceSum", g.op("Cast", g.op("Greater", counts, short), to=INT64), keepdims=1)
    k = g.op("Max", many, g.ints(1))  # [k]
    _, longest = g.op("TopK", counts, k, outputs=2, axis=0)  # (k,) the longest forms
    whole = _char_network(g, chars, table, g.op("Gather", ids, longest, axis=0),
                          g.op("Gather", counts, longest, axis=0))  # fmt: skip
    feats = g.op("ScatterND", feats, g.op("Unsqueeze", longest, g.ints(1)), whole)
    feats = g.op("Gather", feats, inverse, axis=0)  # (N*T, 2H)
    shape = g.op("Concat", g.op("Shape", tokens), g.ints(chars.output_size), axis=0)
    return g.op("Reshape", feats, shape)


def _char_network(g: Graph, chars: Any, table: str, ids: str, counts: str) -> str:
    """(U, 2 H) final states [h_fwd ; h_bwd] of the character BiRNN over ids (U, L) of lengths
    ``counts`` (U,); ``table`` the character embedding. (Each call holds its own copy of the
    BiRNN's weights: a character network's are small.)"""
    e = g.op("Transpose", g.op("Gather", table, ids), perm=[1, 0, 2])  # (L, U, char_dim)
    _, finals = run_stack(g, chars.rnn, e, Lengths(g, e, counts))
    h_fwd, h_bwd = (g.op("Squeeze", chain[0], g.ints(0)) for chain in finals)
    return g.op("Concat", h_fwd, h_bwd, axis=1)


def _table(g: Graph, embedding: Any, hint: str) -> str:
    """An embedding's whole table: its trained rows, then its fixed ones (pretrained vectors of
    words training never saw, ``Embedding.fixed``) if it has any."""
    rows = [embedding.params[k] for k in ("weight", "fixed") if k in embedding.params]
    return g.const(np.concatenate(rows).astype(np.float32), hint)


def encoder(g: Graph, enc: Any, vocabs: Any) -> tuple[str, Lengths]:
    """The encoder's output, time-major (T, N, W), and the lengths it was run with.

    e_t stacks, in the encoder's order: the word embedding, the tuned word embedding (training
    words only; the others read <unk>'s row), the case pattern embedding, character features.
    """
    words = vocab.lookup(g, "tokens", vocabs.words)
    parts = [g.op("Gather", _table(g, enc.embed, "word_embedding"), words)]  # (N, T, word_dim)
    tuned = enc.tuned
    if tuned is not None:
        known = g.op("Less", words, g.const(np.array(tuned.num, np.int64)))
        ids = g.op("Where", known, words, g.const(np.array(vocabs.words.unk_index, np.int64)))
        parts.append(g.op("Gather", _table(g, tuned, "tuned_embedding"), ids))
    if enc.case is not None:
        cases = case_ids(g, "tokens", CASES)
        parts.append(g.op("Gather", _table(g, enc.case, "case_embedding"), cases))
    if enc.chars is not None:
        parts.append(char_features(g, enc.chars, vocabs.chars, "tokens"))
    x = g.op("Concat", *parts, axis=2) if len(parts) > 1 else parts[0]
    x = g.op("Transpose", x, perm=[1, 0, 2])
    lens = Lengths(g, x, "lengths")
    y, _ = run_stack(g, enc.rnn, x, lens)
    return y, lens


# ---- heads --------------------------------------------------------------------------------------


def tagger_head(g: Graph, model_: Any, y: str, lens: Lengths, vocabs: Any) -> list[Any]:
    scores = _linear(g, y, model_.out)  # (T, N, C)
    c = len(vocabs.labels)
    if model_.crf is not None:
        crf_scores = model_.crf._scores()  # transitions, start, end with -inf where forbidden
        tags = viterbi(g, scores, lens, crf_scores)
        probabilities = marginals(g, scores, lens, crf_scores)
    else:
        softmax = g.op("Where", lens.mask(), g.op("Softmax", scores, axis=2), g.scalar(0.0))
        probabilities = g.op("Transpose", softmax, perm=[1, 0, 2])
        if model_.masks is not None:  # a scheme: the most probable valid
            allowed = tuple(np.where(m, 0.0, -np.inf) for m in model_.masks)  # sequence
            tags = viterbi(g, g.op("LogSoftmax", scores, axis=2), lens, allowed)
        else:
            best = g.op("ArgMax", scores, axis=2, keepdims=1)
            best = g.op("Where", lens.mask(), best, g.const(np.array(-1, np.int64)))
            tags = g.op("Transpose", g.op("Squeeze", best, g.ints(2)), perm=[1, 0])
    g.output(tags, "tags")
    g.output(vocab.names(g, tags, vocabs.labels), "tag_names")
    g.output(probabilities, "probabilities")
    return [value("tags", INT64, [N, T]), value("tag_names", STRING, [N, T]),
            value("probabilities", FLOAT, [N, T, c])]  # fmt: skip


def _pool(g: Graph, mode: str, y: str, lens: Lengths, split: int | None) -> str:
    """One pooling over time of y (T, N, W) -> (N, W), as ``birnn.layers.pooling``."""
    if mode == "mean":  # y is zero past each length
        total = g.op("ReduceSum", y, g.ints(0), keepdims=0)
        return g.op("Div", total, g.op("Unsqueeze", g.op("Cast", lens.int64, to=FLOAT), g.ints(1)))
    if mode == "max":
        masked = g.op("Where", lens.mask(), y, g.scalar(-np.inf))
        return g.op("ReduceMax", masked, g.ints(0), keepdims=0)
    # final: the forward features at L - 1, the backward ones (from ``split`` on) at 0
    last_step = g.op("Sub", lens.int64, g.const(np.array(1, np.int64)))
    last = _at_steps(g, y, last_step)  # (N, W): every feature at L - 1
    if split is None:
        return last
    first = g.op("Gather", y, g.const(np.array(0, np.int64)), axis=0)  # (N, W) at t = 0
    width = g.op("Slice", g.op("Shape", y), g.ints(2), g.ints(3))
    feature = g.op("Range", g.const(np.array(0, np.int64)), g.op("Squeeze", width, g.ints(0)),
                   g.const(np.array(1, np.int64)))  # fmt: skip
    forward = g.op("Less", feature, g.const(np.array(split, np.int64)))
    return g.op("Where", forward, last, first)


def label_head(g: Graph, pooled: str, layer: Any, vocabs: Any) -> list[Any]:
    scores = _linear(g, pooled, layer)  # (N, C)
    label = g.op("ArgMax", scores, axis=1, keepdims=0)
    g.output(label, "label")
    g.output(vocab.names(g, label, vocabs.labels), "label_name")
    g.output(g.op("Softmax", scores, axis=1), "probabilities")
    return [value("label", INT64, [N]), value("label_name", STRING, [N]),
            value("probabilities", FLOAT, [N, len(vocabs.labels)])]  # fmt: skip


def classifier_head(g: Graph, model_: Any, y: str, lens: Lengths, vocabs: Any) -> list[Any]:
    pools = [_pool(g, m, y, lens, model_.pool.split) for m in model_.pool.modes]
    pooled = pools[0] if len(pools) == 1 else g.op("Concat", *pools, axis=1)
    return label_head(g, pooled, model_.out, vocabs)


def fill_head(g: Graph, model_: Any, y: str, lens: Lengths, vocabs: Any) -> list[Any]:
    """The features at the blank (the first ``___`` of each text)."""
    blank = g.op("ArgMax", vocab.marks(g, "tokens", BLANK), axis=1, keepdims=0)  # (N,)
    at_blank = _at_steps(g, y, blank)
    return label_head(g, at_blank, model_.out, vocabs)


def _at_steps(g: Graph, y: str, steps: str) -> str:
    """y[steps[n], n, :] for each row n: (N, W) from y (T, N, W) and steps (N,) int64."""
    rows_and_width = g.op("Slice", g.op("Shape", y), g.ints(1), g.ints(3))  # [N, W]
    index = g.op(
        "Expand",
        g.op("Reshape", steps, g.ints(1, -1, 1)),
        g.op("Concat", g.ints(1), rows_and_width, axis=0),
    )  # fmt: skip  (1, N, W)
    return g.op("Squeeze", g.op("GatherElements", y, index, axis=0), g.ints(0))


HEADS = {"tag": tagger_head, "classify": classifier_head, "fill": fill_head}


def model_proto(task_model: Any) -> Any:
    """The checked ONNX model of a trained ``pipeline.TaskModel``."""
    task, m, vocabs = task_model.task, task_model.model, task_model.vocabs
    if task.name not in HEADS:
        raise ValueError(f"no ONNX export for the task {task.name!r}; known: {sorted(HEADS)}")
    g = Graph()
    inputs = [value("tokens", STRING, [N, T]), value("lengths", INT64, [N])]
    if m.encoder.chars is not None:
        inputs.append(value("chars", STRING, [N, T, L]))
    y, lens = encoder(g, m.encoder, vocabs)
    outputs = HEADS[task.name](g, m, y, lens, vocabs)
    metadata = {
        "birnn.task": task.name,
        "birnn.options": json.dumps(task_model.options, sort_keys=True),
        "birnn.vocabs": json.dumps(vocabs.to_json(), ensure_ascii=False),
        "birnn.inputs": ",".join(i.name for i in inputs),
    }
    return model(g, inputs, outputs, metadata, doc=f"birnn {task.name} model (docs/ONNX.md)")
