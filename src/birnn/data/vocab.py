"""Vocabularies: a fixed, ordered mapping between tokens (words, characters, labels) and ids.

Word and character vocabularies reserve ``<pad>`` = 0 (what ``pad`` fills with) and
``<unk>`` = 1 (what any token outside the vocabulary becomes). A label vocabulary has no
specials: its ids are exactly the classes a model scores, and an unseen label encodes as **-1**,
which no prediction equals, so that a label that occurs only in evaluation data is counted as an
error instead of crashing (see ``birnn.metrics``).

Order is stable and independent of the order of the data: specials, then tokens by decreasing
count, ties in code point order (labels: code point order only). The counts from the building
data are kept (``counts``, aligned with ids) so that word dropout can target rare words.
Vocabularies are saved as plain JSON-ready dicts (``to_json``/``from_json``), never pickled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from birnn._checks import check_int, describe

PAD = "<pad>"
UNK = "<unk>"


class Vocab:
    """An ordered token <-> id mapping with an optional unknown token.

    Build one with ``Vocab.build`` (words), ``Vocab.build_chars`` (characters of words) or
    ``Vocab.build_labels`` (labels); the constructor takes a finished token list.

    ``lowercase=True`` folds tokens to lower case when building *and* when looking up, so
    ``index("The") == index("the")``; ``decode`` gives the stored (lower-case) form.
    ``fallback_lowercase=True`` keeps tokens as they are but looks a token up by its exact form,
    then, if that is missing, by its lower-cased form (a cased vocabulary extended with the
    lower-case words of a pretrained vectors file: ``birnn.data.pretrained``).
    """

    def __init__(
        self,
        tokens: Sequence[str],
        *,
        counts: Sequence[int] | None = None,
        unk: str | None = UNK,
        pad: str | None = PAD,
        lowercase: bool = False,
        fallback_lowercase: bool = False,
    ) -> None:
        tokens = list(tokens)
        for i, token in enumerate(tokens):
            if not isinstance(token, str):
                raise TypeError(f"tokens must be str; received {describe(token)} at position {i}")
        if len(set(tokens)) != len(tokens):
            repeated = sorted(t for t, n in Counter(tokens).items() if n > 1)
            raise ValueError(f"tokens must be unique; received repeats of {repeated[:5]}")
        for name, special in (("unk", unk), ("pad", pad)):
            if special is not None and special not in tokens:
                raise ValueError(f"{name} token {special!r} must be one of the tokens")
        if counts is None:
            counts = [0] * len(tokens)
        if len(counts) != len(tokens):
            raise ValueError(
                f"counts must have one entry per token ({len(tokens)}); received {len(counts)}"
            )
        self._tokens = tokens
        self._ids = {token: i for i, token in enumerate(tokens)}
        self.counts: NDArray[np.int64] = np.asarray(counts, dtype=np.int64)
        self.unk = unk
        self.pad = pad
        self.lowercase = bool(lowercase)
        self.fallback_lowercase = bool(fallback_lowercase)

    # -- building -----------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        sequences: Iterable[Iterable[str]],
        *,
        min_count: int = 1,
        max_size: int | None = None,
        lowercase: bool = False,
        specials: Sequence[str] = (PAD, UNK),
    ) -> Vocab:
        """A word vocabulary from token sequences (sentences): specials, then every token seen
        at least ``min_count`` times, most frequent first, at most ``max_size`` entries in all.

        ``specials`` must contain ``<pad>`` and ``<unk>``; they come first, in the given order
        (so the default gives ``<pad>`` = 0, ``<unk>`` = 1). A token equal to a special is not
        counted as a word.
        """
        counter: Counter[str] = Counter()
        for i, sequence in enumerate(sequences):
            if isinstance(sequence, str):
                raise TypeError(
                    f"sequences must hold token lists, not strings; received "
                    f"{describe(sequence)} at position {i}"
                )
            counter.update(t.lower() if lowercase else t for t in sequence)
        return cls._from_counter(counter, min_count, max_size, lowercase, specials)

    @classmethod
    def _from_counter(
        cls,
        counter: Counter[str],
        min_count: int,
        max_size: int | None,
        lowercase: bool,
        specials: Sequence[str],
    ) -> Vocab:
        min_count = check_int("min_count", min_count, 1)
        specials = list(specials)
        for needed in (PAD, UNK):
            if needed not in specials:
                raise ValueError(f"specials must contain {needed!r}; received {specials}")
        kept = sorted(
            (t for t, n in counter.items() if n >= min_count and t not in specials),
            key=lambda t: (-counter[t], t),
        )
        if max_size is not None:
            max_size = check_int("max_size", max_size, len(specials))
            kept = kept[: max_size - len(specials)]
        return cls(
            specials + kept,
            counts=[0] * len(specials) + [counter[t] for t in kept],
            lowercase=lowercase,
        )

    @classmethod
    def build_chars(
        cls,
        words: Iterable[str],
        *,
        min_count: int = 1,
        lowercase: bool = False,
    ) -> Vocab:
        """A character vocabulary from words (``<pad>`` = 0, ``<unk>`` = 1, then characters)."""
        counter: Counter[str] = Counter()
        for i, word in enumerate(words):
            if not isinstance(word, str):
                raise TypeError(f"words must be str; received {describe(word)} at position {i}")
            counter.update(word.lower() if lowercase else word)
        return cls._from_counter(counter, min_count, None, lowercase, (PAD, UNK))

    @classmethod
    def build_labels(cls, labels: Iterable[str]) -> Vocab:
        """A label vocabulary: every distinct label in code point order, no specials.

        ``encode`` gives -1 for a label not in it (see the module notes).
        """
        counter: Counter[str] = Counter()
        for i, label in enumerate(labels):
            if not isinstance(label, str):
                raise TypeError(f"labels must be str; received {describe(label)} at position {i}")
            counter[label] += 1
        if not counter:
            raise ValueError("build_labels needs at least one label; received none")
        kept = sorted(counter)
        return cls(kept, counts=[counter[t] for t in kept], unk=None, pad=None)

    # -- lookup -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and self._find(token) is not None

    def __repr__(self) -> str:
        fallback = ", fallback_lowercase=True" if self.fallback_lowercase else ""
        return (
            f"Vocab({len(self)} tokens, unk={self.unk!r}, pad={self.pad!r}, "
            f"lowercase={self.lowercase}{fallback})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]  # mutable counts: not hashable

    @property
    def tokens(self) -> list[str]:
        """The tokens in id order (a copy)."""
        return list(self._tokens)

    @property
    def unk_index(self) -> int | None:
        """The id of the unknown token, ``None`` for a label vocabulary."""
        return None if self.unk is None else self._ids[self.unk]

    @property
    def pad_index(self) -> int | None:
        """The id of the padding token, ``None`` for a label vocabulary."""
        return None if self.pad is None else self._ids[self.pad]

    def _lookup(self, tokens: list[str], missing: int) -> list[int]:
        """Each token's id under the vocabulary's folding (``lowercase``: the lowercased form;
        ``fallback_lowercase``: the exact form, else the lowercased one), ``missing`` for an
        unknown one: the whole list at once, no call per token (every text read comes here)."""
        get = self._ids.get
        if self.lowercase:
            return [get(t.lower(), missing) for t in tokens]
        if self.fallback_lowercase:
            return [get(t.lower(), missing) if (i := get(t)) is None else i for t in tokens]
        return [get(t, missing) for t in tokens]

    def _find(self, token: str) -> int | None:
        found = self._lookup([token], -1)[0]  # ids are >= 0: -1 marks a miss
        return None if found < 0 else found

    def index(self, token: str) -> int:
        """The id of ``token``: unknown tokens map to ``<unk>``, or to -1 without one."""
        if not isinstance(token, str):
            raise TypeError(f"token must be str; received {describe(token)}")
        return self.encode([token])[0]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """The ids of ``tokens`` (see ``index``); for characters pass ``list(word)``.

        A bare string is refused: for a word vocabulary it is almost always a sentence that was
        not split into words.
        """
        if isinstance(tokens, str):
            raise TypeError(f"tokens must be a list of str, not one str; received {tokens!r}")
        unknown = -1 if self.unk is None else self._ids[self.unk]
        tokens = tokens if isinstance(tokens, list) else list(tokens)
        if not set(map(type, tokens)) <= {str}:  # str subclasses pass; anything else is refused
            for t in tokens:
                if not isinstance(t, str):
                    raise TypeError(f"token must be str; received {describe(t)}")
        return self._lookup(tokens, unknown)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The tokens of ``ids``; -1 (an unseen label) decodes to ``<unk>`` or ``"<unseen>"``.

        Any other id outside ``[0, len)`` is a ``ValueError``.
        """
        tokens, size = self._tokens, len(self._tokens)
        if isinstance(ids, list) and set(map(type, ids)) <= {int}:  # a predictor's tolist()
            if not ids or (min(ids) >= 0 and max(ids) < size):
                return [tokens[i] for i in ids]
        unseen = self.unk if self.unk is not None else "<unseen>"
        out = []
        for i in ids:
            i = int(i)
            if 0 <= i < size:
                out.append(tokens[i])
            elif i == -1:
                out.append(unseen)
            else:
                raise ValueError(f"ids must be in [0, {size}) or -1; received {i}")
        return out

    def count(self, token: str) -> int:
        """How often ``token`` occurred in the building data (0 for specials and unknowns)."""
        if not isinstance(token, str):
            raise TypeError(f"token must be str; received {describe(token)}")
        found = self._find(token)
        return 0 if found is None else int(self.counts[found])

    # -- saving -------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """A plain dict (str, bool, lists) for ``json.dump``; ``from_json`` reads it back.
        ``fallback_lowercase`` is written only when set (older vocabularies lack it)."""
        out = {
            "tokens": list(self._tokens),
            "counts": [int(c) for c in self.counts],
            "unk": self.unk,
            "pad": self.pad,
            "lowercase": self.lowercase,
        }
        return out | ({"fallback_lowercase": True} if self.fallback_lowercase else {})

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Vocab:
        """The vocabulary saved by ``to_json``; a missing or extra key is a ``ValueError``
        (``fallback_lowercase`` may be missing: vocabularies saved before it existed)."""
        if not isinstance(data, Mapping):
            raise TypeError(f"data must be a dict from Vocab.to_json; received {describe(data)}")
        expected = {"tokens", "counts", "unk", "pad", "lowercase", "fallback_lowercase"}
        if not expected - {"fallback_lowercase"} <= set(data) <= expected:
            raise ValueError(
                f"a saved Vocab has the keys {sorted(expected)}; received {sorted(data)}"
            )
        return cls(
            data["tokens"],
            counts=data["counts"],
            unk=data["unk"],
            pad=data["pad"],
            lowercase=data["lowercase"],
            fallback_lowercase=data.get("fallback_lowercase", False),
        )
