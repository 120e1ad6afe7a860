"""The case pattern of each word (``birnn.data.casing``) computed inside the graph.

``RegexFullMatch`` (opset 20, RE2) decides each rule of ``case_pattern`` on the token strings;
the character classes are Python's own: the letters, digits, upper- and lower-case letters of
``str.isalpha``, ``isdigit``, ``isupper`` and ``islower``, listed from the running Python's
Unicode tables when the model is exported. With L the letters, D the digits, U and W the upper-
and lower-case letters, the rules, first match wins::

    url      [hH][tT][tT][pP][sS]?:.* | [wW][wW][wW]\\..*        (the lower-cased prefix)
    mention  @.+        hashtag  #.+
    number   [^L]* and .*D.*           punct  [^L]*            alnum  .*D.*
    other    [^UW]*     lower  [^U]*   upper  [^W]*U[^W]*U[^W]*   title  [^UW]*U[^U]*
    mixed    anything else
"""

from __future__ import annotations

import functools
import sys

import numpy as np

from birnn.onnx._graph import Graph

RULES = ("url", "mention", "hashtag", "number", "punct", "alnum", "other", "lower", "upper",
         "title")  # fmt: skip


def _ranges(predicate: object) -> str:
    """A regex character class body (RE2 ``\\x{...}`` escapes) of the characters satisfying
    ``predicate``, as ranges of consecutive code points."""
    out, start, prev = [], None, None
    for c in range(sys.maxunicode + 1):
        if 0xD800 <= c <= 0xDFFF or not predicate(chr(c)):  # type: ignore[operator]
            continue
        if prev is not None and c == prev + 1:
            prev = c
            continue
        if start is not None:
            out.append((start, prev))
        start = prev = c
    if start is not None:
        out.append((start, prev))
    return "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in out)


@functools.lru_cache(maxsize=1)
def patterns() -> dict[str, str]:
    """Each rule's RE2 pattern (full match, ``.`` matching any character)."""
    letters = _ranges(str.isalpha)
    digits = _ranges(str.isdigit)
    upper = _ranges(lambda c: c.isalpha() and c.isupper())
    lower = _ranges(lambda c: c.isalpha() and c.islower())
    u, cased = f"[{upper}]", f"{upper}{lower}"
    return {
        "url": r"(?s)(?:[hH][tT][tT][pP][sS]?:|[wW][wW][wW]\.).*",
        "mention": "(?s)@.+",
        "hashtag": "(?s)#.+",
        "number": f"(?s)[^{letters}]*",  # no letter; with a digit (checked with "alnum")
        "punct": f"(?s)[^{letters}]*",
        "alnum": f"(?s).*[{digits}].*",
        "other": f"(?s)[^{cased}]*",
        "lower": f"(?s)[^{upper}]*",
        "upper": f"(?s)[^{lower}]*{u}[^{lower}]*{u}[^{lower}]*",
        "title": f"(?s)[^{cased}]*{u}[^{upper}]*",
    }


def case_ids(g: Graph, tokens: str, cases: tuple[str, ...]) -> str:
    """int64 ids into ``cases`` (``birnn.data.casing.CASES``), the shape of ``tokens``."""
    p = patterns()
    match = {
        rule: g.op("RegexFullMatch", tokens, pattern=p[rule]) for rule in RULES if rule != "number"
    }
    match["number"] = g.op("And", match["punct"], match["alnum"])  # no letter, and a digit

    def const(name: str) -> str:
        return g.const(np.array(cases.index(name), np.int64))

    ids = g.op("Expand", const("mixed"), g.op("Shape", tokens))
    for rule in reversed(RULES):  # the first rule that matches is the one applied last
        ids = g.op("Where", match[rule], const(rule), ids)
    return ids
