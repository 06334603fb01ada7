"""Per-member losses and metrics: every function reduces all axes but the member axis K.

Classification targets are integer labels; a label below zero means "no target here" (the first
steps of a delayed-recall sequence) and is left out of both the mean and the accuracy.
"""
import autograd.numpy as np
import numpy as onp

from .tape import Op


def per_member_mean(values, weights):
    """Σ values · weights / Σ weights over every axis but the member axis (plain arrays)."""
    axes = tuple(range(1, values.ndim))
    return np.sum(values * weights, axis=axes) / np.sum(weights, axis=axes)


def _has_target(y, dtype=onp.float64):
    return (onp.asarray(y) >= 0).astype(dtype)


def one_hot(y, n, dtype):
    """Rows of the identity for labels ≥ 0, zero rows for missing labels (y < 0), in ``dtype``
    (that of the values they meet, so that nothing is promoted)."""
    return (onp.asarray(y)[..., None] == onp.arange(n)).astype(dtype)


def _softmax(logits):
    """p = exp(o − max o) / Σ exp(o − max o) over the last axis (the shift cancels)."""
    p = onp.exp(logits - logits.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    return p


def _softmax_backward(g, p, args, argnums):
    """∂L/∂o = p ⊙ (g − Σ_j g_j p_j)."""
    return (p * (g - (g * p).sum(axis=-1, keepdims=True)),)


softmax = Op(_softmax, _softmax_backward)


def _softmax_cross_entropy(logits, y):
    """J(θ) = −log p_model(y | x) averaged per member, for a softmax output.

    logits (K, B, ..., n_classes), integer labels y (K, B, ...) (y < 0: no target); returns (K,).
    One op, rather than the ten primitives of its formula."""
    # Reductions as array methods, here and in the backward pass: the same sums, without the
    # dispatch of onp.sum and onp.max, which costs more than the sums themselves at B = 1.
    weights = _has_target(y, logits.dtype)
    shift = logits.max(axis=-1, keepdims=True)
    log_z = onp.log(onp.exp(logits - shift).sum(axis=-1)) + shift[..., 0]
    picked = (logits * one_hot(y, logits.shape[-1], logits.dtype)).sum(axis=-1)
    axes = tuple(range(1, weights.ndim))
    return ((log_z - picked) * weights).sum(axis=axes) / weights.sum(axis=axes)


def _softmax_cross_entropy_backward(g, ans, args, argnums):
    """∂J/∂logits = (softmax(logits) − one-hot(y)) · weight / Σ weights, times g per member."""
    logits, y = args
    weights = _has_target(y, logits.dtype)
    axes = tuple(range(1, weights.ndim))
    scale = weights / weights.sum(axis=axes).reshape((-1,) + (1,) * (weights.ndim - 1))
    p = _softmax(logits)
    p -= one_hot(y, logits.shape[-1], p.dtype)
    p *= (scale * onp.reshape(g, (-1,) + (1,) * (scale.ndim - 1)))[..., None]
    return (p,)


softmax_cross_entropy = Op(_softmax_cross_entropy, _softmax_cross_entropy_backward)


def accuracy(logits, y):
    hits = (onp.argmax(logits, axis=-1) == onp.asarray(y)).astype(onp.float64)
    return per_member_mean(hits, _has_target(y))




def _mean_squared_error(prediction, target):
    """(1/n) Σ_i (r_i − x_i)² per member, over a member's n = B · ∏shape coordinates (the
    report's reconstruction MSE)."""
    difference = prediction - target
    return (difference * difference).sum(axis=tuple(range(1, difference.ndim))) / difference[0].size


def _mean_squared_error_backward(g, ans, args, argnums):
    """∂/∂r_i = 2 (r_i − x_i) / n, times g per member; ∂/∂x_i its negative."""
    difference = args[0] - args[1]
    difference *= (g * (2.0 / difference[0].size)).reshape((-1,) + (1,) * (difference.ndim - 1))
    return tuple(difference if argnum == 0 else -difference for argnum in argnums)


mean_squared_error = Op(_mean_squared_error, _mean_squared_error_backward)


def _softplus_mean(logit, sign):
    """(1/B) Σ_b ζ(s · logit_b) per member for a sign s = ±1: the GAN's terms, log d(x) =
    −ζ(−logit) and log(1 − d(x)) = −ζ(logit), d = σ(logit)."""
    return onp.logaddexp(0.0, sign * logit).sum(axis=1) / logit.shape[1]


def _softplus_mean_backward(g, ans, args, argnums):
    """∂/∂logit_b = s · σ(s · logit_b) / B, times g per member (ζ' = σ)."""
    logit, sign = args
    slope = onp.tanh((0.5 * sign) * logit)
    slope += 1.0
    slope *= (g * (0.5 * sign / logit.shape[1])).reshape((-1,) + (1,) * (logit.ndim - 1))
    return (slope,)


softplus_mean = Op(_softplus_mean, _softplus_mean_backward)


def _per_example(values):
    """Σ over every axis after the member and batch axes: (K, B)."""
    return values.reshape(values.shape[:2] + (-1,)).sum(axis=-1)


def _bernoulli_nll(logits, x):
    """−log p(x | logits) = Σ_i ζ(o_i) − x_i o_i of independent Bernoulli coordinates, summed per
    example: (K, B).  Works for x in [0, 1] (grey levels as probabilities), the usual practice
    for digit VAEs."""
    return _per_example(onp.logaddexp(0.0, logits) - x * logits)


def _bernoulli_nll_backward(g, ans, args, argnums):
    """∂/∂o_i = σ(o_i) − x_i and ∂/∂x_i = −o_i, times g per example."""
    logits, x = args
    g = g.reshape(g.shape + (1,) * (logits.ndim - 2))
    out = []
    for argnum in argnums:
        if argnum == 0:
            slope = onp.tanh(0.5 * logits)   # σ(o) = ½ (tanh(o/2) + 1)
            slope += 1.0
            slope *= 0.5
            slope -= x
            out.append(g * slope)
        else:
            out.append(-g * logits)
    return tuple(out)


bernoulli_nll = Op(_bernoulli_nll, _bernoulli_nll_backward)


def _gaussian_kl(stats):
    """KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²) per example, (K, B), from
    stats = [μ, log σ²] along the last axis."""
    mu, log_var = onp.split(stats, 2, axis=-1)
    return 0.5 * _per_example(mu * mu + onp.exp(log_var) - 1.0 - log_var)


def _gaussian_kl_backward(g, ans, args, argnums):
    """∂/∂μ_j = μ_j and ∂/∂log σ_j² = ½ (σ_j² − 1), times g per example."""
    mu, log_var = onp.split(args[0], 2, axis=-1)
    g = g[..., None]
    return (onp.concatenate([g * mu, (0.5 * g) * (onp.exp(log_var) - 1.0)], axis=-1),)


gaussian_kl = Op(_gaussian_kl, _gaussian_kl_backward)
