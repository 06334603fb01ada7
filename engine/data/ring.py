"""The GAN benchmark of a 2-D mixture of Gaussians on a ring (Metz et al. 2017, unrolled GANs).

``n_modes`` centres equally spaced on a circle of radius ``radius``, each an isotropic Gaussian of
standard deviation ``std``, chosen with equal probability. Every mode is known, so a generator's
samples can be scored mode by mode (``mode_coverage``). y is the mode each point was drawn from.
"""
import numpy as np

from .base import DatasetFactory, make_dataset


def ring_centres(n_modes, radius):
    angles = 2.0 * np.pi * np.arange(n_modes) / n_modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def sample_ring(rng, n, centres, std):
    modes = rng.integers(len(centres), size=n)
    return centres[modes] + std * rng.normal(size=(n, 2)), modes


def mode_coverage(samples, centres, std, n_std=3.0, min_fraction=0.01):
    """Score samples (..., N, 2) against the known modes.

    A sample is high quality when it lies within ``n_std`` standard deviations of its nearest
    centre; a mode is covered when at least ``min_fraction`` of ALL samples are high-quality
    samples near it. Returns ``{'modes': covered count, 'high_quality': fraction}``, each of shape
    (...,).
    """
    samples = np.asarray(samples)
    distance2 = np.sum((samples[..., :, None, :] - centres) ** 2, axis=-1)  # (..., N, modes)
    nearest = np.argmin(distance2, axis=-1)
    close = np.min(distance2, axis=-1) <= (n_std * std) ** 2
    per_mode = np.sum((nearest[..., None] == np.arange(len(centres))) & close[..., None], axis=-2)
    covered = per_mode >= min_fraction * samples.shape[-2]
    return {"modes": np.sum(covered, axis=-1), "high_quality": np.mean(close, axis=-1)}


def make_ring(seed, *, n_modes=8, radius=2.0, std=0.02, n_train=10000, n_val=2000, n_test=2000):
    rng = np.random.default_rng(seed)
    centres = ring_centres(n_modes, radius)
    splits = {name: sample_ring(rng, n, centres, std) for name, n in (("train", n_train), ("val", n_val), ("test", n_test))}
    info = {"n_classes": None, "x_range": None, "n_modes": n_modes, "radius": radius, "std": std, "centres": centres}
    return make_dataset("gaussian_ring", "points", splits, info)


GAUSSIAN_RING = DatasetFactory(
    "gaussian_ring", "points", make_ring, 0, "2-D mixture of Gaussians on a ring (modes known), for GANs"
)
