"""A stack of recurrent layers behind PyTorch's interface: names, layouts, lengths, dropout.

Layer k > 0 reads the merged, time-aligned output of layer k - 1: both of its directions see the
same sequence y_{k-1} (for "concat", [h_fwd_t ; h_bwd_t] at each t). Dropout (training only)
multiplies each layer's output but the last by a mask (``functional.dropout_mask``) drawn from
the generator passed to ``forward``, or else the module's own ``rng``.

States follow PyTorch's layout: chain c = 2 k + d (layer k, direction d; d = 1 backward) of a
(D * num_layers, N, width) array, whatever ``batch_first`` says. Parameter names are PyTorch's:
``weight_ih_l{k}``, with suffix ``_reverse`` for the backward direction.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from birnn import backend
from birnn._checks import (
    check_float_array,
    check_lengths,
    check_probability,
    check_rng,
    check_shape,
    describe,
)
from birnn.functional import dropout_mask
from birnn.recurrent.layer import Layer, LayerTape
from birnn.recurrent.sequence import Batch, sort_by_length
from birnn.recurrent.states import MaybeState, State, StateLayout, StateLike
from birnn.recurrent.workspace import Workspace

Array = NDArray[np.floating]


@dataclass
class Tape:
    """Everything ``backward`` needs from one ``forward`` call."""

    owner: RecurrentModule
    layers: list[LayerTape]
    masks: list[Array | None]  # dropout mask applied to each layer's output (None: no dropout)
    batch: Batch
    order: NDArray[np.intp] | None  # sorted row j is the caller's row order[j]; None: identity
    out_shape: tuple[int, ...]
    hx_given: bool  # the caller's hx replaced the module's own initial state
    spent: bool = False  # a backward without retain_tape ran: the gates hold gradients now


def _suffix(direction: int) -> str:
    return "_reverse" if direction else ""


class RecurrentModule:
    """Common machinery of ``RNN``, ``GRU``, ``LSTM``, ``Bidirectional`` and ``Stack``."""

    def __init__(
        self,
        layers: list[Layer],
        *,
        batch_first: bool = False,
        dropout: float = 0.0,
        init_state: str | float = "zeros",
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.layers = layers
        # The layers run one after the other, and nothing in a layer's workspace outlives its
        # call (outputs leave as copies; tapes have their own memory), so one set of
        # workspaces serves them all: the scratch memory of the largest layer, not of all.
        shared = [Workspace() for _ in range(max(len(layer.groups) for layer in layers))]
        for layer in layers:
            layer.workspaces = shared[: len(layer.groups)]
        self.batch_first = bool(batch_first)
        self.dropout = check_probability("dropout", dropout)
        self.init_state = _check_init_state(init_state)
        self.dtype = np.dtype(dtype)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.chains = [(k, d) for k, layer in enumerate(layers) for d in range(layer.directions)]
        self.layout = StateLayout(
            [self._cell(k, d).state_sizes for k, d in self.chains], self.dtype
        )
        self._params: dict[str, Array] = {}
        for k, layer in enumerate(layers):
            for d, p in enumerate(layer.params):
                for key, value in p.items():
                    self._params[f"{key}_l{k}{_suffix(d)}"] = value
        self._init_params: dict[tuple[int, int], State] = {}
        # called by backward with every chain's dL/dh_t (see backward); None: no tracing
        self.state_grad_hook: Callable[[list[Array], NDArray[np.intp]], None] | None = None
        if self.init_state == "learned":
            for k, d in self.chains:
                sizes = self._cell(k, d).state_sizes
                state = tuple(np.zeros(s, dtype=self.dtype) for s in sizes)
                self._init_params[(k, d)] = state
                for name, value in zip(("h0", "c0"), state):
                    self._params[f"{name}_l{k}{_suffix(d)}"] = value

    # ---- description ---------------------------------------------------------------------
    def _cell(self, k: int, d: int):
        return self.layers[k].cells[d]

    @property
    def input_size(self) -> int:
        return self.layers[0].input_size

    @property
    def output_size(self) -> int:
        return self.layers[-1].output_size

    @property
    def num_states(self) -> int:
        """1 for RNN and GRU (h), 2 for LSTM (h, c)."""
        return self.layout.num_states

    @property
    def params(self) -> Mapping[str, Array]:
        """The live parameters by PyTorch name (update them in place, e.g. ``p -= lr * g``)."""
        return MappingProxyType(self._params)

    def __repr__(self) -> str:
        cell = self._cell(0, 0)
        return (
            f"{type(self).__name__}({self.input_size}, {cell.hidden_size}, "
            f"num_layers={len(self.layers)}, directions={self.layers[0].directions}, "
            f"dtype={self.dtype.name})"
        )

    # ---- parameters ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Array]:
        return {name: value.copy() for name, value in self._params.items()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Copy parameters in by PyTorch name. Everything is checked before anything is written."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"state_dict must be a mapping of name -> array; received {describe(state_dict)}"
            )
        missing = sorted(set(self._params) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(self._params))
        if missing or unexpected:
            raise ValueError(
                f"state_dict keys do not match {type(self).__name__}: "
                f"missing {missing}, unexpected {unexpected}"
            )
        staged = {}
        for name, target in self._params.items():
            value = state_dict[name]
            if hasattr(value, "detach"):  # a framework tensor: take its values without importing it
                value = value.detach().cpu().numpy()
            arr = check_float_array(f"state_dict[{name!r}]", value, self.dtype)
            check_shape(f"state_dict[{name!r}]", arr, target.shape)
            staged[name] = arr
        for name, arr in staged.items():
            np.copyto(self._params[name], arr)

    # ---- forward ---------------------------------------------------------------------------
    def __call__(
        self, x: Any, hx: StateLike = None, lengths: Any = None
    ) -> tuple[Array, StateLike]:
        """Inference: outputs and final states; keeps no tape."""
        out, state, _ = self._forward(x, hx, lengths, training=False, keep_tape=False)
        assert out is not None
        return out, state

    def final_states(self, x: Any, hx: StateLike = None, lengths: Any = None) -> StateLike:
        """Inference: the final states alone, ``self(x, hx, lengths)[1]``, without assembling
        the outputs (a copy of every step's top-layer h: what a reader of h_n alone, such as
        a character network's word features, need not pay for)."""
        _, state, _ = self._forward(x, hx, lengths, training=False, keep_tape=False,
                                    outputs=False)  # fmt: skip
        return state

    def forward(
        self,
        x: Any,
        hx: StateLike = None,
        lengths: Any = None,
        training: bool = False,
        rng: np.random.Generator | None = None,
    ) -> tuple[Array, StateLike, Tape]:
        """Outputs (T, N, W), final states, and the tape that ``backward`` needs.

        ``training=True`` applies dropout between layers (masks kept in the tape), drawn from
        ``rng`` (a ``numpy.random.Generator``), or from the module's own ``self.rng`` if None.
        """
        if rng is not None:
            check_rng(rng)
        out, state, tape = self._forward(x, hx, lengths, training=training, keep_tape=True, rng=rng)
        assert out is not None
        return out, state, tape

    def _forward(
        self,
        x: Any,
        hx: StateLike,
        lengths: Any,
        training: bool,
        keep_tape: bool,
        rng: np.random.Generator | None = None,
        outputs: bool = True,
    ) -> tuple[Array | None, StateLike, Tape]:
        x = check_float_array("x", x, self.dtype)
        if x.ndim != 3:
            layout = "(N, T, input_size)" if self.batch_first else "(T, N, input_size)"
            raise ValueError(f"x must be 3-D {layout}; received shape {x.shape}")
        if x.shape[2] != self.input_size:
            raise ValueError(
                f"x must have {self.input_size} features (input_size) in its last axis; "
                f"received shape {x.shape}"
            )
        out_layout = x.shape
        if self.batch_first:
            x = x.transpose(1, 0, 2)
        steps, size = x.shape[:2]
        if steps == 0 or size == 0:
            raise ValueError(
                f"x must hold at least one step and one sequence; received shape {out_layout}"
            )
        lens = (
            np.full(size, steps, dtype=np.intp)
            if lengths is None
            else check_lengths(lengths, size, steps)
        )
        order, batch = sort_by_length(lens, steps)
        given = x
        x = np.ascontiguousarray(x if order is None else x[:, order])
        if keep_tape and isinstance(given, np.ndarray) and np.may_share_memory(x, given):
            x = x.copy()  # the tape keeps x: the caller changing theirs must not reach backward
        init = self._initial_states(hx, size, order)
        layer_tapes: list[LayerTape] = []
        masks: list[Array | None] = []
        finals: list[State] = []
        with self.threads():
            for k, layer in enumerate(self.layers):
                chain_init = [init[self.chains.index((k, d))] for d in range(layer.directions)]
                # inference: an output that only the next layer (or _to_caller's copy) reads
                # can live in the shared workspace, the rooms of two layers in a row apart
                passed_on = k < len(self.layers) - 1 or order is not None or not outputs
                room = f"y{k % 2}" if not keep_tape and passed_on else None
                x, layer_finals, layer_tape = layer.forward(x, batch, chain_init, keep_tape, room)
                finals.extend(layer_finals)
                layer_tapes.append(layer_tape)
                mask = None
                if training and self.dropout > 0 and k < len(self.layers) - 1:
                    generator = rng if rng is not None else self.rng
                    mask = dropout_mask(generator, x.shape, self.dropout, self.dtype)
                    x = x * mask
                masks.append(mask)
        out = self._to_caller(x, order) if outputs else None
        state = self.layout.pack(finals, order)
        tape = Tape(
            owner=self,
            layers=layer_tapes,
            masks=masks,
            batch=batch,
            order=order,
            out_shape=(x.shape[1], x.shape[0], x.shape[2]) if self.batch_first else x.shape,
            hx_given=hx is not None,
        )
        return out, state, tape

    def threads(self) -> AbstractContextManager[None]:
        """The thread setting ``forward`` and ``backward`` run in: ``backend.chain_threads``
        when every layer runs two directions as the two chains of one loop (they then run side
        by side, one core each, NumPy's BLAS on one thread), else none (a one-chain layer needs
        NumPy's pool for its GEMMs). A training step that does more NumPy work around the
        module can run entirely within it: a 2-thread GEMM between the module's calls leaves
        the pool's threads spinning against the chains (``birnn.models`` do so)."""
        paired = all(len(layer.groups) == 1 and layer.directions == 2 for layer in self.layers)
        return backend.chain_threads() if paired else contextlib.nullcontext()

    def _to_caller(self, seq: Array, order: NDArray[np.intp] | None) -> Array:
        """Sorted time-major (T, N, F) -> the caller's row order and layout (one copy)."""
        if self.batch_first:
            seq = seq.transpose(1, 0, 2)
            if order is None:
                return np.ascontiguousarray(seq)
            restored = np.empty(seq.shape, seq.dtype)
            restored[order] = seq
            return restored
        if order is not None:
            restored = np.empty_like(seq)
            restored[:, order] = seq
            seq = restored
        return seq

    def _from_caller(self, seq: Array, order: NDArray[np.intp] | None) -> Array:
        if self.batch_first:
            seq = seq.transpose(1, 0, 2)
        return np.ascontiguousarray(seq if order is None else seq[:, order])

    # ---- states ----------------------------------------------------------------------------
    def _initial_states(
        self, hx: StateLike, size: int, order: NDArray[np.intp] | None
    ) -> list[State]:
        """One tuple of (N, width) arrays per chain, rows in sorted order."""
        if hx is not None:
            given = self.layout.unpack("hx", hx, size, allow_none=False)
            return [
                tuple(s if order is None else s[order] for s in chain if s is not None)
                for chain in given
            ]
        states = []
        for k, d in self.chains:
            widths = self._cell(k, d).state_sizes
            if self.init_state == "learned":
                learned = self._init_params[(k, d)]
                states.append(tuple(np.broadcast_to(p, (size, p.size)) for p in learned))
            else:
                fill = 0.0 if self.init_state == "zeros" else float(self.init_state)
                states.append(tuple(np.full((size, w), fill, dtype=self.dtype) for w in widths))
        return states

    # ---- backward --------------------------------------------------------------------------
    def backward(
        self,
        tape: Tape,
        d_out: Any,
        d_state: StateLike = None,
        *,
        through: Any = None,
        retain_tape: bool = False,
    ) -> tuple[Array, StateLike, dict[str, Array]]:
        """Gradients of one scalar loss, given dL/d(out) and dL/d(final states).

        Returns dx (x's shape), d(initial states) in hx's layout, and parameter gradients keyed
        like ``state_dict()``.

        ``through`` (D, N), D the directions: a weight per direction and row on the gradient
        entering that direction's chain in every layer (1 lets it pass, 0 stops it). With
        ``through[1] = 0``, dx is the part of the gradient that travelled through forward chains
        only (``birnn.explain`` separates the directions this way); None: every path. With
        ``through``, only dx and d(initial states) are computed: the parameter gradients come
        back as an empty dict.

        While ``state_grad_hook`` is set, it is called with dL/dh_t of every chain (a list over
        chains c = 2 k + d of arrays shaped like ``out`` without its feature width: (N, T, R)
        batch-first, else (T, N, R); zero past each length) and the lengths; the NumPy time loop
        then runs, since the compiled one keeps no per-step carry.

        As PyTorch frees a graph in ``backward()``, this consumes the tape: the compiled loop
        writes the gradients over the gates it recorded (one buffer serves the input
        projections, the gates and their gradients). ``retain_tape=True`` keeps it for
        another backward (for the price of a copy of the gates).
        """
        if not isinstance(tape, Tape):
            raise TypeError(
                f"tape must be the Tape returned by forward(); received {describe(tape)}"
            )
        if tape.owner is not self:
            raise ValueError(
                f"this tape was recorded by another module ({tape.owner!r}); "
                f"pass the tape from this module's own forward()"
            )
        if tape.spent:
            raise ValueError(
                "this tape was consumed by an earlier backward(); pass retain_tape=True to "
                "that backward() to backpropagate through one forward() more than once"
            )
        dy = check_float_array("d_out", d_out, self.dtype)
        check_shape("d_out", dy, tape.out_shape)
        dy = self._from_caller(dy, tape.order)
        size = tape.batch.size
        weights = self._through(through, size, tape.order)
        if d_state is None:
            d_final: list[MaybeState] = [(None,) * self.num_states for _ in self.chains]
        else:
            d_final = self.layout.unpack("d_state", d_state, size, allow_none=True)
            if tape.order is not None:
                d_final = [tuple(None if s is None else s[tape.order] for s in c) for c in d_final]
        record = self.state_grad_hook is not None
        tape.spent = not retain_tape
        grads: dict[str, Array] = {}
        d_init: list[State] = [()] * len(self.chains)
        state_grads: list[Array] = [np.empty(0)] * len(self.chains)
        with self.threads():
            for k in range(len(self.layers) - 1, -1, -1):
                layer = self.layers[k]
                mask = tape.masks[k]
                if mask is not None:
                    dy = dy * mask
                first = self.chains.index((k, 0))
                dy, layer_init, layer_grads, layer_states = layer.backward(
                    tape.layers[k],
                    dy,
                    d_final[first : first + layer.directions],
                    tape.batch,
                    weights,
                    record,
                    retain_tape,
                )
                for d in range(layer.directions):
                    d_init[first + d] = layer_init[d]
                    if record:
                        state_grads[first + d] = self._to_caller(layer_states[d], tape.order)
                    for key, value in layer_grads[d].items():
                        grads[f"{key}_l{k}{_suffix(d)}"] = value
        if self.init_state == "learned" and through is None:
            for c, (k, d) in enumerate(self.chains):
                for name, g in zip(("h0", "c0"), d_init[c]):
                    # with a caller's hx the learned state took no part in the loss
                    total = np.zeros(g.shape[1], self.dtype) if tape.hx_given else g.sum(axis=0)
                    grads[f"{name}_l{k}{_suffix(d)}"] = total
        if self.state_grad_hook is not None:
            lengths = tape.batch.lengths
            if tape.order is not None:
                lengths = np.empty_like(lengths)
                lengths[tape.order] = tape.batch.lengths
            self.state_grad_hook(state_grads, lengths)
        dx = self._to_caller(dy, tape.order)
        dhx = self.layout.pack(d_init, tape.order)
        if through is not None:
            return dx, dhx, {}
        return dx, dhx, {name: grads[name] for name in self._params}

    def _through(
        self, through: Any, size: int, order: NDArray[np.intp] | None
    ) -> list[Array] | None:
        """``through`` checked, as one weight array (N,) per direction in sorted row order."""
        if through is None:
            return None
        directions = self.layers[0].directions
        arr = check_float_array("through", through, self.dtype)
        check_shape("through", arr, (directions, size))
        return [w if order is None else w[order] for w in arr]

    def direction_states(self, tape: Tape, layer: int = -1) -> list[Array]:
        """The states h of each direction of layer ``layer`` (the top one by default) at every
        step, in time order and the caller's layout: [h_fwd] or [h_fwd, h_bwd], each shaped like
        ``out`` with the direction's own width, zero past each length. For the top layer,
        ``merge(h_fwd, h_bwd) == out`` (``birnn.explain`` splits the output with them)."""
        if not isinstance(tape, Tape) or tape.owner is not self:
            raise ValueError(
                f"tape must be the Tape returned by this module's forward(); "
                f"received {describe(tape)}"
            )
        k = range(len(self.layers))[layer]
        states = self.layers[k].states(tape.layers[k], tape.batch)
        return [np.array(self._to_caller(h, tape.order)) for h in states]  # copies


def _check_init_state(init_state: Any) -> str | float:
    expected = "init_state must be 'zeros', 'learned' or a float constant"
    if isinstance(init_state, str):
        if init_state not in ("zeros", "learned"):
            raise ValueError(f"{expected}; received {init_state!r}")
        return init_state
    if isinstance(init_state, bool) or not isinstance(init_state, numbers.Real):
        raise TypeError(f"{expected}; received {describe(init_state)}")
    return float(init_state)
