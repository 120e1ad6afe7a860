"""Time birnn against torch.nn.{RNN,GRU,LSTM}, side by side in one process.

Both libraries run the same bidirectional float32 model with the same weights on the same input,
with the same number of threads (2 unless OMP_NUM_THREADS says otherwise). For each case the
script checks that the two agree, warms both up, then times them in alternation (birnn, torch,
torch, birnn, ...) so that drift in the machine's speed hits both alike, and reports medians.

* infer: birnn ``m(x, lengths=...)``; torch's module under ``torch.inference_mode()``.
* train: forward plus backward of the scalar loss sum(out). birnn ``m.forward(x, training=True)``
  then ``m.backward(tape, d_out=ones)``; torch ``out.sum().backward()`` with ``x.requires_grad``
  set, because birnn's backward also returns dx. Zeroing torch's grads is not timed.
* ragged (config d, ``--ragged``): unsorted lengths in [1, T]; torch packs with
  ``pack_padded_sequence(enforce_sorted=False)`` and pads back (both inside the timing), birnn
  takes ``lengths=`` on the padded array.

* backends (``--backend native,numpy``): every case is timed once per birnn backend, each against
  its own alternating torch calls; the table has a backend column.
* memory (``--memory``): peak memory of a training step, birnn and torch, each measured in a fresh
  child process holding both models and inputs: the rise of the peak resident set size over
  three training steps above the resident size just before them (Linux /proc; the peak is reset
  through /proc/self/clear_refs). Workspace memory birnn keeps between calls counts.

FLOPs (ANCHORS.md): one forward pass costs 2 directions * T * N * 2*(in+H)*G*H summed over layers
(G = 4 LSTM, 3 GRU, 1 RNN; in = 2H above layer 0); a training step about 3x that. Ragged cases
count sum(lengths) in place of T * N.

Run from the repository root:  PYTHONPATH=src python3 benchmarks/bench.py --help
"""

from __future__ import annotations

import os

# NumPy's BLAS reads its thread count once, when numpy is first imported: fix it before that.
THREADS = int(os.environ.setdefault("OMP_NUM_THREADS", "2"))
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(THREADS))

import argparse  # noqa: E402
import gc  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

try:
    import birnn
except ImportError:  # run from a checkout without installing: use ../src
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import birnn


@dataclass(frozen=True)
class Config:
    """One benchmark shape (ANCHORS.md); every model is bidirectional."""

    input_size: int
    hidden_size: int
    num_layers: int
    batch: int
    seq: int


CONFIGS = {
    "a": Config(input_size=100, hidden_size=128, num_layers=1, batch=32, seq=50),
    "b": Config(input_size=300, hidden_size=256, num_layers=2, batch=32, seq=50),
    "c": Config(input_size=512, hidden_size=512, num_layers=2, batch=64, seq=100),
    "d": Config(input_size=100, hidden_size=200, num_layers=1, batch=16, seq=25),
    "e": Config(input_size=64, hidden_size=128, num_layers=1, batch=8, seq=1000),
}
RAGGED_CONFIG = "d"
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
BIRNN_CELLS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
TORCH_CELLS = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}
MODES = ("infer", "train")


@dataclass
class Row:
    """One measured case."""

    cell: str
    config: str
    mode: str
    birnn_ms: float
    torch_ms: float
    gflop: float  # work of one timed call, in GFLOP
    error: float  # max |birnn - torch| / max |torch| over outputs (infer) or gradients (train)
    repeats: int
    noisy: int  # timed blocks kept although other processes used the CPUs during them
    backend: str  # birnn's time loop: "native" or "numpy"
    birnn_mib: float | None = None  # peak memory of a training step (--memory)
    torch_mib: float | None = None

    @property
    def ratio(self) -> float:
        return self.birnn_ms / self.torch_ms


def forward_gflop(cell: str, cfg: Config, tokens: int) -> float:
    """FLOPs of one bidirectional forward pass over ``tokens`` (time step, sequence) pairs."""
    g, h = GATES[cell], cfg.hidden_size
    flops = 0
    for layer in range(cfg.num_layers):
        width = cfg.input_size if layer == 0 else 2 * h
        flops += 2 * tokens * 2 * (width + h) * g * h
    return flops / 1e9


