"""One self-contained HTML page (inline CSS and SVG, nothing fetched) for explanations.

The sentence is coloured by direction: blue for the forward (left-to-right) chain, orange for
the backward one. A decision (a tagger's token, a fill model's blank, a classifier's label
after the text) takes the share of its margin over the runner-up that came from each direction
(``Decision.forward_share``); the other words of a classifier's or fill model's text take the
share of the output's sensitivity to them that travelled through each direction, faded where
that sensitivity is small. Hovering a word
shows the numbers; the sensitivity maps follow as SVG grids (a cell's value on hover).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from html import escape

import numpy as np

from birnn.explain.attribution import Decision
from birnn.explain.explanation import Explanation

FORWARD = (40, 100, 220)  # blue
BACKWARD = (235, 120, 30)  # orange
NEUTRAL = (150, 150, 150)

CSS = """
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1100px; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
.model { color: #555; }
.sentence { font-size: 20px; line-height: 3.2em; }
.tok { position: relative; padding: 4px 6px; margin: 2px; border-radius: 4px;
       display: inline-block; line-height: 1.3em; text-align: center; cursor: default; }
.tok .lab { display: block; font-size: 11px; color: #333; }
.tok .tip { display: none; position: absolute; left: 0; top: 100%; z-index: 10;
            background: #fff; border: 1px solid #888; padding: 6px; font-size: 12px;
            white-space: pre; text-align: left; box-shadow: 2px 2px 6px #aaa; }
.tok:hover .tip { display: block; }
.legend span { padding: 2px 8px; border-radius: 4px; margin-right: 8px; }
table { border-collapse: collapse; font-size: 13px; }
td, th { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: right; }
td.w, th.w { text-align: left; }
.notes li { margin: 4px 0; color: #444; }
"""


def _rgb(share: float | None, strength: float = 1.0) -> str:
    """Blend from orange (share 0: all backward) to blue (1: all forward), faded towards white
    by 1 - strength; grey where there is no share."""
    if share is None:
        base = np.array(NEUTRAL, dtype=float)
    else:
        base = share * np.array(FORWARD, dtype=float) + (1 - share) * np.array(BACKWARD, float)
    alpha = 0.15 + 0.85 * float(np.clip(strength, 0.0, 1.0))
    r, g, b = (255 - alpha * (255 - base)).round().astype(int)
    return f"rgb({r},{g},{b})"


def _split_text(name: str, d: Decision) -> str:
    p, r = d.predicted, d.runner_up
    parts = " + ".join(f"{k} {v:.3f}" for k, v in p.parts.items())
    text = f"{name}: {p.label} {p.score:.3f} = {parts}"
    if r is not None:
        rparts = " + ".join(f"{k} {v:.3f}" for k, v in r.parts.items())
        text += f"\nrunner-up {r.label} {r.score:.3f} = {rparts}"
    margin = ", ".join(f"{k} {v:+.3f}" for k, v in d.margin.items())
    text += f"\nmargin{' (whole paths)' if d.path is not None else ''}: {margin}"
    share = d.forward_share
    text += f"\ndecided by {d.decided_by}; forward share {'-' if share is None else f'{share:.2f}'}"
    return text


def _token(word: str, label: str, colour: str, tip: str) -> str:
    return (
        f'<span class="tok" style="background:{colour}" title="{escape(tip)}">{escape(word)}'
        f'<span class="lab">{escape(label)}</span><span class="tip">{escape(tip)}</span></span>'
    )


def sentence(e: Explanation) -> str:
    """The words, coloured by direction (see the module docstring), with the numbers on hover."""
    out = []
    if e.task == "tag":
        for d in e.decisions:
            assert d.position is not None
            word = e.words[d.position]
            out.append(_token(word, d.predicted.label, _rgb(d.forward_share), _split_text(word, d)))
        return "".join(out)
    s = e.sensitivity
    fwd = s.forward[0]
    bwd = s.backward[0] if s.backward is not None else np.zeros_like(fwd)
    mixed = s.mixed[0] if s.mixed is not None else np.zeros_like(fwd)
    total = fwd + bwd + mixed
    top = float(total.max()) or 1.0
    d = e.decisions[0]
    decision = _token("→", d.predicted.label, _rgb(d.forward_share), _split_text("output", d))
    for u, word in enumerate(e.words):
        if u == d.position:  # the blank: its decision, coloured like a tagger's token
            out.append(_token(word, d.predicted.label, _rgb(d.forward_share), _split_text(word, d)))
            continue
        pure = fwd[u] + bwd[u]
        share = float(fwd[u] / pure) if pure > 0 else None
        tip = (
            f"{word}: sensitivity of {d.predicted.label!r} to this word\n"
            f"forward path {fwd[u]:.4g}, backward path {bwd[u]:.4g}, mixed {mixed[u]:.4g}"
        )
        out.append(_token(word, "", _rgb(share, float(total[u]) / top), tip))
    if d.position is None:  # a classifier: its decision after the text
        out.append(decision)
    return "".join(out)


def heatmap(
    values: np.ndarray, rows: Sequence[str], columns: Sequence[str], scale: float, title: str
) -> str:
    """An SVG grid: one cell per (row, column), darker for larger values (``scale``: the
    value drawn darkest), each cell's value in its hover title."""
    cell, left, top = 22, 110, 90
    width, height = left + cell * len(columns) + 10, top + cell * len(rows) + 10
    label = escape(title)
    parts = [
        f'<svg width="{width}" height="{height}" role="img" aria-label="{label}">',
        f'<text x="4" y="16" font-size="13" font-weight="bold">{label}</text>',
    ]
    for j, name in enumerate(columns):
        x = left + j * cell + cell / 2
        parts.append(f'<text x="{x}" y="{top - 6}" font-size="11" '
                     f'transform="rotate(-60 {x} {top - 6})">{escape(name)}</text>')  # fmt: skip
    for i, name in enumerate(rows):
        y = top + i * cell
        parts.append(f'<text x="{left - 6}" y="{y + 15}" font-size="11" '
                     f'text-anchor="end">{escape(name)}</text>')  # fmt: skip
        for j, column in enumerate(columns):
            v = float(values[i, j])
            shade = round(255 * (1 - min(v / scale, 1.0))) if scale > 0 else 255
            parts.append(
                f'<rect x="{left + j * cell}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="rgb({shade},{shade},255)"><title>{escape(name)} &lt;- '
                f"{escape(column)}: {v:.4g}</title></rect>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _maps(e: Explanation) -> Iterator[str]:
    s = e.sensitivity
    paths = [("forward path", s.forward), ("backward path", s.backward), ("mixed paths", s.mixed)]
    present = [(name, m) for name, m in paths if m is not None]
    scale = max(float(m.max()) for _, m in present) or 1.0
    if e.task == "tag":
        rows = [f"{p} {e.words[p]}" for p in s.positions if p is not None]
    else:
        rows = [e.decisions[0].predicted.label]
    columns = [f"{u} {w}" for u, w in enumerate(e.words)]
    for name, m in present:
        yield heatmap(m, rows, columns, scale, f"sensitivity through the {name}")


def _table(e: Explanation) -> Iterator[str]:
    keys = list(e.decisions[0].margin)
    yield "<table><tr><th>t</th><th class='w'>word</th><th class='w'>predicted</th>"
    yield "<th>score</th><th>forward</th><th>backward</th><th>bias</th>"
    yield "<th class='w'>runner-up</th>" + "".join(f"<th>margin {k}</th>" for k in keys)
    yield "<th class='w'>decided by</th></tr>"
    for d in e.decisions:
        p, r = d.predicted, d.runner_up
        word = "(text)" if d.position is None else e.words[d.position]
        cells = [
            "-" if d.position is None else str(d.position), word, p.label, f"{p.score:.3f}",
            *(f"{p.parts[k]:.3f}" for k in ("forward", "backward", "bias")),
            "-" if r is None else r.label, *(f"{d.margin[k]:+.3f}" for k in keys), d.decided_by,
        ]  # fmt: skip
        left = {1, 2, 7, len(cells) - 1}
        yield (
            "<tr>"
            + "".join(
                f"<td class='w'>{escape(c)}</td>" if i in left else f"<td>{escape(c)}</td>"
                for i, c in enumerate(cells)
            )
            + "</tr>"
        )
    yield "</table>"


def section(e: Explanation) -> str:
    body = [
        f"<h2>{escape(' '.join(e.words))}</h2>",
        f"<p class='model'>{escape(e.model)}</p>",
        f"<div class='sentence'>{sentence(e)}</div>",
        *_maps(e),
        *_table(e),
        "<ul class='notes'>" + "".join(f"<li>{escape(n)}</li>" for n in e.notes) + "</ul>",
    ]
    return "<section>" + "\n".join(body) + "</section>"


def page(explanations: Sequence[Explanation], title: str = "birnn explain") -> str:
    """The whole page for one or more explanations."""
    legend = (
        f"<p class='legend'><span style='background:{_rgb(1.0)}'>forward chain</span>"
        f"<span style='background:{_rgb(0.5)}'>both</span>"
        f"<span style='background:{_rgb(0.0)}'>backward chain</span> "
        "(a decision: the share of its margin over the runner-up from each direction; the other "
        "words of a classifier's or fill model's text: the share of the output's sensitivity "
        "to them, faded where it is small)</p>"
    )
    sections = "\n".join(section(e) for e in explanations)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>{legend}\n{sections}\n</body></html>\n"
    )
