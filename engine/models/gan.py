"""Generative adversarial network: a generator x = g(z; θ⁽ᵍ⁾) and a discriminator d(x; θ⁽ᵈ⁾), the
probability that x is real, playing the zero-sum game

    v(θ⁽ᵍ⁾, θ⁽ᵈ⁾) = E_x log d(x) + E_z log(1 − d(g(z))),   g* = argmin_g max_d v(g, d).

Both are MLPs (default 2 × 128 hidden units); their parameters share one dict under 'g.' and 'd.'.
Training alternates one step per player (``Model.players``): d descends on
``discriminator_loss`` = −v, then g descends on the non-saturating ``generator_loss`` = −E log d(g(z))
(Goodfellow et al. 2014, §3): the same fixed point as minimising v, but strong gradients early on,
when d rejects every fake and log(1 − d(g(z))) is flat. ``Model.loss`` is the discriminator's −v.

The batch holds real examples ``x`` (K, B, ...) and latent draws ``z`` (K, B, latent_dim) ~ N(0, I).

Metrics at each evaluation: the value v itself, the mean of d on real and on generated examples
(both → ½ at the game's ideal, where d(x) = p_data / (p_data + p_g) = ½), the MMD² between real and
generated samples with a kernel bandwidth that does not move with the generator, and on the ring
the modes covered and the fraction of high-quality samples, plus ``coverage`` = modes +
high_quality, a tuning score whose ties in modes are broken by sample quality.

After training (``Model.artifacts``), two two-sample tests on the held-out test split against as
many generated samples: the MMD permutation test (``mmd_permutation_test``) and a classifier
two-sample test (``c2st_accuracy``); plus a few samples for the figures, which ``Model.snapshot``
also stores along training.
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

MMD_SAMPLES = 512       # per side, for the MMD metric along training and the final tests
N_PERMUTATIONS = 200    # permutations of the final MMD test: p-values in steps of 1/201
SAMPLES_SHOWN = {"points": 512, "image": 16}    # generated samples stored for the figures
SNAPSHOT_SHOWN = {"points": 256, "image": 8}    # ... and at each snapshot along training


def _squared_distances(a, b):
    """‖a_i − b_j‖² = ‖a_i‖² + ‖b_j‖² − 2 a_i·b_j member by member: (K, N, D), (K, M, D) -> (K, N, M).

    In place on the one (K, N, M) array: at 512 samples per side and 15 members each temporary
    would be 31 MB of fresh memory."""
    out = onp.matmul(a, onp.swapaxes(b, 1, 2))
    out *= -2.0
    out += onp.sum(a**2, -1)[:, :, None]
    out += onp.sum(b**2, -1)[:, None, :]
    return onp.maximum(out, 0.0, out=out)


def _kernel_sums(distance2, sigma):
    """Σ_ij exp(−‖a_i − b_j‖² / 2σ²) per member from the squared distances (K, N, M), and the
    diagonal's sum (for a against itself).  Overwrites `distance2` with the kernel."""
    kernel = distance2
    kernel *= (-0.5 / sigma**2)[:, None, None]
    onp.exp(kernel, out=kernel)
    return onp.sum(kernel, axis=(1, 2)), onp.trace(kernel, axis1=1, axis2=2)


def _median_distance(distance2):
    """The median distance between distinct samples, per member, from their squared distances."""
    off_diagonal = ~onp.eye(distance2.shape[1], dtype=bool)
    return onp.sqrt(onp.median(distance2[:, off_diagonal], axis=1))


def real_bandwidth(real):
    """σ = the median distance between distinct REAL samples, per member: (K, N, ...) -> (K,).

    The real samples of an evaluation (the validation or test split) are the same whatever the
    generator does, so this bandwidth is fixed for a data set and split: MMD values are comparable
    along training and across runs (unlike the median over real and generated samples pooled)."""
    real = onp.reshape(real, real.shape[:2] + (-1,))
    return _median_distance(_squared_distances(real, real))


def mmd2(a, b, bandwidth=None):
    """Unbiased squared maximum mean discrepancy (Gretton et al. 2012) with a Gaussian kernel
    exp(−‖u − v‖² / 2σ²), member by member: a (K, N, D) real against b (K, M, D) -> (K,).

    ``bandwidth`` σ is a number, or None for ``real_bandwidth(a)``: the median distance between the
    real samples alone, so that σ does not move with the generator. The estimate is 0 on average
    when both samples come from one distribution, and can then be slightly negative.
    """
    a = onp.reshape(a, a.shape[:2] + (-1,))
    b = onp.reshape(b, b.shape[:2] + (-1,))
    real = _squared_distances(a, a)   # also what the median bandwidth is read from
    sigma = _median_distance(real) if bandwidth is None else onp.full(len(a), float(bandwidth))
    n, m = a.shape[1], b.shape[1]
    within_a = onp.subtract(*_kernel_sums(real, sigma)) / (n * (n - 1))
    within_b = onp.subtract(*_kernel_sums(_squared_distances(b, b), sigma)) / (m * (m - 1))
    return within_a + within_b - 2.0 * _kernel_sums(_squared_distances(a, b), sigma)[0] / (n * m)


