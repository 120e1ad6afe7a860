"""Build script for the optional compiled time loop (``birnn._native``); metadata is in pyproject.

``pip install .`` (or ``-e .``) compiles ``src/birnn/_native/*.c`` into one shared library. The
extension is ``optional``: if there is no C compiler, or the build fails, the package installs
anyway and runs on its NumPy path (``birnn.get_backend()`` says which one is used, and the first
call logs why the compiled one is missing).

The library is loaded with ctypes, not imported, so it does not use the Python C API. Flags:
-O3 vectorises the fused gate loops for the baseline instruction set (no -march=native: the
result must run on any machine of the architecture); -fno-trapping-math lets the compiler
evaluate both sides of a branch-free select (it changes floating-point exception flags, never
results); -fno-math-errno lets it vectorise sqrt (errno is never read); no -ffast-math (NaN handling and the accuracy against NumPy must stay).
"""

import sys

from setuptools import Extension, setup

NATIVE = "src/birnn/_native/"

if sys.platform == "win32":  # MSVC: no pthreads; the build fails and NumPy is used
    FLAGS: list[str] = ["/O2"]
else:
    FLAGS = ["-O3", "-std=gnu11", "-fvisibility=hidden", "-fno-trapping-math"]
    FLAGS += ["-fno-math-errno", "-pthread"]

kernel = Extension(
    "birnn._native._kernel",
    sources=[NATIVE + name for name in ("blas.c", "cells.c", "optim.c", "rgemm.c", "scan.c", "worker.c")],
    depends=[NATIVE + name for name in ("native.h", "cells.h", "vmath.h")],
    extra_compile_args=FLAGS,
    extra_link_args=[] if sys.platform == "win32" else ["-pthread"],
    libraries=[] if sys.platform == "win32" else ["m"],
    optional=True,
)

setup(ext_modules=[kernel])
