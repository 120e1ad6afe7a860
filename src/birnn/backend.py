"""Which implementation runs the time loop, and on how many threads.

    birnn.set_backend("native" | "numpy")    birnn.get_backend()
    birnn.set_num_threads(n)                  birnn.get_num_threads()

"native" is the compiled loop of ``birnn._native`` (built by ``pip install .``); "numpy" is the
reference loop of ``birnn.recurrent.scan``. Both give the same results (to rounding) through the
same API. By default "native" is used when it was built and found NumPy's BLAS; otherwise
"numpy", and the first use logs the reason once (logger "birnn"). Cells the kernel does not
cover (LSTM with proj_size) and dtypes other than float32/float64 always run on NumPy.

Threads: ``set_num_threads(n)`` governs every BLAS call birnn makes. It sets NumPy's BLAS
pool to ``n`` threads for the whole process (through ``threadpoolctl``: the input projections,
the weight gradients and every other NumPy GEMM follow it), and the native time loop's
recurrent GEMMs run on the same ``n``. Until it is called, NumPy keeps its own setting and the
native loop uses ``default_num_threads()``; the command line always calls it (``--threads``).

The default is 1 thread, whatever the machine: with small batches a second BLAS thread buys
little (ANCHORS.md: 1.0-1.6x on GEMMs with batch <= 32), while two processes whose OpenBLAS
pools each want every core spin against each other and run many times slower
(BENCHMARKS.md, "Threads when the machine is shared"). ``--threads 2`` is for a quiet machine.
When the pool is smaller than ``n`` (NumPy's BLAS limited afterwards by someone else), a layer's
two directions run side by side (``birnn._native.kernel.plan``).

birnn uses that on purpose (``chain_threads``): with ``n >= 2`` it limits NumPy's BLAS to one
thread around each forward and backward call of a module whose every layer has two directions,
around each model's training step (``loss_and_grads``), and around prediction, so every layer's
two directions run side by side, each on one core: the compiled loops with their input
projections, and each direction's gradient GEMMs (``per_chain``); no BLAS pool thread spins
against them. A module with a one-direction layer keeps the shared pool, which its GEMMs need.
"""

from __future__ import annotations

import contextlib
import logging
import operator
import os
import warnings
from collections.abc import Callable, Iterator
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
from threadpoolctl import threadpool_limits

from birnn import _native
from birnn._native.kernel import Kernel, plan
from birnn.cells.base import Cell

BACKENDS = ("numpy", "native")

_log = logging.getLogger("birnn")


DEFAULT_THREADS = 1  # see the module docstring for why not "all cores"


class _Settings:
    backend: str | None = None  # None: not resolved yet (native if available)
    threads: int | None = None  # None: the default
    blas_limit: object = None  # threadpoolctl's limiter, kept so the setting stays in force


_settings = _Settings()


def native_available() -> bool:
    """Whether the compiled kernel was built and can run here."""
    return _native.load() is not None


def unavailable_reason() -> str | None:
    """Why the compiled kernel cannot be used here, or None if it can."""
    return _native.unavailable_reason()


def get_backend() -> str:
    """The backend in use: "native" or "numpy"."""
    if _settings.backend is None:
        reason = _native.unavailable_reason()
        if reason is not None:
            _log.warning("birnn: using the NumPy time loop: %s", reason)
        _settings.backend = "numpy" if reason is not None else "native"
    return _settings.backend


def set_backend(name: str) -> None:
    """Select the time loop: "native" (compiled) or "numpy" (the reference).

    Asking for "native" where it is unavailable warns (RuntimeWarning, with the reason) and
    keeps "numpy".
    """
    if not isinstance(name, str):
        raise TypeError(f"backend must be a str, one of {BACKENDS}; received {name!r}")
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; received {name!r}")
    reason = _native.unavailable_reason() if name == "native" else None
    if reason is not None:
        warnings.warn(
            f"birnn: the native backend is unavailable ({reason}); using NumPy",
            RuntimeWarning,
            stacklevel=2,
        )
        name = "numpy"
    _settings.backend = name


def default_num_threads() -> int:
    """The thread count used until ``set_num_threads`` is called (``--threads``' default)."""
    return min(DEFAULT_THREADS, os.cpu_count() or 1)


