"""Input checks at the public boundary: each error names what was expected and what was received."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import NDArray


def describe(value: Any) -> str:
    """Short description of a received value for error messages."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 60 else f"{type(value).__name__} object"


def check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int; received {describe(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; received {value}")
    return int(value)


def check_real(name: str, value: Any, minimum: float) -> float:
    """A finite real number >= ``minimum`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number; received {describe(value)}")
    if not minimum <= float(value) < float("inf"):
        raise ValueError(f"{name} must be a finite number >= {minimum}; received {value}")
    return float(value)


def check_choice(name: str, value: Any, choices: Any) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}; received {describe(value)}")
    return value


def check_float_array(name: str, value: Any, dtype: np.dtype) -> NDArray:
    """Array of a floating dtype, cast to ``dtype``; integers, bools and complex are refused."""
    try:
        arr = np.asarray(value)
    except Exception as err:  # ragged lists and the like
        raise TypeError(f"{name} must be a float array; received {describe(value)}") from err
    if arr.dtype.kind != "f":
        received = f"dtype {arr.dtype}" if isinstance(value, np.ndarray) else describe(value)
        raise TypeError(f"{name} must be an array of a floating dtype; received {received}")
    return arr.astype(dtype, copy=False)


def check_shape(name: str, arr: NDArray, expected: tuple[int, ...]) -> None:
    if arr.shape != expected:
        raise ValueError(f"{name} must have shape {expected}; received shape {arr.shape}")


def check_lengths(lengths: Any, size: int, steps: int) -> NDArray[np.intp]:
    """Sequence lengths: a 1-D integer array of ``size`` entries, each in [1, steps]."""
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"lengths must be an integer array; received dtype {arr.dtype}")
    if arr.shape != (size,):
        raise ValueError(
            f"lengths must have shape ({size},) (one per sequence); received shape {arr.shape}"
        )
    if size and (arr.min() < 1 or arr.max() > steps):
        raise ValueError(
            f"lengths must be in [1, {steps}] (the padded length); "
            f"received min {arr.min()} and max {arr.max()}"
        )
    return arr.astype(np.intp)


def check_dtype(dtype: Any) -> np.dtype:
    """float32 or float64."""
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"dtype must be float32 or float64; received {describe(dtype)}") from err
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64; received {dt}")
    return dt


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
