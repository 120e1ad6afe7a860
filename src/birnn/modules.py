"""The public recurrent modules: ``RNN``, ``GRU``, ``LSTM`` (one call, PyTorch's interface),
and the pieces to build the same networks by hand: ``Bidirectional`` and ``Stack``.

Beyond PyTorch: ``merge`` ("concat", "sum", "mean", "mul"), a pair ``hidden_size=(h_fwd, h_bwd)``
(concat only), ``init_state`` ("zeros", a float constant, or "learned"), correct ``lengths`` on a
plain padded array, and GRU's original form (``reset_after=False``).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from birnn._checks import check_choice, check_dtype, check_int, describe
from birnn.cells.base import Cell
from birnn.cells.gru import GRUCell
from birnn.cells.gru_original import OriginalGRUCell
from birnn.cells.lstm import LSTMCell
from birnn.cells.rnn import RNNCell
from birnn.functional import ACTIVATIONS
from birnn.recurrent.layer import Layer
from birnn.recurrent.merge import MERGES
from birnn.recurrent.module import RecurrentModule

__all__ = ["GRU", "LSTM", "RNN", "Bidirectional", "Stack"]

CellFactory = Callable[[int, int], Cell]


def _direction_sizes(hidden_size: Any, bidirectional: bool, merge: str) -> tuple[int, ...]:
    """hidden_size as one int per direction; a pair is allowed only for a concat BiRNN."""
    directions = 2 if bidirectional else 1
    if isinstance(hidden_size, (tuple, list)):
        if len(hidden_size) != 2:
            raise ValueError(
                f"hidden_size must be an int or a pair (h_fwd, h_bwd); received {hidden_size!r}"
            )
        if not bidirectional:
            raise ValueError(f"a pair hidden_size={tuple(hidden_size)} needs bidirectional=True")
        sizes = tuple(check_int("hidden_size", h, 1) for h in hidden_size)
        if sizes[0] != sizes[1] and merge != "concat":
            raise ValueError(
                f"different sizes per direction need merge='concat' (sum, mean and mul are "
                f"elementwise); received merge={merge!r}, hidden_size={sizes}"
            )
        return sizes
    return (check_int("hidden_size", hidden_size, 1),) * directions


def _shared(arguments: dict[str, Any]) -> dict[str, Any]:
    """The constructor arguments every one-call module passes on to ``_TorchStyle``."""
    return {name: arguments[name] for name in _TorchStyle.SHARED}


class _TorchStyle(RecurrentModule):
    """A module built in one call from PyTorch's constructor arguments (``RNN``, ``GRU``,
    ``LSTM``): ``num_layers`` layers of one cell, one or two directions each."""

    SHARED = (
        "input_size",
        "hidden_size",
        "num_layers",
        "batch_first",
        "dropout",
        "bidirectional",
        "merge",
        "init_state",
        "dtype",
        "seed",
    )

    def __init__(
        self,
        make_cell: CellFactory,
        input_size: int,
        hidden_size: Any,
        num_layers: int,
        batch_first: bool,
        dropout: float,
        bidirectional: bool,
        merge: str,
        init_state: str | float,
        dtype: Any,
        seed: int | None,
    ) -> None:
        self.input_size_ = check_int("input_size", input_size, 1)
        self.num_layers = check_int("num_layers", num_layers, 1)
        self.bidirectional = bool(bidirectional)
        check_choice("merge", merge, MERGES)
        self.merge = merge
        sizes = _direction_sizes(hidden_size, self.bidirectional, merge)
        self.hidden_size = sizes[0] if isinstance(hidden_size, numbers.Integral) else sizes
        dt = check_dtype(dtype)
        if seed is not None:
            check_int("seed", seed, 0)
        rng = np.random.default_rng(seed)
        layers = []
        width = self.input_size_
        for _ in range(self.num_layers):
            cells = [make_cell(width, h) for h in sizes]
            layer = Layer(cells, [c.init_params(rng, dt) for c in cells], merge)
            layers.append(layer)
            width = layer.output_size
        super().__init__(
            layers,
            batch_first=batch_first,
            dropout=dropout,
            init_state=init_state,
            dtype=dt,
            rng=rng,
        )


class RNN(_TorchStyle):
    """Elman RNN, h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh); act = tanh or relu."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int | tuple[int, int],
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        merge: str = "concat",
        init_state: str | float = "zeros",
        dtype: Any = np.float32,
        seed: int | None = None,
    ) -> None:
        check_choice("nonlinearity", nonlinearity, ACTIVATIONS)
        self.nonlinearity = nonlinearity
        super().__init__(lambda f, h: RNNCell(f, h, bool(bias), nonlinearity), **_shared(locals()))


