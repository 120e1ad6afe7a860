"""Dotted parameter names for composed models (re-exported as ``birnn.layers.prefixed``)."""

from __future__ import annotations

import numpy as np


def prefixed(prefix: str, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``{"weight": w}`` -> ``{"prefix.weight": w}`` (the same arrays, not copies)."""
    return {f"{prefix}.{name}": value for name, value in params.items()}
