"""Optimizers, clipping and schedules: step for step against torch.optim in float64."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from birnn.optim import (
    SCHEDULES,
    SGD,
    Adam,
    AdamW,
    ReduceOnPlateau,
    clip_grad_norm,
    make_optimizer,
    make_schedule,
)
from helpers import requires_torch, torch

SHAPES = {"embed.weight": (7, 3), "out.weight": (2, 3), "out.bias": (2,)}
STEPS = 6
LRS = [0.1, 0.1, 0.05, 0.05, 0.02, 0.2]  # a schedule changes lr between steps


def _params(rng: np.random.Generator, dtype=np.float64) -> dict[str, np.ndarray]:
    return {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}


def _grad_sequence(seed: int = 1) -> list[dict[str, np.ndarray]]:
    """Random gradients; "out.bias" has none at step 2 and "embed.weight" none at step 0."""
    rng = np.random.default_rng(seed)
    seq = []
    for i in range(STEPS):
        g = {k: 3.0 * rng.standard_normal(s) for k, s in SHAPES.items()}
        if i == 0:
            del g["embed.weight"]
        if i == 2:
            g["out.bias"] = None  # type: ignore[assignment]
        seq.append(g)
    return seq


def _run_ours(make, grads_seq):
    params = _params(np.random.default_rng(0))
    live = dict(params)
    opt = make(params)
    for lr, grads in zip(LRS, grads_seq):
        opt.lr = lr
        opt.step(grads)
    for k in params:  # updated in place, never rebound
        assert params[k] is live[k]
    return params, opt


def _run_torch(make, grads_seq):
    init = _params(np.random.default_rng(0))
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in init.items()}
    opt = make(list(tparams.values()))
    for lr, grads in zip(LRS, grads_seq):
        for group in opt.param_groups:
            group["lr"] = lr
        for k, p in tparams.items():
            g = grads.get(k)
            p.grad = None if g is None else torch.tensor(g)
        opt.step()
    return {k: p.detach().numpy() for k, p in tparams.items()}


CASES = {
    "sgd": (
        lambda p: SGD(p, lr=0.1),
        lambda p: torch.optim.SGD(p, lr=0.1),
    ),
    "sgd-momentum-wd": (
        lambda p: SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
    ),
    "sgd-nesterov-wd": (
        lambda p: SGD(p, lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.05),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.05),
    ),
    "adam-wd": (
        lambda p: Adam(p, lr=0.1, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
        lambda p: torch.optim.Adam(p, lr=0.1, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    ),
    "adam": (lambda p: Adam(p), lambda p: torch.optim.Adam(p)),
    "adamw": (
        lambda p: AdamW(p, lr=0.1, weight_decay=0.3),
        lambda p: torch.optim.AdamW(p, lr=0.1, weight_decay=0.3),
    ),
    "adamw-default": (lambda p: AdamW(p), lambda p: torch.optim.AdamW(p)),
}


@requires_torch
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_torch(case):
    ours, theirs = CASES[case]
    grads_seq = _grad_sequence()
    got, _ = _run_ours(ours, grads_seq)
    want = _run_torch(theirs, grads_seq)
    for k in SHAPES:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
def test_state_dict_resumes_exactly(case, tmp_path):
    """Three steps, state through a safetensors file into a new optimizer, three more steps."""
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    make = CASES[case][0]
    grads_seq = _grad_sequence()
    straight, _ = _run_ours(make, grads_seq)

    params = _params(np.random.default_rng(0))
    opt = make(params)
    for lr, grads in zip(LRS[:3], grads_seq[:3]):
        opt.lr = lr
        opt.step(grads)
    safetensors_numpy.save_file(opt.state_dict(), tmp_path / "opt.safetensors")
    params = {k: v.copy() for k, v in params.items()}
    opt = make(params)
    opt.load_state_dict(safetensors_numpy.load_file(tmp_path / "opt.safetensors"))
    assert opt.num_steps == 3
    for lr, grads in zip(LRS[3:], grads_seq[3:]):
        opt.lr = lr
        opt.step(grads)
    for k in SHAPES:
        np.testing.assert_array_equal(params[k], straight[k])


def test_state_dict_names():
    params = _params(np.random.default_rng(0))
    opt = Adam(params)
    assert set(opt.state_dict()) == {"step"}
    opt.step({"out.bias": np.ones(2)})
    assert set(opt.state_dict()) == {
        "step",
        "exp_avg.out.bias",
        "exp_avg_sq.out.bias",
        "step.out.bias",
    }
    sgd = SGD(params, lr=0.1, momentum=0.9)
    sgd.step({"out.bias": np.ones(2)})
    assert set(sgd.state_dict()) == {"step", "momentum_buffer.out.bias"}
    state = sgd.state_dict()
    state["momentum_buffer.out.bias"][:] = 5.0  # a copy: the optimizer's own state is untouched
    assert np.all(sgd.state_dict()["momentum_buffer.out.bias"] == 1.0)


def test_float32_params_stay_float32():
    rng = np.random.default_rng(0)
    params = _params(rng, np.float32)
    for make in (lambda p: SGD(p, 0.1, momentum=0.9, weight_decay=0.1), Adam, AdamW):
        opt = make(params)
        opt.step({k: rng.standard_normal(v.shape).astype(np.float32) for k, v in params.items()})
        assert all(v.dtype == np.float32 for v in params.values())
        state = opt.state_dict()
        assert all(v.dtype == np.float32 for k, v in state.items() if not k.startswith("step"))


def test_load_state_dict_checks_and_is_atomic():
    params = _params(np.random.default_rng(0))
    opt = Adam(params)
    opt.step({k: np.ones(s) for k, s in SHAPES.items()})
    before = opt.state_dict()

    def assert_unchanged():
        after = opt.state_dict()
        assert set(after) == set(before)
        for k in before:
            np.testing.assert_array_equal(after[k], before[k])

    bad_shape = dict(before, **{"exp_avg.out.bias": np.zeros(3)})
    with pytest.raises(ValueError, match=r"'exp_avg.out.bias' must have shape \(2,\)"):
        opt.load_state_dict(bad_shape)
    assert_unchanged()
    with pytest.raises(ValueError, match=r"does not know.*exp_avg.nope"):
        opt.load_state_dict(dict(before, **{"exp_avg.nope": np.zeros(2)}))
    assert_unchanged()
    incomplete = {k: v for k, v in before.items() if k != "exp_avg_sq.out.bias"}
    with pytest.raises(ValueError, match=r"incomplete.*exp_avg_sq.out.bias"):
        opt.load_state_dict(incomplete)
    assert_unchanged()
    with pytest.raises(ValueError, match="no 'step'"):
        opt.load_state_dict({k: v for k, v in before.items() if k != "step"})
    with pytest.raises(TypeError, match="integer dtype"):
        opt.load_state_dict(dict(before, **{"step.out.bias": np.array(1.0)}))
    assert_unchanged()
    with pytest.raises(ValueError, match="momentum_buffer"):
        SGD(params, lr=0.1).load_state_dict(
            {"step": np.array(1), "momentum_buffer.out.bias": np.zeros(2)}
        )


def test_step_rejects_bad_grads_before_updating():
    params = _params(np.random.default_rng(0))
    snapshot = {k: v.copy() for k, v in params.items()}
    opt = SGD(params, lr=0.1)
    with pytest.raises(ValueError, match=r"not parameters: \['nope'\]"):
        opt.step({"out.bias": np.ones(2), "nope": np.ones(2)})
    with pytest.raises(ValueError, match=r"grads\['out.weight'\] must have the parameter's shape"):
        opt.step({"out.bias": np.ones(2), "out.weight": np.ones(3)})
    with pytest.raises(TypeError, match=r"float np.ndarray; received"):
        opt.step({"out.bias": [1.0, 1.0]})
    with pytest.raises(TypeError, match="dict of name"):
        opt.step([np.ones(2)])
    for k in params:
        np.testing.assert_array_equal(params[k], snapshot[k])
    assert opt.num_steps == 0


def test_constructor_checks():
    params = _params(np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"lr must be a finite number >= 0; received -1"):
        SGD(params, lr=-1.0)
    with pytest.raises(TypeError, match="lr must be a real number"):
        Adam(params, lr="0.1")
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        SGD(params, lr=0.1, nesterov=True)
    with pytest.raises(
        ValueError, match=r"betas\[1\] must be a finite number >= 0 and < 1; received 1"
    ):
        Adam(params, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="params is empty"):
        Adam({})
    with pytest.raises(TypeError, match=r"'w' must be a float np.ndarray"):
        Adam({"w": np.arange(3)})
    with pytest.raises(ValueError, match="optimizer must be one of \\['adam', 'adamw', 'sgd'\\]"):
        make_optimizer("adagrad", params, lr=0.1)
    opt = Adam(params)
    with pytest.raises(ValueError, match=r"lr must be a finite number >= 0; received nan"):
        opt.lr = math.nan
    assert isinstance(make_optimizer("sgd", params, lr=0.1, momentum=0.9), SGD)


# -- clipping -------------------------------------------------------------------------------


# max_norm as a multiple of the gradients' global norm: far below it, near it on both sides
# (within torch's 1e-6 guard too), exactly at it, and far above it (no clipping)
CLIP_RATIOS = [1e-3, 0.1, 0.5, 0.9, 0.999999, 1.0, 1.000001, 1.01, 1.5, 1.99, 2.5, 1e3]


@requires_torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ratio", CLIP_RATIOS)
def test_clip_grad_norm_matches_torch_over_the_range_of_norms(ratio, dtype):
    """Same returned norm and same clipped gradients as torch.nn.utils.clip_grad_norm_.

    Tolerances: float64 1e-12 relative (the same sums in another order); float32 1e-6.
    """
    rng = np.random.default_rng(3)
    grads = {k: (2.0 * rng.standard_normal(s)).astype(dtype) for k, s in SHAPES.items()}
    grads["frozen"] = None  # a parameter without a gradient this step
    arrays = [g for g in grads.values() if g is not None]
    norm = float(np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in arrays)))
    max_norm = ratio * norm
    tparams = [torch.zeros(g.shape, dtype=getattr(torch, np.dtype(dtype).name),
                           requires_grad=True) for g in arrays]  # fmt: skip
    for p, g in zip(tparams, arrays):
        p.grad = torch.tensor(g)
    want = float(torch.nn.utils.clip_grad_norm_(tparams, max_norm))
    got = clip_grad_norm(grads, max_norm)
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    assert got == pytest.approx(want, rel=rtol)
    for p, g in zip(tparams, arrays):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=rtol, atol=0)
    after = float(np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in arrays)))
    assert after == pytest.approx(min(norm, max_norm), rel=max(rtol, 2e-6))


def test_clip_grad_norm_edges():
    g = {"a": np.array([3.0, 4.0]), "b": None}
    assert clip_grad_norm(g, 10.0) == 5.0
    np.testing.assert_array_equal(g["a"], [3.0, 4.0])  # below max_norm: untouched
    bad = {"a": np.array([np.inf, 1.0])}
    assert clip_grad_norm(bad, 1.0) == math.inf
    np.testing.assert_array_equal(bad["a"], [np.inf, 1.0])
    assert clip_grad_norm({}, 1.0) == 0.0
    with pytest.raises(ValueError, match="max_norm must be > 0"):
        clip_grad_norm(g, 0.0)


# -- schedules ------------------------------------------------------------------------------


def test_schedule_values():
    assert make_schedule("constant")(7.3) == 1.0
    assert make_schedule("constant", warmup=2.0)(0.5) == 0.25
    linear = make_schedule("linear", total=10.0, warmup=2.0)
    assert [linear(t) for t in (0.0, 1.0, 2.0, 6.0, 10.0, 12.0)] == [0, 0.5, 1.0, 0.5, 0.0, 0.0]
    assert make_schedule("linear", total=4.0, final=0.5)(2.0) == 0.75
    exp = make_schedule("exponential", gamma=0.5)
    assert [exp(t) for t in (0.0, 0.9, 1.0, 2.5)] == [1.0, 1.0, 0.5, 0.25]
    cosine = make_schedule("cosine", total=5.0, warmup=1.0, final=0.1)
    assert cosine(0.5) == 0.5
    assert cosine(1.0) == 1.0
    assert cosine(3.0) == pytest.approx(0.55)
    assert cosine(5.0) == pytest.approx(0.1)


def test_plateau_schedule_and_its_state():
    plateau = make_schedule("plateau", factor=0.5, patience=1, min_factor=0.2)
    assert plateau.needs_score
    for score in (0.5, 0.6, 0.6, 0.55):  # two epochs without improvement > patience 1
        plateau.observe(score)
    assert plateau(0.0) == 0.5
    for score in (0.1, 0.1, 0.1, 0.1):
        plateau.observe(score)
    assert plateau(0.0) == 0.2  # floored at min_factor
    state = json.loads(json.dumps(plateau.state_dict()))
    again = ReduceOnPlateau(factor=0.5, patience=1, min_factor=0.2)
    again.load_state_dict(state)
    assert again.state_dict() == plateau.state_dict()
    with pytest.raises(ValueError, match="plateau schedule state"):
        again.load_state_dict({"current": 1.0})
    with pytest.raises(ValueError, match="has no state"):
        make_schedule("constant").load_state_dict({"x": 1})


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_config_round_trips_through_json(name):
    kwargs = {"total": 8.0} if name in ("linear", "cosine") else {}
    schedule = make_schedule(name, **kwargs)
    config = json.loads(json.dumps(schedule.config()))
    assert config["name"] == name
    assert make_schedule(**config) == schedule


def test_make_schedule_errors():
    with pytest.raises(ValueError, match=r"schedule must be one of \['constant', 'cosine',"):
        make_schedule("step")
    with pytest.raises(TypeError, match=r"'exponential' takes arguments \['gamma'\]; .*'warmup'"):
        make_schedule("exponential", warmup=1.0)
    with pytest.raises(TypeError, match=r"'cosine' needs arguments \['total'\]"):
        make_schedule("cosine")
    with pytest.raises(ValueError, match="total must be > warmup"):
        make_schedule("linear", total=1.0, warmup=1.0)
    with pytest.raises(ValueError, match="gamma must be > 0"):
        make_schedule("exponential", gamma=0.0)


ADAMS = {
    "adam": lambda p: Adam(p, lr=0.01),
    "adam-l2": lambda p: Adam(p, lr=0.1, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    "adamw": lambda p: AdamW(p, lr=0.1, weight_decay=0.3),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(ADAMS))
def test_compiled_adam_gives_the_numpy_update_bit_for_bit(case, dtype):
    """The native backend's one-pass loop (optim.c) against the NumPy update, over parameters of
    several shapes (one non-contiguous, which takes the NumPy path), 8 steps, gradients from 1e-6
    to 1e3 with exact zeros: every parameter and moment equal to the last bit (on x86-64, where
    the loop has no fused multiply-add; elsewhere to within rounding)."""
    import platform

    from birnn import backend

    if not backend.native_available():
        pytest.skip(f"no compiled kernel: {backend.unavailable_reason()}")
    rng = np.random.default_rng(5)
    base = {
        "table": rng.standard_normal((301, 17)),
        "vector": rng.standard_normal(1001),
        "strided": rng.standard_normal((40, 9)),  # viewed [:, ::2] below
    }
    scales = 10.0 ** rng.uniform(-6, 3, size=8)
    grads = []
    for scale in scales:
        g = {k: (scale * rng.standard_normal(v.shape)).astype(dtype) for k, v in base.items()}
        g["strided"] = g["strided"][:, ::2].copy()
        g["vector"][::7] = 0.0
        grads.append(g)
    results = {}
    saved = backend._settings.backend
    try:
        for name in ("numpy", "native"):
            backend.set_backend(name)
            params = {k: v.astype(dtype) for k, v in base.items()}
            params["strided"] = params["strided"][:, ::2]
            opt = ADAMS[case](params)
            for g in grads:
                opt.step(g)
            results[name] = (params, opt.state_dict())
    finally:
        backend._settings.backend = saved
    (p_np, s_np), (p_c, s_c) = results["numpy"], results["native"]
    exact = platform.machine() in ("x86_64", "AMD64")
    rtol = 0.0 if exact else 100 * float(np.finfo(dtype).eps)
    for k in base:
        assert p_c[k].dtype == dtype
        np.testing.assert_allclose(p_c[k], p_np[k], rtol=rtol, atol=0, err_msg=k)
    for k in s_np:
        np.testing.assert_allclose(
            np.asarray(s_c[k]), np.asarray(s_np[k]), rtol=rtol, atol=0, err_msg=k
        )
