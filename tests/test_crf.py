"""The linear-chain CRF against brute-force enumeration of every tag path on tiny inputs (log Z,
nll, unary and pairwise marginals, Viterbi), its gradient against finite differences, BIOES
constraints, and bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from birnn.functional import logsumexp
from birnn.heads import CRF, scheme_constraints
from gradcheck import check_gradients
from helpers import random_lengths

N, T, C = 5, 4, 3
BIOES = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "E-LOC"]


def bioes_masks() -> dict[str, np.ndarray]:
    m = scheme_constraints(BIOES, "bioes")
    return {"allowed": m.allowed, "allowed_start": m.start, "allowed_end": m.end}


def make_crf(seed: int, num_tags: int = C, **constraints) -> CRF:
    """A float64 CRF with parameters larger than the default init (so they matter)."""
    rng = np.random.default_rng(seed)
    crf = CRF(num_tags, rng, dtype=np.float64, **constraints)
    for value in crf.params.values():
        value[:] = rng.standard_normal(value.shape)
    return crf


def make_batch(seed: int, num_tags: int = C):
    rng = np.random.default_rng(seed)
    emissions = rng.standard_normal((N, T, num_tags)) * 1.5
    lengths = random_lengths(rng, N, T)
    tags = rng.integers(0, num_tags, (N, T))
    tags[np.arange(T)[None, :] >= lengths[:, None]] = -1  # padding: never read
    return emissions, tags, lengths


def path_score(crf: CRF, em: np.ndarray, path: tuple[int, ...]) -> float:
    """score(y) written out term by term, with -inf for forbidden pieces."""
    a, s, e = crf._scores()
    total = s[path[0]] + e[path[-1]] + sum(em[t, y] for t, y in enumerate(path))
    return float(total + sum(a[i, j] for i, j in itertools.pairwise(path)))


def enumerate_paths(crf: CRF, em: np.ndarray, length: int):
    """All C^L paths of one sequence, their scores and probabilities."""
    paths = list(itertools.product(range(crf.num_tags), repeat=length))
    scores = np.array([path_score(crf, em, p) for p in paths])
    log_z = float(logsumexp(scores))
    return paths, scores, log_z, np.exp(scores - log_z)


def brute_force(crf: CRF, emissions, tags, lengths):
    """Per sequence: log Z, nll, unary marginals (T, C), expected pair counts (C, C), best path."""
    out = []
    for em, y, length in zip(emissions, tags, lengths):
        paths, scores, log_z, prob = enumerate_paths(crf, em, length)
        mu = np.zeros((T, crf.num_tags))
        xi = np.zeros((crf.num_tags, crf.num_tags))
        for p, pr in zip(paths, prob):
            for t, j in enumerate(p):
                mu[t, j] += pr
            for i, j in itertools.pairwise(p):
                xi[i, j] += pr
        gold = tuple(int(v) for v in y[:length])
        best = list(paths[int(np.argmax(scores))])
        out.append((log_z, log_z - path_score(crf, em, gold), mu, xi, best))
    return out


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_nll_log_z_and_marginals_equal_brute_force(reduction):
    crf = make_crf(0)
    emissions, tags, lengths = make_batch(1)
    loss, cache = crf.nll(emissions, tags, lengths, reduction=reduction)
    ref = brute_force(crf, emissions, tags, lengths)
    np.testing.assert_allclose(cache.log_z, [r[0] for r in ref], rtol=1e-13)
    total = sum(r[1] for r in ref)
    assert loss == pytest.approx(total / N if reduction == "mean" else total, rel=1e-13)
    mu = crf.marginals(emissions, lengths)
    np.testing.assert_allclose(mu, [r[2] for r in ref], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(mu.sum(-1), np.arange(T)[None, :] < lengths[:, None], rtol=1e-13)


def test_gradient_is_expected_minus_gold_counts():
    crf = make_crf(2)
    emissions, tags, lengths = make_batch(3)
    _, cache = crf.nll(emissions, tags, lengths, reduction="sum")
    d_em, grads = crf.backward(cache)
    ref = brute_force(crf, emissions, tags, lengths)
    gold_em = np.zeros_like(emissions)
    gold_pairs = np.zeros((C, C))
    for n, length in enumerate(lengths):
        gold_em[n, np.arange(length), tags[n, :length]] = 1
        for i, j in itertools.pairwise(tags[n, :length]):
            gold_pairs[i, j] += 1
    expected_pairs = sum(r[3] for r in ref)
    np.testing.assert_allclose(d_em, np.array([r[2] for r in ref]) - gold_em, atol=1e-13)
    np.testing.assert_allclose(grads["transitions"], expected_pairs - gold_pairs, atol=1e-13)
    np.testing.assert_allclose(
        grads["start"], sum(r[2][0] for r in ref) - gold_em[:, 0].sum(0), atol=1e-13
    )
    last = np.array([r[2][length - 1] for r, length in zip(ref, lengths)])
    gold_last = gold_em[np.arange(N), lengths - 1]
    np.testing.assert_allclose(grads["end"], (last - gold_last).sum(0), atol=1e-13)


@pytest.mark.parametrize("constrained", [False, True])
def test_gradients_match_finite_differences(constrained):
    masks = bioes_masks()
    crf = make_crf(4, len(BIOES), **(masks if constrained else {}))
    emissions, tags, lengths = make_batch(5, len(BIOES))
    if constrained:
        tags = crf.decode(emissions + 3 * np.eye(len(BIOES))[np.maximum(tags, 0)], lengths)
    d_loss = 0.7
    _, cache = crf.nll(emissions, tags, lengths)
    d_em, grads = crf.backward(cache, d_loss)
    again = crf.backward(cache, d_loss)  # backward reads only the cache
    np.testing.assert_array_equal(again[0], d_em)
    assert not np.any(d_em[np.arange(T)[None, :] >= lengths[:, None]])
    check_gradients(
        lambda: d_loss * crf.nll(emissions, tags, lengths)[0],
        {"emissions": emissions, **crf.params},
        {"emissions": d_em, **grads},
        max_entries=40,
    )
    if constrained:
        assert not np.any(grads["transitions"][~masks["allowed"]])
        assert not np.any(grads["start"][~masks["allowed_start"]])
        assert not np.any(grads["end"][~masks["allowed_end"]])


@pytest.mark.parametrize("seed", range(4))
def test_viterbi_is_the_best_path_and_pads_with_minus_one(seed):
    crf = make_crf(6 + seed)
    emissions, tags, lengths = make_batch(20 + seed)
    paths = crf.decode(emissions, lengths)
    assert paths.shape == (N, T) and paths.dtype.kind == "i"
    for row, length, r in zip(paths, lengths, brute_force(crf, emissions, tags, lengths)):
        assert row[:length].tolist() == r[4]
        assert np.all(row[length:] == -1)


def test_constraints_are_respected_and_enumeration_agrees():
    masks = bioes_masks()
    allowed, allowed_start, allowed_end = masks.values()
    crf = make_crf(8, len(BIOES), **masks)
    emissions, _, lengths = make_batch(9, len(BIOES))
    emissions[:, :, [1, 2, 5]] += 4.0  # make B- and I- tags tempting everywhere
    paths = crf.decode(emissions, lengths)
    for row, length in zip(paths, lengths):
        p = row[:length]
        assert allowed_start[p[0]] and allowed_end[p[-1]]
        assert all(allowed[i, j] for i, j in itertools.pairwise(p))
    tags = paths
    _, cache = crf.nll(emissions, tags, lengths)
    for n, length in enumerate(lengths):
        _, scores, log_z, _ = enumerate_paths(crf, emissions[n], length)
        assert cache.log_z[n] == pytest.approx(log_z, rel=1e-13)
        assert np.isfinite(scores).sum() < len(scores) or length == 1
    bad = tags.copy()
    bad[np.argmax(lengths), 0] = 2  # starts with I-PER
    with pytest.raises(ValueError, match=r"forbidden"):
        crf.nll(emissions, bad, lengths)


def test_float32_default_and_parameter_shapes():
    crf = CRF(4, np.random.default_rng(10))
    assert {k: v.shape for k, v in crf.params.items()} == {
        "transitions": (4, 4),
        "start": (4,),
        "end": (4,),
    }
    assert all(v.dtype == np.float32 and np.abs(v).max() <= 0.1 for v in crf.params.values())
    em = np.random.default_rng(11).standard_normal((2, 3, 4))
    loss, cache = crf.nll(em, np.array([[0, 1, 2], [3, 0, -1]]), np.array([3, 2]))
    d_em, grads = crf.backward(cache)
    assert isinstance(loss, float) and d_em.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())


def test_float32_marginals_keep_their_precision_on_long_sentences():
    """α and β reach thousands over 600 steps of confident emissions: the float32 CRF's
    marginals still equal the float64 CRF's within 1e-6 (what a probability is read to)."""
    crf64 = make_crf(12, num_tags=5)
    crf32 = CRF(5, np.random.default_rng(0))
    crf32.params = {k: v.astype(np.float32) for k, v in crf64.params.items()}
    rng = np.random.default_rng(13)
    em = (4.0 * rng.standard_normal((3, 600, 5))).astype(np.float32)
    lengths = np.array([600, 1, 317])
    mu = crf32.marginals(em, lengths)
    assert mu.dtype == np.float32
    np.testing.assert_allclose(mu, crf64.marginals(em.astype(np.float64), lengths), atol=1e-6)