def get_num_threads() -> int:
    """Threads of birnn's BLAS calls and its native time loop (see the module docstring)."""
    return _settings.threads if _settings.threads is not None else default_num_threads()


def set_num_threads(n: int) -> None:
    """Run every BLAS call birnn makes, and the native time loop, on ``n`` threads (>= 1).

    NumPy's BLAS thread pool is process-wide: this sets it for the whole process.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"number of threads must be an int; received {n!r}")
    n = operator.index(n)
    if n < 1:
        raise ValueError(f"number of threads must be >= 1; received {n}")
    _settings.blas_limit = threadpool_limits(limits=n, user_api="blas")
    _settings.threads = n


@contextlib.contextmanager
def chain_threads() -> Iterator[None]:
    """Within: NumPy's BLAS on one thread when birnn has ``n >= 2`` threads and runs natively,
    so that each layer's two directions run side by side, one core each: the compiled loops
    with their input projections, and in the backward pass each direction's weight- and
    input-gradient GEMMs (``per_chain``). Outside, the pool is as it was (also after an error).

    A recurrent module whose every layer has two directions of one cell enters it around each
    ``forward`` and ``backward`` call; prediction around the whole pass. Why (measured,
    BENCHMARKS.md, 2 threads): after a 2-thread NumPy GEMM, OpenBLAS's pool threads spin for a
    while and take the core that the second direction needs, so mixing the shared pool with
    side-by-side chains runs them one after the other (LSTM config b: the training forward
    took 52-57 ms after the backward's 2-thread GEMMs against 29-32 ms alone). With the pool on
    one thread throughout, a BiLSTM b training step took 109 ms against 139 ms, e 51 against
    75; ``birnn predict`` of EWT's training text 9.8 s against 11.5 s.
    """
    kernel = _threaded_kernel()
    if kernel is None:
        yield
        return
    kernel.blas_threads_enter(1)
    try:
        yield
    finally:
        kernel.blas_threads_leave()


forward_only_threads = chain_threads  # its earlier name, from when only prediction used it


_T = TypeVar("_T")
_helper: tuple[int, ThreadPoolExecutor] | None = None  # (pid, executor): a fork makes a new one


def per_chain(fn: Callable[[int], _T], chains: int) -> list[_T]:
    """``[fn(0), ..., fn(chains - 1)]``; for two chains running side by side (NumPy's BLAS pool
    smaller than birnn's thread count, as within ``chain_threads``), ``fn(1)`` runs on a
    persistent helper thread while the caller runs ``fn(0)``: their NumPy GEMMs release the
    GIL, each on one BLAS thread."""
    if chains != 2 or not _chains_side_by_side():
        return [fn(j) for j in range(chains)]
    global _helper
    if _helper is None or _helper[0] != os.getpid():
        _helper = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="birnn-chain"))
    second = _helper[1].submit(fn, 1)
    try:
        first = fn(0)
    finally:
        futures.wait([second])  # never leave chain 1 running past an error in chain 0
    return [first, second.result()]


def _chains_side_by_side() -> bool:
    """The compiled loop's rule (``kernel.plan``), for the GEMMs around it."""
    kernel = _threaded_kernel()
    if kernel is None:
        return False
    return plan(2, get_num_threads(), int(kernel.lib.birnn_blas_threads()))[0]


def _threaded_kernel() -> Kernel | None:
    """The compiled library when it runs with 2+ threads and controls NumPy's pool, else None."""
    kernel = _native.load() if get_backend() == "native" else None
    if kernel is None or get_num_threads() < 2 or not kernel.library.threads_controlled:
        return None
    return kernel


def native_library() -> Kernel | None:
    """The compiled library when the native backend is in use (the optimisers' loops), else
    None."""
    return _native.load() if get_backend() == "native" else None


def native_kernel(cell: Cell, dtype: np.dtype) -> Kernel | None:
    """The kernel to run ``cell``'s loop in ``dtype``, or None for the NumPy loop."""
    if get_backend() != "native":
        return None
    kernel = _native.load()
    return kernel if kernel is not None and kernel.supports(cell, dtype) else None
