"""The table of primitive derivatives: each derivative, written from the output, against central
finite differences of its forward function; the in-place forms against the plain ones."""

from __future__ import annotations

import numpy as np
import pytest

from birnn import functional as F

X = np.random.default_rng(0).uniform(-6, 6, 257)
X = X[np.abs(X) > 1e-3]  # relu has no derivative at 0
EPS = 1e-6

CASES = [
    ("sigmoid", F.sigmoid, F.dsigmoid_into),
    ("tanh", F.tanh, F.dtanh_into),
    ("relu", F.relu, F.drelu_into),
]


@pytest.mark.parametrize(("name", "forward", "derivative"), CASES)
def test_derivative_from_output_matches_finite_differences(name, forward, derivative):
    numeric = (forward(X + EPS) - forward(X - EPS)) / (2 * EPS)
    analytic = derivative(forward(X), np.empty_like(X))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_sigmoid_is_the_logistic_function_and_never_overflows():
    np.testing.assert_allclose(F.sigmoid(X), 1 / (1 + np.exp(-X)), rtol=1e-12, atol=1e-15)
    extreme = F.sigmoid(np.array([-1e4, 1e4]))
    np.testing.assert_array_equal(extreme, [0.0, 1.0])


def test_sigmoid_from_half_tanh_in_place():
    t = np.tanh(X / 2)
    np.testing.assert_allclose(F.sigmoid_from_half_tanh_(t), F.sigmoid(X), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(F.ACTIVATIONS))
def test_activation_table_in_place_forms(name):
    forward, derivative = F.ACTIVATIONS[name]
    plain = {"tanh": F.tanh, "relu": F.relu}[name]
    y = X.copy()
    assert forward(y) is y
    np.testing.assert_array_equal(y, plain(X))
    assert derivative is {"tanh": F.dtanh_into, "relu": F.drelu_into}[name]  # checked above
