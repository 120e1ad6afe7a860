"""The trainer against independent references: torch's schedulers, and a hand-written torch loop.

* Every schedule, with warmup, against torch.optim.lr_scheduler step by step: the learning rate of
  every optimizer step the trainer takes (read by the model while it computes that step's
  gradients) equals torch's for the same step (``LinearLR`` warmup, ``LinearLR`` /
  ``CosineAnnealingLR`` decay chained by ``SequentialLR``, ``ExponentialLR`` stepped per epoch,
  ``ReduceLROnPlateau`` stepped per epoch with the dev score).
* A few epochs of the trainer against a loop written here in torch over the same model: autograd
  for the gradients, ``clip_grad_norm_``, ``torch.optim`` and a torch scheduler. Per step the
  loss, the learning rate and the clipped gradient norm agree, per epoch the logged train loss
  (the item-weighted mean over uneven batches), and at the end every parameter.

Tolerances: float64 throughout; learning rates to 1e-9 absolute (torch's warmup cannot start at
exactly 0: its ``LinearLR`` starts at a factor of 1e-12 here); losses, norms and parameters to
1e-10 relative (the same arithmetic in another order, over about twenty steps).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from birnn.train import TrainConfig, Trainer
from helpers import requires_torch, torch

pytest.importorskip("safetensors")
pytestmark = requires_torch

D, C = 5, 3  # features, classes
N_ITEMS, BATCH = 50, 16  # four batches per epoch: 16, 16, 16 and 2 items (uneven on purpose)
STEPS_PER_EPOCH = 4
BASE_LR = 0.4
TINY = 1e-12  # torch's LinearLR needs a start factor > 0; ours starts warmup at exactly 0


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    x = rng.standard_normal((N_ITEMS, D))
    y = (x @ rng.standard_normal((D, C)) + 0.5 * rng.standard_normal((N_ITEMS, C))).argmax(1)
    return x, y


X, Y = _data()


def train_batches(rng: np.random.Generator):
    order = rng.permutation(N_ITEMS)
    return [(X[order[i : i + BATCH]], Y[order[i : i + BATCH]]) for i in range(0, N_ITEMS, BATCH)]


class Recorder:
    """Softmax regression with input dropout that records what the trainer does at each step.

    ``s = (x * keep / (1 - p)) @ W.T + b``, loss = mean cross-entropy over the batch.
    It reads the optimizer's learning rate while computing a step's gradients (the trainer sets
    it before), and keeps every gradient dict it returns: the trainer clips them in place.
    """

    def __init__(self, dropout: float = 0.2):
        rng = np.random.default_rng(0)
        self.params = {"w": rng.standard_normal((C, D)), "b": rng.standard_normal(C)}
        self.init = {k: v.copy() for k, v in self.params.items()}
        self.dropout = dropout
        self.trainer: Trainer | None = None
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.grads: list[dict[str, np.ndarray]] = []

    def loss_and_grads(self, batch, rng):
        assert self.trainer is not None and self.trainer.optimizer is not None
        self.lrs.append(self.trainer.optimizer.lr)
        x, y = batch
        keep = rng.random(x.shape) >= self.dropout
        xd = x * keep / (1.0 - self.dropout)
        s = xd @ self.params["w"].T + self.params["b"]
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        n = len(y)
        loss = float(-np.log(p[np.arange(n), y]).mean())
        ds = p.copy()
        ds[np.arange(n), y] -= 1.0
        ds /= n
        grads = {"w": ds.T @ xd, "b": ds.sum(axis=0)}
        self.losses.append(loss)
        self.grads.append(grads)
        return loss, grads, n


def run_trainer(tmp_path, scores=None, **config: Any) -> tuple[Recorder, Any]:
    """Train a Recorder; ``scores``: the dev scores evaluate returns, epoch by epoch."""
    model = Recorder()
    epochs = config.pop("epochs", 5)
    cfg = TrainConfig(epochs=epochs, batch_size=BATCH, lr=BASE_LR, patience=0, seed=3, **config)
    evaluate = None
    if scores is not None:
        it = iter(scores)
        evaluate = lambda m: {"score": next(it)}  # noqa: E731
    trainer = Trainer(model, cfg, tmp_path, evaluate=evaluate, progress=False)
    model.trainer = trainer
    return model, trainer.fit(train_batches)


# -- torch's schedulers ------------------------------------------------------------------------

Sched = torch.optim.lr_scheduler if torch is not None else None


def _warmup_then(opt, warmup_steps: int, after: Any) -> Any:
    if not warmup_steps:
        return after
    warm = Sched.LinearLR(opt, start_factor=TINY, end_factor=1.0, total_iters=warmup_steps)
    return Sched.SequentialLR(opt, [warm, after], milestones=[warmup_steps])


def torch_lrs(
    make: Callable[[Any], Any], epochs: int, per_epoch: bool = False, scores=None
) -> list[float]:
    """The lr of each of ``epochs * STEPS_PER_EPOCH`` steps under a torch scheduler.

    Per-step schedulers step after every optimizer step; ``per_epoch`` ones after each epoch's
    last step (``ReduceLROnPlateau`` with that epoch's dev score).
    """
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=BASE_LR)
    sched = make(opt)
    out = []
    for epoch in range(epochs):
        for _ in range(STEPS_PER_EPOCH):
            out.append(opt.param_groups[0]["lr"])
            p.grad = torch.zeros(1, dtype=torch.float64)
            opt.step()
            if not per_epoch:
                sched.step()
        if per_epoch:
            sched.step(scores[epoch]) if scores is not None else sched.step()
    return out


W = 1.5  # epochs of warmup: 6 steps
WS = int(W * STEPS_PER_EPOCH)
E = 5  # epochs
ES = E * STEPS_PER_EPOCH

SCHEDULE_CASES = {
    "constant": ({}, lambda o: Sched.ConstantLR(o, factor=1.0, total_iters=0)),
    "constant-warmup": (
        {"warmup": W},
        lambda o: Sched.LinearLR(o, start_factor=TINY, end_factor=1.0, total_iters=WS),
    ),
    "linear": (
        {"schedule": "linear", "schedule_args": {"final": 0.1}},
        lambda o: Sched.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=ES),
    ),
    "linear-warmup": (
        {"schedule": "linear", "warmup": W},
        lambda o: _warmup_then(o, WS, Sched.LinearLR(o, 1.0, TINY, total_iters=ES - WS)),
    ),
    "linear-short": (  # total below the run's epochs: the factor stays at final afterwards
        {"schedule": "linear", "warmup": W, "schedule_args": {"total": 3.0, "final": 0.25}},
        lambda o: _warmup_then(o, WS, Sched.LinearLR(o, 1.0, 0.25, total_iters=12 - WS)),
    ),
    "cosine": (
        {"schedule": "cosine"},
        lambda o: Sched.CosineAnnealingLR(o, T_max=ES, eta_min=0.0),
    ),
    "cosine-warmup": (
        {"schedule": "cosine", "warmup": W, "schedule_args": {"final": 0.05}},
        lambda o: _warmup_then(o, WS, Sched.CosineAnnealingLR(o, ES - WS, eta_min=0.05 * BASE_LR)),
    ),
}


@pytest.mark.parametrize("case", sorted(SCHEDULE_CASES))
def test_every_step_has_torchs_learning_rate(tmp_path, case):
    config, make = SCHEDULE_CASES[case]
    model, _ = run_trainer(tmp_path, **config)
    want = torch_lrs(make, E)
    assert len(model.lrs) == ES
    np.testing.assert_allclose(model.lrs, want, rtol=0, atol=1e-9)
    if config.get("warmup"):  # warmup really ramps within the first epoch, from 0
        assert model.lrs[0] == 0.0 and 0 < model.lrs[1] < model.lrs[2] < BASE_LR


def test_exponential_decays_once_per_epoch_as_torchs(tmp_path):
    model, result = run_trainer(tmp_path, schedule="exponential", schedule_args={"gamma": 0.7})
    want = torch_lrs(lambda o: Sched.ExponentialLR(o, gamma=0.7), E, per_epoch=True)
    np.testing.assert_allclose(model.lrs, want, rtol=1e-12, atol=0)
    assert [r["lr"] for r in result.history] == pytest.approx(want[STEPS_PER_EPOCH - 1 :: 4])


# Dev scores with improvements, exact ties (not an improvement) and tiny improvements
# (an improvement for a threshold of 0: torch's default threshold 1e-4 is not ours).
PLATEAU_SCORES = [0.5, 0.6, 0.6, 0.55, 0.6, 0.6000001, 0.6000001, 0.3, 0.3, 0.3, 0.3, 0.9]


@pytest.mark.parametrize(
    "args",
    [
        {"patience": 0, "factor": 0.5},
        {"patience": 1, "factor": 0.3},
        {"patience": 2, "factor": 0.5, "min_factor": 0.2},
    ],
)
def test_plateau_follows_torchs_reduce_lr_on_plateau(tmp_path, args):
    epochs = len(PLATEAU_SCORES)
    model, _ = run_trainer(
        tmp_path, scores=PLATEAU_SCORES, epochs=epochs, schedule="plateau", schedule_args=args
    )

    def make(o):
        return Sched.ReduceLROnPlateau(
            o,
            mode="max",
            factor=args["factor"],
            patience=args["patience"],
            threshold=0.0,
            min_lr=args.get("min_factor", 0.0) * BASE_LR,
            eps=0.0,
        )

    want = torch_lrs(make, epochs, per_epoch=True, scores=PLATEAU_SCORES)
    np.testing.assert_allclose(model.lrs, want, rtol=1e-12, atol=0)
    assert min(want) < BASE_LR  # the case does reduce


# -- a hand-written loop over the same model ---------------------------------------------------


def reference_loop(config: TrainConfig, make_scheduler, make_optimizer):
    """The training the trainer should do, written out with torch.

    Returns, per step, (loss, lr, norm of the clipped gradients, norm before clipping); per
    epoch the item-weighted mean loss; and the final parameters.
    """
    model = Recorder()  # only for its initial parameters and dropout rate
    w = torch.tensor(model.init["w"], requires_grad=True)
    b = torch.tensor(model.init["b"], requires_grad=True)
    opt = make_optimizer([w, b])
    sched = make_scheduler(opt)
    rng = np.random.default_rng(config.seed)  # the trainer's one Generator: batches, then dropout
    steps, epoch_losses = [], []
    for _ in range(config.epochs):
        total, items = 0.0, 0
        for x, y in train_batches(rng):
            keep = rng.random(x.shape) >= model.dropout
            xd = torch.tensor(x * keep / (1.0 - model.dropout))
            loss = torch.nn.functional.cross_entropy(xd @ w.T + b, torch.tensor(y))
            opt.zero_grad()
            loss.backward()
            raw = float(torch.nn.utils.clip_grad_norm_([w, b], config.clip))
            clipped = float(torch.sqrt(w.grad.pow(2).sum() + b.grad.pow(2).sum()))
            steps.append((loss.item(), opt.param_groups[0]["lr"], clipped, raw))
            opt.step()
            sched.step()
            total += loss.item() * len(y)
            items += len(y)
        epoch_losses.append(total / items)
    return steps, epoch_losses, {"w": w.detach().numpy(), "b": b.detach().numpy()}


REFERENCE_CASES = {
    "sgd-momentum-cosine-warmup": (
        {"optimizer": "sgd", "momentum": 0.9, "schedule": "cosine", "warmup": 0.5, "clip": 0.5},
        lambda o: _warmup_then(o, 2, Sched.CosineAnnealingLR(o, T_max=3 * 4 - 2, eta_min=0.0)),
        lambda p: torch.optim.SGD(p, lr=BASE_LR, momentum=0.9),
    ),
    "adam-linear": (
        {"optimizer": "adam", "schedule": "linear", "clip": 0.5},
        lambda o: Sched.LinearLR(o, start_factor=1.0, end_factor=TINY, total_iters=12),
        lambda p: torch.optim.Adam(p, lr=BASE_LR),
    ),
}


@pytest.mark.parametrize("case", sorted(REFERENCE_CASES))
def test_trainer_matches_a_hand_written_torch_loop(tmp_path, case):
    config_args, make_scheduler, make_optimizer = REFERENCE_CASES[case]
    model, result = run_trainer(tmp_path, epochs=3, **config_args)
    config = TrainConfig(epochs=3, batch_size=BATCH, lr=BASE_LR, seed=3, **config_args)
    steps, epoch_losses, final = reference_loop(config, make_scheduler, make_optimizer)

    norms = [float(np.sqrt(sum(np.sum(g**2) for g in grads.values()))) for grads in model.grads]
    want_loss, want_lr, want_norm, raw = (list(column) for column in zip(*steps))
    np.testing.assert_allclose(model.losses, want_loss, rtol=1e-10)
    np.testing.assert_allclose(model.lrs, want_lr, rtol=0, atol=1e-9)
    np.testing.assert_allclose(norms, want_norm, rtol=1e-10)
    # the case exercises clipping: steps below the limit, steps between the limit and twice
    # the limit, and steps beyond twice the limit
    limit = config.clip
    assert {"below", "near", "far"} <= {
        "below" if r < limit else "near" if r < 2 * limit else "far" for r in raw
    }, raw
    for k in range(3):
        np.testing.assert_allclose(
            [r["train_loss"] for r in result.history][k], epoch_losses[k], rtol=1e-10
        )
    assert [r["train_items"] for r in result.history] == [N_ITEMS] * 3
    for name in ("w", "b"):
        np.testing.assert_allclose(model.params[name], final[name], rtol=1e-10, atol=1e-12)
