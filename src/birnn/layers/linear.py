"""Linear (affine) layer with PyTorch's layout and initialisation."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from birnn._checks import (
    check_dtype,
    check_float_array,
    check_int,
    check_rng,
    check_shape,
    describe,
)

__all__ = ["Linear", "LinearCache"]


class LinearCache(NamedTuple):
    x: NDArray  # the input, (..., in_features)
    weight: NDArray  # the weight used (the live array: update parameters after backward)


class Linear:
    """``y = x @ weight.T + bias`` on the last axis of x (..., in) -> (..., out).

    Parameters (PyTorch's ``nn.Linear`` names, layout and init): ``weight`` (out, in) and
    ``bias`` (out,), both U(-1/sqrt(in), 1/sqrt(in)).

    Backward, with x and dy flattened to rows (M, in) and (M, out)::

        dx       = dy @ weight               (..., in)
        d_weight = dy.T @ x                  (out, in)
        d_bias   = Σ_rows dy                 (out,)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rng: np.random.Generator,
        dtype: Any = np.float32,
        bias: bool = True,
    ) -> None:
        self.in_features = check_int("in_features", in_features, 1)
        self.out_features = check_int("out_features", out_features, 1)
        check_rng(rng)
        self.dtype = check_dtype(dtype)
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be a bool; received {describe(bias)}")
        bound = 1.0 / np.sqrt(self.in_features)
        shape = (self.out_features, self.in_features)
        self.params: dict[str, NDArray] = {
            "weight": rng.uniform(-bound, bound, size=shape).astype(self.dtype)
        }
        if bias:
            self.params["bias"] = rng.uniform(-bound, bound, self.out_features).astype(self.dtype)

    def __repr__(self) -> str:
        bias = "bias" in self.params
        return f"Linear({self.in_features}, {self.out_features}, bias={bias})"

    def forward(self, x: Any) -> tuple[NDArray, LinearCache]:
        """x (..., in_features) -> y (..., out_features)."""
        xa = check_float_array("x", x, self.dtype)
        if xa.ndim < 1 or xa.shape[-1] != self.in_features:
            raise ValueError(
                f"x must have shape (..., {self.in_features}); received shape {xa.shape}"
            )
        weight = self.params["weight"]
        y = xa @ weight.T
        if "bias" in self.params:
            y += self.params["bias"]
        return y, LinearCache(xa, weight)

    def backward(self, cache: LinearCache, dy: Any) -> tuple[NDArray, dict[str, NDArray]]:
        x, weight = cache
        d = check_float_array("dy", dy, self.dtype)
        check_shape("dy", d, (*x.shape[:-1], self.out_features))
        rows = d.reshape(-1, self.out_features)
        grads = {"weight": rows.T @ x.reshape(-1, self.in_features)}
        if "bias" in self.params:
            grads["bias"] = rows.sum(axis=0)
        return d @ weight, grads
