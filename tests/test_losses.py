"""Softmax cross-entropy with a mask, and the log-sum-exp / softmax / log-softmax entries of
the primitive table: values against direct formulas and torch, gradients against finite
differences, stability for huge logits, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from birnn import functional as F
from birnn.losses import softmax_cross_entropy
from gradcheck import check_gradients, upstream
from helpers import requires_torch, torch

# ---- the primitive table ----------------------------------------------------------------------


def test_normalisers_match_direct_formulas_and_stay_finite():
    x = np.random.default_rng(0).standard_normal((4, 5)) * 3
    np.testing.assert_allclose(F.logsumexp(x), np.log(np.exp(x).sum(-1)), rtol=1e-14)
    np.testing.assert_allclose(F.logsumexp(x, axis=0, keepdims=True).shape, (1, 5))
    np.testing.assert_allclose(F.softmax(x), np.exp(x) / np.exp(x).sum(-1, keepdims=True))
    np.testing.assert_allclose(F.log_softmax(x), np.log(F.softmax(x)), rtol=1e-13)
    huge = np.array([[1e4, 1e4 - 1.0, -1e4], [-np.inf, 0.0, -np.inf], [-np.inf] * 3])
    np.testing.assert_allclose(F.logsumexp(huge)[:2], [1e4 + np.log1p(np.exp(-1.0)), 0.0])
    assert F.logsumexp(huge)[2] == -np.inf
    assert np.all(np.isfinite(F.softmax(huge[:2])))


BACKWARDS = {
    "softmax": lambda x, y, g, axis: F.softmax_backward(y, g, axis=axis),
    "log_softmax": lambda x, y, g, axis: F.log_softmax_backward(y, g, axis=axis),
    "logsumexp": lambda x, y, g, axis: F.logsumexp_backward(x, y, g, axis=axis),
}


@pytest.mark.parametrize("name", sorted(BACKWARDS))
@pytest.mark.parametrize("axis", [-1, 0])
def test_normaliser_backwards_match_finite_differences(name, axis):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4))
    forward = getattr(F, name)
    y = forward(x, axis=axis)
    g = upstream(rng, y.shape)
    dx = BACKWARDS[name](x, y, g, axis)
    check_gradients(lambda: float(np.sum(forward(x, axis=axis) * g)), {"x": x}, {"x": dx})


# ---- softmax cross-entropy --------------------------------------------------------------------


def problem(seed: int, shape=(3, 5), classes=4):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((*shape, classes)) * 2
    targets = rng.integers(0, classes, shape)
    mask = rng.random(shape) < 0.7
    mask.flat[0] = True
    targets[~mask] = -1  # never read
    return rng, logits, targets, mask


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_value_and_gradient_with_a_mask(reduction):
    _, z, y, m = problem(2)
    loss, dz = softmax_cross_entropy(z, y, m, reduction)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    picked = np.array([logp[i, j, y[i, j]] for i, j in zip(*np.nonzero(m))])
    expected = -picked.sum() / (m.sum() if reduction == "mean" else 1)
    assert loss == pytest.approx(expected, rel=1e-13)
    assert isinstance(loss, float) and dz.shape == z.shape
    assert not np.any(dz[~m])
    check_gradients(lambda: softmax_cross_entropy(z, y, m, reduction)[0], {"z": z}, {"z": dz})


def test_cross_entropy_without_mask_and_in_float32():
    _, z, y, _ = problem(3, shape=(6,))
    y = np.abs(y)
    loss, dz = softmax_cross_entropy(z, y)
    check_gradients(lambda: softmax_cross_entropy(z, y)[0], {"z": z}, {"z": dz})
    loss32, dz32 = softmax_cross_entropy(z.astype(np.float32), y)
    assert dz32.dtype == np.float32 and loss32 == pytest.approx(loss, rel=1e-5)


def test_cross_entropy_is_stable_and_handles_an_empty_mask():
    z = np.array([[1e4, -1e4, 0.0], [-5e3, 5e3, 5e3]])
    loss, dz = softmax_cross_entropy(z, np.array([0, 1]))
    assert loss == pytest.approx(np.log(2) / 2) and np.all(np.isfinite(dz))
    np.testing.assert_allclose(dz, [[0, 0, 0], [0, -0.25, 0.25]], atol=1e-15)
    loss, dz = softmax_cross_entropy(z, np.array([-1, 7]), np.zeros(2, bool))
    assert loss == 0.0 and not np.any(dz)


@requires_torch
def test_cross_entropy_matches_torch_with_ignore_index():
    _, z, y, m = problem(4, shape=(4, 6), classes=5)
    loss, dz = softmax_cross_entropy(z, y, m)
    zt = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(
        zt.reshape(-1, 5), torch.tensor(np.where(m, y, -100)).reshape(-1), ignore_index=-100
    )
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-13)
    np.testing.assert_allclose(dz, zt.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_cross_entropy_bad_input():
    z = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"\[0, 3\).*max 3"):
        softmax_cross_entropy(z, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"min -1"):
        softmax_cross_entropy(z, np.array([-1, 0]), np.array([True, True]))
    with pytest.raises(ValueError, match=r"targets.*\(2,\).*\(3,\)"):
        softmax_cross_entropy(z, np.array([0, 1, 2]))
    with pytest.raises(TypeError, match=r"targets.*integer.*float64"):
        softmax_cross_entropy(z, np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match=r"logits.*floating"):
        softmax_cross_entropy(z.astype(int), np.array([0, 1]))
    with pytest.raises(TypeError, match=r"mask.*boolean"):
        softmax_cross_entropy(z, np.array([0, 1]), np.array([1, 0]))
    with pytest.raises(ValueError, match=r"mask.*\(2,\).*\(1,\)"):
        softmax_cross_entropy(z, np.array([0, 1]), np.array([True]))
    with pytest.raises(ValueError, match=r"reduction.*'none'"):
        softmax_cross_entropy(z, np.array([0, 1]), reduction="none")
