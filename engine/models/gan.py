"""Generative adversarial network: a generator x = g(z; θ⁽ᵍ⁾) and a discriminator d(x; θ⁽ᵈ⁾), the
probability that x is real, playing the zero-sum game

    v(θ⁽ᵍ⁾, θ⁽ᵈ⁾) = E_x log d(x) + E_z log(1 − d(g(z))),   g* = argmin_g max_d v(g, d).

Both are MLPs (default 2 × 128 hidden units); their parameters share one dict under 'g.' and 'd.'.
Training alternates one step per player (``Model.players``): d descends on
``discriminator_loss`` = −v, then g descends on the non-saturating ``generator_loss`` = −E log d(g(z))
(Goodfellow et al. 2014, §3): the same fixed point as minimising v, but strong gradients early on,
when d rejects every fake and log(1 − d(g(z))) is flat. ``Model.loss`` is the discriminator's −v.

The batch holds real examples ``x`` (K, B, ...) and latent draws ``z`` (K, B, latent_dim) ~ N(0, I).
"""
from math import prod

import autograd.numpy as np
import numpy as onp

from ..data.ring import mode_coverage
from .base import Model, ModelFactory, Player, in_unit_interval
from .layers import (
    Dense,
    Flatten,
    Reshape,
    Sigmoid,
    dense_stack,
    layer_table,
    namespace,
    serial,
    sigmoid,
    softplus,
    stack_members,
    subtree,
)

MMD_SAMPLES = 512


def mmd2(a, b, bandwidth=None):
    """Unbiased squared maximum mean discrepancy (Gretton et al. 2012) with a Gaussian kernel
    exp(−‖u − v‖² / 2σ²), member by member: a (K, N, D) against b (K, M, D) -> (K,).

    ``bandwidth`` None takes σ = the median distance between the pooled samples (median heuristic),
    per member. The estimate is 0 on average when both samples come from one distribution, and can
    then be slightly negative.
    """
    a = onp.reshape(a, a.shape[:2] + (-1,))
    b = onp.reshape(b, b.shape[:2] + (-1,))
    pooled = onp.concatenate([a, b], axis=1)
    norms = onp.sum(pooled**2, axis=-1)
    gram = onp.matmul(pooled, onp.swapaxes(pooled, 1, 2))
    distance2 = onp.maximum(norms[:, :, None] + norms[:, None, :] - 2.0 * gram, 0.0)
    if bandwidth is None:
        off_diagonal = ~onp.eye(pooled.shape[1], dtype=bool)
        sigma2 = onp.median(distance2[:, off_diagonal], axis=1)
    else:
        sigma2 = onp.full(len(pooled), float(bandwidth) ** 2)
    kernel = onp.exp(-distance2 / (2.0 * sigma2[:, None, None]))
    n, m = a.shape[1], b.shape[1]
    kaa, kbb, kab = kernel[:, :n, :n], kernel[:, n:, n:], kernel[:, :n, n:]
    within_a = (onp.sum(kaa, axis=(1, 2)) - onp.trace(kaa, axis1=1, axis2=2)) / (n * (n - 1))
    within_b = (onp.sum(kbb, axis=(1, 2)) - onp.trace(kbb, axis1=1, axis2=2)) / (m * (m - 1))
    return within_a + within_b - 2.0 * onp.mean(kab, axis=(1, 2))


def gan(info, *, latent_dim=16, hidden=(128, 128), activation="relu", mmd_bandwidth=None):
    shape, hidden = tuple(info["shape"]), tuple(hidden)
    # Samples must live where the data do: squash into [0, 1] for images, unbounded for points.
    squash = [Sigmoid] if in_unit_interval(info) else []
    g_layers = [*dense_stack(hidden, activation), Dense(prod(shape)), *squash, Reshape(shape)]
    d_layers = [Flatten, *dense_stack(hidden, activation), Dense(1)]  # the logit of d(x)
    g, d = serial(*g_layers), serial(*d_layers)

    def init_one(rng):
        return {
            **namespace(g.init(rng, (latent_dim,))[1], "g."),
            **namespace(d.init(rng, shape)[1], "d."),
        }

    def generate(params, z):
        return g.apply(subtree(params, "g."), z)

    def d_logit(params, x):
        return d.apply(subtree(params, "d."), x)[..., 0]

    def discriminator_loss(params, batch):
        """−v: −E log d(x) − E log(1 − d(g(z))), with log d = −softplus(−logit)."""
        real = d_logit(params, batch["x"])
        fake = d_logit(params, generate(params, batch["z"]))
        return np.mean(softplus(-real), axis=1) + np.mean(softplus(fake), axis=1)

    def generator_loss(params, batch):
        """−E log d(g(z)) (non-saturating)."""
        return np.mean(softplus(-d_logit(params, generate(params, batch["z"]))), axis=1)

    def metrics(params, batch):
        fake = generate(params, batch["z"])
        d_real = sigmoid(d_logit(params, batch["x"]))
        d_fake = sigmoid(d_logit(params, fake))
        result = {
            "loss": discriminator_loss(params, batch),
            "generator_loss": generator_loss(params, batch),
            "d_real": np.mean(d_real, axis=1),  # both → ½ when d can no longer tell them apart
            "d_fake": np.mean(d_fake, axis=1),
            # The kernel matrix grows as the square of the sample: the first MMD_SAMPLES suffice.
            "mmd": mmd2(batch["x"][:, :MMD_SAMPLES], fake[:, :MMD_SAMPLES], mmd_bandwidth),
        }
        if "centres" in info:
            result.update(mode_coverage(fake, info["centres"], info["std"]))
        return result

    table = layer_table(g_layers, (latent_dim,), "g: ") + layer_table(d_layers, shape, "d: ")
    return Model(
        kind="gan",
        init=lambda rngs: stack_members([init_one(rng) for rng in rngs]),
        loss=discriminator_loss,
        metrics=metrics,
        layers=table,
        n_params=sum(row["n_params"] for row in table),
        latents={"z": (latent_dim,)},
        players=(Player("d", "d.", discriminator_loss), Player("g", "g.", generator_loss)),
        extras={
            "generate": generate,
            "discriminate": lambda params, x: sigmoid(d_logit(params, x)),
            "discriminator_loss": discriminator_loss,
            "generator_loss": generator_loss,
        },
    )


GAN = ModelFactory("gan", gan, frozenset({"points", "image"}), "GAN of two MLPs, non-saturating generator loss")
