"""Per-member losses and metrics: every function reduces all axes but the member axis K.

Classification targets are integer labels; a label below zero means "no target here" (the first
steps of a delayed-recall sequence) and is left out of both the mean and the accuracy.
"""
import autograd.numpy as np
import numpy as onp
from autograd.tracer import getval

from .layers import softplus


def per_member_mean(values, weights=None):
    axes = tuple(range(1, values.ndim))
    if weights is None:
        return np.mean(values, axis=axes)
    return np.sum(values * weights, axis=axes) / np.sum(weights, axis=axes)


def _has_target(y):
    return (onp.asarray(y) >= 0).astype(onp.float64)


def one_hot(y, n):
    """Rows of the identity for labels ≥ 0, zero rows for missing labels (y < 0)."""
    return (onp.asarray(y)[..., None] == onp.arange(n)).astype(onp.float64)


def logsumexp(logits, axis=-1, keepdims=False):
    """log Σ exp, shifted by the (untraced) maximum for stability: the shift cancels in the
    gradient, so it needs no derivative.  autograd's own logsumexp calls SciPy's, which costs
    ≈ 140 µs a call here and dominates single-example SGD."""
    shift = onp.max(getval(logits), axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(logits - shift), axis=axis, keepdims=True)) + shift
    return out if keepdims else np.squeeze(out, axis=axis)


def softmax_cross_entropy(logits, y):
    """−log p_model(y | x) averaged per member: the lecture's J(θ) for a softmax output."""
    picked = np.sum(logits * one_hot(y, logits.shape[-1]), axis=-1)
    return per_member_mean(logsumexp(logits, axis=-1) - picked, _has_target(y))


def accuracy(logits, y):
    hits = (onp.argmax(logits, axis=-1) == onp.asarray(y)).astype(onp.float64)
    return per_member_mean(hits, _has_target(y))


def softmax(logits):
    return np.exp(logits - logsumexp(logits, axis=-1, keepdims=True))


def mean_squared_error(prediction, target):
    """Squared error per coordinate, averaged per member (the report's reconstruction MSE)."""
    return per_member_mean((prediction - target) ** 2)


def bernoulli_nll(logits, x):
    """−log p(x | logits) of independent Bernoulli coordinates, summed per example: (K, B).

    Works for x in [0, 1] (grey levels as probabilities), the usual practice for digit VAEs.
    """
    nll = softplus(logits) - x * logits
    return np.sum(np.reshape(nll, nll.shape[:2] + (-1,)), axis=-1)
