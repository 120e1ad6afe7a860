"""Primitive nonlinearities and their derivatives, written in terms of their outputs.

Every derivative here takes the *output* ``y`` of the forward function, because that is what
a recurrent tape keeps:

    sigmoid:  y = 1 / (1 + exp(-x))      dy/dx = y * (1 - y)
    tanh:     y = tanh(x)                dy/dx = 1 - y**2
    relu:     y = max(x, 0)              dy/dx = [y > 0]

The cells use the in-place forms (trailing underscore) on preallocated buffers, so a time step
allocates nothing. ``sigmoid_from_half_tanh_`` rests on the identity

    sigmoid(x) = 0.5 + 0.5 * tanh(x / 2)

which lets one ``tanh`` call cover all gates of a cell at once when the sigmoid gates'
pre-activations are halved (an exact operation in binary floating point). It also cannot overflow,
unlike ``1 / (1 + exp(-x))`` for large negative ``x``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]


def sigmoid(x: Array) -> Array:
    """Logistic function, y = 0.5 + 0.5 * tanh(x / 2) (no overflow for any x)."""
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def tanh(x: Array) -> Array:
    return np.tanh(x)


def relu(x: Array) -> Array:
    return np.maximum(x, 0)


def sigmoid_from_half_tanh_(t: Array) -> Array:
    """In place: t = tanh(x/2) becomes sigmoid(x) = 0.5 * t + 0.5."""
    t *= 0.5
    t += 0.5
    return t


def dsigmoid_into(y: Array, out: Array) -> Array:
    """out = y * (1 - y): the derivative of sigmoid at the point whose output is y."""
    np.multiply(y, y, out=out)
    return np.subtract(y, out, out=out)


def dtanh_into(y: Array, out: Array) -> Array:
    """out = 1 - y**2: the derivative of tanh at the point whose output is y."""
    np.multiply(y, y, out=out)
    return np.subtract(1, out, out=out)


def drelu_into(y: Array, out: Array) -> Array:
    """out = [y > 0]: the derivative of relu at the point whose output is y (0 at 0, as torch)."""
    return np.greater(y, 0, out=out)  # bools stored as 0.0 / 1.0


def tanh_(x: Array) -> Array:
    return np.tanh(x, out=x)


def relu_(x: Array) -> Array:
    return np.maximum(x, 0, out=x)


# Activation name -> (in-place forward, derivative from the output).
ACTIVATIONS = {
    "tanh": (tanh_, dtanh_into),
    "relu": (relu_, drelu_into),
}


def dropout_mask(
    rng: np.random.Generator, shape: tuple[int, ...], p: float, dtype: np.dtype
) -> Array:
    """Inverted dropout's mask: keep / (1 - p) with keep ~ Bernoulli(1 - p), in ``dtype``.

    ``y = x * mask`` keeps E[y] = x, so inference needs no rescaling; backward is
    ``dx = dy * mask``. The one rule for every dropout in birnn (features and between
    recurrent layers).
    """
    keep = rng.random(shape) >= p
    return keep.astype(dtype) * np.dtype(dtype).type(1.0 / (1.0 - p))


# --------------------------------------------------------------------------------------------
# Normalisers over one axis: log-sum-exp, softmax, log-softmax
#
#     logsumexp:    y = log Σ_k exp(x_k)          dy/dx_i = exp(x_i - y)         (= softmax(x)_i)
#     softmax:      y_i = exp(x_i - logsumexp(x))   dx = y * (dy - Σ_k dy_k y_k)
#     log_softmax:  y_i = x_i - logsumexp(x)        dx = dy - exp(y) * Σ_k dy_k
#
# Stable for any finite x: the maximum m = max_k x_k is subtracted before exp, so every
# exponent is <= 0 and log Σ exp(x - m) lies in [0, log K]. Entries equal to -inf (forbidden
# choices) are allowed; a slice that is entirely -inf gives logsumexp -inf (not NaN).
# The backward functions are vector-Jacobian products: given the upstream gradient ``dy``,
# they return dL/dx, written from the forward output ``y`` (and ``x`` for logsumexp).
# --------------------------------------------------------------------------------------------


def logsumexp(x: Array, axis: int = -1, keepdims: bool = False) -> Array:
    """y = log Σ_k exp(x_k) over ``axis``, computed as m + log Σ_k exp(x_k - m)."""
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)  # all -inf (or an inf): shift by 0 instead of NaN
    with np.errstate(divide="ignore"):  # log(0) = -inf for an all -inf slice
        y = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return y if keepdims else np.squeeze(y, axis=axis)


def logsumexp_backward(x: Array, y: Array, dy: Array, axis: int = -1) -> Array:
    """dx_i = dy * exp(x_i - y), with y = logsumexp(x, axis) (not keepdims) and dy like y."""
    return np.expand_dims(dy, axis) * np.exp(x - np.expand_dims(y, axis))


def log_softmax(x: Array, axis: int = -1) -> Array:
    """y_i = x_i - logsumexp(x)."""
    return x - logsumexp(x, axis=axis, keepdims=True)


def log_softmax_backward(y: Array, dy: Array, axis: int = -1) -> Array:
    """dx = dy - exp(y) * Σ_k dy_k, with y = log_softmax(x)."""
    return dy - np.exp(y) * np.sum(dy, axis=axis, keepdims=True)


def softmax(x: Array, axis: int = -1) -> Array:
    """y_i = exp(x_i - logsumexp(x)); sums to 1 over ``axis``."""
    return np.exp(log_softmax(x, axis=axis))


def softmax_backward(y: Array, dy: Array, axis: int = -1) -> Array:
    """dx = y * (dy - Σ_k dy_k y_k), with y = softmax(x)."""
    return y * (dy - np.sum(dy * y, axis=axis, keepdims=True))
