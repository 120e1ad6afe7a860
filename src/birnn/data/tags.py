"""Entity tag schemes (IOB1, IOB2, BIOES) and spans, with conlleval's chunk rules.

A tag is ``"O"`` (outside) or ``"P-type"``: a prefix ``P`` and an entity type (the type is
everything after the *first* hyphen, so ``"B-creative-work"`` has type ``"creative-work"``).

=======  ================  ==============================================================
scheme   prefixes          a span of length 1 / length >= 2
=======  ================  ==============================================================
iob1     B, I              ``I`` / ``I I ...``; ``B`` only on the first word of a span that
                           directly follows a span of the same type
iob2     B, I              ``B`` / ``B I ... I``
bioes    B, I, E, S        ``S`` / ``B I ... I E``
=======  ================  ==============================================================

Reading tags as spans (``to_spans``) follows conlleval (CoNLL-2000 ``conlleval.pl``) exactly,
because that is how published NER and chunking scores are computed. Between the previous tag
``p`` and the current tag ``c``:

* a span **ends** before ``c`` if ``p`` is not ``O`` and either the types differ, or
  (p, c) is one of B->B, B->O, B->S, I->B, I->O, I->S, or ``p`` is E or S;
* a span **starts** at ``c`` if ``c`` is not ``O`` and either the types differ, or ``c`` is
  B or S, or (p, c) is one of O->I, E->I, S->I, O->E, E->E, S->E.

The rules for B, I and O are the original script's; those for E and S are the widely used BIOES
extension of it. The scheme is not consulted when reading spans, so ill-formed sequences are read
the conlleval way under every scheme: **an ``I-`` tag after ``O`` or after a tag of another type
starts a new span** (in IOB2 as in IOB1), ``E-`` after ``O`` is a one-word span, and a change of
type always closes one span and opens another. Writing spans (``from_spans``) always produces
well-formed tags, so ``convert`` also repairs such sequences.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from birnn._checks import check_choice, describe

SCHEMES: dict[str, frozenset[str]] = {
    "iob1": frozenset("BI"),
    "iob2": frozenset("BI"),
    "bioes": frozenset("BIES"),
}

Span = tuple[str, int, int]  # (type, start, end): words start .. end-1

_ENDS_AFTER = {("B", "B"), ("B", "O"), ("B", "S"), ("I", "B"), ("I", "O"), ("I", "S")}
_STARTS_AT = {("O", "I"), ("E", "I"), ("S", "I"), ("O", "E"), ("E", "E"), ("S", "E")}


def split_tag(tag: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``, ``"O"`` -> ``("O", "")``; only the first hyphen splits."""
    if tag == "O":
        return "O", ""
    prefix, hyphen, kind = tag.partition("-")
    if not hyphen:
        return tag, ""
    return prefix, kind


def check_tag(tag: str, scheme: str) -> str | None:
    """Why ``tag`` is not a tag of ``scheme`` (a sentence for an error message), or ``None``."""
    if tag == "O":
        return None
    prefix, kind = split_tag(tag)
    allowed = SCHEMES[scheme]
    if prefix not in allowed or not kind:
        shapes = ", ".join(f"{p}-TYPE" for p in sorted(allowed))
        return f"tag {tag!r} is not valid in {scheme.upper()} (expected O, {shapes})"
    return None


def _ends(prev: str, prev_kind: str, cur: str, kind: str) -> bool:
    if prev == "O":
        return False
    return prev_kind != kind or prev in ("E", "S") or (prev, cur) in _ENDS_AFTER


def _starts(prev: str, prev_kind: str, cur: str, kind: str) -> bool:
    if cur == "O":
        return False
    return prev_kind != kind or cur in ("B", "S") or (prev, cur) in _STARTS_AT


def to_spans(tags: Sequence[str], scheme: str = "iob2") -> list[Span]:
    """The spans ``(type, start, end_exclusive)`` of one sentence's tags, in order.

    ``scheme`` only decides which tags are valid (``ValueError`` naming the tag and its position
    otherwise); spans are read with conlleval's rules for every scheme (see the module notes).
    """
    check_choice("scheme", scheme, SCHEMES)
    spans: list[Span] = []
    start = 0
    prev, prev_kind = "O", ""
    for i, tag in enumerate(tags):
        problem = check_tag(tag, scheme) if isinstance(tag, str) else f"received {describe(tag)}"
        if problem is not None:
            raise ValueError(f"tags[{i}]: {problem}")
        cur, kind = split_tag(tag)
        if _ends(prev, prev_kind, cur, kind):
            spans.append((prev_kind, start, i))
        if _starts(prev, prev_kind, cur, kind):
            start = i
        prev, prev_kind = cur, kind
    if prev != "O":
        spans.append((prev_kind, start, len(tags)))
    return spans


def from_spans(spans: Iterable[Span], length: int, scheme: str = "iob2") -> list[str]:
    """Well-formed tags of ``scheme`` for ``length`` words holding ``spans``.

    Spans must lie within the sentence, be non-empty, have a non-empty type and not overlap;
    otherwise ``ValueError`` naming the offending span.
    """
    check_choice("scheme", scheme, SCHEMES)
    tags = ["O"] * length
    previous_end, previous_kind = -1, ""
    for span in sorted(spans, key=lambda s: (s[1], s[2])):
        kind, start, end = span
        if not (isinstance(kind, str) and kind and 0 <= start < end <= length):
            raise ValueError(
                f"a span must be (non-empty type, start, end) with 0 <= start < end <= {length}; "
                f"received {span!r}"
            )
        if start < previous_end:
            raise ValueError(
                f"spans must not overlap; received {span!r} after one ending at {previous_end}"
            )
        if scheme == "bioes":
            if end - start == 1:
                tags[start] = f"S-{kind}"
            else:
                tags[start : end - 1] = [f"I-{kind}"] * (end - 1 - start)
                tags[start], tags[end - 1] = f"B-{kind}", f"E-{kind}"
        else:
            tags[start:end] = [f"I-{kind}"] * (end - start)
            follows_same = start == previous_end and kind == previous_kind
            if scheme == "iob2" or follows_same:
                tags[start] = f"B-{kind}"
        previous_end, previous_kind = end, kind
    return tags


def convert(tags: Sequence[str], from_scheme: str, to_scheme: str) -> list[str]:
    """Re-encode one sentence's tags from one scheme to another (spans are kept exactly).

    Ill-formed input (an IOB2 ``I-`` after ``O``) is read as conlleval reads it and comes out
    well formed.
    """
    check_choice("from_scheme", from_scheme, SCHEMES)
    check_choice("to_scheme", to_scheme, SCHEMES)
    return from_spans(to_spans(tags, from_scheme), len(tags), to_scheme)