def ragged_lengths(cfg: Config, rng: np.random.Generator) -> np.ndarray:
    """Unsorted lengths in [1, T], the longest equal to T (so the padded shape is tight)."""
    lengths = rng.integers(1, cfg.seq + 1, size=cfg.batch)
    lengths[rng.integers(cfg.batch)] = cfg.seq
    return lengths


def rel_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.max(np.abs(ours - theirs)) / max(float(np.max(np.abs(theirs))), 1e-30))


class Case:
    """One cell and config: a torch module, a birnn module with the same weights, one input."""

    def __init__(self, cell: str, cfg: Config, ragged: bool, seed: int) -> None:
        rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        self.cfg = cfg
        self.tm = TORCH_CELLS[cell](
            cfg.input_size, cfg.hidden_size, num_layers=cfg.num_layers, bidirectional=True
        )
        self.bm = getattr(birnn, BIRNN_CELLS[cell])(
            cfg.input_size,
            cfg.hidden_size,
            num_layers=cfg.num_layers,
            bidirectional=True,
            dtype=np.float32,
            seed=seed,
        )
        self.bm.load_state_dict({k: v.detach().numpy() for k, v in self.tm.state_dict().items()})
        self.x = rng.standard_normal((cfg.seq, cfg.batch, cfg.input_size)).astype(np.float32)
        self.lengths = ragged_lengths(cfg, rng) if ragged else None
        self.tokens = int(self.lengths.sum()) if ragged else cfg.seq * cfg.batch
        self.d_out = np.ones((cfg.seq, cfg.batch, 2 * cfg.hidden_size), dtype=np.float32)
        self.xt = torch.from_numpy(self.x.copy())
        self.xt_grad = torch.from_numpy(self.x.copy()).requires_grad_(True)
        self.lengths_t = None if self.lengths is None else torch.from_numpy(self.lengths)

    # -- torch -------------------------------------------------------------------------------

    def torch_forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.lengths_t is None:
            return self.tm(x)[0]
        rnn_utils = torch.nn.utils.rnn
        packed = rnn_utils.pack_padded_sequence(x, self.lengths_t, enforce_sorted=False)
        out, _ = rnn_utils.pad_packed_sequence(self.tm(packed)[0], total_length=self.cfg.seq)
        return out

    def torch_infer(self) -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            self.torch_forward(self.xt)
        return time.perf_counter() - start

    def torch_train(self) -> float:
        self.tm.zero_grad(set_to_none=True)
        self.xt_grad.grad = None
        start = time.perf_counter()
        self.torch_forward(self.xt_grad).sum().backward()
        return time.perf_counter() - start

    # -- birnn -------------------------------------------------------------------------------

    def birnn_infer(self) -> float:
        start = time.perf_counter()
        self.bm(self.x, lengths=self.lengths)
        return time.perf_counter() - start

    def birnn_train(self) -> float:
        start = time.perf_counter()
        _, _, tape = self.bm.forward(self.x, lengths=self.lengths, training=True)
        self.bm.backward(tape, self.d_out)
        return time.perf_counter() - start

    # -- agreement ---------------------------------------------------------------------------

    def infer_error(self) -> float:
        out, _ = self.bm(self.x, lengths=self.lengths)
        with torch.inference_mode():
            ref = self.torch_forward(self.xt).numpy()
        return rel_error(out, ref)

    def train_error(self) -> float:
        _, _, tape = self.bm.forward(self.x, lengths=self.lengths, training=True)
        dx, _, grads = self.bm.backward(tape, self.d_out)
        self.tm.zero_grad(set_to_none=True)
        self.xt_grad.grad = None
        self.torch_forward(self.xt_grad).sum().backward()
        errors = [rel_error(dx, self.xt_grad.grad.numpy())]
        for name, param in self.tm.named_parameters():
            errors.append(rel_error(grads[name], param.grad.numpy()))
        return max(errors)


BLOCK = 3  # timed calls per block of one library (see time_alternating)
QUIET = 0.05  # a block is quiet if other processes used at most this share of the CPUs
RETRIES = 4  # noisy blocks tolerated per kept block before noisy ones are kept too
# Untimed calls open each block for at least this long: OpenBLAS's pool threads spin ~0.1 s after
# a multithreaded call (2^28 cycles) and torch's OpenMP threads spin too, so a block started
# right after the other library's ran against its spinning threads (measured: torch's LSTM d
# inference 7.9-9.5 ms after birnn's 2-thread GEMMs, 3.5-5.5 ms alone in its own process).
# Calls, not a sleep: after an idle pause this machine runs the next calls slower for a while
# (birnn's d inference 4.5 ms back to back, 7.9 ms after a 0.2 s sleep).
SETTLE = 0.15


