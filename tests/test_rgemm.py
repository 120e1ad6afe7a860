"""The packed recurrent product (``_native/rgemm.c``) against NumPy and the BLAS path.

Every instruction-set variant this machine can run (panel 32: AVX-512, 16: AVX2, 0: the BLAS):
the product alone on awkward shapes (rows not a multiple of the panel, one batch row, 64),
with both weight layouts the scans use (W_hh, and its transpose for the backward) and with
accumulation; then whole scans, forward and backward, on the native backend in each variant
against the NumPy backend, with ragged lengths, batch 1 to 64 and hidden sizes 1 to 512.
"""

from __future__ import annotations

import numpy as np
import pytest

import birnn
from birnn import _native, backend
from helpers import random_lengths

KERNEL = _native.load()
needs_native = pytest.mark.skipif(KERNEL is None, reason="native backend unavailable")


def variants() -> list[int]:
    """The product variants this CPU runs, widest first (0, the BLAS path, always)."""
    if KERNEL is None:
        return []
    widest = KERNEL.use_product_variant(32)
    return [p for p in (32, 16) if p <= widest] + [0]


@pytest.fixture
def variant(request):
    """Run a test with one product variant; the widest is put back after."""
    assert KERNEL is not None
    used = KERNEL.use_product_variant(request.param)
    if used != request.param:
        pytest.skip(f"this CPU cannot run the {request.param}-row variant")
    yield used
    KERNEL.use_product_variant(32)


@needs_native
@pytest.mark.parametrize("variant", [32, 16], indirect=True)
@pytest.mark.parametrize(
    ("rows", "depth", "n"),
    [(1, 1, 1), (5, 3, 7), (16, 8, 6), (31, 17, 13), (32, 1, 64), (33, 128, 2), (600, 200, 16)],
)
@pytest.mark.parametrize("transposed", [False, True], ids=["w", "w_t"])
@pytest.mark.parametrize("accumulate", [False, True], ids=["set", "add"])
def test_product_equals_numpy(variant, rows, depth, n, transposed, accumulate):
    rng = np.random.default_rng(rows * 1000 + depth + n)
    w = rng.standard_normal((depth, rows) if transposed else (rows, depth)).astype(np.float32)
    w = w.T if transposed else w  # (rows, depth) either way; strides (1, rows) when transposed
    x = rng.standard_normal((n, depth)).astype(np.float32)
    full = rng.standard_normal((n, rows + 3)).astype(np.float32)
    out, margin = full[:, :rows], full[:, rows:].copy()  # row stride rows + 3
    before = out.copy()
    assert KERNEL.product_f32(w, x, out, accumulate) == variant
    expected = x.astype(np.float64) @ w.T.astype(np.float64) + (before if accumulate else 0)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5 * np.sqrt(depth))
    np.testing.assert_array_equal(full[:, rows:], margin)  # nothing written past the rows


@needs_native
@pytest.mark.parametrize("variant", [32, 16, 0], indirect=True)
@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize(("hidden", "batch"), [(1, 1), (7, 64), (33, 5), (128, 8), (512, 3)])
def test_scans_in_every_variant_equal_numpy(variant, kind, hidden, batch):
    rng = np.random.default_rng(hidden + batch)
    steps = 6
    m = getattr(birnn, kind)(5, hidden, bidirectional=True, seed=hidden)  # float32
    x = rng.standard_normal((steps, batch, 5)).astype(np.float32)
    lengths = random_lengths(rng, batch, steps) if batch > 1 else np.array([steps - 2])
    d_out = rng.standard_normal((steps, batch, 2 * hidden)).astype(np.float32)

    def run() -> list[np.ndarray]:
        out, _, tape = m.forward(x, lengths=lengths, training=True)
        dx, _, grads = m.backward(tape, d_out)
        return [out, m(x, lengths=lengths)[0], dx, *grads.values()]

    saved = backend._settings.backend
    try:
        birnn.set_backend("numpy")
        expected = run()
        birnn.set_backend("native")
        actual = run()
    finally:
        backend._settings.backend = saved
    for want, got in zip(expected, actual, strict=True):
        scale = max(float(np.abs(want).max()), 1e-30)
        assert float(np.abs(got - want).max()) / scale < 2e-6


def test_variants_cover_the_blas_path():
    assert KERNEL is None or variants()[-1] == 0


@needs_native
@pytest.mark.parametrize("variant", [32, 16], indirect=True)
@pytest.mark.parametrize("kind", ["RNN", "GRU", "GRU-before", "LSTM"])
@pytest.mark.parametrize(
    ("features", "hidden", "batch"), [(1, 1, 1), (5, 7, 64), (40, 33, 5), (100, 128, 8)]
)
def test_inference_projecting_each_step_equals_one_gemm_and_numpy(
    variant, kind, features, hidden, batch, monkeypatch
):
    """Inference projects each step's running rows with W_in packed (kernel.PROJECT_STEPS_BYTES):
    the outputs and final states equal the one-GEMM path's and the NumPy loop's, padding reads
    as zero, a sequence run alone gives the same bits as within its batch (each row is
    computed the same way wherever it sits), and the input projections take one step's room.
    The backward chain reads x backwards in place; GRU-before (its steps do not pack: no
    per-step projection, and no such equality) and the one-GEMM path project a flipped copy."""
    from birnn._native import kernel

    rng = np.random.default_rng(features + hidden + batch)
    steps = 7
    extra = {"reset_after": False} if kind == "GRU-before" else {}
    m = getattr(birnn, kind.split("-")[0])(
        features, hidden, num_layers=2, bidirectional=True, seed=hidden, **extra
    )
    x = rng.standard_normal((steps, batch, features)).astype(np.float32)
    lengths = random_lengths(rng, batch, steps) if batch > 1 else np.array([steps - 3])

    def outputs(xs: np.ndarray, ls: np.ndarray) -> list[np.ndarray]:
        out, state = m(xs, lengths=ls)
        return [out, *(state if isinstance(state, tuple) else (state,))]

    per_step = outputs(x, lengths)
    # where each step projects its own rows, a step's projections are all the room it needs
    room = m.layers[0].workspaces[0]._buffers[("a", np.dtype(np.float32))].size
    gates = {"RNN": 1, "GRU": 3, "GRU-before": 3, "LSTM": 4}[kind] * hidden
    assert room == 2 * (steps if kind == "GRU-before" else 1) * batch * gates
    monkeypatch.setattr(kernel, "PROJECT_STEPS_BYTES", 0)
    one_gemm = outputs(x, lengths)
    monkeypatch.undo()
    saved = backend._settings.backend
    try:
        birnn.set_backend("numpy")
        expected = outputs(x, lengths)
    finally:
        backend._settings.backend = saved
    for got, gemm, want in zip(per_step, one_gemm, expected, strict=True):
        scale = max(float(np.abs(want).max()), 1e-30)
        assert float(np.abs(got - want).max()) / scale < 2e-6
        assert float(np.abs(got - gemm).max()) / scale < 2e-6
    t = np.arange(steps)[:, None]
    assert not per_step[0][t >= lengths[None, :]].any()
    if kind == "GRU-before":  # on the BLAS, whose rounding of a row depends on its place
        return
    i = batch // 2
    alone = outputs(x[:, i : i + 1], lengths[i : i + 1])
    np.testing.assert_array_equal(alone[0][:, 0], per_step[0][:, i])
    for got, within in zip(alone[1:], per_step[1:], strict=True):
        np.testing.assert_array_equal(got[:, 0], within[:, i])
