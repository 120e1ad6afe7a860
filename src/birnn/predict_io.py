"""What ``birnn predict`` reads and writes: the same for one input on stdout and for each file of
a corpus (``birnn.corpus``), so that both give the same bytes.

    texts_of(path, task, pretokenized)     the texts of a file: a tagger's CoNLL-U sentences
                                           (kept whole, to be written back), else one text per
                                           line, split into sentences for a tagger
    split(text, task, pretokenized)        one raw text as the texts it is predicted as
    write_predictions(stream, predictor, texts, output)   predict and write, text by text

Raw text is tokenised (``birnn.data.tokenize``) unless ``pretokenized``.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from birnn.data import DataError
from birnn.data._files import Span
from birnn.data.conllu_reader import ConlluSentence, conllu_lines, conllu_sentences
from birnn.data.errors import located
from birnn.data.formats import is_conllu_data
from birnn.data.texts import no_texts, text_lines
from birnn.data.tokenize import sentences
from birnn.predictor import Prediction, Predictor
from birnn.tasks.task import Task

OUTPUTS = ("tsv", "conllu", "json")  # predict --output


@dataclass
class Text:
    """One text to predict on: its tokens, and the CoNLL-U sentence it came from (if any)."""

    tokens: list[str]
    sentence: ConlluSentence | None = None


def check_output(task: Task, output: str) -> None:
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}; received {output!r}")
    if output == "conllu" and not task.per_token:
        raise ValueError(f"--output conllu is for taggers; this model is a {task.name} model "
                         "(use tsv or json)")  # fmt: skip


def split(text: str, task: Task, pretokenized: bool) -> Iterator[Text]:
    """A tagger's text as its sentences, each tagged on its own; any other model's as one."""
    found = sentences(text, pretokenized)
    if task.per_token:
        yield from (Text(words) for words in found)
    elif found:
        yield Text([w for words in found for w in words])


def reads_conllu(path: Path, task: Task) -> bool:
    """Whether ``texts_of`` reads ``path`` as CoNLL-U sentences (a tagger's CoNLL-U file)."""
    return task.per_token and is_conllu_data(path)


def texts_of(
    path: Path, task: Task, pretokenized: bool, span: Span | None = None
) -> Iterator[Text]:
    """The texts of the file ``path`` (or of its piece ``span``), as a stream.

    A file without any is a ``DataError``; a piece without any is not (``empty`` is then the
    caller's error, for the whole file).
    """
    if not reads_conllu(path, task):
        for _, text in text_lines(path, span):
            yield from split(text, task, pretokenized)
        return
    found = False
    for s in conllu_sentences(path, span=span):
        found = True
        yield Text(s.words, s)
    if not found and span is None:
        raise empty(path, task)


def empty(path: Path, task: Task) -> DataError:
    """The error for a file without texts to predict on."""
    if reads_conllu(path, task):
        return located(path, None, "no sentences (the file is empty or has only blank lines)")
    return no_texts(path)


def _lines(predictor: Predictor, text: Text, p: Prediction, output: str) -> Iterator[str]:
    """The output lines of one prediction."""
    task, options = predictor.task, predictor.options
    if output == "json":
        yield json.dumps(p.to_json(), ensure_ascii=False)
    elif output == "conllu":
        column = options.get("column", "upos")
        assert p.tags is not None
        if text.sentence is not None:  # the input's own lines, only the column changed
            yield from text.sentence.with_column(column, p.tags)
        else:
            yield from conllu_lines(p.tokens, p.tags, column)
        yield ""
    else:
        record = task.unlabelled(p.tokens)
        yield from task.lines([record], [p.tags if task.per_token else p.label], options)


@contextlib.contextmanager
def fewer_collections(first: int = 100_000) -> Iterator[None]:
    """Python's cyclic garbage collector run every ``first`` new container objects instead of
    every 700, for a command's own process (restored on leaving).

    Tagging a corpus makes lists by the million (tokens, ids, lines of each sentence), none of
    them in a cycle, and every 700 of them set off a collection (and now and then one that walks
    every older object): about 5% of ``birnn predict``'s time on EWT's training text (perf).
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(first, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def write_predictions(stream: TextIO, predictor: Predictor, texts: Iterable[Text], output: str,
                      flush: bool = False,
                      progress: Callable[[int], None] | None = None) -> int:  # fmt: skip
    """Predict on ``texts`` and write each chunk's lines to ``stream`` as soon as it is
    predicted (``flush``: and flush them, for a pipe; ``progress(n)``: a chunk of n texts is
    written); returns the number of texts."""
    count = 0
    for chunk in predictor.chunks(texts, lambda t: t.tokens):
        lines = (line for text, p in chunk for line in _lines(predictor, text, p, output))
        stream.write("".join(f"{line}\n" for line in lines))
        if flush:
            stream.flush()
        if progress is not None:
            progress(len(chunk))
        count += len(chunk)
    return count