class OthersCpu:
    """CPU seconds other processes used since creation: the machine's busy time (Linux
    /proc/stat, in clock ticks) minus this process's own (all its threads). 0 without /proc."""

    TICK = 1 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01

    def __init__(self) -> None:
        self.start = (self._busy(), time.process_time())

    @staticmethod
    def _busy() -> float:
        try:
            with open("/proc/stat") as f:
                ticks = [int(v) for v in f.readline().split()[1:]]
        except OSError:
            return 0.0
        return (sum(ticks) - ticks[3] - ticks[4]) * OthersCpu.TICK  # all but idle and iowait

    def quiet(self, seconds: float) -> bool:
        """Whether others used at most QUIET of the CPUs over ``seconds`` (one tick of slack)."""
        busy = self._busy() - self.start[0]
        others = busy - (time.process_time() - self.start[1]) if busy else 0.0
        return others <= QUIET * (os.cpu_count() or 1) * seconds + 1.5 * self.TICK


def time_alternating(
    ours: Callable[[], float], theirs: Callable[[], float], warmup: int, repeats: int, budget: float
) -> tuple[list[float], list[float], int]:
    """Warm both up, then time them in alternating blocks; fewer repeats if over ``budget`` s.

    Each block is BLOCK timed calls of one library after untimed ones filling at least SETTLE s
    (the other library's thread pool, OpenMP in torch or OpenBLAS's in NumPy, spins for a while
    after its last call; at least one untimed call). Blocks alternate ABBA.

    A block during which other processes used more than QUIET of the CPUs is dropped and run
    again (up to RETRIES times per kept block); past that, noisy blocks are kept and counted.
    Returns both libraries' times and the number of noisy blocks kept.
    """
    for _ in range(warmup):
        ours()
        theirs()
    per_pair = ours() + theirs()
    repeats = max(3, min(repeats, int(budget / max(per_pair * (1 + 1 / BLOCK), 1e-9))))
    ours_s: list[float] = []
    theirs_s: list[float] = []
    noisy_kept = dropped = 0
    gc.collect()
    gc.disable()
    try:
        i = 0
        while len(ours_s) < repeats or len(theirs_s) < repeats:
            order = (ours, theirs) if i % 2 == 0 else (theirs, ours)
            for fn in order:
                times = ours_s if fn is ours else theirs_s
                others = OthersCpu()
                start = time.perf_counter()
                fn()  # not kept: the other library's threads are still spinning
                while time.perf_counter() - start < SETTLE:
                    fn()
                block = [fn() for _ in range(min(BLOCK, repeats - len(times)))]
                if others.quiet(time.perf_counter() - start):
                    times.extend(block)
                elif dropped < RETRIES * (len(ours_s) + len(theirs_s) + 1):
                    dropped += 1
                    time.sleep(0.5)  # let the other process's burst pass
                else:
                    times.extend(block)
                    noisy_kept += bool(block)
            i += 1
    finally:
        gc.enable()
    return ours_s, theirs_s, noisy_kept


def measure(
    cell: str, config: str, ragged: bool, modes: list[str], args: Any, backend: str
) -> list[Row]:
    cfg = CONFIGS[config]
    case = Case(cell, cfg, ragged, args.seed)
    name = f"{config}-ragged" if ragged else config
    rows = []
    for mode in modes:
        error = case.infer_error() if mode == "infer" else case.train_error()
        ours = case.birnn_infer if mode == "infer" else case.birnn_train
        theirs = case.torch_infer if mode == "infer" else case.torch_train
        ours_s, theirs_s, noisy = time_alternating(
            ours, theirs, args.warmup, args.repeats, args.budget
        )
        gflop = forward_gflop(cell, cfg, case.tokens) * (3 if mode == "train" else 1)
        memory = (None, None)
        if args.memory and mode == "train":
            memory = tuple(
                memory_in_child(lib, cell, config, ragged, backend, args.seed)
                for lib in ("birnn", "torch")
            )
        rows.append(
            Row(
                cell=cell,
                config=name,
                mode=mode,
                birnn_ms=1e3 * statistics.median(ours_s),
                torch_ms=1e3 * statistics.median(theirs_s),
                gflop=gflop,
                error=error,
                repeats=len(ours_s),
                noisy=noisy,
                backend=backend,
                birnn_mib=memory[0],
                torch_mib=memory[1],
            )
        )
    return rows


