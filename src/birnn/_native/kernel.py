"""The compiled time loop behind ``birnn.recurrent.scan``: same arrays in, same arrays out.

``scan_forward`` and ``scan_backward`` allocate the tape and gradient arrays exactly as for the
NumPy loop, then hand them to :class:`Kernel`, which fills them in C: the states, the cell's
extras, the per-step gradients and the carry. Which extras and gradients, in which slot and of
which width, is the cell's own declaration (``Cell.extra_widths``, ``Cell.grad_widths``), and
which compiled step runs it is ``Cell.native_step``; this module only passes them on.
The GEMMs over all steps after the backward loop (``birnn.cells.sums``: the parameter
gradients and dx) are declared in Python and run here, each chain's on its own thread right
after its steps; everything else after the loop (``Cell.param_grads``) is shared with the
NumPy path.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from birnn._native.library import Library, Product, ScanArgs
from birnn.cells.base import Cell, Weights
from birnn.cells.sums import Sums
from birnn.recurrent.sequence import Batch

if TYPE_CHECKING:  # scan imports this module (through birnn.backend)
    from birnn.recurrent.scan import ScanTape
    from birnn.recurrent.workspace import Workspace

Array = NDArray[np.floating]

REAL_TYPES = (np.dtype(np.float32), np.dtype(np.float64))
SLOTS = 2  # extras and grads slots of scan_args


# Chains whose recurrent product runs in the packed kernel (float32, rgemm.c) go side by side in
# the forward pass when a chain's recurrent products hold at least this many multiply-adds
# (steps x batch x W_hh's size); never in the backward pass. See plan.
PACKED_SIDE_BY_SIDE_WORK = 2e8
# ... and in a forward pass that records no tape (inference), from this much work on: between
# inference calls no NumPy GEMM runs, so no BLAS pool thread spins on the second core.
PACKED_SIDE_BY_SIDE_INFER_WORK = 1e7
PACKED_SIDE_BY_SIDE_BATCH = 32  # the largest batch measured with the packed product on 2 threads
# Inference projects each step's running rows, x_t W_in^T, with W_in packed (rgemm.c) when it
# is at most this big: it then stays in cache from step to step, no padding row is projected,
# and a_t is in cache for the step. LSTM inference, 2 threads, Zen 5, per-step / one BLAS GEMM
# over all steps, alternating in one process: config a 0.98, b 0.97 (W_in 1.2 and 2 MiB), d
# 1.00, e 0.91, d ragged 0.90, EWT-tagger shape (256 x 40) 0.94; config c (W_in 4 and 8 MiB)
# 1.14, slower. Training keeps the one GEMM (0.98-1.02, within the noise).
PROJECT_STEPS_BYTES = 2 << 20


def plan(
    chains: int,
    threads: int,
    pool: int,
    packed: bool = False,
    step: str = "forward",
    work: float = 0.0,
) -> tuple[bool, int]:
    """(run the two chains side by side, BLAS threads per chain) for ``threads`` threads, when
    NumPy's OpenBLAS has a pool of ``pool`` threads.

    The rule: chains side by side (chain 1 on a helper thread, each with threads // 2 BLAS
    threads) only when birnn has more threads than NumPy's BLAS pool; otherwise the chains run
    in turn, each recurrent GEMM on all ``threads`` threads of that pool.

    Why (measured, BENCHMARKS.md): a layer's two directions are independent, and at batch 8-32 a
    second BLAS thread on one GEMM buys only 1.3-1.6x. But OpenBLAS keeps its pool's threads
    spinning for ~0.1 s after every multithreaded call, and the layer's input projection (a
    NumPy GEMM) runs right before each scan: a spinning pool thread holds the second core, the
    scheduler puts the helper thread on the caller's core, and the two chains end up running one
    after the other. Giving the GEMMs to the pool that is awake anyway is faster (config d
    inference loop 3.1 against 5.0 ms, e 27 against 36). With OPENBLAS_NUM_THREADS=1 there is no
    pool to spin, and ``set_num_threads(2)`` then runs the chains side by side. Bidirectional
    modules run every call within ``backend.chain_threads`` (the pool on one thread), so their
    scans always take this first rule; the packed-product rules below decide only for scans run
    with the shared pool (a ``Layer`` used on its own).

    With the packed recurrent product (single-threaded, no pool to spin: each chain computes
    its own input projections) the forward chains go side by side when a chain's ``work``
    (multiply-adds of its recurrent products) is at least PACKED_SIDE_BY_SIDE_WORK: measured
    (BENCHMARKS.md, quiet machine, LSTM inference) e 42 -> 31 ms, b 89 -> 66-79 ms, but d
    (25 steps, batch 16) 6.4 -> 7.2 ms; the backward pass was slower side by side in all three.
    A forward pass for inference (``step="infer"``) goes side by side from
    PACKED_SIDE_BY_SIDE_INFER_WORK on: re-measured on a quiet machine (bench.py, two runs each,
    birnn's own times) LSTM a 10.4-12.2 -> 7.3-8.2 ms, d 6.1-10.0 -> 4.9-5.0, GRU d 4.8-5.0 ->
    3.7-3.9, RNN d 2.2-2.3 -> 1.7-2.0; in training the forward stays in turn below
    PACKED_SIDE_BY_SIDE_WORK (LSTM a 25.5-32.2 in turn against 28.0-32.4 side by side: the
    backward's 2-thread GEMMs leave OpenBLAS's pool spinning into the next forward).
    """
    threshold = PACKED_SIDE_BY_SIDE_INFER_WORK if step == "infer" else PACKED_SIDE_BY_SIDE_WORK
    packed_side = packed and step in ("forward", "infer") and work >= threshold
    side_by_side = pool < threads or packed_side
    if chains == 2 and threads >= 2 and side_by_side:
        return True, threads // 2
    return False, threads


class Kernel:
    """The loaded library; ``threads`` comes from ``birnn.set_num_threads``."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.lib = library.lib
        self._kinds: dict[str, int] = {}
        self._in_place: dict[str | None, list[tuple[str, str]]] = {}

    def kind(self, cell: Cell) -> int | None:
        """The index of ``cell``'s compiled steps, or None if it has none."""
        name = cell.native_step
        if name is None:
            return None
        if name not in self._kinds:
            self._kinds[name] = int(self.lib.birnn_cell_kind(name.encode()))
        found = self._kinds[name]
        return found if found >= 0 else None

    def in_place(self, cell: Cell) -> list[tuple[str, str]]:
        """(extra, grad) names of the tape slots ``cell``'s compiled steps work in place on
        (``cell_steps.in_place`` in native.h): the backward step finds the extra's values in
        the grad's array and overwrites them with the gradient; the first slot's extra (the
        gates) is also written over the input projections ``a`` in the forward step."""
        name = cell.native_step
        if name not in self._in_place:  # once per kind of step: every scan asks
            kind = self.kind(cell)
            bits = int(self.lib.birnn_cell_in_place(kind)) if kind is not None else 0
            pairs = zip(cell.extra_widths(), cell.grad_widths())
            self._in_place[name] = [pair for slot, pair in enumerate(pairs) if bits >> slot & 1]
        return self._in_place[name]

    def supports(self, cell: Cell, dtype: np.dtype) -> bool:
        return (
            np.dtype(dtype) in REAL_TYPES
            and self.kind(cell) is not None
            and len(cell.extra_widths()) <= SLOTS
            and len(cell.grad_widths()) <= SLOTS
        )

    def _args(
        self,
        cell: Cell,
        w: Weights,
        batch: Batch,
        shape: tuple[int, ...],
        threads: int,
        step: str = "forward",
    ) -> tuple[ScanArgs, NDArray[np.int64]]:
        """The struct fields every scan shares, and the lengths array it points to."""
        kind = self.kind(cell)
        assert kind is not None
        chains, steps, size = shape[:3]
        if self.library.threads_controlled:
            packed = w.w_hh.dtype == np.float32 and self.lib.birnn_rgemm_use(-1) > 0
            pool = self.lib.birnn_blas_threads()
            work = float(steps) * size * (w.w_hh.size // chains)
            if size > PACKED_SIDE_BY_SIDE_BATCH:
                work = 0.0
            concurrent, blas_threads = plan(chains, threads, pool, packed, step, work)
        else:
            concurrent, blas_threads = False, 1
        lengths = np.ascontiguousarray(batch.lengths, dtype=np.int64)
        args = ScanArgs(
            cell=kind,
            real_size=w.w_hh.dtype.itemsize,
            concurrent=int(concurrent),
            blas_threads=blas_threads,
            states=len(cell.state_sizes),
            chains=chains,
            steps=steps,
            batch=size,
            hidden=cell.hidden_size,
            gates=w.w_hh.shape[1],
            lengths=lengths.ctypes.data,
        )
        for i, width in enumerate(cell.extra_widths().values()):
            args.extra_width[i] = width
        for i, width in enumerate(cell.grad_widths().values()):
            args.grad_width[i] = width
        return args, lengths

    def _packs(self, args: ScanArgs) -> bool:
        """Whether the scan's recurrent products run on the packed kernel (``_packed``)."""
        if args.blas_threads > 1 and args.batch > PACKED_SIDE_BY_SIDE_BATCH:
            return False
        return args.real_size == 4 and self.lib.birnn_rgemm_use(-1) > 0

    def _projects_steps(self, args: ScanArgs, width: int, keep_tape: bool) -> bool:
        """Whether an inference scan projects each step's rows itself, x_t W_in^T against W_in
        packed (PROJECT_STEPS_BYTES at most), rather than every step's in one BLAS GEMM."""
        fits = args.gates * width * args.real_size <= PROJECT_STEPS_BYTES
        packs = bool(self.lib.birnn_cell_packs(args.cell))
        return not keep_tape and fits and packs and self._packs(args)

    def input_steps(
        self, cell: Cell, w: Weights, batch: Batch, width: int, threads: int, keep_tape: bool
    ) -> int:
        """The steps of input projections ``forward`` needs room for in ``a``: all of them, or
        one where each step projects its own rows (``scan_forward`` asks before it allocates
        ``a``: inference then needs (D, 1, N, G*H), not (D, T, N, G*H))."""
        shape = (w.w_hh.shape[0], batch.steps, batch.size)
        args, _ = self._args(cell, w, batch, shape, threads, "forward" if keep_tape else "infer")
        return 1 if self._projects_steps(args, width, keep_tape) else batch.steps

    def _packed(
        self,
        args: ScanArgs,
        rows: int,
        depth: int,
        dtype: np.dtype,
        ws: Workspace | None,
        input_depth: int = 0,
    ) -> Array | None:
        """Room for each chain's W packed for the recurrent product (float32; rgemm.c), from the
        workspace (so it is not mapped anew at every call), or None: the steps use the BLAS.
        Forward (W_hh) and backward (its transpose, as many numbers) share one buffer: a
        module runs one scan at a time. ``input_depth``: room for W_in (G*H x input_depth)
        too, after W_hh, and the loop then projects each step's rows itself (inference).

        The packed product runs on one thread: above batch 32, a chain given more BLAS threads
        is faster on the BLAS (measured, quiet machine, LSTM config c inference on 2 threads:
        987 ms packed against 836 ms on the BLAS; at batch 8-32 the two were within the noise
        of the benchmark, BENCHMARKS.md)."""
        if not self._packs(args):
            return None
        per_chain = int(self.lib.birnn_packed_floats(rows, depth))
        if input_depth:  # W_in packed after W_hh: each step projects its own rows
            per_chain += int(self.lib.birnn_packed_floats(rows, input_depth))
            args.project_steps = 1
        shape = (args.chains, per_chain)
        buffer = ws.get("packed", shape, dtype) if ws is not None else np.empty(shape, dtype)
        args.packed, args.packed_floats = _ptr(buffer), per_chain
        return buffer

    def forward(
        self,
        cell: Cell,
        w: Weights,
        inputs: list[Array],
        a: Array,
        init: tuple[Array, ...],
        states: tuple[Array, ...],
        extras: dict[str, Array],
        batch: Batch,
        threads: int,
        ws: Workspace | None = None,
        keep_tape: bool = True,
        out: Array | None = None,
        reversed_inputs: tuple[int, ...] = (),
    ) -> None:
        """Fill ``a`` with the input projections of ``inputs``, then ``states`` and ``extras``
        (shapes as ``scan_forward`` allocates them); ``keep_tape=False``: inference (``plan``).

        ``inputs`` of width F where the cell has biases (no ones column): the loop adds the
        biases at each step. Inference only: ``out`` (T, N, D*H) also receives each chain's h
        in its columns, in time order (chain 1 flipped back per sequence); the chains listed
        in ``reversed_inputs`` are given their input in time order and scan it flipped per
        sequence (the loop reads it backwards where it projects each step, else it is flipped
        here)."""
        init = tuple(_contiguous(s) for s in init)
        inputs = [_contiguous(x) for x in inputs]
        step = "forward" if keep_tape else "infer"
        shape = (a.shape[0], batch.steps, batch.size)
        args, lengths = self._args(cell, w, batch, shape, threads, step)
        w_hh = _contiguous(w.w_hh)
        w_in = _contiguous(w.w_ih_t.transpose(0, 2, 1))  # (D, G*H, F[+1]): the view's base
        width = inputs[0].shape[1]
        project = width if self._projects_steps(args, width, keep_tape) else 0
        if a.shape[1] < (1 if project else batch.steps):
            raise ValueError(f"internal: a has room for {a.shape[1]} steps (input_steps)")
        packed = self._packed(args, args.gates, args.hidden, a.dtype, ws, project)
        x_rows = None
        if reversed_inputs and args.project_steps:
            x_rows = np.empty((len(inputs), args.batch), np.uintp)  # each step's row addresses
            args.x_rows = _ptr(x_rows)
            for j in reversed_inputs:
                args.x_flipped[j] = 1
        elif reversed_inputs:  # flipped copies, in the workspace (no fresh pages each call)
            shape = (batch.steps, batch.size, width)
            for j in reversed_inputs:
                room = ws.get(f"x{j}", shape, a.dtype) if ws is not None else None
                inputs[j] = batch.flip(inputs[j].reshape(shape), out=room).reshape(-1, width)
        _pairs(args.x, inputs)
        args.x_width, args.w_in, args.w_in_stride = width, _ptr(w_in), w_in.shape[2]
        bias = _contiguous(w_in[..., width]) if width < w_in.shape[2] else None  # (D, G*H)
        args.bias = _ptr(bias)
        if out is not None:
            assert not keep_tape and out.strides[-1] == out.itemsize and out.flags.c_contiguous
            column = cell.hidden_size * out.itemsize  # chain j's columns start j * H in
            for j in range(a.shape[0]):
                args.h_out[j] = out.ctypes.data + j * column
            args.h_out_ld = out.shape[2]
            args.h_out_flipped[1] = 1
        b_hn = _contiguous(w.extra["b_hn"][:, 0, :]) if "b_hn" in w.extra else None
        args.kept = a.shape[1] if keep_tape else 1  # steps the extras keep
        args.states_kept = states[0].shape[1]
        scratch = np.empty(a.shape[0] * a.shape[2] * a.shape[3], a.dtype)  # (D, N, G*H)
        args.a, args.w, args.b_hn, args.scratch = _ptr(a), _ptr(w_hh), _ptr(b_hn), _ptr(scratch)
        _pairs(args.init, init)
        _pairs(args.states_out, states)
        _pairs(args.extras, [extras[name] for name in cell.extra_widths()])
        if self.lib.birnn_scan_forward(ctypes.byref(args)) != 0:
            raise RuntimeError(f"birnn native forward failed for {type(cell).__name__}")
        del lengths, init, inputs, w_hh, w_in, bias, b_hn, scratch, packed  # alive until here
        del x_rows

    def backward(
        self,
        cell: Cell,
        w: Weights,
        tape: ScanTape,
        d_out: Array | None,
        d_final: tuple[Array | None, ...],
        grads: dict[str, Array],
        carry: tuple[Array, ...],
        batch: Batch,
        threads: int,
        ws: Workspace | None = None,
        after: Sequence[tuple[Sums, dict[str, Array]]] = (),
    ) -> None:
        """Fill ``grads`` and ``carry`` (shapes as ``scan_backward`` allocates them), then
        each chain's ``after`` sums (``birnn.cells.sums``) into their given arrays."""
        states, extras = tape.states, tape.extras
        init = tuple(_contiguous(s) for s in tape.init)
        args, lengths = self._args(cell, w, batch, states[0].shape, threads, "backward")
        w_hh = _contiguous(w.w_hh)
        d_o = None if d_out is None else _contiguous(d_out)
        d_fin = [None if d is None else _contiguous(d) for d in d_final]
        chains, _, size, _ = states[0].shape
        scratch = np.empty((chains, size, args.gates), states[0].dtype)
        args.kept = args.states_kept = states[0].shape[1]
        args.w, args.d_out, args.scratch = _ptr(w_hh), _ptr(d_o), _ptr(scratch)
        dtype = states[0].dtype
        packed = self._packed(args, args.hidden, args.gates, dtype, ws)
        _pairs(args.init, init)
        _pairs(args.states_out, states)
        _pairs(args.extras, [extras[name] for name in cell.extra_widths()])
        _pairs(args.d_final, d_fin)
        _pairs(args.grads, [grads[name] for name in cell.grad_widths()])
        _pairs(args.carry, carry)
        products = [_products(chain, outs, f"temp{d}", ws) for d, (chain, outs) in enumerate(after)]
        for d, (items, _) in enumerate(products):
            args.after[d], args.after_count[d] = ctypes.addressof(items), len(items)
        if self.lib.birnn_scan_backward(ctypes.byref(args)) != 0:
            raise RuntimeError(f"birnn native backward failed for {type(cell).__name__}")
        del lengths, init, w_hh, d_o, d_fin, scratch, packed, products  # alive until here

    def blas_threads_enter(self, threads: int) -> None:
        """Set NumPy's BLAS pool to ``threads`` until the matching ``blas_threads_leave``
        (counted with the scans' own settings: the outermost leave restores the pool)."""
        self.lib.birnn_blas_threads_enter(threads)

    def blas_threads_leave(self) -> None:
        self.lib.birnn_blas_threads_leave()

    def use_product_variant(self, panel: int) -> int:
        """For tests and benchmarks: the recurrent product's variant by its panel rows (32:
        AVX-512, 16: AVX2, 0: the BLAS), if the CPU runs it; returns the panel in use."""
        return int(self.lib.birnn_rgemm_use(panel))

    def product_f32(
        self, w: NDArray[np.float32], x: NDArray[np.float32], out: NDArray[np.float32],
        accumulate: bool = False,
    ) -> int:  # fmt: skip
        """For the tests: ``out (+)= x @ w.T`` through the packed kernel (w (rows, depth), any
        strides); returns the panel used (0: no kernel here, ``out`` untouched)."""
        item = w.itemsize
        rows, depth = w.shape
        buffer = np.empty(int(self.lib.birnn_packed_floats(rows, depth)) or 1, np.float32)
        return int(
            self.lib.birnn_rgemm_f32(
                w.ctypes.data, rows, depth, w.strides[0] // item, w.strides[1] // item,
                _ptr(buffer), x.ctypes.data, x.strides[0] // item, x.shape[0],
                out.ctypes.data, out.strides[0] // item, int(accumulate),
            )
        )  # fmt: skip

    def adam_step(
        self, p: Array, g: Array, m: Array, v: Array, scalars: Sequence[float], decay: int
    ) -> bool:
        """One Adam step on ``p`` in place (optim.c; ``scalars`` and ``decay`` as documented
        there), or False, touching nothing, where the arrays do not suit the loop (another
        dtype, not C-contiguous, or not all of one dtype and shape)."""
        arrays = (p, g, m, v)
        if p.dtype not in REAL_TYPES or any(
            a.dtype != p.dtype or a.shape != p.shape or not a.flags.c_contiguous for a in arrays
        ):
            return False
        if not (p.flags.writeable and m.flags.writeable and v.flags.writeable):
            return False
        h = np.ascontiguousarray(scalars, dtype=np.float64)
        fn = self.lib.birnn_adam_f32 if p.dtype == np.float32 else self.lib.birnn_adam_f64
        fn(_ptr(p), _ptr(g), _ptr(m), _ptr(v), p.size, _ptr(h), decay)
        return True

    def tanh_f32(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        """The kernel's float32 tanh (for the accuracy test)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = np.empty_like(x)
        self.lib.birnn_tanh_f32(_ptr(x), _ptr(y), x.size)
        return y

    def sigmoid_f32(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        """The kernel's float32 sigmoid (for the accuracy test)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = np.empty_like(x)
        self.lib.birnn_sigmoid_f32(_ptr(x), _ptr(y), x.size)
        return y


def _products(
    chain: Sums, outs: dict[str, Array], prefix: str, ws: Workspace | None
) -> tuple[ctypes.Array, list[Array]]:
    """A chain's sums as ``product`` structs, each into its array of ``outs``, and the
    temporary arrays they point to (alive until the call returns; in ``ws`` if given, under
    names that start with ``prefix``)."""
    items, temps = [], []
    for name, terms in chain.items():
        out = outs[name]
        transposed, ldo = _operand(out)
        if transposed:
            raise ValueError("internal: a sum's array must have rows of unit stride")
        for i, (a, b) in enumerate(terms):
            trans_a, lda = _operand(a)
            trans_b, ldb = _operand(b)
            temp = None
            if i:
                shape = (a.shape[0], b.shape[1])
                temp = (
                    ws.get(f"{prefix}.{name}.{i}", shape, out.dtype)
                    if ws
                    else np.empty(shape, out.dtype)
                )
                temps.append(temp)
            items.append(
                Product(
                    trans_a=trans_a, trans_b=trans_b, add=int(i > 0),
                    m=a.shape[0], n=b.shape[1], k=a.shape[1], lda=lda, ldb=ldb, ldo=ldo,
                    a=a.ctypes.data, b=b.ctypes.data, out=out.ctypes.data,
                    temp=None if temp is None else temp.ctypes.data,
                )
            )  # fmt: skip
    return (Product * len(items))(*items), temps


def _operand(x: Array) -> tuple[int, int]:
    """(transposed, leading dimension) of a 2-D array for the BLAS, as NumPy's matmul passes
    it: rows of unit stride as they are, else columns of unit stride as the transpose."""
    item = x.itemsize
    rows, cols = x.strides
    if cols == item and rows % item == 0 and rows // item >= x.shape[1]:
        return 0, max(rows // item, 1)
    if rows == item and cols % item == 0 and cols // item >= x.shape[0]:
        return 1, max(cols // item, 1)
    raise ValueError(f"internal: the BLAS cannot read an array of strides {x.strides}")


def _contiguous(x: Array) -> Array:
    return x if x.flags.c_contiguous else np.ascontiguousarray(x)


def _ptr(x: NDArray | None) -> int | None:
    """Address of a C-contiguous array's data (the caller keeps the array alive)."""
    if x is None:
        return None
    if not x.flags.c_contiguous:
        raise ValueError("internal: the native kernel needs C-contiguous arrays")
    return int(x.ctypes.data)


def _pairs(slot: ctypes.Array, arrays: Sequence[NDArray | None]) -> None:
    for i, x in enumerate(arrays):
        slot[i] = _ptr(x)
