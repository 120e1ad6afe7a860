"""Shared test helpers: random problems and a PyTorch reference.

Every backward pass in birnn is checked two ways through this one module (STYLE.md item 7):

* against PyTorch (float64): :func:`torch_reference` builds the torch twin of a birnn module from
  its ``state_dict()``, runs it on packed sequences when lengths are given and differentiates
  ``sum(out * g_out) + sum(h_n * g_h) (+ sum(c_n * g_c))`` over the valid positions;
* against central finite differences (float64): ``gradcheck.py`` (one checker for every layer,
  loss, head and module).

Data is never all-ones or constant: weights are random, biases are random, non-zero and larger
than PyTorch's default init, upstream gradients are random on every output and final state, and
lengths are ragged, unsorted and include both 1 and T.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

try:  # the reference implementation: only the comparisons with PyTorch need it
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
except ImportError:  # pragma: no cover - torch is in the test extra
    torch = None

import birnn

requires_torch = pytest.mark.skipif(torch is None, reason="needs torch (pip install .[test])")

# Tolerances. float64 against torch float64: both compute the same expressions in a different
# order, so they agree to a few ulps times the depth of the recursion.
TORCH_RTOL = 1e-9
TORCH_ATOL = 1e-10  # scaled by max(1, max|reference|) in assert_tree_close
# float32 forward against torch float32.
F32_RTOL = 1e-5
F32_ATOL = 1e-5
# float32 backward against torch float32: gradients sum products over every step and layer, so
# rounding (about 6e-8 relative per operation) accumulates further than in the forward pass;
# observed differences stay below 1e-5 on the test problems.
F32_GRAD_RTOL = 1e-4
F32_GRAD_ATOL = 1e-5

State = Any  # ndarray | tuple | list (possibly nested) | None


# --------------------------------------------------------------------------------------------
# Nested state structures (array, (h, c), list of per-chain arrays, tuple of two lists)
# --------------------------------------------------------------------------------------------


def tree_map(fn: Callable[[np.ndarray], np.ndarray], tree: State) -> State:
    """Apply ``fn`` to every array of a state structure, keeping tuples/lists/None."""
    if tree is None:
        return None
    if isinstance(tree, (tuple, list)):
        return type(tree)(tree_map(fn, t) for t in tree)
    return fn(tree)


def tree_leaves(tree: State) -> list[np.ndarray]:
    """Arrays of a state structure in order (None entries are skipped)."""
    if tree is None:
        return []
    if isinstance(tree, (tuple, list)):
        return [leaf for t in tree for leaf in tree_leaves(t)]
    return [tree]


def tree_pairs(tree: State, grad: State) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(value, upstream gradient) pairs; a None gradient (anywhere) drops that branch."""
    if grad is None:
        return
    if isinstance(grad, (tuple, list)):
        assert isinstance(tree, (tuple, list)) and len(tree) == len(grad), (
            f"state structure {type(tree).__name__} does not match gradient structure"
        )
        for t, g in zip(tree, grad, strict=True):
            yield from tree_pairs(t, g)
        return
    yield tree, grad


def assert_tree_close(
    actual: State, desired: State, *, rtol: float, atol: float, name: str = ""
) -> None:
    """assert_allclose over matching nested structures; atol is scaled by max(1, max|desired|)."""
    if desired is None:
        assert actual is None, f"{name}: expected None, got {type(actual).__name__}"
        return
    if isinstance(desired, (tuple, list)):
        assert isinstance(actual, (tuple, list)), (
            f"{name}: expected a {type(desired).__name__}, got {type(actual).__name__}"
        )
        assert len(actual) == len(desired), f"{name}: length {len(actual)} != {len(desired)}"
        for i, (a, d) in enumerate(zip(actual, desired, strict=True)):
            assert_tree_close(a, d, rtol=rtol, atol=atol, name=f"{name}[{i}]")
        return
    actual = np.asarray(actual)
    desired = np.asarray(desired)
    assert actual.shape == desired.shape, f"{name}: shape {actual.shape} != {desired.shape}"
    scale = max(1.0, float(np.max(np.abs(desired)))) if desired.size else 1.0
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol * scale, err_msg=name)


