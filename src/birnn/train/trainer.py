"""A small, generic trainer: batches -> loss and gradients -> clip -> optimizer step, per epoch.

It knows nothing about tasks. The model supplies (docs/TRAINING-DESIGN.md)::

    model.params                               flat dict of live arrays, updated in place
    loss, grads, count = model.loss_and_grads(batch, rng)   mean loss over `count` items

and the caller supplies ``train_batches(rng) -> iterable of batches`` (called once per epoch
with the trainer's Generator, so shuffling is reproducible), an optional
``evaluate(model) -> {"score": float, ...}`` (dev metrics; higher score is better), and the JSON
dict to store as each checkpoint's ``config.json`` (model config, vocabularies, task: what a
loader needs to rebuild the model; the trainer never looks inside).

Each epoch: draw the batches, then for batch i of n set ``lr = config.lr * schedule(epoch + i/n)``,
compute loss and gradients (the model gets the same Generator, e.g. for dropout), clip the global
gradient norm, take an optimizer step; then evaluate, append a line to ``out_dir/log.jsonl``,
save ``out_dir/best`` when the dev score improved and ``out_dir/last`` (with the optimizer, RNG,
schedule and log state) every epoch, and print one summary line on stderr. Training stops after
``config.patience`` epochs without improvement. ``fit(..., resume=True)`` continues from
``out_dir/last`` and reaches the same parameters and log (bit for bit, timing fields aside) as a
run that was never interrupted.

A fresh run into a directory that holds an earlier run keeps the earlier run's checkpoints and
log until its own first epoch is done; then it replaces them, log first, then ``best/``, then
``last/``. ``last/`` records the SHA-256 of the log it goes with, so resuming from a directory
whose log is not that one (edited, or replaced by a run that stopped in between) is refused.

Without ``evaluate`` there is no dev score: no ``best/``, no early stopping.

``around_step(epoch, batch, step)`` (optional) returns a context manager that the trainer holds
around each computation of loss and gradients (epoch and batch 0-based; step: optimizer steps
taken so far): a way to watch training from outside, e.g. ``birnn.explain.GradientTrace``
records dL/dh_t per chain there. It must not change the parameters.

``parallel`` (optional) is how the work is shared with other processes (``train/parallel.py``):
by default this process alone; ``birnn.distributed.DataParallel`` for the ranks of an MPI job,
where ``train_batches`` yields each rank's share of every global batch (None for an empty
share), ``parallel.combine`` turns the rank's loss and gradients into the global batch's, and
only the writer (rank 0) touches ``out_dir`` and prints. A resumed run must have as many
processes as the run it continues.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from birnn._checks import describe
from birnn.optim import Optimizer, Schedule, clip_grad_norm
from birnn.optim.base import Array
from birnn.train.checkpoint import (
    CheckpointError,
    TrainerState,
    assign_params,
    load_checkpoint,
    remove_checkpoint,
    save_checkpoint,
)
from birnn.train.config import TrainConfig, differences
from birnn.train.log import MetricsLog
from birnn.train.parallel import Parallel, SingleProcess, check_parallel
from birnn.train.progress import EpochBar, report

BEST, LAST, LOG = "best", "last", "log.jsonl"  # names inside out_dir
TIMING_FIELDS = ("seconds", "items_per_s")  # the only log fields that differ between equal runs
STATE_FORMAT = 1  # version of trainer.json
RESUMABLE_CHANGES = ("epochs", "patience")  # config fields a resumed run may change


class Model(Protocol):
    @property
    def params(self) -> Mapping[str, Array]: ...

    def loss_and_grads(
        self, batch: Any, rng: np.random.Generator
    ) -> tuple[float, Mapping[str, Array], int]: ...


TrainBatches = Callable[[np.random.Generator], Iterable[Any]]
Evaluate = Callable[[Any], Mapping[str, Any]]
AroundStep = Callable[[int, int, int], contextlib.AbstractContextManager[Any]]


@dataclass
class FitResult:
    epochs: int  # epochs completed, those of a resumed run's earlier part included
    best_epoch: int | None  # 1-based epoch of the best dev score (None without evaluate)
    best_score: float | None
    stopped_early: bool  # patience ran out before config.epochs
    history: list[dict[str, Any]]  # the log's records, one per epoch


@dataclass
class _Progress:
    """The trainer's counters, saved in trainer.json."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    best_score: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0  # epochs since the last improvement


def _no_watch(epoch: int, batch: int, step: int) -> contextlib.AbstractContextManager[Any]:
    return contextlib.nullcontext()