def test_crf_bad_input():
    crf = CRF(3, np.random.default_rng(0), dtype=np.float64)
    em = np.zeros((2, 4, 3))
    tags = np.zeros((2, 4), np.int64)
    lengths = np.array([4, 2])
    with pytest.raises(ValueError, match=r"\(N, T, 3\).*\(2, 4, 5\)"):
        crf.nll(np.zeros((2, 4, 5)), tags, lengths)
    with pytest.raises(ValueError, match=r"\[1, 4\].*max 5"):
        crf.nll(em, tags, np.array([5, 2]))
    with pytest.raises(ValueError, match=r"tags.*\(2, 4\).*\(2, 3\)"):
        crf.nll(em, tags[:, :3], lengths)
    bad = tags.copy()
    bad[0, 3] = 3
    with pytest.raises(ValueError, match=r"\[0, 3\).*max 3"):
        crf.nll(em, bad, lengths)
    bad[0, 3], bad[1, 3] = 0, 7  # out of range only on padding: fine
    crf.nll(em, bad, lengths)
    with pytest.raises(TypeError, match=r"tags.*integer"):
        crf.nll(em, tags.astype(float), lengths)
    with pytest.raises(TypeError, match=r"emissions.*floating"):
        crf.decode(em.astype(int), lengths)
    with pytest.raises(ValueError, match=r"reduction.*'none'"):
        crf.nll(em, tags, lengths, reduction="none")
    with pytest.raises(ValueError, match=r"allowed.*\(3, 3\).*\(2, 2\)"):
        CRF(3, np.random.default_rng(0), allowed=np.ones((2, 2), bool))
    with pytest.raises(TypeError, match=r"allowed_start.*boolean"):
        CRF(3, np.random.default_rng(0), allowed_start=np.ones(3))


