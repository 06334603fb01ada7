"""Generative adversarial network: a generator x = g(z; θ⁽ᵍ⁾) and a discriminator d(x; θ⁽ᵈ⁾), the
probability that x is real, playing the zero-sum game

    v(θ⁽ᵍ⁾, θ⁽ᵈ⁾) = E_x log d(x) + E_z log(1 − d(g(z))),   g* = argmin_g max_d v(g, d).

Both are MLPs (default 2 × 128 hidden units); their parameters share one dict under 'g.' and 'd.'.
Training alternates one step per player (``Model.players``): d descends on
``discriminator_loss`` = −v, then g descends on ``generator_loss``, chosen by the model parameter
of that name:

* ``minimax``: the slide's game itself, E_z log(1 − d(g(z))), the part of v that g moves;
* ``non_saturating``: −E_z log d(g(z)) (Goodfellow et al. 2014, §3): the same fixed point, but
  strong gradients early on, when d rejects every fake and log(1 − d(g(z))) is flat.

``Model.loss`` is the discriminator's −v.  The batch holds real examples ``x`` (K, B, ...) and
latent draws ``z`` (K, B, latent_dim) ~ N(0, I).

Metrics at each evaluation: the value v itself, the mean of d on real and on generated examples
(both → ½ at the game's ideal, where d(x) = p_data / (p_data + p_g) = ½), the MMD² between real
and generated samples (engine/analysis/two_sample.py) with a kernel bandwidth that does not move
with the generator, and on the ring the modes covered and the fraction of high-quality samples,
plus ``coverage`` = modes + high_quality, a tuning score whose ties in modes are broken by sample
quality.

After training (``Model.artifacts``), two two-sample tests on the held-out test split against as
many generated samples: the MMD permutation test and a k-nearest-neighbours classifier's held-out
accuracy (½ when the samples cannot be told apart); plus a few samples for the figures, which
``Model.snapshot`` also stores along training.
"""
from dataclasses import dataclass
from math import prod

import autograd.numpy as np
import numpy as onp

from ..analysis.two_sample import c2st_accuracy, mmd2, mmd_permutation_test, real_bandwidth
from ..data.ring import mode_coverage
from .base import Model, ModelFactory, Player, in_unit_interval
from .layers import (
    Dense,
    Flatten,
    Reshape,
    Sigmoid,
    dense_stack,
    layer_table,
    mean,
    mean_vjp,
    namespace,
    serial,
    sigmoid,
    softplus,
    softplus_vjp,
    stack_members,
    subtree,
    unbroadcast,
)

MMD_SAMPLES = 512       # per side, for the two-sample statistics along training and the final tests
SAMPLES_SHOWN = {"points": 512, "image": 16}    # generated samples stored for the figures
SNAPSHOT_SHOWN = {"points": 256, "image": 8}    # ... and at each snapshot along training
GENERATOR_LOSSES = ("minimax", "non_saturating")


def discriminator_loss_of_logits(real, fake):
    """−v: −E log d(x) − E log(1 − d(g(z))), with log d = −softplus(−logit) and
    log(1 − d) = −softplus(logit)."""
    return mean(softplus(-real), 1) + mean(softplus(fake), 1)


def generator_loss_of_logit(fake, minimax: bool):
    """minimax: E log(1 − d(g(z))) = −E softplus(logit); non-saturating: −E log d(g(z)) =
    E softplus(−logit)."""
    return -mean(softplus(fake), 1) if minimax else mean(softplus(-fake), 1)


def softplus_mean_vjp(logit, sign):
    """mean(softplus(sign · logit), 1) and grad ↦ its gradient with respect to logit."""
    terms, softplus_back = softplus_vjp(-logit if sign < 0 else logit)
    value, mean_back = mean_vjp(terms, 1)

    def back(grad):
        grad = softplus_back(mean_back(grad))
        return -grad if sign < 0 else grad

    return value, back


