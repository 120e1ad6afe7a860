"""Which tag may follow which under an entity scheme: the masks of a constrained decoder.

A tag sequence is valid when it is the one ``birnn.data.tags.from_spans`` writes for its own
spans (as conlleval reads them): writing it back changes nothing. For IOB1, IOB2 and BIOES
that is a first-order property, so three masks capture it exactly (``allowed[i, j]``: tag i
may be followed by tag j; ``start[j]``, ``end[j]``: j may begin, end a sentence). With
``inside`` the prefixes that continue a span of their type and ``open`` those that must be
continued::

    scheme   inside   open
    iob1     B        -        (IOB1's B- only separates two spans of one type)
    iob2     I        -
    bioes    I, E     B, I

    allowed[p, c] = (c inside  =>  p is B-x or I-x, x = type(c))
                and (p open    =>  c is I-x or E-x, x = type(p))
    start[c] = c not inside          end[p] = p not open

Tags outside the scheme's shapes (``O`` included) are unconstrained.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from birnn._checks import check_choice, describe
from birnn.data.tags import SCHEMES, split_tag

__all__ = ["Constraints", "scheme_constraints"]

_INSIDE = {"iob1": "B", "iob2": "I", "bioes": "IE"}
_OPEN = {"iob1": "", "iob2": "", "bioes": "BI"}
_BEFORE_INSIDE = "BI"  # what an inside tag of type x may follow: B-x or I-x
_AFTER_OPEN = "IE"  # what must follow an open tag of type x: I-x or E-x


class Constraints(NamedTuple):
    allowed: NDArray[np.bool_]  # (C, C): [i, j] tag i may be followed by tag j
    start: NDArray[np.bool_]  # (C,): tag j may begin a sentence
    end: NDArray[np.bool_]  # (C,): tag j may end one


def scheme_constraints(tags: Sequence[str], scheme: str) -> Constraints:
    """The masks of ``scheme`` ("iob1", "iob2" or "bioes") over the tag names ``tags``."""
    check_choice("scheme", scheme, SCHEMES)
    names = list(tags)
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise TypeError(f"tags must be strings; received {describe(name)} at index {i}")
    parts = [split_tag(name) for name in names]
    inside = np.array([p in _INSIDE[scheme] and bool(k) for p, k in parts])
    opened = np.array([p in _OPEN[scheme] and bool(k) for p, k in parts])
    allowed = np.ones((len(names), len(names)), dtype=bool)
    for i, (p, kind) in enumerate(parts):
        for j, (c, c_kind) in enumerate(parts):
            if inside[j] and not (p in _BEFORE_INSIDE and kind == c_kind):
                allowed[i, j] = False
            if opened[i] and not (c in _AFTER_OPEN and c_kind == kind):
                allowed[i, j] = False
    return Constraints(allowed, ~inside, ~opened)
