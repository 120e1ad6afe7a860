"""The recurrent states as the caller sees them, and as the time loop holds them.

Inside, each chain c = 2 k + d (layer k, direction d) has a tuple of states, (h,) or (h, c),
each (N, width), rows in sorted order. Outside, PyTorch's layout: one (C, N, width) array per
state, an ``(h, c)`` tuple for LSTM. When chains differ in width (``hidden_size=(h_fwd, h_bwd)``)
a state is a list of C arrays (N, width_c) instead, in the same chain order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from birnn._checks import check_float_array, check_shape, describe

Array = NDArray[np.floating]
State = tuple[Array, ...]  # one chain's states: (h,) or (h, c), each (N, width)
MaybeState = tuple[Array | None, ...]  # the same, where a gradient may be absent
StateLike = Any  # an array (C, N, R), a list of C arrays (N, R_c), or for LSTM a pair of those


class StateLayout:
    """Converts between the caller's state layout and per-chain tuples, checking shapes."""

    def __init__(self, widths: list[tuple[int, ...]], dtype: np.dtype) -> None:
        self.chain_widths = widths  # per chain: the width of each of its states
        self.chains = len(widths)
        self.num_states = len(widths[0])
        self.dtype = dtype

    def widths(self, s: int) -> list[int]:
        """Every chain's width of state s."""
        return [w[s] for w in self.chain_widths]

    def unpack(self, name: str, value: StateLike, size: int, allow_none: bool) -> list[MaybeState]:
        """Caller's layout -> per chain, per state (N, width) arrays (None where allowed)."""
        if self.num_states == 2:
            if not isinstance(value, (tuple, list)):
                raise TypeError(
                    f"{name} must be a tuple (h, c) for LSTM; received {describe(value)}"
                )
            if len(value) != 2:
                raise ValueError(
                    f"{name} must be a tuple (h, c) for LSTM; received {len(value)} elements"
                )
            parts = list(value)
        elif isinstance(value, tuple):
            raise TypeError(
                f"{name} must be one array (only LSTM takes a tuple (h, c)); received a tuple"
            )
        else:
            parts = [value]
        per_state: list[list[Array | None]] = []
        for s, part in enumerate(parts):
            label = f"{name}[{s}]" if self.num_states == 2 else name
            if part is None:
                if not allow_none:
                    raise TypeError(f"{label} must be an array; received None")
                per_state.append([None] * self.chains)
                continue
            per_state.append(list(self._unpack_one(label, part, self.widths(s), size)))
        return [tuple(states[c] for states in per_state) for c in range(self.chains)]

    def _unpack_one(self, label: str, part: Any, widths: list[int], size: int) -> list[Array]:
        chains = len(widths)
        if len(set(widths)) == 1:
            arr = check_float_array(label, part, self.dtype)
            check_shape(label, arr, (chains, size, widths[0]))
            return list(arr)
        expected = f"{label} must be a list of {chains} arrays (the directions differ in size)"
        if not isinstance(part, (list, tuple)):
            raise TypeError(f"{expected}; received {describe(part)}")
        if len(part) != chains:
            raise ValueError(f"{expected}; received {len(part)}")
        out = []
        for c, (item, width) in enumerate(zip(part, widths)):
            arr = check_float_array(f"{label}[{c}]", item, self.dtype)
            check_shape(f"{label}[{c}]", arr, (size, width))
            out.append(arr)
        return out

    def pack(self, per_chain: list[State], order: NDArray[np.intp] | None) -> StateLike:
        """Per chain (N, width) arrays in sorted order -> the caller's layout and row order."""
        packed = []
        for s in range(self.num_states):
            rows = [chain[s] for chain in per_chain]
            if order is not None:
                restored = []
                for r in rows:
                    back = np.empty_like(r)
                    back[order] = r
                    restored.append(back)
                rows = restored
            packed.append(np.stack(rows) if len(set(self.widths(s))) == 1 else rows)
        return tuple(packed) if self.num_states == 2 else packed[0]
