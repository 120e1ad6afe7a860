"""Direction attribution of the models: every score splits exactly into forward + backward +
bias (1e-6 in float32, 1e-12 in float64), the decisions are the model's own predictions with
the right runner-up, and a CRF path's parts add up to its score (checked by enumerating every
path)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from birnn import (
    Classifier,
    ClassifierConfig,
    EncoderConfig,
    FillConfig,
    FillModel,
    Tagger,
    TaggerConfig,
)
from birnn.explain import crf_decisions, run_model, softmax_decisions
from birnn.models.batch import TokenBatch, gather_chars

TOLERANCE = {np.float32: 1e-6, np.float64: 1e-12}
DTYPES = [np.float32, np.float64]


def encoder(layers: int = 2, bidirectional: bool = True, cell: str = "lstm") -> EncoderConfig:
    return EncoderConfig(vocab_size=30, word_dim=6, char_vocab_size=12, char_dim=3,
                         char_hidden=3, hidden=5, layers=layers, cell=cell,
                         bidirectional=bidirectional, dropout=0.3)  # fmt: skip


def batch(rng: np.random.Generator, lengths=(7, 3, 5), blanks: bool = False) -> TokenBatch:
    n, steps = len(lengths), max(lengths)
    lengths = np.array(lengths)
    valid = np.arange(steps)[None, :] < lengths[:, None]
    words = np.where(valid, rng.integers(2, 30, (n, steps)), 0)
    forms = np.where(valid, rng.integers(0, 9, (n, steps)), 0)
    spellings = [list(rng.integers(2, 12, rng.integers(1, 5))) for _ in range(9)]
    positions = np.array([rng.integers(0, k) for k in lengths]) if blanks else None
    return TokenBatch(words, lengths, gather_chars(forms, lengths, spellings), None, positions)


def model_scores(model, b: TokenBatch) -> np.ndarray:
    """(N, P, C): the scores as the model computes them for its own predictions."""
    if isinstance(model, Tagger):
        y, _ = model.encoder.forward(b)
        return model.out.forward(y)[0]
    if isinstance(model, FillModel):
        return model.scores(b)[:, None]
    return model._scores(b, False, None)[0][:, None]


def models(dtype) -> list:
    rng = np.random.default_rng(0)
    return [
        Tagger(TaggerConfig(encoder(), 4), rng, dtype),
        Tagger(TaggerConfig(encoder(1, cell="gru"), 4, head="crf"), rng, dtype),
        Tagger(TaggerConfig(encoder(bidirectional=False), 4), rng, dtype),
        FillModel(FillConfig(encoder(), 6), rng, dtype),
        *(Classifier(ClassifierConfig(encoder(layers=1, cell="rnn"), 3, pooling), rng, dtype)
          for pooling in ("final", "mean", "max", "final+max+mean")),
    ]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_score_is_forward_plus_backward_plus_bias(dtype):
    tol = TOLERANCE[dtype]
    for model in models(dtype):
        b = batch(np.random.default_rng(1), blanks=isinstance(model, FillModel))
        run = run_model(model, b)
        np.testing.assert_allclose(run.scores, model_scores(model, b), rtol=0, atol=tol)
        total = run.parts["forward"] + run.parts["backward"] + run.bias
        scale = max(1.0, float(np.abs(run.scores).max()))
        np.testing.assert_allclose(total, run.scores, rtol=0, atol=tol * scale)
        assert np.abs(run.parts["forward"]).max() > 1e-3
        if run.merge is None:
            assert np.all(run.parts["backward"] == 0)
        else:
            assert np.abs(run.parts["backward"]).max() > 1e-3


def test_a_taggers_parts_are_each_directions_states_through_its_weights():
    model = models(np.float64)[0]
    b = batch(np.random.default_rng(6))
    run = run_model(model, b)
    _, cache = model.encoder.forward(b, keep_tape=True)
    h_fwd, h_bwd = model.encoder.rnn.direction_states(cache.rnn)
    w = model.out.params["weight"]
    np.testing.assert_allclose(run.parts["forward"], h_fwd @ w[:, :5].T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(run.parts["backward"], h_bwd @ w[:, 5:].T, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_classifiers_poolings_split_by_direction(dtype):
    model = models(dtype)[-1]  # final+max+mean
    run = run_model(model, batch(np.random.default_rng(2)))
    assert set(run.detail) == {f"{m} {d}" for m in ("final", "max", "mean")
                               for d in ("forward", "backward")}  # fmt: skip
    for direction in ("forward", "backward"):
        summed = sum(v for k, v in run.detail.items() if k.endswith(direction))
        np.testing.assert_allclose(summed, run.parts[direction], rtol=0, atol=TOLERANCE[dtype])
    # each direction's part, computed here from the direction's own states
    b = batch(np.random.default_rng(2))
    y, cache = model.encoder.forward(b, keep_tape=True)
    h_fwd, h_bwd = model.encoder.rnn.direction_states(cache.rnn)
    valid = (np.arange(y.shape[1])[None, :] < b.lengths[:, None])[..., None]
    rows = np.arange(b.size)
    pooled = {
        "final": (h_fwd[rows, b.lengths - 1], h_bwd[:, 0]),
        "max": tuple(np.where(valid, h, -np.inf).max(axis=1) for h in (h_fwd, h_bwd)),
        "mean": tuple((h * valid).sum(axis=1) / b.lengths[:, None] for h in (h_fwd, h_bwd)),
    }
    w = model.out.params["weight"]
    for k, mode in enumerate(("final", "max", "mean")):
        for d, direction in enumerate(("forward", "backward")):
            columns = w[:, 10 * k + 5 * d : 10 * k + 5 * (d + 1)]
            expected = pooled[mode][d] @ columns.T
            np.testing.assert_allclose(run.detail[f"{mode} {direction}"][:, 0], expected,
                                       rtol=0, atol=TOLERANCE[dtype])  # fmt: skip


def test_decisions_are_the_models_predictions_with_the_next_best_as_runner_up():
    for model in models(np.float64):
        if getattr(model, "crf", None) is not None:
            continue
        b = batch(np.random.default_rng(3), blanks=isinstance(model, FillModel))
        run = run_model(model, b)
        predicted = model.predict(b)
        for row in range(b.size):
            found = softmax_decisions(run, list("ABCDEF"), row)
            labels = [d.predicted.index for d in found]
            assert labels == (predicted[row] if isinstance(model, Tagger) else [predicted[row]])
            for d in found:
                scores = run.scores[row, d.position if isinstance(model, Tagger) else 0]
                assert d.runner_up.index == np.argsort(scores)[-2]
                assert d.predicted.score == pytest.approx(scores.max(), abs=1e-12)
                total = sum(d.predicted.parts.values())
                assert total == pytest.approx(d.predicted.score, abs=1e-12)
                margin = sum(d.margin.values())
                assert margin == pytest.approx(d.predicted.score - d.runner_up.score, abs=1e-12)
                assert d.decided_by == max(d.margin, key=d.margin.get)


def _all_paths(run, crf, row, n):
    """Every tag path of row ``row`` with its score, from the CRF's parameters directly."""
    p = {k: v.astype(np.float64) for k, v in crf.params.items()}
    allowed = crf.allowed if crf.allowed is not None else np.ones_like(p["transitions"], bool)
    start_ok = crf.allowed_start if crf.allowed_start is not None else np.ones(crf.num_tags, bool)
    out = {}
    for tags in itertools.product(range(crf.num_tags), repeat=n):
        if not start_ok[tags[0]] or not all(allowed[a, b] for a, b in itertools.pairwise(tags)):
            continue
        score = p["start"][tags[0]] + p["end"][tags[-1]]
        score += sum(p["transitions"][a, b] for a, b in itertools.pairwise(tags))
        score += sum(run.scores[row, t, j] for t, j in enumerate(tags))
        out[tags] = score
    return out


