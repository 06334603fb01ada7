"""Data set registry: ``DATASETS[name].load(rng_seed, **params) -> Dataset``.

| name           | kind     | x per example | y                    |
|----------------|----------|---------------|----------------------|
| digits         | image    | (1, 8, 8)     | class 0–9            |
| digits_rows    | sequence | (8, 8)        | class 0–9            |
| mnist1d        | signal   | (1, 40)       | class 0–9            |
| mnist1d_seq    | sequence | (40, 1)       | class 0–9            |
| mnist1d_subset | signal   | (1, 40)       | class 0–9 (the first n_train training signals) |
| gaussian_ring  | points   | (2,)          | mode index           |
| delayed_recall | memory   | (τ, 1)        | bit per step, −1 = none |
| running_count  | memory   | (τ, 1)        | count of ones so far mod k, per step |
| rare_features  | signal   | (1, d)        | class 0–1 (logistic model with rare binary features) |

``DATASETS[name].params`` lists each data set's parameters with their defaults.  All offline and
deterministic in the seed; see each module for the details.
"""
from .base import Dataset, DatasetFactory
from .digits import DIGITS
from .mnist1d import MNIST1D
from .ring import GAUSSIAN_RING
from .counting import RUNNING_COUNT
from .sequences import DELAYED_RECALL, DIGITS_ROWS, MNIST1D_SEQ
from .subsets import MNIST1D_SUBSET
from .rare_features import RARE_FEATURES

DATASETS: dict[str, DatasetFactory] = {
    f.name: f for f in (DIGITS, DIGITS_ROWS, MNIST1D, MNIST1D_SEQ, GAUSSIAN_RING, DELAYED_RECALL, MNIST1D_SUBSET,
                        RARE_FEATURES, RUNNING_COUNT)
}


def load_dataset(name, rng_seed=None, **params) -> Dataset:
    """``DATASETS[name].load(rng_seed, **params)``; the factory's default seed when None."""
    try:
        factory = DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown data set {name!r}; known: {sorted(DATASETS)}") from None
    return factory.load(rng_seed, **params)


__all__ = ["DATASETS", "Dataset", "DatasetFactory", "load_dataset"]
