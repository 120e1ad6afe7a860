"""The generic trainer on a tiny NumPy model: resuming is bit-identical, seeds repeat runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("safetensors")

from birnn.train import (
    TIMING_FIELDS,
    CheckpointError,
    MetricsLog,
    TrainConfig,
    Trainer,
    load_checkpoint,
)
from birnn.train import trainer as trainer_module

D, C = 4, 3  # features, classes


def _data(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, D))
    y = x @ np.array([[1.0, -1.0, 0.5], [0.5, 1.0, -1.0], [-1.0, 0.3, 1.0], [0.2, 0.2, 0.2]])
    return x, y.argmax(axis=1)


TRAIN, DEV = _data(1, 50), _data(2, 30)


class SoftmaxRegression:
    """s = dropout(x) @ W.T + b, mean cross-entropy; follows the trainer's model protocol."""

    def __init__(self, seed: int = 0, dropout: float = 0.3):
        rng = np.random.default_rng(seed)
        self.params = {
            "linear.weight": 0.5 * rng.standard_normal((C, D)),
            "linear.bias": 0.1 * rng.standard_normal(C),
        }
        self.dropout = dropout

    def scores(self, x: np.ndarray) -> np.ndarray:
        return x @ self.params["linear.weight"].T + self.params["linear.bias"]

    def loss_and_grads(self, batch, rng):
        x, y = batch
        if self.dropout:  # uses the trainer's Generator, so resuming must restore its state
            x = x * (rng.random(x.shape) >= self.dropout) / (1.0 - self.dropout)
        s = self.scores(x)
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        n = len(y)
        loss = -np.log(p[np.arange(n), y]).mean()
        ds = p
        ds[np.arange(n), y] -= 1.0
        ds /= n
        return float(loss), {"linear.weight": ds.T @ x, "linear.bias": ds.sum(axis=0)}, n


def train_batches(rng: np.random.Generator, batch_size: int = 16):
    x, y = TRAIN
    order = rng.permutation(len(y))
    for i in range(0, len(y), batch_size):
        idx = order[i : i + batch_size]
        yield x[idx], y[idx]


def dev_accuracy(model: SoftmaxRegression) -> dict[str, float]:
    x, y = DEV
    return {"score": float((model.scores(x).argmax(axis=1) == y).mean()), "items": len(y)}


CONFIGS = {
    "adam-exponential": dict(optimizer="adam", lr=0.05, clip=0.5, schedule="exponential"),
    "sgd-plateau": dict(
        optimizer="sgd",
        lr=0.2,
        momentum=0.9,
        nesterov=True,
        weight_decay=1e-3,
        schedule="plateau",
        schedule_args={"patience": 0, "factor": 0.5},
    ),
    "adamw-cosine-warmup": dict(optimizer="adamw", lr=0.05, schedule="cosine", warmup=0.5),
}
CHECKPOINT_CONFIG = {"model": {"features": D, "classes": C}, "labels": ["a", "b", "c"]}


def _fit(out, epochs, resume=False, seed=0, model=None, **kwargs):
    config = TrainConfig(epochs=epochs, seed=seed, patience=10, **kwargs)
    model = model or SoftmaxRegression()
    trainer = Trainer(
        model,
        config,
        out,
        evaluate=dev_accuracy,
        checkpoint_config=CHECKPOINT_CONFIG,
        progress=False,
    )
    return model, trainer.fit(train_batches, resume=resume)


def _without_timing(records):
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records]


def _assert_same_run(out_a, model_a, out_b, model_b):
    for k in model_a.params:
        np.testing.assert_array_equal(model_a.params[k], model_b.params[k])
    log_a = MetricsLog(out_a / "log.jsonl").read()
    log_b = MetricsLog(out_b / "log.jsonl").read()
    assert _without_timing(log_a) == _without_timing(log_b)
    for name in ("best", "last"):
        a, b = load_checkpoint(out_a / name), load_checkpoint(out_b / name)
        for k in a.params:
            np.testing.assert_array_equal(a.params[k], b.params[k])
    state_a = load_checkpoint(out_a / "last").trainer_state
    state_b = load_checkpoint(out_b / "last").trainer_state
    for k in state_a.tensors:
        np.testing.assert_array_equal(state_a.tensors[k], state_b.tensors[k])
    drop = ("log_position", "log_sha256")  # the log's bytes depend on the timing fields
    assert {k: v for k, v in state_a.info.items() if k not in drop} == {
        k: v for k, v in state_b.info.items() if k not in drop
    }


