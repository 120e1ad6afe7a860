"""An ``Explanation`` as plain text lines (what ``birnn explain`` prints) and as JSON."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import numpy as np

from birnn.explain.attribution import Decision, Split
from birnn.explain.explanation import Explanation


def _word(e: Explanation, position: int | None) -> str:
    return "(the text)" if position is None else e.words[position]


def _parts(s: Split, keys: tuple[str, ...]) -> str:
    return " ".join(f"{s.parts.get(k, 0.0):+8.3f}" for k in keys)


def decision_lines(e: Explanation) -> Iterator[str]:
    crf = any(d.path is not None for d in e.decisions)
    keys: tuple[str, ...] = ("forward", "backward", "bias") + (("transitions",) if crf else ())
    short = {"forward": "fwd", "backward": "bwd", "bias": "bias", "transitions": "trans"}
    head = " ".join(f"{short[k]:>8}" for k in keys)
    width = max(8, *(len(_word(e, d.position)) for d in e.decisions))
    yield (
        f"{'t':>3}  {'word':<{width}}  {'predicted':<10} {'score':>8} = {head[:27]:<27}"
        f"  {'runner-up':<10} {'score':>8}   margin: {head}  decided by"
    )
    for d in e.decisions:
        yield _decision_line(e, d, keys, width)
        for name, value in d.predicted.detail.items():
            yield f"{'':>3}  {'':<{width}}  {'':<10} {value:+8.3f}   ({name})"


def _decision_line(e: Explanation, d: Decision, keys: tuple[str, ...], width: int) -> str:
    t = "-" if d.position is None else str(d.position)
    p, r = d.predicted, d.runner_up
    own = _parts(p, ("forward", "backward", "bias"))
    rival = f"{r.label:<10} {r.score:8.3f}" if r is not None else f"{'(none)':<10} {'':>8}"
    margin = " ".join(f"{d.margin.get(k, 0.0):+8.3f}" for k in keys)
    return (
        f"{t:>3}  {_word(e, d.position):<{width}}  {p.label:<10} {p.score:8.3f} = {own}"
        f"  {rival}           {margin}  {d.decided_by}"
    )


def sensitivity_lines(e: Explanation, rows: bool) -> Iterator[str]:
    """Per output position the summed sensitivity through each path; with ``rows`` every
    input position's value too."""
    s = e.sensitivity
    paths = [("forward", s.forward), ("backward", s.backward), ("mixed", s.mixed)]
    paths = [(name, m) for name, m in paths if m is not None]
    yield ""
    yield "sensitivity ||d score / d x_u|| (x_u: the recurrent input at word u), by gradient path:"
    header = "  ".join(f"{name:>9}" for name, _ in paths)
    for i, position in enumerate(s.positions):
        label = e.decisions[position if e.task == "tag" and position is not None else 0]
        where = f"t={position} {_word(e, position)!r}" if e.task == "tag" else (
            f"the blank (t={position})" if position is not None else "the text"
        )  # fmt: skip
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
            asdict(d) | {"margin": d.margin, "decided_by": d.decided_by,
                         "forward_share": d.forward_share}
            for d in e.decisions
        ],  # fmt: skip
        "sensitivity": {
            "positions": s.positions,
            "labels": s.labels,
            "forward": s.forward.tolist(),
            "backward": None if s.backward is None else s.backward.tolist(),
            "mixed": None if s.mixed is None else s.mixed.tolist(),
        },
        "notes": e.notes,
    }
