"""The step-by-step trace of the seeds' tiny BiRNN: its numbers come from the equations alone,
equal birnn's own forward and backward, and the check would notice if they did not."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from birnn.explain import trace
from birnn.explain.trace import TOLERANCE, by_hand, by_module, compare, problem


@pytest.mark.parametrize("seed, steps", [(0, 4), (3, 1), (7, 9)])
def test_every_number_equals_the_modules(seed, steps, birnn_backend):
    p = problem(seed, steps)
    differences = compare(by_hand(p), by_module(p))
    assert len(differences) == 19
    assert max(differences.values()) <= TOLERANCE


def test_the_check_notices_a_wrong_number():
    """A problem whose recurrent weight the hand computation reads wrong (W' transposed)."""
    p = problem(0, 4)
    wrong = dataclasses.replace(p, W_=p.W_.T.copy())
    differences = compare(by_hand(wrong), by_module(p))
    assert differences["h'"] > 1e-3 and differences["h"] <= TOLERANCE  # the forward chain is fine
    assert differences["dW'"] > 1e-3


def test_the_hand_computation_follows_the_seeds_equations():
    p = problem(1, 3)
    v = by_hand(p)
    # boundary states 0.5 at both ends, each chain in its own direction
    np.testing.assert_allclose(v["h"][0], np.tanh(p.U @ p.x[0] + p.W @ np.full(2, 0.5)))
    np.testing.assert_allclose(v["h'"][-1], np.tanh(p.U_ @ p.x[-1] + p.W_ @ np.full(2, 0.5)))
    np.testing.assert_allclose(v["h'"][0], np.tanh(p.U_ @ p.x[0] + p.W_ @ v["h'"][1]))
    # the output gradient of softmax + cross-entropy, and the two chains' last BPTT steps
    onehot = np.eye(3)[p.y]
    np.testing.assert_allclose(v["dq"], (v["y_hat"] - onehot) / 3)
    np.testing.assert_allclose(v["dh"][-1], p.V.T @ v["dq"][-1])  # nothing after T
    np.testing.assert_allclose(v["dh'"][0], p.V_.T @ v["dq"][0])  # nothing before 1


def test_the_printed_trace():
    result = trace(0, 3)
    text = "\n".join(result.lines)
    assert result.ok
    for expected in ("h_0 = 0.5", "h'_4 = 0.5", "FORWARD PASS", "BACKWARD PASS",
                     "from t = 3 down to 1", "from t = 1 up to 3", "Are there two backprops? No",
                     "All 19 quantities agree to 1e-12."):  # fmt: skip
        assert expected in text
    # every step of each chain is printed, in each chain's own order
    forward = [line for line in result.lines if line.startswith("  t=") and " a_" in line]
    backward = [line for line in result.lines if line.startswith("  t=") and " a'_" in line]
    assert [line[4] for line in forward] == ["1", "2", "3"]
    assert [line[4] for line in backward] == ["3", "2", "1"]
