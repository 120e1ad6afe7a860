"""Gradient flow through time, per chain: the norm of dL/dh_t in each step of each chain.

Backpropagation through time in one chain (``birnn.recurrent.scan``)::

    ds_k = dL/dh_k = dout_k + carry_k,    carry_k = what step k + 1 sends back to h_k

where k counts the chain's own steps from where it starts: the forward chain reads t = k, the
backward chain t = len - 1 - k. While a ``GradientTrace`` is attached, the recurrent module's
backward hands it ds_k of every chain (``RecurrentModule.state_grad_hook``), and it keeps, per
chain and step k, the mean of ||ds_k|| over the sequences still running there. A gradient that
vanishes shows as norms that fall off from where the loss enters a chain; the two directions of
a layer can be compared step for step.

``GradientTrace.around_step`` is the trainer's ``around_step`` hook (``birnn train
--trace-gradients``): it attaches the trace every ``every`` optimizer steps and appends one JSON
line per traced step to a file. Traced steps run the NumPy time loop (the compiled one keeps no
per-step carry), so their numbers may differ from an untraced run's in the last float bits.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from birnn._checks import check_int
from birnn.explain.directions import check_module
from birnn.recurrent.module import RecurrentModule
from birnn.recurrent.sequence import flip_sequences

Array = NDArray[np.floating]


@dataclass(frozen=True)
class GradientFlow:
    """One backward pass: ``norms[c, k]`` = mean ||dL/dh|| at step k of chain c over the
    sequences still running there (``counts[k]`` of them; NaN where none is)."""

    chains: list[str]  # PyTorch's suffixes: "l0", "l0_reverse", "l1", ...
    norms: Array  # (C, T)
    counts: NDArray[np.int64]  # (T,)

    def to_json(self) -> dict[str, Any]:
        norms = [[None if np.isnan(v) else float(v) for v in row] for row in self.norms]
        return {"chains": self.chains, "norms": norms, "counts": self.counts.tolist()}

    @classmethod
    def combine(cls, flows: list[GradientFlow]) -> GradientFlow:
        """The flows of several batches as one: at each step k, the mean over all their
        sequences running there (each batch's mean weighted by its count)."""
        steps = max(f.norms.shape[1] for f in flows)
        total = np.zeros((len(flows[0].chains), steps))
        counts = np.zeros(steps, dtype=np.int64)
        for f in flows:
            k = f.norms.shape[1]
            total[:, :k] += np.nan_to_num(f.norms) * f.counts
            counts[:k] += f.counts
        norms = np.divide(total, counts, out=np.full(total.shape, np.nan), where=counts > 0)
        return cls(list(flows[0].chains), norms, counts)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GradientFlow:
        norms = np.array([[np.nan if v is None else v for v in row] for row in data["norms"]])
        return cls(list(data["chains"]), norms, np.asarray(data["counts"], dtype=np.int64))


def chain_names(module: RecurrentModule) -> list[str]:
    return [f"l{k}" + ("_reverse" if d else "") for k, d in module.chains]


def describe_chain(name: str) -> str:
    """ "l1_reverse" -> "layer 2 backward"."""
    layer = int(name[1:].split("_")[0])
    return f"layer {layer + 1} " + ("backward" if name.endswith("_reverse") else "forward")


def flow(
    module: RecurrentModule, state_grads: list[Array], lengths: NDArray[np.intp]
) -> GradientFlow:
    """The per-step norms of one backward's dL/dh_t (what the module's hook receives)."""
    names = chain_names(module)
    steps = state_grads[0].shape[1 if module.batch_first else 0]
    running = np.arange(steps)[None, :] < lengths[:, None]  # (N, T) in chain steps too
    counts = running.sum(axis=0)
    rows = []
    for (_, d), g in zip(module.chains, state_grads):
        norms = np.linalg.norm(g.astype(np.float64), axis=-1)  # (N, T) or (T, N)
        if not module.batch_first:
            norms = norms.T
        if d:  # backward chain: its step k is t = len - 1 - k
            norms = flip_sequences(norms, lengths, batch_first=True)
        total = np.sum(np.where(running, norms, 0.0), axis=0)
        rows.append(np.divide(total, counts, out=np.full(steps, np.nan), where=counts > 0))
    return GradientFlow(names, np.array(rows), counts.astype(np.int64))


class GradientTrace:
    """Collects a ``GradientFlow`` from every backward of ``module`` while attached."""

    def __init__(self, module: RecurrentModule) -> None:
        self.module = check_module(module)
        self.flows: list[GradientFlow] = []

    def _hook(self, state_grads: list[Array], lengths: NDArray[np.intp]) -> None:
        self.flows.append(flow(self.module, state_grads, lengths))

    @contextlib.contextmanager
    def attached(self) -> Iterator[GradientTrace]:
        if self.module.state_grad_hook is not None:
            raise ValueError("the module is already traced (its state_grad_hook is set)")
        self.module.state_grad_hook = self._hook
        try:
            yield self
        finally:
            self.module.state_grad_hook = None


class TrainingTrace:
    """The trainer's ``around_step``: every ``every`` optimizer steps, trace the step's backward
    and keep ``({"epoch", "batch", "step"}, flow)`` in ``records`` (1-based). ``save_to(path)``
    writes them, and every later one as it comes, to a JSON-lines file (``read_trace``):
    ``birnn train`` calls it when the trainer first writes to --out, so that a run stopped
    before then leaves --out as it was."""

    def __init__(self, module: RecurrentModule, every: int = 1) -> None:
        self.trace = GradientTrace(module)
        self.every = check_int("every", every, 1)
        self.records: list[tuple[dict[str, int], GradientFlow]] = []
        self.path: Path | None = None

    def save_to(self, path: str | Path, append: bool = False) -> None:
        """Write the records so far to ``path`` (after what it holds, with ``append``: a
        resumed run), and every later record as it is made."""
        self.path = Path(path)
        with self.path.open("a" if append else "w", encoding="utf-8") as f:
            for where, recorded in self.records:
                f.write(_line(where, recorded))

    @contextlib.contextmanager
    def around_step(self, epoch: int, batch: int, step: int) -> Iterator[None]:
        if step % self.every:
            yield
            return
        self.trace.flows.clear()
        with self.trace.attached():
            yield
        where = {"epoch": epoch + 1, "batch": batch + 1, "step": step + 1}
        for recorded in self.trace.flows:
            self.records.append((where, recorded))
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(_line(where, recorded))


def _line(where: dict[str, int], recorded: GradientFlow) -> str:
    return json.dumps(where | recorded.to_json()) + "\n"


def read_trace(path: str | Path) -> list[tuple[dict[str, int], GradientFlow]]:
    """The records of a training trace file: ({epoch, batch, step}, flow) per traced step."""
    out = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            where = {k: int(data[k]) for k in ("epoch", "batch", "step")}
            out.append((where, GradientFlow.from_json(data)))
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}:{number}: not a gradient trace record ({err})") from err
    return out
