"""What each direction of a recurrent module contributed: the exact split of its output, and
the gradient paths through each direction. Everything here reads the module's own tape and
runs the module's own backward pass.

**Split.** With the top layer's states h_fwd and h_bwd (time order), an additive merge gives

    out = merge(h_fwd, 0) + merge(0, h_bwd) = y_fwd + y_bwd
          concat: [h_fwd ; 0] + [0 ; h_bwd]    sum: h_fwd + h_bwd    mean: h_fwd/2 + h_bwd/2

so anything linear in ``out`` (an output layer's scores s = R(out) + b) splits exactly:
s = R(y_fwd) + R(y_bwd) + b. "mul" (out = h_fwd * h_bwd) has no such split: ``split_output``
refuses it. With L > 1 layers the top layer's forward chain read *both* directions of the layer
below, so the split is of the top layer's two chains, not of left and right context.

**Paths.** The gradient of a scalar s (one score) w.r.t. the input x sums over paths that pick
one direction in every layer. ``backward(through=...)`` keeps the paths through the chosen
directions:

    forward   through = [1, 0] in every layer: left-to-right chains only, so ds_t/dx_u = 0, u > t
    backward  through = [0, 1]: right-to-left chains only, so ds_t/dx_u = 0 for u < t
    mixed     full - forward - backward: paths that change direction between layers (0 if L = 1)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from birnn._checks import describe
from birnn.recurrent.merge import MERGES
from birnn.recurrent.module import RecurrentModule, Tape

Array = NDArray[np.floating]


def merge_name(module: RecurrentModule) -> str | None:
    """The merge mode of the module's top layer ("concat", ...); None if unidirectional."""
    layer = module.layers[-1]
    if layer.directions == 1:
        return None
    return next(name for name, merge in MERGES.items() if merge is layer.merge)


def check_module(module: object) -> RecurrentModule:
    if not isinstance(module, RecurrentModule):
        raise TypeError(
            f"module must be a birnn recurrent module (RNN, GRU, LSTM, Stack); "
            f"received {describe(module)}"
        )
    return module


@dataclass(frozen=True)
class OutputSplit:
    """``out == forward + backward`` exactly (backward is zero for a unidirectional module)."""

    forward: Array  # merge(h_fwd, 0), out's shape
    backward: Array  # merge(0, h_bwd)
    merge: str | None  # the top layer's merge mode; None: unidirectional
    layers: int  # with more than one, each top-layer chain read both directions below


def split_output(module: RecurrentModule, tape: Tape) -> OutputSplit:
    """The top layer's output as the sum of its forward and its backward chain's parts."""
    check_module(module)
    states = module.direction_states(tape)
    merge = merge_name(module)
    layers = len(module.layers)
    if merge is None:
        return OutputSplit(states[0], np.zeros_like(states[0]), None, layers)
    if not MERGES[merge].additive:
        raise ValueError(
            f"merge {merge!r} multiplies the directions (out = h_fwd * h_bwd): a score has no "
            "exact forward/backward split; the sensitivity maps (paths) still apply"
        )
    h_fwd, h_bwd = states
    forward = MERGES[merge].forward(h_fwd, np.zeros_like(h_bwd))
    backward = MERGES[merge].forward(np.zeros_like(h_fwd), h_bwd)
    return OutputSplit(forward, backward, merge, layers)


@dataclass(frozen=True)
class PathGradients:
    """dL/dx split by the directions the gradient travelled through (x's shape each)."""

    forward: Array  # through forward chains only
    backward: Array | None  # through backward chains only (None: unidirectional)
    mixed: Array | None  # through both (None: one layer, or unidirectional: no such path)
    full: Array  # the ordinary dx: forward + backward + mixed


def path_gradients(module: RecurrentModule, tape: Tape, d_out: Array) -> PathGradients:
    """The input gradient of ``d_out`` (dL/d out) split into its paths: the module's own
    backward run with ``through`` stopping one direction, then the other. The tape stays
    usable (every backward here retains it)."""
    check_module(module)
    size = tape.batch.size
    directions = module.layers[0].directions
    if directions == 1:
        dx, _, _ = module.backward(tape, d_out, retain_tape=True)
        return PathGradients(dx, None, None, dx)
    one, zero = np.ones(size, module.dtype), np.zeros(size, module.dtype)

    def through(fwd: Array, bwd: Array) -> Array:  # dx through the chosen directions
        return module.backward(tape, d_out, through=np.stack([fwd, bwd]), retain_tape=True)[0]

    forward, backward = through(one, zero), through(zero, one)
    if len(module.layers) == 1:  # every path stays in one direction: full = forward + backward
        return PathGradients(forward, backward, None, forward + backward)
    full = through(one, one)  # every path, without the weight gradients
    return PathGradients(forward, backward, full - forward - backward, full)