@dataclass(frozen=True)
class _Game:
    """The two players (g and d, each a ``serial`` network) and what the model's functions share."""
    g: object
    d: object
    info: dict
    latent_dim: int
    minimax: bool
    mmd_bandwidth: float | None

    def init_one(self, rng):
        return {
            **namespace(self.g.init(rng, (self.latent_dim,))[1], "g."),
            **namespace(self.d.init(rng, tuple(self.info["shape"]))[1], "d."),
        }

    def generate(self, params, z):
        return self.g.apply(subtree(params, "g."), z)

    def d_logit(self, params, x):
        logit = self.d.apply(subtree(params, "d."), x)
        # Dropping the last axis by reshape, not by indexing [..., 0]: an index's backward pass
        # scatters with np.add.at (6 % of a ring-GAN step); a reshape's is a reshape.
        return np.reshape(logit, logit.shape[:-1])

    def discriminate(self, params, x):
        return sigmoid(self.d_logit(params, x))

    def discriminator_loss(self, params, batch):
        return discriminator_loss_of_logits(self.d_logit(params, batch["x"]),
                                            self.d_logit(params, self.generate(params, batch["z"])))

    def generator_loss(self, params, batch):
        return generator_loss_of_logit(self.d_logit(params, self.generate(params, batch["z"])), self.minimax)

    # The same losses with their gradients by hand (engine/models/layers.py), each with respect to
    # its own player's parameters only, as the training loop takes them: autograd's bit for bit.
    def d_logit_vjp(self, params, x):
        logit, pullback = self.d.vjp(subtree(params, "d."), x)
        return (onp.reshape(logit, logit.shape[:-1]),
                lambda grad, *wanted: pullback(onp.reshape(grad, logit.shape), *wanted))

    def discriminator_loss_and_gradient(self, params, batch):
        real, real_pullback = self.d_logit_vjp(params, batch["x"])
        fake, fake_pullback = self.d_logit_vjp(params, self.generate(params, batch["z"]))
        real_value, real_back = softplus_mean_vjp(real, -1)
        fake_value, fake_back = softplus_mean_vjp(fake, +1)
        value = real_value + fake_value
        ones = onp.ones(value.shape, value.dtype)
        from_real = real_pullback(real_back(unbroadcast(ones, real_value.shape)), False)[1]
        from_fake = fake_pullback(fake_back(unbroadcast(ones, fake_value.shape)), False)[1]
        # d meets real and generated samples: each parameter's gradient is the sum of the two, as
        # autograd adds a leaf's two incoming gradients
        return value, namespace({name: from_real[name] + from_fake[name] for name in from_real}, "d.")

    def generator_loss_and_gradient(self, params, batch):
        samples, generator_pullback = self.g.vjp(subtree(params, "g."), batch["z"])
        fake, fake_pullback = self.d_logit_vjp(params, samples)
        value, back = softplus_mean_vjp(fake, +1 if self.minimax else -1)
        ones = onp.ones(value.shape, value.dtype)
        # minimax: the loss is −mean(...), whose backward pass starts from −1 (autograd's negative)
        g_samples = fake_pullback(back(-ones if self.minimax else ones), True, False)[0]
        return (-value if self.minimax else value), namespace(generator_pullback(g_samples, False)[1], "g.")

    def metrics(self, params, batch):
        # One pass of g and of d on each sample serves every metric (the losses recomputed them).
        fake = self.generate(params, batch["z"])
        real_logit, fake_logit = self.d_logit(params, batch["x"]), self.d_logit(params, fake)
        d_loss = discriminator_loss_of_logits(real_logit, fake_logit)
        result = {
            "loss": d_loss,
            "value": -d_loss,  # v(g, d) = E log d(x) + E log(1 − d(g(z))); the game's payoff to d
            "generator_loss": generator_loss_of_logit(fake_logit, self.minimax),
            "d_real": np.mean(sigmoid(real_logit), axis=1),  # both → ½ when d can no longer tell them apart
            "d_fake": np.mean(sigmoid(fake_logit), axis=1),
            # The kernel matrix grows as the square of the sample: the first MMD_SAMPLES suffice.
            "mmd": mmd2(batch["x"][:, :MMD_SAMPLES], fake[:, :MMD_SAMPLES], self.mmd_bandwidth),
        }
        if "centres" in self.info:
            coverage = mode_coverage(fake, self.info["centres"], self.info["std"])
            # Modes first, sample quality breaks ties (high_quality < 1 ≤ a mode's worth).
            result.update(coverage, coverage=coverage["modes"] + coverage["high_quality"])
        return result

    def samples(self, params, rngs, n):
        z = onp.stack([rng.standard_normal((n, self.latent_dim)) for rng in rngs])
        return onp.asarray(self.generate(params, z))

    def artifacts(self, params, data, rngs):
        """Final two-sample tests on the test split, and generated samples for the figures."""
        real = onp.asarray(data.x_test[:MMD_SAMPLES])
        fake = self.samples(params, rngs, len(real))
        sigma = float(self.mmd_bandwidth) if self.mmd_bandwidth is not None else float(real_bandwidth(real[None])[0])
        tests = {"mmd2": [], "mmd_pvalue": [], "c2st_accuracy": []}
        for member, rng in zip(fake, rngs):
            if not onp.all(onp.isfinite(member)):  # a diverged member: no test
                for values in tests.values():
                    values.append(onp.nan)
                continue
            stat, p = mmd_permutation_test(real, member, sigma, rng)
            tests["mmd2"].append(stat)
            tests["mmd_pvalue"].append(p)
            tests["c2st_accuracy"].append(float(c2st_accuracy(real[None], member[None], [rng])[0]))
        shown = SAMPLES_SHOWN.get(self.info["kind"], 16)
        return {**{name: onp.asarray(values) for name, values in tests.items()},
                "mmd_bandwidth": onp.full(len(fake), sigma), "test_samples": onp.full(len(fake), len(real)),
                "samples": fake[:, :shown]}

    def snapshot(self, params, data, rngs):
        return {"samples": self.samples(params, rngs, SNAPSHOT_SHOWN.get(self.info["kind"], 8))}


