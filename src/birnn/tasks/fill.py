"""Fill in the blank: predict the word hidden at one position of a sentence.

Items come from a file of ``sentence with ___<TAB>answer`` lines (the blank is the token
``___``), or are made from plain sentences (one per line, or the words of a CoNLL-U file) by
hiding one word per sentence, chosen with a seeded generator, so the same file always gives the
same items. An optional third TSV column ``right`` marks items whose answer only the words after
the blank decide; the scores then include the accuracy on those.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from birnn.data import DataError, read_conllu
from birnn.demo.grammar import BLANK, ClozeItem
from birnn.tasks.base import Encoded, FormTable, Vocabs, encode_words, make_vocabs


def read(path: str | Path, seed: int = 0) -> list[ClozeItem]:
    path = Path(path)
    if path.name.endswith((".conllu", ".conllu.gz")):
        return blank_out([s.words for s in read_conllu(path)], np.random.default_rng(seed))
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read: {err}") from err
    items: list[ClozeItem] = []
    plain: list[list[str]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if "\t" not in line:
            plain.append(line.split())
            continue
        cells = line.split("\t")
        words = cells[0].split()
        if len(cells) not in (2, 3) or words.count(BLANK) != 1 or not cells[1].strip():
            raise DataError(
                f"{path}:{number}: expected 'sentence with one {BLANK}<TAB>answer[<TAB>right]'; "
                f"received {line[:80]!r}"
            )
        right = len(cells) == 3 and cells[2].strip() == "right"
        items.append(ClozeItem(tuple(words), words.index(BLANK), cells[1].strip(), right, "file"))
    if items and plain:
        raise DataError(f"{path}: mixes cloze lines (with a TAB) and plain sentences")
    if not items and not plain:
        raise DataError(f"{path}: no items (the file is empty)")
    return items or blank_out(plain, np.random.default_rng(seed))


def blank_out(sentences: list[list[str]], rng: np.random.Generator) -> list[ClozeItem]:
    """One item per sentence of at least two words: a random word becomes the blank."""
    items = []
    for words in sentences:
        if len(words) < 2:
            continue
        b = int(rng.integers(len(words)))
        hidden = (*words[:b], BLANK, *words[b + 1 :])
        items.append(ClozeItem(hidden, b, words[b], needs_right=False, family="text"))
    return items


def write(items: list[ClozeItem], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for it in items:
            f.write(f"{' '.join(it.words)}\t{it.answer}\t{'right' if it.needs_right else 'left'}\n")


def build_vocabs(train: list[ClozeItem], min_count: int, lowercase: bool, chars: bool) -> Vocabs:
    return make_vocabs(
        [it.words for it in train], (it.answer for it in train), min_count, lowercase, chars
    )


def encode(items: list[ClozeItem], vocabs: Vocabs, forms: FormTable) -> Encoded:
    words, form_ids = encode_words((it.words for it in items), vocabs, forms)
    answers = vocabs.labels.encode([it.answer for it in items])
    return Encoded(words, form_ids, answers, positions=[it.blank for it in items])


def scores(gold: list[ClozeItem], predicted: list[str]) -> dict[str, Any]:
    right = [g.answer == p for g, p in zip(gold, predicted)]
    out: dict[str, Any] = {"accuracy": float(np.mean(right)) if right else 0.0, "items": len(gold)}
    needs = [r for g, r in zip(gold, right) if g.needs_right]
    if needs:
        out["accuracy_right_context"] = float(np.mean(needs))
        left = [r for g, r in zip(gold, right) if not g.needs_right]
        out["accuracy_left_context"] = float(np.mean(left)) if left else None
    return out | {"score": out["accuracy"]}
