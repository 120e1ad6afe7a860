"""Building blocks of the models around the recurrent core: each with a hand-derived backward.

See docs/TRAINING-DESIGN.md for the forward/backward/cache convention they all follow.
"""

from __future__ import annotations

import numpy as np


def prefixed(prefix: str, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``{"weight": w}`` -> ``{"prefix.weight": w}`` (the same arrays, not copies)."""
    return {f"{prefix}.{name}": value for name, value in params.items()}