class Trainer:
    def __init__(
        self,
        model: Model,
        config: TrainConfig,
        out_dir: str | os.PathLike[str],
        *,
        evaluate: Evaluate | None = None,
        checkpoint_config: Mapping[str, Any] | None = None,
        progress: bool = True,
        around_step: AroundStep | None = None,
        parallel: Parallel | None = None,
    ):
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig; received {describe(config)}")
        if not callable(getattr(model, "loss_and_grads", None)):
            raise TypeError(
                f"model must have loss_and_grads(batch, rng); received {type(model).__name__}"
            )
        if not isinstance(model.params, Mapping):
            raise TypeError(f"model.params must be a dict; received {describe(model.params)}")
        if evaluate is not None and not callable(evaluate):
            raise TypeError(f"evaluate must be callable; received {describe(evaluate)}")
        if around_step is not None and not callable(around_step):
            raise TypeError(f"around_step must be callable; received {describe(around_step)}")
        checkpoint_config = {} if checkpoint_config is None else checkpoint_config
        if not isinstance(checkpoint_config, Mapping):
            raise TypeError(
                f"checkpoint_config must be a dict; received {describe(checkpoint_config)}"
            )
        try:
            json.dumps(checkpoint_config, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise TypeError(f"checkpoint_config must be JSON-serialisable: {err}") from err
        self.model = model
        self.config = config
        self.out_dir = Path(out_dir)
        self.evaluate = evaluate
        self.checkpoint_config = dict(checkpoint_config)
        self.progress = progress
        self.around_step = around_step
        self.parallel = SingleProcess() if parallel is None else check_parallel(parallel)
        self.optimizer: Optimizer | None = None  # set by fit
        self._before_writing: Callable[[], None] | None = None  # fit's hook, until called
        self.schedule: Schedule | None = None  # set by fit

    def fit(
        self,
        train_batches: TrainBatches,
        *,
        resume: bool = False,
        before_writing: Callable[[], None] | None = None,
    ) -> FitResult:
        """Train; ``resume=True`` continues from ``out_dir/last`` instead of starting afresh.

        A fresh run replaces ``best/``, ``last/`` and the log left in ``out_dir`` by an earlier
        run at the end of its first epoch, not before (see the module notes).
        ``before_writing`` is called once, right before the trainer first changes anything in
        ``out_dir`` (a fresh run: after its first epoch; a resumed one: once its state is
        checked and loaded): where a caller replaces its own files, so that a run that stops
        before then leaves ``out_dir`` exactly as it found it.
        """
        if not callable(train_batches):
            raise TypeError(
                "train_batches must be a function rng -> iterable of batches; "
                f"received {describe(train_batches)}"
            )
        cfg = self.config
        params = self.model.params
        optimizer = self.optimizer = cfg.make_optimizer(params)
        schedule = self.schedule = cfg.make_schedule()
        if schedule.needs_score and self.evaluate is None:
            raise ValueError(f"schedule {schedule.name!r} needs a dev score: pass evaluate=")
        rng = np.random.default_rng(cfg.seed)
        log = MetricsLog(self.out_dir / LOG)
        # a fresh run's first epoch replaces what an earlier run left (see the module notes)
        self._before_writing = before_writing
        state = _Progress()
        if resume and self.parallel.writes:
            state, log_position = self._restore(params, optimizer, schedule, rng, log)
            self._writing()
            try:
                log.truncate(log_position)
            except (OSError, ValueError) as err:
                raise CheckpointError(f"cannot resume from {self.out_dir / LAST}: {err}") from err
        if self.parallel.world_size > 1:
            state = self._synchronise(state, params, optimizer, schedule, rng)

        while state.epoch < cfg.epochs and not self._patience_spent(state):
            self._epoch(train_batches, params, optimizer, schedule, rng, log, state)
        return FitResult(
            epochs=state.epoch,
            best_epoch=state.best_epoch,
            best_score=state.best_score,
            stopped_early=state.epoch < cfg.epochs,
            history=self.parallel.share(log.read() if self.parallel.writes else None),
        )

    def _writing(self) -> None:
        """Tell the caller (once) that out_dir is about to change."""
        hook, self._before_writing = self._before_writing, None
        if hook is not None:
            hook()

    def _patience_spent(self, state: _Progress) -> bool:
        return bool(self.config.patience) and state.bad_epochs >= self.config.patience

    # -- one epoch --------------------------------------------------------------------------

    def _epoch(
        self,
        train_batches: TrainBatches,
        params: Mapping[str, Array],
        optimizer: Optimizer,
        schedule: Schedule,
        rng: np.random.Generator,
        log: MetricsLog,
        state: _Progress,
    ) -> None:
        cfg = self.config
        par = self.parallel
        epoch = state.epoch
        start = time.perf_counter()
        batches = list(train_batches(rng))
        n = len(batches)
        if n == 0:
            raise ValueError(f"train_batches(rng) yielded no batches in epoch {epoch + 1}")
        bar = EpochBar(batches, n, f"epoch {epoch + 1}/{cfg.epochs}", self.progress and par.writes)
        loss_sum, items = 0.0, 0
        try:
            for i, batch in enumerate(bar):
                optimizer.lr = cfg.lr * schedule(epoch + i / n)
                watch = self.around_step or _no_watch
                with watch(epoch, i, state.step):
                    local = None
                    if batch is not None:  # None: this rank's share of the batch is empty
                        model_rng = par.model_rng(rng, cfg.seed, state.step)
                        local = self._loss_and_grads(batch, model_rng, epoch, i)
                    loss, grads, count = par.combine(local, params)
                if cfg.clip:
                    clip_grad_norm(grads, cfg.clip)
                optimizer.step(grads)
                state.step += 1
                loss_sum += loss * count
                items += count
                bar.show(loss_sum / max(items, 1), items / (time.perf_counter() - start))
        finally:
            bar.close()
        train_seconds = time.perf_counter() - start

        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / max(items, 1),
            "train_items": items,
            "lr": optimizer.lr,
        }
        improved = False
        if self.evaluate is not None:
            metrics = self._evaluate()
            score = metrics["score"]
            schedule.observe(score)
            improved = state.best_score is None or score > state.best_score
            if improved:
                state.best_score, state.best_epoch, state.bad_epochs = score, epoch + 1, 0
            else:
                state.bad_epochs += 1
            record.update({f"dev_{k}": v for k, v in metrics.items()})
            record["improved"] = improved
        state.epoch = epoch + 1
        record["seconds"] = time.perf_counter() - start
        record["items_per_s"] = items / train_seconds if train_seconds > 0 else None
        if par.writes:
            self._save(record, improved, rng, log, state)

    def _save(self, record: dict[str, Any], improved: bool, rng: np.random.Generator,
              log: MetricsLog, state: _Progress) -> None:  # fmt: skip
        """The end of an epoch in out_dir: the log line, best/ and last/, the summary line."""
        cfg, params = self.config, self.model.params
        optimizer, schedule = self.optimizer, self.schedule
        assert optimizer is not None and schedule is not None  # set by fit
        epoch = state.epoch - 1
        first = epoch == 0  # a fresh run's first epoch (a resumed run starts after it)
        if first:
            self._writing()
            log.reset()
        position = log.append(record)

        if improved:
            save_checkpoint(self.out_dir / BEST, params, self.checkpoint_config)
        elif first:
            remove_checkpoint(self.out_dir / BEST)  # an earlier run's: this one has no best yet
        info = self._info(state, rng, schedule, position, log.sha256(position))
        save_checkpoint(
            self.out_dir / LAST,
            params,
            self.checkpoint_config,
            TrainerState(optimizer.state_dict(), info),
        )
        line = f"epoch {epoch + 1}/{cfg.epochs}: train loss {record['train_loss']:.4f}"
        if self.evaluate is not None:
            line += f", dev score {100 * record['dev_score']:.2f}" + (" (best)" if improved else "")
        report(f"{line}, lr {optimizer.lr:.3g}, {record['seconds']:.1f} s")

    def _loss_and_grads(
        self, batch: Any, rng: np.random.Generator, epoch: int, index: int
    ) -> tuple[float, Mapping[str, Array], int]:
        out = self.model.loss_and_grads(batch, rng)
        if not isinstance(out, tuple) or len(out) != 3:
            raise TypeError(
                f"model.loss_and_grads must return (loss, grads, count); received {describe(out)}"
            )
        loss, grads, count = float(out[0]), out[1], out[2]
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            raise ValueError(
                f"model.loss_and_grads must return a positive item count; received {count!r}"
            )
        if not math.isfinite(loss):
            raise FloatingPointError(
                f"training diverged: loss {loss} at epoch {epoch + 1}, batch {index + 1} "
                "(try a lower lr or clipping)"
            )
        return loss, grads, int(count)

    def _evaluate(self) -> dict[str, Any]:
        assert self.evaluate is not None
        metrics = self.evaluate(self.model)
        if not isinstance(metrics, Mapping) or "score" not in metrics:
            raise TypeError(
                f"evaluate must return a dict with a 'score'; received {describe(metrics)}"
            )
        score = float(metrics["score"])
        if not math.isfinite(score):
            raise ValueError(f"evaluate returned a non-finite score: {score}")
        return {**metrics, "score": score}

    # -- resuming ---------------------------------------------------------------------------

    def _info(
        self,
        state: _Progress,
        rng: np.random.Generator,
        schedule: Schedule,
        log_position: int,
        log_sha256: str,
    ) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "epoch": state.epoch,
            "step": state.step,
            "best_score": state.best_score,
            "best_epoch": state.best_epoch,
            "bad_epochs": state.bad_epochs,
            "rng": rng.bit_generator.state,
            "schedule": schedule.state_dict(),
            "log_position": log_position,
            "log_sha256": log_sha256,
            "train_config": self.config.to_dict(),
            "world_size": self.parallel.world_size,
        }

    def _restore(
        self,
        params: Mapping[str, Array],
        optimizer: Optimizer,
        schedule: Schedule,
        rng: np.random.Generator,
        log: MetricsLog,
    ) -> tuple[_Progress, int]:
        """Load ``out_dir/last`` into params, optimizer, schedule and rng, checking it against
        the log; returns the counters and the log position to truncate to."""
        ckpt = load_checkpoint(self.out_dir / LAST)
        where = ckpt.path
        if ckpt.trainer_state is None:
            raise CheckpointError(f"{where}: has no trainer state, so training cannot resume")
        info = ckpt.trainer_state.info
        if info.get("format") != STATE_FORMAT:
            raise CheckpointError(
                f"{where}: trainer.json format {info.get('format')!r} is not {STATE_FORMAT}"
            )
        try:
            saved = TrainConfig.from_dict(info["train_config"])
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(
                f"{where}: unreadable train_config in trainer.json ({err})"
            ) from err
        saved_size, size = info.get("world_size", 1), self.parallel.world_size
        if saved_size != size:
            raise ValueError(
                f"cannot resume {where}: it was trained by {saved_size} processes and this run "
                f"has {size} (resume with as many: mpirun -n {saved_size})"
            )
        changed = differences(saved, self.config, ignore=RESUMABLE_CHANGES)
        if changed:
            raise ValueError(
                f"cannot resume {where}: the configuration differs in {changed} "
                f"(a resumed run may only change {list(RESUMABLE_CHANGES)})"
            )
        try:
            state = _Progress(
                epoch=int(info["epoch"]),
                step=int(info["step"]),
                best_score=None if info["best_score"] is None else float(info["best_score"]),
                best_epoch=None if info["best_epoch"] is None else int(info["best_epoch"]),
                bad_epochs=int(info["bad_epochs"]),
            )
            scratch = np.random.default_rng(0)
            scratch.bit_generator.state = info["rng"]  # check it before touching anything
            optimizer.load_state_dict(ckpt.trainer_state.tensors)
            schedule.load_state_dict(info["schedule"])
            position = int(info["log_position"])
            log_sha256 = str(info["log_sha256"])
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"{where}: trainer state cannot be restored ({err})") from err
        try:
            found = log.sha256(position)
        except (OSError, ValueError) as err:
            raise CheckpointError(f"cannot resume from {where}: {err}") from err
        if found != log_sha256:
            raise CheckpointError(
                f"cannot resume from {where}: {log.path} is not the log it was saved with "
                "(edited, or replaced by a later run); train afresh with --overwrite"
            )
        assign_params(params, ckpt.params, str(where))
        rng.bit_generator.state = info["rng"]
        return state, position

    def _synchronise(
        self,
        state: _Progress,
        params: Mapping[str, Array],
        optimizer: Optimizer,
        schedule: Schedule,
        rng: np.random.Generator,
    ) -> _Progress:
        """Start every process from the writer's parameters, optimizer, schedule, Generator
        and counters (those it resumed, or its fresh ones): the others need no out_dir."""
        par = self.parallel
        mine = None
        if par.writes:
            mine = (dict(params), optimizer.state_dict(), schedule.state_dict(),
                    rng.bit_generator.state, dataclasses.asdict(state))  # fmt: skip
        theirs = par.share(mine)
        if par.writes:
            return state
        values, optimizer_state, schedule_state, rng_state, progress = theirs
        assign_params(params, values, "the parameters of rank 0")
        optimizer.load_state_dict(optimizer_state)
        schedule.load_state_dict(schedule_state)
        rng.bit_generator.state = rng_state
        return _Progress(**progress)
