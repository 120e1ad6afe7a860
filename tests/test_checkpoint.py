"""Checkpoints: round trips, atomic replacement when the process dies at any step of a save,
integrity (SHA-256, finite values), clear errors."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import sys

import numpy as np
import pytest

pytest.importorskip("safetensors")

from birnn.train import (
    CheckpointError,
    TrainerState,
    assign_params,
    check_params,
    load_checkpoint,
    remove_checkpoint,
    save_checkpoint,
)
from cli_support import nan_weights


def _params(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "embed.weight": rng.standard_normal((5, 3)).astype(np.float32),
        "out.weight": rng.standard_normal((3, 2)).T,  # a transposed (non C-ordered) view
        "out.bias": rng.standard_normal(2),
        "scale": np.array(rng.standard_normal()),  # 0-d stays 0-d
    }


CONFIG = {"model": {"hidden": 3, "head": "crf"}, "vocab": ["<pad>", "a", "é"], "task": "tag"}


def _state(seed: int) -> TrainerState:
    tensors = {"step": np.array(seed, dtype=np.int64), "exp_avg.out.bias": np.full(2, seed * 0.5)}
    rng = np.random.default_rng(seed)
    info = {"epoch": seed, "best_score": None, "rng": rng.bit_generator.state}
    return TrainerState(tensors, info)


def _assert_is(ckpt, seed: int, with_state: bool = True):
    want = _params(seed)
    assert set(ckpt.params) == set(want)
    for k, v in want.items():
        np.testing.assert_array_equal(ckpt.params[k], v)
        assert ckpt.params[k].dtype == v.dtype
    assert ckpt.config == CONFIG
    if with_state:
        assert ckpt.trainer_state.info == json.loads(json.dumps(_state(seed).info))
        np.testing.assert_array_equal(ckpt.trainer_state.tensors["step"], seed)
    else:
        assert ckpt.trainer_state is None


def test_round_trip(tmp_path):
    path = tmp_path / "run" / "last"
    assert save_checkpoint(path, _params(1), CONFIG, _state(1)) == path
    assert sorted(os.listdir(path)) == [
        "config.json",
        "model.safetensors",
        "trainer.json",
        "trainer.safetensors",
    ]
    ckpt = load_checkpoint(path)
    _assert_is(ckpt, 1)
    assert ckpt.path == path
    rng = np.random.default_rng()
    rng.bit_generator.state = ckpt.trainer_state.info["rng"]
    assert rng.random() == np.random.default_rng(1).random()
    ckpt.params["out.bias"][:] = 0.0  # own, writable copies
    save_checkpoint(path, _params(2), CONFIG)  # replace, now without trainer state
    _assert_is(load_checkpoint(path), 2, with_state=False)
    assert os.listdir(tmp_path / "run") == ["last"]  # nothing left beside it


# -- a crash at every step of the save protocol ---------------------------------------------------

# The calls a save makes that change the file system: each is one step of the protocol.
STEPS = ("write", "fsync", "mkdir", "rename", "unlink", "rmdir")


def _save_dying_at(step: int | None, path, seed: int) -> int:
    """Save checkpoint ``seed`` at ``path`` in a forked child that stops dead (``os._exit``: no
    cleanup code runs) at its ``step``-th file-system call; a write it dies in is half done.
    Returns the number of calls the child made (all of them when ``step`` is None)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.close(read_end)
            calls = [0]
            real = {name: getattr(os, name) for name in STEPS}

            def counted(name):
                def call(*args, **kwargs):
                    calls[0] += 1
                    if calls[0] == step:
                        if name == "write":  # a torn write: half the bytes, then death
                            real["write"](args[0], bytes(args[1])[: len(args[1]) // 2])
                        os._exit(0)
                    return real[name](*args, **kwargs)

                return call

            for name in STEPS:
                setattr(os, name, counted(name))
            save_checkpoint(path, _params(seed), CONFIG, _state(seed))
            for name in STEPS:
                setattr(os, name, real[name])
            os.write(write_end, str(calls[0]).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as f:
        made = f.read()
    os.waitpid(pid, 0)
    return int(made) if made else -1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("previous", [False, True], ids=["first save", "replacing one"])
def test_a_crash_at_any_step_of_a_save_leaves_a_loadable_checkpoint(tmp_path, previous):
    """Kill the save at each of its file-system calls in turn: what is left always loads as the
    previous checkpoint or the new one (or, for a first save, as none), and the next save
    cleans up and works."""
    path = tmp_path / "last"

    def setup() -> None:
        shutil.rmtree(tmp_path)
        tmp_path.mkdir()
        if previous:
            save_checkpoint(path, _params(1), CONFIG, _state(1))

    setup()
    steps = _save_dying_at(None, path, 2)
    # mkdir, 4 files written and synced, a directory sync, renames (and a backup deleted)
    assert steps >= (18 if previous else 12), steps
    outcomes = set()
    for step in range(1, steps + 1):
        setup()
        assert _save_dying_at(step, path, 2) == -1  # it did die
        try:
            ckpt = load_checkpoint(path)
        except CheckpointError as err:
            assert not previous and "no checkpoint there" in str(err), (step, err)
            outcomes.add("none")
        else:
            seed = 1 if np.array_equal(ckpt.params["scale"], _params(1)["scale"]) else 2
            _assert_is(ckpt, seed)
            outcomes.add(seed)
        save_checkpoint(path, _params(3), CONFIG, _state(3))
        _assert_is(load_checkpoint(path), 3)
        assert os.listdir(tmp_path) == ["last"], step  # no leftovers after the next save
    assert outcomes == ({1, 2} if previous else {"none", 2})


def test_a_failed_write_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    """A full disk (an OSError in the middle of a file): the old checkpoint stays, nothing is
    left over, and the error names the checkpoint."""
    path = tmp_path / "last"
    save_checkpoint(path, _params(1), CONFIG, _state(1))
    real_write = os.write
    calls = []

    def disk_full(fd, data):
        calls.append(fd)
        if len(calls) == 3:  # the third file: write half of it, then fail
            real_write(fd, bytes(data)[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(CheckpointError, match=r"cannot save checkpoint .*last: .*No space left"):
        save_checkpoint(path, _params(2), CONFIG, _state(2))
    monkeypatch.undo()
    _assert_is(load_checkpoint(path), 1)
    assert sorted(os.listdir(tmp_path)) == ["last"]


# -- integrity ----------------------------------------------------------------------------------


def test_each_weight_file_is_checked_against_its_recorded_sha256(tmp_path):
    path = save_checkpoint(tmp_path / "c", _params(1), CONFIG, _state(1))
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    data = (path / "model.safetensors").read_bytes()
    assert config["sha256"] == {"model.safetensors": hashlib.sha256(data).hexdigest()}
    info = json.loads((path / "trainer.json").read_text(encoding="utf-8"))
    trainer = (path / "trainer.safetensors").read_bytes()
    assert info["sha256"] == {"trainer.safetensors": hashlib.sha256(trainer).hexdigest()}
    assert "sha256" not in load_checkpoint(path).config  # the caller gets its own dict back

    for name in ("model.safetensors", "trainer.safetensors"):
        original = (path / name).read_bytes()
        damaged = bytearray(original)
        damaged[-1] ^= 1  # one bit of one weight
        (path / name).write_bytes(bytes(damaged))
        with pytest.raises(CheckpointError, match=rf"{name}: its SHA-256 is not the one recorded"):
            load_checkpoint(path)
        (path / name).write_bytes(original)
    load_checkpoint(path)


def test_a_checkpoint_saved_before_checksums_loads_with_a_warning(tmp_path, caplog):
    """birnn 0.1 recorded no SHA-256: its runs still load (values checked, bytes cannot be);
    a checksum entry that is there but names no file is refused as before."""
    path = save_checkpoint(tmp_path / "c", _params(1), CONFIG)
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    del config["sha256"]
    (path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with caplog.at_level("WARNING", logger="birnn"):
        _assert_is(load_checkpoint(path), 1, with_state=False)
    assert "records no SHA-256" in caplog.text
    (path / "config.json").write_text(json.dumps({**config, "sha256": {}}), encoding="utf-8")
    with pytest.raises(CheckpointError, match=r"records no SHA-256 of model\.safetensors"):
        load_checkpoint(path)


def test_weights_overwritten_with_nan_are_refused(tmp_path):
    path = save_checkpoint(tmp_path / "c", _params(1), CONFIG)
    nan_weights(path, rehash=False)
    with pytest.raises(CheckpointError, match="SHA-256 is not the one recorded"):
        load_checkpoint(path)
    nan_weights(path, rehash=True)
    with pytest.raises(CheckpointError, match=r"embed.weight holds 15 values that are NaN"):
        load_checkpoint(path)


def test_non_finite_parameters_are_never_saved(tmp_path):
    params = _params(1)
    params["out.bias"] = np.array([1.0, np.inf])
    with pytest.raises(CheckpointError, match=r"params\['out.bias'\] holds 1 values that are NaN"):
        save_checkpoint(tmp_path / "c", params, CONFIG)
    assert not (tmp_path / "c").exists()
    with pytest.raises(ValueError, match="must not use the key 'sha256'"):
        save_checkpoint(tmp_path / "c", _params(1), {"sha256": "mine"})


def test_crash_between_the_renames_falls_back_to_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last"
    save_checkpoint(path, _params(1), CONFIG, _state(1))
    real_rename = os.rename

    def die_before_swapping_in(src, dst):
        if ".tmp-" in os.fspath(src):  # the old one is already moved aside
            raise KeyboardInterrupt  # stands for a kill: no cleanup code of ours may run
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", die_before_swapping_in)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, _params(2), CONFIG, _state(2))
    monkeypatch.undo()
    assert not path.exists()
    ckpt = load_checkpoint(path)  # the previous good one, from its backup name
    _assert_is(ckpt, 1)
    assert ckpt.path.name == ".last.old"
    save_checkpoint(path, _params(3), CONFIG, _state(3))
    _assert_is(load_checkpoint(path), 3)
    assert os.listdir(tmp_path) == ["last"]


def test_crash_after_the_swap_leaves_a_loadable_new_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last"
    save_checkpoint(path, _params(1), CONFIG)
    save_checkpoint(path, _params(2), CONFIG)
    monkeypatch.setattr("shutil.rmtree", lambda *a, **k: None)  # trash never gets deleted
    save_checkpoint(path, _params(3), CONFIG)
    monkeypatch.undo()
    _assert_is(load_checkpoint(path), 3, with_state=False)
    save_checkpoint(path, _params(4), CONFIG)
    assert os.listdir(tmp_path) == ["last"]


def test_leftover_temporary_directory_is_ignored_and_removed(tmp_path):
    path = tmp_path / "best"
    save_checkpoint(path, _params(1), CONFIG)
    leftover = tmp_path / ".best.tmp-99999-deadbeef"
    leftover.mkdir()
    (leftover / "model.safetensors").write_bytes(b"\x08\x00\x00")  # half written
    _assert_is(load_checkpoint(path), 1, with_state=False)
    save_checkpoint(path, _params(2), CONFIG)
    _assert_is(load_checkpoint(path), 2, with_state=False)
    assert os.listdir(tmp_path) == ["best"]


def test_load_errors_name_the_path(tmp_path):
    path = tmp_path / "ckpt"
    with pytest.raises(CheckpointError, match=re.escape(f"{path}: no checkpoint there")):
        load_checkpoint(path)
    save_checkpoint(path, _params(1), CONFIG, _state(1))

    (path / "trainer.json").unlink()
    with pytest.raises(CheckpointError, match=r"has trainer.safetensors but not trainer.json"):
        load_checkpoint(path)
    (path / "trainer.safetensors").unlink()
    (path / "config.json").write_text("{not json")
    config_file = path / "config.json"
    with pytest.raises(CheckpointError, match=re.escape(f"{config_file}: not readable JSON")):
        load_checkpoint(path)
    (path / "config.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="must hold a JSON object; found list"):
        load_checkpoint(path)
    (path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match=r"config.json: not a birnn checkpoint"):
        load_checkpoint(path)
    garbage = b"garbage"
    (path / "model.safetensors").write_bytes(garbage)
    sha = hashlib.sha256(garbage).hexdigest()
    (path / "config.json").write_text(json.dumps({"sha256": {"model.safetensors": sha}}))
    with pytest.raises(CheckpointError, match=r"model.safetensors: not a readable safetensors"):
        load_checkpoint(path)
    (path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"model.safetensors: missing"):
        load_checkpoint(path)
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(CheckpointError, match="not a checkpoint directory"):
        load_checkpoint(file)
    assert issubclass(CheckpointError, ValueError)


def test_save_refuses_what_it_should_not_write(tmp_path):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    with pytest.raises(CheckpointError, match=r"refusing to replace .*notes.*\(thesis.tex\)"):
        save_checkpoint(other, _params(1), CONFIG)
    assert (other / "thesis.tex").read_text() == "precious"
    with pytest.raises(CheckpointError, match="config is not JSON"):
        save_checkpoint(tmp_path / "c", _params(1), {"x": np.float32(1.0)})
    with pytest.raises(TypeError, match=r"params\['w'\] must be a numeric np.ndarray"):
        save_checkpoint(tmp_path / "c", {"w": [1.0]}, CONFIG)
    with pytest.raises(TypeError, match="config must be a JSON-serialisable dict"):
        save_checkpoint(tmp_path / "c", _params(1), [1])
    assert not (tmp_path / "c").exists()


def test_missing_safetensors_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r"pip install safetensors"):
        save_checkpoint(tmp_path / "c", _params(1), CONFIG)


def test_check_and_assign_params():
    model = {"a": np.zeros((2, 3)), "b": np.zeros(4), "c": np.zeros(1)}
    loaded = {"a": np.ones((3, 2)), "b": np.ones(4), "d": np.ones(1)}
    with pytest.raises(CheckpointError) as info:
        check_params(model, loaded, "run/best")
    message = str(info.value)
    assert message.startswith("run/best: parameters do not match the model")
    assert "missing ['c']" in message
    assert "unexpected ['d']" in message
    assert "a (3, 2) (model: (2, 3))" in message
    with pytest.raises(CheckpointError):
        assign_params(model, loaded)
    assert not model["b"].any()  # nothing copied on error
    live = model["a"]
    assign_params(model, {"a": np.ones((2, 3)), "b": np.ones(4), "c": np.ones(1, np.float32)})
    assert model["a"] is live
    assert live.all()


def test_remove_checkpoint(tmp_path):
    path = tmp_path / "last"
    remove_checkpoint(path)  # nothing there: nothing to do
    save_checkpoint(path, _params(1), CONFIG)
    (tmp_path / ".last.old").mkdir()
    remove_checkpoint(path)
    assert os.listdir(tmp_path) == []
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("keep")
    with pytest.raises(CheckpointError, match="refusing to replace"):
        remove_checkpoint(tmp_path / "notes")
