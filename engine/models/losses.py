"""Per-member losses and metrics: every function reduces all axes but the member axis K.

Classification targets are integer labels; a label below zero means "no target here" (the first
steps of a delayed-recall sequence) and is left out of both the mean and the accuracy.
"""
import autograd.numpy as np
import numpy as onp
from autograd.extend import defvjp, primitive
from autograd.tracer import getval

from .layers import mean, softplus, unbroadcast


def per_member_mean(values, weights=None):
    axes = tuple(range(1, values.ndim))
    if weights is None:
        return mean(values, axes)
    return np.sum(values * weights, axis=axes) / np.sum(weights, axis=axes)


def _has_target(y, dtype=onp.float64):
    return (onp.asarray(y) >= 0).astype(dtype)


def one_hot(y, n, dtype):
    """Rows of the identity for labels ≥ 0, zero rows for missing labels (y < 0), in ``dtype``
    (that of the values they meet, so that nothing is promoted)."""
    return (onp.asarray(y)[..., None] == onp.arange(n)).astype(dtype)


def logsumexp(logits, axis=-1, keepdims=False):
    """log Σ exp, shifted by the (untraced) maximum for stability: the shift cancels in the
    gradient, so it needs no derivative.  autograd's own logsumexp calls SciPy's, which costs
    ≈ 140 µs a call here and dominates single-example SGD."""
    shift = onp.max(getval(logits), axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(logits - shift), axis=axis, keepdims=True)) + shift
    return out if keepdims else np.squeeze(out, axis=axis)


@primitive
def softmax_cross_entropy(logits, y):
    """−log p_model(y | x) averaged per member: the lecture's J(θ) for a softmax output.

    logits (K, B, ..., n_classes), integer labels y (K, B, ...) (y < 0: no target); returns (K,).
    One primitive with a hand-written gradient, (softmax − one-hot) · weight / Σ weights, instead
    of the ten primitives of its formula (first order only).
    """
    # Reductions as array methods, here and in the VJP: the same sums, without the dispatch of
    # onp.sum and onp.max, which costs more than the sums themselves at B = 1.
    weights = _has_target(y, logits.dtype)
    shift = logits.max(axis=-1, keepdims=True)
    log_z = onp.log(onp.exp(logits - shift).sum(axis=-1)) + shift[..., 0]
    picked = (logits * one_hot(y, logits.shape[-1], logits.dtype)).sum(axis=-1)
    axes = tuple(range(1, weights.ndim))
    return ((log_z - picked) * weights).sum(axis=axes) / weights.sum(axis=axes)


def _softmax_cross_entropy_vjp(ans, logits, y):
    weights = _has_target(y, logits.dtype)
    axes = tuple(range(1, weights.ndim))
    scale = weights / weights.sum(axis=axes).reshape((-1,) + (1,) * (weights.ndim - 1))
    p = onp.exp(logits - logits.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    p -= one_hot(y, logits.shape[-1], p.dtype)
    p *= scale[..., None]
    return lambda g: p * onp.reshape(g, (-1,) + (1,) * (p.ndim - 1))


defvjp(softmax_cross_entropy, _softmax_cross_entropy_vjp)


def softmax_cross_entropy_vjp(logits, y):
    """The loss (K,) and ∂(Σ_k J_k)/∂logits by the VJP above, as autograd's backward pass starts
    it (g = 1 for every member): for a hand-written backward pass (engine/models/layers.py)."""
    value = softmax_cross_entropy.fun(logits, y)
    return value, _softmax_cross_entropy_vjp(value, logits, y)(onp.ones(value.shape, value.dtype))


def accuracy(logits, y):
    hits = (onp.argmax(logits, axis=-1) == onp.asarray(y)).astype(onp.float64)
    return per_member_mean(hits, _has_target(y))


def softmax(logits):
    return np.exp(logits - logsumexp(logits, axis=-1, keepdims=True))


def mean_squared_error(prediction, target):
    """Squared error per coordinate, averaged per member (the report's reconstruction MSE)."""
    return per_member_mean((prediction - target) ** 2)


def mean_squared_error_vjp(prediction, target):
    """The loss (K,) and ∂(Σ_k J_k)/∂prediction by autograd's VJPs of its subtraction, square (g · 2
    · d¹) and mean, in turn, for a hand-written backward pass (engine/models/layers.py)."""
    difference = prediction - target
    # np.power, not **: a traced square is the power ufunc, and ndarray's ** 2 a different loop.
    value = onp.sum(onp.power(difference, 2), axis=tuple(range(1, difference.ndim))) / difference[0].size
    # autograd's chain, mean's g / n broadcast, times 2, times d¹, with the per-member factor
    # (g / n) · 2 (exact: a doubling) applied in one pass: the same products, without the
    # broadcast copies.
    scale = unbroadcast(onp.ones(value.shape, value.dtype) / difference[0].size, value.shape) * 2
    gradient = scale.reshape(scale.shape + (1,) * (difference.ndim - 1)) * difference
    return value, unbroadcast(gradient, prediction.shape)


def bernoulli_nll(logits, x):
    """−log p(x | logits) of independent Bernoulli coordinates, summed per example: (K, B).

    Works for x in [0, 1] (grey levels as probabilities), the usual practice for digit VAEs.
    """
    nll = softplus(logits) - x * logits
    return np.sum(np.reshape(nll, nll.shape[:2] + (-1,)), axis=-1)
