"""The C boundary: find the compiled library and NumPy's BLAS, and describe the call structs.

The library (``_kernel*.so``, built by ``pip install .`` from the ``.c`` files here) is loaded
with ctypes, which releases the GIL for the duration of each call. It links no BLAS: it is
handed the GEMM functions of the OpenBLAS that NumPy itself loaded, so there is one BLAS and
one BLAS thread pool in the process, and no new dependency. Anything that fails here makes
``load`` return a reason instead of a library, and birnn runs on NumPy.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ABI_VERSION = 12  # BIRNN_ABI_VERSION in native.h: ScanArgs' layout and the functions exported

c_int32, c_int64, c_void_p = ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p
Pair = c_void_p * 2


class ScanArgs(ctypes.Structure):
    """``scan_args`` of native.h, field for field (shapes documented there)."""

    _fields_ = [
        ("cell", c_int32),
        ("real_size", c_int32),
        ("concurrent", c_int32),
        ("blas_threads", c_int32),
        ("states", c_int32),
        ("project_steps", c_int32),
        ("chains", c_int64),
        ("steps", c_int64),
        ("batch", c_int64),
        ("hidden", c_int64),
        ("gates", c_int64),
        ("extra_width", c_int64 * 2),
        ("grad_width", c_int64 * 2),
        ("kept", c_int64),
        ("states_kept", c_int64),
        ("lengths", c_void_p),
        ("a", c_void_p),
        ("w", c_void_p),
        ("b_hn", c_void_p),
        ("init", Pair),
        ("states_out", Pair),
        ("extras", Pair),
        ("d_out", c_void_p),
        ("d_final", Pair),
        ("grads", Pair),
        ("carry", Pair),
        ("scratch", c_void_p),
        ("packed", c_void_p),
        ("packed_floats", c_int64),
        ("x", Pair),
        ("x_width", c_int64),
        ("w_in", c_void_p),
        ("w_in_stride", c_int64),
        ("bias", c_void_p),
        ("h_out_flipped", c_int32 * 2),
        ("x_flipped", c_int32 * 2),
        ("x_rows", c_void_p),
        ("h_out", Pair),
        ("h_out_ld", c_int64),
        ("after", Pair),
        ("after_count", c_int64 * 2),
    ]


class Product(ctypes.Structure):
    """``product`` of native.h: one GEMM a chain runs after its backward loop."""

    _fields_ = [
        ("trans_a", c_int32),
        ("trans_b", c_int32),
        ("add", c_int32),
        ("m", c_int64),
        ("n", c_int64),
        ("k", c_int64),
        ("lda", c_int64),
        ("ldb", c_int64),
        ("ldo", c_int64),
        ("a", c_void_p),
        ("b", c_void_p),
        ("out", c_void_p),
        ("temp", c_void_p),
    ]


# (sgemm, dgemm, set threads, get threads, 64-bit integers): NumPy's wheels (scipy-openblas,
# ILP64 or LP64), then a plain OpenBLAS (a NumPy built against the system's).
BLAS_SYMBOLS = [
    (
        "scipy_cblas_sgemm64_",
        "scipy_cblas_dgemm64_",
        "scipy_openblas_set_num_threads64_",
        "scipy_openblas_get_num_threads64_",
        True,
    ),
    (
        "scipy_cblas_sgemm",
        "scipy_cblas_dgemm",
        "scipy_openblas_set_num_threads",
        "scipy_openblas_get_num_threads",
        False,
    ),
    (
        "cblas_sgemm64_",
        "cblas_dgemm64_",
        "openblas_set_num_threads64_",
        "openblas_get_num_threads64_",
        True,
    ),
    ("cblas_sgemm", "cblas_dgemm", "openblas_set_num_threads", "openblas_get_num_threads", False),
]


@dataclass
class Library:
    """The loaded kernel, bound to a BLAS."""

    lib: ctypes.CDLL
    blas_path: str
    blas_threads: int  # NumPy's BLAS thread count when the library was loaded
    threads_controlled: bool  # whether the BLAS thread count can be set (OpenBLAS: yes)


def kernel_path() -> Path | None:
    here = Path(__file__).resolve().parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = here / f"_kernel{suffix}"
        if path.exists():
            return path
    return None


def numpy_blas_candidates() -> list[str]:
    """Shared libraries that may be NumPy's BLAS, most likely first.

    NumPy's wheels keep theirs next to the package (``numpy.libs`` on Linux and Windows,
    ``numpy/.dylibs`` on macOS); a NumPy built against the system's has it mapped already
    (Linux: listed in /proc/self/maps).
    """
    root = Path(np.__file__).resolve().parent
    found = [
        str(p)
        for folder in (root.parent / "numpy.libs", root / ".dylibs")
        if folder.is_dir()
        for p in sorted(folder.iterdir())
        if "openblas" in p.name.lower()
    ]
    maps = Path("/proc/self/maps")
    if maps.exists():
        for line in maps.read_text().splitlines():
            path = line.split()[-1]
            if "blas" in Path(path).name.lower() and path not in found:
                found.append(path)
    return found


def load() -> Library | str:
    """The kernel bound to NumPy's BLAS, or the reason it cannot be used."""
    if sys.byteorder != "little" or ctypes.sizeof(ctypes.c_void_p) != 8:
        return "the compiled kernel supports 64-bit little-endian platforms only"
    path = kernel_path()
    if path is None:
        return "the compiled kernel was not built (install with `pip install .` and a C compiler)"
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as err:
        return f"the compiled kernel {path.name} could not be loaded: {err}"
    lib.birnn_set_blas.argtypes = [c_void_p, c_void_p, ctypes.c_int, c_void_p, c_void_p]
    lib.birnn_scan_forward.argtypes = [ctypes.POINTER(ScanArgs)]
    lib.birnn_scan_backward.argtypes = [ctypes.POINTER(ScanArgs)]
    lib.birnn_tanh_f32.argtypes = [c_void_p, c_void_p, c_int64]
    lib.birnn_sigmoid_f32.argtypes = [c_void_p, c_void_p, c_int64]
    lib.birnn_blas_threads.argtypes = []
    lib.birnn_cell_kind.argtypes = [ctypes.c_char_p]
    lib.birnn_packed_floats.argtypes = [c_int64, c_int64]
    lib.birnn_packed_floats.restype = c_int64
    lib.birnn_rgemm_use.argtypes = [ctypes.c_int]
    lib.birnn_rgemm_f32.argtypes = [c_void_p, c_int64, c_int64, c_int64, c_int64, c_void_p]
    lib.birnn_rgemm_f32.argtypes += [c_void_p, c_int64, c_int64, c_void_p, c_int64, ctypes.c_int]
    if lib.birnn_abi_version() != ABI_VERSION:
        return f"the compiled kernel {path.name} is stale (rebuild with `pip install .`)"
    lib.birnn_cell_in_place.argtypes = [ctypes.c_int]
    lib.birnn_cell_packs.argtypes = [ctypes.c_int]
    lib.birnn_blas_threads_enter.argtypes = [ctypes.c_int]
    lib.birnn_blas_threads_leave.argtypes = []
    for adam in (lib.birnn_adam_f32, lib.birnn_adam_f64):
        adam.argtypes = [c_void_p, c_void_p, c_void_p, c_void_p, c_int64, c_void_p, ctypes.c_int]
    for blas_path in numpy_blas_candidates():
        try:
            blas = ctypes.CDLL(blas_path)  # already loaded by NumPy: the same copy
        except OSError:
            continue
        for sgemm, dgemm, set_threads, get_threads, ilp64 in BLAS_SYMBOLS:
            if not (hasattr(blas, sgemm) and hasattr(blas, dgemm)):
                continue
            setter = getattr(blas, set_threads, None)
            getter = getattr(blas, get_threads, None)
            if getter is not None:
                getter.restype = ctypes.c_int
            lib.birnn_set_blas(
                _address(getattr(blas, sgemm)),
                _address(getattr(blas, dgemm)),
                int(ilp64),
                _address(setter),
                _address(getter),
            )
            threads = int(getter()) if setter is not None and getter is not None else 0
            return Library(
                lib=lib,
                blas_path=blas_path,
                blas_threads=max(threads, 1),
                threads_controlled=threads > 0,
            )
    return "no OpenBLAS found among NumPy's libraries (the kernel calls NumPy's own BLAS)"


def _address(fn: Any) -> int | None:
    """The address of a library function, as an integer for a void * argument."""
    return None if fn is None else ctypes.cast(fn, c_void_p).value
