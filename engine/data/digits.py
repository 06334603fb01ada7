"""scikit-learn's 8×8 handwritten digits (1,797 real images shipped with the package, no network).

Pixels are scaled from 0…16 to [0, 1]; x is (N, 1, 8, 8), one channel, for the CNN. The split into
train / validation / test is stratified: each class is shuffled with the seed's generator and cut
in the same proportions, so every split has the classes in the proportions of the whole set.
"""
import numpy as np

from .base import DatasetFactory, make_dataset


def stratified_split(y, fractions, rng):
    """Index arrays, one per fraction (summing to 1), each with every class in proportion."""
    bounds = np.cumsum(fractions)
    if not np.isclose(bounds[-1], 1.0) or min(fractions) < 0:
        raise ValueError(f"fractions {fractions} must be non-negative and sum to 1")
    parts = [[] for _ in fractions]
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        cuts = np.round(bounds[:-1] * len(members)).astype(int)
        for part, chunk in zip(parts, np.split(members, cuts)):
            part.append(chunk)
    # Shuffle within each split so that consecutive examples are not grouped by class.
    return [rng.permutation(np.concatenate(part)) for part in parts]


def make_digits(seed, *, val_fraction=0.2, test_fraction=0.2):
    from sklearn.datasets import load_digits  # here: sklearn takes ≈ 0.2 s to import

    bunch = load_digits()
    x = (bunch.images / 16.0)[:, None, :, :]
    y = bunch.target
    rng = np.random.default_rng(seed)
    fractions = (1.0 - val_fraction - test_fraction, val_fraction, test_fraction)
    train, val, test = stratified_split(y, fractions, rng)
    splits = {"train": (x[train], y[train]), "val": (x[val], y[val]), "test": (x[test], y[test])}
    return make_dataset("digits", "image", splits, {"n_classes": 10, "x_range": (0.0, 1.0)})


DIGITS = DatasetFactory("digits", "image", make_digits, 0, "8×8 handwritten digits (scikit-learn), 60/20/20")
