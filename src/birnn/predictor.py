"""Using a trained model from Python: ``birnn.load(path).predict(texts)``.

    p = birnn.load("runs/pos")                  # a checkpoint, or a training run's --out
    p.predict("I saw her duck.")                -> Prediction (tokens, tags, probabilities)
    p.predict(["I saw her.", "He ran."])        -> [Prediction, Prediction]
    p.predict(["I", "saw", "her"], pretokenized=True)   -> Prediction (one token list)
    p.predict([["I", "saw"], ["He", "ran"]])    -> [Prediction, Prediction]
    p.predict(line for line in open("big.txt")) -> an iterator: reads, predicts and yields in
                                                   chunks, memory bounded whatever the input

A string is tokenised (``birnn.data.tokenize``: segtok's rules) unless ``pretokenized=True``
(then whitespace separates tokens); a list or tuple of strings is a token list. One text gives
one ``Prediction``, whatever sentences it holds (the command line splits a tagger's input into
sentences first).

Streaming: items are taken in chunks (``CHUNK_FIRST`` items, then twice as many each time, up
to ``CHUNK_LARGEST``: the first results come fast, later chunks batch well); each chunk is
encoded, predicted in batches of similar length and yielded in input order before the next is
read. Words are looked up per chunk, so nothing grows with the input.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from birnn._checks import describe
from birnn.data.tokenize import tokens as tokenize
from birnn.pipeline import EVAL_BATCH, EVAL_PADDING, EVAL_TOKENS, TaskModel
from birnn.pipeline import load as load_task_model
from birnn.tasks.base import FormTable, predict_all

T = TypeVar("T")

CHUNK_FIRST = 16  # items in the first chunk: output starts after a few sentences
CHUNK_LARGEST = 4096  # items in the largest chunk: bounds memory; larger chunks pad less
TOP = 5  # a label's prediction lists this many of the most probable labels


@dataclass(frozen=True)
class Prediction:
    """What a model says about one text.

    A tagger fills ``tags`` (one per token) and ``probabilities`` (a list: each tag's
    probability, with a CRF the marginal of the tag on the best path). A classifier or a
    fill-in-the-blank model fills ``label`` (the label, or the word for the blank) and
    ``probabilities`` (a dict: the ``TOP`` most probable labels, best first).
    """

    tokens: list[str]
    tags: list[str] | None = None
    label: str | None = None
    probabilities: list[float] | dict[str, float] | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object ``birnn predict --output json`` prints for this text."""
        out: dict[str, Any] = {"tokens": self.tokens}
        if self.tags is not None:
            out["tags"] = self.tags
        if self.label is not None:
            out["label"] = self.label
        out["probabilities"] = self.probabilities
        return out


def chunks(items: Iterable[T]) -> Iterator[list[T]]:
    """``items`` in lists of CHUNK_FIRST, then twice as many each time, up to CHUNK_LARGEST."""
    it = iter(items)
    size = CHUNK_FIRST
    while chunk := list(itertools.islice(it, size)):
        yield chunk
        size = min(2 * size, CHUNK_LARGEST)


class Predictor:
    """A trained model ready to predict on texts (``birnn.load``)."""

    def __init__(self, task_model: TaskModel):
        if not isinstance(task_model, TaskModel):
            raise TypeError(f"task_model must be a TaskModel; received {describe(task_model)}")
        self.task_model = task_model
        self.task = task_model.task
        self.options = task_model.options

    def __repr__(self) -> str:
        return f"Predictor(task={self.task.name!r}, labels={len(self.task_model.vocabs.labels)})"

    def predict(
        self, texts: str | Sequence[str] | Iterable[Any], *, pretokenized: bool = False
    ) -> Prediction | list[Prediction] | Iterator[Prediction]:
        """Predictions for one text (one ``Prediction``), a list or tuple of texts (a list), or
        any other iterable of texts (an iterator, streaming). See the module notes."""
        if not isinstance(pretokenized, bool):
            raise TypeError(f"pretokenized must be a bool; received {describe(pretokenized)}")
        if isinstance(texts, str) or (pretokenized and _is_token_list(texts)):
            return next(self._predict([texts], pretokenized))
        if isinstance(texts, (list, tuple)):
            return list(self._predict(texts, pretokenized))
        if isinstance(texts, Iterable):
            return self._predict(texts, pretokenized)
        raise TypeError(
            f"texts must be a str, a token list, or an iterable of them; received {describe(texts)}"
        )

    def _predict(self, texts: Iterable[Any], pretokenized: bool) -> Iterator[Prediction]:
        def tokens_of(text: Any) -> list[str]:
            if isinstance(text, str):
                return tokenize(text, pretokenized)
            if _is_token_list(text):
                return list(text)
            raise TypeError(f"each text must be a str or a list of str; received {describe(text)}")

        for _, prediction in self.stream(texts, tokens_of):
            yield prediction

    def stream(
        self, items: Iterable[T], tokens: Callable[[T], list[str]]
    ) -> Iterator[tuple[T, Prediction]]:
        """``(item, its Prediction)`` for each of ``items``, in order, chunk by chunk.

        ``tokens(item)`` gives the item's tokens: what the command line uses to carry a CoNLL-U
        sentence's lines along with its prediction.
        """
        for chunk in self.chunks(items, tokens):
            yield from chunk

    def chunks(
        self, items: Iterable[T], tokens: Callable[[T], list[str]]
    ) -> Iterator[list[tuple[T, Prediction]]]:
        """``stream``'s pairs, one chunk's list at a time (all of a chunk is predicted at once:
        a writer can write and flush it in one go)."""
        tm = self.task_model
        for chunk in chunks(items):
            words = [tokens(item) for item in chunk]
            for item, w in zip(chunk, words):
                if not w:
                    raise ValueError(f"a text without tokens: {describe(item)}")
            records = [self.task.unlabelled(w) for w in words]
            # per chunk: memory does not grow with the input
            forms = FormTable(tm.vocabs.chars, cases=tm.forms.cases is not None)
            data = self.task.encode(records, tm.vocabs, forms, targets=False)
            scored = predict_all(tm.model.predict_probabilities, data, forms, EVAL_BATCH,
                                 self.task.per_token, EVAL_TOKENS, EVAL_PADDING,
                                 tm.model.encoder.char_features)  # fmt: skip
            yield [(item, self._prediction(w, out)) for item, w, out in zip(chunk, words, scored)]

    def _prediction(self, words: list[str], out: Any) -> Prediction:
        labels = self.task_model.vocabs.labels
        if self.task.per_token:
            ids, probabilities = out
            return Prediction(words, tags=labels.decode(ids), probabilities=probabilities)
        p = np.asarray(out)
        top = np.argsort(-p, kind="stable")[: min(TOP, len(p))]
        names = labels.decode(top)
        return Prediction(
            words, label=names[0], probabilities={n: float(p[i]) for n, i in zip(names, top)}
        )


def _is_token_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def load(path: str | Path) -> Predictor:
    """The model saved at ``path`` (a checkpoint, or a training run's ``--out``), to predict
    with: ``birnn.load(path).predict(texts)``."""
    return Predictor(load_task_model(path))