def assert_grads_close(
    actual: dict[str, np.ndarray], desired: dict[str, np.ndarray], *, rtol: float, atol: float
) -> None:
    """Same keys, and every gradient close."""
    assert set(actual) == set(desired), (
        f"gradient names differ: missing {sorted(set(desired) - set(actual))}, "
        f"unexpected {sorted(set(actual) - set(desired))}"
    )
    for name in desired:
        assert_tree_close(actual[name], desired[name], rtol=rtol, atol=atol, name=f"grad {name}")


# --------------------------------------------------------------------------------------------
# Random data
# --------------------------------------------------------------------------------------------


def random_lengths(rng: np.random.Generator, n: int, t: int) -> np.ndarray:
    """Ragged, unsorted lengths in [1, t] that include both 1 and t (needs n >= 2)."""
    if n < 2:
        raise ValueError(f"need a batch of at least 2 for ragged lengths, got {n}")
    lengths = np.concatenate([[1, t], rng.integers(1, t + 1, size=n - 2)]).astype(np.int64)
    lengths = rng.permutation(lengths)
    if np.all(np.diff(lengths) <= 0):  # sorted descending: what enforce_sorted=True expects
        lengths = lengths[::-1].copy()
    return lengths


def valid_mask(lengths: np.ndarray | None, t: int, n: int, batch_first: bool) -> np.ndarray:
    """Boolean mask of valid positions, shape (T, N, 1) or (N, T, 1)."""
    if lengths is None:
        mask = np.ones((t, n), dtype=bool)
    else:
        mask = np.arange(t)[:, None] < np.asarray(lengths)[None, :]
    if batch_first:
        mask = mask.T
    return mask[..., None]


def randomize_parameters(m: Any, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Give every parameter of ``m`` random values and return the loaded state_dict.

    Weights ~ N(0, 0.5^2); biases are non-zero, |b| in [0.5, 1.5], larger than PyTorch's default
    init U(-1/sqrt(H), 1/sqrt(H)), so double-counted or swapped biases cannot hide; learned
    initial states ~ N(0, 0.5^2).
    """
    sd = m.state_dict()
    new = {}
    for name, value in sd.items():
        if name.startswith("bias"):
            magnitude = rng.uniform(0.5, 1.5, size=value.shape)
            v = magnitude * rng.choice([-1.0, 1.0], size=value.shape)
        else:
            v = 0.5 * rng.standard_normal(value.shape)
        new[name] = v.astype(value.dtype)
    m.load_state_dict(new)
    return m.state_dict()


def make_module(kind: str, cfg: dict[str, Any], seed: int, dtype: Any = np.float64) -> Any:
    """A birnn module of class ``kind`` ('RNN', 'GRU', 'LSTM') with random parameters."""
    cls = getattr(birnn, kind)
    m = cls(**cfg, dtype=dtype, seed=seed)
    randomize_parameters(m, np.random.default_rng(seed + 1000))
    return m


@dataclass
class Problem:
    """Inputs and upstream gradients for one forward/backward check."""

    x: np.ndarray
    hx: State
    lengths: np.ndarray | None
    g_out: np.ndarray  # zero at padded positions
    g_state: State
    mask: np.ndarray  # valid positions, broadcastable to out


def make_problem(
    m: Any,
    rng: np.random.Generator,
    *,
    t: int,
    n: int,
    input_size: int,
    batch_first: bool = False,
    ragged: bool = True,
    with_hx: bool = True,
    with_d_state: bool = True,
    dtype: Any = np.float64,
) -> Problem:
    """Random x, hx, lengths and upstream gradients shaped like ``m``'s outputs."""
    shape = (n, t, input_size) if batch_first else (t, n, input_size)
    x = rng.standard_normal(shape).astype(dtype)
    lengths = random_lengths(rng, n, t) if ragged else None
    out, state = m(x, None, lengths)  # only to learn the output / state structure
    hx = tree_map(lambda s: (0.7 * rng.standard_normal(s.shape)).astype(dtype), state)
    mask = valid_mask(lengths, t, n, batch_first)
    g_out = rng.standard_normal(out.shape).astype(dtype) * mask
    g_state = tree_map(lambda s: rng.standard_normal(s.shape).astype(dtype), state)
    return Problem(
        x=x,
        hx=hx if with_hx else None,
        lengths=lengths,
        g_out=g_out,
        g_state=g_state if with_d_state else None,
        mask=mask,
    )


def poison_free_memory(max_elements: int = 1536, copies: int = 8) -> None:
    """Fill memory that the allocator will hand out again with NaN.

    NumPy caches small freed buffers and malloc reuses freed blocks, so arrays made with
    ``np.empty`` right after this call likely start out as NaN. Code that reads such an array
    before writing it (even only to multiply it by zero) then gives NaN deterministically instead
    of by chance.
    """
    for size in range(1, max_elements + 1):
        junk = [np.full(size, np.nan) for _ in range(copies)]
        del junk


# --------------------------------------------------------------------------------------------
# PyTorch reference
# --------------------------------------------------------------------------------------------


@dataclass
class Reference:
    """Results of the torch twin, as numpy arrays in birnn's structures."""

    out: np.ndarray
    state: State  # array, or (h, c) for LSTM
    dx: np.ndarray
    dhx: State  # gradient w.r.t. the initial state used (zeros when hx is None)
    grads: dict[str, np.ndarray]


TORCH_CLASSES = {kind: getattr(torch.nn, kind) for kind in ("RNN", "GRU", "LSTM")} if torch else {}


def torch_module(
    kind: str, cfg: dict[str, Any], sd: dict[str, np.ndarray], dtype: Any = None
) -> Any:
    """The torch module with birnn's config ``cfg`` and weights ``sd`` (torch's names)."""
    dtype = torch.float64 if dtype is None else dtype
    mod = TORCH_CLASSES[kind](**cfg, dtype=dtype)
    mod.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in sd.items()}, strict=True)
    return mod