def mmd_permutation_test(a, b, bandwidth, rng, n_permutations=N_PERMUTATIONS):
    """The MMD two-sample test of one member: a (N, ...) real, b (M, ...) generated, kernel
    bandwidth σ fixed.  Returns (MMD², p) where p = (1 + #{permutations with MMD² ≥ observed}) /
    (1 + n_permutations): the labels real/generated are shuffled, which under the null hypothesis
    (one distribution) leaves the statistic's distribution unchanged (Gretton et al. 2012, §5)."""
    pooled = onp.reshape(onp.concatenate([a, b]), (len(a) + len(b), -1))
    n, m = len(a), len(b)
    kernel = onp.exp(-_squared_distances(pooled[None], pooled[None])[0] / (2.0 * float(bandwidth) ** 2))
    onp.fill_diagonal(kernel, 0.0)  # the unbiased estimate leaves out k(x_i, x_i)
    labels = onp.zeros((n_permutations + 1, n + m))
    labels[0, :n] = 1.0  # row 0: the observed split; the others: random relabellings
    chosen = onp.argsort(rng.random((n_permutations, n + m)), axis=1)[:, :n]
    onp.put_along_axis(labels[1:], chosen, 1.0, axis=1)
    labels = labels.T                                   # (n + m, permutations + 1): 1 = "real"
    k_labels = kernel @ labels                          # Σ_j k(x_i, x_j) over the "real" j
    k_other = onp.sum(kernel, axis=1, keepdims=True) - k_labels
    within_a = onp.sum(labels * k_labels, axis=0) / (n * (n - 1))
    within_b = onp.sum((1.0 - labels) * k_other, axis=0) / (m * (m - 1))
    across = onp.sum((1.0 - labels) * k_labels, axis=0) / (n * m)
    stat = within_a + within_b - 2.0 * across
    return float(stat[0]), float((1 + onp.sum(stat[1:] >= stat[0])) / (1 + n_permutations))


