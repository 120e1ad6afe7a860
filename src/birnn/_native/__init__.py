"""birnn's optional compiled time loop (the "native" backend).

What it is
    The per-step loop of ``birnn.recurrent.scan`` (forward and backpropagation through time) for
    RNN (tanh, relu), GRU (both variants) and LSTM without projection, in float32 and float64,
    written in C, with each chain's input projections of all steps (one GEMM) before its loop.
    Everything else (the weight gradients, merges, stacking) stays NumPy: those are already one
    large GEMM each. One exception, in inference: a bidirectional concat layer's loop copies
    each step's h into its half of the output itself and adds the biases at each step (no
    ones column in a copy of x, no merge copy afterwards; ``Layer._infer_merged``), and keeps
    only two steps' states (a ring: a sequence's final states are never overwritten, since
    it stops running after its last step; ``Batch.last`` reads them there). And in
    inference, where W_in packed is at most ``kernel.PROJECT_STEPS_BYTES`` (2 MiB) and the cell
    packs, each step projects its own running rows, x_t W_in^T against W_in packed once per
    scan, instead of one BLAS GEMM over all steps: no padding row is projected, a_t is in cache
    for its step (the projections take one step's room, (D, 1, N, G*H), not the (D, T, N, G*H)
    of every step: ``Kernel.input_steps``), the backward chain reads x backwards in place (no
    flipped copy), and each row's result is independent of its place in the batch (a sequence
    alone gives the bits it gets within any batch). The NumPy loop remains the readable
    reference; this one computes the same equations in the same order (but float32's
    sigmoid, vmath.h). Besides the loop: Adam/AdamW's update in one pass (optim.c).

Files
    native.h   the structs passed from Python (``scan_args``) and between the C files; the tape
               layout in them (which extras and per-step gradients, their widths) is the
               Python cell's declaration (``extra_widths``, ``grad_widths``), passed per call
    scan.c     the time loop over the active rows n_t, the two directions on two threads
    cells.h    one step of each cell, forward and backward (a template over float / double),
               in a table under the names the cells give as ``native_step``
    cells.c    cells.h instantiated for float32 and float64
    vmath.h    a tanh and a sigmoid that vectorise (float32) and libm's (float64)
    rgemm.c    the recurrent product against W_hh packed once per scan (float32, AVX-512 or
               AVX2 chosen at load time; the BLAS otherwise), and inference's per-step input
               projection against W_in packed
    blas.c     GEMM through NumPy's own OpenBLAS; the BLAS thread count during a scan
    worker.c   the persistent helper thread that runs chain 1 when the chains run side by
               side (both sides poll briefly before sleeping: a wake-up cost ~80 us)
    optim.c    one Adam / AdamW step in a single pass, the NumPy update's bits
    library.py loading the library and binding it to NumPy's BLAS (ctypes)
    kernel.py  marshalling the arrays of ``scan_forward`` / ``scan_backward`` into ``scan_args``

One step (per chain)
    GEMM: the recurrent product of the n_t running rows, computed transposed, W_hh h_{t-1}^T
    (G*H x n_t): with OpenBLAS that is 8-20% faster than h_{t-1} W_hh^T at batches of 8-32;
    then one fused pass per row reads it (strided) and writes the tape's "gates" / "hh" and the
    states: input projection added, every gate nonlinearity, the state update, the values the
    backward step needs. Backward: one fused pass computing d(pre-activation) from the tape,
    then one GEMM for dh_{t-1} (GRU adds the direct path through beta = 1, not a second pass).
    GRU with reset_after=False needs two products per step (the second reads r * h_{t-1}) and
    keeps the plain layout.

In place (LSTM, GRU: ``cell_steps.in_place``)
    The forward step finds its input projection in the tape's gates row and writes the gates
    over it; the backward step finds the gates in da's row and writes da over them (GRU: also
    hh_n -> dhh_n). A training step thus keeps one (D, T, N, G*H) array where it kept two, and
    a backward consumes its tape (``RecurrentModule.backward(retain_tape=...)``).

Threads
    ``birnn.set_num_threads(n)``; the default is 1 (``birnn.backend``). A layer's two directions
    are independent chains; they run in turn, each recurrent GEMM on n threads of NumPy's
    OpenBLAS pool, or side by side, chain 1 on a persistent helper thread (worker.c), each with
    n // 2 BLAS threads: when birnn has more threads than that pool (within
    ``backend.chain_threads``, which bidirectional modules, training steps and prediction use),
    or when the packed product has enough work (less for inference than for training).
    ``kernel.plan`` says why that is the rule. OpenBLAS's thread count is process-wide, so it
    is set for the duration of a scan and restored after; NumPy's other GEMMs keep NumPy's
    setting.

Building
    ``pip install .`` compiles it (setup.py, an optional extension: without a compiler the
    package still installs and runs on NumPy). ``python setup.py build_ext --inplace`` builds it
    in a checkout for ``PYTHONPATH=src``.
"""

from __future__ import annotations

from birnn._native.kernel import Kernel
from birnn._native.library import load as _load_library

_loaded: list[Kernel | str] = []  # one entry once loading was attempted


def load() -> Kernel | None:
    """The compiled kernel, or None if it cannot be used here (see ``unavailable_reason``)."""
    if not _loaded:
        found = _load_library()
        _loaded.append(found if isinstance(found, str) else Kernel(found))
    kernel = _loaded[0]
    return kernel if isinstance(kernel, Kernel) else None


def unavailable_reason() -> str | None:
    """Why the compiled kernel cannot be used, or None if it can."""
    load()
    reason = _loaded[0]
    return reason if isinstance(reason, str) else None
