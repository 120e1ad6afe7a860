"""Scratch arrays that outlive one call, so large temporaries are not allocated anew each time.

A fresh multi-megabyte NumPy array is memory the kernel must map and zero page by page on first
write; for a small recurrent layer that costs as much as the arithmetic. Arrays that never leave
a call (input projections, backward per-step gradients, carries) are taken from here instead.
Each name keeps one flat buffer that grows to the largest size asked for, so batches of varying
shapes reuse it too.

Arrays that do leave a call (a training tape's states) come from its ``TapeMemory`` instead.

A module holding a workspace must not run two calls at once (one module per thread).
"""

from __future__ import annotations

import math
import sys

import numpy as np
from numpy.typing import NDArray


class Workspace:
    def __init__(self) -> None:
        self._buffers: dict[tuple[str, np.dtype], NDArray] = {}
        self.tapes = TapeMemory()

    def get(
        self, name: str, shape: tuple[int, ...], dtype: np.dtype, zero: bool = False
    ) -> NDArray:
        """An array of ``shape`` owned by this workspace; its old contents stay unless ``zero``."""
        size = math.prod(shape)  # not np.prod: a NumPy call per request cost microseconds
        key = (name, np.dtype(dtype))
        buf = self._buffers.get(key)
        if buf is None or buf.size < size:
            buf = np.zeros(size, dtype=dtype) if zero else np.empty(size, dtype=dtype)
            self._buffers[key] = buf
        elif zero:
            buf[:size] = 0
        return buf[:size].reshape(shape)


class TapeMemory:
    """Memory for the arrays of training tapes, handed out again once nothing refers to it.

    A tape outlives its forward call, so it cannot live in the ``Workspace``; but fresh arrays
    cost a page fault per 4 KiB on first write (a tenth of a GRU training step at config d).
    Each buffer here owns its memory, and every view of it, however derived, refers to it
    (NumPy's ``base``): when its reference count is back to the pool's own, no tape and no view
    can see it any more, and it is reused. A buffer still referred to is never touched.
    """

    LIMIT = 16  # buffers kept; tapes beyond that (many alive at once) get plain new arrays

    def __init__(self) -> None:
        self._buffers: list[NDArray] = []

    def get(self, shape: tuple[int, ...], dtype: np.dtype, zero: bool) -> NDArray:
        size, dtype = math.prod(shape), np.dtype(dtype)
        best, spare = None, None  # smallest free buffer that fits; a free one that does not
        for i in range(len(self._buffers)):
            if sys.getrefcount(self._buffers[i]) > 2:  # 2: the list's reference, the argument's
                continue
            buf = self._buffers[i]
            if buf.dtype == dtype and buf.size >= size:
                if best is None or buf.size < self._buffers[best].size:
                    best = i
            else:
                spare = i
        if best is not None:
            out = self._buffers[best][:size].reshape(shape)
            if zero:
                out.fill(0)
            return out
        fresh = np.zeros(size, dtype) if zero else np.empty(size, dtype)
        if spare is not None:
            self._buffers[spare] = fresh
        elif len(self._buffers) < self.LIMIT:
            self._buffers.append(fresh)
        return fresh.reshape(shape)
