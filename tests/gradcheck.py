"""The one finite-difference checker of the suite: central differences against analytic gradients.

:func:`check_gradients` takes the loss as a closure: it perturbs entries of named arrays *in
place* (inputs and live parameters alike), calls the closure, restores them, and compares
central differences with the analytic gradients. Every layer, loss, head, cell and recurrent
module is checked through it; :func:`check_finite_differences` is the recurrent modules' use of
it (their ``forward(x, hx, lengths)`` signature and nested states).

Typical use, for a layer ``y, cache = layer.forward(x)``::

    g = upstream(rng, y.shape)                      # random upstream gradient
    dx, grads = layer.backward(cache, g)
    check_gradients(lambda: float(np.sum(layer.forward(x)[0] * g)),
                    {"x": x, **layer.params}, {"x": dx, **grads})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from helpers import State, poison_free_memory, tree_leaves, tree_map, tree_pairs

# Central finite differences in float64: truncation ~ eps^2, round-off ~ 1e-16 * |loss| / eps.
FD_EPS = 1e-6
FD_RTOL = 1e-6
FD_ATOL = 1e-7


def upstream(rng: np.random.Generator, shape: tuple[int, ...], mask: np.ndarray | None = None):
    """A random, non-constant upstream gradient of ``shape`` (zero where ``mask`` is False)."""
    g = rng.standard_normal(shape)
    if mask is not None:
        g = g * np.broadcast_to(mask, shape)
    return g


def sample_indices(
    shape: tuple[int, ...], rng: np.random.Generator, max_entries: int
) -> list[tuple[int, ...]]:
    """All indices of an array of ``shape`` or a random subset of ``max_entries`` of them."""
    size = int(np.prod(shape))
    flat = np.arange(size) if size <= max_entries else rng.choice(size, max_entries, replace=False)
    return [tuple(int(i) for i in np.unravel_index(f, shape)) for f in flat]


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


def scalar_loss(out: np.ndarray, state: State, d_out: np.ndarray, d_state: State) -> float:
    """sum(out * d_out) + sum over final-state arrays of sum(s * d_s)."""
    total = float(np.sum(out * d_out))
    for s, g in tree_pairs(state, d_state):
        total += float(np.sum(s * g))
    return total


def check_finite_differences(
    m: Any,
    x: np.ndarray,
    hx: State = None,
    lengths: np.ndarray | None = None,
    d_out: np.ndarray | None = None,
    d_state: State = None,
    *,
    training: bool = False,
    rng_seed: int | None = None,
    hx_used: State = None,
    poison: bool = False,
    max_entries: int = 20,
    **tolerances: Any,
) -> tuple[np.ndarray, State, dict[str, np.ndarray]]:
    """Check a recurrent module's ``backward`` with :func:`check_gradients`.

    The loss is ``scalar_loss`` of the module's outputs and final states; the checked arrays are
    x, every initial-state array and every parameter in ``m.params``. ``rng_seed`` (dropout)
    passes a fresh generator of that seed to every forward, so the masks are identical. When
    ``hx`` is None and ``hx_used`` (the initial state the module uses by itself) is given, dhx
    is checked by passing copies of ``hx_used`` explicitly. ``poison`` fills freed memory with
    NaN before the analytic forward and backward (see ``helpers.poison_free_memory``).
    Returns the analytic (dx, dhx, grads).
    """

    def forward(hx_: State) -> tuple[np.ndarray, State, Any]:
        rng = None if rng_seed is None else np.random.default_rng(rng_seed)
        return m.forward(x_probe, hx_, lengths, training=training, rng=rng)

    x_probe = np.array(x, copy=True)  # perturbed in place by the checker
    if poison:
        poison_free_memory()
    _, _, tape = forward(hx)
    if poison:
        poison_free_memory()
    dx, dhx, grads = m.backward(tape, d_out, d_state)

    def loss_at(hx_: State) -> Callable[[], float]:
        def loss() -> float:
            out, state, _ = forward(hx_)
            return scalar_loss(out, state, d_out, d_state)

        return loss

    assert set(grads) == set(m.params), (
        f"grads keys {sorted(grads)} != params keys {sorted(m.params)}"
    )
    check_gradients(
        loss_at(hx),
        {"x": x_probe} | {f"param {name}": p for name, p in m.params.items()},
        {"x": dx} | {f"param {name}": grads[name] for name in m.params},
        max_entries=max_entries,
        **tolerances,
    )
    h_base = hx if hx is not None else hx_used
    if h_base is not None:  # perturbed copies of the initial state, passed explicitly
        h_probe = tree_map(lambda a: np.array(a, copy=True), h_base)
        leaves, grad_leaves = tree_leaves(h_probe), tree_leaves(dhx)
        assert len(grad_leaves) == len(leaves), "dhx structure does not match hx"
        check_gradients(
            loss_at(h_probe),
            {f"hx leaf {k}": leaf for k, leaf in enumerate(leaves)},
            {f"hx leaf {k}": g for k, g in enumerate(grad_leaves)},
            max_entries=max_entries,
            **tolerances,
        )
    return dx, dhx, grads
