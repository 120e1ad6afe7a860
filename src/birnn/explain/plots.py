"""PNG pictures with matplotlib (the optional extra ``pip install birnn[explain]``).

* ``attribution``: a tagger's tokens, each with the forward and backward parts of its margin
  over the runner-up; a classifier's or fill model's one output, its score's parts beside the
  runner-up's.
* ``sensitivity``: the maps, one panel per gradient path (rows: output positions; columns: input
  words), on one colour scale.
* ``gradient_flow``: mean ||dL/dh|| against the chain's own step, one panel per direction, one
  curve per layer (one batch) or per traced training step.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from birnn.explain.explanation import Explanation
from birnn.explain.gradients import GradientFlow, describe_chain

FORWARD, BACKWARD, MIXED = "#2864dc", "#eb781e", "#888888"


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend; a clear error without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(
            "the plots need matplotlib: pip install 'birnn[explain]' (or matplotlib)"
        ) from err
    return plt


def _save(fig: Any, path: str | Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    pyplot().close(fig)


def attribution(e: Explanation, path: str | Path) -> None:
    """A tagger: per token, the forward and backward parts of its margin over the runner-up.
    A classifier or fill model: its one output's parts, for the prediction and the runner-up
    (and, for a classifier, per pooling and direction)."""
    plt = pyplot()
    if e.task == "tag":
        x = np.arange(len(e.words))
        fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(e.words) + 2), 3.6))
        margins = [d.margin for d in e.decisions]
        labels = [f"{w}\n{d.predicted.label}" for w, d in zip(e.words, e.decisions)]
        ax.bar(x - 0.2, [m["forward"] for m in margins], 0.4, color=FORWARD, label="forward chain")
        ax.bar(x + 0.2, [m["backward"] for m in margins], 0.4, color=BACKWARD,
               label="backward chain")  # fmt: skip
        ax.set_ylabel("part of the margin over the runner-up")
        ax.set_title("Which direction decided each tag")
    else:
        d = e.decisions[0]
        names = ["forward", "backward", "bias", *d.predicted.detail]
        x = np.arange(len(names))
        fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(names) + 2), 3.6))
        splits = [(d.predicted, -0.2 if d.runner_up else 0.0, "#333333")]
        if d.runner_up is not None:
            splits.append((d.runner_up, 0.2, "#bbbbbb"))
        for split, shift, colour in splits:
            values = [split.parts.get(n, split.detail.get(n, 0.0)) for n in names]
            label = f"{split.label!r} (score {split.score:.2f})"
            ax.bar(x + shift, values, 0.4, color=colour, label=label)
        labels = names
        ax.set_ylabel("part of the score")
        ax.set_title(f"The score of {d.predicted.label!r} and of the runner-up, by part")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(x, labels, fontsize=8)
    ax.legend(fontsize=8)
    _save(fig, path)


def sensitivity(e: Explanation, path: str | Path) -> None:
    plt = pyplot()
    s = e.sensitivity
    maps = [(n, m) for n, m in (("forward path", s.forward), ("backward path", s.backward),
                                ("mixed paths", s.mixed)) if m is not None]  # fmt: skip
    if len(s.positions) == 1:  # one output (classifier, fill): bars per word read better
        _sensitivity_bars(e, maps, path)
        return
    scale = max(float(m.max()) for _, m in maps) or 1.0
    rows = len(s.positions)
    size = 0.32 * len(e.words) + 2
    fig, axes = plt.subplots(1, len(maps), figsize=(size * len(maps), 0.32 * rows + 2.2),
                             squeeze=False)  # fmt: skip
    ylabels = [e.words[p] if p is not None else "(text)" for p in s.positions]
    if e.task != "tag":
        ylabels = [e.decisions[0].predicted.label]
    for ax, (name, m) in zip(axes[0], maps):
        image = ax.imshow(m, cmap="Blues", vmin=0, vmax=scale, aspect="auto")
        ax.set_title(f"through the {name}", fontsize=10)
        ax.set_xticks(range(len(e.words)), e.words, rotation=70, fontsize=7)
        ax.set_yticks(range(rows), ylabels, fontsize=7)
        ax.set_xlabel("input word u")
    axes[0][0].set_ylabel("output (its predicted score)")
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="||d score / d x_u||")
    fig.savefig(path, dpi=110, format="png", bbox_inches="tight")
    plt.close(fig)


def _sensitivity_bars(e: Explanation, maps: list[tuple[str, Any]], path: str | Path) -> None:
    plt = pyplot()
    x = np.arange(len(e.words))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(e.words) + 2), 3.6))
    width = 0.8 / len(maps)
    colours = {"forward path": FORWARD, "backward path": BACKWARD, "mixed paths": MIXED}
    for i, (name, m) in enumerate(maps):
        ax.bar(x + (i - (len(maps) - 1) / 2) * width, m[0], width, color=colours[name],
               label=f"through the {name}")  # fmt: skip
    ax.set_xticks(x, e.words, fontsize=8)
    ax.set_ylabel("||d score / d x_u||")
    ax.set_title(f"Sensitivity of the score of {e.decisions[0].predicted.label!r} to each word")
    ax.legend(fontsize=8)
    _save(fig, path)


def gradient_flow(flows: Sequence[GradientFlow], names: Sequence[str], path: str | Path) -> None:
    """One panel per direction; in each, one curve per (flow, layer), labelled by ``names``."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    cmap = plt.get_cmap("viridis")
    for i, (f, name) in enumerate(zip(flows, names)):
        colour = cmap(i / max(len(flows) - 1, 1))
        for c, chain in enumerate(f.chains):
            ax = axes[1 if chain.endswith("_reverse") else 0]
            layer = describe_chain(chain).split(" ")[1]
            style = "-" if layer == "1" else "--"
            label = f"{name}, layer {layer}" if len(flows) > 1 else f"layer {layer}"
            # exact zeros (no loss reaches those steps, e.g. after a fill model's blank) are
            # left out of the log scale
            ax.plot(np.where(f.norms[c] > 0, f.norms[c], np.nan), style, color=colour, label=label)
    for ax, title in zip(axes, ("forward chains (step k = position t)",
                                "backward chains (step k = len - 1 - t)")):  # fmt: skip
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step k of the chain")
        ax.set_yscale("log")
    axes[0].set_ylabel("mean ||dL/dh_k||")
    if len(axes[0].get_legend_handles_labels()[0]) <= 12:
        axes[0].legend(fontsize=7)
    _save(fig, path)