def _status_kib(field: str) -> int:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory_probe(spec: str, seed: int) -> float:
    """In a child process: MiB the peak resident size rises by over three training steps."""
    lib, cell, config, ragged, backend = spec.split(",")
    select_backend(backend)
    case = Case(cell, CONFIGS[config], ragged == "1", seed)  # both models, inputs, d_out
    step = case.birnn_train if lib == "birnn" else case.torch_train
    gc.collect()
    before = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) restarts from now
    for _ in range(3):
        step()
    return (_status_kib("VmHWM") - before) / 1024


def memory_in_child(lib: str, cell: str, config: str, ragged: bool, backend: str, seed: int):
    """``memory_probe`` in a fresh interpreter (nothing left over from other cases), or None."""
    spec = f"{lib},{cell},{config},{int(ragged)},{backend}"
    command = [sys.executable, __file__, "--memory-probe", spec, "--seed", str(seed)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        return float(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        print(f"! memory probe {spec} failed: {done.stderr.strip()[-300:]}", file=sys.stderr)
        return None


def peak_gemm_gflops(size: int = 2048, repeats: int = 5) -> float:
    """Float32 GEMM speed of NumPy's BLAS with the current threads (median of ``repeats``)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size)).astype(np.float32)
    b = rng.standard_normal((size, size)).astype(np.float32)
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times) / 1e9


HEADERS = [
    "cell",
    "cfg",
    "mode",
    "backend",
    "birnn ms",
    "torch ms",
    "birnn/torch",
    "birnn GFLOP/s",
    "torch GFLOP/s",
    "birnn % peak",
    "max rel err",
    "n",
]
MEMORY_HEADERS = ["birnn MiB", "torch MiB"]


def row_cells(row: Row, peak: float | None, memory: bool) -> list[str]:
    ours = row.gflop / (row.birnn_ms / 1e3)
    theirs = row.gflop / (row.torch_ms / 1e3)
    cells = [
        row.cell.upper(),
        row.config,
        row.mode,
        row.backend,
        f"{row.birnn_ms:.1f}",
        f"{row.torch_ms:.1f}",
        f"{row.ratio:.2f}",
        f"{ours:.0f}",
        f"{theirs:.0f}",
        "-" if peak is None else f"{100 * ours / peak:.0f}%",
        f"{row.error:.1e}",
        f"{row.repeats}" + (f" ({row.noisy} noisy)" if row.noisy else ""),
    ]
    if memory:
        cells += ["-" if v is None else f"{v:.1f}" for v in (row.birnn_mib, row.torch_mib)]
    return cells


def render(rows: list[list[str]], markdown: bool, memory: bool = False) -> str:
    headers = HEADERS + (MEMORY_HEADERS if memory else [])
    right = [False] * 4 + [True] * (len(headers) - 4)
    if markdown:
        rule = ["---:" if r else "---" for r in right]
        return "\n".join("| " + " | ".join(line) + " |" for line in [headers, rule, *rows])
    widths = [max(len(line[i]) for line in [headers, *rows]) for i in range(len(headers))]

    def fmt(line: list[str]) -> str:
        return "  ".join(
            t.rjust(w) if r else t.ljust(w) for t, w, r in zip(line, widths, right, strict=True)
        )

    return "\n".join([fmt(headers), fmt(["-" * w for w in widths]), *map(fmt, rows)])


def csv_list(choices: list[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        items = [t.strip().lower() for t in text.split(",") if t.strip()]
        unknown = [t for t in items if t not in choices]
        if unknown or not items:
            raise argparse.ArgumentTypeError(
                f"expected a comma list of {choices}; received {text!r}"
            )
        return items

    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--cells", type=csv_list(list(GATES)), default="lstm,gru,rnn")
    parser.add_argument(
        "--configs",
        type=csv_list(list(CONFIGS)),
        default="a,b,d,e",
        help="shapes from ANCHORS.md; c is heavy (minutes) and only runs when named",
    )
    parser.add_argument("--modes", type=csv_list(list(MODES)), default="infer,train")
    parser.add_argument("--repeats", type=int, default=11, help="timed calls per library")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per library first")
    parser.add_argument(
        "--budget",
        type=float,
        default=30.0,
        help="seconds of timing per case at most: heavy cases get fewer repeats (never below 3)",
    )
    parser.add_argument(
        "--ragged",
        action="store_true",
        help=f"also time config {RAGGED_CONFIG} with unsorted ragged lengths (torch packed)",
    )
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument(
        "--backend",
        type=csv_list(["native", "numpy"]),
        default=None,
        help="comma list of birnn backends, each timed against torch (default: birnn's default)",
    )
    parser.add_argument(
        "--memory",
        action="store_true",
        help="also measure peak memory of a training step (child processes; Linux)",
    )
    parser.add_argument("--memory-probe", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--no-peak", action="store_true", help="skip measuring peak GEMM speed")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)  # string defaults go through `type` too
    if args.repeats < 1 or args.warmup < 0:
        parser.error(
            f"--repeats must be >= 1 and --warmup >= 0; received {args.repeats}, {args.warmup}"
        )
    return args


def select_backend(name: str | None) -> str:
    """Make ``name`` birnn's backend (None: keep the default); the backend now in use."""
    if name is not None:
        set_backend = getattr(birnn, "set_backend", None)
        if set_backend is None:
            sys.exit(f"--backend {name!r}: this birnn has no set_backend(); nothing to select")
        set_backend(name)
    get_backend = getattr(birnn, "get_backend", None)
    if get_backend is not None:
        return str(get_backend())
    return name or "default"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(THREADS)
    if hasattr(birnn, "set_num_threads"):
        birnn.set_num_threads(THREADS)  # birnn's default is 1 thread; both libraries get THREADS
    if args.memory_probe is not None:
        print(f"{memory_probe(args.memory_probe, args.seed):.3f}")
        return 0
    backends = [select_backend(name) for name in args.backend or [None]]
    if args.memory and not Path("/proc/self/clear_refs").exists():
        sys.exit("--memory needs Linux (/proc/self/status and /proc/self/clear_refs)")
    load = os.getloadavg()[0]
    if load > 0.5:
        print(
            f"# note: 1-minute load average {load:.1f} before the run; "
            "idle cores give steadier timings"
        )
    peak = None if args.no_peak else peak_gemm_gflops()
    print(
        f"# birnn vs torch | {platform.machine()} {platform.processor() or ''}".rstrip()
        + f" | numpy {np.__version__}, torch {torch.__version__}"
        + f" | birnn backends {', '.join(backends)}"
    )
    birnn_threads = getattr(birnn, "get_num_threads", lambda: "-")()
    print(
        f"# threads: torch {torch.get_num_threads()}, birnn {birnn_threads}, "
        f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, OMP_NUM_THREADS={THREADS}"
        + ("" if peak is None else f" | peak float32 GEMM (NumPy, 2048^3): {peak:.0f} GFLOP/s")
    )
    print(
        "# float32, bidirectional; medians of n alternating calls (blocks during which other "
        "processes used the CPUs are re-run); train = forward + backward "
        "of sum(out); GFLOP/s from the ANCHORS.md formula\n"
    )

    cases = [(cell, config, False) for cell in args.cells for config in args.configs]
    if args.ragged:
        cases += [(cell, RAGGED_CONFIG, True) for cell in args.cells]
    rows: list[list[str]] = []
    failures = 0
    for cell, config, ragged in cases:
        for backend in backends:
            select_backend(backend)
            try:
                measured = measure(cell, config, ragged, args.modes, args, backend)
            except Exception as err:  # report and go on: one broken case should not hide the rest
                failures += 1
                print(
                    f"! {cell} {config}{' ragged' if ragged else ''} {backend}: "
                    f"{type(err).__name__}: {err}",
                    file=sys.stderr,
                )
                continue
            for row in measured:
                rows.append(row_cells(row, peak, args.memory))
                print(
                    f"  done {cell} {row.config} {row.mode} {backend}", file=sys.stderr, flush=True
                )
    print(render(rows, args.markdown, args.memory))
    load = os.getloadavg()[0]
    if load > THREADS + 0.5:  # the benchmark itself accounts for about THREADS
        print(
            f"\n# warning: 1-minute load average {load:.1f} on {os.cpu_count()} CPUs at the end: "
            "other processes shared the cores, timings are noisy"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
