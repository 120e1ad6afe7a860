"""What every cell shares: parameter shapes, init, and the weight layout the time loop wants.

A cell knows one time step, forward and backward. It does not know time, lengths or direction:
the time loop (``birnn.recurrent.scan``) calls it once per step on the rows still running.

Every step works on arrays with a leading *chain* axis D: the D independent recurrent chains
of one layer (its two directions, when their cells match) advance together, so one call of each
NumPy operation serves both directions. For one chain, D = 1.

Rows are row vectors, so PyTorch's ``W x`` is written ``x @ W.T`` here.

Layout tricks (all exact; gradients are always with respect to the true pre-activations):

* The gate blocks may be stored in an internal order (``order``) that puts the sigmoid gates
  first, so one contiguous slice covers them all.
* The biases that simply add to the pre-activation ride as one last column of the input
  weights, [W_ih, b], against a column of ones in the input: one GEMM adds them.
* A step halves the sigmoid slice of its pre-activation, so that a single ``tanh`` over all
  gates followed by ``0.5 * t + 0.5`` on that slice gives sigmoid(a) = 0.5 + 0.5 tanh(a / 2)
  (see ``birnn.functional``). Halving is exact in binary floating point, so this equals halving
  the weights' sigmoid rows, without a second copy of the weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from birnn.cells.sums import Sums, outer_prev, rows

if TYPE_CHECKING:  # the time loop imports the cells
    from birnn.recurrent.scan import ScanTape

Array = NDArray[np.floating]
Params = dict[str, Array]
Alloc = Callable[[str, tuple[int, ...]], Array]  # (name, shape) -> an array to fill


@dataclass
class Step:
    """What one time step of D chains touches: views of the rows still running, [:, :n_t].

    The C mirror is ``step_args`` in ``birnn/_native/native.h``.
    """

    prev: tuple[Array, ...]  # the states at t - 1, h [, c]: read
    cur: tuple[Array, ...]  # the states at t: written forward, read backward
    saved: dict[str, Array]  # the cell's extras at t (extra_widths): written forward, read back
    scratch: dict[str, Array]  # the cell's workspace buffers (full batch: slice to n_t rows)
    d_state: tuple[Array, ...] = ()  # backward: dL/d(states at t) in, dL/d(states at t-1) out
    grads: dict[str, Array] = field(default_factory=dict)  # backward: per-step grads at t


@dataclass
class Weights:
    """A cell's parameters for D chains, stacked and laid out for the time loop."""

    w_ih: Array  # (D, GH, F)  internal gate order: for dx = da @ w_ih
    # (D, F+1, GH) for a = [x, 1] @ w_ih_t: the last row is the sum of every bias that simply
    # adds to the pre-activation (D, F, GH without biases); w_ih is its view without that row
    w_ih_t: Array
    w_hh: Array  # (D, GH, R): for dh_prev = da @ w_hh
    w_hh_t: Array  # (D, R, GH): for the recurrent product h_prev @ w_hh_t
    # The *_t arrays are transposed views (BLAS reads them as they are; no copy is made).
    extra: dict[str, Array] = field(default_factory=dict)


