"""``explain(task_model, words)``: what each direction did for one text, in one object.

One forward pass over P copies of the sentence (P output positions: a tagger's tokens, or the
one output of a classifier or fill model) gives the decisions (row 0: every score split by
direction, the runner-up, the CRF paths) and, with one backward per gradient path, the
sensitivity maps of every position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from birnn.data import DataError
from birnn.explain.attribution import Decision, decisions
from birnn.explain.directions import merge_name
from birnn.explain.readout import run_model
from birnn.explain.sensitivity import Sensitivity, repeat_batch, sensitivity
from birnn.models.tagger import Tagger
from birnn.tasks.base import make_batch

KINDS = {"tag": "tagger", "classify": "classifier", "fill": "fill-in-the-blank model"}


@dataclass
class Explanation:
    task: str  # "tag" | "classify" | "fill"
    words: list[str]
    decisions: list[Decision]  # one per output position (a tagger: one per token)
    sensitivity: Sensitivity
    model: str  # e.g. "2-layer bidirectional LSTM (merge concat), CRF head"
    notes: list[str]  # what the numbers mean for this model, and what they do not


def _notes(task: str, layers: int, merge: str | None, model: Any) -> list[str]:
    notes = [
        "score = forward + backward + bias exactly: the output layer is linear in the top "
        "layer's states, and dropout is the identity at inference."
    ]
    if merge is None:
        notes.append("unidirectional: every part is forward; there is no backward chain.")
    if layers > 1 and merge is not None:
        notes.append(
            f"{layers} layers: forward/backward split the top layer's two chains, and each of "
            "them read both directions of the layer below, so 'forward' is not 'left context "
            "only'. The sensitivity maps separate the pure paths: forward = left-to-right "
            "chains in every layer (zero right of the output), backward = right-to-left, "
            "mixed = paths that change direction between layers."
        )
    if task == "tag" and getattr(model, "crf", None) is not None:
        notes.append(
            "CRF head: each token's scores are emissions; the predicted tags are the best path "
            "(Viterbi), whose score adds the transitions; a token's runner-up is the best path "
            "with another tag there, and the margin compares the two whole paths."
        )
    if task == "classify":
        notes.append(
            f"pooling {model.pool.mode!r}: every pooled unit is one feature of one direction "
            "(final: its last state; max: the step of its maximum; mean: its average), so the "
            "split by direction (and by pooling) is exact."
        )
    return notes


def _describe(model: Any, task: str) -> str:
    enc = model.encoder.config
    merge = merge_name(model.encoder.rnn)
    kind = "bidirectional" if merge else "unidirectional"
    text = f"{enc.layers}-layer {kind} {enc.cell.upper()} ({enc.hidden} per direction"
    text += f", merge {merge})" if merge else ")"
    if task == "tag":
        text += ", CRF head" if model.crf is not None else ", softmax head"
    if task == "classify":
        text += f", pooling {model.pool.mode}"
    return f"{KINDS[task]}: {text}"


def explain(
    task_model: Any, words: Sequence[str], positions: Sequence[int] | None = None
) -> Explanation:
    """Explain ``task_model`` (``birnn.pipeline.TaskModel``: a trained model with its task and
    vocabularies) on one text, ``words`` (a fill text holds one ``___``).

    ``positions``: a tagger's tokens whose sensitivity rows to compute (None: all). A classifier
    and a fill model have one output, so they take none.
    """
    words = list(words)
    if not words:
        raise DataError("the text is empty (no words)")
    task, model = task_model.task, task_model.model
    if positions is not None and not isinstance(model, Tagger):
        raise ValueError(
            f"positions apply to taggers (one output per token); a {KINDS[task.name]} has one "
            f"output for the whole text; received positions {list(positions)}"
        )
    if positions is not None:
        bad = [p for p in positions if not 0 <= p < len(words)]
        if bad or not positions:
            raise ValueError(
                f"positions must be token indices in [0, {len(words)}) (the text has "
                f"{len(words)} words); received {list(positions)}"
            )
    record = task.unlabelled(words)
    data = task_model.encode([record])
    batch = make_batch(data, [0], task_model.forms, task.per_token)
    rows = list(range(len(words)) if positions is None else positions) if task.per_token else [0]
    run = run_model(model, repeat_batch(batch, len(rows)))
    labels = task_model.vocabs.labels.tokens
    found = decisions(run, labels, getattr(model, "crf", None))
    seeds = [found[p if task.per_token else 0].predicted.index for p in rows]
    maps = sensitivity(run, seeds, rows if task.per_token else [0])
    return Explanation(
        task=task.name,
        words=words,
        decisions=found,
        sensitivity=maps,
        model=_describe(model, task.name),
        notes=_notes(task.name, run.layers, run.merge, model),
    )
