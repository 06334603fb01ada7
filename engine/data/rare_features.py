"""Binary classification with rare features: the setting where Adagrad's per-coordinate steps help.

Each example has ``common`` dense features, x ~ N(0, 1), and ``rare`` binary features, the j-th
switched on with probability p_j log-spaced from ``rare_high`` down to ``rare_low`` (1 % of the
examples by default for the rarest).  Labels follow a logistic model, y ~ Bernoulli(σ(wᵀx)), with
common weights ~ N(0, 1) and rare weights of size 1–2 and random sign, so rare features matter
when they are on.  A rare feature's coordinate of the loss gradient averages over the few
examples where it is on: it is about p_j times smaller than a common feature's.  x is (N, 1, d),
a one-channel signal, so the logistic and MLP models take it as it is.
"""
import numpy as np

from .base import DatasetFactory, make_dataset


def rare_probabilities(rare, rare_low, rare_high):
    return np.geomspace(rare_high, rare_low, int(rare)) if rare > 1 else np.array([rare_low])


def true_weights(rng, common, rare):
    return np.concatenate([rng.standard_normal(int(common)),
                           rng.choice([-1.0, 1.0], size=int(rare)) * rng.uniform(1.0, 2.0, size=int(rare))])


def sample(rng, n, weights, probabilities, common):
    dense = rng.standard_normal((int(n), int(common)))
    sparse = (rng.random((int(n), len(probabilities))) < probabilities).astype(float)
    x = np.concatenate([dense, sparse], axis=1)
    y = (rng.random(int(n)) < 1.0 / (1.0 + np.exp(-x @ weights))).astype(np.int64)
    return x, y


def make_rare_features(seed, *, n_train=1000, n_val=500, n_test=500, common=5, rare=10,
                       rare_low=0.01, rare_high=0.1):
    rng = np.random.default_rng(seed)
    probabilities = rare_probabilities(rare, rare_low, rare_high)
    weights = true_weights(rng, common, rare)
    splits = {}
    for name, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        x, y = sample(rng, n, weights, probabilities, common)
        splits[name] = (x[:, None, :], y)
    info = {"n_classes": 2, "x_range": None, "common": int(common), "rare": int(rare),
            "probabilities": probabilities, "weights": weights}
    return make_dataset("rare_features", "signal", splits, info)


RARE_FEATURES = DatasetFactory("rare_features", "signal", make_rare_features, 0,
                               "binary logistic data with dense and rare binary features")
