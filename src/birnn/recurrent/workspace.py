"""Scratch arrays that outlive one call, so large temporaries are not allocated anew each time.

A fresh multi-megabyte NumPy array is memory the kernel must map and zero page by page on first
write; for a small recurrent layer that costs as much as the arithmetic. Arrays that never leave
a call (input projections, backward per-step gradients, carries) are taken from here instead.
Each name keeps one flat buffer that grows to the largest size asked for, so batches of varying
shapes reuse it too.

A module holding a workspace must not run two calls at once (one module per thread).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


class Workspace:
    def __init__(self) -> None:
        self._buffers: dict[tuple[str, np.dtype], NDArray] = {}

    def get(
        self, name: str, shape: tuple[int, ...], dtype: np.dtype, zero: bool = False
    ) -> NDArray:
        """An array of ``shape`` owned by this workspace; its old contents stay unless ``zero``."""
        size = int(np.prod(shape))
        key = (name, np.dtype(dtype))
        buf = self._buffers.get(key)
        if buf is None or buf.size < size:
            buf = np.zeros(size, dtype=dtype) if zero else np.empty(size, dtype=dtype)
            self._buffers[key] = buf
        elif zero:
            buf[:size] = 0
        return buf[:size].reshape(shape)