class Cell:
    """Base class: sizes, parameter shapes and layout; subclasses add ``step`` and ``step_back``.

    Sizes: F = input_size, H = hidden_size, R = width of the recurrent state h (= H, or the
    projection size P for a projected LSTM), G = number of gate blocks.

    The tape layout is declared once, here and in each subclass: ``extra_widths`` (what the
    forward step saves for the backward step) and ``grad_widths`` (what the backward step keeps
    per step for the weight gradients), in slot order, and ``native_step``, the name of the
    compiled mirror of ``step``/``step_back`` in ``birnn/_native/cells.h``. The compiled loop
    reads all three from the cell (``birnn._native.kernel``); nothing else repeats them.
    """

    gates = 1
    order: tuple[int, ...] = (0,)  # internal gate block j holds PyTorch's block order[j]
    # parameters whose rows are gate blocks (stored internally in ``order``)
    gate_stacked = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias

    # ---- sizes -------------------------------------------------------------------------------
    @property
    def output_size(self) -> int:
        """R: width of h, the state that is both output and recurrent input."""
        return self.hidden_size

    @property
    def state_sizes(self) -> tuple[int, ...]:
        """Widths of the recurrent states, h first (LSTM adds c)."""
        return (self.output_size,)

    def extra_widths(self) -> dict[str, int]:
        """Forward values the backward step needs besides the states: name -> width, in the
        order of the compiled step's slots (``ex0``, ``ex1`` in ``_native/native.h``)."""
        return {}

    def grad_widths(self) -> dict[str, int]:
        """Backward values kept per step for the weight GEMMs; "a" is d(pre-activation).
        Same slot order rule as ``extra_widths`` (``da``, ``dhh``)."""
        return {"a": self.gates * self.hidden_size}

    @property
    def native_step(self) -> str | None:
        """Name of the compiled step in ``_native/cells.h``, or None: NumPy loop only."""
        return None

    def workspace(self, chains: int, batch: int, dtype: np.dtype) -> dict[str, Array]:
        """Scratch buffers reused by every step (sliced to the active rows)."""
        return {}

    def signature(self) -> tuple:
        """Cells with equal signatures can run as chains of one batched time loop."""
        return (type(self), self.input_size, self.hidden_size, self.bias)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        gh = self.gates * self.hidden_size
        shapes: dict[str, tuple[int, ...]] = {
            "weight_ih": (gh, self.input_size),
            "weight_hh": (gh, self.output_size),
        }
        if self.bias:
            shapes["bias_ih"] = (gh,)
            shapes["bias_hh"] = (gh,)
        return shapes

    def init_params(self, rng: np.random.Generator, dtype: np.dtype) -> Params:
        """PyTorch's default: every parameter ~ U(-1/sqrt(H), 1/sqrt(H))."""
        bound = 1.0 / np.sqrt(self.hidden_size)
        return {
            name: rng.uniform(-bound, bound, size=shape).astype(dtype)
            for name, shape in self.param_shapes().items()
        }

    # ---- layout ------------------------------------------------------------------------------
    def blocks(self) -> list[tuple[slice, slice]]:
        """(internal rows, PyTorch rows) of each gate block (internal block k holds PyTorch's block
        order[k]): moving a matrix between the two orders is a few block copies."""
        h = self.hidden_size
        return [
            (slice(k * h, (k + 1) * h), slice(b * h, (b + 1) * h)) for k, b in enumerate(self.order)
        ]

    def to_torch_rows(self, grad: Array) -> Array:
        """Put the gate rows (first axis) of an internal-order gradient back in PyTorch order (a
        C-contiguous array of its own: the optimisers update gradients' owners in one pass)."""
        if self.order == tuple(range(self.gates)):
            return np.ascontiguousarray(grad) if grad.base is None else grad.copy()
        out = np.empty(grad.shape, grad.dtype)
        for internal, torch_rows in self.blocks():
            out[torch_rows] = grad[internal]
        return out

    def prepare(self, params: list[Params], alloc: Alloc | None = None) -> Weights:
        """Stack D chains' parameters into the time loop's layout (see module docstring).

        The result is a snapshot, read by the forward and the backward pass alike;
        ``alloc(name, shape)`` may supply its arrays (a workspace, for inference).
        """
        dtype = params[0]["weight_ih"].dtype
        new: Alloc = alloc if alloc is not None else (lambda name, shape: np.empty(shape, dtype))
        reordered = self.order != tuple(range(self.gates))
        chains, gh = len(params), self.gates * self.hidden_size

        def stacked(name: str, out: Array | None = None) -> Array:  # internal gate order
            out = new(name, (chains, *params[0][name].shape)) if out is None else out
            for j, p in enumerate(params):
                if not reordered:
                    out[j] = p[name]
                    continue
                for internal, torch_rows in self.blocks():
                    out[j, internal] = p[name][torch_rows]
            return out

        feat = self.input_size
        w_in = new("w_in", (chains, gh, feat + self.bias))
        w_ih = stacked("weight_ih", w_in[..., :feat])
        w_hh = stacked("weight_hh")
        if self.bias:
            b_hh = stacked("bias_hh")
            w_in[..., feat] = stacked("bias_ih") + self.additive_hh_bias(b_hh)
        else:
            b_hh = np.zeros((chains, gh), dtype=dtype)
        return Weights(
            w_ih=w_ih,
            w_ih_t=w_in.transpose(0, 2, 1),
            w_hh=w_hh,
            w_hh_t=w_hh.transpose(0, 2, 1),
            extra=self.prepare_extra(params, b_hh),
        )

    def additive_hh_bias(self, b_hh: Array) -> Array:
        """The part of b_hh that simply adds to the pre-activation (all of it, but for GRU)."""
        return b_hh

    def prepare_extra(self, params: list[Params], b_hh: Array) -> dict[str, Array]:
        return {}

    # ---- one time step (subclasses) -------------------------------------------------------------
    def step(self, w: Weights, a: Array, s: Step) -> None:
        """Forward: write the states ``s.cur``, and the values ``s.saved`` for the backward step
        (``extra_widths``), from the input projection ``a`` (D, n_t, G*H) and ``s.prev``."""
        raise NotImplementedError

    def step_back(self, w: Weights, s: Step) -> None:
        """Backward: read the state gradients ``s.d_state`` at t (output gradient plus carry),
        write the per-step ``s.grads`` at t (``grad_widths``) and overwrite ``s.d_state`` with
        the gradients at the states of t - 1."""
        raise NotImplementedError

    # ---- after the backward loop: every parameter gradient ---------------------------------
    def grad_sums(self, x: Array, tape: ScanTape, grads: dict[str, Array]) -> Sums:
        """One chain's parameter-gradient GEMMs (``birnn.cells.sums``), declared on views.

        ``x`` is the chain's input in scan order, (T*N, F), with a column of ones when the cell
        has biases; ``tape`` and ``grads`` are the chain's (leading axis 1), da_t in
        ``grads["a"]``. The input side is one product, the bias riding on the ones column:

            [dW_ih, db_ih] = Σ_t da_t^T [x_t, 1]

        the recurrent side is ``recurrent_sums``.
        """
        return {"input": [(rows(grads["a"][0]).T, x)]} | self.recurrent_sums(tape, grads)

    def recurrent_sums(self, tape: ScanTape, grads: dict[str, Array]) -> Sums:
        """The recurrent side's GEMMs. Default (RNN, LSTM): dW_hh = Σ_t da_t^T h_{t-1}."""
        return {"weight_hh": outer_prev(grads["a"][0], tape.states[0][0], tape.init[0][0])}

    def param_grads(
        self, tape: ScanTape, grads: dict[str, Array], sums: dict[str, Array]
    ) -> Params:
        """Every parameter gradient of one chain, by PyTorch name and in PyTorch's row order,
        from the values of ``grad_sums`` (``sums``, workspace memory: what leaves is a copy);
        rows come back from the internal gate order."""
        feat = self.input_size
        input_grad = sums["input"]  # (GH, F[+1])
        g = {"weight_ih": input_grad[:, :feat]}
        if self.bias:
            g["bias_ih"] = input_grad[:, feat]
        g |= self.recurrent_grads(tape, grads, sums)
        return {
            name: self.to_torch_rows(g[name]) if name in self.gate_stacked else g[name].copy()
            for name in self.param_shapes()
        }

    def recurrent_grads(
        self, tape: ScanTape, grads: dict[str, Array], sums: dict[str, Array]
    ) -> dict[str, Array]:
        """The recurrent parameters' gradients of one chain, internal row order. Default (RNN,
        LSTM): dW_hh from ``recurrent_sums``, db_hh = Σ_t da_t (rows summed over the batch)."""
        out = {"weight_hh": sums["weight_hh"]}
        if self.bias:
            out["bias_hh"] = grads["a"][0].sum(axis=(0, 1))
        return out
