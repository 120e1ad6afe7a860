"""Optimizers, clipping and schedules at their boundary: every hyperparameter refused by name
with the exact message, checked values stored as floats, torch's defaults, and the corners of
the state dicts (what mutation testing showed no other test pinned)."""

from __future__ import annotations

import numpy as np
import pytest

from birnn.optim import SGD, Adam, AdamW, clip_grad_norm, make_schedule
from birnn.optim.schedules import ReduceOnPlateau
from helpers import requires_torch, torch
from refusals import assert_refused, exactly


def params() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"a": rng.standard_normal((2, 3)), "b": rng.standard_normal(3)}


BAD_HYPERPARAMETERS = [
    (
        lambda: SGD(params(), lr=0.1, momentum=-0.5),
        "momentum must be a finite number >= 0; received -0.5",
    ),
    (
        lambda: SGD(params(), lr=0.1, weight_decay=-1),
        "weight_decay must be a finite number >= 0; received -1",
    ),
    (lambda: SGD(params(), lr=-0.1), "lr must be a finite number >= 0; received -0.1"),
    (
        lambda: Adam(params(), betas=(1.0, 0.9)),
        "betas[0] must be a finite number >= 0 and < 1; received 1",
    ),
    (
        lambda: Adam(params(), betas=(0.9, -0.1)),
        "betas[1] must be a finite number >= 0 and < 1; received -0.1",
    ),
    (lambda: Adam(params(), eps=-1e-8), "eps must be a finite number >= 0; received -1e-08"),
    (
        lambda: AdamW(params(), weight_decay=-0.1),
        "weight_decay must be a finite number >= 0; received -0.1",
    ),
    (
        lambda: clip_grad_norm({"a": np.ones(2)}, -1.0),
        "max_norm must be a finite number >= 0; received -1",
    ),
    (
        lambda: make_schedule("constant", warmup=-1),
        "warmup must be a finite number >= 0; received -1",
    ),
    (lambda: make_schedule("linear", total=-2), "total must be a finite number >= 0; received -2"),
    (
        lambda: make_schedule("linear", total=2, warmup=-1),
        "warmup must be a finite number >= 0; received -1",
    ),
    (
        lambda: make_schedule("cosine", total=2, final=-1),
        "final must be a finite number >= 0; received -1",
    ),
    (
        lambda: make_schedule("exponential", gamma=-0.5),
        "gamma must be a finite number >= 0; received -0.5",
    ),
    (
        lambda: make_schedule("plateau", factor=1.0),
        "factor must be a finite number >= 0 and < 1; received 1",
    ),
    (lambda: make_schedule("plateau", patience=-1), "patience must be >= 0; received -1"),
    (
        lambda: make_schedule("plateau", min_factor=-1),
        "min_factor must be a finite number >= 0; received -1",
    ),
]


@pytest.mark.parametrize("case", range(len(BAD_HYPERPARAMETERS)))
def test_every_hyperparameter_is_refused_by_name(case):
    make, message = BAD_HYPERPARAMETERS[case]
    with pytest.raises(ValueError, match=exactly(message)):
        make()


def read_only() -> np.ndarray:
    frozen = np.ones(2)
    frozen.flags.writeable = False
    return frozen


BAD_INPUTS = [  # (call, error, the exact message)
    (lambda: Adam(params(), betas=(0.9,)), TypeError,
     "betas must be a pair (beta1, beta2); received (0.9,)"),
    (lambda: SGD(params(), lr=0.1, momentum=0.9, nesterov=1), TypeError,
     "nesterov must be a bool; received 1"),
    (lambda: SGD(params(), lr=0.1, nesterov=True), ValueError,
     "nesterov=True needs momentum > 0; received momentum=0"),
    (lambda: make_schedule("plateau", patience=1.5), TypeError,
     "patience must be an int; received 1.5"),
    (lambda: make_schedule("exponential", gamma=0.0), ValueError,
     "gamma must be > 0; received 0.0"),
    (lambda: SGD({"": np.ones(2)}, lr=0.1), TypeError,
     "parameter names must be non-empty strings; received ''"),
    (lambda: SGD({3: np.ones(2)}, lr=0.1), TypeError,
     "parameter names must be non-empty strings; received 3"),
    (lambda: SGD({"w": read_only()}, lr=0.1), ValueError,
     "parameter 'w' is read-only; the optimizer updates it in place"),
    (lambda: clip_grad_norm({"a": np.ones(2, dtype=np.int64)}, 1.0), TypeError,
     "grads['a'] must be a float np.ndarray; received array of shape (2,) and dtype int64"),
    (lambda: clip_grad_norm([1.0], 1.0), TypeError,
     "grads must be a dict of name -> np.ndarray; received [1.0]"),
]  # fmt: skip


@pytest.mark.parametrize("case", range(len(BAD_INPUTS)))
def test_wrong_types_are_refused_by_name(case):
    assert_refused(*BAD_INPUTS[case])


