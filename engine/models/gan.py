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
from .layers import Dense, Flatten, Reshape, Sigmoid, dense_stack, layer_table, namespace, serial, stack_members, subtree
from .losses import softplus_mean
from .ops import add, negative, reshape, sigmoid

MMD_SAMPLES = 512       # per side, for the two-sample statistics along training and the final tests
SAMPLES_SHOWN = {"points": 512, "image": 16}    # generated samples stored for the figures
SNAPSHOT_SHOWN = {"points": 256, "image": 8}    # ... and at each snapshot along training
GENERATOR_LOSSES = ("minimax", "non_saturating")


def discriminator_loss_of_logits(real, fake):
    """−v: −E log d(x) − E log(1 − d(g(z))), with log d = −ζ(−logit) and log(1 − d) = −ζ(logit)
    (ζ the softplus)."""
    return add(softplus_mean(real, -1), softplus_mean(fake, 1))


def generator_loss_of_logit(fake, minimax: bool):
    """minimax: E log(1 − d(g(z))) = −E ζ(logit); non-saturating: −E log d(g(z)) = E ζ(−logit)."""
    return negative(softplus_mean(fake, 1)) if minimax else softplus_mean(fake, -1)


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
        # (K, B, 1) → (K, B)
        return reshape(self.d.apply(subtree(params, "d."), x), ())

    def discriminate(self, params, x):
        return sigmoid(self.d_logit(params, x))

    def discriminator_loss(self, params, batch):
        return discriminator_loss_of_logits(self.d_logit(params, batch["x"]),
                                            self.d_logit(params, self.generate(params, batch["z"])))

    def generator_loss(self, params, batch):
        return generator_loss_of_logit(self.d_logit(params, self.generate(params, batch["z"])), self.minimax)

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
        players=(Player("d", "d.", d_loss), Player("g", "g.", g_loss)),
        tape=True,
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
