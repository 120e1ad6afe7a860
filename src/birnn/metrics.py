"""Evaluation metrics: token accuracy, entity spans (conlleval), classification, confusion.

Scores are **fractions in [0, 1]**, not the percentages conlleval prints (multiply by 100 to
compare). Ids follow the label vocabulary's convention (``birnn.data.Vocab``): classes are
``0 .. n_labels-1`` and **-1 is a label outside the vocabulary** (a label seen only in evaluation
data). A position where either side is -1 never counts as correct, so such labels lower the
scores instead of crashing the evaluation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from birnn._checks import check_int, describe
from birnn.data.tags import to_spans


def _as_array(name: str, value: Any) -> NDArray:
    try:
        arr = np.asarray(value)
    except ValueError as err:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular array; received {describe(value)}") from err
    if arr.dtype == object:
        raise TypeError(f"{name} must be an array of ints or strings; received {describe(value)}")
    return arr


def _check_ids(name: str, arr: NDArray, n_labels: int) -> NDArray[np.intp]:
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integer label ids; received dtype {arr.dtype}")
    if arr.size and (arr.min() < -1 or arr.max() >= n_labels):
        raise ValueError(
            f"{name} must hold ids in [0, {n_labels}) or -1 (unseen label); "
            f"received min {arr.min()} and max {arr.max()}"
        )
    return arr.astype(np.intp).ravel()


def _pair(pred: Any, gold: Any) -> tuple[NDArray, NDArray]:
    p, g = _as_array("pred", pred), _as_array("gold", gold)
    if p.shape != g.shape:
        raise ValueError(
            f"pred and gold must have the same shape; received {p.shape} and {g.shape}"
        )
    return p, g


def _hits(p: NDArray, g: NDArray) -> NDArray[np.bool_]:
    """Where pred equals gold; for integer ids, -1 (unseen) never equals anything."""
    same = p == g
    if p.dtype.kind in "iu" and g.dtype.kind in "iu":
        same &= g >= 0
    return same


def accuracy(pred: Any, gold: Any, mask: Any = None) -> float:
    """Fraction of positions where ``pred`` equals ``gold``, over positions where ``mask``.

    ``pred`` and ``gold`` are arrays of the same shape (ids or strings), e.g. padded (N, T) tag
    ids with ``mask`` the (N, T) boolean array of real (non-padding) positions. A gold id of -1
    is always wrong. ``ValueError`` when no position is scored.
    """
    p, g = _pair(pred, gold)
    hits = _hits(p, g)
    if mask is not None:
        m = np.asarray(mask)
        if m.dtype != np.bool_ or m.shape != p.shape:
            raise ValueError(
                f"mask must be a boolean array of shape {p.shape}; received {describe(mask)}"
            )
        hits = hits[m]
    if hits.size == 0:
        raise ValueError("accuracy needs at least one scored position; received none")
    return float(hits.mean())


# -- entity spans ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PRF:
    """Precision, recall and F1 of one entity type or class (fractions) and their counts."""

    precision: float
    recall: float
    f1: float
    support: int  # gold items (entities or examples)
    predicted: int  # predicted items
    correct: int  # predicted items that match a gold item exactly


def _prf(correct: int, predicted: int, support: int) -> PRF:
    """conlleval's definitions: a ratio with a zero denominator is 0, and so is F1 then."""
    precision = correct / predicted if predicted else 0.0
    recall = correct / support if support else 0.0
    total = precision + recall
    f1 = 2 * precision * recall / total if total else 0.0
    return PRF(precision, recall, f1, support, predicted, correct)


@dataclass(frozen=True)
class SpanScores:
    """Entity-level scores as conlleval computes them, as fractions.

    ``micro`` pools all entities; ``per_type`` has one entry per type seen in gold *or*
    prediction, in code point order (like conlleval's table). ``accuracy`` is conlleval's token
    accuracy: full tags (prefix and type) equal, over all tokens.
    """

    micro: PRF
    per_type: dict[str, PRF]
    accuracy: float
    tokens: int

    @property
    def f1(self) -> float:
        """The micro F1 (the number NER papers report)."""
        return self.micro.f1


def span_f1(
    gold_tags: Sequence[Sequence[str]],
    pred_tags: Sequence[Sequence[str]],
    scheme: str = "iob2",
) -> SpanScores:
    """Entity precision, recall and F1 of predicted tag sequences against gold ones.

    A predicted entity is correct when a gold entity has the same type, start and end. Spans
    are read with conlleval's rules (``birnn.data.tags``: an ``I-`` after ``O`` starts an
    entity), one sentence at a time, so no entity crosses a sentence boundary. Both arguments
    hold one tag list per sentence; lists must pair up in number and length (``ValueError``
    naming the sentence otherwise), and every tag must be valid in ``scheme``.
    """
    if len(gold_tags) != len(pred_tags):
        raise ValueError(
            f"gold_tags and pred_tags must have one tag list per sentence each; "
            f"received {len(gold_tags)} and {len(pred_tags)} sentences"
        )
    found_gold: Counter[str] = Counter()
    found_pred: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    right_tags = tokens = 0
    for n, (gold, pred) in enumerate(zip(gold_tags, pred_tags)):
        if isinstance(gold, str) or isinstance(pred, str):
            raise TypeError(f"sentence {n}: expected a list of tags; received a string")
        if len(gold) != len(pred):
            raise ValueError(
                f"sentence {n}: gold has {len(gold)} tags but prediction has {len(pred)}"
            )
        try:
            gold_spans, pred_spans = to_spans(gold, scheme), to_spans(pred, scheme)
        except ValueError as err:
            raise ValueError(f"sentence {n}: {err}") from err
        found_gold.update(kind for kind, _, _ in gold_spans)
        found_pred.update(kind for kind, _, _ in pred_spans)
        correct.update(kind for kind, _, _ in set(gold_spans) & set(pred_spans))
        right_tags += sum(g == p for g, p in zip(gold, pred))
        tokens += len(gold)
    per_type = {
        kind: _prf(correct[kind], found_pred[kind], found_gold[kind])
        for kind in sorted(set(found_gold) | set(found_pred))
    }
    micro = _prf(sum(correct.values()), sum(found_pred.values()), sum(found_gold.values()))
    return SpanScores(micro, per_type, right_tags / tokens if tokens else 0.0, tokens)