class GRU(_TorchStyle):
    """GRU, PyTorch's form by default (b_hn inside the reset product); ``reset_after=False``
    gives the original form, n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int | tuple[int, int],
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        merge: str = "concat",
        reset_after: bool = True,
        init_state: str | float = "zeros",
        dtype: Any = np.float32,
        seed: int | None = None,
    ) -> None:
        self.reset_after = bool(reset_after)
        form = GRUCell if self.reset_after else OriginalGRUCell
        super().__init__(lambda f, h: form(f, h, bool(bias)), **_shared(locals()))


class LSTM(_TorchStyle):
    """LSTM with PyTorch's gate order i, f, g, o, two biases and optional ``proj_size``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int | tuple[int, int],
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        merge: str = "concat",
        init_state: str | float = "zeros",
        dtype: Any = np.float32,
        seed: int | None = None,
    ) -> None:
        self.proj_size = check_int("proj_size", proj_size, 0)
        smallest = min(hidden_size) if isinstance(hidden_size, (tuple, list)) else hidden_size
        if self.proj_size and isinstance(smallest, numbers.Integral) and self.proj_size >= smallest:
            raise ValueError(
                f"proj_size must be smaller than hidden_size ({smallest}); received {proj_size}"
            )
        super().__init__(
            lambda f, h: LSTMCell(f, h, bool(bias), self.proj_size), **_shared(locals())
        )


def _single_direction_layer(name: str, module: Any) -> Layer:
    if not isinstance(module, RecurrentModule):
        raise TypeError(
            f"{name} must be a birnn RNN, GRU or LSTM module; received {describe(module)}"
        )
    if len(module.layers) != 1 or module.layers[0].directions != 1:
        raise ValueError(
            f"{name} must be a single-layer unidirectional module; received {module!r}"
        )
    return module.layers[0]


class Bidirectional(RecurrentModule):
    """A bidirectional layer built from two unidirectional ones: ``fwd`` reads the sequence left
    to right, ``bwd`` reads each sequence reversed within its length, and ``merge`` combines them
    at every step. Parameters are shared with ``fwd`` and ``bwd`` (named ``..._l0`` and
    ``..._l0_reverse``, as in a one-layer bidirectional module)."""

    def __init__(
        self,
        fwd: RecurrentModule,
        bwd: RecurrentModule,
        merge: str = "concat",
        batch_first: bool | None = None,
        init_state: str | float = "zeros",
    ) -> None:
        forward_layer = _single_direction_layer("fwd", fwd)
        backward_layer = _single_direction_layer("bwd", bwd)
        check_choice("merge", merge, MERGES)
        if type(fwd) is not type(bwd) or fwd.dtype != bwd.dtype:
            raise TypeError(
                f"fwd and bwd must be modules of one class and dtype; received {fwd!r} and {bwd!r}"
            )
        if forward_layer.input_size != backward_layer.input_size:
            raise ValueError(
                f"fwd and bwd must read the same input size; received "
                f"{forward_layer.input_size} and {backward_layer.input_size}"
            )
        cells = [forward_layer.cells[0], backward_layer.cells[0]]
        if cells[0].output_size != cells[1].output_size and merge != "concat":
            raise ValueError(
                f"directions of different sizes need merge='concat'; received {merge!r}"
            )
        layer = Layer(cells, [forward_layer.params[0], backward_layer.params[0]], merge)
        super().__init__(
            [layer],
            batch_first=fwd.batch_first if batch_first is None else batch_first,
            init_state=init_state,
            dtype=fwd.dtype,
        )


class Stack(RecurrentModule):
    """Recurrent modules applied one after another, each reading the previous one's output, with
    dropout between them in training. Parameters are shared with the parts and renumbered
    l0, l1, ... in stacking order, so a Stack loads a one-call module's ``state_dict``."""

    def __init__(
        self,
        layers: Sequence[RecurrentModule],
        dropout: float = 0.0,
        batch_first: bool = False,
        init_state: str | float = "zeros",
        seed: int | None = None,
    ) -> None:
        if not isinstance(layers, Sequence):
            raise TypeError(f"layers must be a list of birnn modules; received {describe(layers)}")
        if not layers:
            raise ValueError("layers must hold at least one birnn module; received an empty list")
        parts: list[Layer] = []
        for i, module in enumerate(layers):
            if not isinstance(module, RecurrentModule):
                raise TypeError(
                    f"layers[{i}] must be a birnn recurrent module; received {describe(module)}"
                )
            if type(module.layers[0].cells[0]) is not type(layers[0].layers[0].cells[0]):
                raise TypeError(
                    f"all layers must use one kind of cell; layers[{i}] is {module!r}, "
                    f"layers[0] is {layers[0]!r}"
                )
            if module.dtype != layers[0].dtype:
                raise TypeError(f"all layers must share one dtype; layers[{i}] has {module.dtype}")
            if parts and module.input_size != parts[-1].output_size:
                raise ValueError(
                    f"layers[{i}] reads {module.input_size} features but the layer before it "
                    f"gives {parts[-1].output_size}"
                )
            parts.extend(module.layers)
        if seed is not None:
            check_int("seed", seed, 0)
        super().__init__(
            parts,
            batch_first=batch_first,
            dropout=dropout,
            init_state=init_state,
            dtype=layers[0].dtype,
            rng=np.random.default_rng(seed),
        )
