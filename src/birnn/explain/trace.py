"""The step-by-step trace for learning: the seeds' tiny tanh BiRNN, every number printed.

The network of ``../shared/seeds/001_*`` ("Training Bidirectional Recurrent Neural Networks"),
with its boundary states 0.5 and no biases, for T steps (t = 1..T as the derivation counts)::

    forward chain    a_t  = U x_t + W h_{t-1},      h_t  = tanh(a_t),     h_0      = 0.5
    backward chain   a'_t = U' x_t + W' h'_{t+1},   h'_t = tanh(a'_t),    h'_{T+1} = 0.5
    output           q_t  = V h_t + V' h'_t,        ŷ_t  = softmax(q_t)
    loss             L    = -(1/T) Σ_t log ŷ_t[y_t]

Backward: one loss and one gradient at the outputs, then each chain's own recursion in the
opposite order of its forward pass::

    dq_t   = (ŷ_t - onehot(y_t)) / T              dV = Σ_t dq_t h_tᵀ     dV' = Σ_t dq_t h'_tᵀ
    forward chain, t = T..1:   δh_t  = Vᵀ dq_t + Wᵀ δa_{t+1}       δa_t  = δh_t ⊙ (1 - h_t²)
    backward chain, t = 1..T:  δh'_t = V'ᵀ dq_t + W'ᵀ δa'_{t-1}    δa'_t = δh'_t ⊙ (1 - h'_t²)
    dU = Σ_t δa_t x_tᵀ   dW = Σ_t δa_t h_{t-1}ᵀ   dU' = Σ_t δa'_t x_tᵀ   dW' = Σ_t δa'_t h'_{t+1}ᵀ
    dx_t = Uᵀ δa_t + U'ᵀ δa'_t          (δa_{T+1} = δa'_0 = 0)

``by_hand`` computes all of it from these equations alone, in float64. ``by_module`` gets the
same quantities from birnn itself: ``birnn.RNN`` (bidirectional, tanh, no biases,
``init_state=0.5``) with these weights, ``birnn.layers.Linear`` for V and V', and
``birnn.losses.softmax_cross_entropy``; δh and δh' from the module's backward
(``state_grad_hook``), δa_t U and δa'_t U' from its backward along one direction's path
(``through``). ``compare`` gives the largest difference of every quantity.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from birnn._checks import check_int
from birnn.functional import log_softmax
from birnn.layers.linear import Linear
from birnn.losses import softmax_cross_entropy
from birnn.modules import RNN

Array = NDArray[np.float64]
BOUNDARY = 0.5  # the seeds' default boundary state of both chains
TOLERANCE = 1e-12
WEIGHT_GRADIENTS = {  # name -> its equation, as printed
    "dU": "sum_t da_t x_t^T",
    "dW": "sum_t da_t h_(t-1)^T",
    "dU'": "sum_t da'_t x_t^T",
    "dW'": "sum_t da'_t h'_(t+1)^T",
}


@dataclass(frozen=True)
class Problem:
    """The tiny network's parameters, inputs and targets."""

    U: Array  # (H, F)
    W: Array  # (H, H)
    U_: Array  # U' (H, F)
    W_: Array  # W' (H, H)
    V: Array  # (K, H)
    V_: Array  # V' (K, H)
    x: Array  # (T, F)
    y: NDArray[np.int64]  # (T,) target classes


def problem(
    seed: int = 0, steps: int = 4, inputs: int = 3, hidden: int = 2, classes: int = 3
) -> Problem:
    """A random problem (weights U(-1, 1), inputs N(0, 1)): reproducible from ``seed``."""
    for name, value in (("steps", steps), ("inputs", inputs), ("hidden", hidden)):
        check_int(name, value, 1)
    check_int("classes", classes, 2)
    check_int("seed", seed, 0)
    rng = np.random.default_rng(seed)

    def w(*shape: int) -> Array:
        return rng.uniform(-1, 1, shape)

    return Problem(
        U=w(hidden, inputs), W=w(hidden, hidden), U_=w(hidden, inputs), W_=w(hidden, hidden),
        V=w(classes, hidden), V_=w(classes, hidden),
        x=rng.standard_normal((steps, inputs)), y=rng.integers(0, classes, steps),
    )  # fmt: skip