@pytest.mark.parametrize("dtype", DTYPES)
def test_crf_paths_split_exactly_and_the_runner_up_is_the_best_other_path(dtype):
    model = models(dtype)[1]
    b = batch(np.random.default_rng(4), lengths=(5, 2, 4))
    run = run_model(model, b)
    tags = list("ABCD")
    for row, n in enumerate(b.lengths):
        paths = _all_paths(run, model.crf, row, int(n))
        best = max(paths, key=paths.get)
        found = crf_decisions(run, model.crf, tags, row)
        assert [d.predicted.index for d in found] == list(best)
        assert [d.predicted.index for d in found] == model.predict(b)[row]
        for t, d in enumerate(found):
            assert d.path.score == pytest.approx(paths[best], abs=10 * TOLERANCE[dtype])
            assert sum(d.path.parts.values()) == pytest.approx(d.path.score, abs=TOLERANCE[dtype])
            others = {k: v for k, v in paths.items() if k[t] != best[t]}
            rival = max(others, key=others.get)
            assert d.runner_up.index == rival[t] == d.path_runner_up.index
            assert d.path_runner_up.score == pytest.approx(others[rival], abs=10 * TOLERANCE[dtype])
            parts = sum(d.path_runner_up.parts.values())
            assert parts == pytest.approx(d.path_runner_up.score, abs=TOLERANCE[dtype])
            assert sum(d.margin.values()) == pytest.approx(
                d.path.score - d.path_runner_up.score, abs=10 * TOLERANCE[dtype]
            )


def test_a_crf_token_without_an_allowed_alternative_has_no_runner_up():
    model = models(np.float64)[1]
    model.crf.allowed_start = np.array([True, False, False, False])  # only tag A may start
    b = batch(np.random.default_rng(5), lengths=(4,))
    found = crf_decisions(run_model(model, b), model.crf, list("ABCD"))
    assert found[0].predicted.label == "A" and found[0].runner_up is None
    assert found[0].margin == found[0].path.parts
    assert all(d.runner_up is not None for d in found[1:])


def test_only_the_three_models_are_explained():
    with pytest.raises(TypeError, match="model must be a Tagger, Classifier or FillModel"):
        run_model(object(), batch(np.random.default_rng(0)))