# -- classification ----------------------------------------------------------------------------


def confusion_matrix(pred: Any, gold: Any, n_labels: int) -> NDArray[np.int64]:
    """Counts ``C[g, p]``: examples of gold class g predicted as class p.

    The matrix is (n_labels + 1, n_labels + 1): the extra last row and column stand for -1, a
    label outside the vocabulary (so ``C[-1, p]`` counts unseen gold labels predicted as p).
    Every example is counted once; the correct ones are ``trace(C[:-1, :-1])``, so the unseen
    corner ``C[-1, -1]`` is an error, never a hit.
    """
    n_labels = check_int("n_labels", n_labels, 1)
    p, g = _pair(pred, gold)
    p, g = _check_ids("pred", p, n_labels), _check_ids("gold", g, n_labels)
    size = n_labels + 1
    flat = np.where(g < 0, n_labels, g) * size + np.where(p < 0, n_labels, p)
    return np.bincount(flat, minlength=size * size).reshape(size, size).astype(np.int64)


@dataclass(frozen=True)
class ClassScores:
    """Classification scores: accuracy, macro F1 and one ``PRF`` per class id."""

    accuracy: float
    macro_f1: float
    per_class: dict[int, PRF]
    unseen: int  # gold examples whose label is outside the vocabulary (-1)


def classification_scores(pred: Any, gold: Any, n_labels: int) -> ClassScores:
    """Accuracy, per-class P/R/F1 and macro F1 of class ids (see ``macro_f1``)."""
    matrix = confusion_matrix(pred, gold, n_labels)
    total = int(matrix.sum())
    if total == 0:
        raise ValueError("classification scores need at least one example; received none")
    hits = np.diag(matrix)[:n_labels]
    support = matrix[:, :n_labels].sum(axis=1)[:n_labels]
    predicted = matrix[:, :n_labels].sum(axis=0)
    per_class = {
        k: _prf(int(hits[k]), int(predicted[k]), int(support[k]))
        for k in range(n_labels)
        if support[k] or predicted[k]
    }
    macro = float(np.mean([s.f1 for s in per_class.values()])) if per_class else 0.0
    return ClassScores(float(hits.sum()) / total, macro, per_class, int(matrix[n_labels].sum()))


def macro_f1(pred: Any, gold: Any, n_labels: int) -> float:
    """Unweighted mean of per-class F1 over the classes that occur in gold or prediction.

    Classes absent from both have no defined F1 and are left out (scikit-learn's default label
    set). An unseen gold label (-1) is a miss that lowers the precision of the class predicted
    for it; it has no F1 of its own.
    """
    return classification_scores(pred, gold, n_labels).macro_f1


# -- text tables -------------------------------------------------------------------------------


def _table(rows: Mapping[str, PRF], total: PRF, total_name: str) -> str:
    width = max([len(total_name), *(len(name) for name in rows)])
    header = f"{'':>{width}}  precision  recall      f1  support  predicted"
    lines = [header]
    for name, s in [*rows.items(), (total_name, total)]:
        lines.append(
            f"{name:>{width}}  {s.precision:9.4f}  {s.recall:6.4f}  {s.f1:6.4f}  "
            f"{s.support:7d}  {s.predicted:9d}"
        )
    return "\n".join(lines)


def format_span_scores(scores: SpanScores) -> str:
    """A small text table: one row per entity type, then the micro scores."""
    table = _table(scores.per_type, scores.micro, "micro")
    return f"{table}\ntoken accuracy {scores.accuracy:.4f} over {scores.tokens} tokens"


def format_confusion(matrix: NDArray[np.integer], names: Sequence[str]) -> str:
    """``confusion_matrix`` as a text table, rows gold, columns predicted; ``names`` are the
    class names in id order (the last row and column are labelled ``<unseen>``)."""
    names = [*names, "<unseen>"]
    if matrix.shape != (len(names), len(names)):
        raise ValueError(
            f"matrix must be ({len(names)}, {len(names)}) for {len(names) - 1} "
            f"names; received shape {matrix.shape}"
        )
    width = max(max(len(n) for n in names), len(str(int(matrix.max()))), len("gold\\pred"))
    lines = [" ".join(f"{c:>{width}}" for c in ["gold\\pred", *names])]
    for name, row in zip(names, matrix):
        lines.append(" ".join(f"{c:>{width}}" for c in [name, *(str(int(v)) for v in row)]))
    return "\n".join(lines)