Values = dict[str, Array]  # quantity name -> array (per step quantities stacked over t)


def by_hand(p: Problem) -> Values:
    """Every forward value and backward quantity, from the equations of the module docstring.
    Arrays are indexed by t - 1 (t = 1..T)."""
    steps, hidden = p.x.shape[0], p.U.shape[0]
    a, h = np.zeros((steps, hidden)), np.zeros((steps, hidden))
    a_, h_ = np.zeros((steps, hidden)), np.zeros((steps, hidden))
    prev = np.full(hidden, BOUNDARY)
    for t in range(steps):  # forward chain, left to right
        a[t] = p.U @ p.x[t] + p.W @ prev
        h[t] = prev = np.tanh(a[t])
    nxt = np.full(hidden, BOUNDARY)
    for t in reversed(range(steps)):  # backward chain, right to left
        a_[t] = p.U_ @ p.x[t] + p.W_ @ nxt
        h_[t] = nxt = np.tanh(a_[t])
    q = h @ p.V.T + h_ @ p.V_.T
    e = np.exp(q - q.max(axis=1, keepdims=True))
    y_hat = e / e.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(y_hat[np.arange(steps), p.y]))

    dq = y_hat.copy()
    dq[np.arange(steps), p.y] -= 1
    dq /= steps
    dh, da = np.zeros((steps, hidden)), np.zeros((steps, hidden))
    later = np.zeros(hidden)  # δa_{t+1}
    for t in reversed(range(steps)):  # forward chain's BPTT, t = T..1
        dh[t] = p.V.T @ dq[t] + p.W.T @ later
        da[t] = later = dh[t] * (1 - h[t] ** 2)
    dh_, da_ = np.zeros((steps, hidden)), np.zeros((steps, hidden))
    earlier = np.zeros(hidden)  # δa'_{t-1}
    for t in range(steps):  # backward chain's BPTT, t = 1..T
        dh_[t] = p.V_.T @ dq[t] + p.W_.T @ earlier
        da_[t] = earlier = dh_[t] * (1 - h_[t] ** 2)
    h_before = np.vstack([np.full(hidden, BOUNDARY), h[:-1]])  # h_{t-1}
    h_after = np.vstack([h_[1:], np.full(hidden, BOUNDARY)])  # h'_{t+1}
    return {
        "a": a, "h": h, "a'": a_, "h'": h_, "q": q, "y_hat": y_hat, "L": np.array(loss),
        "dq": dq, "dV": dq.T @ h, "dV'": dq.T @ h_,
        "dh": dh, "da": da, "dh'": dh_, "da'": da_,
        "da U": da @ p.U, "da' U'": da_ @ p.U_, "dx": da @ p.U + da_ @ p.U_,
        "dU": da.T @ p.x, "dW": da.T @ h_before, "dU'": da_.T @ p.x, "dW'": da_.T @ h_after,
        "dh_0": p.W.T @ da[0], "dh'_T+1": p.W_.T @ da_[-1],
    }  # fmt: skip


def by_module(p: Problem) -> Values:
    """The same quantities from birnn's own modules (those it computes; the pre-activations a
    and δa enter the checks through q, δh and δa U)."""
    inputs = p.x.shape[1]
    hidden, classes = p.U.shape[0], p.V.shape[0]
    rnn = RNN(inputs, hidden, bias=False, bidirectional=True, init_state=BOUNDARY, dtype=np.float64)
    rnn.load_state_dict({"weight_ih_l0": p.U, "weight_hh_l0": p.W,
                         "weight_ih_l0_reverse": p.U_, "weight_hh_l0_reverse": p.W_})  # fmt: skip
    out_layer = Linear(2 * hidden, classes, np.random.default_rng(0), np.float64, bias=False)
    out_layer.params["weight"][...] = np.hstack([p.V, p.V_])
    x = p.x[:, None, :]  # (T, N=1, F)
    out, _, tape = rnn.forward(x)
    q, out_cache = out_layer.forward(out[:, 0])
    loss, dq = softmax_cross_entropy(q, p.y)
    d_out, out_grads = out_layer.backward(out_cache, dq)
    recorded: list[list[NDArray[np.floating]]] = []
    rnn.state_grad_hook = lambda grads, lengths: recorded.append(grads)
    try:
        dx, dh0, grads = rnn.backward(tape, d_out[:, None, :], retain_tape=True)
    finally:
        rnn.state_grad_hook = None
    d_y = d_out[:, None, :]
    only_fwd = rnn.backward(tape, d_y, through=np.array([[1.0], [0.0]]), retain_tape=True)[0]
    only_bwd = rnn.backward(tape, d_y, through=np.array([[0.0], [1.0]]))[0]
    return {
        "h": out[:, 0, :hidden], "h'": out[:, 0, hidden:], "q": q,
        "y_hat": np.exp(log_softmax(q)), "L": np.array(loss), "dq": dq,
        "dV": out_grads["weight"][:, :hidden], "dV'": out_grads["weight"][:, hidden:],
        "dh": recorded[0][0][:, 0], "dh'": recorded[0][1][:, 0],
        "da U": only_fwd[:, 0], "da' U'": only_bwd[:, 0], "dx": dx[:, 0],
        "dU": grads["weight_ih_l0"], "dW": grads["weight_hh_l0"],
        "dU'": grads["weight_ih_l0_reverse"], "dW'": grads["weight_hh_l0_reverse"],
        "dh_0": dh0[0, 0], "dh'_T+1": dh0[1, 0],
    }  # fmt: skip