@pytest.mark.parametrize("name", ["adam-exponential", "sgd-plateau"])
def test_resume_extends_a_run_bit_identically(tmp_path, name):
    """Four epochs straight == two epochs, then resumed (with epochs raised) to four."""
    model_a, result_a = _fit(tmp_path / "a", 4, **CONFIGS[name])
    _fit(tmp_path / "b", 2, **CONFIGS[name])
    other_init = SoftmaxRegression(seed=123)  # resuming must overwrite every parameter
    model_b, result_b = _fit(tmp_path / "b", 4, resume=True, model=other_init, **CONFIGS[name])
    _assert_same_run(tmp_path / "a", model_a, tmp_path / "b", model_b)
    assert result_a.epochs == result_b.epochs == 4
    assert _without_timing(result_a.history) == _without_timing(result_b.history)
    assert [r["epoch"] for r in result_b.history] == [1, 2, 3, 4]
    assert (result_a.best_epoch, result_a.best_score) == (result_b.best_epoch, result_b.best_score)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_resume_after_a_crash_bit_identically(tmp_path, monkeypatch, name):
    """A crash after epoch 3's log line, before its checkpoint: the resumed log drops the line."""
    model_a, _ = _fit(tmp_path / "a", 4, **CONFIGS[name])

    real_save = trainer_module.save_checkpoint
    saves = []

    def crash_on_third_last(path, *args, **kwargs):
        if path.name == "last":
            saves.append(path)
            if len(saves) == 3:
                raise KeyboardInterrupt
        return real_save(path, *args, **kwargs)

    monkeypatch.setattr(trainer_module, "save_checkpoint", crash_on_third_last)
    with pytest.raises(KeyboardInterrupt):
        _fit(tmp_path / "b", 4, **CONFIGS[name])
    monkeypatch.undo()
    assert len(MetricsLog(tmp_path / "b" / "log.jsonl").read()) == 3
    assert load_checkpoint(tmp_path / "b" / "last").trainer_state.info["epoch"] == 2

    model_b, _ = _fit(
        tmp_path / "b", 4, resume=True, model=SoftmaxRegression(seed=7), **CONFIGS[name]
    )
    _assert_same_run(tmp_path / "a", model_a, tmp_path / "b", model_b)


def test_seeds_repeat_runs(tmp_path):
    """The seed is the only source of randomness (the values themselves are pinned against a
    hand-written torch loop in test_trainer_reference.py)."""
    model_a, result_a = _fit(tmp_path / "a", 2, seed=5, **CONFIGS["adam-exponential"])
    model_b, result_b = _fit(tmp_path / "b", 2, seed=5, **CONFIGS["adam-exponential"])
    model_c, _ = _fit(tmp_path / "c", 2, seed=6, **CONFIGS["adam-exponential"])
    _assert_same_run(tmp_path / "a", model_a, tmp_path / "b", model_b)
    assert result_a.best_score == result_b.best_score
    assert not np.array_equal(model_a.params["linear.weight"], model_c.params["linear.weight"])


def test_log_and_checkpoints(tmp_path):
    _, result = _fit(tmp_path, 3, **CONFIGS["adam-exponential"])
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert set(first) == {
        "epoch",
        "train_loss",
        "train_items",
        "lr",
        "dev_score",
        "dev_items",
        "improved",
        "seconds",
        "items_per_s",
    }
    assert first["epoch"] == 1
    assert first["train_items"] == 50
    assert first["improved"] is True
    assert [r["lr"] for r in result.history] == pytest.approx([0.05, 0.045, 0.0405])
    best = load_checkpoint(tmp_path / "best")
    assert best.trainer_state is None
    assert best.config == CHECKPOINT_CONFIG
    last = load_checkpoint(tmp_path / "last")
    assert last.config == CHECKPOINT_CONFIG
    info = last.trainer_state.info
    assert (info["epoch"], info["step"]) == (3, 12)
    assert info["train_config"]["optimizer"] == "adam"
    assert "exp_avg.linear.weight" in last.trainer_state.tensors


def test_early_stopping_keeps_the_best_parameters(tmp_path):
    scores = iter([0.5, 0.7, 0.6, 0.7, 0.9, 0.95])
    snapshots = []

    def evaluate(model):
        snapshots.append({k: v.copy() for k, v in model.params.items()})
        return {"score": next(scores)}

    config = TrainConfig(epochs=6, patience=2, lr=0.05)
    model = SoftmaxRegression()
    trainer = Trainer(model, config, tmp_path, evaluate=evaluate, progress=False)
    result = trainer.fit(train_batches)
    assert (result.epochs, result.best_epoch, result.best_score) == (4, 2, 0.7)
    assert result.stopped_early
    assert [r["improved"] for r in result.history] == [True, True, False, False]
    best = load_checkpoint(tmp_path / "best")
    for k, v in snapshots[1].items():
        np.testing.assert_array_equal(best.params[k], v)

    again = Trainer(model, config, tmp_path, evaluate=evaluate, progress=False)
    assert again.fit(train_batches, resume=True).epochs == 4  # nothing left to do
    more_patience = TrainConfig(epochs=6, patience=3, lr=0.05)
    resumed = Trainer(model, more_patience, tmp_path, evaluate=evaluate, progress=False)
    result = resumed.fit(train_batches, resume=True)
    assert (result.epochs, result.best_epoch, result.best_score) == (6, 6, 0.95)
    assert not result.stopped_early


