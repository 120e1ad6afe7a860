"""Data-parallel training over MPI: K ranks take the steps one process takes; a dead or hung rank
stops the job, named in one line, with the last checkpoint intact; resume under mpirun.

Each test runs ``mpiexec`` (the mpich wheel's) in a subprocess; they skip, with the reason, where
mpi4py or mpiexec is missing. Timing bounds are generous (a loaded 2-core machine) and only
bound how long a failure takes to be noticed, never how fast anything runs.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from birnn.cli import main
from birnn.data import TaggedSentence
from birnn.train import load_checkpoint
from birnn.train.parallel import SingleProcess
from cli_support import pos_sentences, write_conllu
from distributed_support import (
    HERE,
    birnn_train,
    launch,
    parent_pid,
    rank_pid,
    requires_mpi,
    run,
    train_tiny,
)

pytestmark = requires_mpi
SCRIPT = str(HERE / "distributed_support.py")
TINY = (" --hidden 8 --word-dim 8 --char-dim 4 --char-hidden 4 --layers 1 --lr 0.05"
        " --batch-size 8 --no-progress --dropout 0 --seed 1")  # fmt: skip
F32_EPOCHS_ATOL = 5e-5  # float32, 2 epochs at lr 0.05 (see the tolerances below)


def _tiny_under_mpi(tmp_path: Path, ranks: int, epochs: int, batch: int, dtype: str, head: str):
    out = tmp_path / f"mpi-{ranks}"
    code, _, err = run(ranks, [SCRIPT, str(out), str(epochs), str(batch), dtype, head])
    assert code == 0, err
    hashes = {(out / f"rank-{r}.sha256").read_text() for r in range(ranks)}
    assert len(hashes) == 1, "the ranks ended with different parameters"
    with np.load(out / "params.npz") as saved:
        return {name: saved[name] for name in saved.files}


# the tolerances of docs/DISTRIBUTED.md: after one step, float64 1e-10 and float32 1e-6; after an
# epoch (float32) 1e-5 at lr 0.01 and 5e-5 at lr 0.05 (Adam divides each gradient component by
# its own size, so rounding-level differences of the small ones become differences of lr size
# times their relative error)
@pytest.mark.parametrize(("dtype", "head", "atol"),
                         [("float64", "softmax", 1e-10), ("float64", "crf", 1e-10),
                          ("float32", "softmax", 1e-6)])  # fmt: skip
def test_two_ranks_take_the_step_of_one_process(tmp_path, dtype, head, atol):
    # one step: 16 sentences in one batch of 16, 8 per rank; characters on, dropout off
    start: dict[str, np.ndarray] = {}
    one = train_tiny(SingleProcess(), tmp_path / "one", 1, 16, np.dtype(dtype), head, initial=start)
    two = _tiny_under_mpi(tmp_path, 2, 1, 16, dtype, head)
    assert set(one) == set(two)
    for name in one:
        np.testing.assert_allclose(two[name], one[name], rtol=0, atol=atol, err_msg=name)
        assert np.abs(one[name] - start[name]).max() > 1e-4, f"{name} did not move"


def test_two_ranks_equal_one_process_over_epochs_float32(tmp_path):
    # 16 sentences in batches of 5: 5, 5, 5, 1 -> the last batch leaves one rank without rows
    one = train_tiny(SingleProcess(), tmp_path / "one", 2, 5, np.float32)
    two = _tiny_under_mpi(tmp_path, 2, 2, 5, "float32", "softmax")
    for name in one:
        np.testing.assert_allclose(two[name], one[name], rtol=0, atol=1e-5, err_msg=name)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("mpi-data")
    return {
        "train": write_conllu(d / "train.conllu", pos_sentences(40, seed=0)),
        "dev": write_conllu(d / "dev.conllu", pos_sentences(13, seed=1)),
        "big": write_conllu(d / "big.conllu", pos_sentences(2000, seed=2)),
    }


def _params(out: Path, which: str = "last") -> dict[str, np.ndarray]:
    return load_checkpoint(out / which).params


def _log(out: Path) -> list[dict]:
    lines = (out / "log.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in ("seconds", "items_per_s")}
            for line in lines]  # fmt: skip


def test_mpirun_birnn_train_equals_birnn_train(tmp_path, files, capsys):
    options = f"--task tag --train {files['train']} --dev {files['dev']} --epochs 2" + TINY
    assert main(["train", *options.split(), "--out", str(tmp_path / "one")]) == 0
    capsys.readouterr()
    code, out, err = birnn_train(2, f"{options} --out {tmp_path / 'two'}")
    assert code == 0, err
    # rank 0 alone prints and writes: the epoch lines once, the results once
    assert err.count("epoch 1/2:") == 1 and err.count("epoch 2/2:") == 1, err
    assert out.count("trained 2 epochs") == 1, out
    one, two = _params(tmp_path / "one"), _params(tmp_path / "two")
    for name in one:
        np.testing.assert_allclose(two[name], one[name], rtol=0, atol=F32_EPOCHS_ATOL)
    for a, b in zip(_log(tmp_path / "one"), _log(tmp_path / "two"), strict=True):
        assert a.pop("train_loss") == pytest.approx(b.pop("train_loss"), rel=1e-5)
        assert a == b  # dev scores (sharded, gathered), items, lr
    info = json.loads((tmp_path / "two" / "last" / "trainer.json").read_text())
    assert info["world_size"] == 2


def test_resume_under_mpirun(tmp_path, files):
    # dropout and word dropout on: each rank draws its own masks, from (seed, rank, step)
    options = (f"--task tag --train {files['train']} --dev {files['dev']}" + TINY
               + " --dropout 0.3 --word-dropout 0.1")  # fmt: skip
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert birnn_train(2, f"{options} --epochs 3 --out {whole}")[0] == 0
    assert birnn_train(2, f"{options} --epochs 1 --out {split}")[0] == 0
    code, _, err = birnn_train(2, f"{options} --epochs 3 --out {split} --resume")
    assert code == 0, err
    for name, value in _params(whole).items():
        np.testing.assert_array_equal(_params(split)[name], value)  # bit for bit
    assert _log(split) == _log(whole)
    # another number of ranks would shard and draw otherwise: refused, in one line
    code, _, err = run(1, ["-m", "birnn.cli", "train", *options.split(), "--epochs", "4",
                             "--out", str(split), "--resume"])  # fmt: skip
    assert code == 2 and err.count("\n") == 1, err
    assert "trained by 2 processes and this run has 1" in err, err


def _error_lines(err: str) -> list[str]:
    """birnn's error lines on stderr (warnings, MPI's own words and progress aside)."""
    return [line for line in err.splitlines() if line.startswith("birnn ") and ": error: " in line]


def _long_run(files, out: Path, extra: str = "") -> str:
    return (f"--task tag --train {files['big']} --epochs 50 --patience 0 --out {out}"
            f" {TINY} --peer-timeout 6 {extra}")  # fmt: skip


def _wait_for(path: Path, process, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


class Stopped(NamedTuple):
    code: int  # the job's exit status
    err: str  # its stderr
    stdout: str
    took: float  # seconds from the signal to the job's end
    out: Path  # --out
    pid: int  # rank 1's


def _stop_rank_one(tmp_path, files, sig: int, supervisor: bool = False) -> Stopped:
    """Train on 2 ranks; once epoch 1 is checkpointed, send ``sig`` to rank 1 mid-epoch 2 (to
    its worker, or to the ``supervisor`` the launcher started)."""
    out = tmp_path / "run"
    process = launch(2, ["-m", "birnn.cli", "train", *_long_run(files, out).split()])
    try:
        pid = rank_pid(1, str(out))
        if supervisor:
            pid = parent_pid(pid)
        _wait_for(out / "last", process)
        time.sleep(0.3)  # into epoch 2
        sent = time.monotonic()
        os.kill(pid, sig)
        stdout, err = process.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return Stopped(process.returncode, err, stdout, took, out, pid)


def _resumable(out: Path, files) -> None:
    """``out/last`` is a complete checkpoint of epoch 1, and training resumes from it."""
    ckpt = load_checkpoint(out / "last")  # checks every SHA-256
    assert ckpt.trainer_state is not None and ckpt.trainer_state.info["epoch"] >= 1
    epochs = ckpt.trainer_state.info["epoch"] + 1
    options = _long_run(files, out).replace("--epochs 50", f"--epochs {epochs}")
    code, _, err = birnn_train(2, options + " --resume")
    assert code == 0, err


def test_a_killed_rank_is_named_in_one_line(tmp_path, files):
    # SIGKILL (kill -9, the out-of-memory killer): the rank's supervisor names it, and MPICH's
    # launcher ends the job at once; run.json (rank 0's) records every worker's PID
    job = _stop_rank_one(tmp_path, files, signal.SIGKILL)
    assert job.code != 0
    lines = _error_lines(job.err)
    assert len(lines) == 1 and "rank 1 of 2 died of SIGKILL" in lines[0], job
    assert job.took < 30, job.took
    ranks = json.loads((job.out / "run.json").read_text())["runs"][-1]["ranks"]
    assert [(r["rank"], r["pid"]) for r in ranks][1] == (1, job.pid), ranks
    _resumable(job.out, files)


# SIGTERM (kill PID, a batch system): the rank's watchdog reports it even while its main thread
# is blocked in a collective. SIGSTOP: the process is alive to the launcher but answers
# nothing; the others' watchdogs find it after --peer-timeout (6 s).
# A SIGTERM sent to the supervisor is passed on to its worker.
@pytest.mark.parametrize(
    ("sig", "supervisor", "line"),
    [(signal.SIGTERM, False, "rank 1 of 2 was terminated (SIGTERM)"),
     (signal.SIGTERM, True, "rank 1 of 2 was terminated (SIGTERM)"),
     (signal.SIGSTOP, False, "rank 1 of 2 stopped answering")],
    ids=["terminated", "supervisor-terminated", "hung"],
)  # fmt: skip
def test_a_terminated_or_hung_rank_is_named_in_one_line(tmp_path, files, sig, supervisor, line):
    job = _stop_rank_one(tmp_path, files, sig, supervisor)
    assert job.code != 0, job  # 2, or 9: the status of whichever process mpirun saw end first
    lines = _error_lines(job.err)
    assert len(lines) == 1 and line in lines[0], job
    assert job.took < 6 + 30, job.took
    _resumable(job.out, files)


def test_an_error_on_every_rank_is_reported_once(tmp_path, files):
    bad = tmp_path / "bad.conllu"
    bad.write_text("1\tthe\tthe\tDET\t_\t_\t0\troot\t_\t_\n2\tdog\n\n", encoding="utf-8")
    code, _, err = birnn_train(2, f"--task tag --train {bad} --out {tmp_path / 'o'}" + TINY)
    assert code != 0
    lines = _error_lines(err)
    assert len(lines) == 1 and f"{bad}:2" in lines[0], err
    assert "Traceback" not in err


def test_rank_0_alone_prints_reports_and_warnings(tmp_path, files):
    # every rank reads the same data and vectors: the lines about them come once
    dev = [TaggedSentence(["the", "dog", "barks", "!"], ["DET", "NOUN", "VERB", "INTJ"])]
    write_conllu(tmp_path / "dev.conllu", dev)  # INTJ: a label never seen in training
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("the 0.1 0.2 0.3 0.4\ndog 0.5 0.6 0.7 0.8\n", encoding="utf-8")
    options = (f"--task tag --train {files['train']} --dev {tmp_path / 'dev.conllu'} --epochs 1"
               f" --embeddings {vectors} --out {tmp_path / 'o'}"
               + TINY.replace("--word-dim 8", ""))  # fmt: skip
    code, out, err = birnn_train(2, options)
    assert code == 0, err
    assert err.count("labels never seen in training") == 1, err
    assert out.count("vectors.txt") == 1, out


def test_an_error_of_rank_0_alone_is_reported_once(tmp_path, files):
    # only rank 0 looks at --out: rank 1 stops without a word when rank 0 tells it
    taken = tmp_path / "taken"
    options = f"--task tag --train {files['train']} --epochs 1" + TINY
    assert birnn_train(1, f"{options} --out {taken}")[0] == 0
    before = {p: p.read_bytes() for p in sorted(taken.rglob("*")) if p.is_file()}
    code, _, err = birnn_train(2, f"{options} --out {taken}")
    assert code != 0
    lines = _error_lines(err)
    assert len(lines) == 1 and "already holds a run" in lines[0], err
    assert {p: p.read_bytes() for p in sorted(taken.rglob("*")) if p.is_file()} == before
