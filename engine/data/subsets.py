"""Training sets of chosen sizes N cut from one generated data set.

* ``mnist1d_subset``: the first ``n_train`` signals of MNIST-1D's training split (which mnist1d
  has already shuffled), with MNIST-1D's validation and test splits unchanged.  Generating
  MNIST-1D costs about 0.8 ms per signal here (≈ 4 s for the default 5,000), so the sizes are
  cut from the one cached set (the same the optimizer matrix trains on) instead of generating a
  set per size: N = 200, 800 and 3,200 cost no generation beyond the default set's.
"""
from .base import DatasetFactory, make_dataset
from .mnist1d import MNIST1D


def make_mnist1d_subset(seed, *, n_train=3200, num_samples=5000, val_fraction=0.2):
    data = MNIST1D.load(seed, num_samples=num_samples, val_fraction=val_fraction)
    available = data.x_train.shape[0]
    if not 1 <= n_train <= available:
        raise ValueError(f"n_train={n_train} must be between 1 and the {available} training signals of "
                         f"MNIST-1D with num_samples={num_samples}")
    splits = {"train": (data.x_train[:n_train], data.y_train[:n_train]),
              "val": (data.x_val, data.y_val), "test": (data.x_test, data.y_test)}
    return make_dataset("mnist1d_subset", "signal", splits, {"n_classes": 10, "x_range": None})


MNIST1D_SUBSET = DatasetFactory("mnist1d_subset", "signal", make_mnist1d_subset, 42,
                                "the first n_train MNIST-1D training signals (sizes N from one generated set)")
