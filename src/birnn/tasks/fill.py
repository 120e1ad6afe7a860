"""Fill in the blank: predict the word hidden at one position of a sentence.

Items come from a cloze file (``sentence with ___<TAB>answer[<TAB>right]`` lines), from plain
sentences (one per line) or from the words of a CoNLL-U file; from sentences, one word per
sentence is hidden, chosen with a generator seeded by the option ``seed``, so the same file
always gives the same items (``birnn.data.cloze``). Items marked ``right`` are those whose
answer only the words after the blank decide; the scores then include the accuracy on those and
on the others. Predictions come out as ``sentence<TAB>answer`` lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from birnn.data import BLANK, ClozeItem, blank_out, read_cloze, read_conllu
from birnn.data.formats import is_conllu_data
from birnn.models.fill import FillConfig, FillModel
from birnn.tasks.task import Options, Task


def read(path: str | Path, seed: int = 0) -> list[ClozeItem]:
    """The items of a cloze file, of plain sentences, or of a CoNLL-U file's sentences."""
    if is_conllu_data(Path(path)):
        return blank_out([s.words for s in read_conllu(path)], np.random.default_rng(seed))
    return read_cloze(path, seed)


def _unlabelled(words: list[str]) -> ClozeItem:
    if words.count(BLANK) != 1:
        raise ValueError(f"a fill-in-the-blank text needs exactly one {BLANK}; received {words}")
    return ClozeItem(tuple(words), words.index(BLANK), "", False, "input")


def lines(records: list[ClozeItem], predicted: list[str], options: Options) -> Iterator[str]:
    for record, answer in zip(records, predicted):
        yield f"{' '.join(record.words)}\t{answer}"


def scores(gold: list[ClozeItem], predicted: list[str]) -> dict[str, Any]:
    """Accuracy, and with items marked ``right`` the accuracy on them and on the others."""
    right = [g.answer == p for g, p in zip(gold, predicted)]
    out: dict[str, Any] = {"accuracy": float(np.mean(right)) if right else 0.0, "items": len(gold)}
    needs = [r for g, r in zip(gold, right) if g.needs_right]
    if needs:
        out["accuracy_right_context"] = float(np.mean(needs))
        left = [r for g, r in zip(gold, right) if not g.needs_right]
        out["accuracy_left_context"] = float(np.mean(left)) if left else None
    return out | {"score": out["accuracy"]}


TASK = Task(
    name="fill",
    per_token=False,
    model=FillModel,
    config=FillConfig,
    read=lambda path, options: read(path, seed=options.get("seed", 0)),
    gold=lambda item: item.answer,
    head=lambda options, vocabs: {"num_answers": len(vocabs.labels)},
    scores=lambda gold, predicted, vocabs, options: scores(gold, predicted),
    unlabelled=_unlabelled,
    lines=lines,
    position=lambda item: item.blank,
)

__all__ = ["TASK", "lines", "read", "scores"]
