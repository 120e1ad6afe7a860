"""One finite-difference checker for the training stack's layers, losses and heads.

``helpers.check_finite_differences`` is built around the recurrent modules' signature
(``forward(x, hx, lengths)``). The layers of the training stack each have their own inputs, so
this checker takes the loss as a closure instead: it perturbs entries of named arrays *in place*
(inputs and live parameters alike), calls the closure, restores them, and compares central
differences with the analytic gradients. Tolerances and the entry sampler are helpers'.

Typical use, for a layer ``y, cache = layer.forward(x)``::

    g = upstream(rng, y.shape)                      # random upstream gradient
    dx, grads = layer.backward(cache, g)
    check_gradients(lambda: float(np.sum(layer.forward(x)[0] * g)),
                    {"x": x, **layer.params}, {"x": dx, **grads})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from helpers import FD_ATOL, FD_EPS, FD_RTOL, sample_indices


def upstream(rng: np.random.Generator, shape: tuple[int, ...], mask: np.ndarray | None = None):
    """A random, non-constant upstream gradient of ``shape`` (zero where ``mask`` is False)."""
    g = rng.standard_normal(shape)
    if mask is not None:
        g = g * np.broadcast_to(mask, shape)
    return g


def check_gradients(
    loss: Callable[[], float],
    arrays: Mapping[str, np.ndarray],
    grads: Mapping[str, np.ndarray],
    *,
    eps: float = FD_EPS,
    rtol: float = FD_RTOL,
    atol: float = FD_ATOL,
    max_entries: int = 25,
    seed: int = 0,
) -> None:
    """Compare ``grads[name]`` with central differences of ``loss()`` for every named array.

    ``arrays`` are perturbed in place (up to ``max_entries`` random entries each) and restored;
    ``loss`` must read them (a closure over inputs and the layer's live parameters). ``grads``
    must have the same names and shapes.
    """
    assert set(grads) == set(arrays), (
        f"gradient names {sorted(grads)} != checked arrays {sorted(arrays)}"
    )
    pick = np.random.default_rng(seed)
    for name, a in arrays.items():
        g = grads[name]
        assert g is not None, f"{name}: no gradient returned"
        assert g.shape == a.shape, f"{name}: gradient shape {g.shape} != array shape {a.shape}"
        assert a.dtype == np.float64, f"{name}: check gradients in float64, not {a.dtype}"
        analytic, numeric = [], []
        for idx in sample_indices(a.shape, pick, max_entries):
            orig = a[idx]
            try:
                a[idx] = orig + eps
                plus = loss()
                a[idx] = orig - eps
                minus = loss()
            finally:
                a[idx] = orig
            analytic.append(g[idx])
            numeric.append((plus - minus) / (2 * eps))
        np.testing.assert_allclose(
            np.array(analytic), np.array(numeric), rtol=rtol, atol=atol, err_msg=f"d{name}"
        )