# -- constraints against an enumeration that applies them itself ---------------------------------


def random_constraints(rng: np.random.Generator, c: int):
    """Random allowed transitions, starts and ends (each about a third forbidden), such that
    every length up to T has at least one allowed path (a self-loop on an allowed start+end)."""
    allowed = rng.random((c, c)) > 0.35
    allowed_start = rng.random(c) > 0.35
    allowed_end = rng.random(c) > 0.35
    keep = int(rng.integers(c))
    allowed[keep, keep] = allowed_start[keep] = allowed_end[keep] = True
    return allowed, allowed_start, allowed_end


def constrained_paths(params, masks, em: np.ndarray, length: int):
    """Every path of one sequence that the masks allow, with its score from the raw parameters.

    Independent of the CRF's own handling of constraints: a path is kept only if its start,
    every transition and its end are allowed in the masks the test made.
    """
    allowed, allowed_start, allowed_end = masks
    a, s, e = params["transitions"], params["start"], params["end"]
    kept = []
    for p in itertools.product(range(len(s)), repeat=length):
        if not (allowed_start[p[0]] and allowed_end[p[-1]]):
            continue
        if not all(allowed[i, j] for i, j in itertools.pairwise(p)):
            continue
        score = s[p[0]] + e[p[-1]] + sum(em[t, y] for t, y in enumerate(p))
        kept.append((p, score + sum(a[i, j] for i, j in itertools.pairwise(p))))
    return kept


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("which", ["all", "start", "end", "transitions"])
def test_constraints_against_brute_force(seed, which):
    """log Z, nll, marginals, Viterbi and the parameter gradients over the allowed paths only."""
    rng = np.random.default_rng(40 + seed)
    c = 4
    masks = random_constraints(rng, c)
    ones = (np.ones((c, c), bool), np.ones(c, bool), np.ones(c, bool))
    names = ("transitions", "start", "end")
    masks = tuple(m if which in ("all", n) else o for m, o, n in zip(masks, ones, names))
    allowed, allowed_start, allowed_end = masks
    crf = make_crf(
        50 + seed,
        c,
        allowed=allowed.copy(),
        allowed_start=allowed_start.copy(),
        allowed_end=allowed_end.copy(),
    )
    emissions, _, lengths = make_batch(60 + seed, c)
    emissions = emissions * 2.0  # sharp scores: the best unconstrained path is often forbidden
    refs = []
    for em, length in zip(emissions, lengths):
        kept = constrained_paths(crf.params, masks, em, int(length))
        scores = np.array([score for _, score in kept])
        refs.append((kept, scores, float(logsumexp(scores))))
    # gold: a random allowed path of each sequence
    tags = np.full((N, T), -1)
    for n, (kept, _, _) in enumerate(refs):
        tags[n, : lengths[n]] = kept[int(rng.integers(len(kept)))][0]
    loss, cache = crf.nll(emissions, tags, lengths, reduction="sum")
    np.testing.assert_allclose(cache.log_z, [r[2] for r in refs], rtol=1e-12)
    gold_scores = [dict(kept)[tuple(tags[n, : lengths[n]])] for n, (kept, _, _) in enumerate(refs)]
    assert loss == pytest.approx(sum(r[2] - g for r, g in zip(refs, gold_scores)), rel=1e-12)

    mu = np.zeros((N, T, c))
    counts = {name: np.zeros(crf.params[name].shape) for name in names}
    for n, (kept, scores, log_z) in enumerate(refs):
        for (p, _), prob in zip(kept, np.exp(scores - log_z)):
            mu[n, np.arange(len(p)), p] += prob
            counts["start"][p[0]] += prob
            counts["end"][p[-1]] += prob
            for i, j in itertools.pairwise(p):
                counts["transitions"][i, j] += prob
        gold = tags[n, : lengths[n]]
        counts["start"][gold[0]] -= 1
        counts["end"][gold[-1]] -= 1
        for i, j in itertools.pairwise(gold):
            counts["transitions"][i, j] -= 1
    np.testing.assert_allclose(crf.marginals(emissions, lengths), mu, atol=1e-12)
    _, grads = crf.backward(cache)
    for name in names:
        np.testing.assert_allclose(grads[name], counts[name], atol=1e-12, err_msg=name)
    assert not np.any(grads["transitions"][~allowed])
    assert not np.any(grads["start"][~allowed_start]) and not np.any(grads["end"][~allowed_end])

    paths = crf.decode(emissions, lengths)
    for n, (kept, scores, _) in enumerate(refs):
        assert tuple(paths[n, : lengths[n]]) == kept[int(np.argmax(scores))][0]

    # a gold path through a forbidden piece is refused
    forbidden = {"start": ~allowed_start, "end": ~allowed_end}
    for name, bad_tags in forbidden.items():
        if which in ("all", name) and bad_tags.any():
            bad = tags.copy()
            n = int(np.argmax(lengths))
            bad[n, 0 if name == "start" else lengths[n] - 1] = int(np.flatnonzero(bad_tags)[0])
            with pytest.raises(ValueError, match="forbidden start, transition or end"):
                crf.nll(emissions, bad, lengths)