def c2st_accuracy(a, b, rng):
    """Classifier two-sample test (Lopez-Paz & Oquab 2017): a fresh k-nearest-neighbours
    classifier (k = ⌊√n_train⌋) learns to tell a (real, label 0) from b (generated, label 1) on a
    random half of the pooled samples; returns its accuracy on the other half.  ≈ ½ when the two
    samples cannot be told apart; 1 when they are disjoint."""
    from sklearn.neighbors import KNeighborsClassifier

    x = onp.reshape(onp.concatenate([a, b]), (len(a) + len(b), -1))
    y = onp.concatenate([onp.zeros(len(a)), onp.ones(len(b))])
    order = rng.permutation(len(x))
    train, test = order[: len(x) // 2], order[len(x) // 2:]
    classifier = KNeighborsClassifier(n_neighbors=int(onp.sqrt(len(train))))
    return float(classifier.fit(x[train], y[train]).score(x[test], y[test]))


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
        logit = d.apply(subtree(params, "d."), x)
        # Dropping the last axis by reshape, not by indexing [..., 0]: an index's backward pass
        # scatters with np.add.at (6 % of a ring-GAN step); a reshape's is a reshape.
        return np.reshape(logit, logit.shape[:-1])

    def discriminator_loss(params, batch):
        """−v: −E log d(x) − E log(1 − d(g(z))), with log d = −softplus(−logit)."""
        real = d_logit(params, batch["x"])
        fake = d_logit(params, generate(params, batch["z"]))
        return mean(softplus(-real), 1) + mean(softplus(fake), 1)

    def generator_loss(params, batch):
        """−E log d(g(z)) (non-saturating)."""
        return mean(softplus(-d_logit(params, generate(params, batch["z"]))), 1)

    # The same losses with their gradients by hand (engine/models/layers.py), each with respect to
    # its own player's parameters only, as the training loop takes them: autograd's bit for bit.
    def d_logit_vjp(params, x):
        logit, pullback = d.vjp(subtree(params, "d."), x)
        return (onp.reshape(logit, logit.shape[:-1]),
                lambda grad, *wanted: pullback(onp.reshape(grad, logit.shape), *wanted))

    def softplus_mean_vjp(logit, sign):
        """mean(softplus(sign · logit), 1) and grad ↦ its gradient with respect to logit."""
        terms, softplus_back = softplus_vjp(-logit if sign < 0 else logit)
        value, mean_back = mean_vjp(terms, 1)

        def back(grad):
            grad = softplus_back(mean_back(grad))
            return -grad if sign < 0 else grad

        return value, back

    def discriminator_loss_and_gradient(params, batch):
        real, real_pullback = d_logit_vjp(params, batch["x"])
        fake, fake_pullback = d_logit_vjp(params, generate(params, batch["z"]))
        real_value, real_back = softplus_mean_vjp(real, -1)
        fake_value, fake_back = softplus_mean_vjp(fake, +1)
        value = real_value + fake_value
        ones = onp.ones(value.shape, value.dtype)
        from_real = real_pullback(real_back(unbroadcast(ones, real_value.shape)), False)[1]
        from_fake = fake_pullback(fake_back(unbroadcast(ones, fake_value.shape)), False)[1]
        # d meets real and generated samples: each parameter's gradient is the sum of the two, as
        # autograd adds a leaf's two incoming gradients
        return value, namespace({name: from_real[name] + from_fake[name] for name in from_real}, "d.")

    def generator_loss_and_gradient(params, batch):
        samples, generator_pullback = g.vjp(subtree(params, "g."), batch["z"])
        fake, fake_pullback = d_logit_vjp(params, samples)
        value, back = softplus_mean_vjp(fake, -1)
        g_samples = fake_pullback(back(onp.ones(value.shape, value.dtype)), True, False)[0]
        return value, namespace(generator_pullback(g_samples, False)[1], "g.")

    def metrics(params, batch):
        fake = generate(params, batch["z"])
        d_real = sigmoid(d_logit(params, batch["x"]))
        d_fake = sigmoid(d_logit(params, fake))
        d_loss = discriminator_loss(params, batch)
        result = {
            "loss": d_loss,
            "value": -d_loss,  # v(g, d) = E log d(x) + E log(1 − d(g(z))); the game's payoff to d
            "generator_loss": generator_loss(params, batch),
            "d_real": np.mean(d_real, axis=1),  # both → ½ when d can no longer tell them apart
            "d_fake": np.mean(d_fake, axis=1),
            # The kernel matrix grows as the square of the sample: the first MMD_SAMPLES suffice.
            "mmd": mmd2(batch["x"][:, :MMD_SAMPLES], fake[:, :MMD_SAMPLES], mmd_bandwidth),
        }
        if "centres" in info:
            coverage = mode_coverage(fake, info["centres"], info["std"])
            # Modes first, sample quality breaks ties (high_quality < 1 ≤ a mode's worth).
            result.update(coverage, coverage=coverage["modes"] + coverage["high_quality"])
        return result

    def _samples(params, rngs, n):
        z = onp.stack([rng.standard_normal((n, latent_dim)) for rng in rngs])
        return onp.asarray(generate(params, z))

    def artifacts(params, data, rngs):
        """Final two-sample tests on the test split, and generated samples for the figures."""
        real = onp.asarray(data.x_test[:MMD_SAMPLES])
        fake = _samples(params, rngs, len(real))
        sigma = float(mmd_bandwidth) if mmd_bandwidth is not None else float(real_bandwidth(real[None])[0])
        tests = {"mmd2": [], "mmd_pvalue": [], "c2st_accuracy": []}
        for member, rng in zip(fake, rngs):
            if not onp.all(onp.isfinite(member)):  # a diverged member: no test
                for values in tests.values():
                    values.append(onp.nan)
                continue
            stat, p = mmd_permutation_test(real, member, sigma, rng)
            tests["mmd2"].append(stat)
            tests["mmd_pvalue"].append(p)
            tests["c2st_accuracy"].append(c2st_accuracy(real, member, rng))
        shown = SAMPLES_SHOWN.get(info["kind"], 16)
        return {**{name: onp.asarray(values) for name, values in tests.items()},
                "mmd_bandwidth": onp.full(len(fake), sigma), "test_samples": onp.full(len(fake), len(real)),
                "samples": fake[:, :shown]}

    def snapshot(params, data, rngs):
        return {"samples": _samples(params, rngs, SNAPSHOT_SHOWN.get(info["kind"], 8))}

    table = layer_table(g_layers, (latent_dim,), "g: ") + layer_table(d_layers, shape, "d: ")
    by_hand = g.vjp is not None and d.vjp is not None  # else autograd's trace
    return Model(
        kind="gan",
        init=lambda rngs: stack_members([init_one(rng) for rng in rngs]),
        loss=discriminator_loss,
        metrics=metrics,
        layers=table,
        n_params=sum(row["n_params"] for row in table),
        latents={"z": (latent_dim,)},
        players=(Player("d", "d.", discriminator_loss, discriminator_loss_and_gradient if by_hand else None),
                 Player("g", "g.", generator_loss, generator_loss_and_gradient if by_hand else None)),
        extras={
            "generate": generate,
            "discriminate": lambda params, x: sigmoid(d_logit(params, x)),
            "discriminator_loss": discriminator_loss,
            "generator_loss": generator_loss,
        },
        artifacts=artifacts,
        snapshot=snapshot,
    )


GAN = ModelFactory("gan", gan, frozenset({"points", "image"}), "GAN of two MLPs, non-saturating generator loss")
