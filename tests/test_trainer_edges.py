"""Resuming at the edges: a run without dev scores resumes, and every refusal starts with the
checkpoint's path (what mutation testing found unpinned in ``Trainer._restore``)."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from birnn.train import CheckpointError, TrainConfig, Trainer

pytest.importorskip("safetensors")


class Regression:
    """y = w . x, mean squared error; ``width`` sets the parameter's shape."""

    def __init__(self, width: int = 3):
        self.params = {"w": np.zeros(width)}

    def loss_and_grads(self, batch, rng):
        x, y = batch
        err = x @ self.params["w"] - y
        return float(np.mean(err**2)), {"w": 2 * x.T @ err / len(y)}, len(y)


def batches(rng, width: int = 3):
    x = np.random.default_rng(0).standard_normal((8, width))
    return [(x, x @ np.arange(1.0, width + 1))]


def test_a_run_without_dev_scores_resumes(tmp_path):
    config = TrainConfig(epochs=1, lr=0.1, optimizer="sgd", momentum=0.0)
    first = Trainer(Regression(), config, tmp_path, progress=False).fit(batches)
    assert (first.epochs, first.best_score, first.best_epoch) == (1, None, None)
    model = Regression()
    more = TrainConfig(epochs=3, lr=0.1, optimizer="sgd", momentum=0.0)
    result = Trainer(model, more, tmp_path, progress=False).fit(batches, resume=True)
    assert (result.epochs, result.best_score, result.best_epoch) == (3, None, None)
    straight = Regression()
    Trainer(straight, more, tmp_path / "straight", progress=False).fit(batches)
    np.testing.assert_array_equal(model.params["w"], straight.params["w"])


def test_resume_refusals_name_the_checkpoint(tmp_path):
    config = TrainConfig(epochs=1, lr=0.1, optimizer="sgd", momentum=0.0)  # no optimizer state
    Trainer(Regression(), config, tmp_path, evaluate=lambda m: {"score": 0.5},
            progress=False).fit(batches)  # fmt: skip
    last = tmp_path / "last"
    wider = Trainer(Regression(width=4), config, tmp_path, progress=False)
    message = f"{last}: parameters do not match the model: shape mismatch: w (3,) (model: (4,))"
    with pytest.raises(CheckpointError, match=f"^{re.escape(message)}$"):
        wider.fit(lambda rng: batches(rng, 4), resume=True)
    shutil.rmtree(last)
    shutil.copytree(tmp_path / "best", last)  # a checkpoint without trainer state
    message = f"{last}: has no trainer state, so training cannot resume"
    with pytest.raises(CheckpointError, match=f"^{re.escape(message)}$"):
        Trainer(Regression(), config, tmp_path, progress=False).fit(batches, resume=True)


def test_evaluate_without_a_score_is_refused(tmp_path):
    trainer = Trainer(Regression(), TrainConfig(epochs=1), tmp_path,
                      evaluate=lambda m: {"accuracy": 1.0}, progress=False)  # fmt: skip
    message = "evaluate must return a dict with a 'score'; received {'accuracy': 1.0}"
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        trainer.fit(batches)


def test_the_log_writes_numpy_values_as_json_and_makes_its_directories(tmp_path):
    from birnn.train import MetricsLog

    log = MetricsLog(tmp_path / "a" / "b" / "log.jsonl")
    log.append({"x": np.float32(1.5), "n": np.int64(3), "v": [np.float64(2.0), float("nan")]})
    assert log.read() == [{"x": 1.5, "n": 3, "v": [2.0, None]}]
    fresh = MetricsLog(tmp_path / "c" / "d" / "log.jsonl")
    fresh.reset()
    assert fresh.read() == [] and fresh.path.exists()


def test_parameter_mismatches_are_listed_in_one_message():
    from birnn.train import check_params

    expected = {"w": np.zeros(2), "u": np.zeros((2, 2))}
    loaded = {"w": np.zeros(3), "u": np.zeros(2), "v": np.zeros(1)}
    message = (
        "parameters do not match the model: unexpected ['v']; "
        "shape mismatch: u (2,) (model: (2, 2)), w (3,) (model: (2,))"
    )
    with pytest.raises(CheckpointError, match=f"^{re.escape(message)}$"):
        check_params(expected, loaded)
    with pytest.raises(CheckpointError, match=f"^{re.escape('run/last: ' + message)}$"):
        check_params(expected, loaded, "run/last")
