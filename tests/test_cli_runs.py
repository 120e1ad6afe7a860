"""A run's output directory through the command line: one writer at a time, a previous run kept
until the new one has a checkpoint, run.json, results.json only beside its model, the threads
setting, and the one line per epoch on stderr."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from threadpoolctl import threadpool_info

import birnn
from birnn.data import TaggedSentence
from birnn.train.checkpoint import load_checkpoint
from cli_support import SMALL, cli, data, ok, results_of, snapshot, tagger, write_conllu

__all__ = ["data", "tagger"]  # fixtures, imported for pytest

ROOT = Path(__file__).resolve().parents[1]
TRAIN = "train --task tag --train {train} --dev {dev} --out {out} --epochs 2" + SMALL


def _birnn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "birnn.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src")},
    )


def test_two_runs_on_one_out_the_second_is_refused(tmp_path, data):
    """While one run trains, a second one on the same --out exits 2 naming the first's PID;
    the first finishes undisturbed, its log holding its own epochs only."""
    out = tmp_path / "run"
    command = ["train", "--task", "tag", "--train", str(data["train"]), "--out", str(out),
               "--epochs", "40", *SMALL.split()]  # fmt: skip
    first = _birnn(*command)
    try:
        deadline = time.monotonic() + 60
        while not ((out / ".owner").is_file() and (out / ".owner").read_text().strip()):
            assert time.monotonic() < deadline and first.poll() is None, "the first never started"
            time.sleep(0.05)
        second = _birnn(*command, "--overwrite")
        err = second.communicate(timeout=60)[1]
        assert second.returncode == 2
        assert (
            err == f"birnn train: error: --out {out} is in use by process {first.pid} "
            "(another birnn train); wait for it to finish or choose another --out\n"
        )
        first_err = first.communicate(timeout=300)[1]
    finally:
        first.kill()
        first.communicate()
    assert first.returncode == 0, first_err
    lines = (out / "log.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == list(range(1, 41))
    assert (out / ".owner").read_text() == ""  # the lock was let go


def test_two_runs_started_together_one_wins(tmp_path, data):
    out = tmp_path / "run"
    command = ["train", "--task", "tag", "--train", str(data["train"]), "--out", str(out),
               "--epochs", "3", *SMALL.split()]  # fmt: skip
    runs = [_birnn(*command), _birnn(*command)]
    results = [(r.wait(timeout=300), r.communicate()[1]) for r in runs]
    codes = sorted(code for code, _ in results)
    # exactly one is refused: by the lock (naming the holder's PID, or "another process" when
    # the winner holds the lock but has not written its PID yet), or (when the winner has
    # written its first epoch already) because --out holds a run; never two writers at once
    assert codes == [0, 2], results
    refusal = next(err for code, err in results if code == 2)
    holder = r"is in use by (process \d+|another process) \(another birnn train\)"
    by_lock = re.search(holder, refusal)
    assert by_lock or "already holds a run" in refusal, refusal
    lines = (out / "log.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2, 3]


def test_overwrite_keeps_the_previous_run_until_the_first_checkpoint(
    capsys, monkeypatch, tmp_path, tagger, data
):
    out = tmp_path / "run"
    shutil.copytree(tagger[0], out)
    previous = snapshot(out)
    calls = []

    def interrupt_in_epoch_two(self, batch, rng, epoch, index):
        calls.append(epoch)
        if epoch == 1:
            raise KeyboardInterrupt
        return real(self, batch, rng, epoch, index)

    from birnn.train.trainer import Trainer

    real = Trainer._loss_and_grads
    monkeypatch.setattr(Trainer, "_loss_and_grads", interrupt_in_epoch_two)
    code, _, err = cli(capsys, TRAIN + " --overwrite --seed 9", out=out, **data)
    assert (code, err.splitlines()[-1]) == (130, "birnn train: interrupted")
    assert 0 in calls and snapshot(out) != previous
    # the new run's first epoch is complete: its checkpoint, log line and run.json; no results
    assert not (out / "results.json").exists()
    assert load_checkpoint(out / "last").trainer_state.info["epoch"] == 1
    assert len((out / "log.jsonl").read_text(encoding="utf-8").splitlines()) == 1
    runs = json.loads((out / "run.json").read_text(encoding="utf-8"))["runs"]
    assert len(runs) == 1 and "--seed" in runs[0]["command"]


def test_run_json_records_the_command_the_version_and_the_data(capsys, tmp_path, data):
    out = tmp_path / "run"
    ok(capsys, TRAIN, out=out, **data)
    first = json.loads((out / "run.json").read_text(encoding="utf-8"))["runs"]
    assert len(first) == 1
    entry = first[0]
    assert entry["command"][:3] == ["birnn", "train", "--task"]
    assert entry["birnn"] == birnn.__version__
    for split in ("train", "dev"):
        (recorded,) = entry["data"][split]
        path = Path(recorded["path"])
        assert path == data[split].resolve()
        assert recorded["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    ok(capsys, TRAIN.replace("--epochs 2", "--epochs 3") + " --resume", out=out, **data)
    runs = json.loads((out / "run.json").read_text(encoding="utf-8"))["runs"]
    assert runs[0] == entry and "--resume" in runs[1]["command"]
    assert results_of(out)["train"]["epochs"] == 3


def test_results_are_removed_while_a_resumed_run_changes_the_model(
    capsys, monkeypatch, tmp_path, tagger, data
):
    out = tmp_path / "run"
    shutil.copytree(tagger[0], out)
    from birnn.train.trainer import Trainer

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_loss_and_grads", interrupt)
    code, _, _ = cli(capsys, TRAIN.replace("--epochs 2", "--epochs 9") + " --resume", out=out,
                     **data)  # fmt: skip
    assert code == 130
    assert not (out / "results.json").exists()  # about to describe a model no longer there
    load_checkpoint(out / "best")  # which is intact


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_govern_numpys_blas(capsys, tagger, threads):
    ok(capsys, f"predict --model {{out}} --text 'a dog runs' --threads {threads}", out=tagger[0])
    pools = [p for p in threadpool_info() if p["user_api"] == "blas"]
    assert pools and all(p["num_threads"] == threads for p in pools)
    assert birnn.get_num_threads() == threads


def test_every_command_takes_threads(capsys):
    for command in ("demo", "train", "evaluate", "predict"):
        assert "--threads" in ok(capsys, f"{command} --help")


def test_the_epoch_line_is_written_without_bars_when_redirected(tmp_path, data):
    """stderr to a file: one plain line per epoch (scores in percent), no carriage returns."""
    out = tmp_path / "run"
    command = [
        "train",
        "--task",
        "tag",
        "--train",
        str(data["train"]),
        "--dev",
        str(data["dev"]),
        "--out",
        str(out),
        "--epochs",
        "2",
        *SMALL.replace(" --no-progress", "").split(),
    ]
    run = _birnn(*command)  # fmt: skip
    _, stderr = run.communicate(timeout=300)
    assert run.returncode == 0, stderr
    assert "\r" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2: train loss ")
    score = 100 * json.loads((out / "log.jsonl").read_text().splitlines()[0])["dev_score"]
    assert f"dev score {score:.2f}" in lines[0]


def test_a_full_disk_mid_run_keeps_the_previous_checkpoint(capsys, monkeypatch, tmp_path,
                                                           tagger, data):  # fmt: skip
    out = tmp_path / "run"
    shutil.copytree(tagger[0], out)
    last = snapshot(out / "last")
    import errno
    import os

    real_write = os.write

    def full(fd, data_):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("birnn.train.checkpoint.os.write", full)
    code, _, err = cli(capsys, TRAIN.replace("--epochs 2", "--epochs 6") + " --resume", out=out,
                       **data)  # fmt: skip
    monkeypatch.setattr("birnn.train.checkpoint.os.write", real_write)
    assert code == 2 and "No space left on device" in err.splitlines()[-1]
    assert "Traceback" not in err
    assert snapshot(out / "last") == last  # untouched, and it still resumes
    ok(capsys, TRAIN.replace("--epochs 2", "--epochs 6") + " --resume", out=out, **data)


def test_labels_never_seen_in_training_give_one_warning_line(capsys, tmp_path, tagger, data):
    sentences = [TaggedSentence(["the", "dog", "runs", "."], ["DET", "NOUN", "VERB", "SYM"]),
                 TaggedSentence(["a", "cat", "."], ["DET", "NOUN", "SYM"])]  # fmt: skip
    odd = write_conllu(tmp_path / "odd.conllu", sentences)
    code, out, err = cli(capsys, "evaluate --model {out} --data {odd}", out=tagger[0], odd=odd)
    assert code == 0 and out.startswith("accuracy")
    assert err == (f"birnn evaluate: warning: {odd}: 1 labels never seen in training (SYM) on 2 "
                   "tokens, scored as errors\n")  # fmt: skip