@pytest.mark.parametrize(
    ("name", "kwargs", "field"),
    [
        ("constant", {"warmup": 1}, "warmup"),
        ("linear", {"total": 4, "warmup": 1, "final": 0}, "total"),
        ("linear", {"total": 4, "warmup": 1, "final": 0}, "warmup"),
        ("cosine", {"total": 4, "final": 0}, "final"),
        ("exponential", {"gamma": 1}, "gamma"),
        ("plateau", {"factor": 0, "min_factor": 0}, "factor"),
        ("plateau", {"factor": 0, "min_factor": 0}, "min_factor"),
    ],
)
def test_schedule_arguments_are_stored_as_checked_floats(name, kwargs, field):
    """An int argument (from JSON or the command line) is kept as the float the check returns."""
    schedule = make_schedule(name, **kwargs)
    value = getattr(schedule, field)
    assert type(value) is float and value == kwargs[field]
    assert set(vars(schedule)) <= {"warmup", "total", "final", "gamma", "factor", "patience",
                                   "min_factor", "current", "best", "bad_epochs"}  # fmt: skip


@requires_torch
def test_defaults_are_torchs():
    t = [torch.zeros(1, requires_grad=True)]
    pairs = ((Adam(params()), torch.optim.Adam(t)), (AdamW(params()), torch.optim.AdamW(t)))
    for ours, theirs in pairs:
        d = theirs.defaults
        assert (ours.lr, ours.betas, ours.eps, ours.weight_decay) == (
            d["lr"], tuple(d["betas"]), d["eps"], d["weight_decay"])  # fmt: skip
    sgd = SGD(params(), lr=0.1)
    assert (sgd.momentum, sgd.weight_decay, sgd.nesterov) == (0.0, 0.0, False)


def test_a_missing_gradient_does_not_stop_the_others():
    """None entries are skipped wherever they come in the dict, by step and by clipping."""
    p = params()
    before = {k: v.copy() for k, v in p.items()}
    SGD(p, lr=0.5).step({"a": None, "b": np.ones(3)})
    np.testing.assert_array_equal(p["a"], before["a"])
    np.testing.assert_array_equal(p["b"], before["b"] - 0.5)
    grads = {"a": None, "b": np.array([3.0, 4.0, 0.0])}
    assert clip_grad_norm(grads, 1.0) == 5.0
    np.testing.assert_allclose(grads["b"], [0.6, 0.8, 0.0], rtol=1e-6)


def test_loaded_optimizer_state_is_a_copy_with_integer_step_counts():
    opt = Adam(params())
    opt.step({"a": np.ones((2, 3)), "b": np.ones(3)})
    state = opt.state_dict()
    again = Adam(params())
    again.load_state_dict(state)
    state["exp_avg.a"][:] = 99.0  # the caller's arrays are not the optimizer's
    state["step.a"][...] = 7
    loaded = again.state_dict()
    assert not np.any(loaded["exp_avg.a"] == 99.0) and int(loaded["step.a"]) == 1
    assert loaded["step.a"].dtype == np.int64 and loaded["step"].dtype == np.int64
    assert loaded["exp_avg.a"].dtype == np.float64
    again.load_state_dict(loaded)  # what it saved loads again


def test_optimizer_state_errors_name_the_entry_and_the_kind_wanted():
    opt = Adam(params())
    opt.step({"a": np.ones((2, 3)), "b": np.ones(3)})
    state = opt.state_dict()
    cases = [
        ({"exp_avg.a": np.zeros((2, 3), np.int64)}, TypeError,
         "optimizer state 'exp_avg.a' must have a float dtype; received int64"),
        ({"step": np.array(1.0)}, TypeError,
         "optimizer state 'step' must have an integer dtype; received float64"),
        ({"step": 1}, TypeError, "optimizer state 'step' must be an np.ndarray; received 1"),
        ({"exp_avg.zz": np.zeros(1)}, ValueError,
         "optimizer state has entries this Adam does not know: ['exp_avg.zz']"),
    ]  # fmt: skip
    for change, error, message in cases:
        with pytest.raises(error, match=exactly(message)):
            opt.load_state_dict(state | change)
    with pytest.raises(
        TypeError, match=exactly("state must be a dict of name -> array; received [1]")
    ):
        opt.load_state_dict([1])  # type: ignore[arg-type]


def test_plateau_state_loads_any_best_score_and_checks_each_entry():
    fresh = ReduceOnPlateau()
    again = ReduceOnPlateau()
    again.load_state_dict(fresh.state_dict())  # best None: no score yet
    assert again.state_dict() == {"current": 1.0, "best": None, "bad_epochs": 0}
    again.load_state_dict({"current": 0.5, "best": -2.5, "bad_epochs": 1})  # scores may be < 0
    assert again.state_dict() == {"current": 0.5, "best": -2.5, "bad_epochs": 1}
    for key, value, message in [
        ("current", -1.0, "current must be a finite number >= 0; received -1"),
        ("best", "x", "best must be a real number; received 'x'"),
        ("bad_epochs", -1, "bad_epochs must be >= 0; received -1"),
    ]:
        state = {"current": 0.5, "best": 0.1, "bad_epochs": 1, key: value}
        with pytest.raises((TypeError, ValueError), match=exactly(message)):
            again.load_state_dict(state)
    incomplete = ("plateau schedule state must be a dict with keys current, best, bad_epochs; "
                  "received {'current': 1.0}")  # fmt: skip
    with pytest.raises(ValueError, match=exactly(incomplete)):
        again.load_state_dict({"current": 1.0})
    no_state = "schedule 'constant' has no state; received {'x': 1}"
    with pytest.raises(ValueError, match=exactly(no_state)):
        make_schedule("constant").load_state_dict({"x": 1})
