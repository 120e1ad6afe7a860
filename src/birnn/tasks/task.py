"""A task's entry in the task table: everything the pipeline and the command line ask of a task.

Each task module (``tagging.py``, ``classification.py``, ``fill.py``) defines its whole task and
ends with its ``TASK``; ``registry.py`` lists them by name. Building vocabularies and encoding
records work the same way for every task once it says what a record's gold is (``gold``: a tag
per word, or one label) and, for fill in the blank, where in the sentence the prediction goes
(``position``): ``Task.build_vocabs`` and ``Task.encode`` are that one piece of code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from birnn.data import read_texts
from birnn.tasks.base import Encoded, FormTable, Vocabs, encode_words, make_vocabs

# A task's own options, as the command line gives them and a checkpoint keeps them (JSON):
# format, column, scheme (tagging), head (tagger), pooling (classifier), seed (fill's blanks).
Options = dict[str, Any]


@dataclass(frozen=True)
class Task:
    name: str  # what ``--task`` says
    per_token: bool  # one target per token (tagging) or one per sequence
    model: type  # built as ``model(config, rng, word_counts=...)``
    config: type  # built as ``config(encoder=EncoderConfig(...), **head(options, vocabs))``
    read: Callable[[str | Path, Options], list[Any]]  # a labelled data file -> its records
    gold: Callable[[Any], Any]  # a record's gold: its tag list (per_token) or its one label
    head: Callable[[Options, Vocabs], dict[str, Any]]  # the model config beyond the encoder
    # metrics of predicted strings against the gold records; "score" is the one to watch
    scores: Callable[[list[Any], list[Any], Vocabs, Options], dict[str, Any]]
    unlabelled: Callable[[list[str]], Any]  # the words of a text -> a record to predict on
    lines: Callable[[list[Any], list[Any], Options], Iterator[str]]  # predictions, formatted
    read_texts: Callable[[Path], list[list[str]]] = read_texts  # predict --input -> word lists
    position: Callable[[Any], int] | None = None  # fill in the blank: where the answer goes

    def build_vocabs(
        self, train: Sequence[Any], min_count: int, lowercase: bool, chars: bool
    ) -> Vocabs:
        """Vocabularies from the training records only: words, labels, and characters if wanted."""
        labels: Iterable[str]
        if self.per_token:
            labels = (label for record in train for label in self.gold(record))
        else:
            labels = (self.gold(record) for record in train)
        return make_vocabs([r.words for r in train], labels, min_count, lowercase, chars)

    def unseen_labels(self, records: Sequence[Any], vocabs: Vocabs) -> Counter[str]:
        """How often each gold label of ``records`` that ``vocabs`` lacks occurs (they are
        scored as errors: no prediction can equal them)."""
        gold = (
            (label for r in records for label in self.gold(r))
            if self.per_token
            else (self.gold(r) for r in records)
        )
        return Counter(label for label in gold if vocabs.labels.index(label) < 0)

    def encode(
        self, records: Sequence[Any], vocabs: Vocabs, forms: FormTable, targets: bool = True
    ) -> Encoded:
        """``records`` as id lists; a gold label outside ``vocabs`` encodes as -1 (an error).
        ``targets=False``: the inputs alone (records to predict on: their labels are
        placeholders)."""
        words, form_ids = encode_words((r.words for r in records), vocabs, forms)
        gold: list[Any] | None = None
        if targets and self.per_token:
            gold = [vocabs.labels.encode(self.gold(r)) for r in records]
        elif targets:
            gold = [vocabs.labels.index(self.gold(r)) for r in records]
        positions = [self.position(r) for r in records] if self.position is not None else None
        return Encoded(words, form_ids, gold, positions)