def gan(info, *, latent_dim=16, hidden=(128, 128), activation="relu", mmd_bandwidth=None,
        generator_loss="non_saturating"):
    if generator_loss not in GENERATOR_LOSSES:
        raise ValueError(f"unknown generator_loss {generator_loss!r}; choose from {list(GENERATOR_LOSSES)}")
    shape, hidden = tuple(info["shape"]), tuple(hidden)
    # Samples must live where the data do: squash into [0, 1] for images, unbounded for points.
    squash = [Sigmoid] if in_unit_interval(info) else []
    g_layers = [*dense_stack(hidden, activation), Dense(prod(shape)), *squash, Reshape(shape)]
    d_layers = [Flatten, *dense_stack(hidden, activation), Dense(1)]  # the logit of d(x)
    game = _Game(serial(*g_layers), serial(*d_layers), info, latent_dim, generator_loss == "minimax", mmd_bandwidth)
    table = layer_table(g_layers, (latent_dim,), "g: ") + layer_table(d_layers, shape, "d: ")
    by_hand = game.g.vjp is not None and game.d.vjp is not None  # else autograd's trace
    # Bound once: each player's loss is the very function the extras expose.
    d_loss, g_loss = game.discriminator_loss, game.generator_loss
    return Model(
        kind="gan",
        init=lambda rngs: stack_members([game.init_one(rng) for rng in rngs]),
        loss=d_loss,
        metrics=game.metrics,
        layers=table,
        n_params=sum(row["n_params"] for row in table),
        latents={"z": (latent_dim,)},
        players=(Player("d", "d.", d_loss, game.discriminator_loss_and_gradient if by_hand else None),
                 Player("g", "g.", g_loss, game.generator_loss_and_gradient if by_hand else None)),
        extras={
            "generate": game.generate,
            "discriminate": game.discriminate,
            "discriminator_loss": d_loss,
            "generator_loss": g_loss,
        },
        artifacts=game.artifacts,
        snapshot=game.snapshot,
    )


GAN = ModelFactory("gan", gan, frozenset({"points", "image"}), "GAN of two MLPs; generator loss minimax or non-saturating")
