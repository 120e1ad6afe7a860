"""What every optimizer shares: live parameters, checked gradients, flat state, scratch space.

An optimizer holds the model's flat parameter dict (dotted names -> live arrays) and updates those
arrays in place. Its per-parameter state (momentum buffers, moment estimates, step counts) lives in
one flat dict whose keys are ``"<kind>.<parameter name>"`` (``"exp_avg.embed.weight"``), next to a
global ``"step"`` counter, so :meth:`Optimizer.state_dict` can be written to a safetensors file as
is. Hyperparameters (lr, betas, ...) are not state: they come from the training configuration.

Updates are written as in-place NumPy operations on the parameter, its state and at most two
scratch arrays per dtype, sized once for the largest parameter and reused by every step: a 20k x
100 embedding matrix is updated every step without allocating anything.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from birnn._checks import describe

Array = NDArray[Any]
STEP = "step"  # key of the global step counter in a state dict


def check_hyper(name: str, value: Any, low: float = 0.0, high: float = math.inf) -> float:
    """A finite real number in [low, high) (high = inf means no upper bound); returns a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; received {describe(value)}")
    value = float(value)
    if not (low <= value < high) or math.isnan(value):
        upper = "" if high == math.inf else f" and < {high:g}"
        raise ValueError(f"{name} must be a finite number >= {low:g}{upper}; received {value:g}")
    return value


def _check_params(params: Any) -> dict[str, Array]:
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of name -> np.ndarray; received {describe(params)}")
    if not params:
        raise ValueError("params is empty: an optimizer needs at least one parameter")
    for name, p in params.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"parameter names must be non-empty strings; received {name!r}")
        if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
            raise TypeError(
                f"parameter {name!r} must be a float np.ndarray; received {describe(p)}"
            )
        if not p.flags.writeable:
            raise ValueError(f"parameter {name!r} is read-only; the optimizer updates it in place")
    return dict(params)


class Optimizer:
    """Base class: subclasses implement ``_update`` (one parameter) and ``_entries`` (its state).

    ``step(grads)`` checks every gradient before touching anything, then updates each parameter
    that has one; a name missing from ``grads`` (or mapped to None) has no gradient this step and
    keeps both its value and its state, as in torch.optim.
    """

    def __init__(self, params: Mapping[str, Array], lr: float):
        self.params = _check_params(params)
        self.lr = lr
        self.num_steps = 0  # calls to step()
        self._state: dict[str, Array] = {}  # "<kind>.<name>" -> array, created on first use
        self._scratch: dict[tuple[str, int], Array] = {}

    @property
    def lr(self) -> float:
        """The learning rate of the next step (a schedule sets it before each step)."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = check_hyper("lr", value)

    # -- one step ---------------------------------------------------------------------------

    def step(self, grads: Mapping[str, Array | None]) -> None:
        """Update every parameter that has a gradient in ``grads`` (in place)."""
        checked = self._check_grads(grads)
        for name, g in checked.items():
            self._update(name, self.params[name], g)
        self.num_steps += 1

    def _check_grads(self, grads: Any) -> dict[str, Array]:
        if not isinstance(grads, Mapping):
            raise TypeError(
                f"grads must be a dict of name -> np.ndarray; received {describe(grads)}"
            )
        unknown = sorted(set(grads) - set(self.params))
        if unknown:
            raise ValueError(f"grads has names that are not parameters: {unknown}")
        checked = {}
        for name, g in grads.items():
            if g is None:
                continue
            if not isinstance(g, np.ndarray) or g.dtype.kind != "f":
                raise TypeError(
                    f"grads[{name!r}] must be a float np.ndarray; received {describe(g)}"
                )
            if g.shape != self.params[name].shape:
                raise ValueError(
                    f"grads[{name!r}] must have the parameter's shape {self.params[name].shape}; "
                    f"received shape {g.shape}"
                )
            checked[name] = g
        return checked

    def _update(self, name: str, p: Array, g: Array) -> None:
        raise NotImplementedError

    def _scratch_like(self, p: Array, slot: int) -> Array:
        """Scratch array ``slot`` (0 or 1) viewed with ``p``'s shape: reused, never returned."""
        key = (p.dtype.str, slot)
        buf = self._scratch.get(key)
        if buf is None:
            size = max(q.size for q in self.params.values() if q.dtype == p.dtype)
            buf = self._scratch[key] = np.empty(size, dtype=p.dtype)
        return buf[: p.size].reshape(p.shape)

    # -- state ------------------------------------------------------------------------------

    def _entries(self, name: str, p: Array) -> dict[str, tuple[tuple[int, ...], str]]:
        """The state one parameter has once it got a gradient: key -> (shape, dtype kind)."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Array]:
        """Copies of the optimizer state: flat, ``{"step": n, "<kind>.<name>": array, ...}``.

        A parameter that never had a gradient has no entries yet.
        """
        out = {key: value.copy() for key, value in self._state.items()}
        out[STEP] = np.array(self.num_steps, dtype=np.int64)
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Replace the state with ``state`` (from :meth:`state_dict`), checking names and shapes.

        All or nothing: on any error the optimizer keeps its current state. A parameter must have
        either all of its entries or none (never had a gradient).
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a dict of name -> array; received {describe(state)}")
        if STEP not in state:
            raise ValueError(f"optimizer state has no {STEP!r} entry")
        num_steps = _as_array(STEP, state[STEP], (), "i")
        expected: dict[str, tuple[str, tuple[int, ...], str]] = {}  # key -> (param, shape, kind)
        for name, p in self.params.items():
            for key, (shape, kind) in self._entries(name, p).items():
                expected[key] = (name, shape, kind)
        unknown = sorted(set(state) - set(expected) - {STEP})
        if unknown:
            raise ValueError(
                f"optimizer state has entries this {type(self).__name__} does not know: {unknown}"
            )
        new: dict[str, Array] = {}
        for name, p in self.params.items():
            keys = list(self._entries(name, p))
            present = [k for k in keys if k in state]
            if present and len(present) != len(keys):
                missing = sorted(set(keys) - set(present))
                raise ValueError(f"optimizer state for {name!r} is incomplete: missing {missing}")
            for key in present:
                _, shape, kind = expected[key]
                arr = _as_array(key, state[key], shape, kind)
                new[key] = arr.astype(p.dtype if kind == "f" else np.int64, copy=True)
        self._state = new
        self.num_steps = int(num_steps)


def _as_array(key: str, value: Any, shape: tuple[int, ...], kind: str) -> Array:
    if not isinstance(value, np.ndarray):
        raise TypeError(
            f"optimizer state {key!r} must be an np.ndarray; received {describe(value)}"
        )
    kinds = "f" if kind == "f" else "iu"
    if value.dtype.kind not in kinds:
        wanted = "a float" if kind == "f" else "an integer"
        raise TypeError(f"optimizer state {key!r} must have {wanted} dtype; received {value.dtype}")
    if value.shape != shape:
        raise ValueError(
            f"optimizer state {key!r} must have shape {shape}; received shape {value.shape}"
        )
    return value
