"""Which implementation runs the time loop, and on how many threads.

    birnn.set_backend("native" | "numpy")    birnn.get_backend()
    birnn.set_num_threads(n)                  birnn.get_num_threads()

"native" is the compiled loop of ``birnn._native`` (built by ``pip install .``); "numpy" is the
reference loop of ``birnn.recurrent.scan``. Both give the same results (to rounding) through the
same API. By default "native" is used when it was built and found NumPy's BLAS; otherwise
"numpy", and the first use logs the reason once (logger "birnn"). Cells the kernel does not
cover (LSTM with proj_size) and dtypes other than float32/float64 always run on NumPy.

Threads apply to the native time loop: its recurrent GEMMs run on n threads of NumPy's
OpenBLAS, or, when n exceeds NumPy's BLAS thread count, a layer's two directions run side by side
with n // 2 BLAS threads each (``birnn._native.kernel.plan`` has the rule and the measurements
behind it). The default is NumPy's BLAS thread count (OPENBLAS_NUM_THREADS, or all cores), capped
at ``os.cpu_count()``. The large GEMMs outside the loop are NumPy calls and follow NumPy's own
setting.
"""

from __future__ import annotations

import logging
import operator
import os
import warnings

import numpy as np

from birnn import _native
from birnn._native.kernel import Kernel
from birnn.cells.base import Cell

BACKENDS = ("numpy", "native")

_log = logging.getLogger("birnn")


class _Settings:
    backend: str | None = None  # None: not resolved yet (native if available)
    threads: int | None = None  # None: the default


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


def get_num_threads() -> int:
    """Threads the native time loop uses (see the module docstring)."""
    if _settings.threads is None:
        kernel = _native.load()
        cores = os.cpu_count() or 1
        _settings.threads = min(cores, kernel.library.blas_threads) if kernel else cores
    return _settings.threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (>= 1) in the native time loop (see the module docstring)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"number of threads must be an int; received {n!r}")
    n = operator.index(n)
    if n < 1:
        raise ValueError(f"number of threads must be >= 1; received {n}")
    _settings.threads = n


def native_kernel(cell: Cell, dtype: np.dtype) -> Kernel | None:
    """The kernel to run ``cell``'s loop in ``dtype``, or None for the NumPy loop."""
    if get_backend() != "native":
        return None
    kernel = _native.load()
    return kernel if kernel is not None and kernel.supports(cell, dtype) else None
