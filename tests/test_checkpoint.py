"""Checkpoints: round trips, atomic replacement under simulated crashes, clear errors."""

from __future__ import annotations

import json
import os
import re
import sys

import numpy as np
import pytest

pytest.importorskip("safetensors")

import safetensors.numpy

from birnn.train import (
    CheckpointError,
    TrainerState,
    assign_params,
    check_params,
    load_checkpoint,
    remove_checkpoint,
    save_checkpoint,
)


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


def test_crash_while_writing_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last"
    save_checkpoint(path, _params(1), CONFIG, _state(1))
    real = safetensors.numpy.save_file
    calls = []

    def crash_on_second_file(tensors, filename, metadata=None):
        calls.append(filename)
        if len(calls) == 2:  # trainer.safetensors: write half of it, then die
            real(tensors, filename, metadata=metadata)
            with open(filename, "r+b") as f:
                f.truncate(os.path.getsize(filename) // 2)
            raise OSError("disk full")
        real(tensors, filename, metadata=metadata)

    monkeypatch.setattr(safetensors.numpy, "save_file", crash_on_second_file)
    with pytest.raises(CheckpointError, match=r"cannot save checkpoint .*last: disk full"):
        save_checkpoint(path, _params(2), CONFIG, _state(2))
    monkeypatch.undo()
    _assert_is(load_checkpoint(path), 1)
    save_checkpoint(path, _params(3), CONFIG, _state(3))
    _assert_is(load_checkpoint(path), 3)


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
    (path / "model.safetensors").write_bytes(b"garbage")
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
    with pytest.raises(ImportError, match=r'pip install "birnn\[train\]"'):
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