def test_without_evaluate(tmp_path):
    _fit(tmp_path, 1)  # an earlier run's best/ must not pass for this run's
    trainer = Trainer(SoftmaxRegression(), TrainConfig(epochs=2), tmp_path, progress=False)
    result = trainer.fit(train_batches)
    assert result.best_epoch is None
    assert not result.stopped_early
    assert "dev_score" not in result.history[0]
    assert not (tmp_path / "best").exists()
    assert (tmp_path / "last").exists()


def test_progress_bar_and_summary_on_stderr(tmp_path, capsys):
    trainer = Trainer(SoftmaxRegression(), TrainConfig(epochs=1), tmp_path, evaluate=dev_accuracy)
    trainer.fit(train_batches)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "epoch 1/1: train loss" in captured.err
    assert "dev score" in captured.err
    quiet = Trainer(SoftmaxRegression(), TrainConfig(epochs=2), tmp_path, progress=False)
    quiet.fit(train_batches)  # no bar (stderr is no terminal here anyway), the summaries stay
    err = capsys.readouterr().err
    assert err.count("train loss") == 2 and "\r" not in err


def test_resume_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint there"):
        _fit(tmp_path, 2, resume=True)
    _fit(tmp_path, 1)
    with pytest.raises(ValueError, match=r"differs in \['lr'\]"):
        _fit(tmp_path, 2, resume=True, lr=0.5)
    (tmp_path / "log.jsonl").write_text("")
    with pytest.raises(CheckpointError, match="the log holds 0 bytes"):
        _fit(tmp_path, 2, resume=True)


def test_bad_input(tmp_path):
    class Diverging(SoftmaxRegression):
        def loss_and_grads(self, batch, rng):
            _, grads, n = super().loss_and_grads(batch, rng)
            return float("nan"), grads, n

    with pytest.raises(FloatingPointError, match="loss nan at epoch 1, batch 1"):
        Trainer(Diverging(), TrainConfig(epochs=1), tmp_path, progress=False).fit(train_batches)

    class NoCount(SoftmaxRegression):
        def loss_and_grads(self, batch, rng):
            return super().loss_and_grads(batch, rng)[:2]

    with pytest.raises(TypeError, match=r"must return \(loss, grads, count\)"):
        Trainer(NoCount(), TrainConfig(epochs=1), tmp_path, progress=False).fit(train_batches)
    trainer = Trainer(SoftmaxRegression(), TrainConfig(epochs=1), tmp_path, progress=False)
    with pytest.raises(ValueError, match="yielded no batches in epoch 1"):
        trainer.fit(lambda rng: [])
    with pytest.raises(ValueError, match="'plateau' needs a dev score"):
        Trainer(SoftmaxRegression(), TrainConfig(schedule="plateau"), tmp_path, progress=False).fit(
            train_batches
        )
    with pytest.raises(TypeError, match="checkpoint_config must be JSON-serialisable"):
        Trainer(SoftmaxRegression(), TrainConfig(), tmp_path, checkpoint_config={"x": object()})
    with pytest.raises(TypeError, match="model must have loss_and_grads"):
        Trainer(object(), TrainConfig(), tmp_path)


def test_train_config():
    config = TrainConfig(optimizer="sgd", schedule="exponential", schedule_args={"gamma": 0.5})
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match=r"optimizer must be one of \['adam', 'adamw', 'sgd'\]"):
        TrainConfig(optimizer="adagrad")
    with pytest.raises(ValueError, match=r"schedule must be one of \['constant', 'cosine'"):
        TrainConfig(schedule="step")
    with pytest.raises(ValueError, match="'exponential' has no warmup"):
        TrainConfig(schedule="exponential", warmup=1.0)
    with pytest.raises(ValueError, match=r"unknown TrainConfig fields \['epoch'\]"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(ValueError, match="epochs must be >= 1; received 0"):
        TrainConfig(epochs=0)
    with pytest.raises(TypeError, match="clip must be a real number"):
        TrainConfig(clip=None)
    assert TrainConfig(schedule="cosine").make_schedule().total == 20


@pytest.mark.parametrize("schedule", ["constant", "linear", "exponential", "cosine", "plateau"])
def test_needs_dev_score_says_what_the_schedule_does(schedule):
    config = TrainConfig(schedule=schedule)
    assert config.needs_dev_score == config.make_schedule().needs_score == (schedule == "plateau")
