"""Constructor and forward checks shared by the layers and heads (each error names what it got)."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from birnn._checks import check_dtype, describe

__all__ = ["check_dtype", "check_probability", "check_rng"]


def check_rng(rng: Any, name: str = "rng") -> np.random.Generator:
    """A numpy.random.Generator (no hidden global RNG: the caller passes one explicitly)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{name} must be a numpy.random.Generator (np.random.default_rng(seed)); "
            f"received {describe(rng)}"
        )
    return rng


def check_probability(name: str, p: Any) -> float:
    """A real number in [0, 1) (1 would drop everything)."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"{name} must be a float in [0, 1); received {describe(p)}")
    if not 0.0 <= float(p) < 1.0:
        raise ValueError(f"{name} must be in [0, 1); received {p}")
    return float(p)
