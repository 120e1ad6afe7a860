"""An ``Explanation`` as plain text lines (what ``birnn explain`` prints) and as JSON."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import numpy as np

from birnn.explain.attribution import PARTS, Split
from birnn.explain.explanation import Explanation


def _word(e: Explanation, position: int | None) -> str:
    return "(text)" if position is None else e.words[position]


def _split(split: Split | None, labels: int) -> str:
    """``label score = forward + backward + bias`` in fixed columns."""
    if split is None:
        return f"{'(none)':<{labels}} {'':>7}   " + " " * 26
    parts = " + ".join(f"{split.parts[k]:6.2f}" for k in PARTS)
    return f"{split.label:<{labels}} {split.score:7.2f} = {parts}"


def decision_lines(e: Explanation) -> Iterator[str]:
    """A table: each output's prediction and its runner-up, each split into forward + backward
    + bias, then the split of the margin between them (for a CRF: between the two paths)."""
    crf = any(d.path is not None for d in e.decisions)
    keys = PARTS + (("transitions",) if crf else ())
    short = {"forward": "fwd", "backward": "bwd", "bias": "bias", "transitions": "trans"}
    width = max(8, *(len(_word(e, d.position)) for d in e.decisions))
    labels = max(9, *(len(d.predicted.label) for d in e.decisions))
    split_head = " + ".join(f"{short[k]:>6}" for k in PARTS)
    margin = "margin of the paths" if crf else "margin"
    yield (
        f"{'t':>3}  {'word':<{width}}  {'predicted':<{labels}} {'score':>7} = {split_head}"
        f"  | {'runner-up':<{labels}} {'score':>7} = {split_head}"
        f"  | {margin}: " + " ".join(f"{short[k]:>6}" for k in keys) + "  decided by"
    )
    for d in e.decisions:
        t = "-" if d.position is None else str(d.position)
        yield (
            f"{t:>3}  {_word(e, d.position):<{width}}  {_split(d.predicted, labels)}"
            f"  | {_split(d.runner_up, labels)}  | {'':<{len(margin)}}  "
            + " ".join(f"{d.margin[k]:+6.2f}" for k in keys)
            + f"  {d.decided_by}"
        )
        for name, value in d.predicted.detail.items():
            yield f"{'':>3}  {'':<{width}}  {'':<{labels}} {value:7.2f}   ({name})"


def sensitivity_lines(e: Explanation, rows: bool) -> Iterator[str]:
    """Per output position the summed sensitivity through each path; with ``rows`` every
    input position's value too."""
    s = e.sensitivity
    named = (("forward", s.forward), ("backward", s.backward), ("mixed", s.mixed))
    paths = [(name, m) for name, m in named if m is not None]
    yield ""
    yield "sensitivity ||d score / d x_u|| (x_u: the recurrent input at word u), by gradient path:"
    header = "  ".join(f"{name:>9}" for name, _ in paths)
    for i, position in enumerate(s.positions):
        label = e.decisions[position if e.task == "tag" and position is not None else 0]
        if e.task == "tag":
            where = f"t={position} {_word(e, position)!r}"
        else:
            where = "the text" if position is None else f"the blank (t={position})"
        totals = "  ".join(f"{name} {float(np.sum(m[i])):.4g}" for name, m in paths)
        yield f"  {where} -> {label.predicted.label}: summed over u: {totals}"
        if rows:
            yield f"    {'u':>3}  {'word':<14}{header}"
            for u, word in enumerate(e.words):
                values = "  ".join(f"{float(m[i, u]):9.4g}" for _, m in paths)
                yield f"    {u:>3}  {word:<14}{values}"


def lines(e: Explanation, rows: bool = False) -> Iterator[str]:
    yield e.model
    yield f"text: {' '.join(e.words)}"
    yield ""
    yield from decision_lines(e)
    yield from sensitivity_lines(e, rows)
    yield ""
    for note in e.notes:
        yield f"note: {note}"


def to_json(e: Explanation) -> dict[str, Any]:
    """Everything in plain JSON types (maps as nested lists)."""
    s = e.sensitivity
    return {
        "task": e.task,
        "model": e.model,
        "words": e.words,
        "decisions": [
            asdict(d)
            | {"margin": d.margin, "decided_by": d.decided_by, "forward_share": d.forward_share}
            for d in e.decisions
        ],
        "sensitivity": {
            "positions": s.positions,
            "labels": s.labels,
            "forward": s.forward.tolist(),
            "backward": None if s.backward is None else s.backward.tolist(),
            "mixed": None if s.mixed is None else s.mixed.tolist(),
        },
        "notes": e.notes,
    }
