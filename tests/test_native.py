"""The native backend (compiled time loop) against the NumPy reference loop.

Random shapes, lengths, dtypes and cells: every output, final state and gradient of the native
backend equals the NumPy backend's to 1e-12 (float64) / 1e-6 (float32) relative. Also: the thread
setting changes nothing but speed, the fallback when the kernel is missing, and bad arguments to
the backend functions.

How "relative" is measured. float64 problems use the suite's large random weights (they expose
swapped gates and units), and every array is compared to its own largest entry. The two
backends differ only in rounding (their tanh and the order of a few additions), and float32
rounding is amplified by such chaotic weights: there the NumPy float32 path itself is up to
5e-6 away from exact (float64) arithmetic, and the native path as far, in either direction. So
float32 problems use PyTorch's default initialisation, as a trained model would, and parameter
gradients are compared to the largest parameter gradient of the module (a gradient of hidden
size 1 is a short sum with cancellation, whose relative error says nothing about the loop).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import sysconfig
import threading
import time
import unittest.mock
import warnings
from typing import Any

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import birnn
from birnn import _native, backend
from birnn.cells import sums
from helpers import random_lengths, randomize_parameters, tree_leaves

needs_native = pytest.mark.skipif(
    not backend.native_available(),
    reason=f"native backend unavailable: {backend.unavailable_reason()}",
)

# float32: two float32 computations of the same model, each rounding its own way. Against the
# float64 model (2-layer bidirectional RNN 200 / LSTM 130, ragged, 24 cases) the NumPy loop is
# off by up to 5.3e-7 of the largest output, the kernel by up to 8.4e-7 (inference projecting
# each step with W_in packed) or 6.0e-7 (one BLAS GEMM): their difference can pass 1e-6.
REL_TOL = {np.dtype(np.float32): 2e-6, np.dtype(np.float64): 1e-12}
CASES = 80


@pytest.fixture
def restore_settings():
    """Put the backend and thread settings (NumPy's BLAS pool too) back after a test."""
    saved = (backend._settings.backend, backend._settings.threads)
    pool = _native.load().lib.birnn_blas_threads() if _native.load() else None
    yield
    backend._settings.backend, backend._settings.threads = saved
    if pool:
        threadpool_limits(limits=pool, user_api="blas")


def random_case(seed: int) -> dict[str, Any]:
    """A random module configuration and problem; every option the kernel sees varies."""
    rng = np.random.default_rng(seed)
    kind = str(rng.choice(["RNN", "GRU", "LSTM"]))
    bidirectional = bool(rng.random() < 0.75)
    cfg: dict[str, Any] = {
        "input_size": int(rng.integers(1, 12)),
        "hidden_size": int(rng.integers(1, 24)),
        "num_layers": int(rng.integers(1, 4)),
        "bidirectional": bidirectional,
        "bias": bool(rng.random() < 0.8),
        "batch_first": bool(rng.random() < 0.3),
    }
    if kind == "RNN":
        cfg["nonlinearity"] = str(rng.choice(["tanh", "relu"]))
    if kind == "GRU":
        cfg["reset_after"] = bool(rng.random() < 0.6)
    if bidirectional:
        cfg["merge"] = str(rng.choice(["concat", "concat", "sum", "mul"]))
        if cfg["merge"] == "concat" and rng.random() < 0.2:  # two chains of different sizes
            cfg["hidden_size"] = (cfg["hidden_size"], int(rng.integers(1, 24)))
    steps, size = int(rng.integers(1, 16)), int(rng.integers(2, 10))
    return {
        "kind": kind,
        "cfg": cfg,
        "dtype": np.dtype(rng.choice([np.float32, np.float64])),
        "steps": steps,
        "size": size,
        "ragged": bool(rng.random() < 0.7),
        "with_hx": bool(rng.random() < 0.5),
        "rng": rng,
    }


def run_both_ways(m: Any, x, hx, lengths, d_out, d_state) -> dict[str, list[np.ndarray]]:
    """Inference, forward with tape and backward; every array produced, by name."""
    out, state, tape = m.forward(x, hx, lengths, training=True)
    dx, dhx, grads = m.backward(tape, d_out, d_state)
    inf_out, inf_state = m(x, hx, lengths)
    return {
        "out": [out],
        "state": tree_leaves(state),
        "dx": [dx],
        "dhx": tree_leaves(dhx),
        "inference": [inf_out, *tree_leaves(inf_state)],
        **{f"grad {k}": [v] for k, v in grads.items()},
    }


def rel_err(actual: np.ndarray, desired: np.ndarray, scale: float | None = None) -> float:
    """max |actual - desired| / scale (default: max |desired|)."""
    if not desired.size:
        return 0.0
    if scale is None:
        scale = float(np.max(np.abs(desired)))
    return float(np.max(np.abs(actual - desired))) / max(scale, 1e-30)


@needs_native
@pytest.mark.parametrize("seed", range(CASES))
def test_native_equals_numpy_on_random_problems(seed, restore_settings):
    case = random_case(seed)
    rng, cfg, dtype = case["rng"], case["cfg"], case["dtype"]
    m = getattr(birnn, case["kind"])(**cfg, dtype=dtype, seed=seed)
    if dtype == np.float64:
        randomize_parameters(m, rng)
    steps, size = case["steps"], case["size"]
    shape = (size, steps) if cfg["batch_first"] else (steps, size)
    x = rng.standard_normal((*shape, cfg["input_size"])).astype(dtype)
    lengths = random_lengths(rng, size, steps) if case["ragged"] else None
    out, state = m(x, None, lengths)
    hx = None
    if case["with_hx"]:
        hx = _map(lambda s: (0.5 * rng.standard_normal(s.shape)).astype(dtype), state)
    d_out = rng.standard_normal(out.shape).astype(dtype)
    d_state = _map(lambda s: rng.standard_normal(s.shape).astype(dtype), state)

    birnn.set_backend("numpy")
    expected = run_both_ways(m, x, hx, lengths, d_out, d_state)
    birnn.set_backend("native")
    actual = run_both_ways(m, x, hx, lengths, d_out, d_state)

    tol = REL_TOL[dtype]
    grads = [v[0] for k, v in expected.items() if k.startswith("grad")]
    grad_scale = max(float(np.max(np.abs(g))) for g in grads) if dtype == np.float32 else None
    for name, arrays in expected.items():
        for i, (want, got) in enumerate(zip(arrays, actual[name], strict=True)):
            assert got.dtype == want.dtype and got.shape == want.shape, name
            scale = grad_scale if name.startswith("grad") else None
            err = rel_err(got, want, scale)
            assert err <= tol, f"{name}[{i}]: relative error {err:.2e} > {tol:.0e} ({case})"


def _map(fn, tree):
    if isinstance(tree, (tuple, list)):
        return type(tree)(_map(fn, t) for t in tree)
    return fn(tree)


def test_thread_plan():
    """Chains side by side only when birnn has more threads than NumPy's BLAS pool."""
    from birnn._native.kernel import plan

    assert plan(2, 2, 2) == (False, 2)  # the pool's threads are awake: give them the GEMMs
    assert plan(2, 2, 1) == (True, 1)  # OPENBLAS_NUM_THREADS=1, set_num_threads(2)
    # the packed product: forward chains side by side only when each holds enough work
    assert plan(2, 2, 2, packed=True, step="forward", work=5e8) == (True, 1)
    assert plan(2, 2, 2, packed=True, step="forward", work=6e7) == (False, 2)
    assert plan(2, 2, 2, packed=True, step="backward", work=5e8) == (False, 2)
    assert plan(2, 2, 2, packed=False, step="forward", work=5e8) == (False, 2)
    # inference: side by side from far less work (no NumPy GEMM between calls spins the pool)
    assert plan(2, 2, 2, packed=True, step="infer", work=6e7) == (True, 1)
    assert plan(2, 2, 2, packed=True, step="infer", work=1e6) == (False, 2)
    assert plan(2, 2, 2, packed=False, step="infer", work=6e7) == (False, 2)
    assert plan(2, 4, 1) == (True, 2)
    assert plan(1, 4, 1) == (False, 4)  # one chain: nothing to run side by side
    assert plan(2, 1, 1) == (False, 1)


@needs_native
@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_thread_setting_changes_nothing_but_speed(kind, restore_settings):
    """1 thread; 2 threads (chains in turn); 2 threads with NumPy's BLAS pool limited to 1
    afterwards (chains side by side)."""
    rng = np.random.default_rng(7)
    m = getattr(birnn, kind)(6, 33, num_layers=2, bidirectional=True, dtype=np.float64, seed=3)
    x = rng.standard_normal((9, 70, 6))
    lengths = random_lengths(rng, 70, 9)
    d_out = rng.standard_normal((9, 70, 66))
    birnn.set_backend("native")
    results = []
    for threads, pool in ((1, 1), (2, 2), (2, 1)):
        birnn.set_num_threads(threads)  # sets NumPy's pool to ``threads`` too
        threadpool_limits(limits=pool, user_api="blas")
        assert _native.load().lib.birnn_blas_threads() == pool
        out, _, tape = m.forward(x, lengths=lengths, training=True)
        dx, _, grads = m.backward(tape, d_out)
        results.append([out, dx, *grads.values()])
    for other in results[1:]:
        for want, got in zip(results[0], other, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


@needs_native
def test_chain_threads_runs_the_chains_side_by_side_and_restores_the_pool(restore_settings):
    """Prediction's setting: with 2 threads, NumPy's BLAS is on one thread inside (so the plan
    puts the two directions side by side) and back on 2 after, even when the body raises;
    with 1 thread, or on the NumPy backend, nothing changes. The outputs are the same. Its
    earlier name, ``forward_only_threads``, is the same function."""
    lib = _native.load().lib
    m = birnn.LSTM(5, 17, num_layers=2, bidirectional=True, dtype=np.float64, seed=1)
    x = np.random.default_rng(2).standard_normal((8, 40, 5))
    lengths = random_lengths(np.random.default_rng(3), 40, 8)
    birnn.set_backend("native")
    birnn.set_num_threads(1)
    in_turn, _ = m(x, lengths=lengths)
    birnn.set_num_threads(2)
    with backend.chain_threads():
        assert lib.birnn_blas_threads() == 1
        side_by_side, _ = m(x, lengths=lengths)
        assert lib.birnn_blas_threads() == 1  # the module's own setting nests inside
    assert lib.birnn_blas_threads() == 2
    np.testing.assert_allclose(side_by_side, in_turn, rtol=1e-13, atol=1e-13)
    with pytest.raises(KeyError), backend.chain_threads():
        raise KeyError("inside")
    assert lib.birnn_blas_threads() == 2
    birnn.set_backend("numpy")
    with backend.chain_threads():
        assert lib.birnn_blas_threads() == 2
    birnn.set_backend("native")
    birnn.set_num_threads(1)
    with backend.chain_threads():
        assert lib.birnn_blas_threads() == 1
    assert backend.forward_only_threads is backend.chain_threads


@needs_native
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_a_training_step_runs_each_directions_gradient_gemms_in_the_compiled_loop(
    kind, restore_settings, monkeypatch
):
    """With the compiled loop, a bidirectional module's backward leaves every GEMM after the
    loop (``birnn.cells.sums``) to it: NumPy runs none of them, NumPy's pool is on one thread
    during the call and as before after it, and the outputs and gradients equal those of 1
    thread and those of the NumPy path bit for bit (the same BLAS calls in the same order).
    With ``record`` the NumPy loop runs, and its sums run side by side in Python (the second
    chain's on the helper thread) with the pool on one thread."""
    lib = _native.load().lib
    m = getattr(birnn, kind)(7, 19, num_layers=2, bidirectional=True, dtype=np.float64, seed=4)
    seen: list[tuple[str, int]] = []
    original = sums.run

    def spy(declared, rooms):
        seen.append((threading.current_thread().name, lib.birnn_blas_threads()))
        return original(declared, rooms)

    monkeypatch.setattr(sums, "run", spy)
    rng = np.random.default_rng(5)
    x, d_out = rng.standard_normal((12, 6, 7)), rng.standard_normal((12, 6, 38))
    lengths = random_lengths(rng, 6, 12)
    birnn.set_backend("native")
    results = {}
    for threads in (1, 2):
        birnn.set_num_threads(threads)
        seen.clear()
        out, _, tape = m.forward(x, lengths=lengths, training=True)
        assert lib.birnn_blas_threads() == threads
        dx, _, grads = m.backward(tape, d_out)
        assert lib.birnn_blas_threads() == threads
        assert seen == []  # the compiled loop ran every sum
        results[threads] = [out, dx, *grads.values()]
    for want, got in zip(results[1], results[2], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)

    m.state_grad_hook = lambda state_grads, lengths: None  # the NumPy loop records them
    out, _, tape = m.forward(x, lengths=lengths, training=True)
    seen.clear()
    dx, _, grads = m.backward(tape, d_out)
    assert len(seen) == 4  # two layers, two directions
    assert all(pool == 1 for _, pool in seen)
    assert {name for name, _ in seen} == {threading.current_thread().name, "birnn-chain_0"}
    for want, got in zip(results[2], [out, dx, *grads.values()], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@needs_native
@pytest.mark.parametrize("kind", ["tagger", "classifier", "fill"])
@pytest.mark.parametrize("bidirectional", [True, False], ids=["bi", "uni"])
def test_a_models_training_step_keeps_the_pool_on_one_thread_throughout(
    kind, bidirectional, restore_settings, monkeypatch
):
    """With 2 threads and a bidirectional encoder, every GEMM of ``loss_and_grads`` (the
    output layer's too) runs with NumPy's pool on one thread, so none wakes the pool to spin
    against the chains; the pool is back on 2 after, and the loss and gradients equal those of
    1 thread. A one-directional encoder keeps the 2-thread pool its loop needs."""
    from test_models import build

    lib = _native.load().lib
    model, batch = build(kind, chars=True, bidirectional=bidirectional)
    pools: list[int] = []
    forward = model.out.forward

    def spy(x):
        pools.append(lib.birnn_blas_threads())
        return forward(x)

    monkeypatch.setattr(model.out, "forward", spy)
    birnn.set_backend("native")
    results = {}
    for threads in (1, 2):
        birnn.set_num_threads(threads)
        pools.clear()
        loss, grads, _ = model.loss_and_grads(batch, np.random.default_rng(0))
        assert lib.birnn_blas_threads() == threads
        assert pools == [1 if bidirectional else threads]
        results[threads] = [loss, *grads.values()]
    for want, got in zip(results[1], results[2], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@needs_native
def test_per_chain_waits_for_the_second_chain_when_the_first_fails(restore_settings):
    """An error in chain 0 reaches the caller only after chain 1 has finished (nothing of the
    call keeps running); chain 1's own error reaches the caller too."""
    birnn.set_backend("native")
    birnn.set_num_threads(2)
    finished = []

    def work(j: int) -> int:
        if j == 0:
            raise KeyError("chain 0")
        time.sleep(0.2)
        finished.append(j)
        return j

    with backend.chain_threads():
        with pytest.raises(KeyError, match="chain 0"):
            backend.per_chain(work, 2)
        assert finished == [1]
        with pytest.raises(ZeroDivisionError):
            backend.per_chain(lambda j: 1 // j if j == 0 else 1 // 0, 2)
        assert backend.per_chain(lambda j: j * 10, 2) == [0, 10]
    assert backend.per_chain(lambda j: j, 3) == [0, 1, 2]


@needs_native
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_helper_thread_works_in_a_forked_child(restore_settings):
    """The helper threads (the scans' and the gradients') are not copied by fork(): the child
    makes its own (no deadlock)."""
    birnn.set_backend("native")
    birnn.set_num_threads(2)
    threadpool_limits(limits=1, user_api="blas")  # a smaller pool: chains side by side
    m = birnn.LSTM(3, 5, bidirectional=True, dtype=np.float64, seed=0)
    x = np.random.default_rng(0).standard_normal((6, 4, 3))
    expected, _ = m(x)  # the helper threads now exist in this process
    d_out = np.ones_like(expected)
    _, _, tape = m.forward(x, training=True)
    expected_dx = m.backward(tape, d_out)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        pid = os.fork()
    if pid == 0:  # the child: report through the exit code only
        code = 1
        try:
            code = 0 if np.array_equal(m(x)[0], expected) else 3
            _, _, tape = m.forward(x, training=True)  # the gradients' helper, made anew
            code = code or (0 if np.array_equal(m.backward(tape, d_out)[0], expected_dx) else 4)
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if done[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung in a native scan")
    assert os.waitstatus_to_exitcode(done[1]) == 0


@needs_native
def test_tapes_cross_backends(restore_settings):
    """A tape recorded by one backend is read by the other: the layouts are the same."""
    rng = np.random.default_rng(1)
    m = birnn.LSTM(4, 5, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    x = rng.standard_normal((7, 6, 4))
    lengths = random_lengths(rng, 6, 7)
    d_out = rng.standard_normal((7, 6, 10))
    grads = {}
    for fwd, bwd in [("numpy", "numpy"), ("numpy", "native"), ("native", "numpy")]:
        birnn.set_backend(fwd)
        _, _, tape = m.forward(x, lengths=lengths, training=True)
        birnn.set_backend(bwd)
        grads[fwd, bwd] = m.backward(tape, d_out)[2]
    for g in grads.values():
        for name in g:
            np.testing.assert_allclose(g[name], grads["numpy", "numpy"][name], rtol=1e-12)


@needs_native
def test_nan_propagates_like_numpy(restore_settings):
    m = birnn.GRU(3, 4, bidirectional=True, seed=0)
    x = np.zeros((5, 2, 3), np.float32)
    x[2, 1, 0] = np.nan
    outs = []
    for name in ("numpy", "native"):
        birnn.set_backend(name)
        outs.append(np.isnan(m(x)[0]))
    np.testing.assert_array_equal(outs[0], outs[1])
    assert outs[1][2:, 1, :4].all() and not outs[1][:, 0].any()


@needs_native
def test_float32_tanh_is_accurate():
    """The kernel's vectorised float32 tanh: within 2 ulp of the exact value everywhere."""
    kernel = _native.load()
    assert kernel is not None
    x = np.concatenate([np.linspace(-12, 12, 200_001), 10.0 ** np.arange(-40, 2, 0.01)])
    x = np.concatenate([x, -x]).astype(np.float32)
    exact = np.tanh(x.astype(np.float64))
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(kernel.tanh_f32(x) - exact) / ulp) <= 2.0
    special = np.array([np.inf, -np.inf, np.nan, 88.0, -88.0], np.float32)
    np.testing.assert_array_equal(kernel.tanh_f32(special), [1, -1, np.nan, 1, -1])


@needs_native
def test_float32_sigmoid_is_accurate():
    """The kernel's float32 sigmoid, 1 / (1 + exp(-x)): within 3 ulp of the exact value for
    x >= -87; below, where the exact value is under 2e-38, it stays at sigmoid(-87) (exp's
    range); NaN stays NaN."""
    kernel = _native.load()
    assert kernel is not None
    x = np.concatenate([np.linspace(-100, 30, 400_001), 10.0 ** np.arange(-40, 2, 0.01)])
    x = np.concatenate([x, -x]).astype(np.float32)
    exact = 1 / (1 + np.exp(-x.astype(np.float64)))
    inside = x >= -87
    ulp = np.spacing(exact.astype(np.float32)).astype(np.float64)
    got = kernel.sigmoid_f32(x).astype(np.float64)
    assert np.max(np.abs(got - exact)[inside] / ulp[inside]) <= 3.0
    assert np.all(got[~inside] <= 1 / (1 + np.exp(87.0)) * (1 + 1e-6))
    special = np.array([np.inf, -np.inf, np.nan, 100.0, 0.0], np.float32)
    np.testing.assert_array_equal(kernel.sigmoid_f32(special)[[0, 2, 3, 4]], [1, np.nan, 1, 0.5])
    assert 0 <= kernel.sigmoid_f32(special)[1] < 2e-38


@needs_native
def test_lstm_projection_runs_on_numpy_under_the_native_backend(restore_settings):
    birnn.set_backend("native")
    m = birnn.LSTM(3, 6, proj_size=2, bidirectional=True, seed=0)
    cell = m.layers[0].cells[0]
    assert backend.native_kernel(cell, np.dtype(np.float32)) is None
    assert backend.native_kernel(birnn.LSTM(3, 6).layers[0].cells[0], np.float32) is not None
    out, _ = m(np.ones((4, 2, 3), np.float32))
    assert out.shape == (4, 2, 4)


def test_native_is_built_where_a_compiler_exists():
    """CI builds the extension (`pip install -e .`): a failed build must not pass silently."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if not sys.platform.startswith("linux") or shutil.which(compiler) is None:
        pytest.skip("no C compiler here: the NumPy backend is expected")
    assert backend.native_available(), (
        f"{backend.unavailable_reason()} -- build it with `pip install -e .` "
        "or `python setup.py build_ext --inplace`"
    )


def test_missing_kernel_falls_back_to_numpy_and_says_so_once(monkeypatch, caplog):
    monkeypatch.setattr(_native, "_loaded", ["the compiled kernel was not built (test)"])
    monkeypatch.setattr(backend._settings, "backend", None)
    with caplog.at_level(logging.WARNING, logger="birnn"):
        m = birnn.RNN(2, 3, bidirectional=True, dtype=np.float64, seed=0)
        out, _ = m(np.ones((3, 2, 2)))
        m(np.ones((3, 2, 2)))
        assert birnn.get_backend() == "numpy"
    notes = [r.getMessage() for r in caplog.records if r.name == "birnn"]
    assert len(notes) == 1 and "was not built (test)" in notes[0]
    with pytest.warns(RuntimeWarning, match="native backend is unavailable"):
        birnn.set_backend("native")
    assert birnn.get_backend() == "numpy"
    assert not backend.native_available()
    np.testing.assert_array_equal(m(np.ones((3, 2, 2)))[0], out)


def test_set_backend_round_trip(restore_settings):
    birnn.set_backend("numpy")
    assert birnn.get_backend() == "numpy"
    birnn.set_backend("native")
    assert birnn.get_backend() == ("native" if backend.native_available() else "numpy")


@pytest.mark.parametrize(
    ("bad", "exc", "received"),
    [("cuda", ValueError, "'cuda'"), ("NumPy", ValueError, "'NumPy'"), (1, TypeError, "1")],
)
def test_set_backend_rejects_unknown_names(bad, exc, received, restore_settings):
    with pytest.raises(exc, match=r"one of \('numpy', 'native'\); received " + received):
        birnn.set_backend(bad)


def test_num_threads_round_trip(restore_settings):
    assert birnn.get_num_threads() >= 1
    birnn.set_num_threads(np.int64(3))
    assert birnn.get_num_threads() == 3


@pytest.mark.parametrize(
    ("bad", "exc"), [(0, ValueError), (-2, ValueError), (2.0, TypeError), ("2", TypeError)]
)
def test_set_num_threads_rejects_bad_values(bad, exc, restore_settings):
    with pytest.raises(exc, match=f"received {bad!r}"):
        birnn.set_num_threads(bad)


def test_set_num_threads_rejects_bool(restore_settings):
    with pytest.raises(TypeError, match="received True"):
        birnn.set_num_threads(True)


# ---- Tape memory (recurrent/scan.py): recycled by both backends, only once unreferenced ----


def test_tape_memory_is_reused_only_when_nothing_refers_to_it():
    from birnn.recurrent.workspace import TapeMemory

    pool = TapeMemory()
    first = pool.get((3, 4), np.float32, zero=False)
    address = first.ctypes.data
    view = first[1:].T  # a view keeps the memory taken
    del first
    second = pool.get((3, 4), np.float32, zero=True)
    assert second.ctypes.data != address and not second.any()
    del view
    third = pool.get((2, 5), np.float32, zero=True)  # smaller, same dtype: fits
    assert third.ctypes.data == address and not third.any() and third.shape == (2, 5)
    assert pool.get((3, 4), np.float64, zero=False).ctypes.data not in (address, third.ctypes.data)


def test_training_tapes_reuse_memory_without_mixing_up_live_ones():
    m = birnn.GRU(3, 4, bidirectional=True, dtype=np.float64, seed=0)
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((2, 5, 2, 3))
    d_out = rng.standard_normal((5, 2, 8))
    _, _, tape1 = m.forward(x1, training=True)
    expected = m.backward(tape1, d_out, retain_tape=True)[2]
    _, _, tape2 = m.forward(x2, training=True)  # tape1 alive: tape2 gets other memory
    np.testing.assert_array_equal(
        m.backward(tape1, d_out)[2]["weight_hh_l0"], expected["weight_hh_l0"]
    )
    del tape1
    _, _, tape3 = m.forward(x1, training=True)  # may reuse tape1's memory
    for name, g in m.backward(tape3, d_out)[2].items():
        np.testing.assert_array_equal(g, expected[name])
    assert tape2 is not tape3


@needs_native
@pytest.mark.parametrize("kind,per_step", [("GRU", ["a", "d_hh_n"]), ("LSTM", ["a"])])
def test_a_training_step_keeps_no_buffer_beside_the_tapes_gates(kind, per_step, restore_settings):
    """Memory: in a training step the compiled loop needs no (D, T, N, G*H) array besides the
    tape's gates (nor, for the GRU, one for dhh_n beside hh_n); a retained tape's backward
    works on copies in the workspace."""
    birnn.set_backend("native")
    m = getattr(birnn, kind)(3, 4, bidirectional=True, dtype=np.float32, seed=0)
    x = np.random.default_rng(0).standard_normal((6, 5, 3)).astype(np.float32)
    d_out = np.ones((6, 5, 8), np.float32)
    ws = m.layers[0].workspaces[0]
    m.backward(m.forward(x, training=True)[2], d_out)
    assert not {name for name, _ in ws._buffers} & set(per_step)
    m.backward(m.forward(x, training=True)[2], d_out, retain_tape=True)
    assert {name for name, _ in ws._buffers} >= set(per_step)


@needs_native
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ragged", [False, True], ids=["full", "ragged"])
@pytest.mark.parametrize(
    ("kind", "hidden", "size", "bias"),
    [("LSTM", 130, 33, True), ("GRU", 64, 7, False), ("RNN", 200, 64, True), ("LSTM", 1, 2, False)],
)  # fmt: skip
def test_inference_merges_in_the_loop_as_the_numpy_layer_does(
    kind, hidden, size, bias, ragged, dtype, restore_settings
):
    """Inference of a bidirectional concat layer projects x itself (the backward chain a
    flipped copy), adds the biases in the loop and writes each direction's half of y there:
    outputs and final states equal the NumPy loop's, and the Python merge is not used."""
    rng = np.random.default_rng(hidden + size)
    m = getattr(birnn, kind)(
        9, hidden, num_layers=2, bidirectional=True, bias=bias, dtype=dtype, seed=2
    )
    x = rng.standard_normal((7, size, 9)).astype(dtype)
    lengths = random_lengths(rng, size, 7) if ragged else None
    hx = _map(lambda s: rng.standard_normal(s.shape).astype(dtype), m(x, None, lengths)[1])
    birnn.set_num_threads(2)
    birnn.set_backend("numpy")
    want_out, want_state = m(x, hx, lengths)
    want = [want_out, *tree_leaves(want_state)]
    birnn.set_backend("native")
    merged = birnn.recurrent.layer.Layer._merged
    with unittest.mock.patch.object(
        birnn.recurrent.layer.Layer, "_merged", side_effect=merged
    ) as spy:
        out, state = m(x, hx, lengths)
    assert spy.call_count == 0
    for got, expected in zip([out, *tree_leaves(state)], want, strict=True):
        assert rel_err(got, expected) <= REL_TOL[np.dtype(dtype)]
    if ragged:  # padding reads as zero
        t = np.arange(7)[:, None]
        assert not out[t >= lengths[None, :]].any()


@needs_native
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("kind", "hidden", "size", "threads"),
    [("LSTM", 512, 64, 2), ("GRU", 300, 33, 2), ("LSTM", 130, 17, 1), ("GRU", 1, 2, 1),
     ("LSTM", 64, 40, 2)],
)  # fmt: skip
def test_in_place_steps_equal_numpy_at_large_shapes(kind, hidden, size, threads, dtype,
                                                    restore_settings):  # fmt: skip
    """The compiled in-place LSTM/GRU steps (one tape buffer for a, the gates and da) at the
    issue's shapes, hidden up to 512 and batch up to 64, ragged, against the NumPy loop. PyTorch's
    initialisation in both dtypes: the suite's large random weights make 300 units chaotic
    enough that float64 rounding alone grows past 1e-12."""
    rng = np.random.default_rng(hidden + size)
    m = getattr(birnn, kind)(7, hidden, num_layers=2, bidirectional=True, dtype=dtype, seed=3)
    x = rng.standard_normal((6, size, 7)).astype(dtype)
    lengths = random_lengths(rng, size, 6)
    out, state = m(x, None, lengths)
    d_out = rng.standard_normal(out.shape).astype(dtype)
    d_state = _map(lambda s: rng.standard_normal(s.shape).astype(dtype), state)
    birnn.set_num_threads(threads)
    birnn.set_backend("numpy")
    expected = run_both_ways(m, x, None, lengths, d_out, d_state)
    birnn.set_backend("native")
    actual = run_both_ways(m, x, None, lengths, d_out, d_state)
    tol = REL_TOL[np.dtype(dtype)]
    grads = [v[0] for k, v in expected.items() if k.startswith("grad")]
    grad_scale = max(float(np.max(np.abs(g))) for g in grads) if dtype == np.float32 else None
    for name, arrays in expected.items():
        for want, got in zip(arrays, actual[name], strict=True):
            err = rel_err(got, want, grad_scale if name.startswith("grad") else None)
            assert err <= tol, f"{name}: relative error {err:.2e} > {tol:.0e}"


@needs_native
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "kind, options",
    [("LSTM", {}), ("GRU", {}), ("GRU", {"reset_after": False}), ("RNN", {})],
    ids=["lstm", "gru", "gru_original", "rnn"],
)
@pytest.mark.parametrize("threads", [1, 2])
def test_the_compiled_loops_sums_equal_numpys_bit_for_bit(
    kind, options, dtype, threads, restore_settings, monkeypatch
):
    """The GEMMs after the backward loop, run by the compiled loop (``scan_args.after``),
    give exactly what ``birnn.cells.sums.run`` gives for the same declarations: ragged
    batches, batch 1, one step, every gradient of a two-layer bidirectional module."""
    from birnn._native.kernel import Kernel

    birnn.set_backend("native")
    birnn.set_num_threads(threads)
    original = Kernel.backward

    def numpy_sums(self, *args, after=(), **kwargs):
        original(self, *args, **kwargs)  # the loop alone, then NumPy's sums into the same rooms
        for declared, rooms in after:
            sums.run(declared, rooms)

    rng = np.random.default_rng(11)
    for steps, size in ((9, 5), (4, 1), (1, 3)):
        m = getattr(birnn, kind)(6, 13, num_layers=2, bidirectional=True, dtype=dtype, seed=2)
        x = rng.standard_normal((steps, size, 6)).astype(dtype)
        d_out = rng.standard_normal((steps, size, 26)).astype(dtype)
        lengths = random_lengths(rng, size, steps) if size > 1 else None
        runs = []
        for patch in (False, True):
            if patch:
                monkeypatch.setattr(Kernel, "backward", numpy_sums)
            _, _, tape = m.forward(x, lengths=lengths, training=True)
            dx, _, grads = m.backward(tape, d_out)
            runs.append([dx, *grads.values()])
        monkeypatch.setattr(Kernel, "backward", original)
        for compiled, numpy in zip(*runs, strict=True):
            assert np.array_equal(compiled, numpy)
