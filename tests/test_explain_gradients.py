"""Gradient flow per chain and step: the per-step aggregation, a model's backward under a
GradientTrace, and the trainer's around_step hook (tracing changes no parameter)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import birnn
from birnn import Tagger, TaggerConfig, TrainConfig, Trainer
from birnn.explain import GradientFlow, GradientTrace, TrainingTrace, read_trace
from birnn.explain.gradients import flow
from test_explain_attribution import batch, encoder

pytest.importorskip("safetensors")


def test_norms_are_averaged_per_step_of_each_chain():
    m = birnn.RNN(2, 3, bidirectional=True, batch_first=True, dtype=np.float64)
    lengths = np.array([3, 1])
    fwd, bwd = np.zeros((2, 3, 3)), np.zeros((2, 3, 3))
    fwd[0, :, 0] = [1, 2, 3]
    fwd[1, 0, 1] = 5
    bwd[0, :, 2] = [4, 6, 8]  # at t = 0, 1, 2: the backward chain's steps k = 2, 1, 0
    bwd[1, 0, 0] = 7
    f = flow(m, [fwd, bwd], lengths)
    assert f.chains == ["l0", "l0_reverse"]
    np.testing.assert_array_equal(f.counts, [2, 1, 1])
    np.testing.assert_allclose(f.norms, [[3, 2, 3], [7.5, 6, 4]])
    # a step no sequence reaches is NaN
    f = flow(m, [fwd[1:], bwd[1:]], lengths[1:])
    assert np.isnan(f.norms[:, 1:]).all()
    combined = GradientFlow.combine([flow(m, [fwd, bwd], lengths), f])
    np.testing.assert_array_equal(combined.counts, [3, 1, 1])
    np.testing.assert_allclose(combined.norms[:, 0], [(3 * 2 + 5) / 3, (7.5 * 2 + 7) / 3])
    assert GradientFlow.from_json(json.loads(json.dumps(f.to_json()))).chains == f.chains


def _tagger(seed: int = 0) -> Tagger:
    return Tagger(TaggerConfig(encoder(2), 4), np.random.default_rng(seed), np.float64)


def _tagged_batch(seed: int):
    b = batch(np.random.default_rng(seed), lengths=(6, 4, 5))
    tags = np.where(b.mask(), np.random.default_rng(seed).integers(0, 4, b.words.shape), -1)
    return type(b)(b.words, b.lengths, b.chars, tags)


def test_a_trace_records_every_chain_of_a_models_backward():
    model = _tagger()
    trace = GradientTrace(model.encoder.rnn)
    with trace.attached():
        model.loss_and_grads(_tagged_batch(1), np.random.default_rng(0))
        with pytest.raises(ValueError, match="already traced"), trace.attached():
            pass
    assert model.encoder.rnn.state_grad_hook is None
    model.loss_and_grads(_tagged_batch(1), np.random.default_rng(0))  # not recorded
    (f,) = trace.flows
    assert f.chains == ["l0", "l0_reverse", "l1", "l1_reverse"]
    np.testing.assert_array_equal(f.counts, [3, 3, 3, 3, 2, 1])
    assert np.all(np.isfinite(f.norms)) and np.all(f.norms > 0)


def _fit(model: Tagger, out, around_step=None) -> Tagger:
    batches = [_tagged_batch(s) for s in range(3)]
    config = TrainConfig(epochs=2, lr=0.01, patience=0)
    trainer = Trainer(model, config, out, progress=False, around_step=around_step)
    trainer.fit(lambda rng: batches)
    return model


@pytest.fixture
def numpy_loop():
    """Traced steps run the NumPy time loop: compare like with like."""
    previous = birnn.get_backend()
    birnn.set_backend("numpy")
    yield
    birnn.set_backend(previous)


def test_training_with_a_trace_writes_every_nth_step_and_changes_nothing(tmp_path, numpy_loop):
    plain = _fit(_tagger(), tmp_path / "plain")
    model = _tagger()
    traced = TrainingTrace(model.encoder.rnn, every=2)
    _fit(model, tmp_path / "traced", traced.around_step)
    for name, value in plain.params.items():
        np.testing.assert_array_equal(model.params[name], value, err_msg=name)
    assert [w["step"] for w, _ in traced.records] == [1, 3, 5]
    assert [(w["epoch"], w["batch"]) for w, _ in traced.records] == [(1, 1), (1, 3), (2, 2)]
    assert all(f.chains == ["l0", "l0_reverse", "l1", "l1_reverse"] for _, f in traced.records)
    # nothing is written until save_to; then what was recorded, and every later record
    path = tmp_path / "gradients.jsonl"
    path.write_text("an earlier run's trace\n", encoding="utf-8")
    traced.save_to(path)
    assert [w for w, _ in read_trace(path)] == [w for w, _ in traced.records]
    with traced.around_step(2, 0, 6):
        model.loss_and_grads(_tagged_batch(0), np.random.default_rng(0))
    assert [w["step"] for w, _ in read_trace(path)] == [1, 3, 5, 7]
    resumed = TrainingTrace(model.encoder.rnn, every=5)
    with resumed.around_step(3, 0, 10):
        model.loss_and_grads(_tagged_batch(0), np.random.default_rng(0))
    resumed.save_to(path, append=True)  # a resumed run adds to the file
    assert [w["step"] for w, _ in read_trace(path)] == [1, 3, 5, 7, 11]


def test_a_broken_trace_file_is_reported_with_its_line(tmp_path):
    path = tmp_path / "gradients.jsonl"
    path.write_text('{"epoch": 1}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"gradients.jsonl:1: not a gradient trace record"):
        read_trace(path)