def torch_reference(
    kind: str,
    cfg: dict[str, Any],
    sd: dict[str, np.ndarray],
    x: np.ndarray,
    hx: State = None,
    lengths: np.ndarray | None = None,
    g_out: np.ndarray | None = None,
    g_state: State = None,
    *,
    dtype: Any = None,
) -> Reference:
    """Run torch on birnn's weights and differentiate the masked scalar loss.

    ``loss = sum(out * g_out * mask) + sum(h_n * g_h) (+ sum(c_n * g_c))``; with lengths the
    input is packed with ``enforce_sorted=False`` so each direction runs over each true length.
    ``hx=None`` becomes explicit zeros so that dhx is the gradient w.r.t. the state used.
    """
    dtype = torch.float64 if dtype is None else dtype
    mod = torch_module(kind, cfg, sd, dtype)
    batch_first = cfg.get("batch_first", False)
    num_dirs = 2 if cfg.get("bidirectional", False) else 1
    num_layers = cfg.get("num_layers", 1)
    hidden = cfg["hidden_size"]
    h_out = cfg.get("proj_size", 0) or hidden
    t_len, n = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])

    xt = torch.tensor(x, dtype=dtype, requires_grad=True)
    if hx is None:
        h0 = np.zeros((num_dirs * num_layers, n, h_out))
        hx = (h0, np.zeros((num_dirs * num_layers, n, hidden))) if kind == "LSTM" else h0
    hx_t = tree_map(lambda a: torch.tensor(a, dtype=dtype, requires_grad=True), hx)
    hx_arg = tuple(hx_t) if kind == "LSTM" else hx_t

    if lengths is not None:
        lens = torch.as_tensor(np.asarray(lengths, dtype=np.int64))
        packed = pack_padded_sequence(xt, lens, batch_first=batch_first, enforce_sorted=False)
        out_p, state_t = mod(packed, hx_arg)
        out_t, _ = pad_packed_sequence(out_p, batch_first=batch_first, total_length=t_len)
    else:
        out_t, state_t = mod(xt, hx_arg)

    mask = torch.from_numpy(valid_mask(lengths, t_len, n, batch_first))
    loss = out_t.sum() * 0.0
    if g_out is not None:
        loss = loss + (out_t * torch.tensor(g_out, dtype=dtype) * mask).sum()
    for s, g in tree_pairs(tuple(state_t) if kind == "LSTM" else state_t, g_state):
        loss = loss + (s * torch.tensor(g, dtype=dtype)).sum()
    loss.backward()

    def np_(a: torch.Tensor) -> np.ndarray:
        return a.detach().numpy().copy()

    return Reference(
        out=np_(out_t),
        state=tree_map(np_, tuple(state_t) if kind == "LSTM" else state_t),
        dx=np_(xt.grad),
        dhx=tree_map(lambda a: np_(a.grad), tuple(hx_t) if kind == "LSTM" else hx_t),
        grads={name: np_(p.grad) for name, p in mod.named_parameters()},
    )