def compare(hand: Values, module: Values) -> dict[str, float]:
    """The largest absolute difference of every quantity the module computes."""
    return {name: float(np.max(np.abs(hand[name] - value))) for name, value in module.items()}


# ---- printing ---------------------------------------------------------------------------------


def _v(a: Array) -> str:
    return np.array2string(np.atleast_1d(a), precision=4, suppress_small=True, floatmode="fixed",
                           sign=" ", max_line_width=200)  # fmt: skip


def _m(name: str, a: Array) -> Iterator[str]:
    rows = [_v(r) for r in np.atleast_2d(a)]
    for i, row in enumerate(rows):
        yield f"  {name if i == 0 else '':<4} {'=' if i == 0 else ' '} {row}"


def lines(p: Problem, hand: Values, differences: dict[str, float]) -> Iterator[str]:
    """The trace: every value with the equation it comes from, then the check."""
    steps = T = p.x.shape[0]
    a_, h_, dh_, da_ = hand["a'"], hand["h'"], hand["dh'"], hand["da'"]
    yield "The tiny BiRNN of the seeds' derivation (shared/seeds/001): tanh, no biases, float64."
    yield f"  forward chain   a_t  = U x_t + W h_(t-1),     h_t  = tanh(a_t),   h_0 = {BOUNDARY}"
    yield (
        f"  backward chain  a'_t = U' x_t + W' h'_(t+1),  h'_t = tanh(a'_t),  "
        f"h'_{T + 1} = {BOUNDARY}"
    )
    yield "  output          q_t  = V h_t + V' h'_t,       y^_t = softmax(q_t)"
    yield "  loss            L    = -(1/T) sum_t log y^_t[y_t]"
    yield (f"  T = {T} steps, {p.x.shape[1]} inputs, {p.U.shape[0]} units per direction, "
           f"{p.V.shape[0]} classes")  # fmt: skip
    yield ""
    yield "Parameters:"
    for name, value in (
        ("U", p.U),
        ("W", p.W),
        ("U'", p.U_),
        ("W'", p.W_),
        ("V", p.V),
        ("V'", p.V_),
    ):
        yield from _m(name, value)
    yield "Inputs and targets:"
    for t in range(steps):
        yield f"  x_{t + 1} = {_v(p.x[t])}   y_{t + 1} = {int(p.y[t])}"
    yield ""
    yield "FORWARD PASS. The two chains never read each other; both read the same x_t."
    yield f"Forward chain, left to right (t = 1..{T}):"
    for t in range(steps):
        prev = f"h_{t}"
        yield f"  t={t + 1}  a_{t + 1} = U x_{t + 1} + W {prev} = {_v(hand['a'][t])}"
        yield f"       h_{t + 1} = tanh(a_{t + 1}) = {_v(hand['h'][t])}"
    yield f"Backward chain, right to left (t = {T}..1):"
    for t in reversed(range(steps)):
        yield f"  t={t + 1}  a'_{t + 1} = U' x_{t + 1} + W' h'_{t + 2} = {_v(a_[t])}"
        yield f"       h'_{t + 1} = tanh(a'_{t + 1}) = {_v(h_[t])}"
    yield "Outputs: both chains meet only here."
    for t in range(steps):
        fwd, bwd = p.V @ hand["h"][t], p.V_ @ h_[t]
        yield (f"  t={t + 1}  q_{t + 1} = V h_{t + 1} + V' h'_{t + 1} = {_v(fwd)} + {_v(bwd)} "
               f"= {_v(hand['q'][t])}")  # fmt: skip
        nll = -np.log(hand["y_hat"][t, p.y[t]])
        y_hat = _v(hand["y_hat"][t])
        yield f"       y^_{t + 1} = softmax(q_{t + 1}) = {y_hat}   -log y^[{p.y[t]}] = {nll:.4f}"
    yield f"Loss L = {float(hand['L']):.6f}"
    yield ""
    yield "BACKWARD PASS. One loss, one gradient at the outputs:"
    for t in range(steps):
        yield f"  dq_{t + 1} = (y^_{t + 1} - onehot(y_{t + 1})) / T = {_v(hand['dq'][t])}"
    yield from _m("dV", hand["dV"])
    yield "         (dV = sum_t dq_t h_t^T)"
    yield from _m("dV'", hand["dV'"])
    yield "         (dV' = sum_t dq_t h'_t^T)"
    yield (f"Forward chain, backpropagation through time from t = {T} down to 1 "
           f"(da_{T + 1} = 0):")  # fmt: skip
    for t in reversed(range(steps)):
        yield f"  t={t + 1}  dh_{t + 1} = V^T dq_{t + 1} + W^T da_{t + 2} = {_v(hand['dh'][t])}"
        yield f"       da_{t + 1} = dh_{t + 1} * (1 - h_{t + 1}^2) = {_v(hand['da'][t])}"
    yield f"Backward chain, backpropagation through time from t = 1 up to {T} (da'_0 = 0):"
    for t in range(steps):
        yield f"  t={t + 1}  dh'_{t + 1} = V'^T dq_{t + 1} + W'^T da'_{t} = {_v(dh_[t])}"
        yield f"       da'_{t + 1} = dh'_{t + 1} * (1 - h'_{t + 1}^2) = {_v(da_[t])}"
    yield "Input gradients: both chains' gradients add up at each x_t."
    for t in range(steps):
        yield f"  dx_{t + 1} = U^T da_{t + 1} + U'^T da'_{t + 1} = {_v(hand['dx'][t])}"
    yield "Weight gradients:"
    for name, equation in WEIGHT_GRADIENTS.items():
        yield from _m(name, hand[name])
        yield f"         ({name} = {equation})"
    end = hand["dh'_T+1"]
    start = _v(hand["dh_0"])
    yield f"Boundary states: dh_0 = W^T da_1 = {start},  dh'_{T + 1} = W'^T da'_{T} = {_v(end)}"
    yield ""
    yield ("Are there two backprops? No: one loss and one gradient dq; V and V' route it to the "
           "two chains, and each chain runs its own recursion in the opposite order of its "
           "forward pass (the forward chain from T down, the backward chain from 1 up). The "
           "two recursions share nothing but dq, and meet again only in dx.")  # fmt: skip
    yield ""
    worst = max(differences.values())
    verdict = "agree" if worst <= TOLERANCE else "DO NOT agree"
    yield (
        f"Checked against birnn's own forward and backward (birnn.RNN bidirectional, "
        f"init_state={BOUNDARY}, bias=False; Linear; softmax_cross_entropy), float64:"
    )
    for name, diff in differences.items():
        yield f"  {name:<8} max |by hand - birnn| = {diff:.1e}"
    yield f"All {len(differences)} quantities {verdict} to {TOLERANCE:g}."


@dataclass(frozen=True)
class Trace:
    lines: list[str]
    differences: dict[str, float]

    @property
    def ok(self) -> bool:
        return max(self.differences.values()) <= TOLERANCE


def trace(seed: int = 0, steps: int = 4) -> Trace:
    """Build the tiny problem, compute it by hand and with birnn, and print both's agreement."""
    p = problem(seed, steps)
    hand = by_hand(p)
    differences = compare(hand, by_module(p))
    return Trace(list(lines(p, hand, differences)), differences)
